"""Dashboard-style queries on 100M 5-minute prices through the endpoint: latency under 16 concurrent clients.

What is measured
----------------
Data: ``--rows`` (default 100M) 5-minute prices, ``--locations`` (1000) locations spread over ``--markets``
(5) markets, ``rows / locations`` (100k) intervals from 2024-01-01 (about 347 days). It is generated
server-side (``INSERT INTO prices SELECT ... FROM numbers(...)`` sent through clickhouse-connect,
time-major in chunks of ``--chunk-rows``), so no Python frames are involved. It stays in
``benchmarks/.work/`` (gitignored); ``--reuse`` reuses it when its parameters match.

Queries, each with random parameters bound server-side (``{name:Type}`` placeholders, sent as ``param_*``):

``q1_latest``   latest price of every location of one market (200 rows);
``q2_month``    daily average / min / max over one month for one location (about 30 rows, reads 8.6k);
``q3_year``     one location's year at hourly resolution (about 8.3k rows, reads 100k).

``--clients`` (16) threads in this process, each with its own clickhouse-connect client (library defaults),
each picking one of the three queries at random, for ``--duration`` (60) seconds, after ``--warmup``
seconds that are not recorded; and once the same mix single-threaded for ``--single-duration`` seconds.
Reported per query and overall: p50 / p95 / p99 / mean / max latency [ms], queries/s, errors (must be 0),
and the endpoint's peak RSS (``VmHWM`` of an endpoint started fresh for the query phase, and per phase from
a 0.2 s RSS sampler) and the CPU seconds server and clients spent.

Where the time goes: ``--floor-duration`` seconds of ``SELECT 1`` with the same 16 clients (the HTTP
endpoint's own per-request cost), then (the endpoint stopped) the same query mix run against chDB
in-process on the same data directory, single-threaded and with 16 threads on 16 connections, Native
output as the endpoint produces (chDB has no ``system.query_log``, so this is the engine's share).

Variant ``--optimize``: the same data compacted with ``OPTIMIZE TABLE prices FINAL`` after the load (one
part per monthly partition, as after routine maintenance of a backfill), in its own data directory, results
in ``benchmarks/results/store_queries_optimized.json``.

Issue 14, q3 through the hourly rollup: the script builds ``prices_hourly`` from the data as loaded (a full
``refresh_prices_hourly``, timed and checked against ``FINAL``), runs every phase for two mixes, today's
and one whose q3 is the dashboards' call ``queries.price_series(..., resolution="hourly")`` (rollup plus
the facts it does not cover), in ``--rounds`` alternating rounds, then times an incremental refresh after a
late batch. ``q3_side_by_side`` in the results holds the medians, p95 and ratios.

Run ``.venv/bin/python benchmarks/store_queries.py`` (first run: the load takes a while; then ``--reuse``).
Quick check: ``--rows 10000000 --duration 10 --single-duration 5``. Results go to
``benchmarks/results/store_queries.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchcommon import (
    WORK_DIR,
    CpuWatch,
    RssSampler,
    chdb_connect,
    log,
    machine_info,
    mib,
    start_endpoint,
    vm_hwm_kb,
    write_results,
)
from marketintel.services import queries
from marketintel.store.rollup import current_block, refresh_prices_hourly, state
from marketintel.store.schema import create_table_sql
from marketintel.store.tables import PRICES_HOURLY, ROLLUP_REFRESHES

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP_MS = 300_000
SCHEMA_VERSION = 1  # bump when the DDL or the generator changes: --reuse then reloads

# The fact table, as in the store: ReplacingMergeTree on the natural key, the latest publication wins.
# Monthly partitions; the sort key puts one location's series in one contiguous range of each part, so
# q2 and q3 read a few granules (8192 rows each) per partition.
DDL_PRICES = """
CREATE TABLE prices (
    interval_start_utc DateTime64(3, 'UTC'),
    market LowCardinality(String),
    location LowCardinality(String),
    price Float64,
    published_at_utc DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(published_at_utc)
PARTITION BY toYYYYMM(interval_start_utc)
ORDER BY (market, location, interval_start_utc)
"""

# q1, "latest price of every location", is the classic "last point per series" problem. Scanning the
# fact table for it (argMax, or ORDER BY ... DESC LIMIT 1 BY location) reads the whole market (20M rows
# here) on every dashboard refresh. A ClickHouse expert keeps the answer incrementally instead: a
# materialized view folds every insert block into one row per (market, location) of an
# AggregatingMergeTree, holding max(interval) and argMax(price, (interval, published)) as aggregate
# states. Merges collapse it to one row per location; a query reads at most (locations x unmerged
# parts) states, i.e. kilobytes, and finishes the aggregation with -Merge. Ordering argMax by
# (interval_start_utc, published_at_utc) gives the latest revision of the latest interval, which is what
# the ReplacingMergeTree keeps. (An aggregate PROJECTION would work too, but projections on a
# ReplacingMergeTree need deduplicate_merge_projection_mode and are dropped on some mutations; the view
# is the well-trodden path.)
DDL_LATEST = """
CREATE TABLE prices_latest (
    market LowCardinality(String),
    location LowCardinality(String),
    latest_interval_utc SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    latest_price AggregateFunction(argMax, Float64, Tuple(DateTime64(3, 'UTC'), DateTime64(3, 'UTC')))
)
ENGINE = AggregatingMergeTree
ORDER BY (market, location)
"""
DDL_LATEST_MV = """
CREATE MATERIALIZED VIEW prices_latest_mv TO prices_latest AS
SELECT
    market,
    location,
    max(interval_start_utc) AS latest_interval_utc,
    argMaxState(price, (interval_start_utc, published_at_utc)) AS latest_price
FROM prices
GROUP BY market, location
"""

# The store's read (marketintel.services.queries) names the columns of the store's prices table. The
# benchmark's table holds the same facts in fewer columns; these ALIAS columns (computed at read time,
# nothing stored, the data stays as loaded) give it the others: 5-minute intervals, one currency and unit,
# and ingested_at_utc = published_at_utc (the version the ReplacingMergeTree keeps).
DDL_STORE_ALIASES = [
    "ALTER TABLE prices ADD COLUMN IF NOT EXISTS interval_end_utc DateTime64(3, 'UTC')"
    " ALIAS interval_start_utc + toIntervalMinute(5)",
    "ALTER TABLE prices ADD COLUMN IF NOT EXISTS currency LowCardinality(String) ALIAS 'USD'",
    "ALTER TABLE prices ADD COLUMN IF NOT EXISTS unit LowCardinality(String) ALIAS 'USD/MWh'",
    "ALTER TABLE prices ADD COLUMN IF NOT EXISTS ingested_at_utc DateTime64(3, 'UTC') ALIAS published_at_utc",
]

# Server-side generator: row n is interval n // locations of location n % locations (time-major, as
# 5-minute files arrive), a daily price shape plus a location offset plus deterministic noise.
INSERT_CHUNK = """
INSERT INTO prices
SELECT
    fromUnixTimestamp64Milli(toInt64({start_ms} + intDiv(number, {locations}) * {step_ms}), 'UTC')
        AS interval_start_utc,
    concat('MARKET_', toString((number % {locations}) % {markets})) AS market,
    concat('NODE_', leftPad(toString(number % {locations}), 4, '0')) AS location,
    45 + 20 * sin(2 * pi() * ((intDiv(number, {locations}) % 288) - 96) / 288)
        + 10 * ((number % {locations}) % 7) / 7
        + (cityHash64(number, 1) % 2000) / 100 - 10 AS price,
    fromUnixTimestamp64Milli(
        toInt64({start_ms} + (intDiv(number, {locations}) + 1) * {step_ms} + cityHash64(number, 2) % 60000),
        'UTC') AS published_at_utc
FROM numbers({first}, {count})
"""

Q1 = """
SELECT location, max(latest_interval_utc) AS interval_start_utc, argMaxMerge(latest_price) AS price
FROM prices_latest
WHERE market = {market:String}
GROUP BY location
ORDER BY location
"""
Q2 = """
SELECT toDate(interval_start_utc) AS day, avg(price) AS avg_price, min(price) AS min_price,
       max(price) AS max_price, count() AS intervals
FROM prices{final}
WHERE market = {{market:String}} AND location = {{location:String}}
  AND interval_start_utc >= {{start:DateTime64(3, 'UTC')}}
  AND interval_start_utc < {{end:DateTime64(3, 'UTC')}}
GROUP BY day
ORDER BY day
"""
Q3 = """
SELECT toStartOfHour(interval_start_utc) AS hour, avg(price) AS avg_price
FROM prices{final}
WHERE market = {{market:String}} AND location = {{location:String}}
  AND interval_start_utc >= {{start:DateTime64(3, 'UTC')}}
  AND interval_start_utc < {{end:DateTime64(3, 'UTC')}}
GROUP BY hour
ORDER BY hour
"""
QUERY_NAMES = ("q1_latest", "q2_month", "q3_year")


@dataclass(frozen=True)
class Dataset:
    """Shape of the generated data."""

    rows: int
    locations: int
    markets: int
    optimized: bool = False  # OPTIMIZE TABLE ... FINAL after the load (one part per partition)

    @property
    def intervals(self) -> int:
        """5-minute intervals per location."""
        return self.rows // self.locations

    @property
    def first(self) -> datetime:
        """The first interval start."""
        return datetime.fromtimestamp(START_MS / 1000, UTC)

    @property
    def end(self) -> datetime:
        """End of the last interval."""
        return self.first + timedelta(milliseconds=STEP_MS * self.intervals)

    def meta(self) -> dict[str, Any]:
        """What ``--reuse`` compares."""
        return {
            "rows": self.rows,
            "locations": self.locations,
            "markets": self.markets,
            "optimized": self.optimized,
            "schema_version": SCHEMA_VERSION,
        }


def query_texts(final: bool) -> dict[str, str]:
    """The three dashboard queries (``FINAL`` on the fact table when ``final``).

    FINAL is the default: the fact table is a ReplacingMergeTree, and a dashboard must not show a
    revision twice before a merge collapses it; the store's own readers use FINAL the same way. With the
    partition key derived from the sort key, ClickHouse applies FINAL per partition and only to the
    granules the WHERE clause selects; ``--no-final`` measures what it costs.
    """
    fin = " FINAL" if final else ""
    return {
        "q1_latest": Q1.strip(),
        "q2_month": Q2.format(final=fin).strip(),
        "q3_year": Q3.format(final=fin).strip(),
    }


def months(ds: Dataset) -> list[datetime]:
    """First days of the months fully inside the data."""
    out: list[datetime] = []
    m = ds.first
    while True:
        nxt = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
        if nxt > ds.end:
            return out or [ds.first]
        out.append(m)
        m = nxt


def make_picker(
    ds: Dataset, texts: dict[str, str], rollup: bool = False
) -> Callable[[random.Random], tuple[str, str, dict[str, Any]]]:
    """Return ``pick(rng) -> (query name, sql, parameters)``: a uniformly random query, random parameters.

    With ``rollup``, q3 is the dashboards' own call, ``queries.price_series(client, ...)`` (latest
    knowledge, hourly: the ``prices_hourly`` rollup combined with the facts changed since its watermark),
    named ``q3_year_rollup``: the runner makes the call (a look at ``system.parts``, the state of the
    rollup every few seconds, then the read) and builds its DataFrame of avg, min, max and count per hour
    with the series' market, location, currency and unit, where today's q3 returns (hour, avg) rows.
    """
    month_starts = months(ds)
    year_start = ds.first
    year_end = min(ds.end, year_start.replace(year=year_start.year + 1))
    fmt = "%Y-%m-%d %H:%M:%S"

    def pick(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        name = rng.choice(QUERY_NAMES)
        loc = rng.randrange(ds.locations)
        market = f"MARKET_{loc % ds.markets}"
        params: dict[str, Any] = {"market": market}
        if name == "q2_month":
            start = rng.choice(month_starts)
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
            params.update(
                {"location": f"NODE_{loc:04d}", "start": start.strftime(fmt), "end": end.strftime(fmt)}
            )
        elif name == "q3_year" and rollup:
            call = {
                "market": market,
                "location": f"NODE_{loc:04d}",
                "start": year_start,
                "end": year_end,
                "resolution": "hourly",
            }
            return "q3_year_rollup", SERVICE_CALL, call
        elif name == "q3_year":
            params.update(
                {
                    "location": f"NODE_{loc:04d}",
                    "start": year_start.strftime(fmt),
                    "end": year_end.strftime(fmt),
                }
            )
        return name, texts[name], params

    return pick


# ------------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------------
BUCKETS_MS = (5, 10, 20, 50, 100, 200, 500, 1000, 5000)


def stats(lat_ms: list[float], duration_s: float, errors: int = 0) -> dict[str, Any]:
    """Percentiles [ms], throughput and a coarse histogram of a list of latencies."""
    if not lat_ms:
        return {"n": 0, "errors": errors}
    a = np.asarray(lat_ms)
    hist = {f"<={b}ms": int((a <= b).sum()) for b in BUCKETS_MS}
    return {
        "n": len(lat_ms),
        "errors": errors,
        "qps": round(len(lat_ms) / duration_s, 1),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "mean_ms": round(float(a.mean()), 1),
        "max_ms": round(float(a.max()), 1),
        "cumulative": hist,
    }


def summarize(
    samples: list[tuple[str, float, int]], errors: list[tuple[str, str]], duration_s: float
) -> dict[str, Any]:
    """Per-query and overall statistics of one run; ``samples`` are (query, latency ms, rows)."""
    out: dict[str, Any] = {"duration_s": round(duration_s, 2)}
    by_name: dict[str, dict[str, Any]] = {}
    for name in sorted({s[0] for s in samples} | {e[0] for e in errors}):
        lat = [s[1] for s in samples if s[0] == name]
        rows = [s[2] for s in samples if s[0] == name]
        st = stats(lat, duration_s, sum(1 for e in errors if e[0] == name))
        st["rows_mean"] = round(float(np.mean(rows)), 1) if rows else 0
        by_name[name] = st
    out["overall"] = stats([s[1] for s in samples], duration_s, len(errors))
    out["per_query"] = by_name
    if errors:
        out["error_examples"] = sorted({e[1] for e in errors})[:5]
    return out


def print_run(label: str, res: dict[str, Any]) -> None:
    """One line per query type plus the overall line."""
    for name, st in [*res["per_query"].items(), ("overall", res["overall"])]:
        if not st.get("n"):
            log(f"  {label} {name:<10} n=0 errors={st.get('errors', 0)}")
            continue
        log(
            f"  {label} {name:<10} n={st['n']:>6} {st['qps']:>7.1f} q/s  p50 {st['p50_ms']:>7.1f}  "
            f"p95 {st['p95_ms']:>7.1f}  p99 {st['p99_ms']:>7.1f}  max {st['max_ms']:>7.1f} ms  "
            f"errors {st['errors']}"
        )


# ------------------------------------------------------------------------------------------------------
# Load generator
# ------------------------------------------------------------------------------------------------------
def run_mix(
    runners: list[Callable[[str, dict[str, Any]], int]],
    pick: Callable[[random.Random], tuple[str, str, dict[str, Any]]],
    duration_s: float,
    seed: int,
    fixed: tuple[str, str, dict[str, Any]] | None = None,
    think_s: float = 0.0,
    raw: list[Any] | None = None,
) -> dict[str, Any]:
    """Run the query mix on ``len(runners)`` threads (one runner each) for ``duration_s``; summarise.

    A runner executes (sql, params) and returns the result's row count. Every thread starts at a barrier;
    a query started before the deadline is counted when it finishes. With ``think_s`` > 0 each client
    pauses after each answer for an exponentially distributed time of that mean (a user's refresh
    pattern); with 0 the clients never pause, which measures saturation.
    """
    n = len(runners)
    samples: list[list[tuple[str, float, int]]] = [[] for _ in range(n)]
    errors: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    barrier = threading.Barrier(n + 1)
    deadline = [0.0]

    def work(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        run = runners[i]
        barrier.wait()
        end = deadline[0]
        while time.perf_counter() < end:
            name, sql, params = fixed if fixed else pick(rng)
            t0 = time.perf_counter()
            try:
                rows = run(sql, params)
            except Exception as exc:  # recorded, the run goes on
                errors[i].append((name, f"{type(exc).__name__}: {str(exc)[:300]}"))
                continue
            samples[i].append((name, (time.perf_counter() - t0) * 1000, rows))
            if think_s > 0:
                time.sleep(min(rng.expovariate(1 / think_s), max(0.0, end - time.perf_counter())))

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    t_start = time.perf_counter()
    deadline[0] = t_start + duration_s
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    flat = [s for lst in samples for s in lst]
    errs = [e for lst in errors for e in lst]
    if raw is not None:  # the caller pools several rounds (see bench_endpoint)
        raw.append((flat, errs, elapsed))
    return summarize(flat, errs, elapsed)


#: The "SQL" of a q3 run as the dashboards run it: ``queries.price_series(client, **params)``.
SERVICE_CALL = "price_series"


def http_runner(client: Any) -> Callable[[str, dict[str, Any]], int]:
    """Run a query through a clickhouse-connect client (server-side parameter binding)."""

    def run(sql: str, params: dict[str, Any]) -> int:
        if sql == SERVICE_CALL:
            return len(queries.price_series(client, **params))
        return int(client.query(sql, parameters=params).row_count)

    return run


# ------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------
def wait_for_merges(client: Any, timeout_s: float) -> dict[str, Any]:
    """Wait until no merge has run for two polls in a row (or ``timeout_s``); return the part counts."""
    t0 = time.monotonic()
    quiet = 0
    last_log = 0.0
    while time.monotonic() - t0 < timeout_s:
        merging = int(client.command("SELECT count() FROM system.merges"))
        parts = int(client.command("SELECT count() FROM system.parts WHERE active AND table = 'prices'"))
        quiet = quiet + 1 if merging == 0 else 0
        if quiet >= 2:
            break
        if time.monotonic() - last_log > 15:
            log(f"load: waiting for background merges: {merging} running, {parts} active parts of prices")
            last_log = time.monotonic()
        time.sleep(2)
    rows = client.query(
        "SELECT table, count(), sum(rows), round(sum(bytes_on_disk) / 1048576, 1) FROM system.parts "
        "WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table"
    ).result_rows
    return {
        "merge_wait_s": round(time.monotonic() - t0, 1),
        "tables": {
            r[0]: {"active_parts": int(r[1]), "rows": int(r[2]), "mib_on_disk": float(r[3])} for r in rows
        },
    }


def load(ds: Dataset, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Create the tables and generate the data server-side through a fresh endpoint."""
    shutil.rmtree(store, ignore_errors=True)
    meta_file = meta_path(store)
    meta_file.unlink(missing_ok=True)
    log(
        f"load: {ds.rows:,} rows ({ds.locations} locations x {ds.intervals:,} intervals, "
        f"{ds.markets} markets) into {store}"
    )
    with start_endpoint(store) as ep:
        client = ep.client(send_receive_timeout=3600)  # one INSERT ... SELECT can take minutes
        for ddl in (DDL_PRICES, DDL_LATEST, DDL_LATEST_MV):
            client.command(ddl)
        chunk = max(ds.locations, args.chunk_rows // ds.locations * ds.locations)  # whole intervals
        t_load = time.perf_counter()
        watch = CpuWatch({"server": ep.pid})
        for first in range(0, ds.rows, chunk):
            count = min(chunk, ds.rows - first)
            sql = INSERT_CHUNK.format(
                start_ms=START_MS,
                step_ms=STEP_MS,
                locations=ds.locations,
                markets=ds.markets,
                first=first,
                count=count,
            )
            t0 = time.perf_counter()
            client.command(sql)
            dt = time.perf_counter() - t0
            done = first + count
            log(
                f"load: rows {first:,}..{done:,} in {dt:.1f} s ({count / dt:,.0f} rows/s); "
                f"{done / ds.rows:.0%} done, endpoint RSS peak {mib(ep.hwm_kb())} MiB"
            )
        insert_s = time.perf_counter() - t_load
        parts = wait_for_merges(client, args.merge_wait)
        total = int(client.command("SELECT count() FROM prices"))
        latest = int(
            client.command("SELECT count() FROM (SELECT location FROM prices_latest GROUP BY location)")
        )
        if total != ds.rows or latest != ds.locations:
            raise RuntimeError(
                f"load: prices has {total} rows (expected {ds.rows}), latest {latest} locations"
            )
        optimize_s = None
        if ds.optimized:
            # After a backfill the past months are complete: compacting each partition to one part is
            # the routine maintenance of a ReplacingMergeTree (it also materialises the deduplication),
            # and FINAL then has nothing to merge at query time.
            log("load: OPTIMIZE TABLE prices FINAL (one part per monthly partition)")
            t0 = time.perf_counter()
            client.command("OPTIMIZE TABLE prices FINAL")
            client.command("OPTIMIZE TABLE prices_latest FINAL")
            optimize_s = round(time.perf_counter() - t0, 1)
            parts = wait_for_merges(client, args.merge_wait)
            log(f"load: optimized in {optimize_s} s; parts {parts['tables']}")
        cpu = watch.stop()
        hwm = ep.hwm_kb()
        client.close()
    info = {
        "insert_s": round(insert_s, 1),
        "optimize_s": optimize_s,
        "rows_per_s": round(ds.rows / insert_s),
        "cpu": cpu,
        "server_peak_rss_mib": mib(hwm),
        **parts,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    log(
        f"load: done in {insert_s:.0f} s ({info['rows_per_s']:,} rows/s), merges settled after "
        f"{parts['merge_wait_s']} s; parts {parts['tables']}; endpoint peak RSS {mib(hwm)} MiB"
    )
    meta_file.write_text(json.dumps({**ds.meta(), "load": info}, indent=2))
    return info


def meta_path(store: Path) -> Path:
    """Where the parameters of a data directory are recorded (for ``--reuse``)."""
    return store.with_name(store.name + ".json")


def reuse_or_load(ds: Dataset, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Reuse the data directory when ``--reuse`` and its parameters match; else (re)load it."""
    meta_file = meta_path(store)
    if args.reuse and meta_file.exists() and store.exists():
        meta = json.loads(meta_file.read_text())
        if all(meta.get(k) == v for k, v in ds.meta().items()):
            log(f"reusing the data in {store} (loaded {meta['load']['created_utc']})")
            return {"reused": True, **meta["load"]}
        log(f"--reuse: the data in {store} was built with other parameters ({meta}); reloading")
    return {"reused": False, **load(ds, store, args)}


# ------------------------------------------------------------------------------------------------------
# The rollup: build, late batch, refresh
# ------------------------------------------------------------------------------------------------------
def _q3_final(client: Any, ds: Dataset, loc: int) -> list[tuple[Any, float]]:
    year_end = min(ds.end, ds.first.replace(year=ds.first.year + 1))
    rows = client.query(
        Q3.format(final=" FINAL"),
        parameters={
            "market": f"MARKET_{loc % ds.markets}",
            "location": f"NODE_{loc:04d}",
            "start": ds.first,
            "end": year_end,
        },
    ).result_rows
    return [(r[0], float(r[1])) for r in rows]


def _q3_rollup(client: Any, ds: Dataset, loc: int) -> list[tuple[Any, float]]:
    year_end = min(ds.end, ds.first.replace(year=ds.first.year + 1))
    df = queries.price_series(
        client, f"MARKET_{loc % ds.markets}", f"NODE_{loc:04d}", ds.first, year_end, resolution="hourly"
    )
    return [
        (t.to_pydatetime().replace(tzinfo=None), float(v))
        for t, v in zip(df["interval_start_utc"], df["price_avg"], strict=True)
    ]


def check_same(client: Any, ds: Dataset, locs: list[int]) -> dict[str, Any]:
    """Compare q3 through the rollup with today's FINAL q3 for ``locs``: same hours, same averages."""
    if state(client).watermark_block == 0:
        raise RuntimeError("the rollup was never refreshed: there is nothing to check")
    ttl, queries.ROLLUP_STATE_TTL_S = queries.ROLLUP_STATE_TTL_S, 0.0  # right after a refresh: no cache
    try:
        return _check_same(client, ds, locs)
    finally:
        queries.ROLLUP_STATE_TTL_S = ttl


def _check_same(client: Any, ds: Dataset, locs: list[int]) -> dict[str, Any]:
    worst = 0.0
    for loc in locs:
        old, new = _q3_final(client, ds, loc), _q3_rollup(client, ds, loc)
        if [t.replace(tzinfo=None) for t, _ in old] != [t for t, _ in new]:
            raise RuntimeError(f"rollup read of NODE_{loc:04d} has other hours than FINAL")
        worst = max(worst, *(abs(a - b) for (_, a), (_, b) in zip(old, new, strict=True)))
    if worst > 1e-9:
        raise RuntimeError(f"rollup read differs from FINAL by {worst}")
    return {"locations_checked": len(locs), "max_abs_diff_avg": worst}


def build_rollup(ds: Dataset, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """(Re)build ``prices_hourly`` from the data as loaded (a full refresh); time it; check it."""
    log(f"rollup: full build of prices_hourly from the {ds.rows:,} rows as loaded")
    with start_endpoint(store) as ep:
        client = ep.client(send_receive_timeout=3600)
        for ddl in DDL_STORE_ALIASES:
            client.command(ddl)
        for spec in (PRICES_HOURLY, ROLLUP_REFRESHES):
            client.command(f"DROP TABLE IF EXISTS {spec.name} SYNC")
            for ddl in create_table_sql(spec, "default"):
                client.command(ddl)
        watch = CpuWatch({"server": ep.pid})
        report = refresh_prices_hourly(client)
        cpu = watch.stop()
        parts = wait_for_merges(client, args.merge_wait)
        same = check_same(client, ds, [0, ds.locations // 2, ds.locations - 1])
        hwm = ep.hwm_kb()
        client.close()
    info = {
        "seconds": round(report.seconds, 1),
        "rows_written": report.rows_written,
        "watermark_block": report.watermark_block,
        "cpu": cpu,
        "server_peak_rss_mib": mib(hwm),
        "parts_after": parts["tables"],
        "check_against_final": same,
    }
    log(f"rollup: built in {report.seconds:.1f} s, {report.rows_written:,} hour rows; {same}")
    return info


def late_batch(ds: Dataset, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Re-ingest the last hour of every location (identical rows), read, refresh, read again.

    Identical rows leave every answer as it was (the ReplacingMergeTree collapses them), so the data
    set stays the one loaded; for the rollup they are rows newer than its watermark like any other.
    """
    hour_rows = 12 * ds.locations
    first = ds.rows - hour_rows
    log(f"late batch: re-ingesting the last hour of every location ({hour_rows:,} rows), then refreshing")
    with start_endpoint(store) as ep:
        client = ep.client(send_receive_timeout=3600)
        before = current_block(client)
        client.command(
            INSERT_CHUNK.format(
                start_ms=START_MS,
                step_ms=STEP_MS,
                locations=ds.locations,
                markets=ds.markets,
                first=first,
                count=hour_rows,
            )
        )
        pick = make_picker(ds, query_texts(True), rollup=True)
        run = http_runner(client)
        rng = random.Random(args.seed + 5)

        def reads(n: int) -> dict[str, Any]:
            lat = []
            while len(lat) < n:
                name, sql, params = pick(rng)
                if name == "q3_year_rollup":
                    t0 = time.perf_counter()
                    run(sql, params)
                    lat.append((time.perf_counter() - t0) * 1000)
            return {"n": n, "p50_ms": round(float(np.median(lat)), 1), "max_ms": round(max(lat), 1)}

        unrefreshed = reads(20)
        same_unrefreshed = check_same(client, ds, [ds.locations - 1, 7])
        report = refresh_prices_hourly(client)
        time.sleep(queries.ROLLUP_STATE_TTL_S)  # the readers' cached state expires: they see the refresh
        refreshed = reads(20)
        same = check_same(client, ds, [ds.locations - 1, 7])
        client.close()
    info = {
        "rows": hour_rows,
        "blocks_before": before,
        "refresh_seconds": round(report.seconds, 2),
        "refresh_mode": report.mode,
        "refresh_rows_written": report.rows_written,
        "q3_rollup_single_before_refresh": unrefreshed,
        "q3_rollup_single_after_refresh": refreshed,
        "check_before_refresh": same_unrefreshed,
        "check_after_refresh": same,
    }
    log(f"late batch: {info}")
    return info


# ------------------------------------------------------------------------------------------------------
# Engine-only reference (worker subprocess: one chDB engine per process)
# ------------------------------------------------------------------------------------------------------
def engine_worker(args: argparse.Namespace) -> None:
    """Run the query mix in-process against the data directory; write the summaries as JSON."""
    ds = Dataset(args.rows, args.locations, args.markets)
    pick = make_picker(ds, query_texts(args.final))
    store = Path(args.engine_worker)
    keeper = chdb_connect(str(store))
    conns = [chdb_connect(str(store)) for _ in range(args.clients)]

    def runner(conn: Any) -> Callable[[str, dict[str, Any]], int]:
        def run(sql: str, params: dict[str, Any]) -> int:
            res = conn.query(sql, "Native", params=params)  # the endpoint's output format
            return int(res.rows_read())

        return run

    out: dict[str, Any] = {}
    run_mix([runner(conns[0])] * 1, pick, args.warmup, args.seed + 7)
    me = os.getpid()
    for label, n in (("single", 1), ("concurrent", args.clients)):
        print(f"    engine-only: {label}, {n} thread(s) for {args.engine_duration} s", flush=True)
        watch = CpuWatch({"engine": me})
        res = run_mix([runner(c) for c in conns[:n]], pick, args.engine_duration, args.seed + 11)
        res["cpu"] = watch.stop()
        out[label] = res
    out["peak_rss_mib"] = mib(vm_hwm_kb(me))
    for c in conns:
        c.close()
    keeper.close()
    Path(args.worker_out).write_text(json.dumps(out))


def engine_reference(store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`engine_worker` in a subprocess (the endpoint must be stopped: one process per directory)."""
    out = store.parent / "engine-reference.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        __file__,
        "--engine-worker",
        str(store),
        "--worker-out",
        str(out),
        "--rows",
        str(args.rows),
        "--locations",
        str(args.locations),
        "--markets",
        str(args.markets),
        "--clients",
        str(args.clients),
        "--engine-duration",
        str(args.engine_duration),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(args.seed),
        *([] if args.final else ["--no-final"]),
    ]
    log(
        f"engine-only: the same mix in-process on {store} ({args.engine_duration} s single-threaded, "
        f"{args.engine_duration} s with {args.clients} threads)"
    )
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"engine worker failed with exit code {proc.returncode}")
    res: dict[str, Any] = json.loads(out.read_text())
    print_run("engine single    ", res["single"])
    print_run("engine concurrent", res["concurrent"])
    return res


# ------------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------------
def bench_endpoint(ds: Dataset, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start a fresh endpoint on the data, warm up, run single-threaded, concurrent, then the HTTP floor."""
    texts = query_texts(args.final)
    pick = make_picker(ds, texts)
    me = os.getpid()
    out: dict[str, Any] = {"rollup": {}}
    log(f"queries: starting a fresh endpoint on {store}")
    with start_endpoint(store) as ep, RssSampler(ep.pid) as sampler:
        log(
            f"queries: endpoint pid {ep.pid}, RSS at start {mib(ep.started_rss_kb)} MiB; "
            f"connecting {args.clients} clients"
        )
        clients = [ep.client() for _ in range(args.clients)]  # library defaults
        runners = [http_runner(c) for c in clients]
        picks = {"today": pick, "rollup": make_picker(ds, texts, rollup=True)}
        for name, mix in [(n, "today") for n in QUERY_NAMES] + [("q3_year_rollup", "rollup")]:
            rng = random.Random(args.seed)  # one of each first, to see that they work and what they return
            while True:
                qname, sql, params = picks[mix](rng)
                if qname == name:
                    break
            t0 = time.perf_counter()
            rows = runners[0](sql, params)
            log(f"queries: {name} {params} -> {rows} rows in {(time.perf_counter() - t0) * 1000:.0f} ms")
        sampler.phase = "warmup"
        log(f"queries: warm-up, {args.warmup} s with {args.clients} clients (not recorded)")
        run_mix(runners, pick, args.warmup, args.seed + 1)
        run_mix(runners, picks["rollup"], args.warmup, args.seed + 1)
        # Interleaved in rounds (today, new, today, new, ...), each round a share of the duration, and
        # pooled per path: both paths see the same machine, which is shared and whose load drifts.
        phases = [
            (label, mix, n, dur / args.rounds, think)
            for label, n, dur, think in (
                ("single", 1, args.single_duration, 0.0),
                ("concurrent", args.clients, args.duration, 0.0),
                ("paced", args.clients, args.duration if args.think > 0 else 0.0, args.think),
            )
            for _ in range(args.rounds)
            for mix in ("today", "rollup")
        ]
        pooled: dict[tuple[str, str], list[Any]] = {}
        pooled_cpu: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for label, mix, n, dur, think in phases:
            if dur <= 0:
                continue
            pick = picks[mix]
            sampler.phase = f"{label}-{mix}"
            pause = f", each pausing {think} s on average between queries" if think else ", no pauses"
            log(f"queries: {label}, q3 {mix}: {n} client(s) for {dur} s{pause}")
            watch = CpuWatch({"server": ep.pid, "clients": me})
            load_before = os.getloadavg()[0]
            raw = pooled.setdefault((label, mix), [])
            run_mix(runners[:n], pick, dur, args.seed + 2 + len(raw), think_s=think, raw=raw)
            res = summarize(
                [s for r in raw for s in r[0]], [e for r in raw for e in r[1]], sum(r[2] for r in raw)
            )
            res["rounds"] = len(raw)
            cpus = pooled_cpu.setdefault((label, mix), [])
            cpus.append(watch.stop())
            res.update(
                {
                    "clients": n,
                    "think_s_mean": think,
                    "cpu": {k: round(sum(c[k] for c in cpus), 2) for k in cpus[0] if k != "others_cores"},
                    "loadavg_1m_before": load_before,
                    "server_peak_rss_mib_sampled": mib(sampler.peaks_kb.get(f"{label}-{mix}", 0)),
                }
            )
            if mix == "today":
                out[label] = res
            else:
                out["rollup"][label] = res
            print_run(f"{label[:6]}-{mix[:5]}", res)
            cpu = res["cpu"]
            log(
                f"  {label}: CPU server {cpu['server_cpu_s']} s, clients {cpu['clients_cpu_s']} s, "
                f"other processes {cpu['others_cpu_s']} s over {res['duration_s']} s on "
                f"{os.cpu_count()} cores; server RSS peak "
                f"{res['server_peak_rss_mib_sampled']} MiB"
            )
        pick = picks["today"]
        if args.floor_duration > 0:
            sampler.phase = "floor"
            log(f"queries: HTTP floor: `SELECT 1` with {args.clients} clients for {args.floor_duration} s")
            watch = CpuWatch({"server": ep.pid, "clients": me})
            floor: dict[str, Any] = {}
            for label, n in (("single", 1), ("concurrent", args.clients)):
                res = run_mix(
                    runners[:n], pick, args.floor_duration, args.seed + 3, fixed=("select_1", "SELECT 1", {})
                )
                floor[label] = res
                print_run(f"floor {label:<10}", res)
            floor["cpu"] = watch.stop()
            out["http_floor_select_1"] = floor
        hwm = ep.hwm_kb()
        for c in clients:
            c.close()
    out["server_peak_rss_mib"] = mib(hwm)
    out["server_rss_at_start_mib"] = mib(ep.started_rss_kb)
    out["server_peak_rss_mib_by_phase"] = {k: mib(v) for k, v in sampler.peaks_kb.items()}
    out["server_exit_code"] = ep.proc.returncode
    log(f"queries: endpoint peak RSS (VmHWM) {mib(hwm)} MiB; by phase {out['server_peak_rss_mib_by_phase']}")
    return out


def side_by_side(endpoint: dict[str, Any]) -> dict[str, Any]:
    """q3 today (FINAL) against q3 through the rollup, per run: p50 / p95 [ms] and today / new ratios."""
    out: dict[str, Any] = {}
    for label in ("single", "paced", "concurrent"):
        old = endpoint.get(label, {}).get("per_query", {}).get("q3_year", {})
        new = endpoint["rollup"].get(label, {}).get("per_query", {}).get("q3_year_rollup", {})
        if not old.get("n") or not new.get("n"):
            continue
        out[label] = {
            "today_p50_ms": old["p50_ms"],
            "today_p95_ms": old["p95_ms"],
            "rollup_p50_ms": new["p50_ms"],
            "rollup_p95_ms": new["p95_ms"],
            "ratio_p50": round(old["p50_ms"] / new["p50_ms"], 1),
            "ratio_p95": round(old["p95_ms"] / new["p95_ms"], 1),
            "today_n": old["n"],
            "rollup_n": new["n"],
            "errors": old["errors"] + new["errors"],
        }
    goals = {"paced": 50.0, "concurrent": 200.0}
    out["goal"] = {
        label: {
            "target_p95_ms": limit,
            "p95_ms": out.get(label, {}).get("rollup_p95_ms"),
            "met": bool(out.get(label))
            and out[label]["rollup_p95_ms"] <= limit
            and out[label]["errors"] == 0,
        }
        for label, limit in goals.items()
    }
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        description="Dashboard queries on 5-minute prices through `mi store serve` with concurrent "
        "clickhouse-connect clients. Writes benchmarks/results/store_queries.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--rows", type=int, default=100_000_000, help="rows of prices (a multiple of --locations)")
    p.add_argument("--locations", type=int, default=1000, help="locations")
    p.add_argument("--markets", type=int, default=5, help="markets the locations are spread over")
    p.add_argument("--reuse", action="store_true", help="reuse benchmarks/.work data if its parameters match")
    p.add_argument(
        "--chunk-rows", type=int, default=10_000_000, help="rows per INSERT ... SELECT when loading"
    )
    p.add_argument(
        "--merge-wait", type=float, default=1200.0, help="longest wait for merges after the load [s]"
    )
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (threads, one client each)")
    p.add_argument("--duration", type=float, default=60.0, help="concurrent run [s]")
    p.add_argument("--single-duration", type=float, default=30.0, help="single-threaded reference run [s]")
    p.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="paced run: mean pause of each client between queries [s] (0 skips the paced run)",
    )
    p.add_argument("--warmup", type=float, default=5.0, help="unrecorded warm-up with all clients [s]")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="split each run into this many rounds, today's q3 and the rollup's alternating, pooled",
    )
    p.add_argument(
        "--floor-duration",
        type=float,
        default=10.0,
        help="`SELECT 1` runs (single and concurrent) to measure the HTTP floor [s]; 0 to skip",
    )
    p.add_argument(
        "--engine-duration",
        type=float,
        default=20.0,
        help="engine-only in-process runs (single and concurrent) [s]; 0 to skip",
    )
    p.add_argument(
        "--no-final",
        dest="final",
        action="store_false",
        help="read the ReplacingMergeTree without FINAL (faster, but not deduplicated at query time)",
    )
    p.add_argument(
        "--optimize",
        action="store_true",
        help="variant: OPTIMIZE TABLE ... FINAL after the load (one part per month); own data directory, "
        "results in benchmarks/results/store_queries_optimized.json",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed of the query parameters")
    p.add_argument("--work-dir", type=Path, default=WORK_DIR / "store_queries", help="data directory, logs")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results JSON (default: benchmarks/results/store_queries[_optimized].json)",
    )
    p.add_argument("--engine-worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rows <= 0 or args.locations <= 0 or args.rows % args.locations:
        p.error("--rows must be a positive multiple of --locations")
    if args.markets <= 0 or args.markets > args.locations or args.clients <= 0:
        p.error("need 0 < --markets <= --locations and --clients > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code."""
    args = parse_args(argv)
    if args.engine_worker:
        engine_worker(args)
        return 0
    ds = Dataset(args.rows, args.locations, args.markets, args.optimize)
    work: Path = args.work_dir
    suffix = "" if args.rows == 100_000_000 else f"-{args.rows // 1_000_000}m"
    suffix += "-optimized" if args.optimize else ""
    store = work / f"store{suffix}"  # one data directory per variant, so each can be --reuse'd
    work.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    log(
        f"machine: {info['cpu_model']}, {info['nproc']} cores, {info['mem_total_gib']} GiB, "
        f"load {info['loadavg_at_start']}"
    )
    results: dict[str, Any] = {
        "benchmark": "store_queries",
        "machine": info,
        "parameters": {
            **ds.meta(),
            "intervals": ds.intervals,
            "first_interval_utc": ds.first.isoformat(),
            "end_utc": ds.end.isoformat(),
            "clients": args.clients,
            "duration_s": args.duration,
            "single_duration_s": args.single_duration,
            "warmup_s": args.warmup,
            "final": args.final,
            "seed": args.seed,
            "rounds": args.rounds,
            "client": "clickhouse_connect.get_client(host, port) defaults, one per thread",
        },
        "queries": query_texts(args.final),
        "ddl": [DDL_PRICES.strip(), DDL_LATEST.strip(), DDL_LATEST_MV.strip()],
    }
    results["data"] = reuse_or_load(ds, store, args)
    results["rollup_build"] = build_rollup(ds, store, args)
    results["endpoint"] = bench_endpoint(ds, store, args)
    results["rollup_late_batch"] = late_batch(ds, store, args)
    results["q3_side_by_side"] = side_by_side(results["endpoint"])
    log(f"q3 side by side: {json.dumps(results['q3_side_by_side'])}")
    if args.engine_duration > 0:
        results["engine_only"] = engine_reference(store, args)
    conc = results["endpoint"]["concurrent"]["overall"]
    results["goal"] = {
        "target": "p95 <= 100 ms with 16 concurrent clients",
        "p95_ms": conc.get("p95_ms"),
        "met": bool(conc.get("n")) and conc["p95_ms"] <= 100 and conc["errors"] == 0,
        "errors": conc.get("errors"),
    }
    log(
        f"goal p95 <= 100 ms at {args.clients} clients that never pause: "
        f"{'met' if results['goal']['met'] else 'NOT met'} "
        f"(p95 {conc.get('p95_ms')} ms, errors {conc.get('errors')})"
    )
    paced = results["endpoint"].get("paced", {}).get("overall")
    if paced and paced.get("n"):
        results["goal_paced"] = {
            "target": f"p95 <= 100 ms with {args.clients} clients pausing {args.think} s on average",
            "p95_ms": paced["p95_ms"],
            "met": paced["p95_ms"] <= 100 and paced["errors"] == 0,
            "errors": paced["errors"],
        }
        log(
            f"goal p95 <= 100 ms at {args.clients} paced clients ({args.think} s mean pause): "
            f"{'met' if results['goal_paced']['met'] else 'NOT met'} (p95 {paced['p95_ms']} ms)"
        )
    name = "store_queries_optimized" if args.optimize else "store_queries"
    write_results(name, results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
