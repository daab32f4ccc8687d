"""Entitlements compiled to the engine: row policies, and each user's entitlement for the connection.

Which tables are protected and how
----------------------------------
A rule names a *governing* table (``prices``, ``fundamentals``, ``forward_quotes``, ``curves``,
``forecasts``); it opens that table and the tables derived from it (``prices`` also opens
``prices_hourly`` and ``instruments``; ``curves`` opens ``curve_runs``; ``forecasts`` opens
``backtest_runs`` and ``backtest_metrics``); ``raw_payloads`` and ``checkpoints`` are opened whole (the
operators' quarantine and freshness views). The rules and the audit tables are never visible to an
entitled user. Operational
tables that hold no licensed values (``alerts``, ``alert_acks``, ``data_quality``, ``rollup_refreshes``,
``schema_migrations``) stay readable.

How the engine enforces it (embedded endpoint)
----------------------------------------------
Every protected table has a row policy (``users.xml``, loaded when the engine starts) whose filter reads
the setting ``log_comment`` of the connection. The endpoint opens each connection with that setting fixed
in the connection's address: ``rls:all`` for admins and service accounts, or the caller's compiled
entitlement as JSON (:func:`compile_user`) for an entitled user. The profile makes ``log_comment`` a
constant (``SET`` and ``SETTINGS`` refuse to change it), readers' connections are read-only, and the JSON
is a constant of every query, so the engine folds the filter into literal sets that also prune the primary
key: an entitled read costs about what the same read costs an admin.

A rule's markets become ``market IN (...)``; a rule that also names locations (exact or glob), location
types, variables or products is expanded over the key tuples the table holds (its *catalogue*) into an
exact set of keys. A publication delay and a history limit split the rules into *slots*, one per distinct
(delay, history) pair, at most :data:`SLOTS` per table and user.

On a ClickHouse server the same rules become ``CREATE ROW POLICY`` statements (:func:`server_ddl`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

#: the identity of connections that see every row (admins, writers, service accounts)
ALL_ROWS = "rls:all"
#: the group whose members see everything
ADMINS = "admins"
#: distinct (delay, history) combinations one user may have per governing table
SLOTS = 4
#: longest entitlement the engine accepts in ``log_comment`` [bytes] (ClickHouse's max_query_size)
MAX_ENTITLEMENT_BYTES = 262_144
#: rule fields that restrict rows, in the order they are shown
FIELDS = ("markets", "locations", "location_types", "variables", "products")
#: fields whose values may be glob patterns (``*``, ``?``, ``[...]``, matched case-sensitively)
GLOB_FIELDS = frozenset({"markets", "locations", "products"})


@dataclass(frozen=True)
class Governed:
    """A governing table: what a rule on it may restrict, and the columns that carry it."""

    name: str
    #: rule field -> column of the catalogue
    fields: Mapping[str, str]
    #: columns whose distinct values form the catalogue (the keys rules are expanded over)
    catalogue: tuple[str, ...]
    #: the key every protected table of this governing table is filtered on (a prefix of its sort key)
    key: tuple[str, ...]


@dataclass(frozen=True)
class Protected:
    """A table whose rows an entitled user sees through the rules of its governing table."""

    name: str
    governed_by: str
    #: column compared with now minus the delay (None: no delay applies, e.g. reference data)
    published: str | None
    #: column compared with now minus the history limit (None: no limit applies)
    start: str | None


GOVERNED: dict[str, Governed] = {
    g.name: g
    for g in (
        Governed(
            "prices",
            {"markets": "market", "locations": "location", "location_types": "location_type"},
            ("market", "location", "location_type"),
            ("market", "location"),
        ),
        Governed(
            "fundamentals",
            {"markets": "market", "locations": "area", "variables": "variable"},
            ("market", "area", "variable"),
            ("market", "area", "variable"),
        ),
        Governed(
            "forward_quotes",
            {"markets": "market", "products": "product"},
            ("market", "product"),
            ("market", "product"),
        ),
        Governed("curves", {"products": "curve_name"}, ("curve_name",), ("curve_name",)),
        Governed(
            "forecasts",
            {"markets": "market", "locations": "location", "variables": "variable"},
            ("market", "location", "variable"),
            ("market", "location", "variable"),
        ),
        # the raw payloads and ingest checkpoints (the quality page's quarantine and freshness): all or
        # nothing, for the platform's operators
        Governed("raw_payloads", {}, ("source",), ("source",)),
        Governed("checkpoints", {}, ("source",), ("source",)),
    )
}

PROTECTED: dict[str, Protected] = {
    p.name: p
    for p in (
        Protected("prices", "prices", "published_at_utc", "interval_start_utc"),
        Protected("prices_hourly", "prices", "max_published_at_utc", "hour_utc"),
        Protected("instruments", "prices", None, None),
        Protected("fundamentals", "fundamentals", "published_at_utc", "interval_start_utc"),
        Protected("forward_quotes", "forward_quotes", "published_at_utc", "trade_date"),
        Protected("curves", "curves", "published_at_utc", "as_of_utc"),
        Protected("curve_runs", "curves", None, None),
        Protected("forecasts", "forecasts", "published_at_utc", "interval_start_utc"),
        Protected("backtest_runs", "forecasts", None, None),
        Protected("backtest_metrics", "forecasts", "published_at_utc", None),
        Protected("raw_payloads", "raw_payloads", None, None),
        Protected("checkpoints", "checkpoints", None, None),
    )
}

#: tables an entitled user never sees (the rules and the audit trail)
HIDDEN = ("access_rules", "audit_log", "audit_anchors")


@dataclass(frozen=True)
class RuleSpec:
    """What a rule opens (the fields of :class:`marketintel.access.rules.Rule` that compile)."""

    table: str
    markets: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    location_types: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    #: rows become visible this long after publication [s]
    delay_s: int = 0
    #: only intervals starting within this long before now [s]; 0: no limit
    history_s: int = 0
    export: bool = False

    def restrictions(self) -> dict[str, tuple[str, ...]]:
        """Return the non-empty restricting fields."""
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name)}


def check_rule(rule: RuleSpec) -> None:
    """Raise ValueError naming what is allowed if a rule names an unknown table or an inapplicable field."""
    gov = GOVERNED.get(rule.table)
    if gov is None:
        raise ValueError(
            f"rules are granted on one of {sorted(GOVERNED)}, got {rule.table!r} (derived tables follow "
            "them: prices_hourly and instruments follow prices, curve_runs curves, backtests forecasts)"
        )
    for name in rule.restrictions():
        if name not in gov.fields:
            flag = "--" + name.rstrip("s").replace("_", "-")
            allowed = ", ".join("--" + f.rstrip("s").replace("_", "-") for f in gov.fields)
            raise ValueError(f"{rule.table} rules take {allowed}; {flag} does not apply to {rule.table}")
    if rule.delay_s < 0 or rule.history_s < 0:
        raise ValueError("delay and history are durations >= 0")


@dataclass
class _Slot:
    delay_s: int
    history_s: int
    every: bool = False
    markets: set[str] = field(default_factory=set)
    keys: set[tuple[str, ...]] = field(default_factory=set)

    def as_json(self) -> dict[str, object]:
        return {
            "a": int(self.every),
            "m": sorted(self.markets),
            "k": sorted(list(k) for k in self.keys),
            "d": self.delay_s,
            "h": self.history_s,
        }


def _is_glob(value: str) -> bool:
    return any(c in value for c in "*?[")


def needs_catalogue(rule: RuleSpec) -> bool:
    """Whether a rule compiles to exact keys (expanded over the catalogue) rather than markets or all rows."""
    restrictions = rule.restrictions()
    if not restrictions:
        return False
    return set(restrictions) != {"markets"} or any(_is_glob(m) for m in rule.markets)


def _matches(values: tuple[str, ...], value: str, glob: bool) -> bool:
    if glob:
        return any(fnmatch.fnmatchcase(value, v) for v in values)
    return value in values


def expand(rule: RuleSpec, catalogue: Iterable[Sequence[str]]) -> set[tuple[str, ...]]:
    """Return the keys of ``rule``'s governing table that the rule opens, among a catalogue's rows.

    Parameters
    ----------
    rule : RuleSpec
        A rule with restrictions beyond its markets.
    catalogue : iterable of sequences of str
        Distinct rows of the governing table's catalogue columns (:attr:`Governed.catalogue`).
    """
    gov = GOVERNED[rule.table]
    pos = {col: i for i, col in enumerate(gov.catalogue)}
    key_pos = [pos[c] for c in gov.key]
    checks = [
        (pos[gov.fields[name]], values, name in GLOB_FIELDS) for name, values in rule.restrictions().items()
    ]
    out: set[tuple[str, ...]] = set()
    for row in catalogue:
        if all(_matches(values, row[i], glob) for i, values, glob in checks):
            out.add(tuple(row[i] for i in key_pos))
    return out


def _matching_markets(rule: RuleSpec, catalogue: Iterable[Sequence[str]]) -> set[str]:
    """Return the rule's market names and the catalogue's markets its market patterns match."""
    gov = GOVERNED[rule.table]
    column = gov.catalogue.index(gov.fields["markets"])
    names = {m for m in rule.markets if not _is_glob(m)}
    globs = [m for m in rule.markets if _is_glob(m)]
    matched = {row[column] for row in catalogue if any(fnmatch.fnmatchcase(row[column], g) for g in globs)}
    return names | matched


def compile_user(
    user: str,
    rules: Iterable[RuleSpec],
    catalogues: Mapping[str, Iterable[Sequence[str]]],
) -> dict[str, object]:
    """Compile the rules of a user's groups into the entitlement its connections carry.

    Parameters
    ----------
    user : str
        The store user (for the audit trail and error messages).
    rules : iterable of RuleSpec
        The rules in force for the user's groups (rules add up).
    catalogues : mapping
        Governing table -> its catalogue rows (needed for rules that restrict more than markets).

    Returns
    -------
    dict
        ``{"t": {table: [slot, ...]}, "x": [tables the user may export]}`` for one database; a slot is
        ``{"a": all rows, "m": markets, "k": keys, "d": delay [s], "h": history [s]}``.

    Raises
    ------
    ValueError
        If a table gets more than :data:`SLOTS` distinct (delay, history) combinations.
    """
    slots: dict[str, dict[tuple[int, int], _Slot]] = {}
    export: set[str] = set()
    for rule in rules:
        if rule.table not in GOVERNED:
            continue
        by_class = slots.setdefault(rule.table, {})
        slot = by_class.setdefault((rule.delay_s, rule.history_s), _Slot(rule.delay_s, rule.history_s))
        if not rule.restrictions():
            slot.every = True
        elif not needs_catalogue(rule):
            slot.markets.update(rule.markets)
        elif set(rule.restrictions()) == {"markets"}:
            # market patterns only: the markets they match (a market filter, not every key of those markets:
            # cheaper per row, and a new location of a matching market is in at once)
            slot.markets.update(_matching_markets(rule, catalogues.get(rule.table, ())))
        else:
            slot.keys |= expand(rule, catalogues.get(rule.table, ()))
        if rule.export:
            export.add(rule.table)
    tables: dict[str, list[dict[str, object]]] = {}
    for table, by_class in slots.items():
        if len(by_class) > SLOTS:
            raise ValueError(
                f"{user}: {len(by_class)} different delay/history combinations on {table}; at most {SLOTS}"
            )
        tables[table] = [s.as_json() for _, s in sorted(by_class.items())]
    return {"t": tables, "x": sorted(export)}


def entitlement_text(user: str, by_database: Mapping[str, Mapping[str, object]]) -> str:
    """Return the compact JSON a user's connections carry: ``{"u": user, "d": {database: compiled}}``.

    Raises
    ------
    ValueError
        When it is longer than the engine accepts (:data:`MAX_ENTITLEMENT_BYTES`).
    """
    entitlement = {"u": user, "d": by_database}
    text = json.dumps(entitlement, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MAX_ENTITLEMENT_BYTES:
        raise ValueError(
            f"{user}: the compiled entitlement is {len(text.encode()):,} bytes, more than the "
            f"engine's {MAX_ENTITLEMENT_BYTES:,}; grant markets or patterns that cover fewer single keys"
        )
    return text


def fingerprint(text: str) -> str:
    """Return a short hash of an entitlement (pools connections per distinct entitlement)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def catalogue_sql(
    table: str, database: str, existing: Iterable[str], columns: Mapping[str, Iterable[str]] | None = None
) -> str | None:
    """Return the query of a governing table's catalogue in ``database`` (None if the table is absent).

    ``prices`` adds the instruments' locations, so a pattern opens a listed location before its first price.
    ``columns`` (table -> its columns), when given, turns a catalogue column a table lacks into ``''``.
    """
    gov = GOVERNED[table]
    have = set(existing)
    if table not in have:
        return None

    def select(name: str) -> str:
        cols = set(columns[name]) if columns is not None and name in columns else set(gov.catalogue)
        return ", ".join(c if c in cols else f"'' AS {c}" for c in gov.catalogue)

    sql = f"SELECT DISTINCT {select(table)} FROM `{database}`.`{table}`"
    if table == "prices" and "instruments" in have:
        sql += f" UNION DISTINCT SELECT {select('instruments')} FROM `{database}`.`instruments`"
    return sql


def _json_path(*parts: str | int) -> str:
    return ", ".join(f"'{p}'" if isinstance(p, str) else str(p) for p in parts)


def _key_type(n: int) -> str:
    return "Array(String)" if n == 1 else f"Array(Tuple({', '.join(['String'] * n)}))"


def row_filter(table: str, database: str, setting: str = "getSetting('log_comment')") -> str:
    """Return the row-policy filter of a protected table of ``database`` (the same text for every user).

    A connection whose ``log_comment`` is :data:`ALL_ROWS` sees every row; any other sees the rows of its
    entitlement's slots for the table's governing table, and nothing when it has none.
    """
    if table in HIDDEN:
        return f"{setting} = '{ALL_ROWS}'"
    prot = PROTECTED[table]
    gov = GOVERNED[prot.governed_by]
    key = gov.key[0] if len(gov.key) == 1 else f"({', '.join(gov.key)})"
    branches = [f"{setting} = '{ALL_ROWS}'"]
    for i in range(1, SLOTS + 1):
        path = ("d", database, "t", gov.name, i)
        rows = [f"JSONExtractBool({setting}, {_json_path(*path, 'a')})"]
        if "markets" in gov.fields:
            rows.append(f"market IN JSONExtract({setting}, {_json_path(*path, 'm')}, 'Array(String)')")
        rows.append(f"{key} IN JSONExtract({setting}, {_json_path(*path, 'k')}, '{_key_type(len(gov.key))}')")
        cond = "(" + " OR ".join(rows) + ")"
        delay = f"JSONExtractUInt({setting}, {_json_path(*path, 'd')})"
        history = f"JSONExtractUInt({setting}, {_json_path(*path, 'h')})"
        if prot.published is not None:
            cond += f" AND ({delay} = 0 OR {prot.published} <= now64(3) - toIntervalSecond({delay}))"
        if prot.start is not None:
            cond += f" AND ({history} = 0 OR {prot.start} >= now64(3) - toIntervalSecond({history}))"
        branches.append(f"({cond})")
    return " OR ".join(branches)


#: settings an entitled connection may not change: its identity, and filters that would replace the policy's
LOCKED_SETTINGS = ("log_comment", "additional_table_filters", "additional_result_filter")


def users_xml(databases: Iterable[str]) -> str:
    """Return the engine's users configuration: the ``default`` user with the row policies of ``databases``.

    Every connection of the embedded engine is its ``default`` user; the policies tell connections apart
    by their fixed ``log_comment`` (module docstring).
    """
    dbs = []
    for db in sorted(set(databases)):
        tables = "".join(
            f"<{t}><filter>{escape(row_filter(t, db))}</filter></{t}>" for t in (*PROTECTED, *HIDDEN)
        )
        dbs.append(f"<{db}>{tables}</{db}>")
    constraints = "".join(f"<{s}><const/></{s}>" for s in LOCKED_SETTINGS)
    return (
        "<clickhouse>\n"
        f"  <profiles><default><constraints>{constraints}</constraints></default></profiles>\n"
        "  <users><default><no_password/><profile>default</profile><quota>default</quota>"
        "<networks><ip>::/0</ip></networks>\n"
        f"    <databases>{''.join(dbs)}</databases>\n"
        "  </default></users>\n"
        "  <quotas><default></default></quotas>\n"
        "</clickhouse>\n"
    )


def engine_config_xml(users_path: str) -> str:
    """Return the engine configuration that loads ``users_path`` (:func:`users_xml`)."""
    return f"<clickhouse><users_config>{escape(users_path)}</users_config></clickhouse>\n"


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def server_ddl(
    users: Mapping[str, Sequence[str]],
    rules_by_group: Mapping[str, Sequence[RuleSpec]],
    catalogues: Mapping[str, Iterable[Sequence[str]]],
    *,
    database: str = "default",
    cluster: str | None = None,
) -> list[str]:
    """Return the DDL that enforces the same rules on a ClickHouse server.

    One permissive row policy per (group, protected table) as a role ``mi_group_<group>`` granted to its
    members, ``SELECT`` grants on the protected tables, and a policy that shows nothing to other users of
    the table (ClickHouse: once a table has a permissive policy, users without one see no rows). Admins
    (:data:`ADMINS`) get an ``ALL`` policy. Run it as a user with ``ACCESS MANAGEMENT``.

    Parameters
    ----------
    users : mapping
        Store user -> their groups.
    rules_by_group : mapping
        Group -> the rules in force for it.
    catalogues : mapping
        Governing table -> catalogue rows, for rules with patterns (expanded into exact keys, as on the
        embedded endpoint).
    database, cluster : str
        Where the tables are; ``ON CLUSTER`` when clustered.
    """
    on = f" ON CLUSTER '{cluster}'" if cluster else ""
    cats = {k: list(v) for k, v in catalogues.items()}
    out: list[str] = []
    groups = sorted({g for gs in users.values() for g in gs} | set(rules_by_group))
    for group in groups:
        out.append(f"CREATE ROLE IF NOT EXISTS mi_group_{group}{on}")
    for table, prot in PROTECTED.items():
        out.append(f"GRANT{on} SELECT ON {database}.{table} TO {', '.join(f'mi_group_{g}' for g in groups)}")
        for group in groups:
            name = f"mi_{group}_{table}"
            target = f"{database}.{table}"
            if group == ADMINS:
                out.append(
                    f"CREATE ROW POLICY OR REPLACE {name}{on} ON {target} AS PERMISSIVE FOR SELECT USING 1 "
                    f"TO mi_group_{group}"
                )
                continue
            compiled = compile_user(group, rules_by_group.get(group, ()), cats)
            slots = compiled["t"].get(prot.governed_by, [])  # type: ignore[attr-defined]
            cond = _server_condition(prot, slots) if slots else "0"
            out.append(
                f"CREATE ROW POLICY OR REPLACE {name}{on} ON {target} AS PERMISSIVE FOR SELECT USING {cond} "
                f"TO mi_group_{group}"
            )
    for user, gs in sorted(users.items()):
        if gs:
            out.append(f"GRANT{on} {', '.join(f'mi_group_{g}' for g in gs)} TO {user}")
    return out


def _server_condition(prot: Protected, slots: Sequence[Mapping[str, object]]) -> str:
    gov = GOVERNED[prot.governed_by]
    key = gov.key[0] if len(gov.key) == 1 else f"({', '.join(gov.key)})"
    parts = []
    for slot in slots:
        opens = []
        if slot["a"]:
            opens.append("1")
        markets = list(slot["m"])  # type: ignore[call-overload]
        if markets:
            opens.append(f"market IN ({_sql_list(markets)})")
        keys = [tuple(k) for k in slot["k"]]  # type: ignore[attr-defined]
        if keys:
            if len(gov.key) == 1:
                opens.append(f"{key} IN ({_sql_list(k[0] for k in keys)})")
            else:
                opens.append(f"{key} IN ({', '.join('(' + _sql_list(k) + ')' for k in keys)})")
        if not opens:
            continue
        cond = "(" + " OR ".join(opens) + ")"
        if prot.published and slot["d"]:
            cond += f" AND {prot.published} <= now64(3) - toIntervalSecond({int(slot['d'])})"  # type: ignore[call-overload]
        if prot.start and slot["h"]:
            cond += f" AND {prot.start} >= now64(3) - toIntervalSecond({int(slot['h'])})"  # type: ignore[call-overload]
        parts.append(f"({cond})")
    return " OR ".join(parts) if parts else "0"
