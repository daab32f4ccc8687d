"""The ClickHouse HTTP interface over an embedded chDB engine.

One process owns a chDB data directory and serves ClickHouse's HTTP protocol, so that ``clickhouse-connect``
(and curl, and any ClickHouse HTTP client) works against it unchanged, with its defaults: queries by GET
and POST, ``INSERT ... FORMAT X`` with streamed bodies (chunked or not, compressed or not), results
streamed in the requested format, sessions, settings as URL parameters, ClickHouse-style errors.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from tempfile import SpooledTemporaryFile
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from marketintel.store.endpoint.auth import User, Users, credentials
from marketintel.store.endpoint.body import BodyReader
from marketintel.store.endpoint.codecs import ENCODERS, Encoder, choose_encoding
from marketintel.store.endpoint.engine import Conn, Engine
from marketintel.store.endpoint.errors import ClickHouseError
from marketintel.store.endpoint.sqltext import (
    IncompleteError,
    InsertSplit,
    Kind,
    classify,
    external_access,
    first_keyword,
    iter_tokens,
    output_format,
    split_insert,
)

log = logging.getLogger("marketintel.store.endpoint")

#: URL parameters that steer the HTTP layer; every other parameter is a ClickHouse setting.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "default_format",
        "user",
        "password",
        "quota_key",
        "compress",
        "decompress",
        "enable_http_compression",
        "http_zlib_compression_level",
        "wait_end_of_query",
        "http_wait_end_of_query",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "buffer_size",
        "http_response_buffer_size",
        "stacktrace",
        "role",
        "client_protocol_version",
    }
)
CONTENT_TYPES = {
    "tabseparated": "text/tab-separated-values; charset=UTF-8",
    "tsv": "text/tab-separated-values; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8; header=absent",
    "csvwithnames": "text/csv; charset=UTF-8; header=present",
    "json": "application/json; charset=UTF-8",
    "jsoneachrow": "application/x-ndjson; charset=UTF-8",
    "jsoncompact": "application/json; charset=UTF-8",
}
#: statements whose results are streamed chunk by chunk (chDB streams queries, not SHOW/DESCRIBE/...)
STREAMED = frozenset({"SELECT", "WITH"})
SPOOL_MEMORY = 64 << 20  # wait_end_of_query buffers this much in memory, the rest on disk [bytes]


@dataclass(frozen=True)
class Limits:
    """Bounds of the endpoint.

    Attributes
    ----------
    max_request_bytes : int
        Largest request body [bytes] (decompressed).
    max_query_bytes : int
        Largest query text [bytes] (the statement, without INSERT data).
    max_concurrent_queries : int
        Requests executed at once; more are refused with TOO_MANY_SIMULTANEOUS_QUERIES.
    max_session_timeout_s : float
        Largest ``session_timeout`` a client may ask for [s].
    shutdown_grace_s : float
        How long SIGTERM waits for running requests to finish [s].
    """

    max_request_bytes: int = 8 << 30
    max_query_bytes: int = 16 << 20
    max_concurrent_queries: int = 64
    max_session_timeout_s: float = 3600.0
    shutdown_grace_s: float = 60.0


class EndpointServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the engine, the users and the limits."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], engine: Engine, users: Users, limits: Limits) -> None:
        super().__init__(address, Handler)
        self.engine = engine
        self.users = users
        self.limits = limits
        self.slots = threading.BoundedSemaphore(limits.max_concurrent_queries)
        self.shutting_down = threading.Event()
        self._active = 0
        self._active_cv = threading.Condition()
        self.started = time.time()
        self.requests_served = 0

    def enter(self) -> None:
        """Count a request in."""
        with self._active_cv:
            self._active += 1

    def leave(self) -> None:
        """Count a request out."""
        with self._active_cv:
            self._active -= 1
            self.requests_served += 1
            self._active_cv.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request runs; return False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._active_cv:
            while self._active > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._active_cv.wait(left)
        return True

    @property
    def active(self) -> int:
        """Requests running now."""
        return self._active


class Handler(BaseHTTPRequestHandler):
    """One HTTP connection; each request runs one statement."""

    protocol_version = "HTTP/1.1"
    server_version = "marketintel-store"
    sys_version = ""
    server: EndpointServer
    timeout = 3600
    # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm and the client's
    # delayed ACK add ~40 ms to every small response. A buffered writer (flushed after each response by
    # the base class) then keeps the number of segments small.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:
        """Send access logs to the module logger (debug level)."""
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        """GET: ping, or a read-only query in the URL."""
        self._handle("GET")

    def do_POST(self) -> None:
        """POST: any statement; the query in the URL and/or the body."""
        self._handle("POST")

    # -- plumbing -------------------------------------------------------------------------------------
    def _send_plain(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, err: ClickHouseError) -> None:
        engine = self.server.engine
        if not err.name:  # the engine's message carried only the code
            err.name = next((n for n, c in engine.error_codes.items() if c == err.code), "")
        log.info("error %s %s: %s", err.code, err.name, err.message.splitlines()[0][:300])
        self._send_plain(
            err.http_status,
            err.render(engine.version),
            {"X-ClickHouse-Exception-Code": str(err.code), "X-ClickHouse-Server-Display-Name": "marketintel"},
        )

    def _common_headers(self, query_id: str, fmt: str | None) -> None:
        engine = self.server.engine
        self.send_header("X-ClickHouse-Server-Display-Name", "marketintel")
        self.send_header("X-ClickHouse-Query-Id", query_id)
        self.send_header("X-ClickHouse-Timezone", engine.timezone)
        if fmt:
            self.send_header("X-ClickHouse-Format", fmt)
            self.send_header("Content-Type", CONTENT_TYPES.get(fmt.lower(), "application/octet-stream"))

    def _write_chunk(self, data: bytes | memoryview) -> None:
        if len(data):
            self.wfile.write(b"%x\r\n" % len(data))
            self.wfile.write(data)
            self.wfile.write(b"\r\n")

    # -- the request ----------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        server = self.server
        url = urlsplit(self.path)
        if url.path in ("/ping", "/replicas_status") or (
            method == "GET" and url.path == "/" and not url.query
        ):
            self._send_plain(200, "Ok.\n")
            return
        if url.path not in ("/", "/query"):
            self.close_connection = True
            self._send_error(
                ClickHouseError.named("UNSUPPORTED_METHOD", f"There is no handler for {url.path}")
            )
            return
        if server.shutting_down.is_set():
            self.close_connection = True
            self._send_plain(
                503, "Code: 439. DB::Exception: The server is shutting down. (CANNOT_SCHEDULE_TASK)\n"
            )
            return
        server.enter()
        body: BodyReader | None = None
        try:
            headers = {k.lower(): v for k, v in self.headers.items()}
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            body = (
                BodyReader(self.rfile, headers, server.limits.max_request_bytes) if method == "POST" else None
            )
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            if method == "GET" and has_body:
                self.close_connection = True  # a GET body is ignored, so the connection cannot be reused
            if body is not None and headers.get("content-type", "").lower().startswith("multipart/form-data"):
                params.update(_form_fields(body, headers["content-type"], server.limits.max_query_bytes))
                body = None
            user = server.users.authenticate(*credentials(headers, params))
            if not server.slots.acquire(blocking=False):
                raise ClickHouseError.named(
                    "TOO_MANY_SIMULTANEOUS_QUERIES",
                    f"Too many simultaneous queries. Maximum: {server.limits.max_concurrent_queries}",
                )
            try:
                self._run(method, params, headers, body, user)
            finally:
                server.slots.release()
        except ClickHouseError as err:
            if body is not None and not body.consumed:
                self.close_connection = True  # unread body: the connection cannot carry another request
            self._send_error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug: answer like ClickHouse does, log the traceback
            log.exception("unexpected error")
            self.close_connection = True
            self._send_error(ClickHouseError.named("UNKNOWN_EXCEPTION", f"{type(exc).__name__}: {exc}"))
        finally:
            server.leave()

    def _statement(
        self, params: dict[str, str], body: BodyReader | None
    ) -> tuple[str, Kind, InsertSplit | None, bytes]:
        """Return (sql, kind, insert split, leftover data bytes) from the URL query and the body's start."""
        limit = self.server.limits.max_query_bytes
        url_query = params.get("query", "")
        buf = bytearray(url_query.encode())
        if body is None:
            if not buf:
                raise ClickHouseError.named("SYNTAX_ERROR", "Empty query")
            sql = buf.decode()
            return sql, classify(sql), None, b""
        if buf:
            buf += b"\n"
        eof = False

        def more() -> None:
            nonlocal eof
            piece = body.read()
            if piece:
                buf.extend(piece)
            else:
                eof = True

        while True:  # enough text to know the statement's first word
            first = next(iter_tokens(buf[:limit].decode("latin-1")), None) if buf else None
            if eof or (first is not None and first.end < len(buf)):
                break
            more()
        kind = classify(bytes(buf[:4096]).decode("latin-1"))
        if kind is Kind.INSERT:
            while True:
                try:
                    split = split_insert(bytes(buf[:limit]).decode("latin-1"), eof or len(buf) >= limit)
                except IncompleteError:
                    if len(buf) >= limit:
                        raise ClickHouseError.named(
                            "QUERY_IS_TOO_LARGE", f"INSERT statement is longer than {limit} bytes"
                        ) from None
                    more()
                    continue
                break
            if split is not None:
                data = bytes(buf[split.data_offset :])
                return split.statement.encode("latin-1").decode(), kind, split, data
        while not eof:
            if len(buf) > limit:
                raise ClickHouseError.named(
                    "QUERY_IS_TOO_LARGE",
                    f"Query is too large ({len(buf)} bytes); max_query_bytes is {limit}",
                )
            more()
        try:
            sql = buf.decode()
        except UnicodeDecodeError:
            raise ClickHouseError.named("SYNTAX_ERROR", "Query is not valid UTF-8 text") from None
        if not sql.strip():
            raise ClickHouseError.named("SYNTAX_ERROR", "Empty query")
        return sql, kind, None, b""

    def _run(
        self,
        method: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: BodyReader | None,
        user: User,
    ) -> None:
        server = self.server
        sql, kind, split, data = self._statement(params, body)
        if method == "GET" and kind in (Kind.INSERT, Kind.WRITE, Kind.DDL):
            raise ClickHouseError.named(
                "READONLY",
                "Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. "
                "You should use method POST for modifying queries",
            )
        user.authorize(kind)
        if user.role != "admin":
            reach = external_access(sql)
            if reach is not None:
                raise ClickHouseError.named(
                    "ACCESS_DENIED",
                    f"{user.name}: Not enough privileges. {reach} reaches the server's files, network or "
                    f"processes, which role '{user.role}' may not use; ask an admin user",
                )
        role = (
            "reader" if method == "GET" else user.role
        )  # GET runs on read-only connections, as in ClickHouse
        if params.get("compress") == "1" or params.get("decompress") == "1":
            raise ClickHouseError.named(
                "NOT_IMPLEMENTED",
                "ClickHouse native block compression (compress=1/decompress=1) is not supported by this "
                "endpoint; use HTTP compression (enable_http_compression=1, Content-Encoding) instead",
            )
        query_id = params.get("query_id") or str(uuid.uuid4())
        database = params.get("database") or headers.get("x-clickhouse-database") or "default"
        settings = {
            k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")
        }
        qparams = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        session_id = params.get("session_id")
        ctx: AbstractContextManager[Conn]
        if session_id:
            timeout = _float(params.get("session_timeout", "60"), "session_timeout")
            timeout = min(timeout, server.limits.max_session_timeout_s)
            if params.get("session_check") == "1" and not server.engine.has_session(session_id):
                raise ClickHouseError.named("SESSION_NOT_FOUND", f"Session {session_id} not found")
            ctx = server.engine.session(session_id, user.name, role, timeout)
        else:
            ctx = server.engine.connection(role)
        with ctx as conn:
            try:
                conn.prepare(database, settings)
            except ClickHouseError:
                raise
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
            if split is not None:
                assert body is not None
                self._insert(conn, split, data, body, query_id)
            else:
                self._query(conn, sql, kind, params, headers, qparams, query_id, session_id is not None)

    def _insert(self, conn: Conn, split: InsertSplit, data: bytes, body: BodyReader, query_id: str) -> None:
        t0 = time.perf_counter()
        try:
            ins = conn.raw.send_insert(split.statement, split.fmt)
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        try:
            if data:
                ins.append(data)
            while piece := body.read():
                ins.append(piece)
            result = ins.finish()
        except ClickHouseError:
            _cancel(ins)
            raise
        except Exception as exc:
            _cancel(ins)
            raise ClickHouseError.from_engine(exc) from None
        elapsed_ns = int((time.perf_counter() - t0) * 1e9)
        summary = {
            "read_rows": "0",
            "read_bytes": "0",
            "written_rows": str(result.rows_written),
            "written_bytes": str(result.bytes_written),
            "total_rows_to_read": "0",
            "result_rows": str(result.rows_written),
            "result_bytes": str(result.bytes_written),
            "elapsed_ns": str(elapsed_ns),
        }
        self.send_response(200)
        self._common_headers(query_id, None)
        self.send_header("X-ClickHouse-Summary", json.dumps(summary, separators=(",", ":")))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _query(
        self,
        conn: Conn,
        sql: str,
        kind: Kind,
        params: dict[str, str],
        headers: dict[str, str],
        qparams: dict[str, str],
        query_id: str,
        in_session: bool,
    ) -> None:
        fmt = output_format(sql) or params.get("default_format") or headers.get("x-clickhouse-format")
        fmt = fmt or "TabSeparated"
        try:
            stream: Any = None
            if first_keyword(sql) in STREAMED:
                try:
                    stream = conn.raw.send_query(sql, fmt, params=qparams)
                except Exception as exc:
                    if "Streaming query is not supported" not in str(exc):
                        raise
            if stream is not None:
                first = stream.fetch()
            else:  # the engine streams only SELECTs; other statements answer in one piece
                first = conn.raw.query(sql, fmt, params=qparams)
                first = first if first is not None and first.bytes() else None
                stream = _Done()
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        if kind is Kind.SESSION:
            self._after_session_statement(conn, sql, in_session)
        elif not in_session and "TEMPORARY" in sql.upper():
            conn.dirty = True
        encoding = None
        if params.get("enable_http_compression") == "1":
            encoding = choose_encoding(headers.get("accept-encoding"))
        result_fmt = fmt if kind is Kind.READ or first is not None else None
        if params.get("wait_end_of_query") == "1" or params.get("http_wait_end_of_query") == "1":
            self._send_buffered(stream, first, encoding, query_id, result_fmt)
            return
        if first is None:
            self.send_response(200)
            self._common_headers(query_id, result_fmt)
            self.send_header("X-ClickHouse-Summary", _summary(0, 0))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        tag = secrets.token_hex(8)
        enc: Encoder | None = ENCODERS[encoding]() if encoding else None
        self.send_response(200)
        self._common_headers(query_id, result_fmt)
        self.send_header("X-ClickHouse-Exception-Tag", tag)
        self.send_header("X-ClickHouse-Summary", _summary(first.rows_read(), first.bytes_read()))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in _chunks(stream, first):
                view = chunk.get_memview().view()
                self._write_chunk(enc.compress(view) if enc else view)
        except (BrokenPipeError, ConnectionResetError):
            _cancel(stream)
            conn.dirty = True
            raise
        except Exception as exc:  # an error after the first row: ClickHouse's in-band exception block
            err = ClickHouseError.from_engine(exc)
            text = err.render(self.server.engine.version).encode()
            block = b"__exception__\r\n%s\r\n%s\n%d %s\r\n__exception__\r\n" % (
                tag.encode(),
                text,
                len(text),
                tag.encode(),
            )
            self._write_chunk(enc.compress(block) if enc else block)
            log.info("error mid-stream %s: %s", err.code, err.message[:200])
        if enc:
            self._write_chunk(enc.finish())
        self.wfile.write(b"0\r\n\r\n")

    def _send_buffered(
        self, stream: Any, first: Any, encoding: str | None, query_id: str, fmt: str | None
    ) -> None:
        """wait_end_of_query=1: run the query to its end before answering, so errors arrive as statuses."""
        with SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
            enc: Encoder | None = ENCODERS[encoding]() if encoding else None
            rows = 0
            try:
                for chunk in _chunks(stream, first):
                    rows += chunk.rows_read()
                    view = chunk.get_memview().view()
                    spool.write(enc.compress(view) if enc else view)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
            if enc:
                spool.write(enc.finish())
            size = spool.tell()
            spool.seek(0)
            self.send_response(200)
            self._common_headers(query_id, fmt)
            self.send_header("X-ClickHouse-Summary", _summary(rows, 0))
            if encoding and size:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            while piece := spool.read(1 << 20):
                self.wfile.write(piece)

    def _after_session_statement(self, conn: Conn, sql: str, in_session: bool) -> None:
        """Track what SET and USE changed; outside a session they must not leak into the pool."""
        if not in_session:
            conn.dirty = True
            return
        toks = [t for t in iter_tokens(sql)]
        head = toks[0].text.upper() if toks else ""
        if head == "USE" and len(toks) > 1:
            conn.database = toks[1].text.strip('`"')
        elif head == "SET":
            names = [
                toks[i - 1].text
                for i in range(2, len(toks))
                if toks[i].text == "=" and toks[i - 1].kind == "word"
            ]
            conn.forget(names)


def _form_fields(body: BodyReader, content_type: str, limit: int) -> dict[str, str]:
    """Read a multipart/form-data body (clickhouse-connect sends large bound parameters this way)."""
    data = bytearray()
    while piece := body.read():
        data += piece
        if len(data) > limit:
            raise ClickHouseError.named("QUERY_IS_TOO_LARGE", f"Form body is larger than {limit} bytes")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + bytes(data)
    )
    fields: dict[str, str] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        if part.get_filename():
            raise ClickHouseError.named(
                "NOT_IMPLEMENTED",
                f"external data tables (form file {name!r}) are not supported by this endpoint; insert the "
                "data into a temporary table in a session instead",
            )
        payload = part.get_payload(decode=True)
        fields[name] = payload.decode() if isinstance(payload, bytes) else str(payload)
    return fields


class _Done:
    """A finished stream (for statements answered in one piece)."""

    def fetch(self) -> None:
        return None

    def cancel(self) -> None:
        return None


def _chunks(stream: Any, first: Any) -> Iterator[Any]:
    chunk = first
    while chunk is not None:
        yield chunk
        chunk = stream.fetch()


def _cancel(obj: Any) -> None:
    with contextlib.suppress(Exception):  # cancelling is best effort
        obj.cancel()


def _summary(rows: int, nbytes: int) -> str:
    return json.dumps(
        {
            "read_rows": str(rows),
            "read_bytes": str(nbytes),
            "written_rows": "0",
            "written_bytes": "0",
            "total_rows_to_read": str(rows),
            "result_rows": str(rows),
            "result_bytes": str(nbytes),
        },
        separators=(",", ":"),
    )


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ClickHouseError.named(
            "BAD_ARGUMENTS", f"{name} must be a number of seconds, got {value!r}"
        ) from None
