"""The audit trail's records and their hash chain: append, anchor, verify.

Every record carries the hash of the record before it: ``hash = HMAC-SHA256(key, canonical(record))`` where
the canonical form includes the sequence number and ``prev_hash``. The key is kept outside the store
(:func:`load_key`), so a user who can change the store's files still cannot write a record that verifies.
:func:`verify` re-computes the chain and names the first record that was changed, deleted, inserted or
reordered; the chain's head kept beside the key (the writer's journal) catches a truncated tail.

Retention removes whole days (``TTL toStartOfDay(at_utc) + INTERVAL 2 YEAR``); the first record of every
day has a signed *anchor* (its sequence number and ``prev_hash``, signed with the key), so the chain stays
verifiable from the first record kept.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: the ``prev_hash`` of the first record ever written
GENESIS = "0" * 64
#: what a record is about
KINDS = (
    "query", "store_login_failed", "login", "login_failed", "logout", "page", "api", "export",
    "access_change", "user_change", "verify", "routing",
)  # fmt: skip
#: kinds a service may submit (the others the store writes itself)
SUBMITTED_KINDS = frozenset(KINDS) - {"query", "store_login_failed", "user_change"}
KEY_FILE = "audit.key"
JOURNAL_FILE = "audit.journal"


@dataclass(frozen=True)
class Record:
    """One audit record.

    Attributes
    ----------
    seq : int
        Position in the chain, from 1, without gaps.
    at_utc : str
        When it happened, ISO 8601 UTC with microseconds.
    kind : str
        One of :data:`KINDS`.
    user : str
        Whom it is about (the user a query ran as, who logged in, ...).
    caller : str
        The service that acted for ``user`` ('' if the user acted themself).
    source : str
        Where from: the client's address, or the service that reported it.
    action : str
        What: a query fingerprint, a page name, an API route, an export id, a rule id.
    target : str
        On what: tables, a dataset, a user.
    outcome : str
        ``ok``, ``refused`` or ``error``.
    rows, bytes : int
        Rows and bytes returned or exported [rows], [bytes].
    detail : str
        JSON with the rest (query text, error, ...).
    prev_hash, hash : str
        The chain: the previous record's hash, and this record's.
    """

    seq: int
    at_utc: str
    kind: str
    user: str
    caller: str = ""
    source: str = ""
    action: str = ""
    target: str = ""
    outcome: str = "ok"
    rows: int = 0
    bytes: int = 0
    detail: str = ""
    prev_hash: str = GENESIS
    hash: str = ""

    def canonical(self) -> builtins.bytes:
        """Return the bytes the hash covers: every field but ``hash``, in a fixed order."""
        values = [getattr(self, f) for f in FIELDS if f != "hash"]
        return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()

    def row(self) -> dict[str, Any]:
        """Return the record as a table row."""
        return asdict(self)


FIELDS: tuple[str, ...] = tuple(Record.__dataclass_fields__)


def record_hash(key: builtins.bytes, record: Record) -> str:
    """Return the HMAC-SHA256 of a record's canonical form (hex)."""
    return hmac.new(key, record.canonical(), hashlib.sha256).hexdigest()


def anchor_signature(key: bytes, seq: int, prev_hash: str) -> str:
    """Return the signature of an anchor: record ``seq`` follows a record whose hash is ``prev_hash``."""
    return hmac.new(key, f"anchor|{seq}|{prev_hash}".encode(), hashlib.sha256).hexdigest()


def now_text(at: datetime | None = None) -> str:
    """Return an instant as a record's ``at_utc`` (UTC, microseconds)."""
    at = at or datetime.now(UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_key(directory: Path, *, create: bool = False) -> bytes:
    """Return the chain key kept in ``directory`` (created with mode 0600 when asked and missing).

    Raises
    ------
    FileNotFoundError
        If there is no key and ``create`` is false.
    """
    path = directory / KEY_FILE
    if not path.exists():
        if not create:
            raise FileNotFoundError(
                f"no audit key at {path}: the store writes it when it starts (keep it outside the store)"
            )
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


@dataclass
class Chain:
    """The head of the chain: appends records, and says when a record opens a new day (anchor)."""

    key: bytes
    seq: int = 0
    head: str = GENESIS
    day: str = ""

    def append(self, record: Record) -> tuple[Record, dict[str, Any] | None]:
        """Return the record with its place in the chain, and an anchor row when it is a day's first."""
        self.seq += 1
        rec = replace(record, seq=self.seq, prev_hash=self.head, hash="")
        rec = replace(rec, hash=record_hash(self.key, rec))
        anchor = None
        day = rec.at_utc[:10]
        if day != self.day:
            anchor = {
                "seq": rec.seq,
                "at_utc": rec.at_utc,
                "prev_hash": rec.prev_hash,
                "signature": anchor_signature(self.key, rec.seq, rec.prev_hash),
            }
            self.day = day
        self.head = rec.hash
        return rec, anchor


@dataclass
class Verdict:
    """What :func:`verify` found."""

    ok: bool
    checked: int
    first_seq: int | None = None
    last_seq: int | None = None
    #: the first bad record's sequence number, and what is wrong with it
    bad_seq: int | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        span = f"records {self.first_seq}..{self.last_seq}" if self.checked else "no records"
        if self.ok:
            return f"audit chain verified: {self.checked:,} {span}" + "".join(f"; {n}" for n in self.notes)
        return f"audit chain BROKEN at record {self.bad_seq}: {self.reason} ({self.checked:,} checked before)"


def verify(
    records: Iterable[Record],
    key: bytes,
    *,
    anchors: Mapping[int, Mapping[str, Any]] | None = None,
    head: tuple[int, str] | None = None,
    previous: Record | None = None,
) -> Verdict:
    """Re-compute the chain over ``records`` (in the order stored: by ``seq``) and name the first bad one.

    Parameters
    ----------
    records : iterable of Record
        The records to check, ordered by ``seq`` as the table returns them.
    key : bytes
        The chain key.
    anchors : mapping, optional
        ``seq`` -> anchor row (``prev_hash``, ``signature``): lets a chain start after record 1 (retention).
    head : (int, str), optional
        The last (seq, hash) the writer wrote (its journal): a shorter chain lost its tail.
    previous : Record, optional
        The record just before the first one (``--since``): its own hash is checked and the chain continues.
    """
    anchors = anchors or {}
    checked = 0
    expected_seq: int | None = None
    prev_hash: str | None = None
    first: int | None = None
    last: Record | None = None
    notes: list[str] = []
    if previous is not None:
        if record_hash(key, previous) != previous.hash:
            return Verdict(False, 0, bad_seq=previous.seq, reason="it was changed (its hash does not match)")
        expected_seq, prev_hash = previous.seq + 1, previous.hash
    for rec in records:
        if expected_seq is None:
            first = rec.seq
            if rec.seq == 1:
                if rec.prev_hash != GENESIS:
                    return Verdict(False, 0, bad_seq=1, reason="the first record does not start the chain")
            else:
                anchor = anchors.get(rec.seq)
                if anchor is None or anchor["prev_hash"] != rec.prev_hash:
                    return Verdict(
                        False, 0, bad_seq=rec.seq,
                        reason=f"records before {rec.seq} are missing and no valid anchor vouches for it",
                    )  # fmt: skip
                if not hmac.compare_digest(
                    str(anchor["signature"]), anchor_signature(key, rec.seq, rec.prev_hash)
                ):
                    return Verdict(False, 0, bad_seq=rec.seq, reason="its anchor's signature is wrong")
                notes.append(f"starts at record {rec.seq} (earlier records past retention; anchored)")
            expected_seq, prev_hash = rec.seq, rec.prev_hash
        first = first if first is not None else rec.seq
        if rec.seq > expected_seq:
            missing = expected_seq if rec.seq - expected_seq == 1 else f"{expected_seq}..{rec.seq - 1}"
            return Verdict(False, checked, first, last.seq if last else None, expected_seq,
                           f"record(s) {missing} are missing (deleted)")  # fmt: skip
        if rec.seq < expected_seq:
            return Verdict(False, checked, first, last.seq if last else None, rec.seq,
                           f"a record with seq {rec.seq} appears again after {expected_seq - 1} "
                           "(inserted or reordered)")  # fmt: skip
        if rec.prev_hash != prev_hash:
            return Verdict(False, checked, first, last.seq if last else None, rec.seq,
                           "it does not follow the record before it (inserted, reordered, "
                           "or the one before was replaced)")  # fmt: skip
        if not hmac.compare_digest(rec.hash, record_hash(key, rec)):
            return Verdict(False, checked, first, last.seq if last else None, rec.seq,
                           "it was changed (its hash does not match its content)")  # fmt: skip
        checked += 1
        expected_seq, prev_hash, last = rec.seq + 1, rec.hash, rec
    if head is not None and head[0] > 0:
        last_seq = last.seq if last else (previous.seq if previous else 0)
        last_hash = last.hash if last else (previous.hash if previous else GENESIS)
        if last_seq < head[0]:
            return Verdict(False, checked, first, last_seq or None, last_seq + 1,
                           f"the tail is missing: the writer wrote up to record {head[0]}")  # fmt: skip
        if last_seq == head[0] and last_hash != head[1]:
            return Verdict(
                False, checked, first, last_seq, last_seq, "the last record differs from the writer's"
            )
    return Verdict(True, checked, first, last.seq if last else None, notes=notes)


def records_from_rows(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> list[Record]:
    """Build records from table rows (any column order)."""
    idx = {c: i for i, c in enumerate(columns)}
    out = []
    for row in rows:
        values = {f: row[idx[f]] for f in FIELDS}
        values["seq"] = int(values["seq"])
        values["rows"] = int(values["rows"])
        values["bytes"] = int(values["bytes"])
        out.append(Record(**values))
    return out


def journal_head(directory: Path) -> tuple[int, str] | None:
    """Return the (seq, hash) of the last record the writer journaled, or None without a journal."""
    path = directory / JOURNAL_FILE
    if not path.exists():
        return None
    last = None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line
            last = (int(data["seq"]), str(data["hash"]))
    return last


AUDIT_TABLE = "mi_system.audit_log"
ANCHOR_TABLE = "mi_system.audit_anchors"
_PAGE = 200_000


def verify_store(client: Any, directory: Path, since: datetime | None = None) -> Verdict:
    """Verify the store's audit chain with the key and head kept in ``directory``.

    The head is read first, then the store is asked to write what it holds (``SYSTEM FLUSH LOGS``), so
    records written while verifying (this check's own queries among them) are not taken for tampering.

    Parameters
    ----------
    client : clickhouse_connect client
        An admin (or service account) of the store.
    directory : Path
        The audit directory (key and journal).
    since : datetime, optional
        Check only records from this instant on (and the record just before, whose hash is checked).
    """
    key = load_key(directory)
    head = journal_head(directory)
    client.command("SYSTEM FLUSH LOGS")
    upto = head[0] if head else None
    anchors = {
        int(r[0]): {"prev_hash": r[1], "signature": r[2]}
        for r in client.query(f"SELECT seq, prev_hash, signature FROM {ANCHOR_TABLE} FINAL").result_rows
    }
    start = 0
    previous = None
    if since is not None:
        found = client.query(
            f"SELECT min(seq) FROM {AUDIT_TABLE} WHERE at_utc >= {{t:String}}",
            parameters={"t": now_text(since)},
        ).result_rows
        first = int(found[0][0] or 0) if found else 0
        if first > 1:
            rows = client.query(f"SELECT {', '.join(FIELDS)} FROM {AUDIT_TABLE} WHERE seq = {first - 1}")
            prev = records_from_rows(rows.result_rows, FIELDS)
            previous = prev[0] if prev else None
            start = first if previous is not None else 0

    def pages() -> Iterable[Record]:
        lo = start
        while True:
            cond = f"seq >= {lo}" + (f" AND seq <= {upto}" if upto is not None else "")
            rows = client.query(
                f"SELECT {', '.join(FIELDS)} FROM {AUDIT_TABLE} WHERE {cond} ORDER BY seq, hash LIMIT {_PAGE}"
            ).result_rows
            batch = records_from_rows(rows, FIELDS)
            yield from batch
            if len(batch) < _PAGE:
                return
            lo = batch[-1].seq + 1

    return verify(pages(), key, anchors=anchors, head=head, previous=previous)
