"""The live tail: one shared poller per key, each new row delivered once, stopped with its last subscriber."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from marketintel.dashboards import tail
from marketintel.dashboards.tail import TailEvent, TailKey
from marketintel.store import insert_df
from tests.dashboards.rows import hours, price_rows
from tests.storeproc import wait_until

T0 = pd.Timestamp("2025-01-01", tz="UTC")


@pytest.fixture(autouse=True)
def _no_poller_left() -> Iterator[None]:
    yield
    tail.stop_all()
    for t in list(tail.active_tails().values()):
        t.join(5)
    assert tail.active_tails() == {}


class Collector:
    """A subscriber that records what it receives."""

    def __init__(self) -> None:
        self.events: list[TailEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: TailEvent) -> None:
        with self.lock:
            self.events.append(event)

    def starts(self) -> list[pd.Timestamp]:
        with self.lock:
            return [s for e in self.events for s in e.new["interval_start_utc"]]


class FakeStore:
    """``fetch`` over an in-memory table: counts the polls, filters like ``price_series``."""

    def __init__(self) -> None:
        self.rows = pd.DataFrame({"interval_start_utc": pd.DatetimeIndex([], tz="UTC"), "price": []})
        self.calls = 0
        self.lock = threading.Lock()

    def add(self, start: pd.Timestamp, price: float) -> None:
        with self.lock:
            row = pd.DataFrame({"interval_start_utc": [start], "price": [price]})
            self.rows = pd.concat(
                [self.rows[self.rows["interval_start_utc"] != start], row], ignore_index=True
            )

    def __call__(self, key: TailKey, since: pd.Timestamp) -> pd.DataFrame:
        with self.lock:
            self.calls += 1
            return self.rows[self.rows["interval_start_utc"] >= since].copy()


def test_rows_inserted_after_subscribe_arrive_exactly_once(db_client: Any, sample_db: str) -> None:
    key = TailKey("TAIL_RT", "HUB_A", "native")
    insert_df(db_client, "prices", price_rows("TAIL_RT", "HUB_A", hours("2025-01-01", 3), [1, 2, 3], T0))
    got = Collector()
    sub = tail.subscribe(key, got, T0 + pd.Timedelta(hours=2), tail.fetch_prices(db_client), poll_s=0.05)
    poller = tail.active_tails()[key]
    wait_until(lambda: poller.polls >= 2, "two polls")
    assert got.starts() == []  # what the subscriber already shows is not sent again

    insert_df(db_client, "prices", price_rows("TAIL_RT", "HUB_A", hours("2025-01-01 03:00", 2), [4, 5], T0))
    wait_until(lambda: len(got.starts()) == 2, "the two inserted rows delivered")
    polls = poller.polls
    wait_until(lambda: poller.polls >= polls + 3, "three more polls")
    assert got.starts() == list(hours("2025-01-01 03:00", 2))
    assert [p for e in got.events for p in e.new["price"]] == [4.0, 5.0]
    sub.close()


def test_one_poller_per_key_shared_by_subscribers_and_stopped_with_the_last() -> None:
    store = FakeStore()
    store.add(T0, 1.0)
    key = TailKey("M", "L", "hourly")
    first, second = Collector(), Collector()
    sub1 = tail.subscribe(key, first, T0, store, poll_s=0.02)
    sub2 = tail.subscribe(key, second, T0, store, poll_s=0.02)
    other = tail.subscribe(TailKey("M", "L", "daily"), Collector(), T0, store, poll_s=0.02)
    assert len(tail.active_tails()) == 2  # one per key, not per subscriber
    poller = tail.active_tails()[key]
    assert poller.subscribers == 2

    store.add(T0 + pd.Timedelta(hours=1), 2.0)
    wait_until(lambda: len(first.starts()) == 1 and len(second.starts()) == 1, "both subscribers served")

    sub1.close()
    assert poller.running and key in tail.active_tails()
    sub2.close()
    sub2.close()  # idempotent
    poller.join(5)
    assert not poller.running
    assert key not in tail.active_tails()
    calls = store.calls
    other.close()
    wait_until(lambda: tail.active_tails() == {}, "no poller left")
    assert store.calls <= calls + 1  # nothing polls once every subscriber left


def test_late_subscriber_gets_the_buffered_rows_it_lacks_and_changed_rows_once() -> None:
    store = FakeStore()
    key = TailKey("M", "L", "native")
    early = Collector()
    sub = tail.subscribe(key, early, T0, store, poll_s=0.02)
    store.add(T0 + pd.Timedelta(hours=1), 10.0)
    store.add(T0 + pd.Timedelta(hours=2), 20.0)
    wait_until(lambda: len(early.starts()) == 2, "early subscriber served")

    late = Collector()
    late_sub = tail.subscribe(key, late, T0 + pd.Timedelta(hours=1), store)
    assert late.starts() == [T0 + pd.Timedelta(hours=2)]  # only the row it does not show yet

    store.add(T0 + pd.Timedelta(hours=2), 21.0)  # a revision of a delivered interval
    wait_until(lambda: any(not e.changed.empty for e in early.events), "the revision delivered")
    changed = [row for e in early.events for row in e.changed.itertuples()]
    assert [(r.interval_start_utc, r.price) for r in changed] == [(T0 + pd.Timedelta(hours=2), 21.0)]
    assert len(early.starts()) == 2
    sub.close()
    late_sub.close()
