"""What entitlements and the audit trail cost: the dashboard query mix as entitled users against a service
account, and insert throughput with the audit trail on and off, side by side.

What is measured
----------------
Data: ``--rows`` (default 10M) 5-minute prices of ``--locations`` (1000) locations in 5 markets, generated
server-side as in ``store_queries.py`` (the same table and generator), in ``benchmarks/.work/``.

Users (one store, one users file):

``svc``       a reader service account without groups: every row, no filter (the baseline);
``ent_m``     entitled by a market rule covering all five markets (compiles to ``market IN (...)``);
``ent_k``     entitled by a location pattern, ``NODE_00*`` (100 locations, compiled to exact keys).

Queries: ``q2_month`` (daily stats of one location over a month) and ``q3_year`` (one location's year by
hour), both with ``FINAL`` as the store's readers read, parameters bound server-side. Each round runs the
same random sequence of ``--queries`` queries (locations ``NODE_00xx``, which every user may see, so all
three get the same rows) for each user in turn (rotated order), with ``--clients`` threads. Reported per
user: p50 / p95 over all rounds and the median over rounds of the per-round p95 ratio to ``svc``.
Goal (issue 15): entitlement filtering costs <= 10 % at p95.

Audit: two stores started side by side, one with the audit trail (default) and one with
``MI_STORE_AUDIT=off``; alternating rounds insert ``--insert-batches`` batches of ``--batch-rows`` rows
(a connector's frame, through clickhouse-connect) into each, and ``SELECT 1`` ``--small-queries`` times.
Reported: rows/s and small-query p50 per store, and their ratios. Goal: audit writing costs <= 5 % of
insert throughput. The audited store's record count is checked against the requests made (none lost);
``tests/access/test_audit_store.py`` kills a store with ``kill -9`` under load and checks every answered
query has its record.

Run ``.venv/bin/python benchmarks/store_entitlements.py`` (``--reuse`` keeps the loaded data). Results:
``benchmarks/results/store_entitlements.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchcommon import WORK_DIR, code_version, log, machine_info, start_endpoint, write_results
from marketintel.access import rules
from marketintel.store.endpoint.auth import write_user
from marketintel.store.migrate import migrate
from marketintel.store.tables import ACCESS_RULES
from store_queries import DDL_PRICES, INSERT_CHUNK, Q2, Q3, START_MS, STEP_MS

PASSWORDS = {"default": "admin-pw", "svc": "svc-pw", "ent_m": "ent-m-pw", "ent_k": "ent-k-pw"}
USERS = ("svc", "ent_m", "ent_k")


def users_file(path: Path) -> Path:
    """Write the benchmark's users file."""
    path.unlink(missing_ok=True)
    write_user(path, "default", "admin", PASSWORDS["default"])
    write_user(path, "svc", "reader", PASSWORDS["svc"])
    write_user(path, "ent_m", "reader", PASSWORDS["ent_m"], groups=["bench-m"])
    write_user(path, "ent_k", "reader", PASSWORDS["ent_k"], groups=["bench-k"])
    return path


def load(store: Path, users: Path, args: argparse.Namespace) -> None:
    """Generate the prices and grant the rules (a fresh data directory)."""
    shutil.rmtree(store, ignore_errors=True)
    with start_endpoint(store, "--users", str(users)) as ep:
        admin = ep.client(username="default", password=PASSWORDS["default"], send_receive_timeout=3600)
        admin.command(DDL_PRICES)
        migrate(admin, database="default", specs=[ACCESS_RULES])
        chunk = 2_000_000 // args.locations * args.locations
        for first in range(0, args.rows, chunk):
            count = min(chunk, args.rows - first)
            admin.command(INSERT_CHUNK.format(start_ms=START_MS, step_ms=STEP_MS, locations=args.locations,
                                              markets=5, first=first, count=count))  # fmt: skip
            log(f"load: {first + count:,} of {args.rows:,} rows")
        markets = [f"MARKET_{i}" for i in range(5)]
        rules.grant(admin, rules.make_rule("bench-m", "prices", markets=markets))
        rules.grant(admin, rules.make_rule("bench-k", "prices", locations=["NODE_00*"]))
        admin.command("OPTIMIZE TABLE prices FINAL")
    (store.parent / f"{store.name}.meta").write_text(f"{args.rows} {args.locations}")


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile of ``values`` (linear interpolation)."""
    return float(np.percentile(values, q * 100)) if values else float("nan")


def run_round(ep: Any, user: str, plan: list[tuple[str, dict[str, Any]]], clients: int) -> list[float]:
    """Run ``plan`` as ``user`` on ``clients`` threads; return the latencies [ms]."""
    lat: list[float] = []
    lock = threading.Lock()
    work = list(plan)

    def worker() -> None:
        c = ep.client(username=user, password=PASSWORDS[user])
        while True:
            with lock:
                if not work:
                    return
                sql, params = work.pop()
            t0 = time.perf_counter()
            c.query(sql, parameters=params)
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                lat.append(dt)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat


def entitlement_cost(store: Path, users: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The query mix as each user, in alternating rounds."""
    q2, q3 = Q2.format(final=" FINAL").strip(), Q3.format(final=" FINAL").strip()
    fmt = "%Y-%m-%d %H:%M:%S"
    first = pd.Timestamp(START_MS, unit="ms", tz="UTC")
    with start_endpoint(store, "--users", str(users)) as ep:
        # the three users get the same rows: check once
        check = "SELECT count(), round(sum(price), 3) FROM prices FINAL WHERE location LIKE 'NODE_00%'"
        clients = {u: ep.client(username=u, password=PASSWORDS[u]) for u in USERS}
        answers = {u: c.query(check).result_rows[0] for u, c in clients.items()}
        assert len(set(answers.values())) == 1, answers
        seen = {u: c.query("SELECT count() FROM prices").result_rows[0][0] for u, c in clients.items()}
        per_user: dict[str, list[float]] = {u: [] for u in USERS}
        ratios: dict[str, list[float]] = {u: [] for u in USERS if u != "svc"}
        for rnd in range(args.rounds):
            rng = random.Random(rnd)
            plan = []
            for _ in range(args.queries):
                loc = rng.randrange(100)
                params: dict[str, Any] = {"market": f"MARKET_{loc % 5}", "location": f"NODE_{loc:04d}"}
                if rng.random() < 0.5:
                    start = first + pd.Timedelta(days=rng.randrange(0, 25))
                    params.update(
                        start=start.strftime(fmt), end=(start + pd.Timedelta(days=30)).strftime(fmt)
                    )
                    plan.append((q2, params))
                else:
                    params.update(
                        start=first.strftime(fmt), end=(first + pd.Timedelta(days=365)).strftime(fmt)
                    )
                    plan.append((q3, params))
            order = USERS[rnd % 3 :] + USERS[: rnd % 3]
            p95: dict[str, float] = {}
            for user in order:
                lat = run_round(ep, user, plan, args.clients)
                per_user[user] += lat
                p95[user] = pct(lat, 0.95)
            for user, values in ratios.items():
                values.append(p95[user] / p95["svc"])
            log(f"round {rnd + 1}/{args.rounds}: p95 " + ", ".join(f"{u} {p95[u]:.1f} ms" for u in USERS))
    out: dict[str, Any] = {"rows_seen": seen, "same_rows_check": list(answers["svc"])}
    for user, lat in per_user.items():
        out[user] = {
            "queries": len(lat),
            "p50_ms": round(pct(lat, 0.5), 2),
            "p95_ms": round(pct(lat, 0.95), 2),
            "mean_ms": round(statistics.fmean(lat), 2),
        }
    for user, rs in ratios.items():
        out[user]["p95_ratio_median"] = round(statistics.median(rs), 3)
        out[user]["p95_ratios"] = [round(r, 3) for r in rs]
    return out


def audit_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Insert throughput and small-query latency with the audit trail on and off."""
    rng = np.random.default_rng(1)
    n = args.batch_rows
    frame = pd.DataFrame({
        "interval_start_utc": pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC"),
        "market": "MARKET_0", "location": [f"NODE_{i % 1000:04d}" for i in range(n)],
        "price": rng.normal(50, 10, n), "published_at_utc": pd.Timestamp("2025-06-01", tz="UTC"),
    })  # fmt: skip
    stores = {}
    eps = {}
    try:
        for mode in ("on", "off"):
            path = WORK_DIR / f"entitlements-audit-{mode}"
            shutil.rmtree(path, ignore_errors=True)
            shutil.rmtree(path.parent / "audit" / path.name, ignore_errors=True)
            if mode == "off":
                os.environ["MI_STORE_AUDIT"] = "off"
            eps[mode] = start_endpoint(path)
            os.environ.pop("MI_STORE_AUDIT", None)
            stores[mode] = eps[mode].client()
            stores[mode].command(DDL_PRICES)
        rates: dict[str, list[float]] = {"on": [], "off": []}
        small: dict[str, list[float]] = {"on": [], "off": []}
        for rnd in range(args.rounds):
            for mode in ("on", "off") if rnd % 2 == 0 else ("off", "on"):
                c = stores[mode]
                t0 = time.perf_counter()
                for _ in range(args.insert_batches):
                    c.insert_df("prices", frame)
                rates[mode].append(args.insert_batches * n / (time.perf_counter() - t0))
                for _ in range(args.small_queries):
                    t1 = time.perf_counter()
                    c.query("SELECT 1")
                    small[mode].append((time.perf_counter() - t1) * 1000)
            log(f"audit round {rnd + 1}: rows/s on {rates['on'][-1]:,.0f}, off {rates['off'][-1]:,.0f}")
        c = stores["on"]
        c.command("SYSTEM FLUSH LOGS")
        inserts = int(c.command("SELECT count() FROM mi_system.audit_log WHERE kind = 'query' "
                                "AND JSONExtractString(detail, 'kind') = 'insert'"))  # fmt: skip
    finally:
        for ep in eps.values():
            ep.stop()
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {
        "insert_rows_per_s_median": {"on": round(on), "off": round(off)},
        "insert_throughput_ratio_on_off": round(on / off, 3),
        "insert_rates": {k: [round(v) for v in vs] for k, vs in rates.items()},
        "select1_p50_ms": {k: round(pct(v, 0.5), 3) for k, v in small.items()},
        "select1_p95_ms": {k: round(pct(v, 0.95), 3) for k, v in small.items()},
        "insert_records": inserts,
        "inserts_made": args.rounds * args.insert_batches,
    }


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--locations", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--queries", type=int, default=120, help="queries per user per round")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--insert-batches", type=int, default=10)
    p.add_argument("--batch-rows", type=int, default=100_000)
    p.add_argument("--small-queries", type=int, default=200)
    p.add_argument("--reuse", action="store_true")
    args = p.parse_args(argv)
    store = WORK_DIR / "entitlements"
    users = users_file(WORK_DIR / "entitlements-users.toml")
    meta = store.parent / f"{store.name}.meta"
    if not (args.reuse and meta.exists() and meta.read_text() == f"{args.rows} {args.locations}"):
        load(store, users, args)
    t0 = time.perf_counter()
    ent = entitlement_cost(store, users, args)
    aud = audit_cost(args)
    result = {
        "benchmark": "store_entitlements",
        "params": vars(args),
        "entitlements": ent,
        "audit": aud,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine_info(),
        "code": code_version(),
    }
    write_results("store_entitlements", result)
    for user in ("ent_m", "ent_k"):
        log(f"{user}: p95 {ent[user]['p95_ms']} ms vs svc {ent['svc']['p95_ms']} ms; median round ratio "
            f"{ent[user]['p95_ratio_median']}")  # fmt: skip
    log(f"audit: insert throughput on/off {aud['insert_throughput_ratio_on_off']}; SELECT 1 p50 "
        f"{aud['select1_p50_ms']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
