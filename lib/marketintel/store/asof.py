"""Point-in-time reads: what the store knew at a given instant.

Facts carry ``published_at_utc``; a revision is a new row with a later publication time and a re-ingest
is a row with the same publication time and a later ``ingested_at_utc``. :func:`read_asof` returns, for
each natural key, the row with the latest ``published_at_utc`` at or before ``as_of`` (ties broken by the
latest ``ingested_at_utc``), so later publications are invisible and duplicates collapse whether or not
the ``ReplacingMergeTree`` has merged them yet. :func:`read_issued` is the same read for a process that
runs "at" an issue time (a backtest step, a curve build): asking for anything published after the issue
time raises :class:`~marketintel.exceptions.LookAheadError`.

Values are bound server-side (``{name:Type}`` placeholders), never formatted into the SQL.

``where`` maps column names to a condition:

- a scalar: ``column = value``;
- a list, tuple, set or other sequence: ``column IN values``;
- a :class:`Range`: ``start <= column < end`` (either bound may be None);
- ``None``: ``column IS NULL``.

Timestamps for ``*_utc`` columns must be tz-aware (any zone; they are compared as instants).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from marketintel.exceptions import EmptyResultError, LookAheadError, SchemaError
from marketintel.store.schema import (
    INGESTED_AT,
    PUBLISHED_AT,
    UTC_TIMESTAMP,
    Column,
    TableSpec,
    qualified_name,
    quote_identifier,
)
from marketintel.store.tables import TABLES
from marketintel.timeutils import to_instant

_AS_OF_PARAM = "as_of"


@dataclass(frozen=True)
class Range:
    """Half-open range ``[start, end)`` of values for a ``where`` condition; None leaves a side open."""

    start: Any = None
    end: Any = None

    def __post_init__(self) -> None:
        if self.start is None and self.end is None:
            raise ValueError("Range needs a start, an end or both; drop the condition to read everything")


# --------------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------------
def _to_date(value: Any, what: str) -> date:
    if isinstance(value, datetime):
        raise SchemaError(f"{what} is a Date column: pass a datetime.date, not a timestamp ({value!r})")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise SchemaError(f"{what} is a Date column: pass a datetime.date or 'YYYY-MM-DD', got {value!r}")


def _param_type(column: Column) -> str:
    """Return the type of a bound parameter: the column's type without Nullable / LowCardinality."""
    type_name = column.type
    for wrapper in ("Nullable(", "LowCardinality("):
        if type_name.startswith(wrapper) and type_name.endswith(")"):
            type_name = type_name[len(wrapper) : -1]
    return type_name


def _bind_value(column: Column, value: Any) -> Any:
    what = f"where[{column.name!r}]"
    if column.is_utc_timestamp:
        return to_instant(value, what)
    if _param_type(column) in ("Date", "Date32"):
        return _to_date(value, what)
    return value


def _is_many(value: Any) -> bool:
    if isinstance(value, str | bytes | Range | Mapping):
        return False
    return isinstance(value, Sequence | set | frozenset | pd.Index | pd.Series | np.ndarray)


# --------------------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------------------
@dataclass
class _Conditions:
    sql: list[str]
    params: dict[str, Any]


def _condition(column: Column, value: Any, index: int, out: _Conditions) -> None:
    name = quote_identifier(column.name)
    ptype = _param_type(column)
    key = f"w{index}"
    if value is None:
        out.sql.append(f"{name} IS NULL")
    elif isinstance(value, Range):
        if value.start is not None:
            out.sql.append(f"{name} >= {{{key}_start:{ptype}}}")
            out.params[f"{key}_start"] = _bind_value(column, value.start)
        if value.end is not None:
            out.sql.append(f"{name} < {{{key}_end:{ptype}}}")
            out.params[f"{key}_end"] = _bind_value(column, value.end)
    elif _is_many(value):
        values = [_bind_value(column, v) for v in value]
        if not values:
            raise SchemaError(f"where[{column.name!r}] is an empty list, which matches nothing")
        out.sql.append(f"{name} IN {{{key}:Array({ptype})}}")
        out.params[key] = values
    else:
        out.sql.append(f"{name} = {{{key}:{ptype}}}")
        out.params[key] = _bind_value(column, value)


def _where(spec: TableSpec, where: Mapping[str, Any] | None, as_of: pd.Timestamp) -> _Conditions:
    out = _Conditions([f"{quote_identifier(PUBLISHED_AT)} <= {{{_AS_OF_PARAM}:{UTC_TIMESTAMP}}}"], {})
    out.params[_AS_OF_PARAM] = as_of
    for index, (name, value) in enumerate((where or {}).items()):
        _condition(spec.column(name), value, index, out)
    return out


def _selected(spec: TableSpec, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(spec.column_names)
    if isinstance(columns, str):
        columns = [columns]
    for name in columns:
        spec.column(name)  # raises, listing the table's columns
    if not columns:
        raise SchemaError(f"columns is empty; choose some of {list(spec.column_names)} or pass None for all")
    return list(columns)


def asof_sql(
    spec: TableSpec,
    as_of: pd.Timestamp,
    where: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
    database: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Return the SQL and bound parameters of the latest-version-as-of read (see :func:`read_asof`)."""
    if not spec.point_in_time:
        raise SchemaError(
            f"table {spec.name!r} does not keep revisions by {PUBLISHED_AT}; read it with FINAL instead"
        )
    conditions = _where(spec, where, as_of)
    key = ", ".join(quote_identifier(n) for n in spec.natural_key)
    tie = spec.version_column or (INGESTED_AT if INGESTED_AT in spec.column_names else None)
    order = [key, f"{quote_identifier(PUBLISHED_AT)} DESC"] + (
        [f"{quote_identifier(tie)} DESC"] if tie else []
    )
    table = qualified_name(database, spec.name) if database else quote_identifier(spec.name)
    sql = "\n".join(
        [
            f"SELECT {', '.join(quote_identifier(c) for c in _selected(spec, columns))}",
            f"FROM {table}",
            f"WHERE {' AND '.join(conditions.sql)}",
            f"ORDER BY {', '.join(order)}",
            f"LIMIT 1 BY {key}",
        ]
    )
    return sql, conditions.params


# --------------------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------------------
def _spec(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else TABLES[table]


_EMPTY_DTYPES = {"Float64": "float64", "Nullable(Float64)": "float64", UTC_TIMESTAMP: "datetime64[ms, UTC]"}


def _empty_frame(spec: TableSpec, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {n: pd.Series(dtype=_EMPTY_DTYPES.get(spec.column(n).type, "object")) for n in columns}
    )


def read_asof(
    client: Any,
    table: str | TableSpec,
    as_of: pd.Timestamp,
    where: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
    *,
    database: str | None = None,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Read the latest version of each fact published at or before ``as_of``.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    table : str or TableSpec
        A core table name (see :data:`marketintel.store.TABLES`) or a spec.
    as_of : pd.Timestamp
        Tz-aware instant; rows with ``published_at_utc`` later than it are invisible.
    where : mapping of str to condition, optional
        Filters applied before the latest version is picked (see the module docstring).
    columns : sequence of str, optional
        Columns to return, default all.
    database : str, optional
        Database of the table; default the client's.
    allow_empty : bool
        Return an empty frame instead of raising when nothing matches.

    Returns
    -------
    pd.DataFrame
        One row per natural key, ordered by the natural key; timestamps tz-aware UTC.

    Raises
    ------
    NaiveTimestampError
        If ``as_of`` or a timestamp in ``where`` is naive.
    EmptyResultError
        If nothing matches and ``allow_empty`` is False.
    """
    spec = _spec(table)
    as_of = to_instant(as_of, "as_of")
    selected = _selected(spec, columns)
    sql, params = asof_sql(spec, as_of, where, selected, database)
    df: pd.DataFrame = client.query_df(sql, parameters=params, tz_mode="schema")
    if len(df):
        return df
    if allow_empty:
        return _empty_frame(spec, selected)
    raise EmptyResultError(
        f"no rows in {spec.name!r} published at or before {as_of} match {dict(where or {})};"
        " check the filters, or pass allow_empty=True if an empty result is expected"
    )


def _check_not_later(value: Any, issue_time: pd.Timestamp, what: str) -> None:
    if value is None:
        return
    values = [value.start, value.end] if isinstance(value, Range) else value if _is_many(value) else [value]
    for item in values:
        if item is not None and to_instant(item, what) > issue_time:
            raise LookAheadError(
                f"{what} asks for facts published at {to_instant(item, what)}, after the issue time"
                f" {issue_time}; a read issued at {issue_time} may only see what was published by then"
            )


def read_issued(
    client: Any,
    table: str | TableSpec,
    issue_time: pd.Timestamp,
    where: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
    *,
    as_of: pd.Timestamp | None = None,
    database: str | None = None,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Read as :func:`read_asof`, for a process running at ``issue_time``, refusing to see the future.

    Parameters
    ----------
    client, table, where, columns, database, allow_empty
        As in :func:`read_asof`.
    issue_time : pd.Timestamp
        Tz-aware instant the reading process runs "at" (a forecast's issue time, a curve's as-of).
    as_of : pd.Timestamp, optional
        Read as of an earlier instant; default ``issue_time``.

    Raises
    ------
    LookAheadError
        If ``as_of`` or a ``published_at_utc`` condition in ``where`` is later than ``issue_time``.
    NaiveTimestampError
        If any timestamp is naive.
    """
    issue_time = to_instant(issue_time, "issue_time")
    as_of = issue_time if as_of is None else to_instant(as_of, "as_of")
    if as_of > issue_time:
        raise LookAheadError(
            f"as_of {as_of} is after the issue time {issue_time}; a read issued at {issue_time}"
            " may only see what was published by then"
        )
    _check_not_later((where or {}).get(PUBLISHED_AT), issue_time, f"where[{PUBLISHED_AT!r}]")
    return read_asof(client, table, as_of, where, columns, database=database, allow_empty=allow_empty)
