"""How the store protects itself: cancellation times, responsiveness under a runaway, and limit margins.

What is measured (one endpoint with a users file: an admin and a reader with the default limits)
----------------------------------------------------------------------------------------------
``disconnect``  ``--trials`` times: a reader's slow query, its client closes the socket; the time from
                the close to the query's end in the engine (the endpoint's query log, µs stamps).
``kill``        ``--trials`` times: ``KILL QUERY WHERE query_id = ... SYNC`` by the admin; the KILL's own
                latency and the time from sending it to the query's end.
``disconnect_scan``, ``kill_scan``  the same two on an ordinary scan by the admin (``SCAN``, the endless
                sieve of ``tests/store``) instead of the reader's slow query, which sleeps 0.5 s per
                block and so can only stop between two sleeps; the tests check that these queries stop,
                these figures how soon.
``responsive``  while a reader's runaway (``merge(REGEXP('.*'), '^pri')``, the query behind issue 11) is
                running and being cut, another client's ``SELECT 1`` latencies.
``shutdown``    SIGTERM with a reader's runaway running: seconds until the process exits.
``margins``     (with ``--dashboard-data``, the 100M-row data directory ``store_queries.py`` leaves in
                ``benchmarks/.work/store_queries/store``) the three dashboard queries as the reader,
                ``--trials`` each with random parameters: rows read, result rows and wall time from the
                query log, against the reader's limits.

Run ``.venv/bin/python benchmarks/store_protect.py`` (~1 min; add ``--dashboard-data`` after a
``store_queries.py`` run). Results: ``benchmarks/results/store_protect.json``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from benchcommon import WORK_DIR, log, machine_info, start_endpoint, write_results

READER = ("dash", "reader-pw")
ADMIN = ("default", "admin-pw")
#: a reader's query that reads little and runs 20 s: 400 rows, 0.5 s per block of 10
SLOW = "SELECT sum(sleepEachRow(0.05)) FROM numbers(400) SETTINGS max_block_size = 10"
RUNAWAY = "SELECT * FROM merge(REGEXP('.*'), '^pri')"
#: an ordinary scan that runs until it is stopped, run as the admin as in tests/store (a reader's
#: max_rows_to_read refuses it up front: numbers(N) announces its rows)
SCAN = "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) % 7 = 1"


def users_file(path: Path) -> Path:
    """Write a users file with an admin and a reader (default limits)."""
    from marketintel.store.endpoint.auth import write_user

    write_user(path, ADMIN[0], "admin", ADMIN[1])
    write_user(path, READER[0], "reader", READER[1])
    return path


def http(port: int, sql: str, user: tuple[str, str], **params: str) -> bytes:
    """POST one query; return the body."""
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/?" + urlencode({"user": user[0], "password": user[1], **params}), sql.encode())
    body = conn.getresponse().read()
    conn.close()
    return body


def ended_at(admin: Any, query_id: str) -> tuple[float, int]:
    """When the query ended [s since the epoch] and its exception code, from the query log."""
    deadline = time.monotonic() + 30
    while admin.command(f"SELECT count() FROM system.processes WHERE query_id = '{query_id}'"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{query_id} still running 30 s later")
        time.sleep(0.01)
    admin.command("SYSTEM FLUSH LOGS")
    row = admin.query(
        "SELECT toUnixTimestamp64Micro(event_time_microseconds), exception_code FROM system.query_log "
        "WHERE query_id = {q:String}",
        parameters={"q": query_id},
    ).result_rows[0]
    return row[0] / 1e6, int(row[1])


def wait_running(admin: Any, query_id: str) -> None:
    """Wait until the query shows in system.processes."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if admin.command(f"SELECT count() FROM system.processes WHERE query_id = '{query_id}'"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{query_id} never started")


def summary(values_ms: list[float]) -> dict[str, float]:
    """Median, p95 and max [ms]."""
    return {
        "n": len(values_ms),
        "p50_ms": round(statistics.median(values_ms), 1),
        "p95_ms": round(float(np.percentile(values_ms, 95)), 1),
        "max_ms": round(max(values_ms), 1),
    }


def disconnect(
    port: int, admin: Any, trials: int, sql: str = SLOW, user: tuple[str, str] = READER
) -> dict[str, Any]:
    """Close the client's socket mid-query; time until the engine ended it."""
    out = []
    for _ in range(trials):
        query_id = f"gone-{uuid.uuid4().hex[:8]}"
        sock = socket.create_connection(("127.0.0.1", port))
        body = sql.encode()
        head = f"POST /?query_id={query_id}&user={user[0]}&password={user[1]} HTTP/1.1\r\n"
        sock.sendall(f"{head}Host: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        wait_running(admin, query_id)
        time.sleep(0.3)
        sock.close()
        closed = time.time()
        ended, code = ended_at(admin, query_id)
        assert code == 394, code  # QUERY_WAS_CANCELLED
        out.append((ended - closed) * 1000)
    return summary(out)


def kill(
    port: int, admin: Any, trials: int, sql: str = SLOW, user: tuple[str, str] = READER
) -> dict[str, Any]:
    """KILL QUERY SYNC by the admin: the KILL's latency and the time to the query's end."""
    kill_ms, end_ms = [], []
    for _ in range(trials):
        query_id = f"kill-{uuid.uuid4().hex[:8]}"
        worker = threading.Thread(target=http, args=(port, sql, user), kwargs={"query_id": query_id})
        worker.start()
        wait_running(admin, query_id)
        t0, sent = time.perf_counter(), time.time()
        admin.command(f"KILL QUERY WHERE query_id = '{query_id}' SYNC")
        kill_ms.append((time.perf_counter() - t0) * 1000)
        worker.join(30)
        ended, code = ended_at(admin, query_id)
        assert code == 394, code
        end_ms.append((ended - sent) * 1000)
    return {"kill_statement": summary(kill_ms), "query_end": summary(end_ms)}


def responsive(port: int, admin: Any) -> dict[str, Any]:
    """Another client's SELECT 1 while a reader's runaway runs and is cut."""
    result: dict[str, Any] = {}

    def runaway() -> None:
        t0 = time.perf_counter()
        result["answer"] = http(port, RUNAWAY, READER)[:160].decode(errors="replace")
        result["runaway_s"] = round(time.perf_counter() - t0, 2)

    worker = threading.Thread(target=runaway)
    worker.start()
    lat = []
    while worker.is_alive():
        t0 = time.perf_counter()
        admin.command("SELECT 1")
        lat.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.01)
    worker.join()
    result["select_1"] = summary(lat)
    return result


def margins(data: Path, trials: int) -> dict[str, Any]:
    """The dashboard queries as the reader on the 100M-row data: what they use of the reader's limits."""
    sys_path = str(Path(__file__).parent)
    import sys

    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    import store_queries as sq
    from marketintel.store.endpoint.limits import DEFAULTS

    ds = sq.Dataset(100_000_000, 1000, 5)
    pick = sq.make_picker(ds, sq.query_texts(final=True))
    users = users_file(data.parent / "protect-users.toml")
    out: dict[str, Any] = {"limits": DEFAULTS["reader"]}
    with start_endpoint(data, "--users", str(users)) as ep:
        reader = ep.client(username=READER[0], password=READER[1])
        admin = ep.client(username=ADMIN[0], password=ADMIN[1])
        rng = random.Random(7)
        ids: dict[str, list[str]] = {}
        for _ in range(trials * 6):
            name, sql, params = pick(rng)
            query_id = f"{name}-{uuid.uuid4().hex[:8]}"
            reader.query(sql, parameters=params, settings={"query_id": query_id})
            ids.setdefault(name, []).append(query_id)
        admin.command("SYSTEM FLUSH LOGS")
        for name, qids in sorted(ids.items()):
            rows = admin.query(
                "SELECT max(read_rows), max(result_rows), max(query_duration_ms) FROM system.query_log "
                "WHERE query_id IN {ids:Array(String)}",
                parameters={"ids": qids},
            ).result_rows[0]
            out[name] = {"runs": len(qids), "max_read_rows": rows[0], "max_result_rows": rows[1],
                         "max_duration_ms": rows[2]}  # fmt: skip
            log(f"margins {name}: {out[name]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--dashboard-data", type=Path, default=None, help="store_queries.py's data directory")
    args = p.parse_args(argv)
    work = WORK_DIR / "store_protect"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    users = users_file(work / "users.toml")
    out: dict[str, Any] = {"benchmark": "store_protect", "machine": machine_info()}
    ep = start_endpoint(work / "data", "--users", str(users))
    try:
        admin = ep.client(username=ADMIN[0], password=ADMIN[1])
        out["disconnect"] = disconnect(ep.port, admin, args.trials)
        log(f"disconnect -> query end: {out['disconnect']}")
        out["kill"] = kill(ep.port, admin, args.trials)
        log(f"KILL QUERY SYNC: {out['kill']}")
        out["disconnect_scan"] = disconnect(ep.port, admin, args.trials, SCAN, ADMIN)
        log(f"disconnect -> scan end: {out['disconnect_scan']}")
        out["kill_scan"] = kill(ep.port, admin, args.trials, SCAN, ADMIN)
        log(f"KILL QUERY SYNC of a scan: {out['kill_scan']}")
        out["responsive"] = responsive(ep.port, admin)
        log(f"SELECT 1 during a reader's runaway: {out['responsive']}")
        worker = threading.Thread(target=http, args=(ep.port, SLOW, READER))
        worker.start()
        time.sleep(0.5)  # the read is running
        t0 = time.perf_counter()
        code = ep.stop()
        out["shutdown"] = {"seconds": round(time.perf_counter() - t0, 2), "exit_code": code}
        log(f"SIGTERM with a running read: {out['shutdown']}")
        worker.join(30)
    finally:
        ep.stop()
    if args.dashboard_data is not None:
        out["margins"] = margins(args.dashboard_data, args.trials)
    write_results("store_protect", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
