"""How much memory an export takes: the download center's job against the naive read-then-write, side by side.

What is measured
----------------
Data: ``--rows`` (default 100M) hourly prices in the platform's own ``prices`` table (every column, created
by the store's migrations), generated server-side (``INSERT ... SELECT FROM numbers()``) in
``benchmarks/.work/api_export``; ``--locations`` (default 2000) locations in 5 markets.

Each run is a fresh child process (so its peak RSS, ``ru_maxrss``, is its own):

``center``  the download center's job (:meth:`marketintel.api.exports.ExportCenter._run`): the export's
            SQL (:func:`marketintel.services.feeds.table_query`, latest version of each interval as of now)
            streamed from the store's ArrowStream block by block into a Parquet (or CSV) file;
``naive``   the peer: the same SQL read whole with clickhouse-connect's ``query_arrow`` and written with
            ``pyarrow.parquet.write_table`` (what a script without streaming does), on ``--naive-rows``
            (default 10M) rows only, a tenth, because at 100M rows it would not fit beside the store.

Reported per run: rows, seconds, rows/s, file size and the child's peak RSS [MiB]. Goal (issue 16): a 100M-row
export stays under 1 GiB RSS. The store's own memory is reported too (its peak, ``VmHWM``): it sorts the
rows for the latest-version pick, which is the store's work, not the API's.

The job runs as the store's admin here (no hub): the entitlement path is the same SQL with the caller's row
policy, tested in ``tests/hub/test_api.py``.

Run ``.venv/bin/python benchmarks/api_export.py`` (``--reuse`` keeps the loaded data). Results:
``benchmarks/results/api_export.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchcommon import WORK_DIR, code_version, log, machine_info, mib, start_endpoint, write_results

START = "2000-01-01 00:00:00"
#: one row per location and hour from START; the window below covers every row
GENERATE = """
INSERT INTO prices (interval_start_utc, interval_end_utc, market, location, location_type, price, currency,
                    unit, revision, source, published_at_utc)
SELECT
    toDateTime64('{start}', 3, 'UTC') + toIntervalHour(intDiv(number, {locations})) AS interval_start_utc,
    interval_start_utc + toIntervalHour(1) AS interval_end_utc,
    concat('MARKET_', toString((number % {locations}) % 5)) AS market,
    concat('NODE_', leftPad(toString(number % {locations}), 5, '0')) AS location,
    'node' AS location_type,
    40 + (cityHash64(number) % 4000) / 100 AS price,
    'USD', 'USD/MWh', 'final', 'bench',
    interval_start_utc - toIntervalHour(12) AS published_at_utc
FROM numbers({first}, {count})
"""


def load(store: Path, rows: int, locations: int) -> None:
    """Create the platform's tables and generate ``rows`` prices (a fresh data directory)."""
    from marketintel.store.migrate import migrate

    shutil.rmtree(store, ignore_errors=True)
    with start_endpoint(store) as ep:
        client = ep.client(send_receive_timeout=7200)
        migrate(client)
        chunk = 10_000_000 // locations * locations
        for first in range(0, rows, chunk):
            count = min(chunk, rows - first)
            client.command(GENERATE.format(start=START, locations=locations, first=first, count=count))
            log(f"load: {first + count:,} of {rows:,} rows")
        client.command("OPTIMIZE TABLE prices FINAL")
    (store.parent / f"{store.name}.meta").write_text(f"{rows} {locations}")


def window(rows: int, locations: int) -> tuple[str, str]:
    """Return the export window that covers the first ``rows`` rows [start, end)."""
    import pandas as pd

    start = pd.Timestamp(START, tz="UTC")
    return start.isoformat(), (start + pd.Timedelta(hours=rows // locations)).isoformat()


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Run one export in this process; return its figures (peak RSS is this process's)."""
    from marketintel.store.client import connect

    url = os.environ["MI_CLICKHOUSE_URL"]
    start, end = window(args.child_rows, args.locations)
    out = Path(args.out)
    began = time.perf_counter()
    if args.child == "center":
        from marketintel.api.exports import ExportCenter, Job
        from marketintel.api.store import Clients

        clients = Clients()
        admin = connect(autogenerate_session_id=False, send_receive_timeout=7200)
        clients.user = lambda name: admin  # type: ignore[method-assign]  # the admin reads (no hub here)
        center = ExportCenter(clients, directory=out.parent)
        job = Job("bench", "default", "prices", args.format,
                  {"start": start, "end": end, "markets": [], "locations": [], "as_of": None})  # fmt: skip
        center._run(job)
        if job.state != "done":
            raise RuntimeError(f"the export failed: {job.error}")
        rows, path = job.rows, out.parent / job.filename
    else:
        import pyarrow.parquet as pq

        from marketintel.services import feeds

        client = connect(autogenerate_session_id=False, send_receive_timeout=7200)
        sql, params = feeds.table_query("prices", start, end)
        table = client.query_arrow(sql, parameters=params)
        pq.write_table(table, out, compression="zstd")
        rows, path = table.num_rows, out
    seconds = time.perf_counter() - began
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"run": args.child, "url_db": url.rsplit("/", 1)[-1], "rows": rows, "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds), "file_mib": round(path.stat().st_size / 2**20, 1),
            "peak_rss_mib": round(mib(peak_kb), 1)}  # fmt: skip


def run_child(kind: str, rows: int, args: argparse.Namespace, port: int, out: Path) -> dict[str, Any]:
    """Run :func:`child` in a fresh process against the store on ``port``."""
    env = {**os.environ, "MI_CLICKHOUSE_URL": f"http://default@127.0.0.1:{port}/default",
           "MI_DATA_DIR": str(WORK_DIR / "api_export-data")}  # fmt: skip
    cmd = [sys.executable, __file__, "--child", kind, "--child-rows", str(rows), "--locations",
           str(args.locations), "--format", args.format, "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} export failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--child``, one export)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000_000)
    p.add_argument("--naive-rows", type=int, default=10_000_000)
    p.add_argument("--locations", type=int, default=2000)
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    p.add_argument("--reuse", action="store_true", help="keep the loaded data if it matches")
    p.add_argument("--child", choices=("center", "naive"), help=argparse.SUPPRESS)
    p.add_argument("--child-rows", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    store = WORK_DIR / "api_export"
    meta = store.parent / f"{store.name}.meta"
    if not (args.reuse and meta.exists() and meta.read_text() == f"{args.rows} {args.locations}"):
        load(store, args.rows, args.locations)
    outdir = WORK_DIR / "api_export-out"
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    runs = []
    with start_endpoint(store) as ep:
        for kind, rows in (("center", args.naive_rows), ("naive", args.naive_rows), ("center", args.rows)):
            log(f"{kind}: exporting {rows:,} rows")
            result = run_child(kind, rows, args, ep.port, outdir / f"{kind}-{rows}.{args.format}")
            result["store_peak_rss_mib"] = round(mib(ep.hwm_kb()), 1)
            log(f"  {result}")
            runs.append(result)
            for f in outdir.iterdir():
                f.unlink()
    big = runs[-1]
    results = {
        "benchmark": "api_export",
        "what": "peak RSS of an export: the download center's streaming job vs read-whole-then-write",
        "rows": args.rows,
        "locations": args.locations,
        "format": args.format,
        "runs": runs,
        "goal": "a 100M-row export stays under 1 GiB RSS (the API's process)",
        "goal_met": bool(big["rows"] >= 100_000_000 and big["peak_rss_mib"] < 1024),
        "machine": machine_info(),
        "code": code_version(),
    }
    write_results("api_export", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
