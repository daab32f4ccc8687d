"""The ClickHouse HTTP protocol of the embedded store, through clickhouse-connect and raw HTTP."""

from __future__ import annotations

import decimal
import gzip
import http.client
import json
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import lz4.frame
import numpy as np
import pandas as pd
import pytest
from backports import zstd
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.storeproc import StoreProcess


def request(
    store: StoreProcess,
    params: dict[str, str] | None = None,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request; an iterable body is sent chunked."""
    conn = http.client.HTTPConnection("127.0.0.1", store.port, timeout=120)
    url = path + ("?" + urlencode(params) if params else "")
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, bytes):
        conn.request(method, url, body=body, headers=hdrs, encode_chunked=True)
    else:
        conn.request(method, url, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    out = resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    conn.close()
    return out


def sql(store: StoreProcess, text: str, **params: str) -> bytes:
    status, _, data = request(store, params, text.encode())
    assert status == 200, data.decode(errors="replace")
    return data


# -- basics -------------------------------------------------------------------------------------------


def test_ping_and_get_and_post(store: StoreProcess) -> None:
    assert request(store, method="GET", path="/ping")[2] == b"Ok.\n"
    assert request(store, method="GET")[2] == b"Ok.\n"
    status, headers, data = request(store, {"query": "SELECT 1 + 1"}, method="GET")
    assert (status, data) == (200, b"2\n")
    assert headers["x-clickhouse-format"] == "TabSeparated"
    assert "x-clickhouse-query-id" in headers
    assert sql(store, "SELECT 'a' AS x FORMAT JSONEachRow") == b'{"x":"a"}\n'


def test_query_split_between_url_and_body(store: StoreProcess) -> None:
    # ClickHouse joins the URL's query and the body with a newline
    assert sql(store, "+ 3", query="SELECT 2") == b"5\n"


def test_default_format_and_query_id(store: StoreProcess) -> None:
    status, headers, data = request(
        store, {"default_format": "CSVWithNames", "query_id": "q-42"}, b"SELECT 1 AS a"
    )
    assert status == 200
    assert data == b'"a"\n1\n'
    assert headers["x-clickhouse-query-id"] == "q-42"
    assert headers["x-clickhouse-format"] == "CSVWithNames"


def test_get_is_read_only(store: StoreProcess, ch_database: str) -> None:
    status, headers, data = request(
        store, {"query": f"CREATE TABLE {ch_database}.x (a UInt8) ENGINE=Memory"}, method="GET"
    )
    assert status == 500
    assert headers["x-clickhouse-exception-code"] == "164"
    assert b"method GET implies readonly" in data


def test_database_param_and_settings_per_request(store: StoreProcess, ch_database: str) -> None:
    sql(store, "CREATE TABLE x (a UInt8) ENGINE = Memory", database=ch_database)
    assert sql(store, "SELECT currentDatabase()", database=ch_database) == f"{ch_database}\n".encode()
    assert sql(store, "SELECT currentDatabase()") == b"default\n"
    # a setting passed as a URL parameter applies to that request only (pooled connections are reset)
    for _ in range(3):
        assert sql(store, "SELECT getSetting('max_threads')", max_threads="3") == b"3\n"
    assert sql(store, "SELECT getSetting('max_threads') = 3") == b"0\n"
    assert sql(store, "SELECT getSetting('max_block_size')", max_block_size="1234") == b"1234\n"
    assert sql(store, "SELECT getSetting('max_block_size') = 1234") == b"0\n"


def test_query_parameters(store: StoreProcess) -> None:
    assert sql(store, "SELECT {a:UInt32} * 2, {s:String}", param_a="21", param_s="x y") == b"42\tx y\n"


def test_sessions_keep_state_and_sessionless_requests_do_not(store: StoreProcess) -> None:
    sid = "test-session-1"
    sql(store, "SET max_threads = 1", session_id=sid)
    sql(store, "CREATE TEMPORARY TABLE tmp (a UInt8)", session_id=sid)
    sql(store, "INSERT INTO tmp VALUES (7)", session_id=sid)
    assert sql(store, "SELECT getSetting('max_threads'), sum(a) FROM tmp", session_id=sid) == b"1\t7\n"
    # a URL setting overrides the session's value for one request, then the session's value is back
    assert sql(store, "SELECT getSetting('max_threads')", session_id=sid, max_threads="2") == b"2\n"
    assert sql(store, "SELECT getSetting('max_threads')", session_id=sid) == b"1\n"
    # a session-less SET does not leak into later requests
    for _ in range(5):
        sql(store, "SET max_block_size = 77")
    assert sql(store, "SELECT getSetting('max_block_size') = 77") == b"0\n"
    status, headers, _ = request(store, {"session_id": "no-such", "session_check": "1"}, b"SELECT 1")
    assert (status, headers["x-clickhouse-exception-code"]) == (500, "372")


def test_session_is_locked_by_a_concurrent_request(store: StoreProcess) -> None:
    sid = "test-session-locked"
    slow = threading.Thread(target=sql, args=(store, "SELECT sleep(1.5)"), kwargs={"session_id": sid})
    slow.start()
    time.sleep(0.5)
    status, headers, data = request(store, {"session_id": sid}, b"SELECT 1")
    slow.join()
    assert headers["x-clickhouse-exception-code"] == "373", data
    assert status == 500


# -- data round trips through clickhouse-connect -----------------------------------------------------------


def test_dataframe_round_trip_types(ch_client: Any, ch_database: str) -> None:
    ch_client.command(
        f"""CREATE TABLE {ch_database}.rt (
            ts DateTime64(3, 'UTC'), loc LowCardinality(String), price Nullable(Float64),
            amount Decimal(18, 4), tags Array(String), parts Map(String, Float64), n Nullable(Int32)
        ) ENGINE = MergeTree ORDER BY (loc, ts)"""
    )
    # a DST change in Europe: the UTC stamps must come back identical and tz-aware
    ts = pd.date_range("2024-03-31 00:00", periods=6, freq="30min", tz="Europe/Berlin").tz_convert("UTC")
    df = pd.DataFrame(
        {
            "ts": ts,
            "loc": ["DE-LU", "FR", "DE-LU", "NL", "FR", "DE-LU"],
            "price": [55.25, None, -12.5, 0.0, 1e4, None],
            "amount": [decimal.Decimal(v) for v in ("1.2345", "-7.0001", "0", "99999.9999", "3.5", "0.0001")],
            "tags": [["da"], [], ["rt", "final"], ["x"], [], ["a", "b", "c"]],
            "parts": [{"energy": 50.0, "loss": 5.25}, {}, {"energy": -12.5}, {}, {"c": 1.0}, {}],
            "n": pd.array([1, None, 3, None, 5, 6], dtype="Int32"),
        }
    )
    summary = ch_client.insert_df(f"{ch_database}.rt", df)
    assert summary.written_rows == 6
    out = ch_client.query_df(f"SELECT * FROM {ch_database}.rt ORDER BY ts, loc")
    expected = df.sort_values(["ts", "loc"]).reset_index(drop=True)
    assert str(out["ts"].dtype) in ("datetime64[ms, UTC]", "datetime64[ns, UTC]")
    assert (out["ts"].dt.tz is not None) and (out["ts"] == expected["ts"]).all()
    assert list(out["loc"]) == list(expected["loc"])
    pd.testing.assert_series_equal(out["price"], expected["price"], check_names=False)
    assert [decimal.Decimal(str(v)) for v in out["amount"]] == list(expected["amount"])
    assert [list(v) for v in out["tags"]] == list(expected["tags"])
    assert [dict(v) for v in out["parts"]] == list(expected["parts"])
    assert out["n"].isna().tolist() == expected["n"].isna().tolist()
    types = dict(
        ch_client.query(
            f"SELECT name, type FROM system.columns WHERE database = '{ch_database}' AND table = 'rt'"
        ).result_rows
    )
    assert types["loc"] == "LowCardinality(String)" and types["ts"] == "DateTime64(3, 'UTC')"


def test_insert_is_compressed_by_default_and_numpy_round_trip(store: StoreProcess, ch_database: str) -> None:
    client = store.client()  # clickhouse-connect defaults: compress=True
    assert client.write_compression in ("lz4", "zstd", "gzip", "br")
    client.command(f"CREATE TABLE {ch_database}.big (i UInt64, x Float64) ENGINE = MergeTree ORDER BY i")
    n = 300_000
    rng = np.random.default_rng(7)
    x = rng.normal(size=n)
    client.insert(
        f"{ch_database}.big",
        [np.arange(n, dtype=np.uint64), x],
        column_names=["i", "x"],
        column_oriented=True,
    )
    got = client.query_df(f"SELECT i, x FROM {ch_database}.big ORDER BY i")
    np.testing.assert_array_equal(got["i"].to_numpy(dtype=np.uint64), np.arange(n))
    np.testing.assert_array_equal(got["x"].to_numpy(), x)  # bit-exact


# -- insert formats, transfer and content codings (raw HTTP) --------------------------------------------

FORMATS = ["Native", "RowBinary", "Parquet", "Arrow", "CSV", "TSV", "JSONEachRow"]
SOURCE = (
    "SELECT number AS i, toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalMinute(5 * number) AS ts, "
    "if(number % 3 = 0, NULL, number / 4) AS p, toString(number % 7) AS s FROM numbers(20000)"
)


def _compress(data: bytes, coding: str) -> bytes:
    if coding == "lz4":
        # two frames, as clickhouse-connect sends one frame per block
        half = len(data) // 2
        return lz4.frame.compress(data[:half]) + lz4.frame.compress(data[half:])
    if coding == "zstd":
        return zstd.compress(data)
    if coding == "gzip":
        return gzip.compress(data)
    return data


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("coding", "chunked"), [("", False), ("lz4", True), ("zstd", False), ("gzip", True)])
def test_insert_formats(store: StoreProcess, ch_database: str, fmt: str, coding: str, chunked: bool) -> None:
    table = f"{ch_database}.f_{fmt.lower()}"
    sql(
        store,
        f"CREATE TABLE {table} (i UInt64, ts DateTime64(3, 'UTC'), p Nullable(Float64), s String) "
        "ENGINE = MergeTree ORDER BY i",
    )
    payload = sql(store, f"{SOURCE} FORMAT {fmt}")
    body = _compress(payload, coding)
    headers = {"Content-Encoding": coding} if coding else {}
    sent: bytes | Iterable[bytes] = body
    if chunked:
        sent = [body[k : k + 7000] for k in range(0, len(body), 7000)]
    status, resp_headers, data = request(store, {"query": f"INSERT INTO {table} FORMAT {fmt}"}, sent, headers)
    assert status == 200, data
    assert json.loads(resp_headers["x-clickhouse-summary"])["written_rows"] == "20000"
    check = f"SELECT count(), sum(i), countIf(p IS NULL), max(ts), sum(toUInt64(s)) FROM {table}"
    want = sql(
        store, f"SELECT count(), sum(i), countIf(p IS NULL), max(ts), sum(toUInt64(s)) FROM ({SOURCE})"
    )
    assert sql(store, check) == want


def test_insert_statement_and_data_in_one_body(store: StoreProcess, ch_database: str) -> None:
    sql(store, f"CREATE TABLE {ch_database}.b (a UInt8, s String) ENGINE = Memory")
    body = f"INSERT INTO {ch_database}.b FORMAT CSV\n1,\"FORMAT x\"\n2,'y'\n".encode()
    status, _, data = request(store, None, body)
    assert status == 200, data
    assert sql(store, f"INSERT INTO {ch_database}.b VALUES (3, 'z')") == b""
    assert sql(
        store, f"SELECT groupArray(a), groupArray(s) FROM (SELECT * FROM {ch_database}.b ORDER BY a)"
    ) == (b"[1,2,3]\t['FORMAT x','\\'y\\'','z']\n")


@pytest.mark.parametrize("coding", ["lz4", "zstd", "gzip", "deflate"])
def test_compressed_responses(store: StoreProcess, coding: str) -> None:
    query = "SELECT number FROM numbers(200000) FORMAT RowBinary"
    status, headers, data = request(
        store, {"enable_http_compression": "1"}, query.encode(), {"Accept-Encoding": f"{coding}, gzip"}
    )
    assert status == 200
    assert headers["content-encoding"] == coding
    if coding == "lz4":
        raw = lz4.frame.decompress(data)
    elif coding == "zstd":
        raw = zstd.decompress(data)
    elif coding == "gzip":
        raw = gzip.decompress(data)
    else:
        import zlib

        raw = zlib.decompress(data)
    assert np.array_equal(np.frombuffer(raw, dtype="<u8"), np.arange(200000, dtype=np.uint64))
    assert len(data) < 0.6 * len(raw)
    # without enable_http_compression the response is plain, as in ClickHouse
    _, headers, _ = request(store, None, query.encode(), {"Accept-Encoding": coding})
    assert "content-encoding" not in headers


def test_large_result_is_streamed_not_buffered(store: StoreProcess) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", store.port, timeout=120)
    conn.request("POST", "/", body=b"SELECT number FROM numbers(60000000) FORMAT RowBinary")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    rss_before = _rss_mb(store.proc.pid)
    total, peak = 0, 0.0
    while True:
        piece = resp.read(8 << 20)
        if not piece:
            break
        total += len(piece)
        peak = max(peak, _rss_mb(store.proc.pid))
    conn.close()
    assert total == 60_000_000 * 8  # 480 MB went through
    assert peak - rss_before < 250, f"server grew by {peak - rss_before:.0f} MB while streaming 480 MB"


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_wait_end_of_query_buffers_and_reports_errors_as_status(store: StoreProcess) -> None:
    status, headers, data = request(store, {"wait_end_of_query": "1"}, b"SELECT number FROM numbers(10)")
    assert status == 200 and data == b"".join(b"%d\n" % i for i in range(10))
    assert headers["content-length"] == str(len(data))
    status, headers, data = request(
        store, {"wait_end_of_query": "1"}, b"SELECT throwIf(number = 900000) FROM numbers(1000000)"
    )
    assert status == 500 and headers["x-clickhouse-exception-code"] == "395"


# -- errors ---------------------------------------------------------------------------------------------


def test_errors_are_clickhouse_style(store: StoreProcess, ch_client: Any) -> None:
    status, headers, data = request(store, None, b"SELEC 1")
    assert status == 400 and headers["x-clickhouse-exception-code"] == "62"
    assert data.startswith(b"Code: 62. DB::Exception: Syntax error") and b"(SYNTAX_ERROR)" in data
    status, headers, data = request(store, None, b"SELECT * FROM no_such_table")
    assert status == 404 and headers["x-clickhouse-exception-code"] == "60"
    with pytest.raises(DatabaseError, match=r"Code: 60.*no_such_table"):
        ch_client.query("SELECT * FROM no_such_table")
    with pytest.raises(DatabaseError, match="Code: 62"):
        ch_client.command("CREAT TABLE x")
    assert ch_client.command("SELECT 1") == 1  # still serving


def test_mid_stream_error_reaches_the_client(store: StoreProcess, ch_client: Any) -> None:
    q = "SELECT number, throwIf(number = 3000000, 'boom at three million') FROM numbers(5000000)"
    status, headers, data = request(store, None, (q + " FORMAT RowBinary").encode())
    assert status == 200  # the first rows were already sent
    tag = headers["x-clickhouse-exception-tag"].encode()
    assert b"__exception__\r\n" + tag in data and b"boom at three million" in data
    with pytest.raises(DatabaseError, match="boom at three million"):
        ch_client.query_np(q)
    assert ch_client.command("SELECT 2") == 2


def test_garbage_bodies_get_errors_and_the_server_stays_up(store: StoreProcess, ch_database: str) -> None:
    sql(store, f"CREATE TABLE {ch_database}.g (a UInt64, s String) ENGINE = MergeTree ORDER BY a")
    insert = {"query": f"INSERT INTO {ch_database}.g FORMAT Native"}
    rng = np.random.default_rng(1)
    garbage = rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    for body, headers in [
        (garbage, {}),
        (garbage, {"Content-Encoding": "lz4"}),  # not an lz4 frame
        (lz4.frame.compress(b"x" * 1000)[:-9], {"Content-Encoding": "lz4"}),  # truncated frame
        (b"1,2,3\n", {"Content-Encoding": "br-unknown"}),
    ]:
        status, resp_headers, data = request(store, insert, body, headers)
        assert status >= 400, data
        assert data.startswith(b"Code: ") and "x-clickhouse-exception-code" in resp_headers
    status, _, data = request(
        store, {"query": f"INSERT INTO {ch_database}.g FORMAT CSV"}, b"1,ok\nnot-a-number,x\n"
    )
    assert (status == 400 and b"Code: 27" in data) or b"CANNOT_PARSE" in data
    assert sql(store, "SELECT 1") == b"1\n"
    status, _, data = request(store, None, b"\xff\xfe SELECT")
    assert status >= 400


def test_unknown_path_and_native_compression_are_refused(store: StoreProcess) -> None:
    status, headers, data = request(store, None, b"SELECT 1", path="/nope")
    assert status == 500 and b"no handler" in data
    status, headers, data = request(store, {"compress": "1"}, b"SELECT 1")
    assert status == 501 and headers["x-clickhouse-exception-code"] == "48"


def test_idle_sessions_expire(store: StoreProcess) -> None:
    sid = "test-session-expiring"
    sql(store, "CREATE TEMPORARY TABLE tmp (a UInt8)", session_id=sid, session_timeout="1")
    # each request sets the session's timeout (default 60 s), as in ClickHouse
    assert sql(store, "SELECT count() FROM tmp", session_id=sid, session_timeout="1") == b"0\n"
    time.sleep(3.5)  # timeout 1 s, reaper every 1 s
    status, headers, _ = request(store, {"session_id": sid, "session_check": "1"}, b"SELECT 1")
    assert (status, headers["x-clickhouse-exception-code"]) == (500, "372")
