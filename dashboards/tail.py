"""The live tail: one shared store poller per (market, location, resolution) for every session.

A :class:`Tail` polls the store every :data:`POLL_S` seconds, through
:func:`marketintel.services.queries.price_series`, for the rows that start at or after the last interval it
has seen, and keeps the newest :data:`BUFFER_ROWS` rows in memory. Each browser session that has the live
toggle on *subscribes* with a callback and the start of the last row it already shows; it then receives
each new row exactly once (first the buffered rows newer than what it shows, then new rows as they
arrive). A row whose interval was already delivered but whose values changed (a revision, or an hourly or
daily bucket that received another interval) is delivered again as a *changed* row.

However many sessions watch a key, the store is polled once for it. The poller thread starts with the
first subscriber and stops when the last one leaves (a session ends: ``pn.state.on_session_destroyed``,
or its live toggle is switched off).

Rows inserted with an interval start *before* the last one seen (a back-fill) are not tailed: reload the
page for those.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from marketintel.services import queries

__all__ = [
    "BUFFER_ROWS",
    "POLL_S",
    "Subscription",
    "Tail",
    "TailEvent",
    "TailKey",
    "active_tails",
    "subscribe",
]

log = logging.getLogger(__name__)

#: how often a poller reads the store [s]
POLL_S = 0.4
#: rows a poller keeps for subscribers that join late [rows]
BUFFER_ROWS = 5_000
#: how far past the last seen interval a poll reads (covers day-ahead intervals of the coming days) [days]
HORIZON_DAYS = 400
START = "interval_start_utc"


@dataclass(frozen=True)
class TailKey:
    """What a poller reads: one price series at one resolution.

    Parameters
    ----------
    market, location
        ``prices.market`` and ``prices.location``.
    resolution
        One of :data:`marketintel.services.queries.RESOLUTIONS`.
    """

    market: str
    location: str
    resolution: str = "native"


@dataclass(frozen=True)
class TailEvent:
    """What a subscriber receives from one poll.

    Attributes
    ----------
    new : pd.DataFrame
        Rows whose interval starts after every row delivered before, ordered by ``interval_start_utc``,
        with the columns of :func:`~marketintel.services.queries.price_series` at the key's resolution.
    changed : pd.DataFrame
        Rows already delivered whose values changed since (same columns), possibly empty.
    """

    new: pd.DataFrame
    changed: pd.DataFrame


Callback = Callable[[TailEvent], None]
Fetch = Callable[[TailKey, pd.Timestamp], pd.DataFrame]


def fetch_prices(client: Any) -> Fetch:
    """Return the poll function of a store: the rows of a key whose intervals start at or after a time.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store (read-only access is enough).

    Returns
    -------
    callable
        ``fetch(key, since)`` returning :func:`~marketintel.services.queries.price_series` over
        ``[since, since + HORIZON_DAYS)`` at ``key.resolution``, known now; empty when there is none.
    """

    def fetch(key: TailKey, since: pd.Timestamp) -> pd.DataFrame:
        return queries.price_series(
            client,
            key.market,
            key.location,
            since,
            since + pd.Timedelta(days=HORIZON_DAYS),
            resolution=key.resolution,  # type: ignore[arg-type]
            limit=BUFFER_ROWS,
            allow_empty=True,
        )

    return fetch


@dataclass(eq=False)
class Subscription:
    """One subscriber of a :class:`Tail`; :meth:`close` it when the session no longer wants rows."""

    tail: Tail
    callback: Callback
    closed: bool = field(default=False)

    def close(self) -> None:
        """Stop receiving rows; the poller stops when its last subscriber closes. Idempotent."""
        if not self.closed:
            self.closed = True
            self.tail.unsubscribe(self)


def _differs(old: pd.Series, new: pd.Series) -> bool:
    """Whether two rows of a series differ in any value (NaN equal to NaN)."""
    for column in new.index:
        a, b = old.get(column), new[column]
        if pd.isna(a) and pd.isna(b):
            continue
        if a != b:
            return True
    return False


class Tail:
    """A shared poller of one :class:`TailKey` with a bounded buffer of the newest rows.

    Parameters
    ----------
    key
        The series polled.
    fetch
        ``fetch(key, since)``: the rows starting at or after ``since`` (see :func:`fetch_prices`).
    since
        Start of the last interval already known to the first subscriber; the poller reads from there.
    poll_s
        Seconds between polls [s].
    buffer_rows
        Rows kept for late subscribers [rows].
    on_stop
        Called (with the tail) once the poller has stopped, to drop it from the registry.
    """

    def __init__(
        self,
        key: TailKey,
        fetch: Fetch,
        since: pd.Timestamp,
        *,
        poll_s: float = POLL_S,
        buffer_rows: int = BUFFER_ROWS,
        on_stop: Callable[[Tail], None] | None = None,
    ) -> None:
        self.key = key
        self.poll_s = poll_s
        self.buffer_rows = buffer_rows
        self.polls = 0
        self.last_error: str = ""
        self._fetch = fetch
        self._on_stop = on_stop
        self._last_seen = since
        self._buffer: pd.DataFrame | None = None
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"tail-{key.market}-{key.location}", daemon=True
        )

    # -- subscribers -------------------------------------------------------------------------------------
    def subscribe(self, callback: Callback, since: pd.Timestamp) -> Subscription | None:
        """Add a subscriber that already shows the rows starting up to ``since``.

        The buffered rows newer than ``since`` are delivered at once (in the caller's thread); later rows
        come from the poller thread. Returns None when the poller has already stopped (take a new one).
        """
        sub = Subscription(self, callback)
        with self._lock:
            if self._stop.is_set():
                return None
            self._subscribers.append(sub)
            backlog = None
            if self._buffer is not None:
                newer = self._buffer[self._buffer[START] > since]
                backlog = newer if len(newer) else None
            if not self._thread.is_alive() and not self._stop.is_set():
                self._thread.start()
        if backlog is not None:
            callback(TailEvent(backlog.reset_index(drop=True), backlog.iloc[:0]))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove ``sub``; with no subscriber left, stop polling."""
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)
            if not self._subscribers:
                self._stop.set()
        if not self._subscribers and self._on_stop is not None:
            self._on_stop(self)

    @property
    def subscribers(self) -> int:
        """How many subscribers the poller has."""
        return len(self._subscribers)

    @property
    def running(self) -> bool:
        """Whether the poller thread is alive."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the poller thread has ended (after the last subscriber left) [s]."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- polling -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
                self.last_error = ""
            except Exception as exc:  # keep polling: the store may come back; sessions show last_error
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("live tail %s: %s", self.key, self.last_error)
            self._stop.wait(self.poll_s)

    def poll(self) -> TailEvent | None:
        """Read the store once and deliver what is new; return it (None when nothing is)."""
        rows = self._fetch(self.key, self._last_seen)
        self.polls += 1
        if rows.empty:
            return None
        rows = rows.sort_values(START, kind="stable").reset_index(drop=True)
        new = rows[rows[START] > self._last_seen]
        changed = self._changed(rows[rows[START] <= self._last_seen])
        if new.empty and changed.empty:
            return None
        event = TailEvent(new.reset_index(drop=True), changed)
        with self._lock:
            self._remember(event)
            if not new.empty:
                self._last_seen = new[START].iloc[-1]
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.callback(event)
            except Exception:  # one broken session must not stop the others' rows
                log.exception("live tail %s: a subscriber failed", self.key)
        return event

    def _changed(self, seen: pd.DataFrame) -> pd.DataFrame:
        """Return the rows of ``seen`` (already delivered intervals) that differ from the buffered ones."""
        if seen.empty or self._buffer is None:
            return seen.iloc[:0].reset_index(drop=True)
        old = self._buffer.set_index(START)
        keep = [
            i
            for i, row in seen.iterrows()
            if row[START] in old.index and _differs(old.loc[row[START]], row.drop(START))
        ]
        return seen.loc[keep].reset_index(drop=True)

    def _remember(self, event: TailEvent) -> None:
        parts = [p for p in (self._buffer, event.new) if p is not None and not p.empty]
        buffer = pd.concat(parts, ignore_index=True) if len(parts) > 1 else event.new.copy()
        if not event.changed.empty:
            buffer = buffer.set_index(START)
            buffer.update(event.changed.set_index(START))
            buffer = buffer.reset_index()
        self._buffer = buffer.tail(self.buffer_rows).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------------------
# The process-wide registry of pollers
# ------------------------------------------------------------------------------------------------------------
_TAILS: dict[TailKey, Tail] = {}
_TAILS_LOCK = threading.Lock()


def _forget(tail: Tail) -> None:
    with _TAILS_LOCK:
        if _TAILS.get(tail.key) is tail and tail.subscribers == 0:
            del _TAILS[tail.key]


def subscribe(
    key: TailKey,
    callback: Callback,
    since: pd.Timestamp,
    fetch: Fetch,
    *,
    poll_s: float = POLL_S,
) -> Subscription:
    """Subscribe to the shared poller of ``key``, starting one if there is none.

    Parameters
    ----------
    key
        The series.
    callback
        Receives each :class:`TailEvent`, from the poller thread (keep it short; hand the rows to the
        session's document with ``add_next_tick_callback``).
    since
        Start of the last interval the subscriber already shows [UTC].
    fetch
        How a new poller reads the store (:func:`fetch_prices`); ignored when the key already has one.
    poll_s
        Seconds between polls of a new poller [s].

    Returns
    -------
    Subscription
        :meth:`Subscription.close` it when the session ends.
    """
    with _TAILS_LOCK:
        tail = _TAILS.get(key)
        sub = None if tail is None else tail.subscribe(callback, since)
        if sub is None:  # no poller, or it stopped as its last subscriber left: start a new one
            tail = Tail(key, fetch, since, poll_s=poll_s, on_stop=_forget)
            _TAILS[key] = tail
            sub = tail.subscribe(callback, since)
        assert sub is not None  # a new poller has not stopped
        return sub


def active_tails() -> dict[TailKey, Tail]:
    """Return the running pollers by key (a copy)."""
    with _TAILS_LOCK:
        return dict(_TAILS)


def stop_all() -> None:
    """Stop every poller (the service is shutting down)."""
    for tail in active_tails().values():
        for sub in list(tail._subscribers):
            sub.close()
