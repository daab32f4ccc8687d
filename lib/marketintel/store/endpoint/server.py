"""The ClickHouse HTTP interface over an embedded chDB engine.

One process owns a chDB data directory and serves ClickHouse's HTTP protocol, so that ``clickhouse-connect``
(and curl, and any ClickHouse HTTP client) works against it unchanged, with its defaults: queries by GET
and POST, ``INSERT ... FORMAT X`` with streamed bodies (chunked or not, compressed or not), results
streamed in the requested format, sessions, settings as URL parameters, ClickHouse-style errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.parser
import email.policy
import itertools
import json
import logging
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from tempfile import SpooledTemporaryFile
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from marketintel.access.policy import ALL_ROWS
from marketintel.store.endpoint import results, screen
from marketintel.store.endpoint.auditlog import AuditWriter, names_audit_table
from marketintel.store.endpoint.auth import GRANTED_INSERT_SETTINGS, User, Users, credentials
from marketintel.store.endpoint.body import BodyReader
from marketintel.store.endpoint.codecs import ENCODERS, Encoder, choose_encoding
from marketintel.store.endpoint.engine import Conn, Engine
from marketintel.store.endpoint.entitle import Entitlements
from marketintel.store.endpoint.errors import ClickHouseError
from marketintel.store.endpoint.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from marketintel.store.endpoint.metrics import EndpointMetrics
from marketintel.store.endpoint.querylog import TABLE as QUERY_LOG_TABLE
from marketintel.store.endpoint.querylog import Entry, QueryLog, now
from marketintel.store.endpoint.running import Running, RunningQueries, sql_string, strip_tag, tag_comment
from marketintel.store.endpoint.sqltext import (
    IncompleteError,
    InsertSplit,
    KillQuery,
    Kind,
    classify,
    external_access,
    first_keyword,
    iter_tokens,
    output_format,
    parse_kill_query,
    replace_tables,
    settings_assignments,
    split_insert,
    strip_format,
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
        "execute_as",
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
DISK_CHECK_EVERY = 64 << 20  # a streamed insert re-checks the free disk space after this many bytes
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
    min_free_disk_bytes : int
        Free space the store's disk must keep [bytes]: an insert that would go below it is refused
        (NOT_ENOUGH_SPACE) before it starts, and stopped if the disk fills while it arrives.
    query_log_ttl_days : int
        How long the query log (``system.query_log`` through the endpoint) keeps a row [days]; 0 keeps
        no query log.
    """

    max_request_bytes: int = 8 << 30
    max_query_bytes: int = 16 << 20
    max_concurrent_queries: int = 64
    max_session_timeout_s: float = 3600.0
    shutdown_grace_s: float = 60.0
    min_free_disk_bytes: int = 1 << 30
    query_log_ttl_days: int = 30


class EndpointServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the engine, the users and the limits."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        engine: Engine,
        users: Users,
        limits: Limits,
        query_log: QueryLog | None = None,
        covered: Iterable[str] = ("default",),
        audit: AuditWriter | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.engine = engine
        #: the audit trail's writer (None: no audit trail, for embedded uses without one)
        self.audit = audit
        #: each user's identity on the engine (entitlements compiled from the rules in the store)
        self.entitlements = Entitlements(engine, covered)
        self._databases: tuple[float, frozenset[str]] = (0.0, frozenset())
        self.running = RunningQueries()
        self._user_lock = threading.Lock()
        self._user_running: dict[str, int] = {}
        self.query_log = query_log
        self.users = users
        self.limits = limits
        self.slots = threading.BoundedSemaphore(limits.max_concurrent_queries)
        self.shutting_down = threading.Event()
        self._active = 0
        self._active_cv = threading.Condition()
        self.started = time.time()
        self.requests_served = 0
        #: Prometheus metrics, served at GET /metrics to any store user (see the metrics module)
        self.metrics = EndpointMetrics(self, {code: name for name, code in engine.error_codes.items()})

    def databases(self, ttl_s: float = 2.0) -> frozenset[str]:
        """Return the engine's databases (re-read at most every ``ttl_s``)."""
        at, names = self._databases
        if time.monotonic() - at < ttl_s:
            return names
        with self.engine.connection("admin") as conn:
            res = conn.raw.query("SELECT name FROM system.databases", "TSVRaw")
            names = frozenset(res.bytes().decode().split())
        self._databases = (time.monotonic(), names)
        return names

    def forget_databases(self) -> None:
        """Make the next :meth:`databases` re-read the engine's databases."""
        self._databases = (0.0, frozenset())

    def acting(self, user: User, params: dict[str, str]) -> User:
        """Return the user a request runs as: the caller, or whom it acts for (``execute_as``).

        Raises
        ------
        ClickHouseError
            ACCESS_DENIED if the caller may not impersonate, UNKNOWN_USER for an unknown target.
        """
        target = params.get("execute_as")
        if not target or target == user.name:
            return user
        if not user.impersonate:
            raise ClickHouseError.named(
                "ACCESS_DENIED",
                f"{user.name}: Not enough privileges. To execute this query as {target!r} it's necessary to "
                "have the grant IMPERSONATE (impersonate = true in the users file)",
            )
        other = self.users.users.get(target)
        if other is None:
            raise ClickHouseError.named("UNKNOWN_USER", f"There is no user `{target}` to execute as")
        # the caller's role and grants, the target's name and entitlement
        return dataclasses.replace(
            user, name=other.name, groups=other.groups, impersonate=False, caller=user.name
        )

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

    @contextlib.contextmanager
    def user_slot(self, user: User) -> Iterator[None]:
        """Hold one of the user's concurrent-query slots (its role's cap), or refuse the request."""
        cap = self.users.limits[user.role].concurrency
        if cap <= 0:
            yield
            return
        with self._user_lock:
            running = self._user_running.get(user.name, 0)
            if running >= cap:
                raise ClickHouseError.named(
                    "TOO_MANY_SIMULTANEOUS_QUERIES",
                    f"Too many simultaneous queries for user {user.name}. Current: {running}, maximum: "
                    f"{cap} (max_concurrent_queries_for_user of role '{user.role}')",
                )
            self._user_running[user.name] = running + 1
        try:
            yield
        finally:
            with self._user_lock:
                self._user_running[user.name] -= 1

    def watch_clients(self, stop: threading.Event, interval_s: float = 0.1) -> None:
        """Cancel the queries whose client hung up (a closed tab, a client timeout), until ``stop``."""
        while not stop.wait(interval_s):
            for run in self.running.hung_up():
                run.cancelled_because = "client closed the connection"
                log.info("query %s: the client closed the connection; cancelling it", run.query_id)
                try:
                    self.cancel(run)
                except Exception as exc:  # the watcher must go on
                    log.warning("cannot cancel query %s: %s", run.query_id, exc)

    def check_disk(self, incoming: int) -> None:
        """Refuse to write when the store's disk would keep less than its reserve.

        Raises
        ------
        ClickHouseError
            NOT_ENOUGH_SPACE, with the free space, the reserve and what to do.
        """
        reserve = self.limits.min_free_disk_bytes
        if reserve <= 0:
            return
        free = shutil.disk_usage(self.engine.path).free
        if free - incoming < reserve:
            raise ClickHouseError.named(
                "NOT_ENOUGH_SPACE",
                f"Cannot insert: the store's disk has {free / 2**30:.2f} GiB free"
                + (f" and the request brings {incoming / 2**30:.2f} GiB" if incoming else "")
                + f", below the reserve of {reserve / 2**30:.2f} GiB (mi store serve --min-free-disk-mb). "
                "Free disk space (or drop old partitions) and retry; reads go on as usual",
            )

    def cancel_reads(self, reason: str) -> int:
        """Cancel every running statement except inserts (at shutdown); return how many."""
        runs = [r for r in self.running.snapshot() if r.kind != "insert" and not r.cancelled_because]
        for run in runs:
            run.cancelled_because = reason
            with contextlib.suppress(Exception):
                self.cancel(run)
        return len(runs)

    def cancel(self, run: Running, sync: bool = False) -> None:
        """Cancel a running query in the engine (``KILL QUERY`` by the endpoint's tag)."""
        # the tag is assembled by concat() so that this KILL statement does not match itself
        sql = (
            f"KILL QUERY WHERE position(query, concat('mi:', '{run.tag}')) > 0 {'SYNC' if sync else 'ASYNC'}"
        )
        with self.engine.connection("admin") as conn:
            conn.raw.query(sql, "TSV")


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
    # per-request state of the response (progress headers may start it from the engine's callback)
    _wlock: threading.Lock
    _status_sent: bool = False
    _progress_open: bool = False
    _progress_every_s: float = 0.0
    _progress_at: float = 0.0
    _result_rows: int = 0
    _read_rows: int = 0  # rows and bytes read from tables, as the engine counts them per chunk
    _read_bytes: int = 0
    _result_bytes: int = 0
    _stream_error: ClickHouseError | None = None
    # the response's last bytes, held back until the request's audit record is journaled: a client that
    # has its whole answer has its record (a kill -9 in between loses neither or only an unanswered one)
    _tail: bytes = b""

    def setup(self) -> None:
        """Set up the connection, and the lock of its responses' progress headers."""
        super().setup()
        self._wlock = threading.Lock()

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

    # -- progress headers (written from the engine's progress callback) -------------------------------
    def send_response_only(self, code: int, message: str | None = None) -> None:
        """Write the status line once: progress headers may have written it already."""
        if self._status_sent:
            return
        self._status_sent = True
        super().send_response_only(code, message)

    def send_response(self, code: int, message: str | None = None) -> None:
        """Start the response headers; no progress header may follow."""
        with self._wlock:
            self._progress_open = False
        if self._status_sent:
            return
        super().send_response(code, message)

    def _on_progress(self, run: Running, progress: dict[str, int]) -> None:
        run.progress = progress  # a fresh dict per call (cumulative values)
        if not self._progress_every_s:
            return
        with self._wlock:
            if not self._progress_open:
                return
            t = time.monotonic()
            if t - self._progress_at < self._progress_every_s:
                return
            self._progress_at = t
            if not self._status_sent:
                super().send_response(200)
            self.send_header("X-ClickHouse-Progress", _progress_json(progress, minimal=True))
            self.flush_headers()
            self.wfile.flush()

    # -- the request ----------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        server = self.server
        url = urlsplit(self.path)
        self._status_sent = False
        self._progress_open = False
        self._progress_every_s = 0.0
        self._progress_at = 0.0
        if url.path in ("/ping", "/replicas_status") or (
            method == "GET" and url.path == "/" and not url.query
        ):
            self._send_plain(200, "Ok.\n")
            return
        if url.path == "/metrics" and method == "GET":
            self._metrics(url.query)
            return
        if url.path not in ("/", "/query", "/audit") or (url.path == "/audit" and method != "POST"):
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
            files: list[tuple[str, bytes]] = []
            if body is not None and headers.get("content-type", "").lower().startswith("multipart/form-data"):
                fields, files = _form_parts(body, headers["content-type"], server.limits.max_request_bytes)
                params.update(fields)
                body = None
            self._reload_users()
            name, password = credentials(headers, params)
            try:
                user = server.users.authenticate(name, password)
            except ClickHouseError as err:
                if server.audit is not None:
                    server.audit.append(
                        "store_login_failed", name or "default", source=str(self.client_address[0]),
                        action=err.name, outcome="refused",
                    )  # fmt: skip
                raise
            if url.path == "/audit":
                self._audit_event(user, body)
                return
            if not server.slots.acquire(blocking=False):
                raise ClickHouseError.named(
                    "TOO_MANY_SIMULTANEOUS_QUERIES",
                    f"Too many simultaneous queries. Maximum: {server.limits.max_concurrent_queries}",
                )
            self._tail = b""
            try:
                with server.user_slot(user):
                    self._run(method, params, headers, body, server.acting(user, params), files)
            finally:
                server.slots.release()
            if self._tail:  # the audit record is in the journal now: the answer may complete
                self.wfile.write(self._tail)
                self._tail = b""
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

    def _reload_users(self) -> None:
        """Take up a changed users file; record who was added, removed or changed in the audit trail."""
        server = self.server
        old = server.users
        server.users = old.reloaded()
        if server.users is old or server.audit is None:
            return
        before, after = old.users, server.users.users
        for name in sorted(set(before) | set(after)):
            a, b = before.get(name), after.get(name)
            if a == b:
                continue
            what = "added" if a is None else "removed" if b is None else "changed"
            detail = {} if b is None else {"role": b.role, "groups": b.groups, "impersonate": b.impersonate}
            if a is not None and b is not None and a.password_sha256_hex != b.password_sha256_hex:
                detail["password"] = "changed"
            server.audit.append(
                "user_change", name, source="users file", action=what, target=name, detail=json.dumps(detail)
            )

    def _audit_event(self, user: User, body: BodyReader | None) -> None:
        """POST /audit: a service (impersonate grant) or an admin reports an event (login, page, export)."""
        from marketintel.access.audit import SUBMITTED_KINDS

        server = self.server
        if not (user.impersonate or user.role == "admin"):
            raise ClickHouseError.named(
                "ACCESS_DENIED",
                f"{user.name}: only services (impersonate = true) and admins report audit events",
            )
        if server.audit is None:
            raise ClickHouseError.named("NOT_IMPLEMENTED", "this store keeps no audit trail")
        data = bytearray()
        while body is not None and (piece := body.read()):
            data += piece
            if len(data) > 1 << 20:
                raise ClickHouseError.named("QUERY_IS_TOO_LARGE", "an audit event is at most 1 MiB")
        try:
            event = json.loads(bytes(data) or b"{}")
            kind = str(event["kind"])
            who = str(event["user"])
        except (ValueError, KeyError, TypeError):
            raise ClickHouseError.named(
                "BAD_ARGUMENTS", 'an audit event is JSON with at least "kind" and "user"'
            ) from None
        if kind not in SUBMITTED_KINDS:
            raise ClickHouseError.named(
                "BAD_ARGUMENTS", f"audit event kind must be one of {sorted(SUBMITTED_KINDS)}, got {kind!r}"
            )
        detail = event.get("detail", "")
        rec = server.audit.append(
            kind,
            who,
            caller=str(event.get("caller", "")),
            source=f"{user.name}@{self.client_address[0]}"
            + (f" {event['source']}" if event.get("source") else ""),
            action=str(event.get("action", "")),
            target=str(event.get("target", "")),
            outcome=str(event.get("outcome", "ok")),
            rows=int(event.get("rows", 0) or 0),
            bytes=int(event.get("bytes", 0) or 0),
            detail=detail if isinstance(detail, str) else json.dumps(detail),
        )
        out = json.dumps({"seq": rec.seq, "hash": rec.hash}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def _metrics(self, query: str) -> None:
        """GET /metrics: the Prometheus metrics, for any store user (the credentials a query takes)."""
        try:
            headers = {k.lower(): v for k, v in self.headers.items()}
            params = dict(parse_qsl(query, keep_blank_values=True))
            self.server.users = self.server.users.reloaded()
            self.server.users.authenticate(*credentials(headers, params))
        except ClickHouseError as err:
            self._send_error(err)
            return
        data = self.server.metrics.exposition()
        self.send_response(200)
        self.send_header("Content-Type", METRICS_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _statement(
        self, params: dict[str, str], body: BodyReader | None
    ) -> tuple[str, Kind, InsertSplit | None, bytes]:
        """Return (sql, kind, insert split, leftover data bytes) from the URL query and the body's start.

        The SQL text is decoded as UTF-8 with ``surrogateescape``: bytes that are not UTF-8 (binary string
        literals) survive and reach the engine unchanged (:func:`engine_sql`).
        """
        limit = self.server.limits.max_query_bytes
        url_query = params.get("query", "")
        buf = bytearray(url_query.encode("utf-8", "surrogateescape"))
        if body is None:
            if not buf:
                raise ClickHouseError.named("SYNTAX_ERROR", "Empty query")
            sql = buf.decode("utf-8", "surrogateescape")
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
                statement = split.statement.encode("latin-1").decode("utf-8", "surrogateescape")
                return statement, kind, InsertSplit(statement, split.fmt, split.data_offset), data
        while not eof:
            if len(buf) > limit:
                raise ClickHouseError.named(
                    "QUERY_IS_TOO_LARGE",
                    f"Query is too large ({len(buf)} bytes); max_query_bytes is {limit}",
                )
            more()
        sql = buf.decode("utf-8", "surrogateescape")
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
        files: list[tuple[str, bytes]],
    ) -> None:
        server = self.server
        query_id = params.get("query_id") or str(uuid.uuid4())
        database = params.get("database") or headers.get("x-clickhouse-database") or "default"
        entry = Entry(
            "ExceptionBeforeStart", now(), now(), user.name, query_id, "", "unknown", database,
            http_method=1 if method == "GET" else 2, user_agent=headers.get("user-agent", ""),
            address=str(self.client_address[0]),
        )  # fmt: skip
        self._result_rows = self._result_bytes = self._read_rows = self._read_bytes = 0
        self._stream_error = None
        run: Running | None = None
        try:
            sql, kind, split, data = self._statement(params, body)
            entry.query = sql if split is None else f"{sql} FORMAT {split.fmt}"
            entry.query_kind = kind.value
            kill = parse_kill_query(sql) if kind is Kind.DDL else None
            granted = self._check(method, kind, sql, params, user, kill is not None, split is not None)
            ident = server.entitlements.ident(user.name, user.groups, user.entitled)
            if ident != ALL_ROWS:
                self._screen_entitled(sql, database, params, user)
            if kind is Kind.INSERT:
                server.check_disk(int(headers.get("content-length", "0") or 0))
            if kind is Kind.DDL and _is_flush_logs(sql):
                if server.query_log is not None:
                    server.query_log.flush()
                if server.audit is not None:
                    server.audit.flush()
                self._send_empty(query_id)
                entry.type = "QueryFinish"
                return
            # GET runs on read-only connections (with the user's own role's limits), as in ClickHouse
            role = user.role + (":ro" if method == "GET" and user.role != "reader" else "")
            if granted:  # a reader's granted insert: a writable connection with the reader's limits
                role = f"{user.role}:insert"
            ext = {f"{name}{suffix}" for name, _ in files for suffix in ("_structure", "_types", "_format")}
            settings = {
                k: v
                for k, v in params.items()
                if k not in TRANSPORT_PARAMS and not k.startswith("param_") and k not in ext
            }
            limits = server.users.limits[user.role]
            for name, value in settings.items():
                limits.check(user.role, name, value)
            if granted:
                locked = sorted(set(settings) & set(GRANTED_INSERT_SETTINGS))
                if locked:
                    raise ClickHouseError.named(
                        "READONLY", f"{user.name}: Cannot modify '{locked[0]}' setting in readonly mode"
                    )
                settings.update(GRANTED_INSERT_SETTINGS)
            qparams = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
            self._progress_every_s = (
                _float(params.get("http_headers_progress_interval_ms", "100"), "interval") / 1000
                if params.get("send_progress_in_http_headers") == "1"
                else 0.0
            )
            wait_ms = _float(params.get("replace_running_query_max_wait_ms", "5000"), "wait")
            run = server.running.start(
                query_id,
                user.name,
                sql,
                replace=params.get("replace_running_query") == "1",
                wait_s=wait_ms / 1000,
                cancel=server.cancel,
            )
            run.kind, run.sock = kind.value, self.connection
            entry.started = now()
            entry.type = "ExceptionWhileProcessing"
            # a granted insert needs no session state, and a reader's session connection is read-only
            session_id = None if granted else params.get("session_id")
            ctx: AbstractContextManager[Conn]
            if session_id:
                timeout = _float(params.get("session_timeout", "60"), "session_timeout")
                timeout = min(timeout, server.limits.max_session_timeout_s)
                if params.get("session_check") == "1" and not server.engine.has_session(session_id):
                    raise ClickHouseError.named("SESSION_NOT_FOUND", f"Session {session_id} not found")
                ctx = server.engine.session(session_id, user.caller or user.name, role, timeout, ident)
            else:
                ctx = server.engine.connection(role, ident)
            with ctx as conn:
                try:
                    conn.prepare(database, settings)
                except ClickHouseError:
                    raise
                except Exception as exc:
                    raise ClickHouseError.from_engine(exc) from None
                conn.raw.set_progress_callback(lambda p: self._on_progress(run, p))
                with self._wlock:
                    self._progress_open = self._progress_every_s > 0
                temporary = self._external_tables(conn, files, params) if files else []
                try:
                    if kill is not None:
                        self._kill(conn, kill, user, run, params)
                    elif split is not None:
                        assert body is not None
                        self._insert(conn, split, data, body, run, qparams)
                    else:
                        self._query(conn, sql, kind, params, headers, qparams, run, user, session_id)
                finally:
                    conn.raw.set_progress_callback(None)
                    for name in temporary:
                        try:
                            conn.run(f"DROP TEMPORARY TABLE IF EXISTS `{name}`")
                        except Exception:  # a connection left with a table is not pooled again
                            conn.dirty = True
            if kind is Kind.DDL:  # a database may have come or gone: entitled users' screen re-reads them
                server.forget_databases()
            if self._stream_error is not None:
                raise self._stream_error
            entry.type = "QueryFinish"
        except ClickHouseError as err:
            err.message = strip_tag(err.message)
            entry.exception_code = err.code
            entry.exception = err.render(server.engine.version).strip()
            if self._stream_error is None:
                raise
        finally:
            entry.ended = now()
            if run is not None:
                server.running.finish(run)
                p = run.progress
                entry.read_rows = max(p.get("read_rows", 0), self._read_rows)
                entry.read_bytes = max(p.get("read_bytes", 0), self._read_bytes)
                entry.written_rows = max(entry.written_rows, p.get("written_rows", 0))
                entry.written_bytes = max(entry.written_bytes, p.get("written_bytes", 0))
            entry.result_rows, entry.result_bytes = self._result_rows, self._result_bytes
            if server.query_log is not None:
                server.query_log.add(entry)
            if server.audit is not None:
                audit_query(server.audit, entry, user)
            server.metrics.observe(entry)

    def _check(
        self,
        method: str,
        kind: Kind,
        sql: str,
        params: dict[str, str],
        user: User,
        kill: bool,
        inline_data: bool = False,
    ) -> bool:
        """Refuse what this request may not do, with ClickHouse's errors.

        Return whether the statement runs only through the user's ``insert_into`` grant (an INSERT with
        ``inline_data`` into a granted table, :meth:`User.granted_insert`).
        """
        granted = False
        if method == "GET" and kind in (Kind.INSERT, Kind.WRITE, Kind.DDL):
            raise ClickHouseError.named(
                "READONLY",
                "Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. "
                "You should use method POST for modifying queries",
            )
        if kind is Kind.UNKNOWN and not first_keyword(sql):
            head = sql.lstrip()[:20].encode("utf-8", "surrogateescape")
            raise ClickHouseError.named(
                "SYNTAX_ERROR", f"Syntax error: failed at position 1 ({head!r}): expected a statement keyword"
            )
        # every user may kill their own queries, as in ClickHouse, and flush the endpoint's logs (a reader
        # checking its own query log or the audit trail needs what the endpoint has buffered)
        if not kill and not (kind is Kind.DDL and _is_flush_logs(sql)):
            granted = user.granted_insert(kind, sql, inline_data)
        if user.role != "admin":
            reach = external_access(sql)
            if reach is not None:
                raise ClickHouseError.named(
                    "ACCESS_DENIED",
                    f"{user.name}: Not enough privileges. {reach} reaches the server's files, network or "
                    f"processes, which role '{user.role}' may not use; ask an admin user",
                )
        if params.get("compress") == "1" or params.get("decompress") == "1":
            raise ClickHouseError.named(
                "NOT_IMPLEMENTED",
                "ClickHouse native block compression (compress=1/decompress=1) is not supported by this "
                "endpoint; use HTTP compression (enable_http_compression=1, Content-Encoding) instead",
            )
        if kind is not Kind.READ and names_audit_table(sql):
            raise ClickHouseError.named(
                "ACCESS_DENIED",
                f"{user.name}: Not enough privileges: the audit tables (and the endpoint's own database) are "
                "written only by the store's audit writer",
            )
        if user.role != "admin" and "set" in sql.lower():  # SET, SETTINGS (lexed only then)
            limits = self.server.users.limits[user.role]
            for name, value in settings_assignments(sql):
                limits.check(user.role, name, value)
        unsupported = unsupported_statement(sql)
        if unsupported is not None:
            raise ClickHouseError.named("NOT_IMPLEMENTED", unsupported)
        return granted

    def _screen_entitled(self, sql: str, database: str, params: dict[str, str], user: User) -> None:
        """Refuse what the row policies cannot cover for an entitled user (:mod:`.screen`)."""
        covered = self.server.entitlements.covered
        why = screen.database_refusal(database, covered)
        if why is None:
            known = self.server.databases()
            why = screen.refusal(sql, covered, known)
            for value in (v for k, v in params.items() if k.startswith("param_")):
                why = why or screen.refusal(value, covered, known)
        if why is not None:
            raise ClickHouseError.named("ACCESS_DENIED", f"{user.name}: Not enough privileges: {why}")

    def _external_tables(
        self, conn: Conn, files: list[tuple[str, bytes]], params: dict[str, str]
    ) -> list[str]:
        """Load external data (form file parts) into temporary tables named after the parts."""
        names: list[str] = []
        for name, data in files:
            structure = params.get(f"{name}_structure")
            if structure is None:
                types = params.get(f"{name}_types")
                if types is None:
                    raise ClickHouseError.named(
                        "BAD_ARGUMENTS",
                        f"Neither structure nor types have not been provided for external table {name}. "
                        f"Use fields {name}_structure or {name}_types to do so.",
                    )
                structure = ", ".join(f"_{i + 1} {t.strip()}" for i, t in enumerate(_split_types(types)))
            fmt = params.get(f"{name}_format", "TabSeparated")
            quoted = name.replace("`", "\\`")
            try:
                conn.run(f"CREATE TEMPORARY TABLE `{quoted}` ({structure}) ENGINE = Memory")
                names.append(quoted)
                ins = conn.raw.send_insert(f"INSERT INTO `{quoted}`", fmt)
                if data:
                    ins.append(data)
                ins.finish()
            except ClickHouseError:
                raise
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
        return names

    def _insert(
        self,
        conn: Conn,
        split: InsertSplit,
        data: bytes,
        body: BodyReader,
        run: Running,
        qparams: dict[str, str],
    ) -> None:
        t0 = time.perf_counter()
        statement = engine_sql(split.statement + tag_comment(run.tag))
        if qparams and split.fmt.lower() == "values":
            # query parameters in VALUES: the engine substitutes them only in a whole statement
            rest = bytearray(data)
            while piece := body.read():
                rest += piece
                if len(rest) > self.server.limits.max_query_bytes:
                    raise ClickHouseError.named(
                        "QUERY_IS_TOO_LARGE", "INSERT ... VALUES with query parameters is too large"
                    )
            try:
                res = conn.raw.query(statement + b" VALUES " + bytes(rest), "TSV", params=qparams)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
            written_rows, written_bytes = int(res.rows_written()), int(res.bytes_written())
        else:
            try:
                ins = conn.raw.send_insert(statement, split.fmt)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
            try:
                if data:
                    ins.append(data)
                appended = 0
                while piece := body.read():
                    ins.append(piece)
                    appended += len(piece)
                    if appended >= DISK_CHECK_EVERY:  # the disk may fill while a long insert arrives
                        appended = 0
                        self.server.check_disk(0)
                result = ins.finish()
            except ClickHouseError:
                _cancel(ins)
                raise
            except Exception as exc:
                _cancel(ins)
                raise ClickHouseError.from_engine(exc) from None
            written_rows, written_bytes = int(result.rows_written), int(result.bytes_written)
        self._result_rows = written_rows
        run.progress.update(written_rows=written_rows, written_bytes=written_bytes)
        elapsed_ns = int((time.perf_counter() - t0) * 1e9)
        summary = {
            "read_rows": "0",
            "read_bytes": "0",
            "written_rows": str(written_rows),
            "written_bytes": str(written_bytes),
            "total_rows_to_read": "0",
            "result_rows": str(written_rows),
            "result_bytes": str(written_bytes),
            "elapsed_ns": str(elapsed_ns),
        }
        self.send_response(200)
        self._common_headers(run.query_id, None)
        self.send_header("X-ClickHouse-Summary", json.dumps(summary, separators=(",", ":")))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_empty(self, query_id: str) -> None:
        self.send_response(200)
        self._common_headers(query_id, None)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _system_views(self, sql: str, user: User) -> str:
        """Point ``system.processes`` and ``system.query_log`` at the endpoint's own views of them."""
        if "process" not in sql.lower() and "query_log" not in sql:
            return sql
        words = [t.text.upper() for t in itertools.islice(iter_tokens(sql), 2)]
        if words == ["SHOW", "PROCESSLIST"]:  # ClickHouse's shorthand for the same table
            sql = "SELECT * FROM system.processes" + (f" FORMAT {fmt}" if (fmt := output_format(sql)) else "")
        only = None if user.role == "admin" else user.name
        log_view = QUERY_LOG_TABLE
        if only is not None:
            log_view = f"(SELECT * FROM {QUERY_LOG_TABLE} WHERE user = {sql_string(only)})"
        return replace_tables(
            sql,
            {
                ("system", "processes"): self.server.running.processes_view(only),
                ("system", "query_log"): log_view,
            },
        )

    def _kill(self, conn: Conn, kill: KillQuery, user: User, run: Running, params: dict[str, str]) -> None:
        """``KILL QUERY WHERE ...`` over the clients' query ids (a user's own queries, or any for admins)."""
        server = self.server
        only = None if user.role == "admin" else user.name
        view = server.running.processes_view(only)
        select = (
            f"SELECT query_id, user, query FROM {view} "
            f"WHERE ({kill.where}) AND query_id != {sql_string(run.query_id)}"
        )
        try:
            found = conn.raw.query(engine_sql(select), "JSONCompactEachRow").bytes().decode()
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        rows = [json.loads(line) for line in found.splitlines() if line]
        by_id = {r.query_id: r for r in server.running.snapshot()}
        out = []
        for query_id, owner, text in rows:
            target = by_id.get(query_id)
            status = "waiting"
            if target is not None and kill.mode != "TEST":
                server.cancel(target)
                if kill.mode == "SYNC":
                    status = "finished" if target.done.wait(30) else "waiting"
            out.append(
                f"({sql_string(status)}, {sql_string(query_id)}, {sql_string(owner)}, {sql_string(text)})"
            )
        fmt = kill.fmt or params.get("default_format") or "TabSeparated"
        table = "SELECT * FROM values('kill_status String, query_id String, user String, query String'"
        table += "".join(", " + row for row in out) + ")" if out else ""
        if not out:
            table = "SELECT '' AS kill_status, '' AS query_id, '' AS user, '' AS query WHERE 0"
        self._query(conn, f"{table} FORMAT {fmt}", Kind.READ, params, {}, {}, run, user, None, rewrite=False)

    def _query(
        self,
        conn: Conn,
        sql: str,
        kind: Kind,
        params: dict[str, str],
        headers: dict[str, str],
        qparams: dict[str, str],
        run: Running,
        user: User,
        session_id: str | None,
        rewrite: bool = True,
    ) -> None:
        fmt = output_format(sql) or params.get("default_format") or headers.get("x-clickhouse-format")
        fmt = fmt or "TabSeparated"
        executed = self._system_views(sql, user) if rewrite and kind is Kind.READ else sql
        tagged = engine_sql(executed.rstrip().rstrip(";") + tag_comment(run.tag))
        protocol = int(_float(params.get("client_protocol_version", "0"), "client_protocol_version"))
        is_native = fmt.lower() == "native"
        streamed = first_keyword(sql) in STREAMED and results.mode(fmt) != "document"
        try:
            pieces: Iterator[bytes | memoryview]
            if streamed:
                stream = conn.raw.send_query(tagged, fmt, params=qparams)
                first = stream.fetch()
                if first is None:
                    pieces = iter([self._empty_result(conn, executed, fmt, qparams, protocol)])
                    has_result = True
                else:
                    rewriter = None
                    if is_native and protocol > 0:
                        types = None
                        if protocol >= results.REVISION_TZ_IN_DATETIME and results.has_bare_datetime(
                            first.get_memview().view()
                        ):
                            types = self._types_beside(conn, executed, qparams)
                        rewriter = results.NativeRewriter(protocol, types)
                    framer = results.Framer(fmt, rewriter)
                    pieces = self._framed(stream, first, framer)
                    has_result = True
            else:
                res = conn.raw.query(tagged, fmt, params=qparams)
                data = res.get_memview().view() if res is not None and res.bytes() else None
                has_result = data is not None or kind is Kind.READ
                if data is not None and is_native and protocol > 0:
                    select = first_keyword(sql) in STREAMED
                    data = memoryview(self._native_one_shot(conn, executed, qparams, data, protocol, select))
                if data is not None:
                    self._count(res)
                pieces = results.iter_pieces(data) if data is not None else iter(())
        except ClickHouseError:
            raise
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        if kind is Kind.SESSION:
            self._after_session_statement(conn, sql, session_id is not None)
        elif session_id is None and "TEMPORARY" in sql.upper():
            conn.dirty = True
        encoding = None
        if params.get("enable_http_compression") == "1":
            encoding = choose_encoding(headers.get("accept-encoding"))
        result_fmt = fmt if has_result else None
        if params.get("wait_end_of_query") == "1" or params.get("http_wait_end_of_query") == "1":
            self._send_buffered(pieces, encoding, run, result_fmt)
        else:
            self._send_streamed(pieces, encoding, run, result_fmt, conn)

    def _summary(self, run: Running) -> str:
        """Return the X-ClickHouse-Summary of the request so far."""
        p = dict(run.progress)
        p.setdefault("elapsed_ns", run.elapsed_ns)
        p["read_rows"] = max(p.get("read_rows", 0), self._read_rows)
        p["read_bytes"] = max(p.get("read_bytes", 0), self._read_bytes)
        p["result_rows"] = self._result_rows or p.get("result_rows", 0)
        p["result_bytes"] = self._result_bytes or p.get("result_bytes", 0)
        return _progress_json(p)

    def _framed(self, stream: Any, first: Any, framer: results.Framer) -> Iterator[bytes | memoryview]:
        chunk = first
        try:
            while chunk is not None:
                self._count(chunk)
                yield framer.feed(chunk.get_memview().view())
                chunk = stream.fetch()
        finally:
            if chunk is not None:  # stopped early (error, client gone): the engine must stop too
                _cancel(stream)
        tail = framer.end()
        if tail:
            yield tail

    def _count(self, result: Any) -> None:
        """Add a chunk's (or a one-piece result's) rows and the table rows and bytes it read."""
        self._result_rows += int(result.rows_read())
        self._read_rows += int(result.storage_rows_read())
        self._read_bytes += int(result.storage_bytes_read())

    def _types_beside(self, conn: Conn, sql: str, qparams: dict[str, str]) -> dict[str, str] | None:
        """Describe a query on another connection (``conn`` is busy streaming its result)."""
        try:
            with self.server.engine.connection(conn.role, conn.ident) as other:
                other.prepare(conn.database, dict(conn.applied))
                return dict(self._describe(other, sql, qparams))
        except Exception as exc:  # e.g. a session's temporary table: the time zone stays unnamed
            log.warning("cannot describe the result for Native time zones: %s", exc)
            return None

    def _describe(self, conn: Conn, sql: str, qparams: dict[str, str]) -> list[tuple[str, str]]:
        """Return the result columns (name, type) of a query, without running it."""
        text = f"DESCRIBE TABLE ({strip_format(sql)})"
        res = conn.raw.query(engine_sql(text), "JSONCompactEachRow", params=qparams)
        rows = [json.loads(line) for line in res.bytes().decode().splitlines() if line]
        return [(r[0], r[1]) for r in rows]

    def _empty_result(self, conn: Conn, sql: str, fmt: str, qparams: dict[str, str], protocol: int) -> bytes:
        """Return what an empty result is in ``fmt``: its header, its schema or nothing."""
        low = fmt.lower()
        if results.mode(fmt) == "stream" and low != "native":
            return b""
        columns = self._describe(conn, sql, qparams)
        if low == "native":
            return results.native_header(columns, protocol)
        res = conn.raw.query(engine_sql(results.empty_result_query(columns, fmt)), fmt)
        return res.bytes() if res is not None else b""

    def _native_one_shot(
        self,
        conn: Conn,
        sql: str,
        qparams: dict[str, str],
        data: memoryview,
        protocol: int,
        select: bool,
    ) -> bytes:
        """Rewrite a one-piece revision-0 Native result (any number of blocks) for ``protocol``."""
        types = None
        if select and protocol >= results.REVISION_TZ_IN_DATETIME and results.has_bare_datetime(data):
            types = dict(self._describe(conn, sql, qparams))
        return results.NativeRewriter(protocol, types).blocks(data)

    def _send_streamed(
        self,
        pieces: Iterator[bytes | memoryview],
        encoding: str | None,
        run: Running,
        fmt: str | None,
        conn: Conn,
    ) -> None:
        try:
            first = next(pieces, None)
        except ClickHouseError:
            raise
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from None
        if first is None or (fmt is None and not len(first)):
            self.send_response(200)
            self._common_headers(run.query_id, fmt)
            self.send_header("X-ClickHouse-Summary", self._summary(run))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        tag = secrets.token_hex(8)
        enc: Encoder | None = ENCODERS[encoding]() if encoding else None
        self.send_response(200)
        self._common_headers(run.query_id, fmt)
        self.send_header("X-ClickHouse-Exception-Tag", tag)
        self.send_header("X-ClickHouse-Summary", self._summary(run))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece: bytes | memoryview | None = first
        try:
            while piece is not None:
                self._result_bytes += len(piece)
                self._write_chunk(enc.compress(piece) if enc else piece)
                piece = next(pieces, None)
        except (BrokenPipeError, ConnectionResetError):
            conn.dirty = True
            raise
        except Exception as exc:  # an error after the first row: ClickHouse's in-band exception block
            err = exc if isinstance(exc, ClickHouseError) else ClickHouseError.from_engine(exc)
            err.message = strip_tag(err.message)
            self._stream_error = err
            text = err.render(self.server.engine.version).encode()
            block = b"__exception__\r\n%s\r\n%s\n%d %s\r\n__exception__\r\n" % (
                tag.encode(),
                text,
                len(text),
                tag.encode(),
            )
            self._write_chunk(enc.compress(block) if enc else block)
            log.info("error mid-stream %s: %s", err.code, err.message[:200])
        tail = b""
        if enc:
            last = enc.finish()
            if len(last):
                tail = b"%x\r\n" % len(last) + bytes(last) + b"\r\n"
        self._tail = tail + b"0\r\n\r\n"

    def _send_buffered(
        self, pieces: Iterator[bytes | memoryview], encoding: str | None, run: Running, fmt: str | None
    ) -> None:
        """wait_end_of_query=1: run the query to its end before answering, so errors arrive as statuses."""
        with SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
            enc: Encoder | None = ENCODERS[encoding]() if encoding else None
            try:
                for piece in pieces:
                    self._result_bytes += len(piece)
                    spool.write(enc.compress(piece) if enc else piece)
            except ClickHouseError:
                raise
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from None
            if enc:
                spool.write(enc.finish())
            size = spool.tell()
            spool.seek(0)
            self.send_response(200)
            self._common_headers(run.query_id, fmt)
            self.send_header("X-ClickHouse-Summary", self._summary(run))
            if encoding and size:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            held = b""
            while piece := spool.read(1 << 20):
                if held:
                    self.wfile.write(held)
                held = piece
            self._tail = held  # the body's last piece: written once the audit record is journaled

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


def _form_parts(
    body: BodyReader, content_type: str, limit: int
) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """Read a multipart/form-data body: its fields (the query, parameters) and its files (external data).

    clickhouse-connect sends large bound parameters as fields, and external data (ibis memtables,
    ``create_table(df)``) as file parts whose field name is the temporary table's name, as ClickHouse reads
    them.
    """
    data = bytearray()
    while piece := body.read():
        data += piece
        if len(data) > limit:
            raise ClickHouseError.named("QUERY_IS_TOO_LARGE", f"Form body is larger than {limit} bytes")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + bytes(data)
    )
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            name = "_data"
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        if part.get_filename():
            files.append((name, raw))
        else:
            fields[name] = raw.decode("utf-8", "surrogateescape")
    return fields, files


def _split_types(types: str) -> list[str]:
    """Split ``<name>_types`` ("UInt8, Array(String)") at top-level commas."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(types):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(types[start:i])
            start = i + 1
    out.append(types[start:])
    return [t for t in out if t.strip()]


def engine_sql(sql: str) -> bytes:
    """Return SQL as the engine takes it: bytes, the request's non-UTF-8 bytes kept as they were."""
    return sql.encode("utf-8", "surrogateescape")


#: error codes that mean "not allowed", as opposed to a failure
REFUSAL_CODES = frozenset({497, 164, 452, 516, 194, 192})


def audit_query(audit: AuditWriter, entry: Entry, user: User) -> None:
    """Append the audit record of one statement (who, fingerprint, tables, rows, refused or not)."""
    sql = entry.query
    outcome = "ok"
    if entry.exception_code:
        outcome = "refused" if entry.exception_code in REFUSAL_CODES else "error"
    detail = {
        "query": sql[:2000],
        "query_id": entry.query_id,
        "kind": entry.query_kind,
        "database": entry.database,
        "read_rows": entry.read_rows,
        "written_rows": entry.written_rows,
    }
    if entry.exception_code:
        detail["error"] = entry.exception.splitlines()[0][:500] if entry.exception else ""
    audit.append(
        "query",
        user.name,
        caller=user.caller,
        source=entry.address,
        action=fingerprint(sql),
        target=",".join(tables_named(sql)),
        outcome=outcome,
        rows=entry.result_rows,
        bytes=entry.result_bytes,
        detail=json.dumps(detail, ensure_ascii=False),
    )


def fingerprint(sql: str) -> str:
    """Return a statement's fingerprint: equal for statements that differ only in literals (16 hex)."""
    import hashlib

    parts: list[str] = []
    try:
        for tok in iter_tokens(sql):
            literal = tok.kind == "string" or tok.text[:1].isdigit()
            if literal or (tok.text == "." and parts and parts[-1] == "?"):
                if not parts or parts[-1] != "?":  # a number lexes as digits, '.', digits: one '?'
                    parts.append("?")
            else:
                parts.append(tok.text.lower() if tok.kind == "word" else tok.text)
    except IncompleteError:
        parts = [sql]
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()[:16]


def tables_named(sql: str) -> list[str]:
    """Return the tables a statement names after FROM, JOIN, INTO, TABLE (as written; best effort)."""
    out: list[str] = []
    try:
        toks = list(iter_tokens(sql))
    except IncompleteError:
        return out
    for i, tok in enumerate(toks[:-1]):
        if tok.kind == "word" and tok.text.upper() in ("FROM", "JOIN", "INTO", "TABLE"):
            nxt = toks[i + 1]
            if nxt.kind not in ("word", "quoted") or nxt.text.upper() in ("SELECT", "FUNCTION"):
                continue
            name = nxt.text.strip('`"')
            if i + 3 < len(toks) and toks[i + 2].text == "." and toks[i + 3].kind in ("word", "quoted"):
                name += "." + toks[i + 3].text.strip('`"')
            if name not in out:
                out.append(name)
    return out[:20]


def _is_flush_logs(sql: str) -> bool:
    words = [t.text.upper() for t in itertools.islice(iter_tokens(sql), 3)]
    return words == ["SYSTEM", "FLUSH", "LOGS"]


#: what chDB cannot do, answered with a clear error rather than a wrong answer
_UNSUPPORTED = (
    (("CREATE", "USER"), "users"),
    (("CREATE", "ROLE"), "roles"),
    (("CREATE", "ROW", "POLICY"), "row policies"),
    (("CREATE", "QUOTA"), "quotas"),
    (("CREATE", "SETTINGS", "PROFILE"), "settings profiles"),
    (("ALTER", "USER"), "users"),
    (("ALTER", "ROLE"), "roles"),
    (("DROP", "USER"), "users"),
    (("DROP", "ROLE"), "roles"),
    (("GRANT",), "grants"),
    (("REVOKE",), "grants"),
    (("SHOW", "GRANTS"), "grants"),
    (("SET", "ROLE"), "roles"),
)


def unsupported_statement(sql: str) -> str | None:
    """Return why the embedded store cannot run ``sql`` (access management, system DDL), or None."""
    if first_keyword(sql) not in ("CREATE", "ALTER", "DROP", "GRANT", "REVOKE", "SHOW", "SET"):
        return None
    try:
        words = [t.text.upper() for t in itertools.islice(iter_tokens(sql), 6)]
    except IncompleteError:
        return None
    for prefix, what in _UNSUPPORTED:
        if tuple(words[: len(prefix)]) == prefix:
            return (
                f"{' '.join(prefix)}: the embedded store (chDB) has no SQL-managed {what}. Users and "
                "roles are set in the store's users file (`mi store user set NAME --role ROLE`); on a "
                "ClickHouse server this statement works as usual"
            )
    if words[:2] == ["SHOW", "CREATE"] and "SYSTEM" in words[2:4]:
        return (
            "SHOW CREATE of a system table: the embedded store (chDB) does not keep their definitions; use "
            "DESCRIBE TABLE system.<name> for the columns"
        )
    return None


def _progress_json(p: dict[str, int], minimal: bool = False) -> str:
    keys = (
        "read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read", "result_rows",
        "result_bytes", "elapsed_ns",
    )  # fmt: skip
    values = {k: str(int(p.get(k, 0))) for k in keys}
    if minimal:
        values = {k: v for k, v in values.items() if v != "0"}
    return json.dumps(values, separators=(",", ":"))


def _cancel(obj: Any) -> None:
    with contextlib.suppress(Exception):  # cancelling is best effort
        obj.cancel()


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ClickHouseError.named(
            "BAD_ARGUMENTS", f"{name} must be a number of seconds, got {value!r}"
        ) from None
