"""The store's audit writer: the only writer of ``mi_system.audit_log`` and ``mi_system.audit_anchors``.

Each record is chained (:mod:`marketintel.access.audit`) and appended to a journal file beside the chain
key, outside the store, before the request it describes is answered: a store killed with ``kill -9`` loses
no record of an answered request (the journal is written with ``write``; what the kernel has is kept when
the process dies). A background thread copies the journal's records into the table every
``flush_interval_s`` and notes the last one written (``audit.flushed``); at start the writer copies the
journal's records after that mark into the table and continues the chain from the journal's last record.
Records the table lost *before* the mark are not copied back: they were deleted, and ``mi audit verify``
must see that. The journal keeps at least the last record, which is the chain's head that ``mi audit verify``
compares the table with (a truncated tail).

No user can write to the audit tables: the endpoint refuses every statement but a read that names them
(:func:`names_audit_table`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from marketintel.access.audit import FIELDS, JOURNAL_FILE, Chain, Record, load_key, now_text
from marketintel.store.endpoint.querylog import DATABASE
from marketintel.store.endpoint.running import sql_string
from marketintel.store.endpoint.sqltext import IncompleteError, iter_tokens

log = logging.getLogger("marketintel.store.endpoint")

TABLE = f"{DATABASE}.audit_log"
ANCHORS = f"{DATABASE}.audit_anchors"
AUDIT_TABLES = frozenset({"audit_log", "audit_anchors"})
#: days the audit log keeps a record (whole days: the first kept record is a day's first, which is anchored)
RETENTION_DAYS = 731
#: the last sequence number known to be in the table, kept beside the journal
FLUSHED_FILE = "audit.flushed"
#: the journal is compacted to its last record once everything in it is in the table and it is this big
JOURNAL_COMPACT_BYTES = 16 << 20

_COLUMNS: list[tuple[str, str, str]] = [
    ("seq", "UInt64", "position in the chain, from 1, without gaps"),
    ("at_utc", "String", "when it happened (ISO 8601 UTC, microseconds): hashed as written"),
    ("kind", "LowCardinality(String)", "query, store_login_failed, login, login_failed, page, api, export, "
     "access_change, user_change, verify"),
    ("user", "LowCardinality(String)", "whom it is about"),
    ("caller", "LowCardinality(String)", "the service acting for the user, '' if none"),
    ("source", "String", "the client's address or the reporting service"),
    ("action", "String", "query fingerprint, page, route, export id, rule id"),
    ("target", "String", "tables, dataset or user concerned"),
    ("outcome", "LowCardinality(String)", "ok, refused or error"),
    ("rows", "UInt64", "rows returned or exported [rows]"),
    ("bytes", "UInt64", "bytes returned or exported [bytes]"),
    ("detail", "String", "JSON: query text, error, ..."),
    ("prev_hash", "String", "hash of the previous record (hex)"),
    ("hash", "String", "HMAC-SHA256 of this record with the chain key (hex)"),
    ("event_time", "DateTime64(6, 'UTC') DEFAULT parseDateTime64BestEffort(at_utc, 6, 'UTC')",
     "at_utc as a time, for queries and retention"),
]  # fmt: skip


def ddl() -> list[str]:
    """Return the statements that create the audit tables (idempotent)."""
    cols = ",\n  ".join(f"`{name}` {type_} COMMENT {sql_string(doc)}" for name, type_, doc in _COLUMNS)
    return [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  {cols}\n) ENGINE = MergeTree "
        "PARTITION BY toYYYYMM(event_time) ORDER BY seq "
        f"TTL toStartOfDay(event_time) + INTERVAL {RETENTION_DAYS} DAY",
        f"CREATE TABLE IF NOT EXISTS {ANCHORS} (seq UInt64, at_utc String, prev_hash String, "
        "signature String) ENGINE = ReplacingMergeTree ORDER BY seq",
    ]


def names_audit_table(sql: str) -> bool:
    """Whether a statement names an audit table or the endpoint's own database (outside literals)."""
    try:
        for tok in iter_tokens(sql):
            if tok.kind in ("word", "quoted"):
                name = tok.text.strip('`"')
                if name in AUDIT_TABLES or name == DATABASE:
                    return True
    except IncompleteError:
        return False
    return False


def _utf8(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_journal(path: Path) -> list[Record]:
    """Return the records of a journal (a torn last line, from a kill mid-write, is skipped)."""
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                out.append(Record(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                log.warning("audit journal %s: an unreadable line skipped", path)
    return out


class AuditWriter:
    """Appends chained records: journal first, then the table.

    Parameters
    ----------
    connect : callable
        Returns a context manager yielding an admin chDB connection (``Engine.connection``).
    directory : Path
        Where the key and the journal are kept (outside the store's data directory).
    flush_interval_s : float
        Largest delay between a record and its row in the table [s].
    """

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Any]],
        directory: Path,
        flush_interval_s: float = 0.5,
    ) -> None:
        self._connect = connect
        self.directory = directory
        self._interval = flush_interval_s
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: list[Record] = []
        self._anchors: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audit-writer", daemon=True)
        self.chain = Chain(load_key(directory, create=True))
        self.journal_path = directory / JOURNAL_FILE
        self._journal: Any = None
        self.flushed_seq = 0
        self.failures = 0

    # -- start: tables, recovery ------------------------------------------------------------------------
    def start(self) -> None:
        """Create the tables, copy what the table lacks from the journal, continue the chain, start."""
        with self._connect() as conn:
            for statement in ddl():
                conn.run(statement)
            res = conn.raw.query(
                f"SELECT seq, hash, at_utc FROM {TABLE} ORDER BY seq DESC LIMIT 1", "JSONCompactEachRow"
            )
            text = res.bytes().decode().strip() if res is not None else ""
        table_last = json.loads(text) if text else None
        journal = read_journal(self.journal_path)
        table_seq = int(table_last[0]) if table_last else 0
        mark = self._read_mark()
        if mark > table_seq:
            log.error(
                "audit: the table ends at record %d but records up to %d were written to it: records were "
                "deleted (mi audit verify names them); continuing the chain", table_seq, mark,
            )  # fmt: skip
        missing = [r for r in journal if r.seq > max(table_seq, mark)]
        if missing:
            log.info("audit: %d journal record(s) not yet in the table; writing them", len(missing))
            self._pending = missing
            self._anchors = self._anchors_for(missing, table_last[2][:10] if table_last else "")
            self.flush()
        self.flushed_seq = max(table_seq, mark, missing[-1].seq if missing else 0)
        last = journal[-1] if journal and journal[-1].seq >= table_seq else None
        if last is not None:
            self.chain.seq, self.chain.head, self.chain.day = last.seq, last.hash, last.at_utc[:10]
        elif table_last is not None:
            if journal:
                log.warning(
                    "audit: the journal ends before the table (record %s); continuing the table", table_seq
                )
            else:
                log.warning("audit: no journal at %s; continuing the chain from the table", self.journal_path)
            self.chain.seq, self.chain.head, self.chain.day = table_seq, table_last[1], table_last[2][:10]
        self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        os.chmod(self.journal_path, 0o600)
        self._thread.start()

    def _anchors_for(self, records: list[Record], day_before: str) -> list[dict[str, Any]]:
        from marketintel.access.audit import anchor_signature

        out = []
        day = day_before
        for rec in records:
            if rec.at_utc[:10] != day:
                signature = anchor_signature(self.chain.key, rec.seq, rec.prev_hash)
                out.append(
                    {"seq": rec.seq, "at_utc": rec.at_utc, "prev_hash": rec.prev_hash, "signature": signature}
                )
                day = rec.at_utc[:10]
        return out

    # -- appending ----------------------------------------------------------------------------------------
    def append(self, kind: str, user: str, **fields: Any) -> Record:
        """Chain a record and write it to the journal; it reaches the table within ``flush_interval_s``."""
        # text as valid UTF-8 (a request's non-UTF-8 bytes as U+FFFD, as the query log keeps them)
        clean: dict[str, Any] = {k: _utf8(v) if isinstance(v, str) else v for k, v in fields.items()}
        base = Record(seq=0, at_utc=now_text(), kind=kind, user=_utf8(user), **clean)
        with self._lock:
            rec, anchor = self.chain.append(base)
            line = json.dumps(rec.row(), ensure_ascii=False, separators=(",", ":")) + "\n"
            if self._journal is not None:
                self._journal.write(line)
                self._journal.flush()
            self._pending.append(rec)
            if anchor is not None:
                self._anchors.append(anchor)
        return rec

    def flush(self) -> int:
        """Write the pending records (and anchors) to the tables; return how many records were written."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
                anchors, self._anchors = self._anchors, []
            if not batch:
                return 0
            try:
                with self._connect() as conn:
                    if anchors:
                        ins = conn.raw.send_insert(f"INSERT INTO {ANCHORS}", "JSONEachRow")
                        ins.append("".join(json.dumps(a) + "\n" for a in anchors).encode())
                        ins.finish()
                    data = "".join(
                        json.dumps({f: getattr(r, f) for f in FIELDS}, ensure_ascii=False) + "\n"
                        for r in batch
                    ).encode()
                    ins = conn.raw.send_insert(f"INSERT INTO {TABLE} ({', '.join(FIELDS)})", "JSONEachRow")
                    ins.append(data)
                    ins.finish()
            except Exception as exc:  # kept in the journal; retried at the next flush
                self.failures += 1
                with self._lock:
                    self._pending = batch + self._pending
                    self._anchors = anchors + self._anchors
                log.warning(
                    "audit: %d record(s) not yet in the table (kept in the journal): %s", len(batch), exc
                )
                return 0
            self.flushed_seq = batch[-1].seq
            self._write_mark(self.flushed_seq)
            self._compact()
            return len(batch)

    def _read_mark(self) -> int:
        try:
            return int((self.directory / FLUSHED_FILE).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _write_mark(self, seq: int) -> None:
        path = self.directory / FLUSHED_FILE
        tmp = path.with_name(f".{FLUSHED_FILE}.tmp")
        tmp.write_text(str(seq))
        tmp.replace(path)

    def _compact(self) -> None:
        """Shrink a large journal to its last record once the table has everything."""
        if self._journal is None or self.journal_path.stat().st_size < JOURNAL_COMPACT_BYTES:
            return
        with self._lock:
            if self._pending:
                return
            records = read_journal(self.journal_path)
            tmp = self.journal_path.with_name(f".{JOURNAL_FILE}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                if records:
                    fh.write(json.dumps(records[-1].row(), ensure_ascii=False, separators=(",", ":")) + "\n")
            os.chmod(tmp, 0o600)
            self._journal.close()
            tmp.replace(self.journal_path)
            self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        """Stop the flusher, write what is left, close the journal."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.flush()
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None
