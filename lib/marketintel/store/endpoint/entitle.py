"""Each store user's identity on the engine: every row (``rls:all``) or their compiled entitlement.

The endpoint asks :class:`Entitlements` for the identity of the user a request runs as and opens (or
reuses) a connection with it. For an entitled user that is the JSON :func:`marketintel.access.policy.
compile_user` makes from the rules in force for their groups, in every database the engine has row
policies for. Rules are re-read at most every ``rules_ttl_s`` (a grant or revoke applies within about a
second); catalogues (the keys that patterns expand over) every ``catalogue_ttl_s``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from marketintel.access.policy import (
    ALL_ROWS,
    GOVERNED,
    catalogue_sql,
    compile_user,
    entitlement_text,
    needs_catalogue,
)
from marketintel.access.rules import LATEST_SQL, Rule, rule_from_row
from marketintel.store.endpoint.errors import ClickHouseError

log = logging.getLogger("marketintel.store.endpoint")


def _rows(conn: Any, sql: str) -> list[list[Any]]:
    res = conn.raw.query(sql, "JSONCompactEachRow")
    text = res.bytes().decode() if res is not None else ""
    return [json.loads(line) for line in text.splitlines() if line]


class Entitlements:
    """Compiles and caches the identity of each store user.

    Parameters
    ----------
    engine : Engine
        The engine (its ``admin`` connections read the rules and catalogues).
    covered : iterable of str
        Databases whose tables have row policies (those that existed when the engine started).
    rules_ttl_s, catalogue_ttl_s : float
        How long rules and catalogues are reused before they are read again [s].
    """

    def __init__(
        self, engine: Any, covered: Iterable[str], rules_ttl_s: float = 1.0, catalogue_ttl_s: float = 30.0
    ) -> None:
        self.engine = engine
        self.covered = frozenset(covered)
        self.rules_ttl_s = rules_ttl_s
        self.catalogue_ttl_s = catalogue_ttl_s
        self._lock = threading.Lock()
        self._rules: tuple[float, dict[str, list[Rule]], dict[str, set[str]]] | None = None
        self._columns: dict[tuple[str, str], set[str]] = {}
        self._catalogues: dict[tuple[str, str], tuple[float, list[tuple[str, ...]]]] = {}
        self._idents: dict[tuple[str, tuple[str, ...]], tuple[int, str]] = {}
        self._version = 0

    def _read_rules(self) -> tuple[dict[str, list[Rule]], dict[str, set[str]]]:
        """Return (database -> rules in force, database -> its tables), re-read when stale."""
        now = time.monotonic()
        with self._lock:
            if self._rules is not None and now - self._rules[0] < self.rules_ttl_s:
                return self._rules[1], self._rules[2]
        rules: dict[str, list[Rule]] = {}
        tables: dict[str, set[str]] = {}
        with self.engine.connection("admin") as conn:
            names = ", ".join("'" + d.replace("'", "\\'") + "'" for d in sorted(self.covered)) or "''"
            for db, table in _rows(
                conn, f"SELECT database, name FROM system.tables WHERE database IN ({names})"
            ):
                tables.setdefault(db, set()).add(table)
            governed = ", ".join(f"'{t}'" for t in (*GOVERNED, "instruments"))
            cols: dict[tuple[str, str], set[str]] = {}
            for db, table, col in _rows(
                conn,
                f"SELECT database, table, name FROM system.columns WHERE database IN ({names}) "
                f"AND table IN ({governed})",
            ):
                cols.setdefault((db, table), set()).add(col)
            self._columns = cols
            for db, have in tables.items():
                if "access_rules" not in have:
                    continue
                found = []
                for rule_id, r in _rows(conn, LATEST_SQL.format(db=f"`{db}`.")):
                    action, rule = rule_from_row(rule_id, r)
                    if action == "grant":
                        found.append(rule)
                rules[db] = found
        with self._lock:
            if self._rules is None or (rules, tables) != (self._rules[1], self._rules[2]):
                self._version += 1
            self._rules = (time.monotonic(), rules, tables)
        return rules, tables

    def _catalogue(self, db: str, table: str, existing: set[str]) -> list[tuple[str, ...]]:
        now = time.monotonic()
        with self._lock:
            hit = self._catalogues.get((db, table))
            if hit is not None and now - hit[0] < self.catalogue_ttl_s:
                return hit[1]
        columns = {t: c for (d, t), c in self._columns.items() if d == db}
        sql = catalogue_sql(table, db, existing, columns)
        rows: list[tuple[str, ...]] = []
        if sql is not None:
            try:
                with self.engine.connection("admin") as conn:
                    rows = [tuple(str(v) for v in r) for r in _rows(conn, sql)]
            except Exception as exc:  # no catalogue: patterns open nothing (never more)
                log.error("entitlements: cannot read the catalogue of %s.%s: %s", db, table, exc)
        with self._lock:
            if hit is None or hit[1] != rows:
                self._version += 1
            self._catalogues[(db, table)] = (time.monotonic(), rows)
        return rows

    def ident(self, name: str, groups: tuple[str, ...] | None, entitled: bool) -> str:
        """Return the identity a user's connections carry.

        Raises
        ------
        ClickHouseError
            ACCESS_DENIED when the user's rules cannot be compiled (too many delay classes, too long).
        """
        if not entitled:
            return ALL_ROWS
        assert groups is not None
        rules, tables = self._read_rules()
        mine = {db: [r for r in rules.get(db, []) if r.group in groups] for db in sorted(self.covered)}
        cats: dict[str, dict[str, list[tuple[str, ...]]]] = {}
        for db, found in mine.items():
            wanted = {r.table for r in found if needs_catalogue(r)}
            cats[db] = {t: self._catalogue(db, t, tables.get(db, set())) for t in sorted(wanted)}
        with self._lock:
            version = self._version
            hit = self._idents.get((name, groups))
            if hit is not None and hit[0] == version:
                return hit[1]
        try:
            per_db = {db: compile_user(name, found, cats[db]) for db, found in mine.items()}
            text = entitlement_text(name, per_db)
        except ValueError as exc:
            raise ClickHouseError.named("ACCESS_DENIED", str(exc)) from None
        with self._lock:
            self._idents[(name, groups)] = (version, text)
        return text

    def exports(
        self, name: str, groups: tuple[str, ...] | None, entitled: bool, database: str
    ) -> bool | set[str]:
        """Return True if the user may export everything, else the governing tables they may export."""
        if not entitled:
            return True
        data = json.loads(self.ident(name, groups, entitled))
        return set(data["d"].get(database, {}).get("x", []))
