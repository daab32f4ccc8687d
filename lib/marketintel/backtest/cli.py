"""``mi backtest run|score|report|load``: backtests from an epftoolbox CSV or from store series."""

from __future__ import annotations

import argparse
from pathlib import Path

from marketintel.exceptions import MarketIntelError


def cmd_backtest_run(args: argparse.Namespace) -> int:
    """Run or resume a backtest; print progress and the scores of what it wrote."""
    from marketintel.services.backtest import run_and_store_backtest

    if bool(args.data) == bool(args.from_store):
        raise MarketIntelError("give --data FILE.csv (an epftoolbox dataset) or --from-store MARKET/LOCATION")
    if not (args.out or args.store):
        raise MarketIntelError("say where the forecasts go: --out FORECASTS.csv and/or --store")
    if args.data and not Path(args.data).is_file():
        raise MarketIntelError(f"--data {args.data}: no such file")
    market = args.market or (Path(args.data).stem if args.data else args.from_store.partition("/")[0])
    outcome = run_and_store_backtest(
        market, args.model, args.start, args.days, window=args.window, data=args.data or None,
        from_store=args.from_store or None, tz=args.tz, exog=args.exog or (), location=args.location,
        recalibrate_every=args.recalibrate_every, horizon_days=args.horizon_days, store=args.store,
        out_csv=args.out or None, benchmark=args.benchmark, workers=args.workers,
        progress=lambda line: print(line, flush=True),
    )  # fmt: skip
    print(
        f"done: {outcome.days_forecast} day(s) forecast, {outcome.days_skipped} already written (resumed), "
        f"{outcome.recalibrations} recalibration(s), {outcome.seconds:.1f} s"
        + (f"; {outcome.stored_metrics} metric rows stored (run {outcome.run_id})" if args.store else "")
    )
    if args.out:
        from marketintel.backtest.scoring import format_table
        from marketintel.services.backtest import score_forecast_file

        print(format_table(score_forecast_file(Path(args.out), "Real price", outcome.models)))
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
