"""``mi curves build``: a curve from a quotes CSV or the store, written to CSV and optionally stored."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from marketintel.exceptions import MarketIntelError


def _read_series(path: Path, what: str) -> pd.Series:
    """Read ``date,price`` (by local date) or ``datetime_utc,<value>`` (by UTC hour) from a CSV."""
    frame = pd.read_csv(path)
    if "date" in frame.columns:
        values = frame.drop(columns=["date"]).select_dtypes("number")
        index: pd.Index = pd.DatetimeIndex(pd.to_datetime(frame["date"], format="%Y-%m-%d"))
    elif "datetime_utc" in frame.columns:
        values = frame.drop(columns=["datetime_utc"]).select_dtypes("number")
        index = pd.DatetimeIndex(pd.to_datetime(frame["datetime_utc"], utc=True))
    else:
        raise MarketIntelError(
            f"{what} {path}: expected a 'date' or 'datetime_utc' column, found {list(frame.columns)}"
        )
    column = "price" if "price" in values.columns else ("shape" if "shape" in values.columns else None)
    if column is None:
        raise MarketIntelError(
            f"{what} {path}: expected a 'price' (or 'shape') column, found {list(frame.columns)}"
        )
    return pd.Series(values[column].to_numpy(dtype=float), index=index, name=column)


def _parse_shift(text: str) -> tuple[str, Any]:
    """``NAME:START:END:PROFILE:add|mul:VALUE`` -> (scenario name, Shift)."""
    from marketintel.curves.build import Shift

    parts = text.split(":")
    if len(parts) != 6:
        raise MarketIntelError(f"--shift {text!r}: expected NAME:START:END:PROFILE:add|mul:VALUE")
    name, start, end, profile, kind, value = parts
    if kind not in ("add", "mul"):
        raise MarketIntelError(f"--shift {text!r}: the kind must be 'add' or 'mul', got {kind!r}")
    try:
        shift = Shift(dt.date.fromisoformat(start), dt.date.fromisoformat(end), float(value), kind, profile)  # type: ignore[arg-type]
    except ValueError as exc:
        raise MarketIntelError(f"--shift {text!r}: {exc}") from None
    return name, shift


def cmd_curves_build(args: argparse.Namespace) -> int:
    """Build a curve; print the repricing table; write --out; exit 1 with the report when quotes conflict."""
    from marketintel.calendars import contracts_from_quotes, get_calendar, read_contracts_csv
    from marketintel.curves.build import InconsistentContractsError, Scenario, build_curve

    started = pd.Timestamp.now(tz="UTC")
    calendar = get_calendar(args.calendar)
    if args.tz and args.tz != calendar.tz:
        calendar = dataclasses.replace(calendar, tz=args.tz)
    client = None
    if args.quotes:
        contracts = read_contracts_csv(Path(args.quotes), calendar)
        source = Path(args.quotes).stem
    else:
        if not (args.product and args.as_of):
            raise MarketIntelError(
                "give --quotes FILE.csv, or --product P with --as-of DATE (quotes from the store)"
            )
        from marketintel.curves.store import read_quotes
        from marketintel.store import connect

        client = connect()
        contracts = contracts_from_quotes(
            read_quotes(client, args.product, dt.date.fromisoformat(args.as_of))
        )
        source = args.product
    grouped: dict[str, list[Any]] = {}
    for text in args.shift or []:
        name, shift = _parse_shift(text)
        grouped.setdefault(name, []).append(shift)
    scenarios = tuple(Scenario(name, tuple(shifts)) for name, shifts in grouped.items())
    prior = _read_series(Path(args.prior), "--prior") if args.prior else None
    if args.prior_from_store:
        from marketintel.curves.prior import daily_history, seasonal_prior
        from marketintel.curves.store import read_price_history
        from marketintel.store import connect

        market, _, location = args.prior_from_store.partition("/")
        if not location:
            raise MarketIntelError(
                f"--prior-from-store expects MARKET/LOCATION, got {args.prior_from_store!r}"
            )
        client = client or connect()
        history = daily_history(
            read_price_history(client, market, location, _as_of_utc(args, calendar.tz)), calendar.tz
        )
        prior = seasonal_prior(
            history, pd.date_range(args.start, args.end, freq="D"), weekdays=args.weights == "hours"
        )
        print(f"seasonal prior fitted to {len(history):,} days of {market}/{location}", flush=True)
    shape = _read_series(Path(args.shape), "--shape") if args.shape else None
    print(
        f"building a {args.granularity} curve {args.start} .. {args.end} ({calendar.name}, {calendar.tz}) "
        f"from {len(contracts)} contracts of {source}",
        flush=True,
    )
    t0 = time.perf_counter()
    try:
        build = build_curve(
            contracts,
            calendar,
            args.start,
            args.end,
            granularity=args.granularity,
            weights=args.weights,
            prior=prior,
            shape=shape,
            bid_ask=args.bid_ask,
            on_inconsistent=args.on_inconsistent,
            tolerance=args.tolerance,
            scenarios=scenarios,
            band_solver=args.band_solver,
        )
    except InconsistentContractsError as exc:
        print(f"mi curves build: the quotes are inconsistent\n{exc}", file=sys.stderr)
        if args.store:
            _record_failure(args, str(exc), started, len(contracts))
        return 1
    elapsed = (time.perf_counter() - t0) * 1000
    ignored = build.parameters["ignored_outside_window"]
    if ignored:
        print(f"{len(ignored)} contract(s) deliver outside the window and are ignored")
    fits = build.fits[["contract", "profile", "target", "repriced", "error", "status"]]
    print(fits.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    print(
        f"blocks {', '.join(build.blocks.names)}; method {build.method} ({build.solver}); "
        f"max repricing error {build.max_reprice_error:.3g}; {elapsed:.1f} ms; "
        f"inputs sha256 {build.input_sha256[:16]}"
    )
    if len(build.inconsistencies):
        print(f"WARNING: {len(build.inconsistencies)} inconsistent quote(s) reconciled in least squares:")
        print(build.inconsistencies.to_string(index=False))
    out = build.output_frame()
    if args.out:
        out.to_csv(args.out, index=False)
        print(f"{len(out):,} rows written to {args.out}")
    for name, series in build.scenarios.items():
        if args.out:
            path = Path(args.out).with_name(f"{Path(args.out).stem}.{name}{Path(args.out).suffix}")
            frame = out.copy()
            frame["price"] = series.to_numpy()
            frame.to_csv(path, index=False)
            print(f"scenario {name!r} written to {path}")
    if args.store:
        from marketintel.curves.store import write_build
        from marketintel.store import connect

        as_of = _as_of_utc(args, calendar.tz)
        run_id, version, rows = write_build(
            client or connect(),
            build,
            args.curve_name or f"{source}_{args.granularity}",
            as_of,
            currency=args.currency,
            unit=f"{args.currency}/MWh",
            started_at_utc=started,
        )
        print(f"stored {rows:,} rows as version {version} (run {run_id})")
    return 0 if (build.fits["status"] != "MISPRICED").all() else 1


def _as_of_utc(args: argparse.Namespace, tz: str) -> pd.Timestamp:
    """Return the information cutoff: the end of the trade date (--as-of, default today) in local time."""
    from marketintel.timeutils import local_to_utc

    day = pd.Timestamp(args.as_of or dt.date.today().isoformat())
    return pd.Timestamp(local_to_utc(pd.DatetimeIndex([day + pd.Timedelta(days=1)]), tz)[0])


def _record_failure(args: argparse.Namespace, message: str, started: pd.Timestamp, n: int) -> None:
    import uuid

    from marketintel.calendars import get_calendar
    from marketintel.curves.store import record_run
    from marketintel.store import connect

    record_run(
        connect(),
        args.curve_name or f"{Path(args.quotes).stem if args.quotes else args.product}_{args.granularity}",
        _as_of_utc(args, get_calendar(args.calendar).tz),
        run_id=str(uuid.uuid4()),
        version=0,
        method="max_smoothness_bid_ask" if args.bid_ask else "max_smoothness_exact",
        parameters={"start": args.start, "end": args.end, "granularity": args.granularity},
        input_quotes=n,
        input_sha256="",
        max_reprice_error=None,
        status="failed",
        message=message,
        started_at_utc=started,
    )


def register_curves(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi curves build``."""
    curves = sub.add_parser("curves", help="forward curves")
    csub = curves.add_subparsers(dest="curves_command", required=True, metavar="COMMAND")
    p = csub.add_parser(
        "build",
        help="build a maximum-smoothness curve that reprices its contracts",
        description="Build a curve from a quotes CSV (name,start,end,price[,bid,ask][,profile]; dates "
        "inclusive) or from the store's forward_quotes, and write date,price or datetime_utc,price.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--quotes", help="contracts CSV: name,start,end,price[,bid,ask][,profile]")
    src.add_argument("--product", help="forward_quotes.product to read from the store (with --as-of)")
    p.add_argument(
        "--as-of", default=None, help="trade date (YYYY-MM-DD): which quotes, and the curve's as-of"
    )
    p.add_argument("--start", required=True, help="first delivery date (local, inclusive)")
    p.add_argument("--end", required=True, help="last delivery date (local, inclusive)")
    p.add_argument("--granularity", choices=("daily", "hourly"), default="daily")
    p.add_argument("--calendar", default="EEX_DE", help="market calendar (peak hours, holidays, zone)")
    p.add_argument("--tz", default=None, help="override the calendar's time zone (IANA name)")
    p.add_argument("--weights", choices=("hours", "days"), default="hours", help="power: hours; gas: days")
    p.add_argument("--bid-ask", action="store_true", help="fit inside each contract's [bid, ask]")
    prior = p.add_mutually_exclusive_group()
    prior.add_argument("--prior", default=None, help="prior CSV: date,price or datetime_utc,price")
    prior.add_argument(
        "--prior-from-store",
        default=None,
        metavar="MARKET/LOCATION",
        help="fit a seasonal prior (annual harmonics, weekdays) to 3 years of stored prices before the as-of",
    )
    p.add_argument("--shape", default=None, help="hourly shape CSV: datetime_utc,shape (hourly curves)")
    p.add_argument("--on-inconsistent", choices=("fail", "least-squares"), default="fail")
    p.add_argument(
        "--band-solver",
        choices=("clarabel", "cvxpy"),
        default="clarabel",
        help="bid/ask: Clarabel directly or via cvxpy",
    )
    p.add_argument("--tolerance", type=float, default=1e-6, help="contradiction accepted as rounding [price]")
    p.add_argument(
        "--shift",
        action="append",
        help="scenario shift NAME:START:END:PROFILE:add|mul:VALUE (repeatable; same NAME = one scenario)",
    )
    p.add_argument("--out", default=None, help="write the curve to OUT.csv")
    p.add_argument("--store", action="store_true", help="also write curves and curve_runs to the store")
    p.add_argument("--curve-name", default=None, help="curves.curve_name (default: <source>_<granularity>)")
    p.add_argument("--currency", default="EUR")
    p.set_defaults(func=cmd_curves_build)
