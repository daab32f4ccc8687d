"""The store's audit trail: what it records, who may write it, verification, tampering, and kill -9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from marketintel.access import events
from marketintel.access.audit import journal_head, verify_store
from marketintel.config import ClickHouseURL
from marketintel.store.endpoint.auth import write_user
from marketintel.store.endpoint.process import audit_dir
from tests.storeproc import StoreProcess, start_store, wait_until

ADMIN = ("default", "admin-pw")


def _start(tmp: Path) -> StoreProcess:
    return start_store(tmp / "store", "--users", str(tmp / "users.toml"))


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[dict[str, Any]]:
    users = tmp_path / "users.toml"
    write_user(users, "default", "admin", ADMIN[1])
    write_user(users, "ann", "reader", "ann-pw", groups=["prospects"])
    write_user(users, "svc", "reader", "svc-pw", impersonate=True)
    sp = _start(tmp_path)
    state = {"sp": sp, "tmp": tmp_path, "dir": audit_dir(tmp_path / "store")}
    yield state
    state["sp"].stop()


def admin(sp: StoreProcess) -> Any:
    return sp.client(username=ADMIN[0], password=ADMIN[1])


def records(sp: StoreProcess, where: str = "1") -> list[dict[str, Any]]:
    c = admin(sp)
    c.command("SYSTEM FLUSH LOGS")
    rows = c.query(
        f"SELECT seq, kind, user, caller, action, target, outcome, rows, detail FROM mi_system.audit_log "
        f"WHERE {where} ORDER BY seq"
    )
    return [dict(zip(rows.column_names, r, strict=True)) for r in rows.result_rows]


def test_queries_refusals_failed_logins_and_reported_events_are_recorded(audited: dict[str, Any]) -> None:
    sp = audited["sp"]
    ann = sp.client(username="ann", password="ann-pw")
    ann.query("SELECT 42")
    with pytest.raises(DatabaseError):
        ann.query("SELECT count() FROM system.mutations")
    with pytest.raises(DatabaseError):
        sp.client(username="ann", password="wrong")
    svc = ClickHouseURL("http", "127.0.0.1", sp.port, "svc", "svc-pw", "default")
    seq = events.report(
        "page", "ann", url=svc, action="explorer", detail={"market": "SPP"}, raise_errors=True
    )
    assert seq is not None and seq > 0
    as_ann = ClickHouseURL("http", "127.0.0.1", sp.port, "ann", "ann-pw", "default")
    with pytest.raises(RuntimeError, match="only services"):
        events.report("page", "x", url=as_ann, raise_errors=True)
    mine = records(sp, "user = 'ann'")
    queries = [r for r in mine if r["kind"] == "query"]
    assert any("SELECT 42" in json.loads(r["detail"])["query"] and r["outcome"] == "ok" for r in queries)
    refused = [r for r in queries if r["outcome"] == "refused"]
    assert any(r["target"] == "system.mutations" for r in refused), refused
    assert any(r["kind"] == "store_login_failed" and r["outcome"] == "refused" for r in mine)
    page = next(r for r in mine if r["kind"] == "page")
    assert page["action"] == "explorer" and json.loads(page["detail"]) == {"market": "SPP"}
    assert verify_store(admin(sp), audited["dir"]).ok


def test_user_changes_are_recorded(audited: dict[str, Any]) -> None:
    sp = audited["sp"]
    write_user(audited["tmp"] / "users.toml", "bob", "reader", "bob-pw", groups=["traders"])
    sp.client(username="bob", password="bob-pw").query("SELECT 1")
    change = next(r for r in records(sp, "kind = 'user_change'") if r["user"] == "bob")
    assert change["action"] == "added" and json.loads(change["detail"])["groups"] == ["traders"]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO mi_system.audit_log (seq, at_utc, kind, user) VALUES (1, 'x', 'query', 'eve')",
        "ALTER TABLE mi_system.audit_log DELETE WHERE seq > 0",
        "ALTER TABLE mi_system.audit_log UPDATE user = 'eve' WHERE 1",
        "TRUNCATE TABLE mi_system.audit_log",
        "DROP TABLE mi_system.audit_anchors",
        "DROP DATABASE mi_system",
        "RENAME TABLE mi_system.audit_log TO default.x",
        "INSERT INTO `audit_log` SELECT * FROM mi_system.audit_log",
    ],
)
def test_no_user_not_even_an_admin_can_write_the_audit_tables(
    audited: dict[str, Any], statement: str
) -> None:
    with pytest.raises(DatabaseError, match="written only by the store's audit writer"):
        admin(audited["sp"]).command(statement)
    assert verify_store(admin(audited["sp"]), audited["dir"]).ok


def _tamper(store: Path, sql: str) -> None:
    """Change the stopped store's files directly with chDB (what someone with file access could do)."""
    statements = [s for s in sql.split(";") if s.strip()]
    script = (
        f"import chdb\nc = chdb.connect({str(store)!r})\nfor s in {statements!r}:\n    c.query(s)\nc.close()"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def _cli_verify(sp: StoreProcess, directory: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MI_CLICKHOUSE_URL=f"http://default:{ADMIN[1]}@127.0.0.1:{sp.port}/default")
    return subprocess.run(
        [sys.executable, "-m", "marketintel.cli", "audit", "verify", "--audit-dir", str(directory)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("ALTER TABLE mi_system.audit_log UPDATE user = 'eve' WHERE seq = 5 SETTINGS mutations_sync = 1", 5),
        ("ALTER TABLE mi_system.audit_log DELETE WHERE seq = 7 SETTINGS mutations_sync = 1", 7),
        (
            "INSERT INTO mi_system.audit_log (seq, at_utc, kind, user, prev_hash, hash) "
            "SELECT seq, at_utc, kind, 'eve', prev_hash, hash FROM mi_system.audit_log WHERE seq = 6",
            6,
        ),
        (
            "CREATE TABLE default.swap AS mi_system.audit_log;"
            "INSERT INTO default.swap SELECT * REPLACE (if(seq = 8, 9, 8) AS seq) FROM mi_system.audit_log "
            "WHERE seq IN (8, 9);"
            "ALTER TABLE mi_system.audit_log DELETE WHERE seq IN (8, 9) SETTINGS mutations_sync = 1;"
            "INSERT INTO mi_system.audit_log SELECT * FROM default.swap",
            8,
        ),
        ("ALTER TABLE mi_system.audit_log DELETE WHERE seq >= 10 SETTINGS mutations_sync = 1", 10),
    ],
    ids=["changed", "deleted", "inserted", "reordered", "truncated"],
)
def test_mi_audit_verify_names_the_first_tampered_record(
    audited: dict[str, Any], tamper: str, named: int
) -> None:
    sp = audited["sp"]
    ann = sp.client(username="ann", password="ann-pw")
    for i in range(12):
        ann.query(f"SELECT {i}")
    admin(sp).command("SYSTEM FLUSH LOGS")
    done = _cli_verify(sp, audited["dir"])
    assert done.returncode == 0 and "audit chain verified" in done.stdout, done.stdout + done.stderr
    head = journal_head(audited["dir"])
    assert head is not None and head[0] >= 12
    assert sp.stop() == 0
    _tamper(sp.path, tamper)
    audited["sp"] = sp = _start(audited["tmp"])
    done = _cli_verify(sp, audited["dir"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"BROKEN at record {named}:" in done.stdout, done.stdout


def test_kill_9_under_load_loses_no_record_of_an_answered_query(audited: dict[str, Any]) -> None:
    """Every query whose whole answer reached its client before ``kill -9`` has its audit record.

    "Whole answer" is the complete HTTP response, chunked terminator included, as ``urllib`` reads it (it
    refuses a response cut short); the endpoint holds an answer's last bytes until the record is journaled.
    """
    import base64
    import urllib.request

    sp = audited["sp"]
    answered: list[str] = []
    stop = threading.Event()
    token = base64.b64encode(b"ann:ann-pw").decode()

    def load() -> None:
        while not stop.is_set():
            qid = str(uuid.uuid4())
            req = urllib.request.Request(
                f"{sp.url}/?query_id={qid}",
                data=b"SELECT number FROM numbers(1000) FORMAT TSV",
                method="POST",
            )
            req.add_header("Authorization", f"Basic {token}")
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    lines = resp.read().count(b"\n")
            except Exception:  # the kill: not answered
                return
            if lines == 1000:
                answered.append(qid)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(answered) >= 200, "load runs")
    sp.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    audited["sp"] = sp = _start(audited["tmp"])
    logged = {json.loads(r["detail"]).get("query_id") for r in records(sp, "kind = 'query'")}
    assert len(answered) >= 200
    lost = [q for q in answered if q not in logged]
    assert not lost, f"{len(lost)} of {len(answered)} answered queries have no audit record"
    assert verify_store(admin(sp), audited["dir"]).ok
    time.sleep(0)  # the restarted store continues the chain: a new record verifies too
    sp.client(username="ann", password="ann-pw").query("SELECT 1")
    assert verify_store(admin(sp), audited["dir"]).ok


def test_routing_decisions_reach_the_audit_trail(
    audited: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router's default sink reports each decision to the store (kind ``routing``), as a service."""
    from marketintel.routing.router import default_audit

    sp = audited["sp"]
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"http://svc:svc-pw@127.0.0.1:{sp.port}/default")
    event = {"series": "CAISO_LOAD_DA", "chosen": "caiso/system_load_resource_schedules_dam", "intervals": 24,
             "reason": "failover: caiso/load_forecast_dam open"}  # fmt: skip
    default_audit()(event)
    (record,) = records(sp, "kind = 'routing'")
    assert (record["user"], record["caller"], record["target"], record["rows"]) == (
        "routing",
        "routing",
        "CAISO_LOAD_DA",
        24,
    )
    assert json.loads(record["detail"])["reason"] == "failover: caiso/load_forecast_dam open"
    assert verify_store(admin(sp), audited["dir"]).ok
