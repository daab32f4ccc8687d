"""The chDB engine behind the endpoint: one engine per process, many connections, sessions.

chDB runs one ClickHouse engine per process, bound to one data directory. Each ``chdb.connect(path)`` is an
independent connection with its own session state (current database, ``SET`` settings) and queries on
different connections run in parallel. The endpoint keeps a pool of connections per role for requests
without a session, and one connection per ``session_id``, as ClickHouse keeps one context per session.

Each connection carries an identity, fixed in its address when it is opened (``log_comment``, which the
engine's profile makes constant): ``rls:all`` for admins and service accounts, or an entitled user's
compiled entitlement, which the row policies of the engine's users configuration read
(:mod:`marketintel.access.policy`). Connections are pooled per role and identity.

Per-request settings (URL parameters) apply to one request only: they are set before it and the session's
own values are restored after it, unless the next request asks for the same values (the common case, since
a client sends the same settings with every query).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import chdb

from marketintel.access.policy import ALL_ROWS, fingerprint
from marketintel.store.endpoint.errors import ClickHouseError

#: Roles a user can have (see :mod:`marketintel.store.endpoint.auth`).
READONLY_ROLES = frozenset({"reader"})
SESSION_LOCK_WAIT_S = 0.5
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def setting_literal(value: str) -> str:
    """Render a URL setting value as a SQL literal for ``SET``."""
    if _NUMBER.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class Conn:
    """A chDB connection and what the endpoint has changed on it."""

    raw: Any
    role: str
    #: the identity the connection was opened with (its fixed ``log_comment``)
    ident: str = ALL_ROWS
    database: str = "default"
    #: settings applied from URL parameters -> value, and the session's own value to restore
    applied: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, str] = field(default_factory=dict)
    #: set when a session-less request changed session state (SET, USE, temporary tables): not pooled again
    dirty: bool = False

    def run(self, sql: str) -> None:
        """Run a statement that returns nothing."""
        self.raw.query(sql, "TSV")

    def prepare(self, database: str, settings: dict[str, str]) -> None:
        """Make the connection use ``database`` and exactly the given per-request settings."""
        if database != self.database:
            if not _IDENT.match(database):
                raise ClickHouseError.named("UNKNOWN_DATABASE", f"Database {database!r} does not exist")
            self.run(f"USE `{database}`")
            self.database = database
        stale = [k for k in self.applied if k not in settings]
        for key in stale:
            self.run(f"SET {key} = {setting_literal(self.baseline.pop(key))}")
            del self.applied[key]
        for key, value in settings.items():
            if self.applied.get(key) == value:
                continue
            if not _IDENT.match(key):
                raise ClickHouseError.named("UNKNOWN_SETTING", f"Unknown setting '{key}'")
            if key not in self.baseline:
                self.baseline[key] = self._current(key)
            self.run(f"SET {key} = {setting_literal(value)}")
            self.applied[key] = value

    def _current(self, key: str) -> str:
        # a row with an empty value is a setting whose default is empty (insert_deduplication_token)
        res = self.raw.query(f"SELECT value FROM system.settings WHERE name = '{key}'", "JSONCompactEachRow")
        rows = res.bytes().decode().splitlines() if res is not None else []
        if not rows:
            raise ClickHouseError.named("UNKNOWN_SETTING", f"Unknown setting '{key}'")
        value: str = json.loads(rows[0])[0]
        return value

    def forget(self, keys: list[str]) -> None:
        """Drop tracking of settings the session itself changed (``SET``): its value is the new baseline."""
        for key in keys:
            self.applied.pop(key, None)
            self.baseline.pop(key, None)

    def close(self) -> None:
        """Close the chDB connection."""
        with contextlib.suppress(Exception):  # closing is best effort
            self.raw.close()


@dataclass
class Session:
    """A ClickHouse HTTP session: one connection, used by one request at a time."""

    conn: Conn
    user: str
    timeout_s: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)


class Engine:
    """Owns the chDB engine of one data directory and hands out connections."""

    def __init__(
        self,
        path: str,
        *,
        max_idle_per_role: int = 32,
        role_settings: dict[str, dict[str, int | str]] | None = None,
        config_file: str | None = None,
    ) -> None:
        self.path = path
        #: engine settings every connection of a role starts with (its limits)
        self.role_settings = role_settings or {}
        #: the engine configuration loaded at start (users and row policies); None: the engine's defaults
        self.config_file = config_file
        # the first connection loads the configuration and keeps the engine alive while pooled connections
        # come and go
        first = path
        if config_file is not None:
            first = f"file:{path}?" + urllib.parse.urlencode(
                {"config-file": config_file, "log_comment": ALL_ROWS}
            )
        self._keeper = chdb.connect(first)  # type: ignore[no-untyped-call]
        self._idle: dict[tuple[str, str], list[Conn]] = {}
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_role
        self.version = self._keeper.query("SELECT version()", "TSVRaw").bytes().decode().strip()
        self.timezone = self._keeper.query("SELECT timezone()", "TSVRaw").bytes().decode().strip()
        names = self._keeper.query(
            "SELECT number, errorCodeToName(number) FROM numbers(2000) WHERE errorCodeToName(number) != ''",
            "TSVRaw",
        )
        self.error_codes: dict[str, int] = {}
        for line in names.bytes().decode().splitlines():
            code, name = line.split("\t")
            self.error_codes[name] = int(code)

    def _new(self, role: str, ident: str = ALL_ROWS) -> Conn:
        """Open a connection for a pool key: a role, ``:ro`` for read-only (GET), with the role's limits.

        ``reader:insert`` is a writable connection with a reader's limits, for inserts a reader's
        ``insert_into`` grant allows (the endpoint has checked the statement). ``ident`` is the
        connection's fixed identity (module docstring).
        """
        base, _, mode = role.partition(":")
        readonly = (base in READONLY_ROLES and mode != "insert") or mode == "ro"
        params: dict[str, str] = {"readonly": "2"} if readonly else {}
        if self.config_file is not None:
            params["log_comment"] = ident
        suffix = "?" + urllib.parse.urlencode(params) if params else ""
        conn = Conn(chdb.connect(self.path + suffix), role, ident)  # type: ignore[no-untyped-call]
        for key, value in self.role_settings.get(base, {}).items():
            conn.run(f"SET {key} = {setting_literal(str(value))}")
        return conn

    @contextmanager
    def connection(self, role: str, ident: str = ALL_ROWS) -> Iterator[Conn]:
        """Borrow a session-less connection of a role and identity for one request."""
        key = (role, fingerprint(ident) if ident != ALL_ROWS else ALL_ROWS)
        with self._lock:
            pool = self._idle.setdefault(key, [])
            conn = pool.pop() if pool else None
        if conn is None:
            conn = self._new(role, ident)
        ok = False
        try:
            yield conn
            ok = True
        finally:
            with self._lock:
                pool = self._idle.setdefault(key, [])
                if ok and not conn.dirty and len(pool) < self._max_idle:
                    pool.append(conn)
                    conn = None
            if conn is not None:
                conn.close()

    @contextmanager
    def session(
        self, session_id: str, user: str, role: str, timeout_s: float, ident: str = ALL_ROWS
    ) -> Iterator[Conn]:
        """Use the connection of a session, creating it on first use.

        A session whose user's entitlement changed since its connection was opened gets a new connection
        (its temporary tables and ``SET`` values go): a changed rule applies to running sessions too.

        Raises
        ------
        ClickHouseError
            SESSION_IS_LOCKED if another request of the same session is running, as ClickHouse does.
        """
        with self._lock:
            sess = self._sessions.get(session_id)
            if sess is None:
                sess = Session(self._new(role, ident), user, timeout_s)
                self._sessions[session_id] = sess
        if sess.user != user:
            raise ClickHouseError.named(
                "SESSION_NOT_FOUND", f"Session {session_id} not found (it belongs to another user)"
            )
        # A short wait covers the previous request of the session, whose response the client may have
        # read before this thread released the session; a genuinely concurrent request is refused.
        if not sess.lock.acquire(timeout=SESSION_LOCK_WAIT_S):
            raise ClickHouseError.named(
                "SESSION_IS_LOCKED", f"Session {session_id} is locked by a concurrent client."
            )
        try:
            sess.timeout_s = timeout_s
            if sess.conn.ident != ident and sess.user == user:
                sess.conn.close()
                sess.conn = self._new(role, ident)
            yield sess.conn
        finally:
            sess.last_used = time.monotonic()
            sess.lock.release()

    def has_session(self, session_id: str) -> bool:
        """Whether a session with this id exists."""
        with self._lock:
            return session_id in self._sessions

    def expire_sessions(self) -> int:
        """Close sessions idle for longer than their timeout; return how many were closed."""
        now = time.monotonic()
        closed: list[Session] = []
        with self._lock:
            for sid, sess in list(self._sessions.items()):
                if now - sess.last_used > sess.timeout_s and not sess.lock.locked():
                    closed.append(self._sessions.pop(sid))
        for sess in closed:
            sess.conn.close()
        return len(closed)

    def stats(self) -> dict[str, int]:
        """Return counts for ``mi store status``."""
        with self._lock:
            return {
                "sessions": len(self._sessions),
                "idle_connections": sum(len(v) for v in self._idle.values()),
            }

    def close(self) -> None:
        """Close every connection, then the engine."""
        with self._lock:
            conns = [c for pool in self._idle.values() for c in pool]
            conns += [s.conn for s in self._sessions.values()]
            self._idle.clear()
            self._sessions.clear()
        for c in conns:
            c.close()
        with contextlib.suppress(Exception):
            self._keeper.close()
