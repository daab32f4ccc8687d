"""Insert throughput of a 5-minute prices frame: through the endpoint vs into chDB in-process.

What is measured
----------------
One pandas frame of ``--rows`` 5-minute prices (default 10M rows: ``--locations`` 100 locations x 100k
intervals, about 347 days), inserted ``--repeats`` times (default 3) each way, each time into a fresh table:

``endpoint``
    ``clickhouse_connect.get_client(...).insert_df(table, df)`` with the library's defaults (Native format,
    lz4-compressed HTTP body) into a freshly started ``mi store serve`` on a new data directory. The time
    covers the whole call: the client's column discovery, serialisation and compression, HTTP, the
    endpoint's decompression, and chDB parsing and writing the parts.
in-process (one subprocess per path, because one process hosts one chDB engine)
    ``python_df``: ``conn.query("INSERT INTO t (...) SELECT ... FROM Python(df)")``, chDB's documented
    DataFrame path (the ``Python()`` table function reads the frame's buffers in place);
    ``python_arrow``: ``pyarrow.Table.from_pandas(df)`` then ``... FROM Python(table)`` (the conversion is
    timed as part of the insert, since the input is the pandas frame);
    ``chdb_client``: clickhouse-connect's in-process chDB backend (``get_client("chdb://<dir>")``) and the
    same ``insert_df`` call as the endpoint run (it writes Native to a temp file and inserts FROM INFILE).

Breakdown (``--no-breakdown`` to skip), to see where the endpoint's time goes: the time clickhouse-connect
needs to serialise and compress the frame with no I/O (its own encoder, what ``insert_df`` runs);
the endpoint ingesting that pre-built body (lz4, and uncompressed), posted with ``http.client`` (no client
work during the request); and chDB in-process ingesting the very same Native bytes through
``conn.send_insert(...)`` in 1 MiB pieces (what the endpoint does with a request body).

Reported: median seconds and rows/s of each, the ratio endpoint / in-process (goal: >= 0.5 against the
fastest in-process path), the endpoint's peak RSS (``VmHWM`` of the server process, started fresh for this
benchmark, read after the last repeat), the in-process peak RSS (``VmHWM`` of each worker, minus the frame
itself for comparison), and the CPU seconds client and server spent per insert.

Run ``.venv/bin/python benchmarks/store_insert.py`` (about 3 minutes on 2 cores); ``--rows 1000000
--repeats 1`` for a quick check. Raw results go to ``benchmarks/results/store_insert.json``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchcommon import (
    WORK_DIR,
    CpuWatch,
    chdb_connect,
    cpu_seconds,
    log,
    machine_info,
    mib,
    start_endpoint,
    vm_hwm_kb,
    vm_rss_kb,
    write_results,
)
from marketintel.store.insert import insert_df as insert_arrow_stream

COLUMNS = ("interval_start_utc", "market", "location", "price", "published_at_utc")
INPROCESS_PATHS = ("python_df", "python_arrow", "chdb_client")
START = np.datetime64("2024-01-01T00:00:00", "ms")
STEP_MS = 5 * 60 * 1000


def create_table_sql(table: str, engine: str) -> str:
    """DDL of the benchmark's prices table, shaped like the store's ``prices`` fact table."""
    engine_clause = "ReplacingMergeTree(published_at_utc)" if engine == "ReplacingMergeTree" else "MergeTree"
    return f"""
        CREATE TABLE {table} (
            interval_start_utc DateTime64(3, 'UTC'),
            market LowCardinality(String),
            location LowCardinality(String),
            price Float64,
            published_at_utc DateTime64(3, 'UTC')
        )
        ENGINE = {engine_clause}
        PARTITION BY toYYYYMM(interval_start_utc)
        ORDER BY (market, location, interval_start_utc)
    """


def build_frame(rows: int, locations: int, markets: int, seed: int) -> pd.DataFrame:
    """Return ``rows`` 5-minute prices, time-major (every location of an interval, then the next interval).

    The order is the one a backfill of 5-minute market files produces. Dtypes are what a connector hands
    over: tz-aware ``datetime64[ms, UTC]`` stamps, pandas' default string dtype, float64 prices.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(rows, dtype=np.int64)
    t_idx = i // locations
    loc_idx = i % locations
    del i
    start = pd.DatetimeIndex(START + t_idx * np.timedelta64(STEP_MS, "ms")).tz_localize("UTC")
    names = np.array([f"NODE_{k:04d}" for k in range(locations)], dtype=object)
    market_names = np.array([f"MARKET_{k}" for k in range(markets)], dtype=object)
    slot = (t_idx % 288).astype(np.float64)  # 5-minute slot of the day: a daily price shape
    price = 45.0 + 20.0 * np.sin(2 * np.pi * (slot - 96) / 288) + rng.normal(0.0, 8.0, rows)
    lag_ms = STEP_MS + rng.integers(0, 60_000, rows)  # published shortly after the interval ends
    published = start + pd.to_timedelta(lag_ms, unit="ms")
    df = pd.DataFrame(
        {
            "interval_start_utc": start,
            "market": pd.array(market_names[loc_idx % markets], dtype="str"),
            "location": pd.array(names[loc_idx], dtype="str"),
            "price": price,
            "published_at_utc": published.astype("datetime64[ms, UTC]"),
        }
    )
    return df


def frame_info(df: pd.DataFrame) -> dict[str, Any]:
    """Shape, dtypes and in-memory size of the frame."""
    return {
        "rows": len(df),
        "dtypes": {c: str(t) for c, t in df.dtypes.items()},
        "memory_mib": round(df.memory_usage(deep=True).sum() / 2**20, 1),
        "first_interval_utc": str(df["interval_start_utc"].iloc[0]),
        "last_interval_utc": str(df["interval_start_utc"].iloc[-1]),
        "locations": int(df["location"].nunique()),
        "price_sum": float(df["price"].sum()),
    }


def summarize(runs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    """Median seconds and rows/s over the repeats."""
    secs = [r["seconds"] for r in runs]
    med = statistics.median(secs)
    return {
        "median_s": round(med, 3),
        "min_s": round(min(secs), 3),
        "max_s": round(max(secs), 3),
        "rows_per_s": round(rows / med),
        "runs": runs,
    }


# ------------------------------------------------------------------------------------------------------
# Through the endpoint
# ------------------------------------------------------------------------------------------------------
#: how the frame goes through clickhouse-connect into the endpoint
ENDPOINT_METHODS = {
    "insert_df": "clickhouse-connect insert_df (its Python Native encoder, lz4 body)",
    "arrow_stream": (
        "marketintel.store.insert_df: Arrow IPC record batches streamed by clickhouse-connect raw_insert"
    ),
}


def bench_endpoint(
    df: pd.DataFrame, args: argparse.Namespace, work: Path, method: str = "insert_df"
) -> dict[str, Any]:
    """Insert the frame ``args.repeats`` times through clickhouse-connect into a fresh endpoint."""
    path = work / f"endpoint-store-{method}"
    shutil.rmtree(path, ignore_errors=True)
    log(f"endpoint: starting `mi store serve` on {path}")
    me = os.getpid()
    with start_endpoint(path) as ep:
        log(f"endpoint: pid {ep.pid}, port {ep.port}, RSS at start {mib(ep.started_rss_kb)} MiB")
        client = ep.client()  # library defaults: compress=True (lz4 insert bodies), Native format
        runs: list[dict[str, Any]] = []
        for r in range(args.repeats):
            table = f"prices_r{r}"
            client.command(create_table_sql(table, args.engine))
            load = os.getloadavg()[0]
            watch = CpuWatch({"client": me, "server": ep.pid})
            t0 = time.perf_counter()
            if method == "insert_df":
                summary = client.insert_df(table, df)
                server_ns = int(summary.summary.get("elapsed_ns", 0)) if summary.summary else 0
            else:
                written = insert_arrow_stream(client, table, df)
                server_ns = 0
                if written != len(df):
                    raise RuntimeError(f"endpoint: the server wrote {written} rows, expected {len(df)}")
            dt = time.perf_counter() - t0
            cpu = watch.stop()
            count = int(client.command(f"SELECT count() FROM {table}"))
            if count != len(df):
                raise RuntimeError(f"endpoint: {table} has {count} rows, expected {len(df)}")
            if r == 0:
                check = client.query(
                    f"SELECT sum(price), min(interval_start_utc), max(published_at_utc), uniqExact(location) "
                    f"FROM {table}"
                ).result_rows[0]
                log(
                    f"endpoint: check sum(price)={check[0]:.6g} (frame {df['price'].sum():.6g}), "
                    f"min start {check[1]}, max published {check[2]}, {check[3]} locations"
                )
            run = {
                "seconds": round(dt, 3),
                "rows_per_s": round(len(df) / dt),
                "server_elapsed_s": round(server_ns / 1e9, 3),
                "client_cpu_s": cpu["client_cpu_s"],
                "server_cpu_s": cpu["server_cpu_s"],
                "others_cpu_s": cpu["others_cpu_s"],
                "loadavg_1m_before": load,
            }
            runs.append(run)
            log(
                f"endpoint: repeat {r + 1}/{args.repeats}: {dt:.2f} s, {len(df) / dt:,.0f} rows/s "
                f"(server-side {run['server_elapsed_s']} s; CPU client {run['client_cpu_s']} s, "
                f"server {run['server_cpu_s']} s, other processes {run['others_cpu_s']} s)"
            )
            client.command(f"DROP TABLE {table} SYNC")  # also stops its background merges
            # insert_df leaves reference cycles holding the converted columns (~180 B/row) until a full
            # collection; without this each repeat starts with more garbage and runs slower
            gc.collect()
        hwm = ep.hwm_kb()  # the peak of the insert_df runs (the breakdown below may differ)
        client_hwm = vm_hwm_kb(me)  # this process: the frame plus clickhouse-connect's serialisation
        breakdown = (
            breakdown_endpoint(client, ep, df, args, work)
            if args.breakdown and method == "insert_df"
            else None
        )
        client.close()
        log(f"endpoint: peak RSS (VmHWM) {mib(hwm)} MiB; stopping it")
    result = summarize(runs, len(df))
    result.update(
        {
            "method": ENDPOINT_METHODS[method],
            "server_peak_rss_mib": mib(hwm),
            "server_rss_at_start_mib": mib(ep.started_rss_kb),
            "client_process_peak_rss_mib": mib(client_hwm),
            "server_exit_code": ep.proc.returncode,
        }
    )
    if breakdown is not None:
        result["breakdown"] = breakdown
    if not args.keep:
        shutil.rmtree(path, ignore_errors=True)
    return result


def encode_body(client: Any, table: str, df: pd.DataFrame, compression: str | None) -> tuple[bytes, float]:
    """Serialise the frame exactly as ``insert_df`` does (Native, its block size), without sending it.

    Returns the request body (the ``INSERT ... FORMAT Native`` statement is inside the first block, as
    clickhouse-connect sends it) and the seconds it took. Uses the client's transform, a private attribute:
    this is the encoder ``insert_df`` streams from.
    """
    t0 = time.perf_counter()
    ctx = client.create_insert_context(table, column_names=list(df.columns))
    ctx.compression = compression
    ctx.data = df
    body = b"".join(client._transform.build_insert(ctx))
    return body, time.perf_counter() - t0


def post_body(port: int, body: bytes, encoding: str | None) -> tuple[float, float]:
    """POST a pre-built insert body to the endpoint; return (wall seconds, server-reported seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    headers = {"Content-Type": "application/octet-stream"}
    if encoding:
        headers["Content-Encoding"] = encoding
    t0 = time.perf_counter()
    conn.request("POST", "/", body=body, headers=headers)
    resp = conn.getresponse()
    text = resp.read()
    dt = time.perf_counter() - t0
    if resp.status != 200:
        raise RuntimeError(f"endpoint answered {resp.status}: {text[:500]!r}")
    summary = json.loads(resp.getheader("X-ClickHouse-Summary") or "{}")
    conn.close()
    return dt, int(summary.get("elapsed_ns", 0)) / 1e9


def breakdown_endpoint(
    client: Any, ep: Any, df: pd.DataFrame, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """Split the endpoint insert into client serialisation and server ingestion of a pre-built body."""
    me = os.getpid()
    out: dict[str, Any] = {}
    table = "prices_breakdown"
    client.command(create_table_sql(table, args.engine))
    gc.collect()  # see bench_endpoint: start each encoding without the previous one's garbage
    c0 = cpu_seconds(me)
    body_lz4, t_lz4 = encode_body(client, table, df, client.write_compression)
    out["client_serialize_compressed_s"] = round(t_lz4, 3)
    out["client_serialize_compressed_cpu_s"] = round(cpu_seconds(me) - c0, 2)
    out["body_compression"] = client.write_compression
    out["body_compressed_mib"] = round(len(body_lz4) / 2**20, 1)
    gc.collect()
    body_raw, t_raw = encode_body(client, table, df, None)
    out["client_serialize_uncompressed_s"] = round(t_raw, 3)
    out["body_uncompressed_mib"] = round(len(body_raw) / 2**20, 1)
    log(
        f"breakdown: clickhouse-connect serialises the frame in {t_lz4:.2f} s with "
        f"{client.write_compression} ({out['body_compressed_mib']} MiB), {t_raw:.2f} s uncompressed "
        f"({out['body_uncompressed_mib']} MiB)"
    )
    for label, body, enc in (("lz4", body_lz4, client.write_compression), ("uncompressed", body_raw, None)):
        posts: list[dict[str, float]] = []
        for _ in range(args.repeats):
            client.command(f"TRUNCATE TABLE {table}")
            watch = CpuWatch({"server": ep.pid})
            wall, server = post_body(ep.port, body, enc)
            acct = watch.stop()
            count = int(client.command(f"SELECT count() FROM {table}"))
            if count != len(df):
                raise RuntimeError(f"breakdown: {table} has {count} rows after the {label} post")
            posts.append(
                {
                    "seconds": round(wall, 3),
                    "server_elapsed_s": round(server, 3),
                    "server_cpu_s": acct["server_cpu_s"],
                    "others_cpu_s": acct["others_cpu_s"],
                }
            )
        wall = statistics.median(p["seconds"] for p in posts)
        out[f"endpoint_prebuilt_{label}"] = {
            "median_s": wall,
            "rows_per_s": round(len(df) / wall),
            "runs": posts,
        }
        log(
            f"breakdown: endpoint ingests the pre-built {label} body in {wall:.2f} s median "
            f"({len(df) / wall:,.0f} rows/s; runs {[p['seconds'] for p in posts]}, server CPU "
            f"{[p['server_cpu_s'] for p in posts]} s, other processes {[p['others_cpu_s'] for p in posts]} s)"
        )
    client.command(f"DROP TABLE {table} SYNC")
    native = body_raw[body_raw.index(b"\n") + 1 :]  # the Native data after the INSERT statement
    native_file = work / "frame.native"
    native_file.write_bytes(native)
    del body_lz4, body_raw, native
    out["native_file"] = str(native_file)
    return out


# ------------------------------------------------------------------------------------------------------
# In-process (worker subprocess, one per path)
# ------------------------------------------------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    """Run in a subprocess: build the same frame, insert it with one in-process path, write JSON."""
    how = args.worker
    me = os.getpid()
    base_kb = vm_rss_kb(me)
    native = b""
    if how == "native_bytes":  # the endpoint's ingestion, in-process: same bytes, same 1 MiB appends
        native = Path(args.native_file).read_bytes()
        df = pd.DataFrame({"n": range(args.rows)})  # only its length is used
    else:
        df = build_frame(args.rows, args.locations, args.markets, args.seed)
    gc.collect()
    frame_kb = vm_rss_kb(me)
    data_dir = Path(args.data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    cols = ", ".join(COLUMNS)
    client: Any = None
    if how == "chdb_client":
        import clickhouse_connect

        client = clickhouse_connect.get_client(dsn=f"chdb://{data_dir}")

        def run_sql(sql: str) -> Any:
            return client.command(sql)

    else:
        conn = chdb_connect(str(data_dir))

        def run_sql(sql: str) -> Any:
            return conn.query(sql, "TSV").bytes().decode().strip()

    engine_kb = vm_rss_kb(me)
    runs: list[dict[str, Any]] = []
    for r in range(args.repeats):
        table = f"prices_r{r}"
        run_sql(create_table_sql(table, args.engine))
        load = os.getloadavg()[0]
        watch = CpuWatch({"own": me})
        t0 = time.perf_counter()
        extra: dict[str, Any] = {}
        if how == "python_df":
            conn.query(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM Python(df)")
        elif how == "python_arrow":
            import pyarrow as pa

            arrow = pa.Table.from_pandas(df, preserve_index=False)
            extra["to_arrow_s"] = round(time.perf_counter() - t0, 3)
            conn.query(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM Python(arrow)")
            del arrow
        elif how == "native_bytes":
            ins = conn.send_insert(f"INSERT INTO {table} ({cols})", "Native")
            view = memoryview(native)
            for off in range(0, len(view), 1 << 20):
                ins.append(view[off : off + (1 << 20)])
            ins.finish()
        else:
            client.insert_df(table, df)
        dt = time.perf_counter() - t0
        acct = watch.stop()
        cpu = acct["own_cpu_s"]
        count = int(run_sql(f"SELECT count() FROM {table}"))
        if count != len(df):
            raise RuntimeError(f"{how}: {table} has {count} rows, expected {len(df)}")
        if r == 0:
            extra["check"] = run_sql(
                f"SELECT sum(price), min(interval_start_utc), max(published_at_utc), uniqExact(location) "
                f"FROM {table} FORMAT TSV"
            )
        runs.append(
            {
                "seconds": round(dt, 3),
                "rows_per_s": round(len(df) / dt),
                "cpu_s": round(cpu, 2),
                "others_cpu_s": acct["others_cpu_s"],
                "loadavg_1m_before": load,
                **extra,
            }
        )
        print(
            f"    {how}: repeat {r + 1}/{args.repeats}: {dt:.2f} s, {len(df) / dt:,.0f} rows/s, "
            f"CPU {cpu:.1f} s, other processes {acct['others_cpu_s']} s",
            flush=True,
        )
        run_sql(f"DROP TABLE {table} SYNC")
        gc.collect()  # as in the endpoint runs: repeats start from the same state
    hwm = vm_hwm_kb(me)
    out = summarize(runs, len(df))
    out.update(
        {
            "peak_rss_mib": mib(hwm),
            "rss_before_frame_mib": mib(base_kb),
            "rss_with_frame_mib": mib(frame_kb),
            "rss_with_frame_and_engine_mib": mib(engine_kb),
            "peak_minus_frame_mib": mib(hwm - (frame_kb - base_kb)),
        }
    )
    Path(args.worker_out).write_text(json.dumps(out))
    if client is not None:
        client.close()
    else:
        conn.close()
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)


def bench_inprocess(how: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Run :func:`worker` for one in-process path in a fresh subprocess and return its results."""
    out = work / f"inprocess-{how}.json"
    out.unlink(missing_ok=True)
    native = ["--native-file", str(work / "frame.native")] if how == "native_bytes" else []
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        how,
        *native,
        "--worker-out",
        str(out),
        "--data-dir",
        str(work / f"inprocess-{how}"),
        "--rows",
        str(args.rows),
        "--locations",
        str(args.locations),
        "--markets",
        str(args.markets),
        "--repeats",
        str(args.repeats),
        "--engine",
        args.engine,
        "--seed",
        str(args.seed),
        *(["--keep"] if args.keep else []),
    ]
    log(f"in-process {how}: worker subprocess (builds the same frame, then {args.repeats} inserts)")
    t0 = time.monotonic()
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"in-process worker {how} failed with exit code {proc.returncode}")
    res: dict[str, Any] = json.loads(out.read_text())
    frame_mib = res["rss_with_frame_mib"] - res["rss_before_frame_mib"]
    log(
        f"in-process {how}: median {res['median_s']} s, {res['rows_per_s']:,} rows/s, peak RSS "
        f"{res['peak_rss_mib']} MiB (frame {frame_mib:.0f} MiB) [{time.monotonic() - t0:.0f} s]"
    )
    return res


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description="Insert throughput of a 5-minute prices frame: clickhouse-connect -> `mi store serve` "
        "vs chDB in-process. Writes benchmarks/results/store_insert.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--rows", type=int, default=10_000_000, help="rows in the frame")
    p.add_argument(
        "--locations", type=int, default=100, help="locations (rows / locations = 5-min intervals)"
    )
    p.add_argument("--markets", type=int, default=4, help="markets the locations are spread over")
    p.add_argument("--repeats", type=int, default=3, help="inserts per path; the median is reported")
    p.add_argument(
        "--engine",
        choices=("ReplacingMergeTree", "MergeTree"),
        default="ReplacingMergeTree",
        help="table engine",
    )
    p.add_argument(
        "--inprocess",
        default=",".join(INPROCESS_PATHS),
        help=f"comma-separated in-process paths to measure, of {', '.join(INPROCESS_PATHS)}; '' for none",
    )
    p.add_argument("--skip-endpoint", action="store_true", help="measure only the in-process paths")
    p.add_argument("--seed", type=int, default=20240101, help="random seed of the prices")
    p.add_argument("--work-dir", type=Path, default=WORK_DIR / "store_insert", help="data directories, logs")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results JSON (default: benchmarks/results/store_insert.json)",
    )
    p.add_argument("--keep", action="store_true", help="keep the data directories afterwards")
    p.add_argument(
        "--no-breakdown",
        dest="breakdown",
        action="store_false",
        help="skip the breakdown (client serialisation, pre-built bodies, in-process Native)",
    )
    # internal: the in-process worker subprocess
    p.add_argument("--worker", choices=(*INPROCESS_PATHS, "native_bytes"), help=argparse.SUPPRESS)
    p.add_argument("--native-file", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rows <= 0 or args.locations <= 0 or args.repeats <= 0 or args.markets <= 0:
        p.error("--rows, --locations, --markets and --repeats must be positive")
    paths = [s for s in args.inprocess.split(",") if s]
    unknown = [s for s in paths if s not in INPROCESS_PATHS]
    if unknown:
        p.error(f"unknown in-process path(s) {unknown}; choose from {INPROCESS_PATHS}")
    args.inprocess_paths = paths
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(work)  # the chdb_client path spools Native data to a temp file: keep it here
    info = machine_info()
    log(
        f"machine: {info['cpu_model']}, {info['nproc']} cores, {info['mem_total_gib']} GiB, "
        f"load {info['loadavg_at_start']}"
    )
    log(
        f"building the frame: {args.rows:,} rows, {args.locations} locations x "
        f"{-(-args.rows // args.locations):,} 5-minute intervals"
    )
    t0 = time.perf_counter()
    df = build_frame(args.rows, args.locations, args.markets, args.seed)
    finfo = frame_info(df)
    log(
        f"frame built in {time.perf_counter() - t0:.1f} s: {finfo['memory_mib']} MiB, "
        f"{finfo['first_interval_utc']} .. {finfo['last_interval_utc']}"
    )
    results: dict[str, Any] = {
        "benchmark": "store_insert",
        "machine": info,
        "parameters": {
            "rows": args.rows,
            "locations": args.locations,
            "markets": args.markets,
            "repeats": args.repeats,
            "engine": args.engine,
            "seed": args.seed,
            "order_by": "(market, location, interval_start_utc)",
            "partition_by": "toYYYYMM(interval_start_utc)",
            "client": "clickhouse_connect.get_client(host, port) defaults; insert_df(table, df)",
        },
        "frame": finfo,
    }
    if not args.skip_endpoint:
        results["endpoint"] = bench_endpoint(df, args, work, "insert_df")
        results["endpoint_arrow"] = bench_endpoint(df, args, work, "arrow_stream")
    del df
    gc.collect()
    inproc: dict[str, Any] = {}
    for how in args.inprocess_paths:
        inproc[how] = bench_inprocess(how, args, work)
    results["inprocess"] = inproc
    if results.get("endpoint", {}).get("breakdown"):
        bd = results["endpoint"]["breakdown"]
        nb = bench_inprocess("native_bytes", args, work)
        bd["inprocess_native_bytes"] = nb
        if not args.keep:
            Path(bd["native_file"]).unlink(missing_ok=True)
    if "endpoint" in results and inproc:
        ep_rate = results["endpoint"]["rows_per_s"]
        arrow_rate = results["endpoint_arrow"]["rows_per_s"]
        fastest = max(inproc, key=lambda k: inproc[k]["rows_per_s"])
        ratios = {k: round(ep_rate / v["rows_per_s"], 3) for k, v in inproc.items()}
        arrow_ratios = {k: round(arrow_rate / v["rows_per_s"], 3) for k, v in inproc.items()}
        results["comparison"] = {
            "endpoint_rows_per_s": ep_rate,
            "ratio_endpoint_over_inprocess": ratios,
            "endpoint_arrow_rows_per_s": arrow_rate,
            "ratio_endpoint_arrow_over_inprocess": arrow_ratios,
            "fastest_inprocess": fastest,
            "ratio_vs_fastest": ratios[fastest],
            "ratio_arrow_vs_fastest": arrow_ratios[fastest],
            "goal": ">= 0.5 of in-process rows/s",
            "goal_met_insert_df": ratios[fastest] >= 0.5,
            "goal_met_arrow_stream": arrow_ratios[fastest] >= 0.5,
        }
        log("summary:")
        log(
            f"  endpoint        {results['endpoint']['median_s']:7.2f} s  {ep_rate:>12,} rows/s  "
            f"server peak RSS {results['endpoint']['server_peak_rss_mib']} MiB"
        )
        for k, v in inproc.items():
            log(
                f"  {k:<15} {v['median_s']:7.2f} s  {v['rows_per_s']:>12,} rows/s  peak RSS "
                f"{v['peak_rss_mib']} MiB ({v['peak_minus_frame_mib']} without the frame)  "
                f"endpoint/this = {ratios[k]:.2f}"
            )
        log(
            f"  endpoint arrow  {results['endpoint_arrow']['median_s']:7.2f} s  {arrow_rate:>12,} rows/s  "
            f"server peak RSS {results['endpoint_arrow']['server_peak_rss_mib']} MiB  "
            f"(marketintel.store.insert_df)"
        )
        for label, r in (("insert_df", ratios[fastest]), ("arrow_stream", arrow_ratios[fastest])):
            log(
                f"  goal endpoint >= 50 % of the fastest in-process ({fastest}), {label}: "
                f"{'met' if r >= 0.5 else 'NOT met'} ({r:.0%})"
            )
    write_results("store_insert", results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
