"""Bring a database in line with the table specs: create what is missing, never change silently.

:func:`migrate` compares the specs with what the server reports (``system.tables``,
``system.columns``) and then, in this order:

1. creates the database if it is missing;
2. creates missing tables (in cluster mode the replicated local table and the ``Distributed`` table);
3. adds missing columns (``ADD COLUMN IF NOT EXISTS``, placed as in the spec);
4. brings table and column COMMENTs (descriptions and units) in line with the spec.

It refuses, before running any statement, to change a column's type, a table's engine, sorting key or
partition key of a table that holds rows: those need a deliberate migration (a new column and a backfill,
or a rebuilt table). An *empty* single-node table with such a difference is dropped and recreated to the
spec, since nothing can be lost.
Every change is recorded in ``schema_migrations`` with the spec's hash. A second run finds nothing to
do and its report says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from marketintel import config
from marketintel.exceptions import MigrationError
from marketintel.store.client import connect
from marketintel.store.schema import (
    TableSpec,
    add_column_sql,
    comment_sql,
    create_database_sql,
    create_table_sql,
    normalize_type,
    spec_hash,
    storage_table,
)
from marketintel.store.tables import SCHEMA_MIGRATIONS, TABLES

logger = logging.getLogger(__name__)

_ENGINE_PREFIXES = ("Replicated", "Shared")


@dataclass
class MigrationReport:
    """What :func:`migrate` did (or, with ``dry_run``, would do).

    Attributes
    ----------
    database : str
        The database migrated.
    cluster : str or None
        Cluster the DDL ran ``ON``, None for a single node.
    dry_run : bool
        Whether statements were only planned, not run.
    created_database : bool
        Whether the database had to be created.
    created_tables : list of str
        Tables created.
    rebuilt_tables : list of str
        Empty tables dropped and recreated because their key, engine or a column type changed.
    added_columns : dict of str to list of str
        Columns added, by table.
    updated_comments : dict of str to list of str
        Comments brought in line with the spec, by table (``"(table)"`` for the table's own comment).
    unchanged_tables : list of str
        Tables that already matched their spec.
    statements : list of str
        The DDL, in execution order.
    """

    database: str
    cluster: str | None = None
    dry_run: bool = False
    created_database: bool = False
    created_tables: list[str] = field(default_factory=list)
    rebuilt_tables: list[str] = field(default_factory=list)
    added_columns: dict[str, list[str]] = field(default_factory=dict)
    updated_comments: dict[str, list[str]] = field(default_factory=dict)
    unchanged_tables: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the migration changed (or would change) anything."""
        return bool(self.statements)

    def summary(self) -> str:
        """Describe the migration in a few lines."""
        where = f"database {self.database!r}" + (f" on cluster {self.cluster!r}" if self.cluster else "")
        if not self.changed:
            n = len(self.unchanged_tables)
            return f"{where} is up to date: {n} tables match their specs, nothing to do"
        verb = "would be" if self.dry_run else "were"
        lines = [f"{where}: {len(self.statements)} statements {'planned' if self.dry_run else 'run'}"]
        if self.created_database:
            lines.append(f"- database {verb} created")
        if self.created_tables:
            lines.append(f"- tables {verb} created: {', '.join(self.created_tables)}")
        if self.rebuilt_tables:
            lines.append(
                f"- empty tables {verb} rebuilt to a changed key or type: {', '.join(self.rebuilt_tables)}"
            )
        for table, columns in self.added_columns.items():
            lines.append(f"- columns {verb} added to {table}: {', '.join(columns)}")
        for table, columns in self.updated_comments.items():
            lines.append(f"- comments {verb} updated on {table}: {', '.join(columns)}")
        if self.unchanged_tables:
            lines.append(f"- unchanged: {', '.join(self.unchanged_tables)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------------------------------------
# What the server has
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Table:
    """A table as ``system.tables`` / ``system.columns`` describe it."""

    engine: str
    sorting_key: str
    partition_key: str
    comment: str
    columns: dict[str, tuple[str, str]]  # name -> (type, comment)


def _database_exists(client: Any, database: str) -> bool:
    rows = client.query(
        "SELECT count() FROM system.databases WHERE name = {db:String}", parameters={"db": database}
    ).result_rows
    return bool(rows[0][0])


def _read_tables(client: Any, database: str) -> dict[str, _Table]:
    params = {"db": database}
    columns: dict[str, dict[str, tuple[str, str]]] = {}
    for table, name, type_name, comment in client.query(
        "SELECT table, name, type, comment FROM system.columns"
        " WHERE database = {db:String} ORDER BY table, position",
        parameters=params,
    ).result_rows:
        columns.setdefault(table, {})[name] = (type_name, comment)
    tables: dict[str, _Table] = {}
    for name, engine, sorting_key, partition_key, comment in client.query(
        "SELECT name, engine, sorting_key, partition_key, comment FROM system.tables"
        " WHERE database = {db:String}",
        parameters=params,
    ).result_rows:
        tables[name] = _Table(engine, sorting_key, partition_key, comment, columns.get(name, {}))
    return tables


# --------------------------------------------------------------------------------------------------------
# Comparing a spec with the server
# --------------------------------------------------------------------------------------------------------
def _normalize_expression(text: str) -> str:
    compact = re.sub(r"[\s`]", "", text)
    while compact.startswith("(") and compact.endswith(")"):
        compact = compact[1:-1]
    return compact


def _is_empty(client: Any, database: str, table: str) -> bool:
    rows = client.query(f"SELECT count() FROM `{database}`.`{table}`").result_rows
    return bool(rows) and int(rows[0][0]) == 0


def _base_engine(engine: str) -> str:
    for prefix in _ENGINE_PREFIXES:
        if engine.startswith(prefix):
            return engine[len(prefix) :]
    return engine


def _drift(spec: TableSpec, table_name: str, table: _Table) -> list[str]:
    """Differences migrate must not resolve silently (type, engine, sorting and partition key)."""
    problems: list[str] = []
    if _base_engine(table.engine) != spec.engine:
        problems.append(f"{table_name}: engine is {table.engine} in the store, the spec says {spec.engine}")
    if _normalize_expression(table.sorting_key) != _normalize_expression(",".join(spec.order_by)):
        problems.append(
            f"{table_name}: ORDER BY is ({table.sorting_key}) in the store,"
            f" the spec says ({', '.join(spec.order_by)})"
        )
    if _normalize_expression(table.partition_key) != _normalize_expression(spec.partition_by or ""):
        problems.append(
            f"{table_name}: PARTITION BY is {table.partition_key or '(none)'} in the store,"
            f" the spec says {spec.partition_by or '(none)'}"
        )
    for column in spec.columns:
        if column.name in table.columns:
            stored = table.columns[column.name][0]
            if normalize_type(stored) != normalize_type(column.type):
                problems.append(
                    f"{table_name}.{column.name}: type is {stored} in the store, the spec says {column.type}"
                )
    return problems


@dataclass
class _Change:
    table: str
    action: str
    statements: list[str]
    names: list[str]


def _changes_for_existing(
    spec: TableSpec, tables: dict[str, _Table], database: str, cluster: str | None
) -> list[_Change]:
    present = [tables[n] for n in (storage_table(spec, cluster), spec.name) if n in tables]
    missing = [c.name for c in spec.columns if any(c.name not in t.columns for t in present)]
    changes: list[_Change] = []
    if missing:
        statements = [s for name in missing for s in add_column_sql(spec, name, database, cluster)]
        changes.append(_Change(spec.name, "add_columns", statements, missing))
    stale = [
        c.name
        for c in spec.columns
        if c.name not in missing and any(t.columns[c.name][1] != c.comment for t in present)
    ]
    statements = [s for name in stale for s in comment_sql(spec, database, cluster, column=name)]
    if any(t.comment != spec.description for t in present):
        stale.insert(0, "(table)")
        statements = comment_sql(spec, database, cluster) + statements
    if stale:
        changes.append(_Change(spec.name, "update_comments", statements, stale))
    return changes


def _plan(
    spec: TableSpec, tables: dict[str, _Table], database: str, cluster: str | None
) -> tuple[list[_Change], list[str]]:
    """Return the changes that bring ``spec``'s table up to date, and the drift that forbids them."""
    storage = storage_table(spec, cluster)
    problems = _drift(spec, storage, tables[storage]) if storage in tables else []
    physical = [storage, spec.name] if cluster else [storage]
    if any(name not in tables for name in physical):
        create = _Change(spec.name, "create_table", create_table_sql(spec, database, cluster), [spec.name])
        # a half-created cluster table (local without Distributed) is completed by IF NOT EXISTS
        extra = _changes_for_existing(spec, tables, database, cluster) if storage in tables else []
        return [create, *extra], problems
    return _changes_for_existing(spec, tables, database, cluster), problems


# --------------------------------------------------------------------------------------------------------
# The migration
# --------------------------------------------------------------------------------------------------------
def _resolve_database(client: Any, database: str | None) -> str:
    if database:
        return database
    bound = getattr(client, "database", None)
    return bound if isinstance(bound, str) and bound else config.clickhouse_url().database


def _unique_specs(specs: Iterable[TableSpec] | None) -> list[TableSpec]:
    chosen = list(TABLES.values()) if specs is None else list(specs)
    ordered = [SCHEMA_MIGRATIONS, *[s for s in chosen if s.name != SCHEMA_MIGRATIONS.name]]
    names = [s.name for s in ordered]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MigrationError(f"each table may be migrated by one spec only; given twice: {duplicates}")
    return ordered


def _record(client: Any, database: str, specs: dict[str, TableSpec], changes: list[_Change]) -> None:
    rows = [[c.table, spec_hash(specs[c.table]), c.action, ";\n".join(c.statements)] for c in changes]
    client.insert(
        SCHEMA_MIGRATIONS.name,
        rows,
        column_names=["table_name", "spec_hash", "action", "statements"],
        database=database,
    )


def _report(
    *,
    database: str,
    cluster: str | None,
    dry_run: bool,
    created_db: bool,
    specs: list[TableSpec],
    changes: list[_Change],
) -> MigrationReport:
    report = MigrationReport(database=database, cluster=cluster, dry_run=dry_run, created_database=created_db)
    if created_db:
        report.statements.append(create_database_sql(database, cluster))
    for change in changes:
        report.statements += change.statements
        if change.action == "create_table":
            report.created_tables.append(change.table)
        elif change.action == "rebuild_empty_table":
            report.rebuilt_tables.append(change.table)
        elif change.action == "add_columns":
            report.added_columns[change.table] = change.names
        else:
            report.updated_comments[change.table] = change.names
    changed = {c.table for c in changes}
    report.unchanged_tables = [s.name for s in specs if s.name not in changed]
    return report


def migrate(
    client: Any = None,
    *,
    database: str | None = None,
    cluster: str | None = None,
    specs: Iterable[TableSpec] | None = None,
    dry_run: bool = False,
) -> MigrationReport:
    """Create or extend the store's tables so that they match their specs.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        Where to migrate; default :func:`marketintel.store.connect`.
    database : str, optional
        Database to migrate; default the client's database, else the one in ``MI_CLICKHOUSE_URL``.
    cluster : str, optional
        Cluster for ``ON CLUSTER`` DDL with replicated tables; default ``MI_STORE_CLUSTER`` (unset: a
        single node).
    specs : iterable of TableSpec, optional
        Tables to migrate; default every core table (:data:`marketintel.store.TABLES`).
        ``schema_migrations`` is always included.
    dry_run : bool
        Plan and report the statements without running them.

    Returns
    -------
    MigrationReport
        What was done; ``report.changed`` is False when everything was up to date.

    Raises
    ------
    MigrationError
        Before running anything, if a table differs from its spec in a way that migrate does not change
        (column type, engine, sorting key, partition key); the message lists every difference.
    """
    if client is None:
        client = connect()
    database = _resolve_database(client, database)
    cluster = cluster if cluster is not None else config.store_cluster()
    ordered = _unique_specs(specs)

    created_db = not _database_exists(client, database)
    tables = {} if created_db else _read_tables(client, database)
    changes: list[_Change] = []
    problems: list[str] = []
    for spec in ordered:
        spec_changes, spec_problems = _plan(spec, tables, database, cluster)
        if spec_problems and not cluster and _is_empty(client, database, spec.name):
            # nothing to lose: an empty table whose key or types changed is rebuilt to the spec
            drop = f"DROP TABLE IF EXISTS `{database}`.`{spec.name}`"
            rebuild = [drop, *create_table_sql(spec, database, cluster)]
            spec_changes, spec_problems = (
                [_Change(spec.name, "rebuild_empty_table", rebuild, [spec.name])],
                [],
            )
        changes += spec_changes
        problems += spec_problems
    if problems:
        raise MigrationError(
            f"database {database!r} differs from the table specs in ways migrate does not change"
            " silently (add a new column and backfill it, or rebuild the table):\n  - "
            + "\n  - ".join(problems)
        )

    report = _report(
        database=database,
        cluster=cluster,
        dry_run=dry_run,
        created_db=created_db,
        specs=ordered,
        changes=changes,
    )
    if not dry_run:
        for statement in report.statements:
            client.command(statement)
        if changes:
            _record(client, database, {s.name: s for s in ordered}, changes)
    logger.info("%s", report.summary())
    return report
