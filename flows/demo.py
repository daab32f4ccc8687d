"""``mi demo``: the whole pipeline on the embedded default, unattended.

Store up, migrate, a Nord Pool sample loaded and summarised; then, unless ``--no-pipeline``, the local
Prefect server and every flow once on recorded data, each rendering its report under ``reports/``:
ingestion of real-time and day-ahead SPP LMP, ISO-NE regional load forecasts, NYMEX settlements, OMIE's
Iberian day-ahead prices on their first 15-minute day and AEMO's NEM dispatch prices
(offline by default: this machine reaches package registries only, so ingestion replays the publishers'
recorded responses from ``../shared/fixtures`` and says so); curves from the shared reference cases and
from the recorded Henry Hub settlements; the issue's scenario (gas-cold-winter) on that Henry Hub curve,
reported against its base; a LEAR backtest on the benchmark data; data-quality checks on the ingested SPP
series; the Spanish 15-minute day-ahead prices read through the router (its decisions and trust scores
show on the quality page). Then the deployments are registered with their schedules, so the Prefect UI
lists them beside the runs, and a summary says where every report and the Prefect UI are.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import marketintel.scenarios as _scenarios
from marketintel import config


def run(args: argparse.Namespace) -> int:
    """Start the store (if needed), load the sample, run every flow once, leave the platform running."""
    from marketintel.services.sample import SAMPLE_TZ, load_sample
    from marketintel.services.store import ensure_store

    t0 = time.perf_counter()
    store = ensure_store()
    if store.local:
        state = "started" if store.started else "running"
        print(f"[1/5] store {state} at {store.url} (pid {store.pid}), data in {config.store_dir()}")
    else:
        print(f"[1/5] using the ClickHouse server at {store.url} (MI_CLICKHOUSE_URL)")
    print(f"[2/5] schema: {store.migration}")
    from marketintel.access.rules import seed_defaults

    seeded = seed_defaults(store.client)
    if seeded:
        groups = sorted({r.group for r in seeded})
        print(f"      entitlements: default rules granted to {', '.join(groups)} (mi access show)")
    sample = load_sample(client=store.client)
    print(
        f"[3/5] loaded {sample.loaded_prices:,} prices and {sample.loaded_fundamentals:,} fundamentals rows: "
        f"{sample.description}"
    )
    print("[4/5] summary")
    print(
        f"  prices: {sample.stored_prices:,} rows, fundamentals: {sample.stored_fundamentals:,} rows "
        "(deduplicated: re-running adds none)"
    )
    print(
        f"  point in time: as of {sample.as_of_utc:%Y-%m-%d %H:%M} UTC, {sample.published_hours:,} of the "
        "price hours were published"
    )
    print(f"  last 7 delivery days, {SAMPLE_TZ} [EUR/MWh] (peak: weekdays 08-20):")
    print("    " + sample.daily.to_string(index=False, na_rep="-").replace("\n", "\n    "))
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
    print(f"           or any ClickHouse client at {store.url}")
    print(f"  status:  {mi} status  (or make status)     store log: {store.log or '(external server)'}")
    print(f"  stop:    make stop  (or {mi} stop)")
    if ui:  # the deployments are registered: a background flow runner serves them on their schedules
        from marketintel.flows.runner import start_for_demo

        print("\n".join(start_for_demo()), flush=True)
    else:
        print("running in the background (mi status shows them, mi stop or make stop stops them):")
    print("\n".join(start_hub_for_demo()), flush=True)
    return 0


#: the demo's hub users: one per group (name, groups, Hub admin?)
DEMO_USERS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("demo-trader", ("traders",), False),
    ("demo-quant", ("quants",), False),
    ("demo-ops", ("ops",), False),
    ("demo-admin", ("admins",), True),
    ("demo-pilot", ("customers-spp",), False),
    ("demo-delayed", ("customers-delayed",), False),
)
#: store roles of the demo users with a server (the quant saves curves from the curve builder)
DEMO_STORE_ROLES: dict[str, str] = {"demo-quant": "writer", "demo-admin": "reader"}


def start_hub_for_demo() -> list[str]:
    """Start the hub, create the demo users (passwords generated into a 0600 file), say who sees what.

    A user that exists already keeps its password (the file has it). A hub that cannot start is reported
    in the lines: the demo's results stand without it.
    """
    import secrets

    from marketintel.dashboards.registry import pages_for
    from marketintel.exceptions import MarketIntelError
    from marketintel.hub import SERVER_GROUPS, paths, process, users

    try:
        hub = process.up(progress=False)
    except MarketIntelError as exc:
        return [f"  hub          NOT started: {exc}"]
    file = paths.hub_dir() / "demo-users.txt"
    known = (
        dict(line.split(" ", 1) for line in file.read_text().splitlines() if " " in line)
        if file.exists()
        else {}
    )
    existing = {u.name for u in users.list_users()}
    lines = [
        f"  hub          {hub.url} (pid {hub.pid}); log {hub.log}",
        "",
        f"log in at {hub.url} as (passwords in {file}, readable by you only):",
    ]
    for name, groups, admin in DEMO_USERS:
        if name not in existing or name not in known:
            known[name] = secrets.token_urlsafe(12)
            role = DEMO_STORE_ROLES.get(name, "reader")
            if name in existing:
                users.set_password(name, known[name])
                users.set_groups(name, groups, store_role=role)
            else:
                users.add(name, known[name], groups, admin=admin, store_role=role)
        pages = ", ".join(p.name for p in pages_for(groups)) or "no dashboard yet"
        lab = "; JupyterLab" if set(groups) & set(SERVER_GROUPS) else ""
        if DEMO_STORE_ROLES.get(name) == "writer":
            lab += " (store writer)"
        lines.append(f"  {name:<12} {'/'.join(groups)}{' (Hub admin)' if admin else ''}: {pages}{lab}")
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{name} {password}\n" for name, password in known.items()))
    file.chmod(0o600)
    lines.append(f"  dashboards:  {hub.url}services/dashboards/<page>")
    lines += api_lines(hub.url)
    return lines


def api_lines(hub_url: str) -> list[str]:
    """Say where the API is and give a command that reads the sample's prices with a user's token."""
    from marketintel.services.sample import SAMPLE_LOCATION, SAMPLE_MARKET

    ticks = (
        f"{hub_url}services/api/v1/prices/ticks?market={SAMPLE_MARKET}&location={SAMPLE_LOCATION}"
        "&start=2018-12-17&end=2018-12-24"
    )
    return [
        f"  API:         {hub_url}services/api/docs (OpenAPI; log in as above)",
        "               TOKEN=$(.venv/bin/mi hub token demo-trader)",
        f'               curl -H "Authorization: Bearer $TOKEN" "{ticks}"',
        "               (add -H 'Accept: text/csv', 'application/vnd.apache.parquet' or "
        "'application/vnd.apache.arrow.stream')",
    ]


@dataclass
class StepResult:
    """One demo step: the flow, what it did, its state and its report."""

    flow: str
    title: str
    state: str
    seconds: float
    html: str = ""
    message: str = ""


#: the demo's scenario: the issue's example on the Henry Hub curve the demo builds (package data)
SCENARIO_EXAMPLE = Path(_scenarios.__file__).parent / "examples" / "gas-cold-winter.scn"
#: the demo's routed series and window [UTC]: OMIE's Spanish 15-minute day-ahead prices of 2025-10-01
#: (Madrid), which the demo ingests; its second source, ENTSO-E, has no rows in the demo
ROUTED = ("ES_DA_15MIN", "2025-09-30T22:00:00Z", "2025-10-01T22:00:00Z")


def route_demo_series() -> list[str]:
    """Read the demo's routed series through the router (decisions stored and audited); say what it chose.

    A failure is reported in the lines: the demo's results stand without it.
    """
    from marketintel.services.routing import read_series, routing_state
    from marketintel.services.store import ensure_store

    name, start, end = ROUTED
    try:
        client = ensure_store().client
        served = read_series(client, name, start, end)
        state = routing_state(client)
    except Exception as exc:  # reported, and the demo goes on
        return [f"  routing {name}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"]
    rows = state[state["series"] == name]
    sources = ", ".join(f"{s} ({n})" for s, n in served["source"].value_counts().items()) or "nothing"
    reason = str(rows["last_reason"].iloc[0]) if len(rows) else ""
    trust = "; ".join(f"{r.source} trust {r.score:.2f}, breaker {r.breaker}" for r in rows.itertuples())
    return [
        f"  routing {name} {start[:10]} .. {end[:10]} UTC: {len(served)} intervals served by {sources};"
        f" last decision: {reason}",
        f"        {trust} (quality page: Routing)",
    ]


def steps() -> list[tuple[str, str, Any]]:
    """Return the demo's (flow, title, parameters) in order."""
    from marketintel.flows.params import (
        BacktestParams,
        CurvesParams,
        DataQualityParams,
        IngestParams,
        ScenarioParams,
    )

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
        ("ingest", "OMIE day-ahead, Spain and Portugal, 2025-10-01 (first 15-minute day)",
         IngestParams(source="omie", dataset="marginal_price_15min", start="2025-09-30T22:00:00Z",
                      end="2025-10-01T22:00:00Z")),
        ("ingest", "AEMO NEM 5-minute dispatch prices, 2025-01-01 AEST, NSW1 and SA1",
         IngestParams(source="nem", dataset="dispatch_price", start="2024-12-31T14:00:00Z",
                      end="2025-01-01T14:00:00Z")),
        ("build_curves", "German base, daily, shared case A (exact reference)",
         CurvesParams(quotes=str(curves / "caseA_daily" / "contracts.csv"), calendar="EEX_DE",
                      start="2025-02-01", end="2027-12-31", curve_name="DE_BASE_DAILY_CASE_A")),
        ("build_curves", "German base/peak, hourly 2026, shared case B",
         CurvesParams(quotes=str(curves / "caseB_hourly" / "contracts.csv"), calendar="EEX_DE",
                      start="2026-01-01", end="2026-12-31", granularity="hourly",
                      shape=str(curves / "caseB_hourly" / "shape.csv"), curve_name="DE_HOURLY_CASE_B")),
        ("build_curves", "Henry Hub gas, daily, the whole strip of the NYMEX settlements",
         CurvesParams(product="NG", as_of="2014-12-29", calendar="HENRY_HUB", weights="days",
                      curve_name="HENRY_HUB_DAILY")),
        ("scenario", "Henry Hub gas-cold-winter scenario against its base, the curve of 2014-12-29",
         ScenarioParams(file=str(SCENARIO_EXAMPLE))),
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
    for line in route_demo_series():
        say(line)
    ids = register()
    say(f"  {len(ids)} deployments registered with their schedules: {ui}/deployments")
    return ui, results
