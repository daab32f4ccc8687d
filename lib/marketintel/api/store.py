"""The API's store clients: one per caller, acting for them, and what their entitlement opens.

The API is given a reader store user that may act for users (``MI_CLICKHOUSE_URL``, the store's
``impersonate`` grant). Every read of a request runs as the caller (``execute_as``), so the store applies
their entitlement and audits the query under their name. Before a read the API checks the market against
what the caller's entitlement opens (:meth:`Clients.require`), so a market outside it is a 403 that names
the markets the caller has, never a silent empty result.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from marketintel.api.problems import Problem, bad_request, forbidden, store_problem
from marketintel.services import feeds
from marketintel.store.client import connect

log = logging.getLogger(__name__)

#: how long a caller's entitlement is reused [s] (the store re-reads rules every second, catalogues 30 s)
ENTITLEMENT_TTL_S = 5.0
#: most callers whose client is kept open
MAX_CLIENTS = 512
#: bounds on talking to the store [s]: a restarted store gives a quick 503, not a hang
CONNECT_TIMEOUT_S = 3.0
QUERY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Entitlement:
    """What a caller's entitlement opens in one database.

    Attributes
    ----------
    everything : bool
        Admins and service accounts (``rls:all``).
    tables : dict
        Governed table -> its slots (``{"a": all rows, "m": markets, "k": [[market, location], ...]}``).
    exports : frozenset of str
        Tables the caller may export.
    """

    everything: bool
    tables: dict[str, list[dict[str, Any]]]
    exports: frozenset[str]

    def markets(self, table: str) -> tuple[bool, set[str], set[tuple[str, str]]]:
        """Return (all rows, markets, (market, location) keys) the caller may read of ``table``."""
        if self.everything:
            return True, set(), set()
        every = False
        markets: set[str] = set()
        keys: set[tuple[str, str]] = set()
        for slot in self.tables.get(table, []):
            every = every or bool(slot.get("a"))
            markets.update(slot.get("m", []))
            keys.update((str(k[0]), str(k[1])) for k in slot.get("k", []))
        return every, markets, keys

    def may_export(self, table: str) -> bool:
        """Whether the caller may export ``table``."""
        return self.everything or table in self.exports


class Clients:
    """Store clients of the API: its own and one per caller (LRU), with their entitlements."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: OrderedDict[str, Any] = OrderedDict()
        self._service: Any = None
        self._entitlements: dict[str, tuple[float, Entitlement]] = {}

    def _connect(self, **settings: Any) -> Any:
        try:
            return connect(
                autogenerate_session_id=False,
                connect_timeout=CONNECT_TIMEOUT_S,
                send_receive_timeout=QUERY_TIMEOUT_S,
                settings=settings or None,
            )
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

    def user(self, name: str) -> Any:
        """Return the client that reads as ``name``."""
        with self._lock:
            client = self._users.get(name)
            if client is not None:
                self._users.move_to_end(name)
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
        now = time.monotonic()
        hit = self._entitlements.get(name)
        if hit is not None and now - hit[0] < ENTITLEMENT_TTL_S:
            return hit[1]
        client = self.user(name)
        try:
            text = str(client.query("SELECT getSetting('log_comment')").result_rows[0][0])
        except Exception as exc:
            raise store_problem(exc) or exc from None
        if not text.startswith("{"):
            found = Entitlement(True, {}, frozenset())
        else:
            database = getattr(client, "database", None) or "default"
            compiled = json.loads(text).get("d", {}).get(database, {})
            found = Entitlement(False, dict(compiled.get("t", {})), frozenset(compiled.get("x", [])))
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


def problem_of(exc: BaseException) -> Problem | None:
    """Return the problem a store error means (re-exported for the routes)."""
    return exc if isinstance(exc, Problem) else store_problem(exc)
