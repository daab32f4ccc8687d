"""AEMO NEM files -> canonical rows. Pure: bytes in, frame out.

Time zone and stamps
--------------------
NEM market time is AEST all year: UTC+10:00 with no daylight saving (``Australia/Brisbane``; ``Etc/GMT-10``
is the same offset). Every MMS stamp (``SETTLEMENTDATE``, ``INTERVAL_DATETIME``, ``RUN_DATETIME``,
``LASTCHANGED``, the ``C`` header's creation time) is AEST wall clock, converted by subtracting 10 hours.

``SETTLEMENTDATE`` is the **end** of its interval. Evidence: (1) every monthly archive runs from
``<month>/01 00:05`` to ``<next month>/01 00:00`` (e.g. DISPATCHPRICE 2025-01: 2025/01/01 00:05 ..
2025/02/01 00:00); (2) ``PERIODID`` counts intervals from midnight with the stamp at their end: TRADINGPRICE
2021-09 ``09:00`` is PERIODID 18 = 540 min / 30, 2024-08 ``00:05`` is PERIODID 1 and ``00:00`` PERIODID 288;
(3) the raw ``PUBLIC_DISPATCHSCADA_202109021255`` file was created at 12:50:16 (its ``C`` header) and holds
SETTLEMENTDATE 12:55: the dispatch run for the interval [12:50, 12:55). So the row stamped 00:05 is
[00:00, 00:05) AEST = [14:00, 14:05) UTC the day before. Daily reports (``PUBLIC_DAILY``,
``NEXT_DAY_*``) cover a *trading day*, 04:05 .. 04:00 the next morning.

Interval length: 5 minutes for dispatch tables. TRADINGPRICE and TRADINGREGIONSUM were 30-minute (PERIODID
1..48) until the 5-minute settlement switch on 2021-10-01 and are 5-minute (PERIODID 1..288) since; the
length is read per row from PERIODID (``minutes since midnight of the stamp = PERIODID x length``) and a row
that fits neither is refused. 30-minute prices go to market ``NEM_TRADING_30MIN``, 5-minute ones to
``NEM_TRADING_5MIN``; dispatch prices to ``NEM_DISPATCH_5MIN``.

``published_at_utc``
--------------------
* Actuals that AEMO publishes in real time (dispatch and trading prices, region summaries, unit SCADA,
  rooftop PV actuals, the aemo.com.au 5-minute data): the interval's end, or ``LASTCHANGED`` when that is
  later (a value written or revised after the interval, e.g. rooftop PV actuals ~20 minutes after). The
  dispatch price is in fact known at the start of its interval (``LASTCHANGED`` 00:00:03 for the interval
  ending 00:05), but one rule for every file that carries it (archive, PUBLIC_DAILY, the web API) makes the
  same fact one row in the store, and the interval end is never earlier than the real publication.
* Next-day reports (``NEXT_DAY_DISPATCH``, ``NEXT_DAY_INTERMITTENT_GEN_SCADA``): confidential until the
  report is issued, so the report's creation time (``C`` header). Archive ``BIDPEROFFER_D``: bids are made
  public the day after their trading day, so ``05:00`` AEST the day after the trading day ends
  (``BIDSETTLEMENTDATE + 1 day + 05:00``; NEXT_DAY files appear ~04:10) or ``LASTCHANGED`` if later.
* Forecasts (``FORECAST_OPERATIONAL_DEMAND_HH``): the file's creation time (``C`` header, 17:33:53 for
  the recorded run), not ``LOAD_DATE`` (17:27:41, when the forecast was loaded internally).
* ``MARKET_PRICE_THRESHOLDS``: ``LASTCHANGED`` (when AEMO recorded the threshold).

Tables mapped
-------------
* ``DISPATCH,PRICE`` (v1, v4, v5: columns differ; only the common ones are used): ``RRP`` [AUD/MWh] per
  ``REGIONID`` (``location_type = "region"``). Only ``INTERVENTION = 0`` rows: during an intervention AEMO
  runs dispatch twice and the *pricing* run (INTERVENTION 0) sets the price; the intervention run's RRP
  (INTERVENTION 1, 2018-04 has 2,462 such rows) is not a price anyone is paid, so it is dropped (NEMOSIS does
  the same). FCAS prices (``RAISE6SECRRP`` ...) are ancillary-service prices, not energy prices: not stored
  (the ``prices`` table holds energy prices; a later FCAS dataset would use markets such as
  ``NEM_DISPATCH_RAISE6SEC_5MIN``).
* ``TRADING,PRICE`` (v2, v3): ``RRP`` -> ``NEM_TRADING_30MIN`` / ``NEM_TRADING_5MIN`` (see above).
* ``DISPATCH,REGIONSUM`` / ``TRADING,REGIONSUM`` and ``DREGION`` of PUBLIC_DAILY: fundamentals, market
  ``NEM``, area = region: ``TOTALDEMAND`` -> ``demand``, ``AVAILABLEGENERATION``, ``AVAILABLELOAD``,
  ``DISPATCHABLEGENERATION``, ``DISPATCHABLELOAD``, ``NETINTERCHANGE`` (positive = export: in every row
  TOTALDEMAND = DISPATCHABLEGENERATION - DISPATCHABLELOAD - NETINTERCHANGE), ``TOTALINTERMITTENTGENERATION``,
  ``UIGF``, ``DEMAND_AND_NONSCHEDGEN``, ``SS_SOLAR_CLEAREDMW``, ``SS_WIND_CLEAREDMW`` where the version has
  them [MW]; INTERVENTION 0 only. A blank cell is a value not published, not a row.
* ``DISPATCH,UNIT_SCADA`` (archive and raw ``PUBLIC_DISPATCHSCADA``): market ``NEM``, area = ``DUID``,
  variable ``generation`` [MW] (negative for loads and charging batteries). SCADAVALUE is the unit's
  reading at the start of the dispatch interval; it is stored over that interval ``[SETTLEMENTDATE - 5 min,
  SETTLEMENTDATE)``.
* ``ROOFTOP,ACTUAL``: 30-minute, area = region, ``generation_rooftop_pv_measurement`` and
  ``generation_rooftop_pv_satellite`` (AEMO's two estimates, TYPE column) [MW].
* ``MARKET_CONFIG,MARKET_PRICE_THRESHOLDS``: reference data as fundamentals, market ``NEM``, area ``NEM``:
  ``market_price_cap`` (VOLL) and ``market_price_floor`` [AUD/MWh], ``cumulative_price_threshold``
  (ADMINISTERED_PRICE_THRESHOLD, a sum of 7 days of prices) [AUD/MWh], each over its effective interval
  ``[EFFECTIVEDATE, next EFFECTIVEDATE)``; the last one until the next 1 July (thresholds are set per
  financial year). The highest VERSIONNO of an EFFECTIVEDATE wins.
* ``BID,BIDPEROFFER_D``: per-interval availability offers: ``MAXAVAIL`` ->
  ``offer_max_availability_<bidtype>``
  (``_<direction>`` for non-GEN directions) [MW], area = DUID, over the 5-minute ``INTERVAL_DATETIME``
  interval. The band volumes need the band prices of BIDDAYOFFER_D to mean anything; they are not stored.
* ``DISPATCH,UNIT_SOLUTION`` (NEXT_DAY_DISPATCH): ``TOTALCLEARED`` -> ``dispatch_target`` per DUID [MW],
  INTERVENTION 0. ``DEMAND,INTERMITTENT_GEN_SCADA``: ``SCADA_TYPE`` ELAV (elements available) ->
  ``scada_elements_available`` [count], LOCL (local limit) -> ``scada_local_limit`` [MW], other types
  ``scada_<type>``.
* ``OPERATIONAL_DEMAND,FORECAST``: 30-minute, area = region, ``demand_forecast`` (POE50),
  ``demand_forecast_poe10``, ``demand_forecast_poe90`` [MW]. Operational demand excludes rooftop PV and
  small non-scheduled generation, so it is close to but not the same quantity as ``TOTALDEMAND``.
* aemo.com.au visualisation API ``5MIN`` JSON: ``SETTLEMENTDATE`` naive AEST ISO stamps, interval-ending;
  ``RRP`` -> ``NEM_DISPATCH_5MIN``, and ``TOTALDEMAND`` / ``NETINTERCHANGE`` / ``SCHEDULEDGENERATION`` /
  ``SEMISCHEDULEDGENERATION`` as fundamentals. Only ``PERIODTYPE = ACTUAL`` rows: the API's FORECAST rows
  are pre-dispatch forecasts with no issue time in the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.connectors.nem.mms import MMSFile, read_mms
from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError

TZ = "Australia/Brisbane"
AEST = pd.Timedelta(hours=10)
SOURCE = "nem"
MARKET = "NEM"
DISPATCH_MARKET = "NEM_DISPATCH_5MIN"
TRADING_MARKETS = {30: "NEM_TRADING_30MIN", 5: "NEM_TRADING_5MIN"}
FIVE = pd.Timedelta(minutes=5)

_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]

REGION_VARIABLES = {
    "TOTALDEMAND": "demand",
    "AVAILABLEGENERATION": "available_generation",
    "AVAILABLELOAD": "available_load",
    "DISPATCHABLEGENERATION": "dispatchable_generation",
    "DISPATCHABLELOAD": "dispatchable_load",
    "NETINTERCHANGE": "net_interchange",
    "TOTALINTERMITTENTGENERATION": "intermittent_generation",
    "UIGF": "uigf",
    "DEMAND_AND_NONSCHEDGEN": "demand_and_nonscheduled_generation",
    "SS_SOLAR_CLEAREDMW": "semischeduled_solar_cleared",
    "SS_WIND_CLEAREDMW": "semischeduled_wind_cleared",
}
WEB_VARIABLES = {
    "TOTALDEMAND": "demand",
    "NETINTERCHANGE": "net_interchange",
    "SCHEDULEDGENERATION": "scheduled_generation",
    "SEMISCHEDULEDGENERATION": "semischeduled_generation",
}
THRESHOLD_VARIABLES = {
    "VOLL": "market_price_cap",
    "MARKETPRICEFLOOR": "market_price_floor",
    "ADMINISTERED_PRICE_THRESHOLD": "cumulative_price_threshold",
}
FORECAST_VARIABLES = {
    "OPERATIONAL_DEMAND_POE50": "demand_forecast",
    "OPERATIONAL_DEMAND_POE10": "demand_forecast_poe10",
    "OPERATIONAL_DEMAND_POE90": "demand_forecast_poe90",
}
SCADA_TYPES = {"ELAV": ("scada_elements_available", "count"), "LOCL": ("scada_local_limit", "MW")}


# ------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------
def aest_to_utc(values: Any) -> pd.Series:
    """Return naive AEST wall-clock stamps as UTC instants (``datetime64[ms, UTC]``)."""
    return pd.Series(_stamps(_i8(values)))


def _i8(values: Any) -> np.ndarray[Any, Any]:
    """Return naive AEST stamps (datetimes or ``YYYY/MM/DD HH:MM:SS`` strings) as UTC epoch [ms] (int64).

    Missing stamps become :data:`_NAT`.
    """
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if pa.types.is_timestamp(values.type) and values.type.tz is None:
            raw = pc.cast(values.cast(pa.timestamp("ms")), pa.int64()).fill_null(_NAT).to_numpy()
            return np.where(raw == _NAT, _NAT, raw - _AEST_MS)
        values = values.to_pandas()
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ms]").view("int64")
    if not pd.api.types.is_datetime64_any_dtype(s):
        try:
            s = pd.to_datetime(s.astype(str).str.strip('" '), format="%Y/%m/%d %H:%M:%S")
        except ValueError as exc:
            raise ParseError(f"unreadable AEST stamp: {exc}") from None
    raw = s.to_numpy(dtype="datetime64[ms]").view("int64")
    return np.where(raw == _NAT, _NAT, raw - _AEST_MS)


_NAT = np.iinfo(np.int64).min
_AEST_MS = 10 * 3600 * 1000
_FIVE_MS = 5 * 60 * 1000
_HALF_HOUR_MS = 30 * 60 * 1000
_UTC_MS = pa.timestamp("ms", tz="UTC")

#: a mapped table: the reader's Arrow table (hot paths) or its pandas conversion
Frame: TypeAlias = pa.Table | pd.DataFrame


def _stamps(i8: np.ndarray[Any, Any]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(i8, dtype="int64").view("datetime64[ms]")).tz_localize("UTC")


def _utc(i8: np.ndarray[Any, Any]) -> pa.Array:
    """UTC epoch [ms] (``_NAT`` for missing) as an Arrow ``timestamp[ms, UTC]`` column."""
    return pa.array(np.asarray(i8, dtype="int64").view("datetime64[ms]"), from_pandas=True).cast(_UTC_MS)


def _repeat(value: str, n: int) -> pa.Array:
    """Return ``value`` ``n`` times as an Arrow string column, built from its buffers (~6x ``pa.repeat``)."""
    raw = value.encode()
    if (n + 1) * len(raw) >= 2**31:
        return pa.repeat(value, n)
    offsets = np.arange(0, (n + 1) * len(raw), len(raw), dtype=np.int32) if raw else np.zeros(n + 1, np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)])


def _has(df: Frame, col: str) -> bool:
    return col in (df.column_names if isinstance(df, pa.Table) else df.columns)


def _table(mms: MMSFile, category: str, table: str, need: list[str]) -> pa.Table:
    if (category, table) not in mms.tables:
        found = ", ".join(f"{c},{t}" for c, t in mms.tables) or "none"
        raise ParseError(f"no {category},{table} table in the file (tables found: {found})")
    version, arr = mms.tables[(category, table)]
    missing = [c for c in need if c not in arr.column_names]
    if missing:
        raise ParseError(f"{category},{table} v{version}: missing columns {missing}")
    return arr


def _numeric(df: Frame, col: str, what: str) -> np.ndarray[Any, Any]:
    if isinstance(df, pa.Table):
        c = df.column(col)
        if pa.types.is_integer(c.type) or pa.types.is_floating(c.type) or pa.types.is_null(c.type):
            out: np.ndarray[Any, Any] = pc.cast(c, pa.float64()).to_numpy()
            return out
        s: pd.Series = c.to_pandas()
    else:
        s = df[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"{what}: non-numeric {col}: {exc}") from None


def _published(end: np.ndarray[Any, Any], df: Frame) -> np.ndarray[Any, Any]:
    """Return the interval end, or LASTCHANGED when that is later (see the module docstring)."""
    if not _has(df, "LASTCHANGED"):
        return end
    changed = df["LASTCHANGED"]
    blank = (
        changed.null_count == len(changed) if isinstance(changed, pa.ChunkedArray) else changed.isna().all()
    )
    if blank:
        return end
    later: np.ndarray[Any, Any] = np.maximum(end, _i8(changed))  # a missing one (NaT) is smallest
    return later


class _Labels:
    """A string column as sort-ordered integer codes (-1 for missing) and its sorted distinct values.

    Sorting and de-duplicating on the codes is sorting on the strings (Arrow sorts UTF-8 by code point,
    like Python), without a Python object per row; :meth:`strings` builds the output column by ``take``.
    """

    __slots__ = ("codes", "names")

    def __init__(self, codes: np.ndarray[Any, Any], names: pa.Array) -> None:
        self.codes = codes
        self.names = names

    @classmethod
    def of(cls, values: Any, n: int) -> _Labels:
        """Encode a scalar string, an Arrow column, a Series or an array of ``n`` strings."""
        if isinstance(values, _Labels):
            return values
        if isinstance(values, str):
            return cls(np.zeros(n, dtype=np.int64), pa.array([values], pa.string()))
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not isinstance(values, pa.Array):
            obj = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
            values = pa.array(np.asarray(obj, dtype=object), type=pa.string(), from_pandas=True)
        enc = values.dictionary_encode()
        names = enc.dictionary
        order = pc.sort_indices(names).to_numpy()
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        idx = pc.fill_null(enc.indices, -1).to_numpy().astype(np.int64)
        codes = rank[idx] if enc.null_count == 0 else np.where(idx >= 0, rank[idx], -1)
        return cls(codes, names.take(pa.array(order)))

    def keys(self) -> list[np.ndarray[Any, Any]]:
        """Return the codes as a sort key, or none when every row holds the same string."""
        return (
            [] if len(self.names) == 1 and (len(self.codes) == 0 or self.codes.min() == 0) else [self.codes]
        )

    def take(self, rows: np.ndarray[Any, Any]) -> _Labels:
        return _Labels(self.codes[rows], self.names)

    def strings(self, order: np.ndarray[Any, Any]) -> pa.Array:
        if not self.keys():
            return _repeat(self.names[0].as_py(), len(order))
        codes = self.codes[order]
        missing = codes < 0
        return self.names.take(pa.array(codes, mask=missing if missing.any() else None))


def _order(keys: list[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    """Return the stable order sorting rows by ``keys`` (first key most significant)."""
    codes = [pd.factorize(k, sort=True)[0] if k.dtype == object else k for k in keys]
    return np.lexsort(codes[::-1])


def _duplicates(sorted_keys: list[np.ndarray[Any, Any]]) -> bool:
    if len(sorted_keys[0]) < 2:
        return False
    same = np.ones(len(sorted_keys[0]) - 1, dtype=bool)
    for k in sorted_keys:
        same &= k[1:] == k[:-1]
    return bool(same.any())


def _prices(
    start: np.ndarray[Any, Any],
    end: np.ndarray[Any, Any],
    market: Any,
    location: Any,
    price: np.ndarray[Any, Any],
    published: np.ndarray[Any, Any],
) -> pd.DataFrame:
    n = len(start)
    markets, locations = _Labels.of(market, n), _Labels.of(location, n)
    labels = [*markets.keys(), *locations.keys()]
    order = _order([*labels, start, published, end])
    start, end, published = start[order], end[order], published[order]
    if _duplicates([*(k[order] for k in labels), start, end]):
        raise ParseError("the same region and interval is priced twice")
    nan = np.full(n, np.nan)
    out: pd.DataFrame = pa.table(
        {
            "interval_start_utc": _utc(start), "interval_end_utc": _utc(end),
            "market": markets.strings(order), "location": locations.strings(order),
            "location_type": _repeat("region", n),
            "price": np.asarray(price, dtype=float)[order], "energy": nan, "congestion": nan, "loss": nan,
            "currency": _repeat("AUD", n), "unit": _repeat("AUD/MWh", n), "source": _repeat(SOURCE, n),
            "fidelity": _repeat("official", n), "published_at_utc": _utc(published),
        }
    ).to_pandas(split_blocks=True)  # fmt: skip
    return out


#: the ``fundamentals`` columns (:func:`marketintel.ingest.canonical.fundamentals_frame`), then fidelity
_FUND_COLUMNS = [*fundamentals_frame([], [], market=[], area=[], variable=[], value=[], unit=[], source="",
                                     published=[]).columns, "fidelity"]  # fmt: skip


def _fund(
    start: np.ndarray[Any, Any],
    end: np.ndarray[Any, Any],
    area: Any,
    variable: Any,
    value: np.ndarray[Any, Any],
    unit: Any,
    published: np.ndarray[Any, Any],
    what: str,
) -> pd.DataFrame:
    n = len(start)
    areas, variables, units = _Labels.of(area, n), _Labels.of(variable, n), _Labels.of(unit, n)
    labels = [*areas.keys(), *variables.keys()]
    order = _order([*labels, start, published, end])
    start, end, published = start[order], end[order], published[order]
    if _duplicates([*(k[order] for k in labels), start, end]):
        raise ParseError(f"{what}: the same variable, area and interval appears twice")
    columns = {
        "interval_start_utc": _utc(start), "interval_end_utc": _utc(end), "market": _repeat(MARKET, n),
        "area": areas.strings(order), "area_to": _repeat("", n), "variable": variables.strings(order),
        "value": np.asarray(value, dtype=float)[order], "unit": units.strings(order),
        "source": _repeat(SOURCE, n), "published_at_utc": _utc(published),
        "fidelity": _repeat("official", n),
    }  # fmt: skip
    out: pd.DataFrame = pa.table({c: columns[c] for c in _FUND_COLUMNS}).to_pandas(split_blocks=True)
    return out


def _long(
    df: Frame,
    start: np.ndarray[Any, Any],
    end: np.ndarray[Any, Any],
    area: Any,
    published: np.ndarray[Any, Any],
    variables: dict[str, str],
    unit: str,
    what: str,
) -> pd.DataFrame:
    """Unpivot ``variables`` (column -> variable) of ``df`` to fundamentals rows; blank cells are skipped."""
    cols = [c for c in variables if _has(df, c)]
    if not cols:
        raise ParseError(f"{what}: none of the columns {sorted(variables)} is in the table")
    values = np.column_stack([_numeric(df, c, what) for c in cols])
    mask = ~np.isnan(values)
    if not mask.any():
        raise ParseError(f"{what}: none of the columns {cols} holds a value")
    rows, var = np.nonzero(mask)
    names = _Labels.of(np.array([variables[c] for c in cols], dtype=object), len(cols))
    return _fund(start[rows], end[rows], _Labels.of(area, len(df)).take(rows), names.take(var), values[mask],
                 unit, published[rows], what)  # fmt: skip


def _intervention_zero(df: pa.Table) -> pa.Table:
    if "INTERVENTION" not in df.column_names:
        return df
    col = df.column("INTERVENTION")
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_null(col.type)):
        col = pa.chunked_array([pa.array(col.to_pandas().astype("Int64"), type=pa.int64())])
    return df.filter(pc.equal(pc.fill_null(pc.cast(col, pa.float64()), 0), 0))


def trading_interval_minutes(end_i8: np.ndarray[Any, Any], period: Any) -> np.ndarray[Any, Any]:
    """Return each trading row's interval length [min] (30 or 5), read from its stamp and PERIODID.

    ``end_i8`` are the interval ends as UTC epoch [ms]; PERIODID counts intervals from AEST midnight with
    the stamp at their end (00:00 is the day's last one).

    Raises
    ------
    ParseError
        For a row whose PERIODID fits neither length.
    """
    minutes = ((end_i8 + _AEST_MS) // 60_000) % 1440
    minutes = np.where(minutes == 0, 1440, minutes)
    pid = np.asarray(period, dtype="int64")
    length = np.where(minutes == pid * 30, 30, np.where(minutes == pid * 5, 5, 0))
    if (length == 0).any():
        k = int(np.flatnonzero(length == 0)[0])
        raise ParseError(f"PERIODID {pid[k]} does not fit the stamp {_stamps(end_i8[k : k + 1])[0]} UTC")
    return length


# ------------------------------------------------------------------------------------------------------
# table mappings
# ------------------------------------------------------------------------------------------------------
def dispatch_price(mms: MMSFile) -> pd.DataFrame:
    """``DISPATCH,PRICE`` -> ``NEM_DISPATCH_5MIN`` prices (RRP, pricing run only)."""
    df = _intervention_zero(_table(mms, "DISPATCH", "PRICE", ["SETTLEMENTDATE", "REGIONID", "RRP"]))
    end = _i8(df["SETTLEMENTDATE"])
    rrp = _numeric(df, "RRP", "DISPATCH,PRICE")
    return _prices(end - _FIVE_MS, end, DISPATCH_MARKET, df["REGIONID"], rrp,
                   _published(end, df))  # fmt: skip


def trading_price(mms: MMSFile) -> pd.DataFrame:
    """``TRADING,PRICE`` -> ``NEM_TRADING_30MIN`` (to 2021-09) / ``NEM_TRADING_5MIN`` (2021-10 on) prices."""
    df = _table(mms, "TRADING", "PRICE", ["SETTLEMENTDATE", "REGIONID", "PERIODID", "RRP"])
    end = _i8(df["SETTLEMENTDATE"])
    length = trading_interval_minutes(end, df["PERIODID"])
    market = np.where(length == 30, TRADING_MARKETS[30], TRADING_MARKETS[5]).astype(object)
    return _prices(end - length * 60_000, end, market, df["REGIONID"], _numeric(df, "RRP", "TRADING,PRICE"),
                   _published(end, df))  # fmt: skip


def region_summary(mms: MMSFile, category: str = "DISPATCH", table: str = "REGIONSUM") -> pd.DataFrame:
    """``DISPATCH,REGIONSUM``, ``TRADING,REGIONSUM`` or ``DREGION`` -> region fundamentals [MW]."""
    what = f"{category},{table}"
    df = _intervention_zero(_table(mms, category, table, ["SETTLEMENTDATE", "REGIONID", "TOTALDEMAND"]))
    end = _i8(df["SETTLEMENTDATE"])
    if category == "TRADING" and _has(df, "PERIODID"):
        start = end - trading_interval_minutes(end, df["PERIODID"]) * 60_000
    else:
        start = end - _FIVE_MS
    return _long(df, start, end, df["REGIONID"], _published(end, df), REGION_VARIABLES, "MW", what)


def daily_region_price(mms: MMSFile) -> pd.DataFrame:
    """PUBLIC_DAILY ``DREGION`` -> ``NEM_DISPATCH_5MIN`` prices (and ``TREGION`` -> NEM_TRADING_5MIN)."""
    frames = []
    for category in ("DREGION", "TREGION"):
        if (category, "") not in mms.tables or mms.tables[(category, "")][1].num_rows == 0:
            continue
        df = _intervention_zero(_table(mms, category, "", ["SETTLEMENTDATE", "REGIONID", "RRP"]))
        end = _i8(df["SETTLEMENTDATE"])
        market = DISPATCH_MARKET if category == "DREGION" else TRADING_MARKETS[5]
        frames.append(_prices(end - _FIVE_MS, end, market, df["REGIONID"], _numeric(df, "RRP", category),
                              _published(end, df)))  # fmt: skip
    if not frames:
        raise ParseError("PUBLIC_DAILY without DREGION or TREGION rows")
    return pd.concat(frames, ignore_index=True).sort_values(_PRICE_ORDER, ignore_index=True)


def unit_scada(mms: MMSFile) -> pd.DataFrame:
    """``DISPATCH,UNIT_SCADA`` -> ``generation`` per DUID [MW] over the dispatch interval."""
    df = _table(mms, "DISPATCH", "UNIT_SCADA", ["SETTLEMENTDATE", "DUID", "SCADAVALUE"])
    end = _i8(df["SETTLEMENTDATE"])
    return _long(df, end - _FIVE_MS, end, df["DUID"], _published(end, df), {"SCADAVALUE": "generation"}, "MW",
                 "DISPATCH,UNIT_SCADA")  # fmt: skip


def rooftop_pv(mms: MMSFile) -> pd.DataFrame:
    """``ROOFTOP,ACTUAL`` -> ``generation_rooftop_pv_<type>`` per region [MW], 30-minute."""
    df = _table(mms, "ROOFTOP", "ACTUAL", ["INTERVAL_DATETIME", "REGIONID", "POWER", "TYPE"]).to_pandas()
    end = _i8(df["INTERVAL_DATETIME"])
    power = _numeric(df, "POWER", "ROOFTOP,ACTUAL")
    k = ~np.isnan(power)
    variable = ("generation_rooftop_pv_" + df["TYPE"].astype(str).str.lower()).to_numpy(dtype=object)
    return _fund((end - _HALF_HOUR_MS)[k], end[k], df["REGIONID"].to_numpy(dtype=object)[k], variable[k],
                 power[k], "MW", _published(end, df)[k], "ROOFTOP,ACTUAL")  # fmt: skip


def market_price_thresholds(mms: MMSFile) -> pd.DataFrame:
    """``MARKET_CONFIG,MARKET_PRICE_THRESHOLDS`` -> cap, floor and CPT over their effective intervals."""
    need = ["EFFECTIVEDATE", "VERSIONNO", "VOLL"]
    df = _table(mms, "MARKET_CONFIG", "MARKET_PRICE_THRESHOLDS", need).to_pandas()
    df = df.sort_values(["EFFECTIVEDATE", "VERSIONNO"]).drop_duplicates("EFFECTIVEDATE", keep="last")
    df = df.reset_index(drop=True)
    start = _i8(df["EFFECTIVEDATE"])
    last = pd.Timestamp(df["EFFECTIVEDATE"].iloc[-1])
    july = pd.Timestamp(year=last.year + (last.month >= 7), month=7, day=1)
    end = np.append(start[1:], _i8(pd.Series([july])))
    published = _i8(df["LASTCHANGED"]) if "LASTCHANGED" in df else start
    return _long(df, start, end, np.full(len(df), "NEM", dtype=object), published, THRESHOLD_VARIABLES,
                 "AUD/MWh", "MARKET_PRICE_THRESHOLDS")  # fmt: skip


def bid_per_offer(mms: MMSFile) -> pd.DataFrame:
    """``BID,BIDPEROFFER_D`` -> ``offer_max_availability_<bidtype>`` per DUID [MW], 5-minute."""
    need = ["INTERVAL_DATETIME", "DUID", "BIDTYPE", "MAXAVAIL", "SETTLEMENTDATE"]
    df = _table(mms, "BID", "BIDPEROFFER_D", need).to_pandas()
    end = _i8(df["INTERVAL_DATETIME"])
    day = _i8(df["BIDSETTLEMENTDATE"] if "BIDSETTLEMENTDATE" in df else df["SETTLEMENTDATE"])
    published = _published(day + (29 * 3600 * 1000), df)  # trading day + 1 day + 05:00
    variable = "offer_max_availability_" + df["BIDTYPE"].astype(str).str.lower()
    if "DIRECTION" in df:
        direction = df["DIRECTION"].fillna("GEN").astype(str)
        variable = variable.where(direction == "GEN", variable + "_" + direction.str.lower())
    value = _numeric(df, "MAXAVAIL", "BIDPEROFFER_D")
    k = ~np.isnan(value)
    return _fund((end - _FIVE_MS)[k], end[k], df["DUID"].to_numpy(dtype=object)[k],
                 variable.to_numpy(dtype=object)[k], value[k], "MW", published[k],
                 "BIDPEROFFER_D")  # fmt: skip


def _created(mms: MMSFile, n: int) -> np.ndarray[Any, Any]:
    return np.full(n, _i8(pd.Series([mms.created]))[0], dtype="int64")


def unit_solution(mms: MMSFile) -> pd.DataFrame:
    """NEXT_DAY_DISPATCH ``DISPATCH,UNIT_SOLUTION`` -> ``dispatch_target`` per DUID [MW]."""
    df = _intervention_zero(
        _table(mms, "DISPATCH", "UNIT_SOLUTION", ["SETTLEMENTDATE", "DUID", "TOTALCLEARED"])
    )
    end = _i8(df["SETTLEMENTDATE"])
    return _long(df, end - _FIVE_MS, end, df["DUID"], _created(mms, len(df)),
                 {"TOTALCLEARED": "dispatch_target"}, "MW", "UNIT_SOLUTION")  # fmt: skip


def intermittent_gen_scada(mms: MMSFile) -> pd.DataFrame:
    """NEXT_DAY_INTERMITTENT_GEN_SCADA -> ``scada_elements_available`` [count], ``scada_local_limit`` [MW]."""
    need = ["RUN_DATETIME", "DUID", "SCADA_TYPE", "SCADA_VALUE"]
    df = _table(mms, "DEMAND", "INTERMITTENT_GEN_SCADA", need).to_pandas()
    end = _i8(df["RUN_DATETIME"])
    kind = df["SCADA_TYPE"].astype(str)
    variable = kind.map(lambda k: SCADA_TYPES.get(k, (f"scada_{slug(k)}", "MW"))[0]).to_numpy(dtype=object)
    unit = kind.map(lambda k: SCADA_TYPES.get(k, ("", "MW"))[1]).to_numpy(dtype=object)
    value = _numeric(df, "SCADA_VALUE", "INTERMITTENT_GEN_SCADA")
    k = ~np.isnan(value)
    return _fund((end - _FIVE_MS)[k], end[k], df["DUID"].to_numpy(dtype=object)[k], variable[k], value[k],
                 unit[k], _created(mms, len(df))[k], "INTERMITTENT_GEN_SCADA")  # fmt: skip


def operational_demand_forecast(mms: MMSFile) -> pd.DataFrame:
    """``OPERATIONAL_DEMAND,FORECAST`` -> ``demand_forecast`` (POE50, POE10, POE90) per region [MW]."""
    need = ["REGIONID", "INTERVAL_DATETIME", "OPERATIONAL_DEMAND_POE50"]
    df = _table(mms, "OPERATIONAL_DEMAND", "FORECAST", need)
    end = _i8(df["INTERVAL_DATETIME"])
    return _long(df, end - _HALF_HOUR_MS, end, df["REGIONID"], _created(mms, len(df)),
                 FORECAST_VARIABLES, "MW", "OPERATIONAL_DEMAND,FORECAST")  # fmt: skip


_STAMPS = ["SETTLEMENTDATE", "INTERVAL_DATETIME", "RUN_DATETIME", "EFFECTIVEDATE", "LASTCHANGED"]
_KEYS = ["REGIONID", "DUID", "INTERVENTION", "PERIODID", "VERSIONNO", "BIDTYPE", "DIRECTION", "TYPE"]
#: dataset -> the columns its mapping reads (the reader converts only these)
COLUMNS: dict[str, set[str]] = {
    "dispatch_price": {"RRP"},
    "trading_price": {"RRP"},
    "dispatch_region_summary": set(REGION_VARIABLES),
    "trading_region_summary": set(REGION_VARIABLES),
    "unit_scada": {"SCADAVALUE"},
    "rooftop_pv_actual": {"POWER"},
    "market_price_thresholds": set(THRESHOLD_VARIABLES),
    "bid_per_offer": {"MAXAVAIL", "BIDSETTLEMENTDATE"},
    "daily_dispatch_price": {"RRP"},
    "daily_region_summary": set(REGION_VARIABLES),
    "next_day_unit_solution": {"TOTALCLEARED"},
    "next_day_intermittent_gen_scada": {"SCADA_TYPE", "SCADA_VALUE"},
    "operational_demand_forecast": set(FORECAST_VARIABLES),
}


#: dataset -> mapping of a parsed C/I/D file
MMS_MAPPERS: dict[str, Callable[[MMSFile], pd.DataFrame]] = {
    "dispatch_price": dispatch_price,
    "trading_price": trading_price,
    "dispatch_region_summary": lambda m: region_summary(m, "DISPATCH", "REGIONSUM"),
    "trading_region_summary": lambda m: region_summary(m, "TRADING", "REGIONSUM"),
    "unit_scada": unit_scada,
    "rooftop_pv_actual": rooftop_pv,
    "market_price_thresholds": market_price_thresholds,
    "bid_per_offer": bid_per_offer,
    "daily_dispatch_price": daily_region_price,
    "daily_region_summary": lambda m: region_summary(m, "DREGION", ""),
    "next_day_unit_solution": unit_solution,
    "next_day_intermittent_gen_scada": intermittent_gen_scada,
    "operational_demand_forecast": operational_demand_forecast,
}


def parse_mms(dataset: str, body: bytes) -> pd.DataFrame:
    """Map a NEMweb C/I/D file (zip or CSV) of ``dataset`` to canonical rows."""
    stamps = {*_STAMPS, "BIDSETTLEMENTDATE"}
    return MMS_MAPPERS[dataset](read_mms(body, COLUMNS[dataset] | stamps | set(_KEYS), stamps))


# ------------------------------------------------------------------------------------------------------
# aemo.com.au visualisation API (5MIN)
# ------------------------------------------------------------------------------------------------------
def _web_rows(body: bytes) -> pd.DataFrame:
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of the visualisation API's JSON")
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"not JSON (truncated?): {exc}") from None
    rows = doc.get("5MIN") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ParseError(f"no '5MIN' list in the answer (found {found})")
    if not rows:
        raise ParseError("'5MIN' holds no rows")
    try:
        tab = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, AttributeError) as exc:
        raise ParseError(f"'5MIN' rows are not flat records: {exc}") from None
    missing = [c for c in ("SETTLEMENTDATE", "REGIONID", "PERIODTYPE") if c not in tab.column_names]
    if missing:
        raise ParseError(f"changed layout: missing {missing}; found {tab.column_names}")
    tab = tab.filter(pc.equal(tab["PERIODTYPE"], "ACTUAL"))
    df: pd.DataFrame = tab.to_pandas()
    try:
        wall = pd.to_datetime(df["SETTLEMENTDATE"], format="%Y-%m-%dT%H:%M:%S")
    except ValueError as exc:
        raise ParseError(f"unreadable SETTLEMENTDATE (naive AEST ISO expected): {exc}") from None
    df["_end"] = wall.to_numpy(dtype="datetime64[ms]").view("int64") - _AEST_MS
    return df


def parse_web_price(body: bytes) -> pd.DataFrame:
    """Map the visualisation API's ``5MIN`` answer to ``NEM_DISPATCH_5MIN`` prices (ACTUAL rows)."""
    df = _web_rows(body)
    if "RRP" not in df:
        raise ParseError("changed layout: no RRP")
    price = _numeric(df, "RRP", "5MIN")
    k = ~np.isnan(price)
    end = df["_end"].to_numpy()[k]
    return _prices(
        end - _FIVE_MS, end, DISPATCH_MARKET, df["REGIONID"].to_numpy(dtype=object)[k], price[k], end
    )


def parse_web_region(body: bytes) -> pd.DataFrame:
    """Map the visualisation API's ``5MIN`` answer to region fundamentals [MW] (ACTUAL rows)."""
    df = _web_rows(body)
    end = df["_end"].to_numpy()
    return _long(df, end - _FIVE_MS, end, df["REGIONID"], end, WEB_VARIABLES, "MW", "5MIN")
