"""`mi demo` (what `make demo` runs): store up, migrate, sample, summary; idempotent; leaves the store, the
Prefect server, the flow runner and the hub running, which `mi status` shows and `mi stop` (`make stop`)
ends."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from marketintel.config import shared_dir
from marketintel.flows import runner, server
from marketintel.flows.deployments import SCHEDULES
from marketintel.hub import process as hub_process
from marketintel.store.endpoint import process
from tests.storeproc import free_port


def test_demo_runs_twice_without_duplicates_and_says_where_to_look(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        MI_DATA_DIR=str(tmp_path),
        MI_STORE_PORT=str(free_port()),
        MI_PREFECT_PORT=str(free_port()),
        MI_HUB_PORT=str(free_port()),
        MI_HUB_API_PORT=str(free_port()),
        MI_HUB_PROXY_API_PORT=str(free_port()),
        MI_DASHBOARDS_PORT=str(free_port()),
        MI_API_PORT=str(free_port()),
        MI_REPORTS_DIR=str(tmp_path / "reports"),
    )
    for name in ("MI_CLICKHOUSE_URL", "MI_PREFECT_API_URL", "PREFECT_API_URL", "PREFECT_HOME"):
        env.pop(name, None)
    mi = [sys.executable, "-m", "marketintel.cli"]
    cmd = [*mi, "demo"]
    stopped = None
    try:  # the whole pipeline once, then the store part again: nothing is added twice
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert first.returncode == 0, first.stderr
        status = subprocess.run([*mi, "status"], env=env, capture_output=True, text=True, timeout=120)
        second = subprocess.run(
            [*cmd, "--no-pipeline"], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert second.returncode == 0, second.stderr
        held = subprocess.run(
            [*mi, "store", "sql", "--format", "TSV", "SELECT "
             "(SELECT count() FROM instruments FINAL), (SELECT count() FROM backtest_metrics FINAL), "
             "(SELECT toYear(max(delivery_start_utc)) FROM curves FINAL "
             "WHERE curve_name = 'HENRY_HUB_DAILY')"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        parts = (
            process.read_state(tmp_path / "store"),
            server.read_state(tmp_path / "prefect"),
            runner.read_state(tmp_path / "prefect"),
            hub_process.read_state(tmp_path / "hub"),
        )
        stopped = subprocess.run([*mi, "stop"], env=env, capture_output=True, text=True, timeout=300)
    finally:
        if stopped is None or stopped.returncode != 0:  # what `make stop` did before `mi stop`
            for stop in (["hub", "down"], ["flows", "stop"], ["prefect", "down"], ["store", "stop"]):
                subprocess.run([*mi, *stop], env=env, timeout=120, check=False, capture_output=True)
    # after the demo every part runs, `mi status` says so; `mi stop` (make stop) leaves nothing running
    assert status.returncode == 0, status.stdout + status.stderr
    n = len(SCHEDULES)
    for part in ("store ", "Prefect ", "flow runner ", f"serving {n} of {n} deployments READY", "hub "):
        assert part in status.stdout, status.stdout
    assert all(p is not None for p in parts), parts
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for pid in (p.pid for p in parts if p is not None):
        assert not server.pid_alive(pid) and not server.group_alive(pid), f"pid {pid} still runs"
    assert runner.read_state(tmp_path / "prefect") is None and server.read_state(tmp_path / "prefect") is None
    assert process.read_state(tmp_path / "store") is None
    assert hub_process.read_state(tmp_path / "hub") is None
    counts = [
        re.search(r"prices: ([\d,]+) rows, fundamentals: ([\d,]+) rows", r.stdout) for r in (first, second)
    ]
    assert counts[0] is not None and counts[1] is not None
    assert counts[0].groups() == counts[1].groups() == ("672", "1,344")
    assert "tables were created" in first.stdout and "up to date" in second.stdout
    expected_source = "epftoolbox" if (shared_dir() / "datasets").is_dir() else "SYNTHETIC"
    assert expected_source in first.stdout
    for hint in ("store sql", "mi status", "make stop", "mi-endpoint.log"):
        assert hint in first.stdout
    background = first.stdout.split("running in the background", 1)[-1]
    for line in (
        *("store ", "Prefect ", "server.log", "flow runner  pid", "READY; log", "runner.log"),
        *("hub.log", "demo-trader  traders: explorer", "demo-users.txt"),
    ):
        assert line in background, first.stdout

    if not (shared_dir() / "fixtures").is_dir():
        return
    out = first.stdout
    instruments, metrics, last_year = (int(v) for v in held.stdout.split())
    assert instruments > 0 and metrics > 0, held.stdout  # connectors register instruments; metrics are stored
    assert last_year >= 2020, "the Henry Hub curve covers the whole quoted strip"
    assert "offline: ingestion replays the publishers' recorded responses" in out
    reports = sorted((tmp_path / "reports").rglob("*.html"))
    flows = {p.parent.parent.name for p in reports}
    assert flows == {"ingest", "build_curves", "backtest", "data_quality", "scenario"}, out
    assert len(reports) == 12  # one per step, the failing data-quality run included
    for step in ("ingest", "build_curves", "backtest", "scenario"):
        assert re.search(rf"{step}\s+completed", out), out
    assert re.search(r"data_quality\s+FAILED .*\n.*completeness", out)  # the 08:45 interval was served empty
    for market in ("OMIE", "NEM"):  # a European and an Australian day from recordings
        assert re.search(rf"ingest: [^\n]*{market}[^\n]*: completed in", out), out
    assert f"{n} deployments registered with their schedules" in out
    # the demo's Spanish 15-minute day read through the router: OMIE serves it, ENTSO-E has no rows
    routed = r"routing ES_DA_15MIN 2025-09-30 \.\. 2025-10-01 UTC: 96 intervals served by omie/"
    assert re.search(routed, out), out
    assert "Prefect UI: http://127.0.0.1:" in out
