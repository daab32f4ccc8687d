"""A reader's ``insert_into`` grant: plain inserts into the listed tables, and nothing else.

The dashboards service reads as a reader and stores alert acknowledgements as ``dashboards-acks``, a reader
that may insert into ``alert_acks`` only (``MI_ALERT_ACK_URL``). The grant must let exactly the inserts
clickhouse-connect sends through (statement in the body or in the URL, data in the body, Native, Arrow,
lz4-coded, VALUES) and refuse every other statement a reader cannot run.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from marketintel.exceptions import ConfigError
from marketintel.store.endpoint.auth import Users, write_user
from marketintel.store.endpoint.sqltext import insert_target
from marketintel.store.insert import insert_df
from tests.storeproc import StoreProcess, start_store

ACKS = (
    "CREATE TABLE alert_acks (alert_id String, acknowledged_by String, "
    "acknowledged_at_utc DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY alert_id"
)
OTHER = "CREATE TABLE alerts (alert_id String, status String) ENGINE = MergeTree ORDER BY alert_id"


@pytest.fixture(scope="module")
def grant_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    tmp = tmp_path_factory.mktemp("grant")
    users = tmp / "users.toml"
    write_user(users, "default", "admin", "admin-pw")
    write_user(users, "dashboards", "reader", "reader-pw")
    write_user(users, "dashboards-acks", "reader", "acks-pw", insert_into=["alert_acks"])
    sp = start_store(tmp / "store", "--users", str(users))
    admin = sp.client(username="default", password="admin-pw")
    admin.command(ACKS)
    admin.command(OTHER)
    admin.command("INSERT INTO alerts VALUES ('a1', 'open')")
    yield sp
    sp.stop()


def _admin(sp: StoreProcess) -> Any:
    return sp.client(username="default", password="admin-pw")


def _count(sp: StoreProcess, table: str = "alert_acks") -> int:
    return int(_admin(sp).command(f"SELECT count() FROM {table}"))


def _ack(n: int, by: str = "demo-ops") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "alert_id": [f"alert-{k}" for k in range(n)],
            "acknowledged_by": [by] * n,
            "acknowledged_at_utc": pd.date_range("2026-12-07 14:00", periods=n, freq="1min", tz="UTC"),
        }
    )


def _post(sp: StoreProcess, body: bytes, **params: str) -> tuple[int, str, str]:
    """POST as dashboards-acks; return (status, exception code header, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", sp.port, timeout=30)
    query = urlencode({"user": "dashboards-acks", "password": "acks-pw", **params})
    conn.request("POST", f"/?{query}", body=body)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, resp.getheader("X-ClickHouse-Exception-Code") or "", text


def test_granted_inserts_land_the_ways_clients_send_them(grant_store: StoreProcess) -> None:
    acks = grant_store.client(username="dashboards-acks", password="acks-pw")
    before = _count(grant_store)
    acks.insert_df("alert_acks", _ack(2))  # Native, statement at the start of the body
    insert_df(acks, "alert_acks", _ack(3), compression="lz4")  # Arrow, statement in the URL, lz4 body
    insert_df(acks, "alert_acks", _ack(1), database="default")  # `default`.`alert_acks`
    status, code, text = _post(
        grant_store, b"INSERT INTO alert_acks (alert_id, acknowledged_by, acknowledged_at_utc) "
        b"VALUES ('v1', 'demo-ops', '2026-12-07 14:00:00')"
    )  # fmt: skip
    assert (status, code) == (200, ""), text
    status, code, text = _post(
        grant_store,
        b'{"alert_id": "j1", "acknowledged_by": "demo-ops", "acknowledged_at_utc": "2026-12-07 14:00:00"}\n',
        query="INSERT INTO default.alert_acks SETTINGS async_insert = 0 FORMAT JSONEachRow",
    )
    assert (status, code) == (200, ""), text
    assert _count(grant_store) == before + 2 + 3 + 1 + 1 + 1
    # the grant widens writes only: the user still reads like a reader
    assert acks.command("SELECT count() FROM alerts") == 1


def test_granted_insert_ignores_a_session_and_leaves_reads_read_only(grant_store: StoreProcess) -> None:
    acks = grant_store.client(username="dashboards-acks", password="acks-pw", autogenerate_session_id=True)
    before = _count(grant_store)
    acks.insert_df("alert_acks", _ack(1))
    assert _count(grant_store) == before + 1
    with pytest.raises(DatabaseError, match="Code: 164"):
        acks.command("SET readonly = 0")


def test_values_data_stays_data(grant_store: StoreProcess) -> None:
    before = _count(grant_store)
    status, code, _ = _post(
        grant_store,
        b"INSERT INTO alert_acks VALUES ((SELECT status FROM alerts LIMIT 1), 'x', now())",
    )
    assert (status, code) == (500, "344")  # SUPPORT_IS_DISABLED: Values data is never evaluated
    status, code, text = _post(
        grant_store,
        b"INSERT INTO alert_acks SETTINGS input_format_values_interpret_expressions = 1 "
        b"VALUES ('a', 'b', now())",
    )
    assert (status, code) == (500, "164") and "input_format_values_interpret_expressions" in text
    status, code, _ = _post(
        grant_store,
        b"INSERT INTO alert_acks VALUES ('a', 'b', now())",
        input_format_values_interpret_expressions="1",
    )
    assert code == "164"
    assert _count(grant_store) == before


@pytest.mark.parametrize(
    ("sql", "code", "says"),
    [
        ("INSERT INTO alert_acks SELECT alert_id, status, now() FROM alerts", "497", "alert_acks"),
        ("INSERT INTO alert_acks (alert_id) WITH 'x' AS a SELECT a", "497", "alert_acks"),
        ("INSERT INTO alerts VALUES ('a2', 'open')", "497", "grant INSERT ON alerts"),
        ("INSERT INTO system.alert_acks_x FORMAT TSV\na\tb\n", "497", "may insert only into: alert_acks"),
        ("INSERT INTO FUNCTION null('a String') VALUES ('x')", "497", "alert_acks"),
        ("INSERT INTO alert_acks (*) VALUES ('a', 'b', now())", "497", "alert_acks"),
        ("CREATE TABLE t2 (a UInt8) ENGINE = Memory", "164", "readonly"),
        ("DROP TABLE alert_acks", "164", "readonly"),
        ("TRUNCATE TABLE alert_acks", "164", "readonly"),
        ("ALTER TABLE alert_acks DELETE WHERE 1", "164", "readonly"),
        ("ALTER TABLE alert_acks ADD COLUMN note String", "164", "readonly"),
        ("DELETE FROM alert_acks WHERE 1", "164", "readonly"),
        ("OPTIMIZE TABLE alert_acks FINAL", "164", "readonly"),
    ],
)
def test_everything_else_is_refused(grant_store: StoreProcess, sql: str, code: str, says: str) -> None:
    acks_before, alerts_before = _count(grant_store), _count(grant_store, "alerts")
    status, got, text = _post(grant_store, sql.encode())
    assert status != 200 and got == code, text
    assert says in text
    assert (_count(grant_store), _count(grant_store, "alerts")) == (acks_before, alerts_before)
    assert _admin(grant_store).command("EXISTS TABLE alert_acks") == 1


def test_insert_over_get_stays_refused(grant_store: StoreProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", grant_store.port, timeout=30)
    query = urlencode(
        {
            "user": "dashboards-acks",
            "password": "acks-pw",
            "query": "INSERT INTO alert_acks VALUES ('g', 'g', now())",
        }
    )
    conn.request("GET", f"/?{query}")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.getheader("X-ClickHouse-Exception-Code") == "164"


def test_a_reader_without_the_grant_is_still_refused(grant_store: StoreProcess) -> None:
    reader = grant_store.client(username="dashboards", password="reader-pw")
    before = _count(grant_store)
    with pytest.raises(DatabaseError, match=r"Code: 164.*readonly"):
        reader.insert_df("alert_acks", _ack(1))
    assert _count(grant_store) == before


def test_insert_target_parses_only_plain_inserts() -> None:
    plain = insert_target("INSERT INTO `default`.`alert_acks` (`alert_id`, by) SETTINGS async_insert=1")
    assert plain is not None
    assert (plain.database, plain.table, plain.settings) == ("default", "alert_acks", ("async_insert",))
    assert insert_target("insert into table alert_acks") is not None
    for other in (
        "INSERT INTO FUNCTION file('x.csv')",
        "INSERT INTO alert_acks SELECT 1",
        "INSERT INTO alert_acks (a) FROM INFILE 'x'",
        "INSERT INTO alert_acks (a) SETTINGS max_threads = (SELECT 1)",
        "INSERT INTO a.b.c",
        "INSERT INTO alert_acks; DROP TABLE alert_acks",
        "INSERT INTO alert_acks (a + 1)",
    ):
        assert insert_target(other) is None, other


def test_users_file_keeps_the_grant_and_refuses_it_for_other_roles(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    write_user(users, "acks", "reader", "pw-123456", insert_into=["alert_acks"])
    assert Users.load(users).users["acks"].insert_into == ("alert_acks",)
    write_user(users, "acks", "reader", "pw-123456")  # replaced without the grant
    assert Users.load(users).users["acks"].insert_into == ()
    with pytest.raises(ConfigError, match="reader only"):
        write_user(users, "flows", "writer", "pw-123456", insert_into=["alert_acks"])
    users.write_text('[users.x]\nrole = "writer"\ninsert_into = ["alert_acks"]\n')
    with pytest.raises(ConfigError, match="reader only"):
        Users.load(users)


def test_cli_sets_and_lists_the_grant(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"

    def mi(*args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "-m", "marketintel.cli", "store", "user", *args, "--users", str(users)],
            input=stdin, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout

    out = mi("set", "dashboards-acks", "--role", "reader", "--insert-into", "alert_acks", "--password-stdin",
             stdin="acks-password-1\n")  # fmt: skip
    assert "may insert into alert_acks" in out
    listing = mi("list").splitlines()
    row = next(line.split() for line in listing if line.startswith("dashboards-acks"))
    assert row[:4] == ["dashboards-acks", "reader", "yes", "alert_acks"]
    assert " ".join(row[4:]) == "- (every row)"  # no groups: a service account
    assert next(line.split() for line in listing if line.startswith("default"))[1:4] == ["admin", "no", "-"]
