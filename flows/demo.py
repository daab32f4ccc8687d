"""``mi demo``: the whole pipeline on the embedded default, unattended.

Store up, migrate, a Nord Pool sample loaded and summarised; then, unless ``--no-pipeline``, the local
Prefect server and every flow once on recorded data, each rendering its report under ``reports/``:
ingestion of real-time and day-ahead SPP LMP, ISO-NE regional load forecasts and NYMEX settlements
(offline by default: this machine reaches package registries only, so ingestion replays the publishers'
recorded responses from ``../shared/fixtures`` and says so); curves from the shared reference cases and
from the recorded Henry Hub settlements; a LEAR backtest on the benchmark data; data-quality checks on the
ingested SPP series. Then the deployments are registered with their schedules, so the Prefect UI lists them
beside the runs, and a summary says where every report and the Prefect UI are.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketintel import config
from marketintel.config import ClickHouseURL
from marketintel.timeutils import local_day_start_utc, local_to_utc

#: Day-ahead results of Nord Pool are published around 12:45 CET the day before delivery.
NP_PUBLICATION_OFFSET = pd.Timedelta(hours=-12, minutes=-15)  # from delivery-day 00:00 CET to D-1 11:45 UTC
SAMPLE_DAYS = 28
#: epftoolbox's NP stamps are market hours without DST shifts (24 per day): a fixed UTC+01:00 clock.
MARKET_CLOCK = "Etc/GMT-1"


def load_sample(shared: Path, days: int = SAMPLE_DAYS) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Return (prices, fundamentals, description) of the sample to load.

    The sample is the last ``days`` days of the epftoolbox Nord Pool dataset when the shared inputs are
    present; otherwise a seeded synthetic series, labelled as such in ``source``.
    """
    csv = shared / "datasets" / "epftoolbox" / "NP.csv"
    now = pd.Timestamp.now(tz="UTC").floor("ms")
    if csv.exists():
        raw = pd.read_csv(csv, index_col=0, parse_dates=True).tail(days * 24)
        raw.columns = [c.strip() for c in raw.columns]
        # The file's stamps are market hours with no DST shifts (24 per day): read them as UTC+01:00.
        start = local_to_utc(pd.DatetimeIndex(raw.index), MARKET_CLOCK)
        price, load, wind = (
            raw["Price"].to_numpy(),
            raw["Grid load forecast"].to_numpy(),
            raw["Wind power forecast"].to_numpy(),
        )
        source, what = "epftoolbox", f"Nord Pool system price, last {days} days of epftoolbox NP.csv ({csv})"
    else:
        start = pd.date_range(end=now.floor("D"), periods=days * 24, freq="h", tz="UTC")
        rng = np.random.default_rng(2024)
        hours = np.arange(len(start))
        price = 40 + 12 * np.sin(2 * np.pi * (hours % 24 - 7) / 24) + rng.normal(0, 3, len(start))
        load = 40_000 + 6_000 * np.sin(2 * np.pi * (hours % 24 - 6) / 24)
        wind = np.clip(3_000 + rng.normal(0, 800, len(start)).cumsum() / 10, 0, None)
        source, what = "synthetic-demo", f"SYNTHETIC hourly series ({days} days): shared inputs not found"
    start = pd.DatetimeIndex(start)
    end = start + pd.Timedelta(hours=1)
    published = local_day_start_utc(start, MARKET_CLOCK) + NP_PUBLICATION_OFFSET
    prices = pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": end,
            "market": "NORDPOOL_DA",
            "location": "SYS",
            "location_type": "system",
            "price": price.astype(float),
            "energy": None,
            "congestion": None,
            "loss": None,
            "currency": "EUR",
            "unit": "EUR/MWh",
            "revision": "final",
            "source": source,
            "published_at_utc": published,
            "ingested_at_utc": now,
        }
    )
    fundamentals = pd.concat(
        [
            pd.DataFrame(
                {
                    "interval_start_utc": start,
                    "interval_end_utc": end,
                    "market": "NORDPOOL",
                    "area": "SYS",
                    "area_to": "",
                    "variable": variable,
                    "value": values.astype(float),
                    "unit": "MW",
                    "source": source,
                    "published_at_utc": published,
                    "ingested_at_utc": now,
                }
            )
            for variable, values in (("load_forecast", load), ("wind_forecast", wind))
        ],
        ignore_index=True,
    )
    return prices, fundamentals, what


def run(args: argparse.Namespace) -> int:
    """Start the store (if needed), migrate, load the sample, print a summary and where to look."""
    from marketintel.store import connect, migrate, read_asof
    from marketintel.store.endpoint.process import start_background

    t0 = time.perf_counter()
    url = config.clickhouse_url()
    if url.is_local_default:
        state = start_background(config.store_dir(), config.store_host(), config.store_port(), [])
        print(f"[1/5] store running at {state.url} (pid {state.pid}), data in {state.path}")
        log_hint = f"{Path(state.path) / 'mi-endpoint.log'}"
    else:
        print(f"[1/5] using the ClickHouse server at {url.redacted()} (MI_CLICKHOUSE_URL)")
        log_hint = "(external server)"
    client = connect(ClickHouseURL(url.scheme, url.host, url.port, url.username, url.password, url.database))
    report = migrate(client)
    print(f"[2/5] schema: {report}")
    prices, fundamentals, what = load_sample(config.shared_dir())
    client.insert_df("prices", prices)
    client.insert_df("fundamentals", fundamentals)
    print(f"[3/5] loaded {len(prices):,} prices and {len(fundamentals):,} fundamentals rows: {what}")
    daily = client.query_df(
        """
        SELECT toDate(interval_start_utc, 'Europe/Oslo') AS day,
               round(avg(price), 2) AS base_eur_mwh,
               round(avgIf(price, toDayOfWeek(interval_start_utc, 0, 'Europe/Oslo') <= 5
                    AND toHour(interval_start_utc, 'Europe/Oslo') BETWEEN 8 AND 19), 2) AS peak_eur_mwh,
               round(min(price), 2) AS min_eur_mwh, round(max(price), 2) AS max_eur_mwh
        FROM prices FINAL WHERE market = 'NORDPOOL_DA'
        GROUP BY day ORDER BY day DESC LIMIT 7
        """
    )
    counts = client.query(  # the sample's rows (the pipeline below adds other sources' rows)
        "SELECT (SELECT count() FROM prices FINAL WHERE source = {s:String}), "
        "(SELECT count() FROM fundamentals FINAL WHERE source = {s:String})",
        parameters={"s": str(prices["source"].iloc[0])},
    ).result_rows[0]
    last_day_start = prices["interval_start_utc"].max().floor("D")
    as_of = last_day_start - pd.Timedelta(days=1)
    known = read_asof(client, "prices", as_of, where={"market": "NORDPOOL_DA"})
    print("[4/5] summary")
    print(
        f"  prices: {counts[0]:,} rows, fundamentals: {counts[1]:,} rows (deduplicated: re-running adds none)"
    )
    print(
        f"  point in time: as of {as_of:%Y-%m-%d %H:%M} UTC, {len(known):,} of the price hours were published"
    )
    print("  last 7 delivery days, Europe/Oslo [EUR/MWh] (peak: weekdays 08-20):")
    print("    " + daily.to_string(index=False, na_rep="-").replace("\n", "\n    "))
    mi = "mi" if shutil.which("mi") else str(Path(sys.executable).parent / "mi")
    results: list[Any] = []
    ui = ""
    if getattr(args, "pipeline", True):
        print("[5/5] pipeline: every flow once on recorded data (reports under reports/)", flush=True)
        ui, results = run_pipeline(lambda line: print(line, flush=True))
    else:
        print("[5/5] pipeline skipped (--no-pipeline)")
    print(f"\ndone in {time.perf_counter() - t0:.1f} s. Where to look:")
    for step in results:
        where = step.html or step.message
        print(f"  {step.flow:<13} {step.state:<9} {step.title}\n                {where}")
    if ui:
        print(f"  Prefect UI: {ui}  (the flow runs, and {ui}/deployments with their schedules)")
    print(f'  SQL:     {mi} store sql "SELECT * FROM prices FINAL LIMIT 5"')
    print(f"           or any ClickHouse client at {url.redacted()}")
    print(f"  status:  {mi} store status     log: {log_hint}")
    print(f"  stop:    make stop  (or {mi} prefect down; {mi} store stop)")
    if ui:  # the deployments are registered: a background flow runner serves them on their schedules
        from marketintel.flows.runner import start_for_demo

        print("\n".join(start_for_demo()), flush=True)
    return 0


@dataclass
class StepResult:
    """One demo step: the flow, what it did, its state and its report."""

    flow: str
    title: str
    state: str
    seconds: float
    html: str = ""
    message: str = ""


def steps() -> list[tuple[str, str, Any]]:
    """Return the demo's (flow, title, parameters) in order."""
    from marketintel.flows.params import BacktestParams, CurvesParams, DataQualityParams, IngestParams

    curves = config.shared_dir() / "curves"
    return [
        ("ingest", "SPP real-time LMP, 4 recorded 5-minute intervals",
         IngestParams(source="spp", dataset="lmp_real_time_5min")),
        ("ingest", "SPP day-ahead LMP, operating day 2025-03-19",
         IngestParams(source="spp", dataset="lmp_day_ahead_hourly", start="2025-03-19T05:00:00Z",
                      end="2025-03-20T05:00:00Z")),
        ("ingest", "ISO-NE load forecast by region, 2024-11-02/03 (DST end)",
         IngestParams(source="isone", dataset="load_forecast_by_region_hourly", start="2024-11-02T04:00:00Z",
                      end="2024-11-04T05:00:00Z")),
        ("ingest", "NYMEX settlements of 2014-12-29",
         IngestParams(source="cme", dataset="futures_settlements", start="2014-12-29T05:00:00Z",
                      end="2014-12-30T05:00:00Z")),
        ("build_curves", "German base, daily, shared case A (exact reference)",
         CurvesParams(quotes=str(curves / "caseA_daily" / "contracts.csv"), calendar="EEX_DE",
                      start="2025-02-01", end="2027-12-31", curve_name="DE_BASE_DAILY_CASE_A")),
        ("build_curves", "German base/peak, hourly 2026, shared case B",
         CurvesParams(quotes=str(curves / "caseB_hourly" / "contracts.csv"), calendar="EEX_DE",
                      start="2026-01-01", end="2026-12-31", granularity="hourly",
                      shape=str(curves / "caseB_hourly" / "shape.csv"), curve_name="DE_HOURLY_CASE_B")),
        ("build_curves", "Henry Hub gas, daily, from the NYMEX settlements",
         CurvesParams(product="NG", as_of="2014-12-29", calendar="HENRY_HUB", weights="days",
                      start="2015-01-01", end="2016-12-31", curve_name="HENRY_HUB_DAILY")),
        ("backtest", "LEAR 1456 on Nord Pool, first 7 test days of the benchmark",
         BacktestParams(market="NP", model="lear", window=1456, start="2016-12-27", days=7)),
        ("data_quality", "SPP real-time LMP at SPPNORTH_HUB, the ingested window", DataQualityParams()),
    ]  # fmt: skip


def run_pipeline(say: Callable[[str], None] = print) -> tuple[str, list[StepResult]]:
    """Run every demo step as a flow run on the local Prefect server; return the UI address and results.

    A step that fails is reported and the demo goes on (a data-quality failure is a finding, not a crash).
    """
    import os

    from marketintel.flows.cli import use_prefect_server

    # the demo reports each step itself; Prefect's own log lines (and tracebacks of the runs it reports as
    # failed, which stay visible in the UI) would bury that summary
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    t0 = time.perf_counter()
    ui = use_prefect_server(start=True)
    say(f"  Prefect server at {ui} ({time.perf_counter() - t0:.0f} s)")
    say("  offline: ingestion replays the publishers' recorded responses from ../shared/fixtures")
    from marketintel.flows.deployments import register
    from marketintel.flows.pipeline import FLOWS

    results = []
    for k, (flow_name, title, params) in enumerate(steps(), 1):
        started = time.perf_counter()
        flow: Any = FLOWS[flow_name]
        try:
            out = flow(params)
            result = StepResult(flow_name, title, "completed", time.perf_counter() - started, out["html"])
        except Exception as exc:  # reported, and the demo goes on
            first_line = str(exc).splitlines()[0][:300] if str(exc) else ""
            message = f"{type(exc).__name__}: {first_line}"
            result = StepResult(flow_name, title, "FAILED", time.perf_counter() - started, message=message)
        results.append(result)
        say(f"  [{k}/{len(steps())}] {flow_name}: {title}: {result.state} in {result.seconds:.1f} s")
        if result.message:
            say(f"        {result.message}")
    ids = register()
    say(f"  {len(ids)} deployments registered with their schedules: {ui}/deployments")
    return ui, results
