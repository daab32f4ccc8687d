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
    env = dict(os.environ, MI_DATA_DIR=str(tmp_path), MI_STORE_PORT=str(free_port()))
    env.pop("MI_CLICKHOUSE_URL", None)
    cmd = [sys.executable, "-m", "marketintel.cli", "demo"]
    try:
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert first.returncode == 0, first.stderr
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert second.returncode == 0, second.stderr
    finally:
        subprocess.run(
            [sys.executable, "-m", "marketintel.cli", "store", "stop"],
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
