"""Reads the API and the download center make that the dashboards do not: streams, feeds, forecasts.

Like :mod:`marketintel.services.queries` (whose whitelists and point-in-time rules these follow), every
value is a bound parameter and every identifier comes from the store's table specs, so the front ends
(:mod:`marketintel.api`) hold no SQL.

- :func:`arrow_batches` runs a statement and yields Arrow record batches as the store sends them
  (``ArrowStream``), so a result of any size passes through with the memory of one block.
  (:func:`marketintel.services.queries.price_series_query` gives a price series' statement to stream.)
- :func:`new_prices` returns the price rows ingested after a watermark: the WebSocket's feed.
- :func:`forecasts` reads the forecasts table as of a knowledge time.
- :func:`markets` lists the markets a table holds (for messages that say what is known).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from marketintel.services import queries
from marketintel.services.queries import (
    QueryParameterError,
    _as_of,
    _columns,
    _database,
    _Filters,
    _limit,
    _optional_instant,
    _run,
    _select,
    _table,
    _text,
    _texts,
    _window,
)
from marketintel.store.asof import Range, asof_sql
from marketintel.store.schema import quote_identifier
from marketintel.store.tables import FORECASTS, FUNDAMENTALS, PRICES, TABLES

__all__ = [
    "arrow_batches",
    "count_rows",
    "forecasts",
    "fundamental_variables",
    "last_ingested",
    "markets",
    "new_prices",
    "table_query",
]

#: columns of a price row pushed on the stream
STREAM_COLUMNS: tuple[str, ...] = (
    "market",
    "location",
    "interval_start_utc",
    "interval_end_utc",
    "price",
    "currency",
    "unit",
    "revision",
    "published_at_utc",
    "ingested_at_utc",
)
_FORECAST_COLUMNS = tuple(c for c in FORECASTS.column_names if c != "ingested_at_utc")
#: how long :func:`markets` keeps a table's list [s]
MARKETS_TTL_S = 60.0
_markets: dict[tuple[int, str, str | None], tuple[float, tuple[str, ...]]] = {}


def arrow_batches(client: Any, sql: str, params: Mapping[str, Any]) -> Iterator[pa.RecordBatch]:
    """Yield the result of ``sql`` as Arrow record batches, block by block as the store sends them.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store, as the caller (its ``execute_as`` setting applies the caller's entitlement).
    sql : str
        A statement from this module or :mod:`marketintel.services.queries`.
    params : mapping
        Its bound parameters.

    Yields
    ------
    pyarrow.RecordBatch
        The blocks; the first carries the schema even when the result is empty.
    """
    with client.query_arrow_stream(sql, parameters=dict(params)) as stream:
        yield from stream


def table_query(
    table: str,
    start: Any,
    end: Any,
    *,
    markets: Sequence[str] | None = None,
    locations: Sequence[str] | None = None,
    as_of: Any = None,
    database: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Return an export's SQL: a fact table's rows in ``[start, end)``, latest versions as of ``as_of``.

    Parameters
    ----------
    table : {"prices", "fundamentals", "forecasts"}
        The dataset.
    start, end : str, datetime or pd.Timestamp
        Window on ``interval_start_utc``.
    markets, locations : sequence of str, optional
        Filters (``locations`` is ``area`` for fundamentals). Default: everything the caller may read.
    as_of : optional
        Knowledge time. Default: now.
    database : str, optional
        Database of the table. Default: the client's.

    Returns
    -------
    tuple of (str, dict)
        The statement, ordered by the table's key, and its parameters.

    Raises
    ------
    QueryParameterError
        If the table is not exportable or a parameter is invalid.
    """
    specs = {"prices": PRICES, "fundamentals": FUNDAMENTALS, "forecasts": FORECASTS}
    if table not in specs:
        raise QueryParameterError(f"dataset must be one of {sorted(specs)}, got {table!r}")
    spec = specs[table]
    begin, finish = _window(start, end)
    where: dict[str, Any] = {"interval_start_utc": Range(begin, finish)}
    chosen = _texts(markets, "markets")
    if chosen:
        where["market"] = chosen
    places = _texts(locations, "locations")
    place_column = "area" if table == "fundamentals" else "location"
    if places:
        where[place_column] = places
    columns = [c for c in spec.column_names if c != "ingested_at_utc"]
    inner, params = asof_sql(spec, _as_of(as_of), where=where, columns=columns, database=_database(database))
    return inner, params


def new_prices(
    client: Any,
    market: str,
    locations: Sequence[str] | None,
    after: pd.Timestamp,
    *,
    database: str | None = None,
    limit: int = 10_000,
) -> pd.DataFrame:
    """Return the price rows of ``market`` ingested strictly after ``after``, oldest first.

    This is a feed, not a point-in-time read: every stored row (a new interval or a revision) is returned
    once, as it lands. Callers keep the largest ``ingested_at_utc`` they saw and pass it back.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store, as the subscriber.
    market : str
        ``prices.market``.
    locations : sequence of str, optional
        Default: every location the subscriber may read.
    after : pd.Timestamp
        Watermark on ``ingested_at_utc`` (UTC).
    database : str, optional
        Database of ``prices``. Default: the client's.
    limit : int
        Most rows per call [rows]; the rest come with the next call.

    Returns
    -------
    pd.DataFrame
        The columns :data:`STREAM_COLUMNS`.
    """
    filters = _Filters(PRICES)
    filters.equals("market", _text(market, "market"))
    filters.any_of("location", _texts(locations, "locations"))
    filters.sql.append(f"ingested_at_utc > {filters.bind('ingested_at_utc', after)}")
    filters.params["limit"] = _limit(limit)
    columns = _columns(PRICES, STREAM_COLUMNS)
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM {_table(PRICES, _database(database))}",
            filters.clause(),
            "ORDER BY ingested_at_utc, location, interval_start_utc",
            "LIMIT {limit:UInt64}",
        ]
    )
    return _run(client, sql, filters.params, columns)


def last_ingested(client: Any, market: str, *, database: str | None = None) -> pd.Timestamp | None:
    """Return the latest ``ingested_at_utc`` of ``market``'s prices the caller may see, None if none."""
    filters = _Filters(PRICES)
    filters.equals("market", _text(market, "market"))
    sql = (
        f"SELECT max(ingested_at_utc), count() FROM {_table(PRICES, _database(database))} {filters.clause()}"
    )
    stamp, count = client.query(sql, parameters=filters.params).result_rows[0]
    if not count:
        return None
    found = pd.Timestamp(stamp)
    return found.tz_convert("UTC") if found.tzinfo else found.tz_localize("UTC")


def price_units(
    client: Any, market: str, locations: Sequence[str], *, database: str | None = None
) -> list[str]:
    """Return the units of ``market``'s prices at ``locations`` (as the caller may see them), sorted."""
    filters = _Filters(PRICES)
    filters.equals("market", _text(market, "market"))
    filters.any_of("location", _texts(list(locations), "locations"))
    sql = f"SELECT DISTINCT unit FROM {_table(PRICES, _database(database))} {filters.clause()} ORDER BY unit"
    return [str(r[0]) for r in client.query(sql, parameters=filters.params).result_rows]


def fundamental_variables(client: Any, market: str, area: str, *, database: str | None = None) -> list[str]:
    """Return the variables stored for ``market``/``area`` (as the caller may see them), sorted."""
    filters = _Filters(FUNDAMENTALS)
    filters.equals("market", _text(market, "market"))
    filters.equals("area", _text(area, "area"))
    table = _table(FUNDAMENTALS, _database(database))
    sql = f"SELECT DISTINCT variable FROM {table} {filters.clause()} ORDER BY variable"
    return [str(r[0]) for r in client.query(sql, parameters=filters.params).result_rows]


def markets(client: Any, table: str, *, database: str | None = None) -> tuple[str, ...]:
    """Return the markets ``table`` holds, sorted; read at most every :data:`MARKETS_TTL_S` seconds.

    Read with the client given: the service's own client lists every market (for "unknown market" messages),
    a user's client the markets their entitlement shows.
    """
    spec = TABLES.get(table)
    if spec is None or "market" not in spec.column_names:
        raise QueryParameterError(f"table {table!r} has no markets")
    key = (id(client), table, database)
    now = time.monotonic()
    hit = _markets.get(key)
    if hit is not None and now - hit[0] < MARKETS_TTL_S:
        return hit[1]
    rows = client.query(f"SELECT DISTINCT market FROM {_table(spec, _database(database))} ORDER BY market")
    found = tuple(str(r[0]) for r in rows.result_rows)
    _markets[key] = (now, found)
    return found


def forecasts(
    client: Any,
    *,
    market: str | None = None,
    location: str | None = None,
    models: str | Sequence[str] | None = None,
    variable: str | None = None,
    issued_from: Any = None,
    issued_to: Any = None,
    start: Any = None,
    end: Any = None,
    as_of: Any = None,
    database: str | None = None,
    limit: int = 100_000,
) -> pd.DataFrame:
    """Return stored forecasts at their latest revision as of ``as_of``.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    market, location, variable : str, optional
        Filters on the target. Default: all.
    models : str or sequence of str, optional
        Default: all.
    issued_from, issued_to : optional
        Window on ``issue_time_utc`` (from inclusive, to exclusive).
    start, end : optional
        Window on the target's ``interval_start_utc``.
    as_of : optional
        Knowledge time. Default: now.
    database : str, optional
        Database of ``forecasts``. Default: the client's.
    limit : int
        Most rows [rows]; a longer result raises :class:`~marketintel.services.queries.QueryLimitError`.

    Returns
    -------
    pd.DataFrame
        Ordered by model, target, issue time and interval, with the columns of ``forecasts`` except
        ``ingested_at_utc``: ``model``, ``market``, ``location``, ``variable``, ``statistic``, ``unit``,
        ``run_id`` (str); ``issue_time_utc``, ``interval_start_utc``, ``interval_end_utc``,
        ``published_at_utc`` (datetime64[ms, UTC]); ``value`` (float) [see ``unit``].
    """
    where: dict[str, Any] = {}
    for column, value in (("market", market), ("location", location), ("variable", variable)):
        if value is not None:
            where[column] = _text(value, column)
    chosen = _texts(models, "models")
    if chosen:
        where["model"] = chosen
    first, last = _optional_instant(issued_from, "issued_from"), _optional_instant(issued_to, "issued_to")
    begin, finish = _optional_instant(start, "start"), _optional_instant(end, "end")
    inner, params = asof_sql(
        FORECASTS, _as_of(as_of), where=where, columns=FORECASTS.column_names, database=_database(database)
    )
    outer = _Filters(FORECASTS, params)
    outer.at_least("issue_time_utc", first)
    outer.before("issue_time_utc", last)
    outer.at_least("interval_start_utc", begin)
    outer.before("interval_start_utc", finish)
    count = _limit(limit)
    params["limit"] = count + 1
    columns = _columns(FORECASTS, _FORECAST_COLUMNS)
    order = ", ".join(quote_identifier(c) for c in FORECASTS.natural_key)
    sql = "\n".join(
        [
            f"SELECT {_select(columns)}",
            f"FROM ({inner})",
            outer.clause(),
            f"ORDER BY {order}",
            "LIMIT {limit:UInt64}",
        ]
    )
    df = _run(client, sql, params, columns)
    if len(df) > count:
        raise queries.QueryLimitError(
            f"forecasts have more than {count:,} rows; narrow the models, target or window"
        )
    return df


def count_rows(client: Any, sql: str, params: Mapping[str, Any]) -> int:
    """Return how many rows ``sql`` (a statement of this module) returns, as the client's user."""
    return int(client.query(f"SELECT count() FROM ({sql})", parameters=dict(params)).result_rows[0][0])
