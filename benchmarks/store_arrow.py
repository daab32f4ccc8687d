"""A 10M-row Arrow result through the endpoint against chDB in-process on the same data directory.

What is measured
----------------
Data: ``--rows`` (10M) 5-minute prices in one MergeTree table (interval start, market, location, price,
congestion: the shape of ``prices``), generated server-side through the endpoint.

Through the endpoint (``mi store serve``, clickhouse-connect with its defaults, so lz4 response
compression): ``client.query_arrow("SELECT * FROM bench_prices")`` (Arrow, one document) and
``client.query_arrow_stream`` (ArrowStream, record batches as they come, counted), each ``--repeats``
times; every result is checked to hold all rows. Then the endpoint is stopped, and chDB in-process opens
the same directory: ``conn.query(sql, "ArrowTable")`` (the engine's Arrow, read into a ``pyarrow.Table``),
the same number of times. Reported: medians, rows/s, and endpoint / in-process as a ratio of speeds
(goal: >= 0.5). Before the fix the endpoint returned ~65k of 10M rows in ArrowStream and an invalid
file in Arrow, so there is no earlier figure to compare with.

Run ``.venv/bin/python benchmarks/store_arrow.py`` (~2 min). Results: ``benchmarks/results/store_arrow.json``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchcommon import (
    WORK_DIR,
    CpuWatch,
    chdb_connect,
    log,
    machine_info,
    mib,
    start_endpoint,
    write_results,
)

SQL = "SELECT * FROM bench_prices"
DDL = (
    "CREATE TABLE bench_prices (interval_start_utc DateTime64(3, 'UTC'), market LowCardinality(String), "
    "location LowCardinality(String), price Float64, congestion Float64) "
    "ENGINE = MergeTree ORDER BY (market, location, interval_start_utc)"
)


def load(client: Any, rows: int) -> float:
    """Generate the table server-side; return the seconds it took."""
    t0 = time.perf_counter()
    client.command(DDL)
    client.command(
        "INSERT INTO bench_prices SELECT toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + "
        "toIntervalMinute(5 * intDiv(number, 1000)), concat('M', toString(number % 5)), "
        "concat('L', toString(number % 1000)), 20 + (number % 9973) / 100, (number % 101) / 10 "
        f"FROM numbers({rows})",
        settings={"max_insert_block_size": 1_000_000},
    )
    return time.perf_counter() - t0


def timed(label: str, fn: Any, repeats: int, rows: int) -> dict[str, Any]:
    """Run ``fn`` ``repeats`` times (each must return ``rows``); return the times and their median."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = fn()
        times.append(time.perf_counter() - t0)
        if got != rows:
            raise AssertionError(f"{label}: {got} rows, expected {rows}")
    median = statistics.median(times)
    log(f"{label}: median {median:.2f} s ({', '.join(f'{t:.2f}' for t in times)})")
    return {
        "median_s": round(median, 3),
        "runs_s": [round(t, 3) for t in times],
        "rows_s": int(rows / median),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    work = WORK_DIR / "store_arrow"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    out: dict[str, Any] = {"benchmark": "store_arrow", "rows": args.rows, "machine": machine_info()}
    with start_endpoint(data, "--query-log-ttl-days", "0") as ep:
        client = ep.client()
        out["load_s"] = round(load(client, args.rows), 1)
        log(f"loaded {args.rows:,} rows in {out['load_s']} s")
        client.query_arrow(SQL)  # warm: marks, caches

        def arrow() -> int:
            return int(client.query_arrow(SQL).num_rows)

        def arrow_stream() -> int:
            with client.query_arrow_stream(SQL) as stream:
                return sum(batch.num_rows for batch in stream)

        watch = CpuWatch({"server": ep.pid})
        out["endpoint_query_arrow"] = timed("endpoint query_arrow", arrow, args.repeats, args.rows)
        out["endpoint_query_arrow_stream"] = timed(
            "endpoint query_arrow_stream", arrow_stream, args.repeats, args.rows
        )
        out["endpoint_cpu"] = watch.stop()
        out["endpoint_peak_rss_mib"] = mib(ep.hwm_kb())
    conn = chdb_connect(str(data))
    conn.query(SQL, "ArrowTable")  # warm

    def in_process() -> int:
        return int(conn.query(SQL, "ArrowTable").num_rows)

    watch = CpuWatch({})
    out["inprocess_arrowtable"] = timed("chDB in-process ArrowTable", in_process, args.repeats, args.rows)
    out["inprocess_cpu"] = watch.stop()
    conn.close()
    base = out["inprocess_arrowtable"]["median_s"]
    for key in ("endpoint_query_arrow", "endpoint_query_arrow_stream"):
        out[key]["speed_vs_inprocess"] = round(base / out[key]["median_s"], 2)
        log(f"{key}: {out[key]['speed_vs_inprocess']:.2f} x the in-process speed (goal >= 0.5)")
    write_results("store_arrow", out, None if args.output is None else Path(args.output))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
