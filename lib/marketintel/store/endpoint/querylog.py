"""The endpoint's query log: one row per statement, in the store, readable as ``system.query_log``.

chDB keeps no ``system.query_log``. The endpoint writes its own to ``mi_system.query_log`` with ClickHouse's
column names (a subset: who, which query id, the normalized-query fingerprint, when, how long, rows and
bytes read, written and returned, the exception), flushed in batches every second and on
``SYSTEM FLUSH LOGS``, kept for a bounded time by a TTL. Queries through the endpoint that name
``system.query_log`` read this table (a user who is not an admin sees only their own rows).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marketintel.store.endpoint.running import QUERY_TEXT_LIMIT, sql_string

log = logging.getLogger("marketintel.store.endpoint")

DATABASE = "mi_system"
TABLE = f"{DATABASE}.query_log"

#: (column, type, what it holds): ClickHouse's ``system.query_log`` names for what the endpoint knows
COLUMNS: list[tuple[str, str, str]] = [
    ("type", "Enum8('QueryStart' = 1, 'QueryFinish' = 2, 'ExceptionBeforeStart' = 3, "
     "'ExceptionWhileProcessing' = 4)", "how the statement ended"),
    ("event_date", "Date", "day the statement ended (UTC)"),
    ("event_time", "DateTime('UTC')", "when the statement ended [s]"),
    ("event_time_microseconds", "DateTime64(6, 'UTC')", "when the statement ended [us]"),
    ("query_start_time", "DateTime('UTC')", "when the statement started [s]"),
    ("query_start_time_microseconds", "DateTime64(6, 'UTC')", "when the statement started [us]"),
    ("query_duration_ms", "UInt64", "wall time [ms]"),
    ("read_rows", "UInt64", "rows read from tables [rows]"),
    ("read_bytes", "UInt64", "bytes read from tables [bytes]"),
    ("written_rows", "UInt64", "rows inserted [rows]"),
    ("written_bytes", "UInt64", "bytes inserted [bytes]"),
    ("result_rows", "UInt64", "rows returned to the client [rows]"),
    ("result_bytes", "UInt64", "bytes returned to the client, before HTTP compression [bytes]"),
    ("current_database", "LowCardinality(String)", "the statement's database"),
    ("query", "String", "the statement as sent (INSERT data left out)"),
    ("normalized_query_hash", "UInt64 DEFAULT normalizedQueryHash(query)",
     "fingerprint: equal for statements that differ only in literals"),
    ("query_kind", "LowCardinality(String)", "read, insert, session, write, ddl or unknown"),
    ("exception_code", "Int32", "ClickHouse error code, 0 when it succeeded"),
    ("exception", "String", "the error message, empty when it succeeded"),
    ("user", "LowCardinality(String)", "the store user"),
    ("query_id", "String", "the client's query id"),
    ("http_method", "UInt8", "1 GET, 2 POST"),
    ("http_user_agent", "String", "the client's User-Agent"),
    ("address", "String", "the client's address"),
]  # fmt: skip


def ddl(ttl_days: int) -> list[str]:
    """Return the statements that create the query log (idempotent)."""
    cols = ",\n  ".join(f"`{name}` {type_} COMMENT {sql_string(doc)}" for name, type_, doc in COLUMNS)
    return [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  {cols}\n) ENGINE = MergeTree "
        "PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, event_time, query_id) "
        f"TTL event_date + INTERVAL {int(ttl_days)} DAY",
    ]


@dataclass
class Entry:
    """What is logged of one statement."""

    type: str
    started: datetime
    ended: datetime
    user: str
    query_id: str
    query: str
    query_kind: str
    database: str
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    exception_code: int = 0
    exception: str = ""
    http_method: int = 0
    user_agent: str = ""
    address: str = ""

    def row(self) -> dict[str, Any]:
        """Return the entry as a JSONEachRow object."""
        return {
            "type": self.type,
            "event_date": self.ended.strftime("%Y-%m-%d"),
            "event_time": int(self.ended.timestamp()),
            "event_time_microseconds": self.ended.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "query_start_time": int(self.started.timestamp()),
            "query_start_time_microseconds": self.started.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "query_duration_ms": max(0, int((self.ended - self.started).total_seconds() * 1000)),
            "read_rows": self.read_rows,
            "read_bytes": self.read_bytes,
            "written_rows": self.written_rows,
            "written_bytes": self.written_bytes,
            "result_rows": self.result_rows,
            "result_bytes": self.result_bytes,
            "current_database": self.database,
            "query": _text(self.query[:QUERY_TEXT_LIMIT]),
            "query_kind": self.query_kind,
            "exception_code": self.exception_code,
            "exception": _text(self.exception),
            "user": self.user,
            "query_id": self.query_id,
            "http_method": self.http_method,
            "http_user_agent": self.user_agent,
            "address": self.address,
        }


def _text(value: str) -> str:
    """Return text with the request's non-UTF-8 bytes shown as U+FFFD (the log stores valid UTF-8)."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class QueryLog:
    """Buffer log entries and write them to the store in batches.

    Parameters
    ----------
    connect : callable
        Returns a context manager yielding an admin chDB connection (``Engine.connection``).
    flush_interval_s : float
        Largest delay between a statement's end and its row being queryable [s].
    """

    def __init__(
        self, connect: Callable[[], AbstractContextManager[Any]], flush_interval_s: float = 1.0
    ) -> None:
        self._connect = connect
        self._interval = flush_interval_s
        self._buffer: list[Entry] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="query-log", daemon=True)
        self.dropped = 0

    def start(self) -> None:
        """Start the background flusher."""
        self._thread.start()

    def add(self, entry: Entry) -> None:
        """Queue one entry."""
        with self._lock:
            self._buffer.append(entry)

    def flush(self) -> int:
        """Write what is buffered now; return the number of rows written."""
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                data = "".join(json.dumps(e.row(), ensure_ascii=False) + "\n" for e in batch).encode()
                with self._connect() as conn:
                    ins = conn.raw.send_insert(f"INSERT INTO {TABLE}", "JSONEachRow")
                    ins.append(data)
                    ins.finish()
            except Exception as exc:  # the log must never take the endpoint down
                self.dropped += len(batch)
                log.warning("query log: %d entries not written: %s", len(batch), exc)
                return 0
            return len(batch)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        """Stop the flusher and write what is left."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.flush()
