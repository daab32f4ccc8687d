"""The endpoint as a process: users, concurrency, restarts, SIGTERM, kill -9, one owner per directory."""

from __future__ import annotations

import hashlib
import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from marketintel.exceptions import ConfigError
from marketintel.store.endpoint.auth import Users, write_user
from tests.storeproc import StoreProcess, free_port, start_store


def mi(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    import os

    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "marketintel.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
        check=False,
    )


def _frame(start: int, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "batch": [start] * n,
            "i": range(start * n, start * n + n),
            "ts": pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC"),
            "price": [float(k % 97) for k in range(n)],
        }
    )


CREATE = (
    "CREATE TABLE IF NOT EXISTS prices_t (batch UInt32, i UInt64, ts DateTime64(3, 'UTC'), price Float64) "
    "ENGINE = MergeTree ORDER BY i"
)


@pytest.fixture
def own_store(tmp_path: Path) -> Iterator[StoreProcess]:
    """A store of this test's own (for restarts and kills)."""
    sp = start_store(tmp_path / "store")
    yield sp
    if sp.alive():
        sp.stop()


# -- users ----------------------------------------------------------------------------------------------


@pytest.fixture
def users_store(tmp_path: Path) -> Iterator[StoreProcess]:
    users = tmp_path / "users.toml"
    write_user(users, "default", "admin", "admin-pw")
    write_user(users, "flows", "writer", "writer-pw")
    write_user(users, "dashboard", "reader", "reader-pw")
    sp = start_store(tmp_path / "store", "--users", str(users))
    yield sp
    sp.stop()


def test_users_roles_and_passwords(users_store: StoreProcess) -> None:
    admin = users_store.client(username="default", password="admin-pw")
    admin.command(CREATE)
    writer = users_store.client(username="flows", password="writer-pw")
    reader = users_store.client(username="dashboard", password="reader-pw")
    writer.insert_df("prices_t", _frame(1, 10))
    assert reader.command("SELECT count() FROM prices_t") == 10
    with pytest.raises(DatabaseError, match=r"Code: 164.*readonly"):
        reader.insert_df("prices_t", _frame(2, 10))
    with pytest.raises(DatabaseError, match="Code: 164"):
        reader.command("DROP TABLE prices_t")
    with pytest.raises(DatabaseError, match="Code: 164"):
        reader.command("SET readonly = 0")
    with pytest.raises(DatabaseError, match=r"Code: 497.*Not enough privileges"):
        writer.command("DROP TABLE prices_t")
    with pytest.raises(DatabaseError, match="Code: 497"):
        writer.command("CREATE TABLE x (a UInt8) ENGINE = Memory")
    assert admin.command("SELECT count() FROM prices_t") == 10  # nothing was lost or dropped
    with pytest.raises(DatabaseError, match="Code: 516"):
        users_store.client(username="dashboard", password="wrong")
    with pytest.raises(DatabaseError, match="Code: 516"):
        users_store.client(username="nobody", password="")
    conn = http.client.HTTPConnection("127.0.0.1", users_store.port)
    conn.request("POST", "/", body=b"SELECT 1")  # no credentials: the default user needs its password
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert (resp.status, resp.getheader("X-ClickHouse-Exception-Code")) == (401, "194")


def test_only_admins_reach_the_servers_files_and_network(users_store: StoreProcess, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t\n")
    admin = users_store.client(username="default", password="admin-pw")
    assert admin.command(f"SELECT * FROM file('{secret}', 'LineAsString')") == "s3cr3t"
    for user, pw in (("dashboard", "reader-pw"), ("flows", "writer-pw")):
        client = users_store.client(username=user, password=pw)
        for q in (
            f"SELECT * FROM file('{secret}', 'LineAsString')",
            f"SELECT * FROM url('{users_store.url}/ping', 'LineAsString')",
            f"INSERT INTO FUNCTION file('{tmp_path}/x.csv', 'CSV') SELECT 1",
            "SELECT 1 INTO OUTFILE 'x.csv'",
        ):
            with pytest.raises(DatabaseError, match=r"Code: 497.*reaches the server's files|Code: 164"):
                client.command(q)
    assert not (tmp_path / "x.csv").exists()


def test_no_users_file_means_passwordless_default_on_loopback(store: StoreProcess) -> None:
    assert store.client(username="default", password="").command("SELECT currentUser()") == "default"


def test_passwords_are_required_beyond_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="have no password"):
        Users.default().check_exposure("0.0.0.0")
    Users.default().check_exposure("127.0.0.1")
    users = tmp_path / "u.toml"
    write_user(users, "default", "admin", "pw")
    Users.load(users).check_exposure("0.0.0.0")
    assert hashlib.sha256(b"pw").hexdigest() in users.read_text()
    assert 'pw"' not in users.read_text()  # only the hash is stored
    res = mi("store", "serve", "--path", str(tmp_path / "s"), "--host", "0.0.0.0", "--port", str(free_port()))
    assert res.returncode == 2 and "have no password" in res.stderr


# -- one owner per directory ------------------------------------------------------------------------------


def test_second_server_on_the_same_directory_is_refused(own_store: StoreProcess) -> None:
    res = mi("store", "serve", "--path", str(own_store.path), "--port", str(free_port()))
    assert res.returncode == 2
    assert "already served by another endpoint" in res.stderr and str(own_store.proc.pid) in res.stderr
    assert own_store.client().command("SELECT 1") == 1


def test_cli_start_status_stop(tmp_path: Path) -> None:
    env = {"MI_DATA_DIR": str(tmp_path), "MI_STORE_PORT": str(free_port())}
    res = mi("store", "status", env=env)
    assert res.returncode == 1 and "not running" in res.stdout
    res = mi("store", "start", env=env)
    assert res.returncode == 0, res.stderr
    try:
        res2 = mi("store", "start", env=env)  # idempotent: reports the running one
        assert res2.returncode == 0 and res2.stdout.split("(pid")[1] == res.stdout.split("(pid")[1]
        res = mi("store", "status", env=env)
        assert res.returncode == 0 and "running at http://127.0.0.1:" in res.stdout
    finally:
        res = mi("store", "stop", env=env)
    assert res.returncode == 0 and "stopped" in res.stdout
    assert "not running" in mi("store", "status", env=env).stdout


# -- concurrency --------------------------------------------------------------------------------------------


def test_concurrent_readers_while_a_writer_inserts(store: StoreProcess, ch_database: str) -> None:
    admin = store.client(database=ch_database)
    admin.command(CREATE)
    errors: list[BaseException] = []
    done = threading.Event()
    reads = [0]

    def writer() -> None:
        try:
            client = store.client(database=ch_database)
            for b in range(20):
                client.insert_df("prices_t", _frame(b, 5000))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            client = store.client(database=ch_database)
            last = 0
            while not done.is_set():
                n = client.command("SELECT count() FROM prices_t")
                assert n % 5000 == 0 and n >= last  # whole inserts only, never going back
                last = n
                reads[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert admin.query("SELECT count(), uniqExact(i) FROM prices_t").result_rows == [(100_000, 100_000)]
    assert reads[0] > 8


def test_too_many_concurrent_queries_are_refused_not_queued_forever(tmp_path: Path) -> None:
    sp = start_store(tmp_path / "s", "--max-concurrent-queries", "1")
    try:
        slow = threading.Thread(target=lambda: sp.client().command("SELECT sleep(1.5)"))
        slow.start()
        time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", sp.port)
        conn.request("POST", "/", body=b"SELECT 1")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert (resp.status, resp.getheader("X-ClickHouse-Exception-Code")) == (503, "202")
        slow.join()
        assert sp.client().command("SELECT 1") == 1
    finally:
        sp.stop()


def test_oversize_body_is_refused_and_the_server_stays_up(tmp_path: Path) -> None:
    sp = start_store(tmp_path / "s", "--max-request-bytes", "100000")
    try:
        client = sp.client()
        client.command(CREATE)
        for chunked in (False, True):
            conn = http.client.HTTPConnection("127.0.0.1", sp.port)
            body = b"1,1,2024-01-01 00:00:00,1.5\n" * 10_000  # 280 kB
            q = "/?query=INSERT+INTO+prices_t+FORMAT+CSV"
            if chunked:
                conn.request("POST", q, body=iter([body[:50_000], body[50_000:]]), encode_chunked=True)
            else:
                conn.request("POST", q, body=body)
            resp = conn.getresponse()
            text = resp.read()
            conn.close()
            assert resp.status == 413 and resp.getheader("X-ClickHouse-Exception-Code") == "229", text
            assert b"too large" in text
        assert client.command("SELECT count() FROM prices_t") == 0  # nothing half-inserted
        client.insert_df("prices_t", _frame(0, 100))
        assert client.command("SELECT count() FROM prices_t") == 100
    finally:
        sp.stop()


# -- durability ---------------------------------------------------------------------------------------------


def test_restart_keeps_every_row(own_store: StoreProcess) -> None:
    client = own_store.client()
    client.command(CREATE)
    for b in range(5):
        client.insert_df("prices_t", _frame(b, 20_000))
    before = client.query("SELECT count(), sum(i), sum(price) FROM prices_t").result_rows
    assert own_store.stop() == 0
    again = start_store(own_store.path)
    try:
        assert again.client().query("SELECT count(), sum(i), sum(price) FROM prices_t").result_rows == before
    finally:
        again.stop()


def test_sigterm_during_an_insert_finishes_it_and_keeps_it(own_store: StoreProcess) -> None:
    own_store.client().command(CREATE)
    rows_per_piece, pieces = 2000, 20

    def slow_body() -> Iterator[bytes]:
        for p in range(pieces):
            yield "".join(
                f"{p},{p * rows_per_piece + k},2024-01-01 00:00:00,1\n" for k in range(rows_per_piece)
            ).encode()
            time.sleep(0.1)

    conn = http.client.HTTPConnection("127.0.0.1", own_store.port, timeout=60)
    conn.request("POST", "/?query=INSERT+INTO+prices_t+FORMAT+CSV", body=slow_body(), encode_chunked=True)
    time.sleep(0.5)
    own_store.proc.send_signal(15)  # SIGTERM while the body is still arriving
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    assert resp.status == 200, text
    assert own_store.proc.wait(60) == 0
    again = start_store(own_store.path)
    try:
        assert again.client().command("SELECT count() FROM prices_t") == rows_per_piece * pieces
    finally:
        again.stop()


def test_kill9_during_inserts_loses_nothing_acknowledged(own_store: StoreProcess) -> None:
    own_store.client().command(CREATE)
    acknowledged: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        client = own_store.client()
        b = 0
        while not stop.is_set():
            try:
                client.insert_df("prices_t", _frame(b, 20_000))
            except Exception:
                return  # the server died under this insert: it was never acknowledged
            acknowledged.append(b)
            b += 1

    t = threading.Thread(target=writer)
    t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    own_store.kill9()
    stop.set()
    t.join(30)
    assert len(acknowledged) >= 5
    again = start_store(own_store.path)  # the lock died with the process: a new server may start
    try:
        client = again.client()
        counts = dict(client.query("SELECT batch, count() FROM prices_t GROUP BY batch").result_rows)
        got = {b for b, n in counts.items() if n == 20_000}
        assert set(acknowledged) <= got, f"lost acknowledged batches {sorted(set(acknowledged) - got)}"
        client.insert_df("prices_t", _frame(10_000, 10))  # still usable
        assert client.command("SELECT count() FROM prices_t WHERE batch = 10000") == 10
    finally:
        again.stop()


def test_a_running_store_takes_users_added_changed_and_removed_at_the_next_request(tmp_path: Path) -> None:
    """`mi hub user add` writes the users file while the store runs: no restart, and limits are kept."""
    users = tmp_path / "users.toml"  # absent at start: a fresh server (default without a password)
    sp = start_store(tmp_path / "store", "--users", str(users))
    try:
        assert sp.client().command("SELECT 1") == 1
        write_user(users, "quant1", "reader", "first-password")
        text = users.read_text()
        assert "[users.default]" in text and 'role = "admin"' in text  # default kept, as ClickHouse does
        assert users.stat().st_mode & 0o777 == 0o600
        reader = sp.client(username="quant1", password="first-password")
        assert reader.command("SELECT 2") == 2
        with pytest.raises(DatabaseError, match="Code: 164"):
            reader.command("CREATE TABLE x (a UInt8) ENGINE = Memory")
        assert sp.client().command("SELECT 3") == 3  # default still works
        write_user(users, "quant1", "reader", "second-password")
        with pytest.raises(DatabaseError, match="Code: 516"):
            sp.client(username="quant1", password="first-password")
        assert sp.client(username="quant1", password="second-password").command("SELECT 4") == 4
        users.write_text(users.read_text() + "\n[users.broken\n")  # a bad edit: logged, previous users kept
        assert sp.client(username="quant1", password="second-password").command("SELECT 5") == 5
        write_user_text = users.read_text().replace("\n[users.broken\n", "")
        users.write_text(write_user_text)
        from marketintel.store.endpoint.auth import remove_user

        assert remove_user(users, "quant1") and not remove_user(users, "quant1")
        with pytest.raises(DatabaseError, match="Code: 516"):
            sp.client(username="quant1", password="second-password")
        with pytest.raises(ConfigError, match="only user"):
            remove_user(users, "default")
    finally:
        sp.stop()
    assert "cannot be read, keeping the previous users" in sp.log_text()
