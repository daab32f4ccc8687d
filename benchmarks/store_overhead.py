"""The endpoint's own cost per request, this checkout against an older one, run side by side.

What is measured
----------------
Two endpoints on two copies of the same small data directory (1M 5-minute prices, 100 locations): one
running this checkout's code, one running ``--baseline-src`` (a checkout of an earlier commit, e.g. made
with ``git worktree add /tmp/old <commit>``; its ``lib/`` is put first on ``PYTHONPATH``). One
clickhouse-connect client (library defaults) per endpoint sends, in ``--rounds`` alternating rounds of
``--requests`` each (A, B, A, B, ...: the machine's drift hits both):

``select_1``   ``SELECT 1`` (the per-request floor: HTTP, auth, settings, bookkeeping);
``point``      one location's last 288 prices (a small dashboard read, FINAL-free);
``agg``        a ``count()``/``avg`` over the whole table (result of one row).

Reported per endpoint and query: the median of the round medians and p95 [ms], and new / old ratios.
Results: ``benchmarks/results/store_overhead.json``.
Run ``.venv/bin/python benchmarks/store_overhead.py --baseline-src /tmp/old`` (~2 min).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchcommon import WORK_DIR, log, machine_info, start_endpoint, write_results

QUERIES = {
    "select_1": "SELECT 1",
    "point": "SELECT interval_start_utc, price FROM bench WHERE location = 'L7' "
    "ORDER BY interval_start_utc DESC LIMIT 288",
    "agg": "SELECT count(), avg(price) FROM bench",
}


def prepare(path: Path, rows: int) -> None:
    """Build the data directory with an endpoint of this checkout."""
    with start_endpoint(path, "--query-log-ttl-days", "0") as ep:
        client = ep.client()
        client.command(
            "CREATE TABLE bench (interval_start_utc DateTime64(3, 'UTC'), location LowCardinality(String), "
            "price Float64) ENGINE = MergeTree ORDER BY (location, interval_start_utc)"
        )
        client.command(
            "INSERT INTO bench SELECT toDateTime64('2024-01-01', 3, 'UTC') + "
            "toIntervalMinute(5 * intDiv(number, 100)), concat('L', toString(number % 100)), number % 997 "
            f"FROM numbers({rows})"
        )
        client.command("OPTIMIZE TABLE bench FINAL")


def round_ms(client: Any, sql: str, n: int) -> list[float]:
    """Latencies of ``n`` runs of ``sql`` [ms]."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.query(sql)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--baseline-src", type=Path, required=True, help="checkout of the older code")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--requests", type=int, default=300)
    args = p.parse_args(argv)
    work = WORK_DIR / "store_overhead"
    shutil.rmtree(work, ignore_errors=True)
    prepare(work / "new", args.rows)
    prepare(work / "old", args.rows)  # the same data, built the same way (a copied chDB directory breaks)
    old_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = str(args.baseline_src.resolve() / "lib") + (
        os.pathsep + old_path if old_path else ""
    )
    old_ep = start_endpoint(work / "old")
    os.environ["PYTHONPATH"] = old_path
    new_ep = start_endpoint(work / "new")
    samples: dict[str, dict[str, list[list[float]]]] = {"old": {}, "new": {}}
    try:
        clients = {"old": old_ep.client(), "new": new_ep.client()}
        for name, sql in QUERIES.items():
            for side in ("old", "new"):
                round_ms(clients[side], sql, 50)  # warm
            for r in range(args.rounds):
                for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
                    samples[side].setdefault(name, []).append(round_ms(clients[side], sql, args.requests))
    finally:
        old_ep.stop()
        new_ep.stop()
    out: dict[str, Any] = {"benchmark": "store_overhead", "machine": machine_info(), "rows": args.rows}
    out["baseline"] = str(args.baseline_src)
    for name in QUERIES:
        row: dict[str, Any] = {}
        for side in ("old", "new"):
            rounds = samples[side][name]
            row[side] = {
                "p50_ms": round(statistics.median(statistics.median(r) for r in rounds), 3),
                "p95_ms": round(float(np.percentile(np.concatenate(rounds), 95)), 3),
                "round_p50s_ms": [round(statistics.median(r), 3) for r in rounds],
            }
        row["p50_new_over_old"] = round(row["new"]["p50_ms"] / row["old"]["p50_ms"], 3)
        row["p50_added_ms"] = round(row["new"]["p50_ms"] - row["old"]["p50_ms"], 3)
        out[name] = row
        log(
            f"{name:9s} old p50 {row['old']['p50_ms']:.2f} ms p95 {row['old']['p95_ms']:.2f} | "
            f"new p50 {row['new']['p50_ms']:.2f} ms p95 {row['new']['p95_ms']:.2f} | "
            f"new/old {row['p50_new_over_old']:.2f} (+{row['p50_added_ms']:.2f} ms)"
        )
    write_results("store_overhead", out)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
