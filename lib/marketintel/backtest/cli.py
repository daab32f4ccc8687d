"""``mi backtest run|score|report|load``: backtests from an epftoolbox CSV or from store series."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from marketintel.exceptions import MarketIntelError


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _pool(workers: int) -> Any:
    if workers <= 1:
        return None
    import concurrent.futures as cf
    import multiprocessing as mp

    from marketintel.forecast.lear import worker_init

    return cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=worker_init
    )


def cmd_backtest_run(args: argparse.Namespace) -> int:
    """Run or resume a backtest; print progress and the scores of what it wrote."""
    from marketintel.backtest.engine import BacktestSpec, CsvSink, StoreSink, run_backtest
    from marketintel.forecast.data import panel_from_epftoolbox
    from marketintel.forecast.models import Ensemble, make_model, model_spec

    if bool(args.data) == bool(args.from_store):
        raise MarketIntelError("give --data FILE.csv (an epftoolbox dataset) or --from-store MARKET/LOCATION")
    if not (args.out or args.store):
        raise MarketIntelError("say where the forecasts go: --out FORECASTS.csv and/or --store")
    if args.out and args.horizon_days != 1:
        raise MarketIntelError(
            "the published-forecast CSV layout holds day-ahead forecasts only; use --store"
        )
    client = None
    if args.data:
        path = Path(args.data)
        if not path.is_file():
            raise MarketIntelError(f"--data {path}: no such file")
        market = args.market or path.stem
        panel = panel_from_epftoolbox(path, market)
        source = f"{path.name}@{_fingerprint(path)}"
        location = args.location or market
    else:
        from marketintel.forecast.store import panel_from_store
        from marketintel.store import connect

        market, _, location = args.from_store.partition("/")
        if not location or not args.tz:
            raise MarketIntelError(
                "--from-store expects MARKET/LOCATION and needs --tz (the delivery days' zone)"
            )
        client = connect()
        panel = panel_from_store(client, market, location, args.exog or [], args.tz)
        source = f"store:{market}/{location}:{','.join(args.exog or [])}"
        market = args.market or market
    pool = _pool(args.workers) if model_spec(args.model).takes_pool else None
    try:
        model = make_model(args.model, args.window, pool)
        spec = BacktestSpec(
            market, location, args.model, args.window, args.start, args.days,
            args.recalibrate_every, args.horizon_days, source,
        )  # fmt: skip
        run_id = spec.run_id()
        names = (
            [m.name for m in model.members] + [model.name] if isinstance(model, Ensemble) else [model.name]
        )
        sinks: list[Any] = []
        if args.out:
            sinks.append(CsvSink(Path(args.out), names))
        if args.store:
            from marketintel.store import connect

            client = client or connect()
            config = {"spec": spec.__dict__, "model": model.parameters(), "model_name": model.name,
                      "benchmark": args.benchmark}  # fmt: skip
            sinks.append(StoreSink(client, spec, run_id, config, panel.units.get("price", "")))
        print(
            f"backtest {run_id}: {model.name} on {market}/{location}, {args.days} days from {args.start}",
            flush=True,
        )
        result = run_backtest(panel, model, spec, sinks, progress=lambda line: print(line, flush=True))
    finally:
        if pool is not None:
            pool.shutdown()
    print(
        f"done: {result.days_forecast} day(s) forecast, {result.days_skipped} already written (resumed), "
        f"{result.recalibrations} recalibration(s), {result.seconds:.1f} s"
    )
    if args.out:
        from marketintel.backtest.scoring import format_table, score_file

        print(format_table(score_file(Path(args.out), "Real price", names)))
    return 0


def cmd_backtest_load(args: argparse.Namespace) -> int:
    """Load an epftoolbox dataset into the store (prices and exogenous forecasts, with publication times)."""
    from marketintel.forecast.data import panel_from_epftoolbox
    from marketintel.forecast.store import write_panel
    from marketintel.store import connect

    path = Path(args.file)
    market = args.market or path.stem
    panel = panel_from_epftoolbox(path, market)
    rows = write_panel(connect(), panel, market, args.location or market)
    print(f"{rows:,} rows of {path.name} stored as {market}/{args.location or market}")
    return 0


def cmd_backtest_monitor(args: argparse.Namespace) -> int:
    """Check rolling accuracy against thresholds; print breaches; write alerts to the store (--store)."""
    from marketintel.backtest.monitor import alerts_from_checks, rolling_checks, write_alerts
    from marketintel.backtest.scoring import read_forecast_file

    frame = read_forecast_file(Path(args.forecasts))
    models = args.models or [c for c in frame.columns if c != args.actual]
    checks = rolling_checks(
        frame, args.actual, models, market=args.market, window_days=args.window_days,
        rmae_threshold=args.rmae_threshold, mae_ratio_threshold=args.mae_ratio_threshold,
        latest_only=not args.history,
    )  # fmt: skip
    breaches = checks[checks["status"] == "breach"]
    print(f"{len(checks)} check(s), {len(breaches)} breach(es)")
    alerts = alerts_from_checks(breaches)
    for title in alerts["title"]:
        print(f"  ALERT {title}")
    if args.store and len(alerts):
        from marketintel.store import connect

        print(f"{write_alerts(connect(), alerts)} alert(s) written to the store")
    return 1 if len(breaches) and args.fail_on_breach else 0


def register_backtest(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi backtest ...``."""
    from marketintel.backtest.scoring import register_score
    from marketintel.forecast.models import MODELS, model_names, models_help

    bt = sub.add_parser("backtest", help="forecast backtests: run, score, report")
    bsub = bt.add_subparsers(dest="backtest_command", required=True, metavar="COMMAND")
    p = bsub.add_parser("run", help="run (or resume) a rolling-origin backtest")
    p.add_argument("--data", default=None, help="epftoolbox dataset CSV (timestamp, price, exogenous...)")
    p.add_argument("--from-store", default=None, metavar="MARKET/LOCATION", help="price series in the store")
    p.add_argument("--exog", action="append", help="with --from-store: fundamentals variable (repeatable)")
    p.add_argument("--tz", default=None, help="with --from-store: zone of the delivery days")
    p.add_argument(
        "--model",
        required=True,
        type=str.lower,
        choices=model_names(aliases=True),
        metavar="MODEL",
        help=models_help().replace("%", "%%"),
    )
    windowed = ", ".join(name for name, spec in MODELS.items() if spec.takes_window)
    p.add_argument(
        "--window",
        type=int,
        default=None,
        help=f"calibration window of {windowed} [days] (default: the model's)",
    )
    p.add_argument("--start", required=True, help="first target day (YYYY-MM-DD)")
    p.add_argument("--days", type=int, required=True, help="number of target days")
    p.add_argument("--recalibrate-every", type=int, default=1, help="recalibration cadence [days]")
    p.add_argument(
        "--horizon-days", type=int, default=1, help="days forecast at each issue (store only if > 1)"
    )
    p.add_argument("--out", default=None, help="forecasts CSV in the published-forecast layout (resumable)")
    p.add_argument("--store", action="store_true", help="write forecasts and the run to the store")
    p.add_argument("--market", default=None, help="market name (default: the file's stem)")
    p.add_argument("--location", default=None, help="location name (default: the market)")
    pooled = ", ".join(name for name, spec in MODELS.items() if spec.takes_pool)
    p.add_argument("--workers", type=int, default=2, help=f"processes for the fits of {pooled}")
    p.add_argument("--benchmark", default="epftoolbox", help="benchmark the run belongs to (recorded)")
    p.set_defaults(func=cmd_backtest_run)
    register_score(bsub)
    try:
        from marketintel.backtest.report import register_report
    except ImportError:  # pragma: no cover - the report module is optional until it lands
        pass
    else:
        register_report(bsub)
    p = bsub.add_parser("monitor", help="rolling accuracy against thresholds; alerts to the store")
    p.add_argument("forecasts", help="forecast CSV in the published-forecast layout")
    p.add_argument("--actual", default="Real price")
    p.add_argument("--models", nargs="+", default=None, metavar="COL")
    p.add_argument("--market", default="", help="market label of the alerts")
    p.add_argument("--window-days", type=int, default=28)
    p.add_argument("--rmae-threshold", type=float, default=1.0)
    p.add_argument("--mae-ratio-threshold", type=float, default=1.3, help="MAE over its 90-day median")
    p.add_argument("--history", action="store_true", help="check every day end, not only the latest")
    p.add_argument("--store", action="store_true", help="write the alerts to the store")
    p.add_argument("--fail-on-breach", action="store_true", help="exit 1 when a check breaches")
    p.set_defaults(func=cmd_backtest_monitor)
    p = bsub.add_parser("load", help="load an epftoolbox dataset into the store, with publication times")
    p.add_argument("file")
    p.add_argument("--market", default=None)
    p.add_argument("--location", default=None)
    p.set_defaults(func=cmd_backtest_load)
