"""``mi curves build``: a curve from a quotes CSV or the store, written to CSV and optionally stored."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from marketintel.exceptions import MarketIntelError


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
    from marketintel.curves.build import InconsistentContractsError
    from marketintel.services.curves import build_and_store_curve

    shifts = [_parse_shift(text) for text in args.shift or []]
    t0 = time.perf_counter()
    try:
        result = build_and_store_curve(
            quotes=args.quotes, product=args.product, as_of=args.as_of, calendar=args.calendar, tz=args.tz,
            start=args.start, end=args.end, granularity=args.granularity, weights=args.weights,
            shape=args.shape, prior=args.prior, prior_from_store=args.prior_from_store,
            bid_ask=args.bid_ask or None, on_inconsistent=args.on_inconsistent, tolerance=args.tolerance,
            band_solver=args.band_solver, shifts=shifts, curve_name=args.curve_name,
            currency=args.currency, unit=args.unit, store=args.store,
            progress=lambda line: print(line, flush=True),
        )  # fmt: skip
    except InconsistentContractsError as exc:
        print(f"mi curves build: the quotes are inconsistent\n{exc}", file=sys.stderr)
        return 1
    elapsed = (time.perf_counter() - t0) * 1000
    build = result.build
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
    return 0 if (build.fits["status"] != "MISPRICED").all() else 1


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
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--quotes", help="contracts CSV: name,start,end,price[,bid,ask][,profile]")
    src.add_argument(
        "--product", help="forward_quotes.product to read from the store (as of --as-of, default the latest)"
    )
    p.add_argument(
        "--as-of", default=None, help="trade date (YYYY-MM-DD): which quotes, and the curve's as-of"
    )
    p.add_argument(
        "--start", default=None, help="first delivery date (local, inclusive; default: the strip's first)"
    )
    p.add_argument(
        "--end", default=None, help="last delivery date (local, inclusive; default: the strip's last)"
    )
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
    p.add_argument("--currency", default=None, help="default: the stored quotes', or by calendar for a file")
    p.add_argument("--unit", default=None, help="price unit (default: as the currency)")
    p.set_defaults(func=cmd_curves_build)
