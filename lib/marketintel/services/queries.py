"""Read-side queries that every front end shares: dashboards, the API, notebooks and reports.

Each function takes a clickhouse-connect client first and returns a :class:`pandas.DataFrame` whose
columns are listed in its docstring, so no front end has to write SQL. The functions share these rules:

- **Bound values.** Every value (a market, a location, a timestamp, a limit) goes to the server as a
  bound parameter (``{name:Type}`` placeholders). None is ever formatted into SQL text. Identifiers
  (tables, columns, aggregates, resolutions) come only from the fixed whitelists in this module. A
  parameter outside them raises :class:`QueryParameterError`, which names what was expected.
- **Point in time.** Facts (prices, fundamentals, curves, runs, metrics, instruments) are read "as of"
  an instant. For each natural key the function takes the latest version published at or before
  ``as_of`` (:func:`marketintel.store.asof.asof_sql`), so revisions published later stay invisible.
  ``as_of`` defaults to now: everything published so far. Filters on columns outside the natural key
  (a run's status, an instrument's market) apply *after* that pick, so an old version never matches a
  filter that the current version does not.
- **Latest state.** Operational tables whose rows are updated in place (``alerts``, ``raw_payloads``)
  are read with ``FINAL``. ``data_quality`` is an append-only log.
- **Timestamps.** Parameters accept a ``str``, :class:`datetime.datetime` or :class:`pandas.Timestamp`.
  A tz-naive value is read as UTC, and an aware one in any zone is compared as an instant. Every
  returned timestamp column is tz-aware UTC (``datetime64[ms, UTC]``).
- **Empty results.** A listing (alerts, runs, quarantined payloads, ...) may be empty: the frame then
  has the documented columns and dtypes and no rows. A series asked for by name (:func:`price_series`,
  :func:`fundamentals`, :func:`curve_points`) raises :class:`~marketintel.exceptions.EmptyResultError`
  when nothing matches, unless ``allow_empty=True``.
- **Limits.** Listings return at most ``limit`` rows, newest first. A series that would exceed its
  ``limit`` raises :class:`QueryLimitError` rather than come back silently truncated.

>>> from marketintel.services import queries  # doctest: +SKIP
>>> queries.latest_prices(client, markets="CAISO_DAM")  # doctest: +SKIP
>>> queries.price_series(client, "SPP_RT", "SPP_NORTH_HUB", "2024-06-01", "2024-06-08",
...                      resolution="hourly")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import pandas as pd
from clickhouse_connect.driver.exceptions import DatabaseError

from marketintel.exceptions import EmptyResultError, MarketIntelError, NaiveTimestampError
from marketintel.store import rollup
from marketintel.store.asof import Range, asof_sql
from marketintel.store.schema import (
    INGESTED_AT,
    PUBLISHED_AT,
    UTC_TIMESTAMP,
    TableSpec,
    qualified_name,
    quote_identifier,
)
from marketintel.store.tables import (
    ALERTS,
    BACKTEST_METRICS,
    BACKTEST_RUNS,
    CURVE_RUNS,
    CURVES,
    DATA_QUALITY,
    FUNDAMENTALS,
    INSTRUMENTS,
    PRICES,
    PRICES_HOURLY,
    RAW_PAYLOADS,
    ROLLUP_REFRESHES,
    TABLES,
)
from marketintel.timeutils import to_instant

__all__ = [
    "AGGREGATES",
    "DEFAULT_AGGREGATES",
    "MAX_LIMIT",
    "RESOLUTIONS",
    "QueryLimitError",
    "QueryParameterError",
    "alerts",
    "backtest_metrics",
    "backtest_runs",
    "curve_points",
    "curve_versions",
    "fundamentals",
    "instruments",
    "latest_prices",
    "price_series",
    "price_series_query",
    "price_series_sql",
    "quality_results",
    "quarantined_payloads",
    "stored_series",
]


class QueryParameterError(MarketIntelError, ValueError):
    """A query parameter is outside what the query accepts; the message names what it expected."""


class QueryLimitError(MarketIntelError):
    """A series has more rows than the caller's ``limit``; narrow the window or raise the limit."""


# --------------------------------------------------------------------------------------------------------
# Whitelists: the only identifiers and choices that reach SQL text
# --------------------------------------------------------------------------------------------------------
Resolution = Literal["native", "hourly", "daily"]
Aggregate = Literal["avg", "min", "max", "sum", "first", "last", "count"]

#: Resolutions of :func:`price_series` and :func:`fundamentals`. ``native`` means the intervals as stored.
RESOLUTIONS: tuple[str, ...] = ("native", "hourly", "daily")

#: Aggregates over the intervals of a bucket. Each maps to a fixed SQL template over the bucket's
#: ``_value`` (the value), ``_start`` (interval start) and ``_ms`` (interval length in ms). ``avg`` is
#: weighted by time, which matters where interval lengths differ; ``first`` and ``last`` are the values
#: of the earliest and latest intervals.
AGGREGATES: Mapping[str, str] = {
    "avg": "sum(_value * _ms) / sum(_ms)",
    "min": "min(_value)",
    "max": "max(_value)",
    "sum": "sum(_value)",
    "first": "argMin(_value, _start)",
    "last": "argMax(_value, _start)",
    "count": "count()",
}

#: Aggregates returned when none are asked for.
DEFAULT_AGGREGATES: tuple[str, ...] = ("avg", "min", "max", "count")

#: Largest ``limit`` any query accepts [rows]. This is the reader role's ``max_result_rows``.
MAX_LIMIT = 10_000_000

#: Name of the column that ``count`` fills: the number of stored intervals in the bucket.
COUNT_COLUMN = "n_intervals"

# Bucket SQL per resolution: the local start of the bucket, its UTC start and its UTC end. ``{tz}`` is a
# bound parameter placeholder, not formatted text. Calendar days in the zone give 23- and 25-hour days.
_BUCKETS: Mapping[str, tuple[str, str, str]] = {
    "hourly": (
        "toStartOfHour(interval_start_utc, {tz:String})",
        "toDateTime64(_local, 3, 'UTC')",
        "toDateTime64(_local + INTERVAL 1 HOUR, 3, 'UTC')",
    ),
    "daily": (
        "toStartOfDay(interval_start_utc, {tz:String})",
        "toDateTime64(_local, 3, 'UTC')",
        "toDateTime64(addDays(_local, 1), 3, 'UTC')",
    ),
}

_CURVE_RUN_STATUSES = ("running", "ok", "failed")
_QUALITY_STATUSES = ("pass", "warn", "fail")
_ALERT_STATUSES = ("open", "acknowledged", "resolved")
_ALERT_SEVERITIES = ("info", "warning", "critical")
_PROBLEM_PAYLOAD_STATUSES = ("quarantined", "partial")
_DATABASE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TIME = UTC_TIMESTAMP
_LIMIT_PARAM = "limit"


# --------------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------------
def _instant(value: Any, what: str) -> pd.Timestamp:
    """Return ``value`` as an instant: aware values as they are, naive ones read as UTC."""
    try:
        return to_instant(value, what)
    except NaiveTimestampError:
        return to_instant(pd.Timestamp(value).tz_localize("UTC"), what)


def _optional_instant(value: Any, what: str) -> pd.Timestamp | None:
    return None if value is None else _instant(value, what)


def _as_of(value: Any) -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC") if value is None else _instant(value, "as_of")


def _window(start: Any, end: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    begin, finish = _instant(start, "start"), _instant(end, "end")
    if begin >= finish:
        raise QueryParameterError(
            f"the window is empty: start {begin} is not before end {finish}; pass start < end "
            "(start inclusive, end exclusive)"
        )
    return begin, finish


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise QueryParameterError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    return value


def _texts(value: Any, what: str) -> list[str] | None:
    """Return one string or a sequence of strings as a list; None means no filter."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence | set | frozenset | pd.Index | pd.Series):
        raise QueryParameterError(
            f"{what} must be a string or a list of strings, got {type(value).__name__} {value!r}"
        )
    items = [_text(v, f"each of {what}") for v in value]
    if not items:
        raise QueryParameterError(f"{what} is an empty list, which matches nothing; pass None for all")
    return items


def _choices(value: Any, allowed: Sequence[str], what: str) -> list[str] | None:
    """Return the values of a filter whose values come from a fixed set; a value outside it raises."""
    items = _texts(value, what)
    for item in items or ():
        if item not in allowed:
            raise QueryParameterError(f"unknown {what} {item!r}; expected one of {', '.join(allowed)}")
    return items


def _resolution(value: Any) -> str:
    if value not in RESOLUTIONS:
        raise QueryParameterError(f"unknown resolution {value!r}; expected one of {', '.join(RESOLUTIONS)}")
    return str(value)


def _aggregates(value: Any, resolution: str) -> list[str]:
    if resolution == "native":
        if value is not None:
            raise QueryParameterError(
                "aggregates apply to the hourly and daily resolutions; native returns the stored "
                "intervals, so leave aggregates=None or choose resolution='hourly' or 'daily'"
            )
        return []
    chosen = _choices(DEFAULT_AGGREGATES if value is None else value, tuple(AGGREGATES), "aggregate") or []
    return list(dict.fromkeys(chosen))


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _zone(value: Any, resolution: str) -> str:
    if resolution == "native":
        if value is not None:
            raise QueryParameterError(
                "tz sets the hourly and daily buckets; native returns the stored intervals, "
                "so leave tz=None or choose resolution='hourly' or 'daily'"
            )
        return "UTC"
    zone = "UTC" if value is None else _text(value, "tz")
    if zone not in _zones():
        raise QueryParameterError(
            f"unknown time zone {zone!r}; expected an IANA name such as 'Europe/Berlin'"
        )
    return zone


def _limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LIMIT:
        raise QueryParameterError(f"limit must be an integer from 1 to {MAX_LIMIT:,}, got {value!r}")
    return value


def _database(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DATABASE_RE.fullmatch(value):
        raise QueryParameterError(
            f"database must be a plain name (letters, digits, underscores; not starting with a digit), "
            f"got {value!r}"
        )
    return value


def _table(spec: TableSpec, database: str | None) -> str:
    return qualified_name(database, spec.name) if database else quote_identifier(spec.name)


# --------------------------------------------------------------------------------------------------------
# SQL building blocks
# --------------------------------------------------------------------------------------------------------
def _param_type(spec: TableSpec, column: str) -> str:
    type_name = spec.column(column).type
    for wrapper in ("Nullable(", "LowCardinality("):
        if type_name.startswith(wrapper) and type_name.endswith(")"):
            type_name = type_name[len(wrapper) : -1]
    return type_name


@dataclass
class _Filters:
    """Conditions on one table's columns. Values are bound as ``q<n>`` parameters."""

    spec: TableSpec
    params: dict[str, Any] = field(default_factory=dict)
    sql: list[str] = field(default_factory=list)

    def bind(self, column: str, value: Any, array: bool = False) -> str:
        """Bind ``value`` as a parameter of ``column``'s type; return its placeholder."""
        key = f"q{len(self.params)}"
        self.params[key] = value
        ptype = _param_type(self.spec, column)
        return f"{{{key}:{f'Array({ptype})' if array else ptype}}}"

    def equals(self, column: str, value: Any) -> None:
        if value is not None:
            self.sql.append(f"{quote_identifier(column)} = {self.bind(column, value)}")

    def any_of(self, column: str, values: Sequence[Any] | None) -> None:
        if values is not None:
            self.sql.append(f"{quote_identifier(column)} IN {self.bind(column, list(values), array=True)}")

    def at_most(self, column: str, value: Any) -> None:
        if value is not None:
            self.sql.append(f"{quote_identifier(column)} <= {self.bind(column, value)}")

    def at_least(self, column: str, value: Any) -> None:
        if value is not None:
            self.sql.append(f"{quote_identifier(column)} >= {self.bind(column, value)}")

    def before(self, column: str, value: Any) -> None:
        if value is not None:
            self.sql.append(f"{quote_identifier(column)} < {self.bind(column, value)}")

    def active_at(self, start: str, end: str, value: Any) -> None:
        """Rows whose ``[start, end)`` contains ``value`` (a NULL end is open)."""
        if value is not None:
            bound = self.bind(start, value)
            self.sql.append(
                f"{quote_identifier(start)} <= {bound} AND "
                f"({quote_identifier(end)} IS NULL OR {quote_identifier(end)} > {bound})"
            )

    def clause(self) -> str:
        return f"WHERE {' AND '.join(self.sql)}" if self.sql else ""


def _columns(spec: TableSpec, names: Sequence[str]) -> dict[str, str]:
    """Return the output columns ``names`` of ``spec`` with their ClickHouse types."""
    return {name: spec.column(name).type for name in names}


def _select(columns: Mapping[str, str]) -> str:
    return ", ".join(quote_identifier(name) for name in columns)


def _dtype(type_name: str) -> Any:
    """Return the pandas dtype clickhouse-connect's ``query_df`` gives a column of ``type_name``."""
    for wrapper in ("Nullable(", "LowCardinality("):
        while type_name.startswith(wrapper) and type_name.endswith(")"):
            type_name = type_name[len(wrapper) : -1]
    if type_name.startswith("DateTime64"):
        return "datetime64[ms, UTC]"
    if type_name.startswith(("Float", "UInt", "Int")):
        return type_name.lower()
    if type_name == "String":
        return pd.StringDtype()
    return "object"


def _empty(columns: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=_dtype(t)) for name, t in columns.items()})


def _run(client: Any, sql: str, params: Mapping[str, Any], columns: Mapping[str, str]) -> pd.DataFrame:
    """Run ``sql`` and return its frame; with no rows, an empty frame with ``columns`` and their dtypes."""
    df: pd.DataFrame = client.query_df(sql, parameters=dict(params), tz_mode="schema")
    if len(df.columns) == 0:  # clickhouse-connect drops the columns of an empty result
        return _empty(columns)
    return df


def _series_params(limit: int, resolution: str, tz: str) -> dict[str, Any]:
    """Return the parameters of a series read: one row past the limit (to detect it), the bucket zone."""
    return {_LIMIT_PARAM: limit + 1, **({} if resolution == "native" else {"tz": tz})}


def _series_result(
    df: pd.DataFrame, limit: int, allow_empty: bool, what: str, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Check a series read with ``LIMIT limit + 1``: too many rows, or none, raise."""
    if len(df) > limit:
        raise QueryLimitError(
            f"{what} has more than {limit:,} rows; narrow the window, choose a coarser resolution "
            f"or pass a larger limit (at most {MAX_LIMIT:,})"
        )
    if df.empty and not allow_empty:
        raise EmptyResultError(
            f"no {what} published at or before {as_of}; check the names and the window, "
            "or pass allow_empty=True if an empty result is expected"
        )
    return df


def _native_or_bucketed(
    inner: str,
    spec: TableSpec,
    *,
    native: Sequence[str],
    value: str,
    group: Sequence[str],
    order: Sequence[str],
    resolution: str,
    aggregates: Sequence[str],
) -> tuple[str, dict[str, str]]:
    """Wrap a latest-version read of ``spec`` into its stored intervals or hourly / daily aggregates.

    Parameters
    ----------
    inner : str
        The latest-version read (:func:`marketintel.store.asof.asof_sql`).
    spec : TableSpec
        Its table.
    native : sequence of str
        Columns returned at the native resolution.
    value : str
        Column aggregated into buckets; the aggregates are named ``<value>_<aggregate>``.
    group : sequence of str
        Columns the buckets are also grouped by (units, areas, ...).
    order : sequence of str
        Columns ordered before time; the rest of ``group`` is ordered after it.
    resolution, aggregates
        Checked choices from :data:`RESOLUTIONS` and :data:`AGGREGATES`.

    Returns
    -------
    tuple of (str, dict of str to str)
        The SQL, ending in a ``LIMIT`` bound as ``limit``, and the output columns with their types.
    """
    limit = f"LIMIT {{{_LIMIT_PARAM}:UInt64}}"
    if resolution == "native":
        columns = _columns(spec, native)
        ordering = ", ".join(quote_identifier(c) for c in (*order, "interval_start_utc", "interval_end_utc"))
        return f"SELECT {_select(columns)}\nFROM ({inner})\nORDER BY {ordering}\n{limit}", columns
    local, start, end = _BUCKETS[resolution]
    groups = _select(_columns(spec, group))
    out = {"interval_start_utc": _TIME, "interval_end_utc": _TIME, **_columns(spec, group)}
    aggregated = []
    for name in aggregates:
        column = COUNT_COLUMN if name == "count" else f"{value}_{name}"
        aggregated.append(f"{AGGREGATES[name]} AS {quote_identifier(column)}")
        out[column] = "UInt64" if name == "count" else "Float64"
    rest = [quote_identifier(c) for c in group if c not in order]
    ordering = ", ".join([*(quote_identifier(c) for c in order), "_bucket_start", *rest])
    sql = "\n".join(
        [
            "SELECT _bucket_start AS interval_start_utc, _bucket_end AS interval_end_utc,",
            f"  {groups}, {', '.join(aggregated)}",
            "FROM (",
            f"  SELECT {local} AS _local, {start} AS _bucket_start, {end} AS _bucket_end,",
            "    interval_start_utc AS _start,",
            "    toFloat64(dateDiff('millisecond', interval_start_utc, interval_end_utc)) AS _ms,",
            f"    {quote_identifier(value)} AS _value, {groups}",
            f"  FROM ({inner})",
            ")",
            f"GROUP BY _bucket_start, _bucket_end, {groups}",
            f"ORDER BY {ordering}",
            limit,
        ]
    )
    return sql, out


# --------------------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------------------
#: Columns the buckets of a price series are grouped by (besides time).
_SERIES_GROUP = ("market", "location", "currency", "unit")

_PRICE_COLUMNS = (
    "market",
    "location",
    "location_type",
    "interval_start_utc",
    "interval_end_utc",
    "price",
    "energy",
    "congestion",
    "loss",
    "currency",
    "unit",
    "revision",
    "published_at_utc",
    "source",
)


def latest_prices(
    client: Any,
    markets: str | Sequence[str] | None = None,
    locations: str | Sequence[str] | None = None,
    *,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 10_000,
) -> pd.DataFrame:
    """Return the last interval's price of every market and location, as known at ``as_of``.

    For each (market, location), the function takes the interval with the latest start among rows
    published at or before ``as_of``, then that interval's latest revision. For a day-ahead market this
    is the last hour already cleared, which may lie in the future.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    markets : str or sequence of str, optional
        Markets to include (``prices.market``, e.g. ``'CAISO_DAM'``). Default: all.
    locations : str or sequence of str, optional
        Locations to include (``prices.location``). Default: all.
    as_of : str, datetime or pd.Timestamp, optional
        Knowledge time; a naive value is UTC. Default: now.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most rows to return [rows].

    Returns
    -------
    pd.DataFrame
        One row per (market, location), ordered by them, with the columns

        - ``market``, ``location``, ``location_type`` : str
        - ``interval_start_utc``, ``interval_end_utc`` : datetime64[ms, UTC]
            The last interval, ``[start, end)``.
        - ``price`` : float  [see ``unit``]
        - ``energy``, ``congestion``, ``loss`` : float  [see ``unit``]
            Components of the price; NaN where the source does not publish them.
        - ``currency``, ``unit``, ``revision``, ``source`` : str
        - ``published_at_utc`` : datetime64[ms, UTC]
            When the returned revision was published.

    Raises
    ------
    QueryParameterError
        If a filter is not a string or list of strings, or ``limit``/``database`` is invalid.
    """
    market_list = _texts(markets, "markets")
    location_list = _texts(locations, "locations")
    knowledge = _as_of(as_of)
    params: dict[str, Any] = {_LIMIT_PARAM: _limit(limit)}
    filters = _Filters(PRICES, params)
    filters.at_most(PUBLISHED_AT, knowledge)
    filters.any_of("market", market_list)
    filters.any_of("location", location_list)
    table = _table(PRICES, _database(database))
    columns = _columns(PRICES, _PRICE_COLUMNS)
    where = filters.clause()
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM {table}",
            f"{where} AND (market, location, interval_start_utc) IN (",
            f"  SELECT market, location, max(interval_start_utc) FROM {table} {where}",
            "  GROUP BY market, location)",
            "ORDER BY market, location, interval_start_utc DESC, interval_end_utc DESC,",
            f"  {quote_identifier(PUBLISHED_AT)} DESC, {quote_identifier(INGESTED_AT)} DESC",
            "LIMIT 1 BY market, location",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


def price_series(
    client: Any,
    market: str,
    location: str,
    start: Any,
    end: Any,
    *,
    resolution: Resolution = "native",
    aggregates: Sequence[Aggregate] | None = None,
    tz: str | None = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 1_000_000,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Return the prices of one market and location over ``[start, end)``, as known at ``as_of``.

    Every interval is read at its latest revision published at or before ``as_of``. Hourly and daily
    buckets then aggregate the intervals that *start* in them. Reads of the latest knowledge
    (``as_of=None``) at hourly or daily resolution take whole hours from the hourly rollup where it is
    exactly up to date, and the rest from the facts (:mod:`marketintel.store.rollup`): same answer,
    less work.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    market : str
        ``prices.market``, e.g. ``'SPP_RT'``.
    location : str
        ``prices.location``, e.g. ``'SPP_NORTH_HUB'``.
    start, end : str, datetime or pd.Timestamp
        Window on ``interval_start_utc``, start inclusive and end exclusive. Naive values are UTC.
    resolution : {"native", "hourly", "daily"}
        ``native`` returns the intervals as stored (5-minute, hourly, ...). ``hourly`` and ``daily``
        aggregate them into hours or calendar days of ``tz``.
    aggregates : sequence of {"avg", "min", "max", "sum", "first", "last", "count"}, optional
        Aggregates of the hourly or daily buckets. Default :data:`DEFAULT_AGGREGATES`. ``avg`` is
        time-weighted. Not allowed with ``native``.
    tz : str, optional
        IANA zone of the buckets. Default UTC. A daily bucket is a calendar day of ``tz``, so a DST
        change gives a 23- or 25-hour day. Not allowed with ``native``.
    as_of : str, datetime or pd.Timestamp, optional
        Knowledge time; a naive value is UTC. Default: now.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most rows the series may have [rows]. A longer series raises instead of being truncated.
    allow_empty : bool
        Return an empty frame instead of raising when nothing matches.

    Returns
    -------
    pd.DataFrame
        Ordered by ``interval_start_utc``. With ``native`` there is one row per stored interval, with
        the columns of :func:`latest_prices`. With ``hourly`` or ``daily`` there is one row per bucket
        (and currency and unit) that has data, with the columns

        - ``interval_start_utc``, ``interval_end_utc`` : datetime64[ms, UTC]
            The bucket, ``[start, end)``.
        - ``market``, ``location``, ``currency``, ``unit`` : str
        - ``price_avg``, ``price_min``, ``price_max``, ``price_sum``, ``price_first``, ``price_last`` :
          float  [see ``unit``]
            The chosen aggregates.
        - ``n_intervals`` : uint64
            Stored intervals in the bucket (``count``). For example, 12 for a complete hour of 5-minute
            prices.

    Raises
    ------
    QueryParameterError
        If the resolution, an aggregate, the zone, the window or ``limit`` is invalid.
    QueryLimitError
        If the series has more than ``limit`` rows.
    EmptyResultError
        If nothing matches and ``allow_empty`` is False.
    """
    query = price_series_query(
        client, market, location, start, end, resolution=resolution, aggregates=aggregates, tz=tz,
        as_of=as_of, database=database, limit=limit,
    )  # fmt: skip
    df = _run(client, query.sql, query.params, query.columns)
    return _series_result(df, query.limit, allow_empty, query.what, query.as_of)


def price_series_query(
    client: Any,
    market: str,
    location: str,
    start: Any,
    end: Any,
    *,
    resolution: Resolution = "native",
    aggregates: Sequence[Aggregate] | None = None,
    tz: str | None = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 1_000_000,
) -> SeriesQuery:
    """Return the statement :func:`price_series` runs, with the rollup's state read from ``client``.

    For callers that run it themselves (the API streams it as Arrow blocks). Same parameters and checks
    as :func:`price_series`; the statement returns at most ``limit + 1`` rows.
    """
    latest = as_of is None and resolution in ("hourly", "daily")
    db = _database(database)
    state = rollup_state(client, db) if latest else None
    ready = state is not None and state.watermark_block > 0
    return price_series_sql(
        market,
        location,
        start,
        end,
        resolution=resolution,
        aggregates=aggregates,
        tz=tz,
        as_of=as_of,
        database=database,
        limit=limit,
        rollup_state=state,
        # one look at the parts' block numbers: when nothing was written since the watermark, the read
        # does not have to search the facts for changed hours
        rollup_changed=ready and rollup.current_block(client, db) > state.watermark_block,  # type: ignore[union-attr]
    )


#: How long the rollup state read by :func:`rollup_state` is reused [s].
ROLLUP_STATE_TTL_S = 5.0
_NO_ROLLUP = rollup.RollupState(0, None, 0)
_states: dict[tuple[str, int, str | None], tuple[float, rollup.RollupState]] = {}


def rollup_state(client: Any, database: str | None = None) -> rollup.RollupState:
    """Return the hourly rollup's state, read at most every :data:`ROLLUP_STATE_TTL_S` seconds.

    The state of any completed refresh is safe to read with, however old: hours changed since its
    watermark are read from the facts (:mod:`marketintel.store.rollup`), and the latest publication and
    mixed-unit count only grow. So a cached state costs at most some speed, never correctness. A
    watermark of 0 means no rollup (never refreshed, or a store not migrated since the rollup was
    added): reads then take the fact path.
    """
    key = (str(getattr(client, "url", "")), id(client), database)
    now = time.monotonic()
    cached = _states.get(key)
    if cached is not None and now - cached[0] < ROLLUP_STATE_TTL_S:
        return cached[1]
    try:
        found = rollup.state(client, database)
    except DatabaseError as exc:
        if not _rollup_missing(exc):
            raise
        found = _NO_ROLLUP
    _states[key] = (now, found)
    return found


@dataclass(frozen=True)
class SeriesQuery:
    """The SQL a series read runs (see :func:`price_series_sql`).

    Attributes
    ----------
    sql : str
        The statement; values are bound server-side.
    params : dict of str to Any
        Its bound parameters.
    columns : dict of str to str
        Output columns and their ClickHouse types.
    uses_rollup : bool
        Whether it reads ``prices_hourly`` (latest knowledge, hourly or daily, whole-hour zone).
    as_of : pd.Timestamp
        The knowledge time it reads at.
    limit : int
        The caller's limit; the SQL returns at most one row more, to detect a longer series [rows].
    what : str
        The series, for messages.
    """

    sql: str
    params: dict[str, Any]
    columns: dict[str, str]
    uses_rollup: bool
    as_of: pd.Timestamp
    limit: int
    what: str


def price_series_sql(
    market: str,
    location: str,
    start: Any,
    end: Any,
    *,
    resolution: Resolution = "native",
    aggregates: Sequence[Aggregate] | None = None,
    tz: str | None = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 1_000_000,
    rollup_state: rollup.RollupState | None = None,
    rollup_changed: bool = True,
) -> SeriesQuery:
    """Return the SQL :func:`price_series` runs for these arguments (same parameters and checks).

    With a ``rollup_state`` (a completed refresh's, see :func:`rollup_state`), ``as_of=None``
    (latest knowledge), an hourly or daily resolution and a zone whose offset is a whole number of hours
    over the window, the buckets come from the hourly rollup (:mod:`marketintel.store.rollup`) combined
    with the facts for the hours the rollup does not cover exactly. Otherwise, and for every
    point-in-time read, the buckets are computed from the latest revision of each interval published at
    or before ``as_of``. Both give the same rows and values (to float rounding of sums in another order).
    ``rollup_changed=False`` says that no part of ``prices`` was written or rewritten since the
    watermark (:func:`marketintel.store.rollup.current_block`), so the read skips looking for such hours.
    """
    name = _text(market, "market")
    place = _text(location, "location")
    begin, finish = _window(start, end)
    chosen = _resolution(resolution)
    aggs = _aggregates(aggregates, chosen)
    zone = _zone(tz, chosen)
    knowledge = _as_of(as_of)
    count = _limit(limit)
    db = _database(database)
    what = f"prices of {name}/{place} in [{begin}, {finish})"
    ready = rollup_state is not None and rollup_state.watermark_block > 0
    if ready and as_of is None and chosen != "native" and _whole_hour_zone(zone, begin.year, finish.year):
        assert rollup_state is not None
        sql, params, columns = _rollup_series_sql(
            name, place, begin, finish, knowledge, chosen, aggs, db, rollup_state, rollup_changed
        )
        params.update(_series_params(count, chosen, zone))
        return SeriesQuery(sql, params, columns, True, knowledge, count, what)
    inner, params = asof_sql(
        PRICES,
        knowledge,
        where={"market": name, "location": place, "interval_start_utc": Range(begin, finish)},
        columns=PRICES.column_names,
        database=db,
    )
    sql, columns = _native_or_bucketed(
        inner,
        PRICES,
        native=_PRICE_COLUMNS,
        value="price",
        group=_SERIES_GROUP,
        order=(),
        resolution=chosen,
        aggregates=aggs,
    )
    params.update(_series_params(count, chosen, zone))
    return SeriesQuery(sql, params, columns, False, knowledge, count, what)


def _rollup_missing(exc: Exception) -> bool:
    text = str(exc)
    return "UNKNOWN_TABLE" in text and any(t in text for t in (PRICES_HOURLY.name, ROLLUP_REFRESHES.name))


@cache
def _whole_hour_zone(zone: str, first_year: int, last_year: int) -> bool:
    """Whether ``zone``'s offset from UTC is a whole number of hours at every hour of the years given.

    Then each hour (and day) of the zone is a union of UTC hours, so buckets can be built from the
    rollup's UTC hours exactly. Zones with half- and quarter-hour offsets (Asia/Kolkata,
    Australia/Adelaide, ...) and years outside 1900-2200 keep the fact path.
    """
    if zone == "UTC":
        return True
    if first_year < 1900 or last_year > 2200:
        return False
    hours = pd.date_range(
        f"{first_year}-01-01", f"{last_year + 1}-01-01", freq="h", tz="UTC", inclusive="left"
    )
    offsets = hours.tz_convert(zone).tz_localize(None) - hours.tz_localize(None)
    return bool((offsets % pd.Timedelta(hours=1) == pd.Timedelta(0)).all())


#: Partial aggregates of one hour from the facts, named as the rollup's columns.
_HOUR_PARTIALS = (
    "count() AS n_intervals",
    "sum(price * _ms) AS price_ms_sum",
    "sum(_ms) AS ms_sum",
    "sum(price) AS price_sum",
    "min(price) AS price_min",
    "max(price) AS price_max",
    "min(interval_start_utc) AS first_start_utc",
    "argMin(price, interval_start_utc) AS price_first",
    "max(interval_start_utc) AS last_start_utc",
    "argMax(price, interval_start_utc) AS price_last",
)

#: Each aggregate of :data:`AGGREGATES`, over hours' partial aggregates (the same value: ``avg`` stays
#: weighted by time, ``first`` / ``last`` are the values of the earliest / latest interval).
_FROM_PARTIALS: Mapping[str, str] = {
    "avg": "sum(price_ms_sum) / sum(ms_sum)",
    "min": "min(price_min)",
    "max": "max(price_max)",
    "sum": "sum(price_sum)",
    "first": "argMin(price_first, first_start_utc)",
    "last": "argMax(price_last, last_start_utc)",
    "count": "sum(n_intervals)",
}

#: Each aggregate of :data:`AGGREGATES` from the partial aggregates of one hour (the hourly buckets of a
#: zone whose hours are UTC hours: one row of partials per bucket, so no regrouping).
_FROM_ONE_HOUR: Mapping[str, str] = {
    "avg": "price_ms_sum / ms_sum",
    "min": "price_min",
    "max": "price_max",
    "sum": "price_sum",
    "first": "price_first",
    "last": "price_last",
    "count": "n_intervals",
}

#: The partial aggregates (columns of the rollup) each aggregate of :data:`AGGREGATES` is combined from: a
#: read selects only those of the aggregates asked for, so it decompresses no other column of the rollup.
_PARTIALS_OF: Mapping[str, tuple[str, ...]] = {
    "avg": ("price_ms_sum", "ms_sum"),
    "min": ("price_min",),
    "max": ("price_max",),
    "sum": ("price_sum",),
    "first": ("first_start_utc", "price_first"),
    "last": ("last_start_utc", "price_last"),
    "count": ("n_intervals",),
}

_HOUR = "toDateTime64(toStartOfHour(interval_start_utc), 3, 'UTC')"


def _rollup_series_sql(
    market: str,
    location: str,
    begin: pd.Timestamp,
    finish: pd.Timestamp,
    as_of: pd.Timestamp,
    resolution: str,
    aggregates: Sequence[str],
    database: str | None,
    state: rollup.RollupState,
    parts_changed: bool,
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Buckets from the hourly rollup, and from the facts for the hours it does not cover exactly.

    An hour is read from the facts when it is a partial hour at the window's edge, has a row in a part
    of ``prices`` changed since the rollup's watermark, or has a row published after ``as_of``
    (:mod:`marketintel.store.rollup` proves the rest exact). Both sides give the same partial aggregates
    per UTC hour, which are then combined into the hourly or daily buckets of the zone.
    """
    rollup_first, rollup_end = begin.ceil("h"), max(begin.ceil("h"), finish.floor("h"))
    params: dict[str, Any] = {
        "m": market,
        "l": location,
        "start": begin,
        "end": finish,
        "rs": rollup_first,
        "re": rollup_end,
        "as_of": as_of,
        "w": state.watermark_block,
    }
    prices = rollup.table_name(PRICES.name, database)
    hourly = rollup.table_name(PRICES_HOURLY.name, database)
    w = "{w:UInt64}"
    series = "market = {m:String} AND location = {l:String}"
    window = f"{series} AND interval_start_utc >= {{start:{_TIME}}} AND interval_start_utc < {{end:{_TIME}}}"
    whole = f"interval_start_utc >= {{rs:{_TIME}}} AND interval_start_utc < {{re:{_TIME}}}"
    hours = f"{series} AND hour_utc >= {{rs:{_TIME}}} AND hour_utc < {{re:{_TIME}}}"
    # The whole hours read from the facts, as one array computed once per query (the engine evaluates a
    # scalar subquery once): changed since the watermark, and (only where the refresh log says some may
    # exist) published after as_of or in mixed units.
    odd = state.mixed_hours > 0 or (
        state.max_published_at_utc is not None and state.max_published_at_utc > as_of
    )
    sources = (
        [f"SELECT {_HOUR} AS _h FROM {prices} WHERE {series} AND {whole} AND {rollup.changed_since_sql(w)}"]
        if parts_changed
        else []
    )
    if odd:
        sources.append(
            f"SELECT hour_utc AS _h FROM {hourly} WHERE {hours}"
            f" AND (max_published_at_utc > {{as_of:{_TIME}}} OR mixed_units)"
        )
    changed = f"(SELECT groupUniqArray(_h) FROM ({' UNION ALL '.join(sources)}))" if sources else ""
    # Rows the facts answer for: the edge hours of the window and the changed hours, bounded by the first
    # and last of them so that the primary key narrows the read.
    from_facts = f"NOT ({whole})"
    if changed:
        from_facts = " ".join(
            [
                f"({from_facts}",
                f"OR (interval_start_utc >= arrayMin({changed})",
                f"AND interval_start_utc < arrayMax({changed}) + INTERVAL 1 HOUR",
                f"AND has({changed}, {_HOUR})))",
            ]
        )
    edges = begin != rollup_first or finish != rollup_end
    needed = {column for name in aggregates for column in _PARTIALS_OF[name]}
    kept = [c for c in rollup.PARTIAL_COLUMNS if c in needed]  # table order, both sides alike
    partials = ", ".join(kept)
    fact_partials = ", ".join(p for p in _HOUR_PARTIALS if p.rsplit(" AS ", 1)[1] in needed)
    local, start, end = (e.replace("interval_start_utc", "_hour") for e in _BUCKETS[resolution])
    out = {"interval_start_utc": _TIME, "interval_end_utc": _TIME, **_columns(PRICES, _SERIES_GROUP)}
    # Every hour comes from one side only (the rollup's hours exclude the facts' ones), and an hourly
    # bucket of a zone the rollup serves is one UTC hour: hourly buckets are the partial rows as they
    # are, daily buckets combine them.
    per_hour = resolution == "hourly"
    combined = []
    for name in aggregates:
        column = COUNT_COLUMN if name == "count" else f"price_{name}"
        expression = _FROM_ONE_HOUR[name] if per_hour else _FROM_PARTIALS[name]
        combined.append(f"{expression} AS {quote_identifier(column)}")
        out[column] = "UInt64" if name == "count" else "Float64"
    groups = ", ".join(_SERIES_GROUP)
    from_rollup = [
        f"    SELECT market, location, hour_utc AS _hour, currency, unit, {partials}",
        f"    FROM {hourly} FINAL",
        f"    WHERE {hours}" + (f" AND NOT has({changed}, hour_utc)" if changed else ""),
    ]
    if not (changed or edges):  # every hour from the rollup: no read of the facts at all
        from_facts_lines: list[str] = []
    else:
        from_facts_lines = [
            "    UNION ALL",
            f"    SELECT market, location, {_HOUR} AS _hour, currency, unit, {fact_partials}",
            "    FROM (",
            "      SELECT market, location, interval_start_utc, price, currency, unit,",
            "        toFloat64(dateDiff('millisecond', interval_start_utc, interval_end_utc)) AS _ms",
            f"      FROM {prices}",
            f"      WHERE {window} AND {quote_identifier(PUBLISHED_AT)} <= {{as_of:{_TIME}}}",
            f"        AND {from_facts}",
            "      ORDER BY market, location, interval_start_utc, interval_end_utc,",
            f"        {quote_identifier(PUBLISHED_AT)} DESC, {quote_identifier(INGESTED_AT)} DESC",
            "      LIMIT 1 BY market, location, interval_start_utc, interval_end_utc",
            "    )",
            "    GROUP BY market, location, _hour, currency, unit",
        ]
    if per_hour:
        sql = "\n".join(
            [
                "SELECT _hour AS interval_start_utc, _hour + INTERVAL 1 HOUR AS interval_end_utc,",
                f"  {groups}, {', '.join(combined)}",
                "FROM (",
                *from_rollup,
                *from_facts_lines,
                ")",
                f"ORDER BY _hour, {groups}",
                f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
            ]
        )
        return sql, params, out
    sql = "\n".join(
        [
            "SELECT _bucket_start AS interval_start_utc, _bucket_end AS interval_end_utc,",
            f"  {groups}, {', '.join(combined)}",
            "FROM (",
            f"  SELECT {local} AS _local, {start} AS _bucket_start, {end} AS _bucket_end,",
            f"    {groups}, {partials}",
            "  FROM (",
            *from_rollup,
            *from_facts_lines,
            "  )",
            ")",
            f"GROUP BY _bucket_start, _bucket_end, {groups}",
            f"ORDER BY _bucket_start, {groups}",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return sql, params, out


#: the series key of each table :func:`stored_series` lists
_SERIES_KEYS: Mapping[str, tuple[TableSpec, tuple[str, ...]]] = {
    "prices": (PRICES, ("market", "location", "location_type", "unit")),
    "fundamentals": (FUNDAMENTALS, ("market", "area", "area_to", "variable", "unit")),
}


def stored_series(
    client: Any,
    table: Literal["prices", "fundamentals"],
    start: Any,
    end: Any,
    *,
    sources: str | Sequence[str] | None = None,
    markets: str | Sequence[str] | None = None,
    database: str | None = None,
    limit: int = 10_000,
) -> pd.DataFrame:
    """Return which series the store holds over ``[start, end)``, and how many intervals each has.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    table : {"prices", "fundamentals"}
        Which table's series.
    start, end : str, datetime or pd.Timestamp
        Window on ``interval_start_utc`` (start inclusive, end exclusive); naive values are UTC.
    sources, markets : str or sequence of str, optional
        Only these sources / markets.
    database : str, optional
        Database of the table (default: the client's).
    limit : int
        Most series to return [rows].

    Returns
    -------
    pd.DataFrame
        One row per series, ordered by its key: the key columns (prices: ``market``, ``location``,
        ``location_type``, ``unit``; fundamentals: ``market``, ``area``, ``area_to``, ``variable``,
        ``unit``), ``n_rows`` (rows after deduplication: one per interval and revision) [rows],
        ``n_intervals`` (distinct interval starts) [intervals], ``first_start_utc`` and ``last_start_utc``
        [UTC].
    """
    if table not in _SERIES_KEYS:
        raise QueryParameterError(f"unknown table {table!r}; expected one of {', '.join(_SERIES_KEYS)}")
    spec, key = _SERIES_KEYS[table]
    begin, finish = _window(start, end)
    params: dict[str, Any] = {_LIMIT_PARAM: _limit(limit)}
    filters = _Filters(spec, params)
    filters.at_least("interval_start_utc", begin)
    filters.before("interval_start_utc", finish)
    filters.any_of("source", _texts(sources, "sources"))
    filters.any_of("market", _texts(markets, "markets"))
    keys = _select(_columns(spec, key))
    columns = {
        **_columns(spec, key),
        "n_rows": "UInt64",
        COUNT_COLUMN: "UInt64",
        "first_start_utc": _TIME,
        "last_start_utc": _TIME,
    }
    sql = "\n".join(
        [
            f"SELECT {keys}, count() AS n_rows, uniqExact(interval_start_utc) AS {COUNT_COLUMN},",
            "  min(interval_start_utc) AS first_start_utc, max(interval_start_utc) AS last_start_utc",
            f"FROM {_table(spec, _database(database))} FINAL",
            filters.clause(),
            f"GROUP BY {keys}",
            f"ORDER BY {keys}",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


# --------------------------------------------------------------------------------------------------------
# Fundamentals
# --------------------------------------------------------------------------------------------------------
_FUNDAMENTAL_COLUMNS = (
    "market",
    "area",
    "area_to",
    "variable",
    "interval_start_utc",
    "interval_end_utc",
    "value",
    "unit",
    "published_at_utc",
    "source",
)
_FUNDAMENTAL_GROUP = ("market", "area", "area_to", "variable", "unit")


def fundamentals(
    client: Any,
    market: str,
    area: str,
    variables: str | Sequence[str],
    start: Any,
    end: Any,
    *,
    area_to: str | None = None,
    resolution: Resolution = "native",
    aggregates: Sequence[Aggregate] | None = None,
    tz: str | None = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 1_000_000,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Return fundamentals (load, generation, flows, forecasts) of one area over ``[start, end)``.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    market : str
        ``fundamentals.market``, e.g. ``'ERCOT'``.
    area : str
        ``fundamentals.area``.
    variables : str or sequence of str
        ``fundamentals.variable`` names, e.g. ``['load', 'load_forecast']``.
    start, end : str, datetime or pd.Timestamp
        Window on ``interval_start_utc``, start inclusive and end exclusive. Naive values are UTC.
    area_to : str, optional
        For flows, the receiving area. Default: any, including ``''`` (not a flow).
    resolution, aggregates, tz, as_of, database, limit, allow_empty
        As in :func:`price_series`. A variable in energy (MWh) wants ``sum``; one in average power (MW)
        wants ``avg``.

    Returns
    -------
    pd.DataFrame
        In long form, ordered by variable, ``area_to`` and interval. With ``native`` there is one row
        per stored interval, with the columns

        - ``market``, ``area``, ``area_to``, ``variable``, ``unit``, ``source`` : str
        - ``interval_start_utc``, ``interval_end_utc`` : datetime64[ms, UTC]
        - ``value`` : float  [see ``unit``]
        - ``published_at_utc`` : datetime64[ms, UTC]

        With ``hourly`` or ``daily`` there is one row per variable, ``area_to``, unit and bucket, with
        ``interval_start_utc``, ``interval_end_utc``, ``market``, ``area``, ``area_to``, ``variable``,
        ``unit``, ``value_<aggregate>`` (float  [see ``unit``]) and ``n_intervals`` (uint64).

    Raises
    ------
    QueryParameterError
        If a parameter is invalid (see :func:`price_series`).
    QueryLimitError
        If the result has more than ``limit`` rows.
    EmptyResultError
        If nothing matches and ``allow_empty`` is False.
    """
    name = _text(market, "market")
    place = _text(area, "area")
    names = _texts(variables, "variables") or []
    begin, finish = _window(start, end)
    chosen = _resolution(resolution)
    aggs = _aggregates(aggregates, chosen)
    zone = _zone(tz, chosen)
    knowledge = _as_of(as_of)
    count = _limit(limit)
    where: dict[str, Any] = {"market": name, "area": place, "variable": names}
    if area_to is not None:
        where["area_to"] = _text(area_to, "area_to")
    where["interval_start_utc"] = Range(begin, finish)
    inner, params = asof_sql(
        FUNDAMENTALS, knowledge, where=where, columns=FUNDAMENTALS.column_names, database=_database(database)
    )
    sql, columns = _native_or_bucketed(
        inner,
        FUNDAMENTALS,
        native=_FUNDAMENTAL_COLUMNS,
        value="value",
        group=_FUNDAMENTAL_GROUP,
        order=("variable", "area_to"),
        resolution=chosen,
        aggregates=aggs,
    )
    params.update(_series_params(count, chosen, zone))
    df = _run(client, sql, params, columns)
    what = f"fundamentals {names} of {name}/{place} in [{begin}, {finish})"
    return _series_result(df, count, allow_empty, what, knowledge)


# --------------------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------------------
_CURVE_VERSION_COLUMNS = (
    "curve_name",
    "scenario",
    "as_of_utc",
    "version",
    "run_id",
    "method",
    "solver",
    "max_reprice_error",
    "input_quotes",
    "input_sha256",
    "status",
    "message",
    "code_version",
    "started_at_utc",
    "finished_at_utc",
    "published_at_utc",
)
_CURVE_POINT_COLUMNS = (
    "curve_name",
    "scenario",
    "as_of_utc",
    "version",
    "delivery_start_utc",
    "delivery_end_utc",
    "value",
    "currency",
    "unit",
    "run_id",
    "published_at_utc",
)


def curve_versions(
    client: Any,
    curve_name: str,
    *,
    scenario: str = "base",
    start: Any = None,
    end: Any = None,
    statuses: str | Sequence[str] | None = None,
    include_parameters: bool = False,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Return the builds (versions) of a curve with their lineage, newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    curve_name : str
        ``curve_runs.curve_name``, e.g. ``'DE_POWER_BASE_HOURLY'``.
    scenario : str
        Scenario the builds are recorded under (``'base'``).
    start, end : str, datetime or pd.Timestamp, optional
        Window on the curves' information cutoff ``as_of_utc``, start inclusive and end exclusive.
        Default: unbounded.
    statuses : str or sequence of {"running", "ok", "failed"}, optional
        Build statuses to include. Default: all.
    include_parameters : bool
        Also return ``parameters``, the method parameters as JSON. These include per-contract fits and
        can be large.
    as_of : str, datetime or pd.Timestamp, optional
        Knowledge time; a naive value is UTC. Default: now.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most builds to return [rows].

    Returns
    -------
    pd.DataFrame
        One row per build, ordered by ``as_of_utc`` then ``version``, newest first, with the columns

        - ``curve_name``, ``scenario``, ``run_id``, ``method``, ``status``, ``message``,
          ``code_version`` : str
        - ``as_of_utc`` : datetime64[ms, UTC]
            The curve's information cutoff.
        - ``version`` : uint32
            Build number for this curve and ``as_of_utc``.
        - ``solver`` : str
            The solver recorded in ``parameters``; ``''`` if none was recorded.
        - ``max_reprice_error`` : float  [see ``curves.unit``]
            Largest absolute gap between a contract price and the curve's average over it.
        - ``input_quotes`` : uint32  [quotes]
        - ``input_sha256`` : str
            Hash of the input quotes as read.
        - ``started_at_utc``, ``finished_at_utc``, ``published_at_utc`` : datetime64[ms, UTC]
        - ``parameters`` : str
            Only with ``include_parameters``.

    Raises
    ------
    QueryParameterError
        If a status, the window, ``limit`` or ``database`` is invalid.
    """
    knowledge = _as_of(as_of)
    wanted = _choices(statuses, _CURVE_RUN_STATUSES, "status")
    where: dict[str, Any] = {
        "curve_name": _text(curve_name, "curve_name"),
        "scenario": _text(scenario, "scenario"),
    }
    begin, finish = _optional_instant(start, "start"), _optional_instant(end, "end")
    if begin is not None or finish is not None:
        where["as_of_utc"] = Range(begin, finish)
    inner, params = asof_sql(
        CURVE_RUNS, knowledge, where=where, columns=CURVE_RUNS.column_names, database=_database(database)
    )
    params[_LIMIT_PARAM] = _limit(limit)
    outer = _Filters(CURVE_RUNS, params)
    outer.any_of("status", wanted)
    columns = {c: "String" if c == "solver" else CURVE_RUNS.column(c).type for c in _CURVE_VERSION_COLUMNS}
    if include_parameters:
        columns["parameters"] = CURVE_RUNS.column("parameters").type
    select = [
        "JSONExtractString(parameters, 'solver') AS solver" if c == "solver" else quote_identifier(c)
        for c in columns
    ]
    sql = "\n".join(
        [
            f"SELECT {', '.join(select)}",
            f"FROM ({inner})",
            outer.clause(),
            "ORDER BY as_of_utc DESC, version DESC, started_at_utc DESC, run_id",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


def curve_points(
    client: Any,
    curve_name: str,
    *,
    curve_as_of: Any = None,
    version: int | None = None,
    scenario: str = "base",
    as_of: Any = None,
    database: str | None = None,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Return the points of one version of a curve.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    curve_name : str
        ``curves.curve_name``.
    curve_as_of : str, datetime or pd.Timestamp, optional
        The curve's information cutoff (``curves.as_of_utc``); a naive value is UTC. Default: the
        latest cutoff stored.
    version : int, optional
        Build number at that cutoff. Default: the latest.
    scenario : str
        ``curves.scenario``; ``'base'`` is the unshifted curve.
    as_of : str, datetime or pd.Timestamp, optional
        Knowledge time. Versions published after it are invisible. Default: now.
    database : str, optional
        Database of the tables. Default: the client's.
    allow_empty : bool
        Return an empty frame instead of raising when no such version exists.

    Returns
    -------
    pd.DataFrame
        One row per delivery interval, ordered by delivery, with the columns

        - ``curve_name``, ``scenario``, ``currency``, ``unit``, ``run_id`` : str
        - ``as_of_utc`` : datetime64[ms, UTC]
        - ``version`` : uint32
        - ``delivery_start_utc``, ``delivery_end_utc`` : datetime64[ms, UTC]
            Delivery interval ``[start, end)``.
        - ``value`` : float  [see ``unit``]
            Forward price for delivery in the interval.
        - ``published_at_utc`` : datetime64[ms, UTC]

    Raises
    ------
    QueryParameterError
        If ``version`` is not a positive integer, or another parameter is invalid.
    EmptyResultError
        If no such version exists and ``allow_empty`` is False. The message says which cutoffs and
        versions of the curve exist.
    """
    name = _text(curve_name, "curve_name")
    kind = _text(scenario, "scenario")
    knowledge = _as_of(as_of)
    db = _database(database)
    cutoff = _optional_instant(curve_as_of, "curve_as_of")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise QueryParameterError(f"version must be a positive integer (1, 2, ...) or None, got {version!r}")
    columns = _columns(CURVES, _CURVE_POINT_COLUMNS)
    filters = _Filters(CURVES)
    filters.at_most(PUBLISHED_AT, knowledge)
    filters.equals("curve_name", name)
    filters.equals("scenario", kind)
    filters.equals("as_of_utc", cutoff)
    filters.equals("version", version)
    found = client.query(  # epoch milliseconds: independent of the client's tz_mode
        f"SELECT toUnixTimestamp64Milli(as_of_utc), version FROM {_table(CURVES, db)} {filters.clause()}"
        " ORDER BY as_of_utc DESC, version DESC LIMIT 1",
        parameters=filters.params,
    ).result_rows
    if not found:
        if allow_empty:
            return _empty(columns)
        raise EmptyResultError(
            f"no points of curve {name!r} (scenario {kind!r}, cutoff {cutoff or 'any'}, version "
            f"{version or 'any'}) published at or before {knowledge}; curve_versions() lists the builds"
        )
    chosen_cutoff = pd.Timestamp(int(found[0][0]), unit="ms", tz="UTC")
    chosen_version = int(found[0][1])
    where = {"curve_name": name, "scenario": kind, "as_of_utc": chosen_cutoff, "version": chosen_version}
    inner, params = asof_sql(CURVES, knowledge, where=where, columns=list(columns), database=db)
    sql = f"SELECT * FROM ({inner}) ORDER BY delivery_start_utc, delivery_end_utc"
    return _run(client, sql, params, columns)


# --------------------------------------------------------------------------------------------------------
# Backtests
# --------------------------------------------------------------------------------------------------------
_BACKTEST_RUN_COLUMNS = tuple(c for c in BACKTEST_RUNS.column_names if c != INGESTED_AT)
_BACKTEST_METRIC_COLUMNS = tuple(c for c in BACKTEST_METRICS.column_names if c != INGESTED_AT)


def backtest_runs(
    client: Any,
    *,
    models: str | Sequence[str] | None = None,
    market: str | None = None,
    location: str | None = None,
    variable: str | None = None,
    statuses: str | Sequence[str] | None = None,
    run_ids: str | Sequence[str] | None = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Return backtest runs at their latest status, newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    models : str or sequence of str, optional
        ``backtest_runs.model`` names. Default: all.
    market, location, variable : str, optional
        Target of the runs. Default: any.
    statuses : str or sequence of {"running", "ok", "failed"}, optional
        Latest statuses to include. Default: all.
    run_ids : str or sequence of str, optional
        Particular runs. Default: all.
    as_of : str, datetime or pd.Timestamp, optional
        Knowledge time; a naive value is UTC. Default: now.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most runs to return [rows].

    Returns
    -------
    pd.DataFrame
        One row per run, ordered by ``started_at_utc``, newest first, with the columns of
        ``backtest_runs`` except ``ingested_at_utc``:

        - ``run_id``, ``model``, ``market``, ``location``, ``variable``, ``benchmark``, ``config``
          (JSON), ``recalibration``, ``status``, ``message``, ``code_version`` : str
        - ``issue_start_utc``, ``issue_end_utc`` : datetime64[ms, UTC]
            First and last issue times (both inclusive).
        - ``started_at_utc``, ``finished_at_utc``, ``published_at_utc`` : datetime64[ms, UTC]

    Raises
    ------
    QueryParameterError
        If a status or another parameter is invalid.
    """
    knowledge = _as_of(as_of)
    wanted = _choices(statuses, _CURVE_RUN_STATUSES, "status")
    where: dict[str, Any] = {}
    for column, value in (("model", _texts(models, "models")), ("run_id", _texts(run_ids, "run_ids"))):
        if value is not None:
            where[column] = value
    inner, params = asof_sql(
        BACKTEST_RUNS,
        knowledge,
        where=where,
        columns=BACKTEST_RUNS.column_names,
        database=_database(database),
    )
    params[_LIMIT_PARAM] = _limit(limit)
    outer = _Filters(BACKTEST_RUNS, params)
    outer.equals("market", None if market is None else _text(market, "market"))
    outer.equals("location", None if location is None else _text(location, "location"))
    outer.equals("variable", None if variable is None else _text(variable, "variable"))
    outer.any_of("status", wanted)
    columns = _columns(BACKTEST_RUNS, _BACKTEST_RUN_COLUMNS)
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM ({inner})",
            outer.clause(),
            "ORDER BY started_at_utc DESC, run_id",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


def backtest_metrics(
    client: Any,
    run_ids: str | Sequence[str],
    *,
    metrics: str | Sequence[str] | None = None,
    group_by: str | Sequence[str] | None = None,
    benchmark: str | None = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 100_000,
) -> pd.DataFrame:
    """Return the metrics and test statistics of backtest runs.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    run_ids : str or sequence of str
        ``backtest_runs.run_id`` of the runs.
    metrics : str or sequence of str, optional
        Metric names as stored (``'MAE'``, ``'rMAE'``, ``'DM_pvalue'``, ...). Default: all.
    group_by : str or sequence of str, optional
        Grouping dimensions (``'all'``, ``'hour'``, ``'horizon'``, ``'period'``, ...). Default: all.
    benchmark : str, optional
        Reference model of the relative metrics and tests; ``''`` selects the absolute ones. Default:
        any.
    as_of : str, datetime or pd.Timestamp, optional
        Knowledge time; a naive value is UTC. Default: now.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most rows to return [rows].

    Returns
    -------
    pd.DataFrame
        One row per run, metric, grouping and benchmark. Ordered by run, metric, benchmark, grouping
        dimension, then group value (numerically where it is a number, so hour ``'2'`` comes before
        ``'13'``). The columns are

        - ``run_id``, ``model``, ``market``, ``location``, ``variable``, ``metric``, ``group_by``,
          ``group_value``, ``benchmark``, ``unit`` : str
        - ``value`` : float  [see ``unit``]
        - ``n_obs`` : uint64  [observations]
        - ``published_at_utc`` : datetime64[ms, UTC]

    Raises
    ------
    QueryParameterError
        If a parameter is invalid.
    """
    where: dict[str, Any] = {"run_id": _texts(run_ids, "run_ids")}
    for column, value in (("metric", _texts(metrics, "metrics")), ("group_by", _texts(group_by, "group_by"))):
        if value is not None:
            where[column] = value
    if benchmark is not None:
        where["benchmark"] = _text(benchmark, "benchmark")
    inner, params = asof_sql(
        BACKTEST_METRICS,
        _as_of(as_of),
        where=where,
        columns=BACKTEST_METRICS.column_names,
        database=_database(database),
    )
    params[_LIMIT_PARAM] = _limit(limit)
    columns = _columns(BACKTEST_METRICS, _BACKTEST_METRIC_COLUMNS)
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM ({inner})",
            "ORDER BY run_id, metric, benchmark, group_by,",
            "  toFloat64OrNull(group_value) NULLS LAST, group_value",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


# --------------------------------------------------------------------------------------------------------
# Operations: data quality, alerts, quarantined payloads
# --------------------------------------------------------------------------------------------------------
def _table_name(value: Any) -> str | None:
    """Check that a ``table_name`` filter names a store table (the error lists the known ones)."""
    if value is None:
        return None
    return TABLES[_text(value, "table_name")].name


def quality_results(
    client: Any,
    *,
    table_name: str | None = None,
    checks: str | Sequence[str] | None = None,
    market: str | None = None,
    location: str | None = None,
    statuses: str | Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    latest_only: bool = False,
    run_ids: str | Sequence[str] | None = None,
    database: str | None = None,
    limit: int = 1_000,
) -> pd.DataFrame:
    """Return data-quality check results, newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    run_ids : str or sequence of str, optional
        Only the results of these runs (``data_quality.run_id``, e.g. a flow run).
    table_name : str, optional
        Store table checked; must be one of :data:`marketintel.store.TABLES`. Default: all.
    checks : str or sequence of str, optional
        ``check_name`` values (``'freshness'``, ``'completeness'``, ...). Default: all.
    market, location : str, optional
        What was checked. Default: any.
    statuses : str or sequence of {"pass", "warn", "fail"}, optional
        Default: all.
    start, end : str, datetime or pd.Timestamp, optional
        Window on ``checked_at_utc``, start inclusive and end exclusive. Default: unbounded.
    latest_only : bool
        Keep only the latest result of each (table, check, market, location). Applied after the
        other filters, so with ``statuses='fail'`` this gives the latest *failure* of each.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most rows to return [rows].

    Returns
    -------
    pd.DataFrame
        Ordered by ``checked_at_utc``, newest first, with the columns of ``data_quality``:

        - ``checked_at_utc``, ``window_start_utc``, ``window_end_utc`` : datetime64[ms, UTC]
        - ``check_name``, ``table_name``, ``market``, ``location``, ``status``, ``unit``,
          ``details``, ``run_id`` : str
        - ``observed``, ``threshold`` : float  [see ``unit``]

    Raises
    ------
    UnknownTableError
        If ``table_name`` is not a store table (the message lists the known ones).
    QueryParameterError
        If another parameter is invalid.
    """
    params: dict[str, Any] = {_LIMIT_PARAM: _limit(limit)}
    filters = _Filters(DATA_QUALITY, params)
    filters.equals("table_name", _table_name(table_name))
    filters.any_of("check_name", _texts(checks, "checks"))
    filters.any_of("run_id", _texts(run_ids, "run_ids"))
    filters.equals("market", None if market is None else _text(market, "market"))
    filters.equals("location", None if location is None else _text(location, "location"))
    filters.any_of("status", _choices(statuses, _QUALITY_STATUSES, "status"))
    filters.at_least("checked_at_utc", _optional_instant(start, "start"))
    filters.before("checked_at_utc", _optional_instant(end, "end"))
    columns = _columns(DATA_QUALITY, DATA_QUALITY.column_names)
    latest = "LIMIT 1 BY table_name, check_name, market, location" if latest_only else ""
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM {_table(DATA_QUALITY, _database(database))}",
            filters.clause(),
            "ORDER BY checked_at_utc DESC, table_name, check_name, market, location",
            latest,
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


def alerts(
    client: Any,
    *,
    statuses: str | Sequence[str] | None = None,
    severities: str | Sequence[str] | None = None,
    categories: str | Sequence[str] | None = None,
    table_name: str | None = None,
    market: str | None = None,
    since: Any = None,
    database: str | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Return alerts at their latest update, newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    statuses : str or sequence of {"open", "acknowledged", "resolved"}, optional
        Current statuses to include. Default: all.
    severities : str or sequence of {"info", "warning", "critical"}, optional
        Default: all.
    categories : str or sequence of str, optional
        What raised them (``'data_quality'``, ``'ingestion'``, ``'model'``, ...). Default: all.
    table_name : str, optional
        Store table concerned; must be one of :data:`marketintel.store.TABLES`. Default: any.
    market : str, optional
        Market concerned. Default: any.
    since : str, datetime or pd.Timestamp, optional
        Only alerts raised at or after this instant. Default: all.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most alerts to return [rows].

    Returns
    -------
    pd.DataFrame
        One row per alert, ordered by ``raised_at_utc``, newest first, with the columns of ``alerts``:

        - ``alert_id``, ``category``, ``severity``, ``table_name``, ``market``, ``location``,
          ``title``, ``message``, ``status``, ``run_id`` : str
        - ``raised_at_utc``, ``updated_at_utc`` : datetime64[ms, UTC]

    Raises
    ------
    UnknownTableError
        If ``table_name`` is not a store table.
    QueryParameterError
        If another parameter is invalid.
    """
    params: dict[str, Any] = {_LIMIT_PARAM: _limit(limit)}
    filters = _Filters(ALERTS, params)
    filters.any_of("status", _choices(statuses, _ALERT_STATUSES, "status"))
    filters.any_of("severity", _choices(severities, _ALERT_SEVERITIES, "severity"))
    filters.any_of("category", _texts(categories, "categories"))
    filters.equals("table_name", _table_name(table_name))
    filters.equals("market", None if market is None else _text(market, "market"))
    filters.at_least("raised_at_utc", _optional_instant(since, "since"))
    columns = _columns(ALERTS, ALERTS.column_names)
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM {_table(ALERTS, _database(database))} FINAL",
            filters.clause(),
            "ORDER BY raised_at_utc DESC, alert_id",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


def quarantined_payloads(
    client: Any,
    *,
    sources: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    statuses: str | Sequence[str] = _PROBLEM_PAYLOAD_STATUSES,
    since: Any = None,
    include_body: bool = False,
    database: str | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """Return the payloads that could not be parsed in full (quarantined or partial), newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    sources, datasets : str or sequence of str, optional
        Connector names and their datasets. Default: all.
    statuses : str or sequence of {"quarantined", "partial"}
        Current statuses to include. A payload that was re-parsed successfully later (``'ok'``) is not
        listed.
    since : str, datetime or pd.Timestamp, optional
        Only payloads fetched at or after this instant. Default: all.
    include_body : bool
        Also return ``payload``, the bytes as fetched. These can be large.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most payloads to return [rows].

    Returns
    -------
    pd.DataFrame
        Ordered by ``fetched_at_utc``, newest first, with the columns

        - ``source``, ``dataset``, ``sha256``, ``url``, ``request`` (JSON), ``content_type``, ``status``,
          ``reason`` : str
        - ``http_status`` : uint16
        - ``size_bytes`` : uint64  [bytes]
        - ``fetched_at_utc``, ``ingested_at_utc`` : datetime64[ms, UTC]
        - ``payload`` : bytes or str
            Only with ``include_body``.

    Raises
    ------
    QueryParameterError
        If a status is not ``'quarantined'`` or ``'partial'``, or another parameter is invalid.
    """
    params: dict[str, Any] = {_LIMIT_PARAM: _limit(limit)}
    filters = _Filters(RAW_PAYLOADS, params)
    filters.any_of("status", _choices(statuses, _PROBLEM_PAYLOAD_STATUSES, "status"))
    filters.any_of("source", _texts(sources, "sources"))
    filters.any_of("dataset", _texts(datasets, "datasets"))
    filters.at_least("fetched_at_utc", _optional_instant(since, "since"))
    names = [c for c in RAW_PAYLOADS.column_names if include_body or c != "payload"]
    columns = _columns(RAW_PAYLOADS, names)
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM {_table(RAW_PAYLOADS, _database(database))} FINAL",
            filters.clause(),
            "ORDER BY fetched_at_utc DESC, source, dataset, sha256",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)


# --------------------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------------------
_INSTRUMENT_COLUMNS = tuple(c for c in INSTRUMENTS.column_names if c != INGESTED_AT)


def instruments(
    client: Any,
    *,
    instrument_ids: str | Sequence[str] | None = None,
    commodities: str | Sequence[str] | None = None,
    markets: str | Sequence[str] | None = None,
    locations: str | Sequence[str] | None = None,
    active_at: Any = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 10_000,
) -> pd.DataFrame:
    """Return instruments (reference data) at their latest revision as of ``as_of``.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    instrument_ids : str or sequence of str, optional
        Default: all.
    commodities : str or sequence of str, optional
        ``'power'``, ``'gas'``, ``'carbon'``. Default: all.
    markets, locations : str or sequence of str, optional
        Default: all.
    active_at : str, datetime or pd.Timestamp, optional
        Only instruments that exist at this instant (``valid_from_utc <= t < valid_to_utc``, where a
        NULL ``valid_to_utc`` means still active). Default: all.
    as_of : str, datetime or pd.Timestamp, optional
        Knowledge time; a naive value is UTC. Default: now.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most instruments to return [rows].

    Returns
    -------
    pd.DataFrame
        One row per instrument, ordered by ``instrument_id``, with the columns of ``instruments``
        except ``ingested_at_utc``:

        - ``instrument_id``, ``commodity``, ``market``, ``location``, ``location_type``, ``product``,
          ``currency``, ``unit``, ``timezone``, ``description``, ``source`` : str
        - ``valid_from_utc``, ``valid_to_utc`` (NaT while active), ``published_at_utc`` :
          datetime64[ms, UTC]

    Raises
    ------
    QueryParameterError
        If a parameter is invalid.
    """
    ids = _texts(instrument_ids, "instrument_ids")
    inner, params = asof_sql(
        INSTRUMENTS,
        _as_of(as_of),
        where={} if ids is None else {"instrument_id": ids},
        columns=INSTRUMENTS.column_names,
        database=_database(database),
    )
    params[_LIMIT_PARAM] = _limit(limit)
    outer = _Filters(INSTRUMENTS, params)
    outer.any_of("commodity", _texts(commodities, "commodities"))
    outer.any_of("market", _texts(markets, "markets"))
    outer.any_of("location", _texts(locations, "locations"))
    outer.active_at("valid_from_utc", "valid_to_utc", _optional_instant(active_at, "active_at"))
    columns = _columns(INSTRUMENTS, _INSTRUMENT_COLUMNS)
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM ({inner})",
            outer.clause(),
            "ORDER BY instrument_id",
            f"LIMIT {{{_LIMIT_PARAM}:UInt64}}",
        ]
    )
    return _run(client, sql, params, columns)
