"""The hourly price rollup: fast latest-knowledge reads that stay exact under revisions and re-ingests.

A dashboard's year of one location's 5-minute prices at hourly resolution reads 100k fact rows and picks
the latest revision of each interval at query time. ``prices_hourly`` holds the answer per (market,
location, UTC hour) instead: count, sum of price x interval length and of lengths (so averages stay
weighted by time), sum, min, max, first and last, the currency and unit, and the latest publication
among the hour's rows. It is *derived*: :func:`refresh_prices_hourly` recomputes hours from the
deduplicated facts (the latest revision of each interval, as the point-in-time read picks it), never by
adding rows up as they arrive. An aggregating materialized view would count a re-ingested or revised row
twice.

Why a read that combines the rollup with the facts is exact
-----------------------------------------------------------
The store is a single-node (Replacing)MergeTree. There, every committed part gets its block number from
one counter, under the table's parts lock, at the moment it is committed, and a merge only widens a part's
block range; a mutation (``ALTER ... UPDATE/DELETE``) gives the parts it rewrites a new, higher data
version from the same counter. So the rows committed when the counter stood at ``B`` are exactly the rows
of blocks ``<= B``, and a row written (or rewritten) later sits in a part whose name says ``max block >
B`` or whose data version is ``> B`` for as long as it exists (:func:`changed_since_sql`).

A refresh reads ``B`` (the largest block and data version of the active parts) *before* it reads the
facts, recomputes every hour that has a row in such a newer part, and only then records ``B`` as
``rollup_refreshes.watermark_block``. A read as of now then takes an hour from the rollup only when

1. the hour lies inside the asked window (edge hours of an unaligned window are read from the facts);
2. no row of the hour's location sits in a part changed since the watermark (else the facts are read:
   such hours are few, and their answer is computed exactly as before); and
3. the hour's latest publication is not later than now (a row published "in the future" is invisible to
   a read as of now, and the facts say what was visible); and
4. the hour's rows are in one currency and unit (``mixed_units = 0``; the facts group the others).

For an hour that passes, every row of the hour is in blocks ``<= W``; the refresh that last wrote the
hour read all of them (it read after fixing its own block, which is ``>= `` the hour's last change) and
at most rows of blocks ``> W``, which would have failed test 2. So the rollup's latest row of the hour is
the aggregate of exactly the rows a read as of now sees. Hours are rewritten whole with a larger
``refresh_block`` and readers take the latest row of each hour. A refresh that fails half way leaves the
watermark where it was: what it wrote is still exact by the same argument. (Tests 3 and 4 look at every
stored row of the hour, superseded ones included: that can only send more hours to the facts.)

``first`` and ``last`` are the values of the earliest and latest interval; where two intervals of a
bucket start at the same instant (a 5-minute and an hourly price of one location) either may be picked,
on either path.

How :func:`marketintel.services.queries.price_series` reads it: the state of the completed refreshes
(:func:`state`, cached a few seconds: any completed watermark is safe, an older one only sends more hours
to the facts), one look at the parts' largest block (:func:`current_block`; when nothing was written
since the watermark the read does not search the facts for changed hours, and answers as of that look),
then one statement: whole hours from ``prices_hourly FINAL``, partial edge hours and changed hours from
the facts, combined into the zone's hourly or daily buckets. Zones with half-hour offsets, point-in-time
reads (``as_of``) and native resolution keep the fact path.

What this does not see: rows removed without a new block (``ALTER TABLE prices DROP PARTITION``,
``TRUNCATE``). After such a removal run ``refresh_prices_hourly(client, full=True)``. On a cluster
(``Replicated*`` tables) block numbers are allocated per partition before commit, so the argument does
not hold: :func:`refresh_prices_hourly` refuses, no watermark is written, and reads keep the fact path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from marketintel.exceptions import MarketIntelError
from marketintel.store.schema import qualified_name, quote_identifier
from marketintel.store.tables import PRICES, PRICES_HOURLY, ROLLUP_REFRESHES

logger = logging.getLogger(__name__)

#: Engines whose block numbers are assigned at commit from one counter (the proof above needs it).
_SINGLE_NODE_ENGINES = ("MergeTree", "ReplacingMergeTree")

#: The rollup's partial aggregates per hour, in table order (see :data:`PRICES_HOURLY`).
PARTIAL_COLUMNS = (
    "n_intervals",
    "price_ms_sum",
    "ms_sum",
    "price_sum",
    "price_min",
    "price_max",
    "first_start_utc",
    "price_first",
    "last_start_utc",
    "price_last",
)


class RollupError(MarketIntelError):
    """The rollup cannot be refreshed here; the message says why and what to do."""


@dataclass(frozen=True)
class RefreshReport:
    """What :func:`refresh_prices_hourly` did.

    Attributes
    ----------
    mode : {"full", "incremental", "none"}
        Rebuilt from every row, recomputed the hours touched since the last refresh, or nothing to do.
    watermark_block : int
        Every block of ``prices`` up to this number is in the rollup.
    previous_block : int
        The watermark before the refresh (0 before the first one).
    rows_written : int
        Rollup rows written (one per market, location, hour, currency and unit recomputed) [rows].
    seconds : float
        Wall time of the refresh [s].
    """

    mode: str
    watermark_block: int
    previous_block: int
    rows_written: int
    seconds: float

    def summary(self) -> str:
        """One line for logs and the command line."""
        if self.mode == "none":
            return f"prices_hourly is up to date (watermark block {self.watermark_block})"
        return (
            f"prices_hourly {self.mode} refresh: {self.rows_written:,} hour rows written in "
            f"{self.seconds:.2f} s, watermark block {self.previous_block} -> {self.watermark_block}"
        )


# --------------------------------------------------------------------------------------------------------
# SQL pieces shared with the read path (marketintel.services.queries)
# --------------------------------------------------------------------------------------------------------
def table_name(name: str, database: str | None) -> str:
    """Return ``name`` quoted, qualified with ``database`` when given."""
    return qualified_name(database, name) if database else quote_identifier(name)


def changed_since_sql(block: str) -> str:
    """Return the SQL condition "the row's part was committed or rewritten after ``block``".

    ``block`` is an SQL expression (a bound parameter or a scalar). The part name is
    ``<partition id>_<min block>_<max block>_<level>[_<mutation>]``; the condition uses only the part's
    virtual columns, so ClickHouse drops the parts that fail it before reading any data.
    """
    max_block = "toUInt64(splitByChar('_', substring(_part, length(_partition_id) + 2))[2])"
    return f"({max_block} > {block} OR _part_data_version > {block})"


def _hour_rows_sql(prices: str, scope: str) -> str:
    """SELECT of rollup rows from the latest revision of each interval of ``prices`` matching ``scope``.

    The latest revision is picked as the point-in-time read picks it (latest publication, then latest
    ingest), by ``ORDER BY ... LIMIT 1 BY`` on the natural key: the engine reads in the table's sort order
    and only finishes sorting within each key, which is ~30x faster than ``argMax`` over tuples here.
    """
    return "\n".join(
        [
            "SELECT market, location, toDateTime64(toStartOfHour(interval_start_utc), 3, 'UTC') AS hour_utc,",
            "  any(currency), any(unit), uniqExact(currency, unit) > 1,",
            "  count(), sum(price * _ms), sum(_ms), sum(price), min(price), max(price),",
            "  min(interval_start_utc), argMin(price, interval_start_utc),",
            "  max(interval_start_utc), argMax(price, interval_start_utc), max(published_at_utc),",
            "  {block:UInt64}",
            "FROM (",
            "  SELECT market, location, interval_start_utc, price, currency, unit, published_at_utc,",
            "    toFloat64(dateDiff('millisecond', interval_start_utc, interval_end_utc)) AS _ms",
            f"  FROM {prices}",
            f"  WHERE {scope}",
            "  ORDER BY market, location, interval_start_utc, interval_end_utc,",
            "    published_at_utc DESC, ingested_at_utc DESC",
            "  LIMIT 1 BY market, location, interval_start_utc, interval_end_utc",
            ")",
            "GROUP BY market, location, hour_utc",
        ]
    )


def _insert_sql(database: str | None, prices: str, scope: str) -> str:
    keys = ("market", "location", "hour_utc", "currency", "unit", "mixed_units")
    columns = ", ".join((*keys, *PARTIAL_COLUMNS, "max_published_at_utc", "refresh_block"))
    rollup = table_name(PRICES_HOURLY.name, database)
    return f"INSERT INTO {rollup} ({columns})\n{_hour_rows_sql(prices, scope)}"


# --------------------------------------------------------------------------------------------------------
# Refresh
# --------------------------------------------------------------------------------------------------------
def _db(database: str | None) -> dict[str, Any]:
    return {"db": database}


_IN_DB = "database = coalesce({db:Nullable(String)}, currentDatabase())"


def _check_engine(client: Any, database: str | None) -> None:
    rows = client.query(
        f"SELECT engine FROM system.tables WHERE {_IN_DB} AND name = {{t:String}}",
        parameters={**_db(database), "t": PRICES.name},
    ).result_rows
    if not rows:
        raise RollupError(f"there is no table {PRICES.name!r} to roll up; run `mi store migrate` first")
    engine = str(rows[0][0])
    if engine not in _SINGLE_NODE_ENGINES:
        raise RollupError(
            f"{PRICES.name} is a {engine} table; the rollup's watermark relies on a single-node"
            f" {' or '.join(_SINGLE_NODE_ENGINES)} (block numbers assigned at commit). Reads keep the"
            " fact path, which is correct everywhere"
        )
    running = client.query(
        f"SELECT count() FROM system.mutations WHERE {_IN_DB} AND table = {{t:String}} AND NOT is_done",
        parameters={**_db(database), "t": PRICES.name},
    ).result_rows
    if int(running[0][0]):
        raise RollupError(
            f"a mutation of {PRICES.name} is still running; refresh the rollup once it has finished"
        )


def current_block(client: Any, database: str | None = None) -> int:
    """Return the largest block number or data version of ``prices``' active parts (0 if empty)."""
    rows = client.query(
        "SELECT toUInt64(ifNull(max(greatest(max_block_number, data_version)), 0)) FROM system.parts"
        f" WHERE active AND {_IN_DB} AND table = {{t:String}}",
        parameters={**_db(database), "t": PRICES.name},
    ).result_rows
    return int(rows[0][0])


def watermark(client: Any, database: str | None = None) -> int:
    """Return the rollup's watermark block: 0 if it was never refreshed."""
    return state(client, database).watermark_block


@dataclass(frozen=True)
class RollupState:
    """What readers need to know about the rollup's completed refreshes.

    Attributes
    ----------
    watermark_block : int
        Every ``prices`` block up to this number is in the rollup; 0 if it was never refreshed.
    max_published_at_utc : pd.Timestamp or None
        Latest publication among all rows ever aggregated. A read as of an instant at or after it cannot
        meet an hour with a row published later, and skips looking for one.
    mixed_hours : int
        Hours ever written in more than one currency or unit [hours]; while 0, readers skip looking.
    """

    watermark_block: int
    max_published_at_utc: pd.Timestamp | None
    mixed_hours: int


def state(client: Any, database: str | None = None) -> RollupState:
    """Return the state of ``prices_hourly`` from the log of completed refreshes."""
    row = client.query(
        "SELECT toUInt64(ifNull(max(watermark_block), 0)), max(max_published_at_utc), sum(mixed_hours),"
        f" count() FROM {table_name(ROLLUP_REFRESHES.name, database)}"
        f" WHERE rollup_name = '{PRICES_HOURLY.name}'"
    ).result_rows[0]
    published = pd.Timestamp(row[1]) if int(row[3]) else None
    if published is not None and published.tzinfo is None:
        published = published.tz_localize("UTC")
    return RollupState(int(row[0]), published, int(row[2]))


def _partitions(client: Any, database: str | None, since: int | None) -> list[str]:
    """Partition ids of ``prices`` (only those with parts changed after ``since`` when given)."""
    changed = "" if since is None else " AND greatest(max_block_number, data_version) > {since:UInt64}"
    rows = client.query(
        f"SELECT DISTINCT partition_id FROM system.parts WHERE active AND {_IN_DB} AND table = {{t:String}}"
        f"{changed} ORDER BY partition_id",
        parameters={**_db(database), "t": PRICES.name, "since": since or 0},
    ).result_rows
    return [str(r[0]) for r in rows]


#: Settings of the refresh's INSERT ... SELECT: read in the sort order (streaming, little memory).
_REFRESH_SETTINGS = {"optimize_read_in_order": 1}


def refresh_prices_hourly(client: Any, *, database: str | None = None, full: bool = False) -> RefreshReport:
    """Bring ``prices_hourly`` up to date with ``prices``; record the new watermark.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store (a writer).
    database : str, optional
        Database of the tables (default: the client's).
    full : bool
        Rebuild every hour (one partition at a time), e.g. after rows were removed with ``DROP
        PARTITION``. Default: recompute only the hours of rows committed or rewritten since the last
        refresh; the first refresh is always full.

    Returns
    -------
    RefreshReport
        What was done. Readers are correct before, during and after: see the module docstring.

    Raises
    ------
    RollupError
        If ``prices`` is missing, is not a single-node (Replacing)MergeTree, or a mutation of it is
        running.
    """
    t0 = time.perf_counter()
    _check_engine(client, database)
    previous = watermark(client, database)
    block = current_block(client, database)  # fixed BEFORE the facts are read: the proof needs it
    if block == 0 or (block <= previous and not full):
        return RefreshReport("none", previous, previous, 0, time.perf_counter() - t0)
    prices = table_name(PRICES.name, database)
    params: dict[str, Any] = {"block": block, "since": previous}
    mode = "full" if full or previous == 0 else "incremental"
    if mode == "full":
        for pid in _partitions(client, database, None):
            sql = _insert_sql(database, prices, "_partition_id = {pid:String}")
            client.command(sql, parameters={**params, "pid": pid}, settings=_REFRESH_SETTINGS)
        # hours whose rows were removed (DROP PARTITION) were not rewritten: drop what is older
        client.command(
            f"ALTER TABLE {table_name(PRICES_HOURLY.name, database)} DELETE"
            " WHERE refresh_block < {block:UInt64}",
            parameters=params,
            settings={"mutations_sync": 1},
        )
    else:
        pids = _partitions(client, database, previous)
        changed = changed_since_sql("{since:UInt64}")
        touched = (
            f"SELECT DISTINCT market, location, toStartOfHour(interval_start_utc) FROM {prices}"
            f" WHERE {changed}"
        )
        scope = " AND ".join(
            [
                "_partition_id IN {pids:Array(String)}",
                f"(market, location) IN (SELECT DISTINCT market, location FROM ({touched}))",
                f"(market, location, toStartOfHour(interval_start_utc)) IN ({touched})",
            ]
        )
        if pids:
            client.command(
                _insert_sql(database, prices, scope),
                parameters={**params, "pids": pids},
                settings=_REFRESH_SETTINGS,
            )
    written, published, mixed = client.query(
        "SELECT count(), max(max_published_at_utc), countIf(mixed_units)"
        f" FROM {table_name(PRICES_HOURLY.name, database)} WHERE refresh_block = {{block:UInt64}}",
        parameters=params,
    ).result_rows[0]
    seconds = time.perf_counter() - t0
    row = [PRICES_HOURLY.name, PRICES.name, block, 0 if mode == "full" else previous, mode, written]
    client.insert(
        ROLLUP_REFRESHES.name,
        [[*row, published, mixed, seconds]],
        column_names=[
            "rollup_name",
            "source_table",
            "watermark_block",
            "previous_block",
            "mode",
            "hours",
            "max_published_at_utc",
            "mixed_hours",
            "seconds",
        ],
        database=database,
    )
    written = int(written)
    report = RefreshReport(mode, block, previous, written, seconds)
    logger.info("%s", report.summary())
    return report
