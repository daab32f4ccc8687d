"""The API's store clients: one per caller, acting for them, and what their entitlement opens.

The API is given a reader store user that may act for users (``MI_CLICKHOUSE_URL``, the store's
``impersonate`` grant). Every read of a request runs as the caller (``execute_as``), so the store applies
their entitlement and audits the query under their name. Before a read the API checks the market against
what the caller's entitlement opens (:meth:`Clients.require`), so a market outside it is a 403 that names
the markets the caller has, never a silent empty result.

The store counts every one of those reads against the API's own store user, whose role caps its
concurrent queries (``max_concurrent_queries_for_user``, 8 for readers) and refuses the next one. So the
API holds its reads to that many at once (:data:`STORE_SLOTS`, ``MI_API_STORE_SLOTS``): a read waits for a
slot up to :data:`SLOT_WAIT_S` (``MI_API_STORE_WAIT_S``) and is then answered 503 "store busy" with
``Retry-After``; under load requests queue instead of being refused by the store. At most
:data:`SLOT_QUEUE` reads wait at once (``MI_API_STORE_QUEUE``); beyond that a read is answered 503 at once.
That bound matters: the reads run on the server's thread pool (40 threads), and a streamed answer gives
its slot back only when its last blocks are read, on that pool; threads that all wait for slots would
starve the streams that hold them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from marketintel.api.problems import Problem, bad_request, forbidden, store_problem, unavailable
from marketintel.services import access, feeds
from marketintel.services.access import Entitlement
from marketintel.store.client import connect
from marketintel.store.endpoint.limits import CONCURRENCY_KEY, DEFAULTS

log = logging.getLogger(__name__)

#: how long a caller's entitlement is reused [s] (the store re-reads rules every second, catalogues 30 s)
ENTITLEMENT_TTL_S = 5.0
#: most callers whose client is kept open
MAX_CLIENTS = 512
#: bounds on talking to the store [s]: a restarted store gives a quick 503, not a hang
CONNECT_TIMEOUT_S = 3.0
QUERY_TIMEOUT_S = 60.0
#: reads of the store at once: the store's cap of the API's (reader) user, which it refuses beyond
STORE_SLOTS = int(os.environ.get("MI_API_STORE_SLOTS", str(DEFAULTS["reader"][CONCURRENCY_KEY])))
#: how long a read waits for a slot before it is answered 503 "store busy" [s]
SLOT_WAIT_S = float(os.environ.get("MI_API_STORE_WAIT_S", "5"))
#: reads that may wait for a slot at once; keep it below the thread pool's 40 threads minus the slots
SLOT_QUEUE = int(os.environ.get("MI_API_STORE_QUEUE", "16"))

#: client methods that run one statement and return when it is done
_ONE_SHOT = frozenset(
    {"command", "query", "query_df", "query_df_arrow", "query_arrow", "query_np", "raw_query"}
    | {"insert", "insert_df", "insert_arrow", "insert_df_arrow", "raw_insert"}
)
#: client methods that return a stream: the statement runs until the stream's context is left
_STREAMS = frozenset(
    {"query_arrow_stream", "query_df_stream", "query_df_arrow_stream", "query_np_stream", "raw_stream"}
    | {"query_row_block_stream", "query_rows_stream", "query_column_block_stream"}
)


class Slots:
    """The API's concurrent reads of the store (a semaphore with a bounded wait)."""

    def __init__(self, size: int = STORE_SLOTS, wait_s: float = SLOT_WAIT_S, queue: int = SLOT_QUEUE) -> None:
        self.size = size
        self.wait_s = wait_s
        self.queue = queue
        self.waiting = 0
        self._lock = threading.Lock()
        self._sem = threading.BoundedSemaphore(size)

    def acquire(self) -> None:
        """Take a slot, waiting up to ``wait_s`` behind at most ``queue`` other waiting reads.

        Raises
        ------
        Problem
            503 with ``Retry-After`` when the queue is full or no slot frees in time.
        """
        with self._lock:
            if self._sem.acquire(blocking=False):
                return
            if self.waiting >= self.queue:
                raise self._busy(f"{self.waiting} more reads are waiting for one")
            self.waiting += 1
        try:
            taken = self._sem.acquire(timeout=self.wait_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not taken:
            raise self._busy(f"none freed within {self.wait_s:g} s")

    def _busy(self, why: str) -> Problem:
        return unavailable(
            "Store",
            f"the store is busy: the API's {self.size} store slots are taken and {why}; retry after the "
            "stated delay",
            retry_after_s=1,
        )

    def release(self) -> None:
        """Give a slot back."""
        self._sem.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


class _SlotStream:
    """A store stream's context that gives its slot back when the stream is closed (once)."""

    def __init__(self, stream: Any, slots: Slots) -> None:
        self._stream = stream
        self._slots: Slots | None = slots

    def _release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.release()

    def __enter__(self) -> Any:
        try:
            return self._stream.__enter__()
        except BaseException:
            self._release()
            raise

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._stream.__exit__(*exc)
        finally:
            self._release()

    def __iter__(self) -> Any:
        return iter(self._stream)

    def __del__(self) -> None:  # a stream dropped without its context: never keep the slot
        self._release()


@contextlib.contextmanager
def _unavailable_as_problem() -> Iterator[None]:
    """Raise a store that cannot be reached or is busy as its 503 problem.

    Wherever the read was (a check before the route's own error handling, a helper), the answer is then
    the problem with ``Retry-After``, handled like every other; an exception left to the catch-all
    handler also gets a 503, but the server then closes the connection, and the proxy's next request on
    it fails with a 503 of its own, without ``Retry-After``.
    """
    try:
        yield
    except Problem:
        raise
    except Exception as exc:
        problem = store_problem(exc)
        if problem is not None and problem.status == 503:
            raise problem from exc
        raise


class BoundedClient:
    """A store client whose statements each hold one of the API's :class:`Slots` while they run."""

    def __init__(self, client: Any, slots: Slots) -> None:
        self._client = client
        self._slots = slots

    @property
    def unbounded(self) -> Any:
        """The clickhouse-connect client itself."""
        return self._client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name in _ONE_SHOT:

            def one_shot(*args: Any, **kwargs: Any) -> Any:
                with self._slots.held(), _unavailable_as_problem():
                    return attr(*args, **kwargs)

            return one_shot
        if name in _STREAMS:

            def stream(*args: Any, **kwargs: Any) -> Any:
                self._slots.acquire()
                try:
                    with _unavailable_as_problem():
                        opened = attr(*args, **kwargs)
                except BaseException:
                    self._slots.release()
                    raise
                return _SlotStream(opened, self._slots)

            return stream
        return attr


class Clients:
    """Store clients of the API: its own and one per caller (LRU), with their entitlements."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: OrderedDict[str, Any] = OrderedDict()
        self._service: Any = None
        self._entitlements: dict[str, tuple[float, Entitlement]] = {}
        #: one lock per caller: concurrent misses of a cold caller connect and read the entitlement once
        #: (a burst of one user's first requests otherwise took every store slot and got 503s)
        self._flights: dict[str, threading.RLock] = {}
        self.slots = Slots()

    def _flight(self, name: str) -> threading.RLock:
        with self._lock:
            return self._flights.setdefault(name, threading.RLock())

    def _connect(self, **settings: Any) -> Any:
        try:
            with self.slots.held():  # connecting asks the store for its version and settings
                client = connect(
                    autogenerate_session_id=False,
                    connect_timeout=CONNECT_TIMEOUT_S,
                    send_receive_timeout=QUERY_TIMEOUT_S,
                    settings=settings or None,
                )
            return BoundedClient(client, self.slots)
        except Exception as exc:  # the store is down or restarting
            problem = store_problem(exc)
            if problem is not None:
                raise problem from None
            raise

    def service(self) -> Any:
        """Return the API's own client (lists markets for messages; reads nothing for callers)."""
        with self._lock:
            if self._service is None:
                self._service = self._connect()
            return self._service

    def _cached_user(self, name: str) -> Any:
        with self._lock:
            client = self._users.get(name)
            if client is not None:
                self._users.move_to_end(name)
            return client

    def user(self, name: str) -> Any:
        """Return the client that reads as ``name`` (connected once, however many ask at the same time)."""
        client = self._cached_user(name)
        if client is not None:
            return client
        with self._flight(name):
            client = self._cached_user(name)
            if client is not None:
                return client
            client = self._connect(execute_as=name)
            with self._lock:
                self._users[name] = client
                while len(self._users) > MAX_CLIENTS:
                    _, old = self._users.popitem(last=False)
                    old.close()
        return client

    def entitlement(self, name: str) -> Entitlement:
        """Return what ``name``'s entitlement opens, read from the store at most every few seconds."""
        hit = self._entitlements.get(name)
        if hit is not None and time.monotonic() - hit[0] < ENTITLEMENT_TTL_S:
            return hit[1]
        with self._flight(name):  # the first asker reads it; the others wait and take the answer
            now = time.monotonic()
            hit = self._entitlements.get(name)
            if hit is not None and now - hit[0] < ENTITLEMENT_TTL_S:
                return hit[1]
            client = self.user(name)
            try:
                found = access.entitlement(client)
            except Exception as exc:
                raise store_problem(exc) or exc from None
            self._entitlements[name] = (now, found)
            return found

    def require(self, name: str, table: str, market: str, locations: list[str] | None = None) -> None:
        """Check that ``name`` may read ``market`` (and ``locations``) of ``table``.

        Raises
        ------
        Problem
            400 naming the known markets when ``market`` is unknown; 403 naming the caller's markets when
            their entitlement does not open it.
        """
        known = feeds.markets(self.service(), table)
        if market not in known:
            raise bad_request(
                f"unknown market {market!r} in {table}; known markets: {', '.join(known) or 'none'}",
                allowed=list(known),
            )
        every, markets, keys = self.entitlement(name).markets(table)
        if every or market in markets:
            return
        mine = {k for k in keys if k[0] == market}
        if mine and (not locations or all((market, loc) in mine for loc in locations)):
            return
        opened = sorted(markets | {m for m, _ in keys})
        if mine and locations:
            outside = sorted(loc for loc in locations if (market, loc) not in mine)
            raise forbidden(
                f"{name}'s entitlement does not include {market} {', '.join(outside)} in {table}; "
                f"it opens these locations of {market}: {', '.join(sorted(loc for _, loc in mine))}",
                allowed=sorted(loc for _, loc in mine),
            )
        raise forbidden(
            f"{name}'s entitlement does not include {market} in {table}; "
            f"entitled markets: {', '.join(opened) or 'none'} (ask an admin: `mi access grant`)",
            allowed=opened,
        )

    def require_table(self, name: str, table: str) -> None:
        """Check that ``name``'s entitlement opens some of ``table`` (403 otherwise)."""
        entitlement = self.entitlement(name)
        if entitlement.everything or entitlement.tables.get(table):
            return
        raise forbidden(f"{name}'s entitlement does not include {table} (ask an admin: `mi access grant`)")

    def close(self) -> None:
        """Close every client."""
        with self._lock:
            for client in self._users.values():
                client.close()
            self._users.clear()
            if self._service is not None:
                self._service.close()
                self._service = None
