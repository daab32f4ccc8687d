"""The endpoint answers like ClickHouse where real clients found it did not (issue 10).

Each section reproduces one finding through clickhouse-connect (sync and async) and raw HTTP: results of
any size in whole-document formats, empty results, non-UTF-8 and non-ASCII SQL, parameters in
``INSERT ... VALUES``, settings with empty defaults, ``client_protocol_version``, external data, query
ids (``system.processes``, ``KILL QUERY``, duplicates, progress) and the query log.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import chdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clickhouse_connect import get_async_client
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.external import ExternalData

from marketintel.store.endpoint.auth import write_user
from marketintel.store.endpoint.results import BLOCK_INFO, NativeRewriter
from tests.storeproc import WAIT_S, StoreProcess, start_store, wait_until

ROWS = 1_000_000  # about 15 engine blocks of 65,409 rows
MULTI = "SELECT number AS n, toString(number) AS s FROM numbers(200000)"
#: a query that runs until it is stopped (the sieve reads 1e12 rows at ~20M rows/s)
ENDLESS = "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) % 7 = 1"


def post(
    store: StoreProcess, sql: bytes | str, timeout: float = 120, **params: str
) -> tuple[int, dict[str, str], bytes, list[tuple[str, str]]]:
    """POST a query; return status, headers (last value per name), body and all header pairs."""
    conn = http.client.HTTPConnection("127.0.0.1", store.port, timeout=timeout)
    conn.request("POST", "/?" + urlencode(params), body=sql.encode() if isinstance(sql, str) else sql)
    resp = conn.getresponse()
    body = resp.read()
    pairs = resp.getheaders()
    conn.close()
    return resp.status, {k.lower(): v for k, v in pairs}, body, pairs


@pytest.fixture(scope="module")
def local() -> Iterator[Any]:
    """chDB in this process, in memory: what the engine renders for a query in one piece."""
    conn = chdb.connect(":memory:")
    yield conn
    conn.close()


# -- 1. results larger than one block in whole-document formats ----------------------------------------


@pytest.mark.parametrize(
    "fmt",
    ["Arrow", "ArrowStream", "Parquet", "ORC", "CSVWithNames", "TSVWithNamesAndTypes",
     "RowBinaryWithNamesAndTypes", "JSONCompactEachRowWithNames", "Native", "JSONEachRow", "Markdown"],
)  # fmt: skip
def test_multi_block_results_equal_the_engines_one_piece_render(
    store: StoreProcess, local: Any, fmt: str
) -> None:
    status, _, body, _ = post(store, f"{MULTI} FORMAT {fmt}")
    assert status == 200
    assert body == local.query(f"{MULTI} FORMAT {fmt}", fmt).bytes()


@pytest.mark.parametrize("fmt", ["JSON", "JSONCompact", "XML"])
def test_multi_block_documents_are_one_document(store: StoreProcess, local: Any, fmt: str) -> None:
    status, _, body, _ = post(store, f"{MULTI} FORMAT {fmt}")
    assert status == 200
    expected = local.query(f"{MULTI} FORMAT {fmt}", fmt).bytes()
    if fmt == "XML":  # one document: one root element, same rows
        assert body.count(b"<result>") == 1 and body.count(b"<row>") == 200_000
        return
    got, want = json.loads(body), json.loads(expected)
    for doc in (got, want):
        doc.pop("statistics")  # elapsed time differs run to run
    assert got == want and got["rows"] == 200_000


def test_arrow_parquet_and_arrow_streams_of_a_million_rows(ch_client: Any, store: StoreProcess) -> None:
    sql = f"SELECT number AS n, toString(number) AS s FROM numbers({ROWS})"
    table = ch_client.query_arrow(sql)
    assert table.num_rows == ROWS and pa.compute.sum(table["n"]).as_py() == ROWS * (ROWS - 1) // 2
    with ch_client.query_arrow_stream(sql) as stream:
        assert sum(batch.num_rows for batch in stream) == ROWS
    assert len(ch_client.query_df_arrow(sql)) == ROWS
    parquet = pq.read_table(io.BytesIO(ch_client.raw_query(f"{sql} FORMAT Parquet")))
    assert parquet.num_rows == ROWS and parquet.column("s")[ROWS - 1].as_py() == str(ROWS - 1)

    async def run() -> int:
        client = await get_async_client(host="127.0.0.1", port=store.port)
        try:
            result = await client.query_arrow(sql)
            return int(result.num_rows)
        finally:
            await client.close()

    assert asyncio.run(run()) == ROWS


# -- 2. empty results carry their header ---------------------------------------------------------------

EMPTY = "SELECT number AS n, toString(number) AS s, toDateTime(number, 'UTC') AS t FROM numbers(0)"


@pytest.mark.parametrize(
    "fmt", ["JSON", "JSONCompact", "Arrow", "ArrowStream", "Parquet", "CSVWithNames", "TSVWithNamesAndTypes",
            "RowBinaryWithNamesAndTypes", "TSV", "JSONEachRow"],
)  # fmt: skip
def test_empty_results_render_as_the_engine_renders_them(store: StoreProcess, local: Any, fmt: str) -> None:
    status, headers, body, _ = post(store, f"{EMPTY} FORMAT {fmt}")
    assert status == 200 and headers["x-clickhouse-format"] == fmt
    expected = local.query(f"{EMPTY} FORMAT {fmt}", fmt).bytes()
    if fmt in ("JSON", "JSONCompact"):
        got, want = json.loads(body), json.loads(expected)
        assert got["meta"] == want["meta"] and got["data"] == [] and got["rows"] == 0
    else:
        assert body == expected


def test_empty_native_result_is_a_header_block(store: StoreProcess) -> None:
    _, _, body, _ = post(store, EMPTY, default_format="Native")
    assert body == b"\x03\x00\x01n\x06UInt64\x01s\x06String\x01t\x08DateTime"
    _, _, body, _ = post(store, EMPTY, default_format="Native", client_protocol_version="54405")
    assert (
        body
        == b"\x01\x00\x02\xff\xff\xff\xff\x00\x03\x00\x01n\x06UInt64\x01s\x06String\x01t\x0fDateTime('UTC')"
    )


def test_empty_results_keep_names_and_types_in_clients(ch_client: Any, store: StoreProcess) -> None:
    result = ch_client.query(EMPTY)
    assert result.column_names == ("n", "s", "t") and result.row_count == 0
    assert [t.name for t in result.column_types] == ["UInt64", "String", "DateTime('UTC')"]
    table = ch_client.query_arrow(EMPTY)
    assert table.num_rows == 0 and table.schema.names == ["n", "s", "t"]
    assert list(ch_client.query_df_arrow(EMPTY).columns) == ["n", "s", "t"]

    async def run() -> tuple[str, ...]:
        client = await get_async_client(host="127.0.0.1", port=store.port)
        try:
            return tuple((await client.query(EMPTY)).column_names)
        finally:
            await client.close()

    assert asyncio.run(run()) == ("n", "s", "t")


# -- 3. SQL as bytes: non-ASCII names, non-UTF-8 literals ---------------------------------------------


def test_non_ascii_table_and_column_names(ch_client: Any, ch_database: str) -> None:
    table = f"{ch_database}.`prix_électricité`"
    ch_client.command(
        f"CREATE TABLE {table} (`zone_ü` String, `€/MWh` Float64) ENGINE = MergeTree ORDER BY tuple()"
    )
    ch_client.insert(table, [["DE-LU", 91.5]], column_names=["zone_ü", "€/MWh"])
    frame = pd.DataFrame({"zone_ü": ["FR", "ES"], "€/MWh": [80.0, 70.25]})
    ch_client.insert_df(table, frame)
    rows = ch_client.query(f"SELECT `zone_ü`, `€/MWh` FROM {table} ORDER BY `€/MWh`").result_rows
    assert rows == [("ES", 70.25), ("FR", 80.0), ("DE-LU", 91.5)]


def test_queries_that_are_not_utf8_reach_the_engine(store: StoreProcess) -> None:
    status, _, body, _ = post(store, b"SELECT hex('\xff\xfe\x00A') AS h")
    assert (status, body) == (200, b"FFFE0041\n")
    _, _, body, _ = post(store, b"SELECT '\xff' AS b FORMAT RowBinary")
    assert body == b"\x01\xff"


# -- 4. query parameters in INSERT ... VALUES ----------------------------------------------------------


def test_parameters_reach_insert_values(ch_client: Any, ch_database: str, store: StoreProcess) -> None:
    ch_client.command(f"CREATE TABLE {ch_database}.p (k String, v Float64) ENGINE = MergeTree ORDER BY k")
    ch_client.command(
        f"INSERT INTO {ch_database}.p VALUES ({{k:String}}, {{v:Float64}})", parameters={"k": "a'b", "v": 1.5}
    )
    status, _, body, _ = post(
        store, f"INSERT INTO {ch_database}.p VALUES ({{k:String}}, {{v:Float64}})", param_k="c", param_v="2"
    )
    assert status == 200, body
    assert ch_client.query(f"SELECT * FROM {ch_database}.p ORDER BY k").result_rows == [
        ("a'b", 1.5),
        ("c", 2.0),
    ]


# -- 5. settings whose default is empty ----------------------------------------------------------------


def test_settings_with_empty_defaults_are_accepted(ch_client: Any, store: StoreProcess) -> None:
    settings = {"insert_deduplication_token": "", "query_cache_tag": "dashboard"}
    assert ch_client.query("SELECT 1", settings=settings).result_rows == [(1,)]
    # log_comment carries each connection's identity to the engine's row policies: no client may set it
    status, headers, body, _ = post(store, "SELECT 1", log_comment="dashboard")
    assert status != 200 and b"log_comment" in body, body
    status, headers, body, _ = post(store, "SELECT 1", no_such_setting_xyz="1")
    assert status == 404 and headers["x-clickhouse-exception-code"] == "115", body


# -- 6. client_protocol_version --------------------------------------------------------------------------


def test_native_follows_client_protocol_version(ch_client: Any, store: StoreProcess) -> None:
    assert ch_client.protocol_version == 54405  # the client's probe of BlockInfo succeeded
    sql = "SELECT toDateTime('2024-03-31 01:00:00', 'Europe/Berlin') AS t, 'x' AS s"
    rows = ch_client.query(sql).result_rows
    assert rows[0][0].tzinfo is not None and rows[0][0].utcoffset().total_seconds() == 3600
    data = struct.pack("<I", 1711843200) + b"\x01x"  # 2024-03-31T00:00:00Z, then 'x'
    _, _, body, _ = post(store, sql, default_format="Native")
    assert body == b"\x02\x01\x01t\x08DateTime" + data[:4] + b"\x01s\x06String" + data[4:]
    _, _, body, _ = post(store, sql, default_format="Native", client_protocol_version="54405")
    assert body == (
        b"\x01\x00\x02\xff\xff\xff\xff\x00\x02\x01\x01t\x19DateTime('Europe/Berlin')"
        + data[:4] + b"\x01s\x06String" + data[4:]
    )  # fmt: skip
    _, _, body, _ = post(store, sql, default_format="Native", client_protocol_version="54460")
    assert body == (
        b"\x01\x00\x02\xff\xff\xff\xff\x00\x02\x01\x01t\x19DateTime('Europe/Berlin')\x00"
        + data[:4] + b"\x01s\x06String\x00" + data[4:]
    )  # fmt: skip


def test_native_protocol_rewrite_over_many_blocks_and_types(ch_client: Any) -> None:
    sql = (
        "SELECT number AS n, toString(number) AS s, [number, 1] AS a, toNullable(toString(number)) AS ns, "
        "toDateTime(number, 'UTC') AS t, (number, 'x') AS tup FROM numbers(150000)"
    )
    frame = ch_client.query_df(sql)
    assert len(frame) == 150000 and str(frame["t"].dt.tz) == "UTC"
    assert frame["s"].iloc[-1] == "149999" and list(frame["a"].iloc[7]) == [7, 1]


# -- 7. external data -----------------------------------------------------------------------------------


def test_external_data_becomes_temporary_tables(ch_client: Any, store: StoreProcess) -> None:
    ext = ExternalData(file_name="zones.csv", data=b"1,DE\n2,FR\n", fmt="CSV", structure="k UInt8, z String")
    ext.add_file(file_name="caps.tsv", data=b"1\t500\n2\t3000\n", types="UInt8, Int32")
    sql = "SELECT z, _2 AS cap FROM zones JOIN caps ON zones.k = caps._1 ORDER BY z"
    assert ch_client.query(sql, external_data=ext).result_rows == [("DE", 500), ("FR", 3000)]
    # the temporary tables die with the request: the pooled connection does not keep them
    with pytest.raises(DatabaseError, match=r"UNKNOWN_TABLE|Unknown table"):
        ch_client.query("SELECT * FROM zones")


# -- 8. query ids: system.processes, duplicates, KILL QUERY, progress ---------------------------------


@pytest.fixture(autouse=True)
def _no_query_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test must not leave an endless query behind (the store would wait for it at shutdown)."""
    yield
    started = list(_STARTED)
    _STARTED.clear()
    for store, sql, params in started:
        if store.alive():  # a test's own store may be stopped already
            post(store, f"KILL QUERY WHERE query = {sql!r} SYNC", user=params.get("user", "default"),
                 password=params.get("password", ""))  # fmt: skip


_STARTED: list[tuple[StoreProcess, str, dict[str, str]]] = []


def _background(store: StoreProcess, sql: str, **params: str) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}
    _STARTED.append((store, sql, params))

    def run() -> None:
        out["response"] = post(store, sql, **params)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _running(ch_client: Any, query_id: str) -> bool:
    return bool(
        ch_client.query(
            "SELECT count() FROM system.processes WHERE query_id = {q:String}", parameters={"q": query_id}
        ).result_rows[0][0]
    )


def _wait_running(ch_client: Any, query_id: str) -> None:
    wait_until(lambda: _running(ch_client, query_id), f"{query_id} in system.processes")


def _join(thread: threading.Thread, what: str) -> None:
    """Wait for a background request to come back (a bound on the wait, not a claim about its time)."""
    thread.join(WAIT_S)
    assert not thread.is_alive(), f"{what}: no answer after waiting {WAIT_S:g} s"


def test_query_ids_reach_processes_duplicates_and_kill(ch_client: Any, store: StoreProcess) -> None:
    query_id = f"dashboard-{uuid.uuid4().hex[:8]}"
    thread, out = _background(store, ENDLESS, query_id=query_id)
    _wait_running(ch_client, query_id)
    rows = ch_client.query(
        "SELECT user, query FROM system.processes WHERE query_id = {q:String}", parameters={"q": query_id}
    ).result_rows
    assert rows == [("default", ENDLESS)]
    assert query_id in ch_client.raw_query("SHOW PROCESSLIST FORMAT TSV").decode()
    _, headers, body, _ = post(store, "SELECT 1", query_id=query_id)
    assert headers["x-clickhouse-exception-code"] == "216" and b"already running" in body
    killed = ch_client.raw_query(f"KILL QUERY WHERE query_id = '{query_id}' SYNC")
    assert killed.decode().split("\t")[:2] == ["finished", query_id]
    # how fast the query stops is measured by benchmarks/store_protect.py (kill_scan), not asserted here
    _join(thread, "the killed query's client")
    assert b"QUERY_WAS_CANCELLED" in out["response"][2]
    assert ch_client.query(
        "SELECT count() FROM system.processes WHERE query_id = {q:String}", parameters={"q": query_id}
    ).result_rows == [(0,)]


def test_replace_running_query(ch_client: Any, store: StoreProcess) -> None:
    query_id = f"replace-{uuid.uuid4().hex[:8]}"
    thread, out = _background(store, ENDLESS, query_id=query_id)
    _wait_running(ch_client, query_id)
    status, _, body, _ = post(store, "SELECT 42", query_id=query_id, replace_running_query="1")
    assert (status, body) == (200, b"42\n")
    _join(thread, "the replaced query's client")
    assert b"QUERY_WAS_CANCELLED" in out["response"][2]


def test_progress_headers_and_summary_are_the_engines(
    store: StoreProcess, ch_client: Any, ch_database: str
) -> None:
    sql = "SELECT count() FROM numbers(60000000) WHERE sipHash64(number) % 3 = 1"
    status, headers, _, pairs = post(
        store, sql, send_progress_in_http_headers="1", http_headers_progress_interval_ms="50"
    )
    assert status == 200
    progress = [json.loads(v) for k, v in pairs if k == "X-ClickHouse-Progress"]
    assert len(progress) >= 2
    read = [int(p["read_rows"]) for p in progress]
    assert read == sorted(read) and read[-1] > 0
    summary = json.loads(headers["x-clickhouse-summary"])
    assert int(summary["read_rows"]) == 60_000_000 and int(summary["result_rows"]) == 1
    assert ch_client.query("SELECT count() FROM numbers(10000000)").summary["read_rows"] == "10000000"
    # streamed without progress headers, the summary goes out with the first block: an aggregate's is whole
    ch_client.command(f"CREATE TABLE {ch_database}.big (n UInt64) ENGINE = MergeTree ORDER BY n")
    ch_client.command(f"INSERT INTO {ch_database}.big SELECT number FROM numbers(3000000)")
    _, headers, _, _ = post(store, f"SELECT count() FROM {ch_database}.big WHERE n % 2 = 0")
    assert json.loads(headers["x-clickhouse-summary"])["read_rows"] == "3000000"
    _, headers, _, _ = post(store, f"SELECT n FROM {ch_database}.big", wait_end_of_query="1")
    assert json.loads(headers["x-clickhouse-summary"])["read_rows"] == "3000000"


# -- 9. the query log -------------------------------------------------------------------------------------


def test_every_statement_lands_in_the_query_log(ch_client: Any, store: StoreProcess) -> None:
    tag = uuid.uuid4().hex[:8]
    ok = [f"log-{tag}-{k}" for k in range(2)]
    for k, query_id in enumerate(ok):
        post(store, f"SELECT sum(number) + {k} FROM numbers({1000 + k})", query_id=query_id)
    failed = f"log-{tag}-bad"
    status, _, _, _ = post(store, "SELECT no_such_column", query_id=failed)
    assert status == 404
    ch_client.command("SYSTEM FLUSH LOGS")
    rows = ch_client.query(
        "SELECT query_id, type, user, read_rows, result_rows, normalized_query_hash, exception_code, "
        "query_duration_ms FROM system.query_log WHERE query_id LIKE {p:String} ORDER BY query_id",
        parameters={"p": f"log-{tag}-%"},
    ).result_rows
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {*ok, failed}
    first, second = by_id[ok[0]], by_id[ok[1]]
    assert first[1] == "QueryFinish" and first[2] == "default"
    assert (first[3], first[4], second[3]) == (1000, 1, 1001)
    assert first[5] == second[5]  # the same statement up to literals: one fingerprint
    assert by_id[failed][1] == "ExceptionWhileProcessing" and by_id[failed][6] == 47
    ddl = ch_client.command("SHOW CREATE TABLE mi_system.query_log")
    assert "TTL event_date + toIntervalDay(30)" in ddl


# -- what chDB cannot do answers clearly ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql", ["CREATE USER analyst IDENTIFIED BY 'x'", "CREATE ROLE trader", "GRANT SELECT ON prices TO trader",
            "CREATE ROW POLICY p ON prices USING market = 'ERCOT' TO trader",
            "SHOW CREATE TABLE system.tables"],
)  # fmt: skip
def test_what_chdb_cannot_do_is_refused_with_the_reason(ch_client: Any, sql: str) -> None:
    with pytest.raises(DatabaseError, match=r"embedded store \(chDB\).*NOT_IMPLEMENTED"):
        ch_client.command(sql)


# -- per user: a reader sees and kills only their own queries --------------------------------------------


def test_readers_see_and_kill_only_their_own_queries(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    write_user(users, "default", "admin", "admin-pw")
    write_user(users, "alice", "reader", "a-pw")
    write_user(users, "bob", "reader", "b-pw")
    store = start_store(tmp_path / "store", "--users", str(users))
    try:
        admin = store.client(username="default", password="admin-pw")
        alice = store.client(username="alice", password="a-pw")
        bob = store.client(username="bob", password="b-pw")
        # a reader's query may read at most 1e9 rows: a slow one that reads little (20 s in all)
        slow = "SELECT sum(sleepEachRow(0.05)) FROM numbers(400) SETTINGS max_block_size = 10"
        thread, out = _background(store, slow, query_id="alice-long", user="alice", password="a-pw")
        _wait_running(admin, "alice-long")
        visible = "SELECT query_id FROM system.processes WHERE query_id = 'alice-long'"
        assert bob.query(visible).result_rows == []
        assert alice.query(visible).result_rows == [("alice-long",)]
        assert bob.raw_query("KILL QUERY WHERE query_id = 'alice-long' SYNC") == b""
        assert admin.query(visible).result_rows == [("alice-long",)]
        alice.raw_query("KILL QUERY WHERE query_id = 'alice-long' SYNC")
        _join(thread, "alice's killed query's client")
        assert b"QUERY_WAS_CANCELLED" in out["response"][2]
        admin.command("SYSTEM FLUSH LOGS")
        logged = "SELECT DISTINCT user FROM system.query_log ORDER BY user"
        assert bob.query(logged).result_rows == [("bob",)]
        assert [r[0] for r in admin.query(logged).result_rows] == ["alice", "bob", "default"]
    finally:
        assert store.stop() == 0, store.log_text()[-2000:]


def test_native_rewriter_walks_the_engines_blocks_of_every_common_type(local: Any) -> None:
    """Re-framing a block needs each column's length: checked on the engine's own revision-0 blocks."""
    sql = (
        "SELECT toUInt8(number) u8, toInt256(number) i256, toFloat32(number) f32, toDecimal32(number, 2) d9, "
        "toDecimal128(number, 5) d38, toDate(number) d, toDate32(number) d32, toDateTime(number, 'UTC') t, "
        "toDateTime64(number, 3, 'UTC') t64, generateUUIDv4() id, toIPv4(number) ip4, toIPv6('::1') ip6, "
        "toFixedString('abc', 3) fs, toString(number) s, if(number % 3 = 0, NULL, toString(number)) ns, "
        "[[toUInt8(number)], []] aa, (toUInt8(1), 'x') AS tup, "
        "CAST((1, 'y'), 'Tuple(a UInt8, b String)') nt, "
        "map(toString(number % 4), number) m, toLowCardinality(toString(number % 7)) lc, "
        "toLowCardinality(if(number % 2 = 0, NULL, toString(number % 5))) lcn, "
        "[toLowCardinality(toString(number % 3))] alc, CAST('b', 'Enum8(\\'a\\' = 1, \\'b\\' = 2)') e, "
        "number % 2 = 0 AS flag FROM numbers(100001)"
    )
    stream = local.send_query(sql, "Native")
    blocks = []
    while (chunk := stream.fetch()) is not None:
        blocks.append(chunk.bytes())
    assert len(blocks) >= 2
    for block in blocks:
        # types={} forces the full walk; with nothing to rename, the block must come back unchanged
        assert NativeRewriter(54405, {}).block(block) == BLOCK_INFO + block
        walked = NativeRewriter(54460).block(block)  # one custom-serialization byte per column added
        assert len(walked) == len(BLOCK_INFO) + len(block) + 24
    joined = NativeRewriter(54405, {}).blocks(b"".join(blocks))
    assert joined == b"".join(BLOCK_INFO + b for b in blocks)


# -- a query dies with its client (issue 11) -----------------------------------------------------------


def test_a_query_ends_when_its_client_goes_away(ch_client: Any, store: StoreProcess) -> None:
    import socket

    query_id = f"gone-{uuid.uuid4().hex[:8]}"
    sock = socket.create_connection(("127.0.0.1", store.port))
    body = ENDLESS.encode()
    sock.sendall(
        f"POST /?query_id={query_id} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    _wait_running(ch_client, query_id)
    closing_at = time.time()
    sock.close()  # the tab is closed, the client timed out
    # the time from hang-up to end is measured by benchmarks/store_protect.py (disconnect_scan)
    wait_until(lambda: not _running(ch_client, query_id), f"{query_id} ended after its client left")
    # the engine ended it: the query log has it cancelled, after the hang-up (it ran until then)
    ch_client.command("SYSTEM FLUSH LOGS")
    code, ended = ch_client.query(
        "SELECT exception_code, toUnixTimestamp64Micro(event_time_microseconds) FROM system.query_log "
        "WHERE query_id = {q:String}",
        parameters={"q": query_id},
    ).result_rows[0]
    assert code == 394  # QUERY_WAS_CANCELLED
    assert ended / 1e6 >= closing_at


def test_shutdown_cancels_running_reads(tmp_path: Path) -> None:
    store = start_store(tmp_path / "store")
    try:
        client = store.client()
        thread, out = _background(store, ENDLESS, query_id="runaway")
        _wait_running(client, "runaway")
        # SIGTERM must not wait for the endless read: the process exits (how soon is measured by
        # benchmarks/store_protect.py, shutdown), and the read's client is told it was cancelled
        code = store.stop(timeout=WAIT_S)
        _join(thread, "the cancelled read's client")
        assert code == 0, store.log_text()[-2000:]
        assert b"QUERY_WAS_CANCELLED" in out["response"][2]
    finally:
        if store.alive():
            store.kill9()
