"""Replay-follow latency: from a payload becoming available to its rows being queryable in the store.

The recorded SPP real-time sequence (RTBM LMP files ending 13:40, 13:45 (empty), 13:50, 13:55 UTC on
2025-03-31) is played back with ``ReplayClock`` at ``--speed`` through the real connector, runner and
endpoint. A watcher polls the store every ``--poll-ms`` for each interval's rows; the latency of an interval
is the real time from the clock passing its end (when the file is available) to the watcher first seeing
its rows. Each repeat uses a fresh database. Results: ``benchmarks/results/replay_follow.json``.

Run: ``.venv/bin/python benchmarks/replay_follow.py`` (about 30 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from benchcommon import machine_info, start_endpoint, write_results
from marketintel.config import shared_dir
from marketintel.connectors.spp.ingestor import SPPIngestor
from marketintel.ingest.follow import ReplayClock, follow
from marketintel.ingest.http import HttpClient, request_key
from marketintel.store import migrate

ENDS = ["13:40", "13:50", "13:55"]  # the non-empty recorded intervals
START = pd.Timestamp("2025-03-31 13:35", tz="UTC")
UNTIL = pd.Timestamp("2025-03-31 13:56", tz="UTC")


def recordings(folder: Path) -> Path:
    spp = shared_dir() / "fixtures" / "spp"
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for minute in ("40", "45", "50", "55"):
        local_end = pd.Timestamp(f"2025-03-31 08:{minute}", tz="America/Chicago")
        url = SPPIngestor().file_url("lmp_real_time_5min", local_end)
        name = f"RTBM-LMP-SL-2025033108{minute}.csv"
        (folder / name).write_bytes((spp / name).read_bytes())
        index[request_key("GET", url, None)] = {"file": name, "status": 200, "content_type": "text/csv"}
    (folder / "index.json").write_text(json.dumps(index))
    return folder


def one_run(ep: Any, rec: Path, speed: float, poll_s: float) -> list[float]:
    database = f"follow_{uuid.uuid4().hex[:8]}"
    admin = ep.client()
    admin.command(f"CREATE DATABASE {database}")
    client = ep.client(database=database)
    migrate(client, database=database)
    watcher = ep.client(database=database)
    clock = ReplayClock(START, speed)
    t0 = time.monotonic()
    available = {
        e: t0 + (pd.Timestamp(f"2025-03-31 {e}", tz="UTC") - START).total_seconds() / speed for e in ENDS
    }
    visible: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set() and len(visible) < len(ENDS):
            rows = watcher.query(
                "SELECT DISTINCT formatDateTime(interval_end_utc, '%H:%i') FROM prices WHERE source = 'spp'"
            ).result_rows
            now = time.monotonic()
            for (end,) in rows:
                visible.setdefault(end, now)
            time.sleep(poll_s)

    thread = threading.Thread(target=watch)
    thread.start()
    ingestor = SPPIngestor(http=HttpClient("replay", rec))
    follow(ingestor, "lmp_real_time_5min", START, client, clock=clock, until_utc=UNTIL)
    deadline = time.monotonic() + 10
    while len(visible) < len(ENDS) and time.monotonic() < deadline:
        time.sleep(poll_s)
    done.set()
    thread.join()
    admin.command(f"DROP DATABASE {database} SYNC")
    missing = [e for e in ENDS if e not in visible]
    if missing:
        raise RuntimeError(f"rows of {missing} never became visible")
    return [visible[e] - available[e] for e in ENDS]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=10, help="playbacks (3 intervals each)")
    p.add_argument("--speed", type=float, default=120.0, help="simulated seconds per real second")
    p.add_argument("--poll-ms", type=float, default=10.0, help="watcher poll interval [ms]")
    p.add_argument("--output", type=Path, default=None, help="results JSON (default benchmarks/results/)")
    args = p.parse_args(argv)
    if not (shared_dir() / "fixtures" / "spp").is_dir():
        print(f"recorded SPP files not found under {shared_dir()} (MI_SHARED_DIR)", file=sys.stderr)
        return 2
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, start_endpoint(Path(tmp) / "store") as ep:
        rec = recordings(Path(tmp) / "rec")
        for r in range(args.repeats):
            run = one_run(ep, rec, args.speed, args.poll_ms / 1000)
            latencies += run
            print(
                f"run {r + 1}/{args.repeats}: "
                + ", ".join(f"{e} {x * 1000:.0f} ms" for e, x in zip(ENDS, run, strict=True))
            )
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    result = {
        "benchmark": "replay_follow",
        "machine": machine_info(),
        "parameters": {
            "repeats": args.repeats, "speed": args.speed, "poll_ms": args.poll_ms, "intervals": ENDS,
        },
        "latency_ms": {"n": len(ms), "p50": round(statistics.median(ms), 1), "p95": round(p95, 1),
                       "max": round(ms[-1], 1), "all": [round(x, 1) for x in ms]},
        "goal": "p95 < 1000 ms",
        "goal_met": p95 < 1000,
    }  # fmt: skip
    lat = result["latency_ms"]
    verdict = "met" if p95 < 1000 else "NOT met"
    print(f"latency over {len(ms)} intervals: p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms")
    print(f"goal p95 < 1 s: {verdict}")
    write_results("replay_follow", result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
