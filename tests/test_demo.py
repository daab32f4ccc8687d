"""`mi demo` (what `make demo` runs): store up, migrate, sample, summary; idempotent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from marketintel.config import shared_dir
from tests.storeproc import free_port


def test_demo_runs_twice_without_duplicates_and_says_where_to_look(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        MI_DATA_DIR=str(tmp_path),
        MI_STORE_PORT=str(free_port()),
        MI_PREFECT_PORT=str(free_port()),
        MI_REPORTS_DIR=str(tmp_path / "reports"),
    )
    for name in ("MI_CLICKHOUSE_URL", "PREFECT_API_URL", "PREFECT_HOME"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "marketintel.cli", "demo"]
    try:  # the whole pipeline once, then the store part again: nothing is added twice
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert first.returncode == 0, first.stderr
        second = subprocess.run(
            [*cmd, "--no-pipeline"], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert second.returncode == 0, second.stderr
    finally:
        for stop in (["prefect", "down"], ["store", "stop"]):
            subprocess.run(
                [sys.executable, "-m", "marketintel.cli", *stop],
                env=env,
                timeout=120,
                check=False,
                capture_output=True,
            )
    counts = [
        re.search(r"prices: ([\d,]+) rows, fundamentals: ([\d,]+) rows", r.stdout) for r in (first, second)
    ]
    assert counts[0] is not None and counts[1] is not None
    assert counts[0].groups() == counts[1].groups() == ("672", "1,344")
    assert "tables were created" in first.stdout and "up to date" in second.stdout
    expected_source = "epftoolbox" if (shared_dir() / "datasets").is_dir() else "SYNTHETIC"
    assert expected_source in first.stdout
    for hint in ("store sql", "store status", "make stop", "mi-endpoint.log"):
        assert hint in first.stdout

    if not (shared_dir() / "fixtures").is_dir():
        return
    out = first.stdout
    assert "offline: ingestion replays the publishers' recorded responses" in out
    reports = sorted((tmp_path / "reports").rglob("*.html"))
    flows = {p.parent.parent.name for p in reports}
    assert flows == {"ingest", "build_curves", "backtest", "data_quality"}, out
    assert len(reports) == 9  # one per step, the failing data-quality run included
    for step in ("ingest", "build_curves", "backtest"):
        assert re.search(rf"{step}\s+completed", out), out
    assert re.search(r"data_quality\s+FAILED .*\n.*completeness", out)  # the 08:45 interval was served empty
    assert "6 deployments registered with their schedules" in out and "Prefect UI: http://127.0.0.1:" in out
