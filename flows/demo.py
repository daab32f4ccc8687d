"""The demo pipeline: every flow once, on recorded data, against the local Prefect server.

Offline by default (this machine reaches package registries only): ingestion replays the publishers'
recorded responses from ``../shared/fixtures`` and says so. The steps: real-time and day-ahead SPP LMP,
ISO-NE regional load forecasts and NYMEX settlements ingested; curves from the shared reference cases and
from the recorded Henry Hub settlements; a LEAR backtest on the benchmark data; data-quality checks on the
ingested SPP series; then the deployments are registered with their schedules, so the Prefect UI lists
them beside the runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marketintel import config


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
