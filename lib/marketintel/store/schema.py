"""Schema as data: one declarative spec per table, from which DDL, validators and docs are generated.

A :class:`TableSpec` lists a table's columns (type, unit, description), engine, sort key, partition and
TTL. Everything else is derived from it:

- :func:`create_table_sql` / :func:`add_column_sql` / :func:`comment_sql`: DDL for one node
  (``MergeTree`` / ``ReplacingMergeTree``) or for a cluster (``Replicated*`` local tables behind a
  ``Distributed`` table, ``ON CLUSTER``);
- :func:`validate_frame`: the boundary check of a pandas frame before it is written;
- :func:`docs_markdown`: the reference documentation of the tables.

Conventions the specs enforce when they are built: snake_case names; every timestamp is
``DateTime64(3, 'UTC')`` and its name ends in ``_utc`` (and every ``_utc`` column is such a timestamp);
a ``ReplacingMergeTree`` sorts exactly on its natural key (plus ``published_at_utc`` when revisions are
kept as rows) and partitions only on natural-key columns, so that duplicates of one fact always meet in
one part and are collapsed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from marketintel.exceptions import SchemaError
from marketintel.timeutils import naive_timestamp_problem

#: The one timestamp type of the store: milliseconds, UTC.
UTC_TIMESTAMP = "DateTime64(3, 'UTC')"
#: When a fact became knowable; the axis of every point-in-time read.
PUBLISHED_AT = "published_at_utc"
#: When the platform stored the row; the version of a ``ReplacingMergeTree`` fact.
INGESTED_AT = "ingested_at_utc"
#: Suffix of the replicated local table behind a ``Distributed`` table in cluster mode.
LOCAL_SUFFIX = "_local"

Engine = Literal["MergeTree", "ReplacingMergeTree"]
ENGINES: tuple[Engine, ...] = ("MergeTree", "ReplacingMergeTree")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VERSION_TYPES = re.compile(r"^(UInt(8|16|32|64|128|256)|Date|Date32|DateTime|DateTime64\(.*\))$")
_TIME_TYPES = re.compile(r"^(Date|Date32|DateTime|DateTime64)\b")


# --------------------------------------------------------------------------------------------------------
# Quoting
# --------------------------------------------------------------------------------------------------------
def quote_identifier(name: str) -> str:
    """Quote a ClickHouse identifier with backticks (backslash and backtick escaped)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(text: str) -> str:
    """Quote a ClickHouse string literal with single quotes (backslash and quote escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def qualified_name(database: str, table: str) -> str:
    """Return ``database.table`` with both parts quoted."""
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


def normalize_type(type_name: str) -> str:
    """Return a ClickHouse type name without whitespace, for comparing spellings of one type."""
    return re.sub(r"\s+", "", type_name)


def _unwrap_nullable(type_name: str) -> str:
    compact = normalize_type(type_name)
    if compact.startswith("Nullable(") and compact.endswith(")"):
        return compact[len("Nullable(") : -1]
    return compact


# --------------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One column of a table.

    Parameters
    ----------
    name : str
        snake_case column name; timestamps end in ``_utc``.
    type : str
        ClickHouse type as ClickHouse prints it, e.g. ``DateTime64(3, 'UTC')``, ``Nullable(Float64)``.
    unit : str or None
        Physical or monetary unit of the values (e.g. ``"MWh"``), or None where no unit applies.
    description : str
        What a value means; stored as the column's COMMENT (with the unit in brackets).
    codec : str or None
        Compression codec, e.g. ``"ZSTD(3)"`` (default: the server's).
    default : str or None
        SQL expression used when an insert omits the column, e.g. ``"now64(3, 'UTC')"``.
    """

    name: str
    type: str
    unit: str | None
    description: str
    codec: str | None = None
    default: str | None = None

    def __post_init__(self) -> None:
        problems = _column_problems(self)
        if problems:
            raise SchemaError(f"invalid column {self.name!r}: " + "; ".join(problems))

    @property
    def nullable(self) -> bool:
        """Whether the column accepts NULL."""
        return normalize_type(self.type).startswith("Nullable(")

    @property
    def is_utc_timestamp(self) -> bool:
        """Whether the column is a UTC timestamp (``DateTime64(3, 'UTC')``, possibly Nullable)."""
        return _unwrap_nullable(self.type) == normalize_type(UTC_TIMESTAMP)

    @property
    def is_time(self) -> bool:
        """Whether the column holds dates or timestamps."""
        return _TIME_TYPES.match(_unwrap_nullable(self.type)) is not None

    @property
    def required(self) -> bool:
        """Whether a frame written to the table must carry this column (no NULL and no default)."""
        return not self.nullable and self.default is None

    @property
    def comment(self) -> str:
        """The column COMMENT: the description, with the unit in brackets when there is one."""
        return f"{self.description} [{self.unit}]" if self.unit else self.description

    def ddl(self) -> str:
        """Return the column definition used in CREATE TABLE and ADD COLUMN."""
        parts = [quote_identifier(self.name), self.type]
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        if self.codec is not None:
            parts.append(f"CODEC({self.codec})")
        parts.append(f"COMMENT {quote_string(self.comment)}")
        return " ".join(parts)


def _column_problems(column: Column) -> list[str]:
    problems: list[str] = []
    if not _NAME_RE.match(column.name):
        problems.append("names are snake_case: lower-case letters, digits and underscores")
    if not column.description.strip():
        problems.append("a description is required")
    if column.is_time and not column.is_utc_timestamp and "DateTime" in column.type:
        problems.append(f"timestamps are {UTC_TIMESTAMP}, got {column.type}")
    if column.is_utc_timestamp and not column.name.endswith("_utc"):
        problems.append("timestamp names end in '_utc'")
    if column.name.endswith("_utc") and not column.is_utc_timestamp:
        problems.append(f"a column named '*_utc' must be {UTC_TIMESTAMP}, got {column.type}")
    return problems


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """Declarative description of one table of the store.

    Parameters
    ----------
    name : str
        Table name (snake_case; ``*_local`` is reserved for cluster-local tables).
    description : str
        What one row means; stored as the table COMMENT.
    columns : tuple of Column
        The columns, in table order.
    engine : {"MergeTree", "ReplacingMergeTree"}
        Storage engine on one node; a cluster uses the ``Replicated`` variant behind ``Distributed``.
    order_by : tuple of str
        Sorting key. For ``ReplacingMergeTree`` it is the deduplication key: exactly the natural key,
        plus ``published_at_utc`` when revisions are kept as new rows.
    natural_key : tuple of str
        Columns that identify one fact (one price of one location and interval, ...), without
        ``published_at_utc``; point-in-time reads return one row per natural key.
    partition_by : str or None
        Partition expression, e.g. ``toYYYYMM(interval_start_utc)``.
    version_column : str or None
        ``ReplacingMergeTree`` version: of rows with the same sorting key the one with the largest
        version is kept.
    ttl : str or None
        Table TTL expression, e.g. ``checked_at_utc + INTERVAL 2 YEAR``.
    shard_by : tuple of str
        Columns hashed to pick a shard of the ``Distributed`` table (default: the natural key's
        non-time columns), so that every version of a fact lives on one shard.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    engine: Engine
    order_by: tuple[str, ...]
    natural_key: tuple[str, ...] = ()
    partition_by: str | None = None
    version_column: str | None = None
    ttl: str | None = None
    shard_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = _spec_problems(self)
        if problems:
            raise SchemaError(f"invalid table spec {self.name!r}:\n  - " + "\n  - ".join(problems))

    @property
    def column_names(self) -> tuple[str, ...]:
        """The column names, in table order."""
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a frame written to the table must carry (not Nullable, no default)."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def point_in_time(self) -> bool:
        """Whether revisions are kept as rows keyed by ``published_at_utc`` (readable "as of")."""
        return PUBLISHED_AT in self.order_by

    @property
    def local_name(self) -> str:
        """Name of the replicated local table behind the ``Distributed`` table in cluster mode."""
        return self.name + LOCAL_SUFFIX

    @property
    def sharding_key(self) -> str:
        """Sharding expression of the ``Distributed`` table."""
        names = self.shard_by or tuple(n for n in self.natural_key if not self.column(n).is_time)
        names = names or self.natural_key
        if not names:
            return "rand()"
        return "cityHash64(" + ", ".join(quote_identifier(n) for n in names) + ")"

    def column(self, name: str) -> Column:
        """Return the column called ``name``.

        Raises
        ------
        SchemaError
            If the table has no such column (the message lists the columns it has).
        """
        for candidate in self.columns:
            if candidate.name == name:
                return candidate
        raise SchemaError(
            f"table {self.name!r} has no column {name!r}; its columns are: {', '.join(self.column_names)}"
        )


def _spec_problems(spec: TableSpec) -> list[str]:
    names = [c.name for c in spec.columns]
    known = set(names)
    problems: list[str] = []
    if not _NAME_RE.match(spec.name):
        problems.append("table names are snake_case")
    if spec.name.endswith(LOCAL_SUFFIX):
        problems.append(f"names ending in {LOCAL_SUFFIX!r} are reserved for cluster-local tables")
    if not spec.description.strip():
        problems.append("a description is required")
    if not spec.columns:
        problems.append("a table needs columns")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"duplicate columns: {duplicates}")
    if spec.engine not in ENGINES:
        problems.append(f"engine must be one of {list(ENGINES)}, got {spec.engine!r}")
    if not spec.order_by:
        problems.append("order_by must name at least one column")
    for field_name in ("order_by", "natural_key", "shard_by"):
        unknown = [n for n in getattr(spec, field_name) if n not in known]
        if unknown:
            problems.append(f"{field_name} names unknown columns {unknown}; columns are {names}")
    nullable_keys = [c.name for c in spec.columns if c.nullable and c.name in spec.order_by]
    if nullable_keys:
        problems.append(f"sorting-key columns cannot be Nullable: {nullable_keys}")
    problems += _version_problems(spec, known)
    if spec.engine == "ReplacingMergeTree":
        problems += _dedup_key_problems(spec)
    return problems


def _version_problems(spec: TableSpec, known: set[str]) -> list[str]:
    if spec.version_column is None:
        return []
    if spec.engine != "ReplacingMergeTree":
        return [f"version_column is only meaningful for ReplacingMergeTree, not {spec.engine}"]
    if spec.version_column not in known:
        return [f"version_column {spec.version_column!r} is not a column"]
    version = next(c for c in spec.columns if c.name == spec.version_column)
    if not _VERSION_TYPES.match(normalize_type(version.type)):
        return [f"version_column must be UInt*, Date, DateTime or DateTime64, got {version.type}"]
    return []


def _dedup_key_problems(spec: TableSpec) -> list[str]:
    """ReplacingMergeTree collapses rows with equal sorting keys inside one partition (and shard)."""
    problems: list[str] = []
    if not spec.natural_key:
        problems.append("a ReplacingMergeTree needs a natural_key")
    if PUBLISHED_AT in spec.natural_key:
        problems.append(f"{PUBLISHED_AT} is a revision axis, not part of the natural key")
    expected = set(spec.natural_key) | ({PUBLISHED_AT} if PUBLISHED_AT in spec.order_by else set())
    if set(spec.order_by) != expected:
        problems.append(
            f"order_by {list(spec.order_by)} must be the natural key {list(spec.natural_key)}"
            f" (plus {PUBLISHED_AT} to keep revisions), or duplicates would not collapse"
        )
    if spec.partition_by is not None:
        used = {w for w in _WORD_RE.findall(spec.partition_by) if w in spec.column_names}
        if not used or not used <= set(spec.natural_key):
            problems.append(
                f"partition_by {spec.partition_by!r} must use natural-key columns only,"
                " or duplicates could land in different partitions"
            )
    if spec.shard_by and not set(spec.shard_by) <= set(spec.natural_key):
        problems.append("shard_by must be natural-key columns, or duplicates could land on different shards")
    return problems


def spec_hash(spec: TableSpec) -> str:
    """Return a stable sha256 (hex) of everything in the spec (recorded by migrations)."""
    canonical = json.dumps(asdict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------
# DDL
# --------------------------------------------------------------------------------------------------------
def _on_cluster(cluster: str | None) -> str:
    return f" ON CLUSTER {quote_string(cluster)}" if cluster else ""


def storage_table(spec: TableSpec, cluster: str | None = None) -> str:
    """Name of the table that stores the rows: the table itself, or its local table in a cluster."""
    return spec.local_name if cluster else spec.name


def create_database_sql(database: str, cluster: str | None = None) -> str:
    """Return ``CREATE DATABASE IF NOT EXISTS`` for ``database`` (``ON CLUSTER`` when given)."""
    return f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}{_on_cluster(cluster)}"


def _engine_clause(spec: TableSpec, cluster: str | None) -> str:
    args: list[str] = []
    engine: str = spec.engine
    if cluster:
        engine = "Replicated" + engine
        # {shard}, {database} and {replica} are server macros, expanded on each replica.
        args += [quote_string(f"/clickhouse/tables/{{shard}}/{{database}}/{spec.local_name}"), "'{replica}'"]
    if spec.version_column is not None:
        args.append(quote_identifier(spec.version_column))
    return f"ENGINE = {engine}({', '.join(args)})" if args else f"ENGINE = {engine}"


def _order_by_clause(spec: TableSpec) -> str:
    keys = [quote_identifier(n) for n in spec.order_by]
    return f"ORDER BY {keys[0]}" if len(keys) == 1 else f"ORDER BY ({', '.join(keys)})"


def _storage_sql(spec: TableSpec, database: str, cluster: str | None) -> str:
    table = qualified_name(database, storage_table(spec, cluster))
    columns = ",\n".join(f"    {c.ddl()}" for c in spec.columns)
    lines = [
        f"CREATE TABLE IF NOT EXISTS {table}{_on_cluster(cluster)}",
        f"(\n{columns}\n)",
        _engine_clause(spec, cluster),
    ]
    if spec.partition_by is not None:
        lines.append(f"PARTITION BY {spec.partition_by}")
    lines.append(_order_by_clause(spec))
    if spec.ttl is not None:
        lines.append(f"TTL {spec.ttl}")
    lines.append(f"COMMENT {quote_string(spec.description)}")
    return "\n".join(lines)


def _distributed_sql(spec: TableSpec, database: str, cluster: str) -> str:
    engine_args = ", ".join(
        [quote_string(cluster), quote_string(database), quote_string(spec.local_name), spec.sharding_key]
    )
    return "\n".join(
        [
            f"CREATE TABLE IF NOT EXISTS {qualified_name(database, spec.name)}{_on_cluster(cluster)}"
            f" AS {qualified_name(database, spec.local_name)}",
            f"ENGINE = Distributed({engine_args})",
            f"COMMENT {quote_string(spec.description)}",
        ]
    )


def create_table_sql(spec: TableSpec, database: str = "default", cluster: str | None = None) -> list[str]:
    """Return the statements that create the table described by ``spec``.

    Parameters
    ----------
    spec : TableSpec
        The table.
    database : str
        Database the table lives in.
    cluster : str or None
        ClickHouse cluster name. None: one statement creating a ``MergeTree`` /
        ``ReplacingMergeTree`` table. A name: two statements, ``<table>_local`` as
        ``Replicated*MergeTree`` on every node and ``<table>`` as a ``Distributed`` table over it,
        both ``ON CLUSTER``.

    Returns
    -------
    list of str
        ``CREATE TABLE IF NOT EXISTS`` statements, to be run in order.
    """
    statements = [_storage_sql(spec, database, cluster)]
    if cluster:
        statements.append(_distributed_sql(spec, database, cluster))
    return statements


def _tables(spec: TableSpec, database: str, cluster: str | None) -> list[str]:
    """Return the tables a column change applies to: storage first, then the Distributed table."""
    if cluster:
        return [qualified_name(database, spec.local_name), qualified_name(database, spec.name)]
    return [qualified_name(database, spec.name)]


def add_column_sql(
    spec: TableSpec, column: str, database: str = "default", cluster: str | None = None
) -> list[str]:
    """Return the statements that add ``spec``'s column ``column`` to an existing table.

    The column is placed after its predecessor in the spec. In cluster mode the local tables are
    altered first, then the ``Distributed`` table, both ``ON CLUSTER``.

    Raises
    ------
    SchemaError
        If the spec has no such column.
    """
    definition = spec.column(column).ddl()
    position = spec.column_names.index(column)
    where = f" AFTER {quote_identifier(spec.column_names[position - 1])}" if position else " FIRST"
    return [
        f"ALTER TABLE {table}{_on_cluster(cluster)} ADD COLUMN IF NOT EXISTS {definition}{where}"
        for table in _tables(spec, database, cluster)
    ]


def comment_sql(
    spec: TableSpec, database: str = "default", cluster: str | None = None, column: str | None = None
) -> list[str]:
    """Return the statements that set the table COMMENT (or ``column``'s COMMENT) from the spec."""
    if column is None:
        clause = f"MODIFY COMMENT {quote_string(spec.description)}"
    else:
        clause = (
            f"COMMENT COLUMN IF EXISTS {quote_identifier(column)} {quote_string(spec.column(column).comment)}"
        )
    return [
        f"ALTER TABLE {table}{_on_cluster(cluster)} {clause}" for table in _tables(spec, database, cluster)
    ]


# --------------------------------------------------------------------------------------------------------
# Validation of frames
# --------------------------------------------------------------------------------------------------------
def validate_frame(spec: TableSpec, df: pd.DataFrame, *, allow_extra: bool = False) -> None:
    """Check that a frame can be written to ``spec``'s table; raise listing every problem.

    Checks: the required columns are present (not Nullable and without default); no unknown columns
    (unless ``allow_extra``); every ``DateTime64(3, 'UTC')`` column holds tz-aware timestamps; columns
    that are not Nullable hold no missing values.

    Parameters
    ----------
    spec : TableSpec
        The target table.
    df : pd.DataFrame
        The rows to write.
    allow_extra : bool
        Accept (and ignore) columns the table does not have.

    Raises
    ------
    SchemaError
        With one line per problem, naming the missing, unknown and available columns.
    """
    present = [str(c) for c in df.columns]
    problems: list[str] = []
    missing = [n for n in spec.required_columns if n not in present]
    if missing:
        problems.append(f"missing required columns {missing}; the frame has {present}")
    extra = [n for n in present if n not in spec.column_names]
    if extra and not allow_extra:
        problems.append(f"unknown columns {extra}; table {spec.name!r} has {list(spec.column_names)}")
    for column in spec.columns:
        if column.name in present:
            problems += _series_problems(column, df[column.name])
    if problems:
        raise SchemaError(f"frame does not fit table {spec.name!r}:\n  - " + "\n  - ".join(problems))


def _series_problems(column: Column, series: pd.Series) -> list[str]:
    problems: list[str] = []
    if column.is_utc_timestamp:
        problem = naive_timestamp_problem(column.name, series)
        if problem:
            problems.append(problem)
    if not column.nullable:
        n_missing = int(series.isna().sum())
        if n_missing:
            first = list(series.index[series.isna()][:5])
            problems.append(
                f"column {column.name!r} ({column.type}) cannot hold missing values,"
                f" but {n_missing} are missing (first at index {first})"
            )
    return problems


# --------------------------------------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table_docs(spec: TableSpec) -> list[str]:
    version = f", version `{spec.version_column}`" if spec.version_column else ""
    facts = [
        f"- engine: `{spec.engine}`{version}",
        f"- natural key: {', '.join(f'`{n}`' for n in spec.natural_key) or '(none: append-only log)'}",
        f"- order by: {', '.join(f'`{n}`' for n in spec.order_by)}",
        f"- partition by: {f'`{spec.partition_by}`' if spec.partition_by else '(none)'}",
        f"- TTL: {f'`{spec.ttl}`' if spec.ttl else '(none: rows are kept)'}",
    ]
    rows = [f"| `{c.name}` | `{c.type}` | {_md(c.unit or '')} | {_md(c.description)} |" for c in spec.columns]
    return [
        f"## `{spec.name}`",
        "",
        _md(spec.description),
        "",
        *facts,
        "",
        "| column | type | unit | description |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ]


def docs_markdown(specs: Iterable[TableSpec], title: str = "Store tables") -> str:
    """Return Markdown documenting every table and column (type, unit, description) of ``specs``."""
    lines = [f"# {title}", "", "Every timestamp is `DateTime64(3, 'UTC')` and its name ends in `_utc`.", ""]
    for spec in specs:
        lines += _table_docs(spec)
    return "\n".join(lines)
