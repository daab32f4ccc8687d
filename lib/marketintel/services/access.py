"""What the store lets a client's user do, as the entitlement its connections carry says.

The store gives every connection of an entitled user their compiled rules as its ``log_comment`` setting
(:mod:`marketintel.access.policy`): ``rls:all`` for admins, ``admins`` and service accounts, else JSON with,
per database, the governed tables' slots and the tables the user may export. :func:`entitlement` reads it;
front ends use it to say what a user has (the API's 403s, the dashboards' export buttons) before they read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entitlement:
    """What a user's entitlement opens in one database.

    Attributes
    ----------
    everything : bool
        Admins and service accounts (``rls:all``).
    tables : dict
        Governed table -> its slots (``{"a": all rows, "m": markets, "k": [[market, location], ...]}``).
    exports : frozenset of str
        Tables the user may export.
    """

    everything: bool
    tables: dict[str, list[dict[str, Any]]]
    exports: frozenset[str]

    def markets(self, table: str) -> tuple[bool, set[str], set[tuple[str, str]]]:
        """Return (all rows, markets, (market, location) keys) the user may read of ``table``."""
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
        """Whether the user may export ``table``."""
        return self.everything or table in self.exports


def entitlement(client: Any, database: str | None = None) -> Entitlement:
    """Return the entitlement of the client's user in ``database`` (default: the client's).

    Raises
    ------
    clickhouse_connect.driver.exceptions.Error
        When the store cannot be asked.
    """
    text = str(client.query("SELECT getSetting('log_comment')").result_rows[0][0])
    if not text.startswith("{"):
        return Entitlement(True, {}, frozenset())
    db = database or getattr(client, "database", None) or "default"
    compiled = json.loads(text).get("d", {}).get(db, {})
    return Entitlement(False, dict(compiled.get("t", {})), frozenset(compiled.get("x", [])))


def export_rights(client: Any, database: str | None = None) -> bool | frozenset[str]:
    """Return True if the client's user may export everything, else the governed tables they may export.

    Read from the entitlement the store gives the user's connections (:func:`entitlement`); a store that
    cannot be asked gives no export right.
    """
    try:
        found = entitlement(client, database)
    except Exception as exc:  # no entitlement readable: no export
        log.warning("cannot read the export rights: %s", exc)
        return frozenset()
    return True if found.everything else found.exports
