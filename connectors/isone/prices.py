"""ISO-NE price services -> ``prices`` rows (and their quantities -> ``fundamentals``). Table-driven.

Covered services (``webservices.iso-ne.com/api/v1.1``), all JSON, all stamps ISO 8601 *with their UTC
offset*, so DST days need no guessing:

- Reserves and regulation (recorded, verified):

  - ``daasreservedata`` (day-ahead ancillary services, since the 2025 day-ahead ancillary market):
    ``isone_web_services.day_ahead_reserves.day_ahead_reserve[]``, one record per hour with the hour in
    ``market_hour.local_day`` (``2025-10-01T01:00:00.000-04:00`` for hour ending 02; ``gmt_begin_date``
    holds the *day*, the same for every hour, so it is not used). System-wide: one clearing price per
    product (TMSR, TMNSR, TMOR and the forecast energy requirement FER) -> market
    ``ISONE_DA_ANCILLARY_HOURLY``, location the product (``TMSR``...), location_type ``reserve_product``
    (strike-price rows: ``product``; regulation rows: ``regulation_product``).
  - ``daasstrikeprices``: the day-ahead strike price and expected close-out charges per hour ->
    ``ISONE_DA_ANCILLARY_HOURLY`` locations ``STRIKE_PRICE``, ``EXPECTED_CLOSEOUT_CHARGE``,
    ``EXPECTED_CLOSEOUT_CHARGE_OVERRIDE``, published at the record's ``strike_price_timestamp``
    (2025-09-30 10:30 EDT for 2025-10-01: posted the morning before the operating day).
  - ``hourlyprelimreserveprice`` / ``hourlyfinalreserveprice``: real-time hourly reserve clearing prices
    by reserve zone (7000 ROS = rest of system, 7001 SWCT, 7002 CT, 7003 NEMABSTN) and product ->
    ``ISONE_RT_RESERVE_HOURLY``, location ``<zone>:<product>`` (``ROS:TMSR``), location_type
    ``reserve_zone``, revision ``preliminary`` / ``final``.
  - ``fiveminutercp``: five-minute regulation clearing prices -> ``ISONE_RT_REGULATION_5MIN``, locations
    ``REG_CAPACITY`` [USD/MWh] and ``REG_SERVICE`` [USD/MW of mileage]. Its ``BeginDate`` jitters by a
    few seconds (``00:05:02``, ``00:15:05``): it is floored to the 5-minute grid in UTC (as gridstatus does).

  Their quantities (requirements, designations in MW, the strike-price inputs) are the ``..._quantities``
  datasets in ``fundamentals`` (area = reserve zone, or ``NEPOOL AREA`` for the system-wide day-ahead
  values), parsed from the same answers.
- LMP (``hourlylmp/da/final``, ``hourlylmp/rt/prelim|final``, ``fiveminutelmp/prelim|final``): *no recorded
  answer* (manifest "Known gaps"); built from the documented layout (``HourlyLmps.HourlyLmp[]`` /
  ``FiveMinLmps.FiveMinLmp[]`` with ``BeginDate``, ``Location`` = ``{"@LocId", "@LocType", "$"}``,
  ``LmpTotal``, ``EnergyComponent``, ``CongestionComponent``, ``LossComponent``; as read by gridstatus
  0.37.0 ``isone_api.py::_handle_lmp_real_time``) and declared ``verified=False``.

Publication (``published_at_utc``), where the answer does not say it:

- real-time preliminary prices: the interval end (posted as the interval closes);
- real-time final prices: *approximation*, the start of the operating day + 48 h (ISO-NE finalises
  real-time prices after the operating day; the exact posting time is not in the answer). It is always
  later than the preliminary version, so ``final`` supersedes ``preliminary`` as a later revision;
- day-ahead results: *approximation*, 13:30 EPT the day before the operating day (the day-ahead market's
  usual posting time), i.e. local day start - 10 h 30 min.

Prices are in USD/MWh except ``REG_SERVICE``; the currency is USD.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from marketintel.connectors.isone.common import SYSTEM_AREA, TZ, utc_index, utc_ms
from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_day_start_utc

#: day-ahead results are posted around 13:30 EPT the day before the operating day (approximation)
DA_POSTED_BEFORE_DAY = pd.Timedelta(hours=10, minutes=30)
#: real-time final prices: approximated as posted 48 h after the start of the operating day
FINAL_POSTED_AFTER_DAY = pd.Timedelta(hours=48)
_RESERVE_QUANTITIES_RT = (
    ("reserve_requirement_tmsr", "TenMinSpinRequirement"),
    ("reserve_requirement_total_10min", "Total10MinRequirement"),
    ("reserve_requirement_total_30min", "Total30MinRequirement"),
    ("reserve_designation_tmsr", "TmsrDesignatedMw"),
    ("reserve_designation_tmnsr", "TmnsrDesignatedMw"),
    ("reserve_designation_tmor", "TmorDesignatedMw"),
)
_RESERVE_PRICES_RT = (
    ("TMSR", "TmsrClearingPrice"),
    ("TMNSR", "TmnsrClearingPrice"),
    ("TMOR", "TmorClearingPrice"),
)
_LMP_COMPONENTS = (
    ("energy", "EnergyComponent"),
    ("congestion", "CongestionComponent"),
    ("loss", "LossComponent"),
)


@dataclass(frozen=True)
class PriceFeed:
    """How one ISO-NE price service maps to ``prices`` rows and, optionally, ``fundamentals`` rows."""

    endpoint: str  # URL path under api/v1.1, e.g. "hourlyfinalreserveprice"
    path: tuple[str, ...]  # keys down to the record list
    start: str  # dotted field of the interval start (ISO 8601 with offset)
    minutes: int  # interval length
    market: str
    products: tuple[tuple[str, str], ...]  # (product label, price field); label "" -> the location alone
    location: str = ""  # dotted field naming the location (zone / node); "" -> the product label
    location_type: str = "product"  # constant, or "@<dotted field>" read from the record
    components: tuple[tuple[str, str], ...] = ()  # LMP components (energy / congestion / loss)
    quantities: tuple[tuple[str, str, str], ...] = ()  # (variable, field, unit) -> fundamentals
    revision: str = ""
    published: str = "end"  # "end", "final", "da", or a dotted field with the posting time
    floor_5min: bool = False  # snap jittered stamps to the 5-minute grid (UTC)
    units: tuple[tuple[str, str], ...] = ()  # per-product unit when not USD/MWh


PRICE_FEEDS: dict[str, PriceFeed] = {
    "reserve_prices_day_ahead_hourly": PriceFeed(
        "daasreservedata",
        ("isone_web_services", "day_ahead_reserves", "day_ahead_reserve"),
        "market_hour.local_day",
        60,
        "ISONE_DA_ANCILLARY_HOURLY",
        (
            ("TMSR", "tmsr_clearing_price"),
            ("TMNSR", "tmnsr_clearing_price"),
            ("TMOR", "tmor_clearing_price"),
            ("FER", "fer_clearing_price"),
        ),
        location_type="reserve_product",
        quantities=(
            ("reserve_requirement_tmsr", "ten_min_spin_req_mw", "MW"),
            ("reserve_requirement_total_10min", "total_ten_min_req_mw", "MW"),
            ("reserve_requirement_total_30min", "total_thirty_min_req_mw", "MW"),
            ("forecast_energy_requirement", "forecasted_energy_req_mw", "MW"),
            ("reserve_designation_tmsr", "tmsr_designation_mw", "MW"),
            ("reserve_designation_tmnsr", "tmnsr_designation_mw", "MW"),
            ("reserve_designation_tmor", "tmor_designation_mw", "MW"),
            ("reserve_designation_eir", "eir_designation_mw", "MW"),
        ),
        published="da",
    ),
    "strike_prices_day_ahead_hourly": PriceFeed(
        "daasstrikeprices",
        ("isone_web_services", "day_ahead_strike_prices", "day_ahead_strike_price"),
        "market_hour.local_day",
        60,
        "ISONE_DA_ANCILLARY_HOURLY",
        (
            ("STRIKE_PRICE", "strike_price"),
            ("EXPECTED_CLOSEOUT_CHARGE", "expected_closeout_charge"),
            ("EXPECTED_CLOSEOUT_CHARGE_OVERRIDE", "expected_closeout_charge_override"),
        ),
        quantities=(
            ("load_forecast_strike_price", "spc_load_forecast_mw", "MW"),
            ("rt_hub_lmp_expected", "expected_rt_hub_lmp", "USD/MWh"),
            ("rt_hub_lmp_p10", "percentile_10_rt_hub_lmp", "USD/MWh"),
            ("rt_hub_lmp_p25", "percentile_25_rt_hub_lmp", "USD/MWh"),
            ("rt_hub_lmp_p75", "percentile_75_rt_hub_lmp", "USD/MWh"),
            ("rt_hub_lmp_p90", "percentile_90_rt_hub_lmp", "USD/MWh"),
        ),
        published="strike_price_timestamp",
    ),
    "reserve_prices_real_time_hourly_prelim": PriceFeed(
        "hourlyprelimreserveprice",
        ("PrelimHourlyReservePrices", "PrelimHourlyReservePrice"),
        "BeginDate",
        60,
        "ISONE_RT_RESERVE_HOURLY",
        _RESERVE_PRICES_RT,
        location="ReserveZoneName",
        location_type="reserve_zone",
        quantities=tuple((v, f, "MW") for v, f in _RESERVE_QUANTITIES_RT),
        revision="preliminary",
    ),
    "reserve_prices_real_time_hourly_final": PriceFeed(
        "hourlyfinalreserveprice",
        ("FinalHourlyReservePrices", "FinalHourlyReservePrice"),
        "BeginDate",
        60,
        "ISONE_RT_RESERVE_HOURLY",
        _RESERVE_PRICES_RT,
        location="ReserveZoneName",
        location_type="reserve_zone",
        quantities=tuple((v, f, "MW") for v, f in _RESERVE_QUANTITIES_RT),
        revision="final",
        published="final",
    ),
    "regulation_prices_real_time_5min": PriceFeed(
        "fiveminutercp",
        ("FiveMinRcps", "FiveMinRcp"),
        "BeginDate",
        5,
        "ISONE_RT_REGULATION_5MIN",
        (("REG_CAPACITY", "RegCapacityClearingPrice"), ("REG_SERVICE", "RegServiceClearingPrice")),
        location_type="regulation_product",
        floor_5min=True,
        units=(("REG_SERVICE", "USD/MW"),),
    ),
    # --- LMP: documented layout only (no recording), verified=False in the catalog ---
    "lmp_day_ahead_hourly": PriceFeed(
        "hourlylmp/da/final",
        ("HourlyLmps", "HourlyLmp"),
        "BeginDate",
        60,
        "ISONE_DAY_AHEAD_HOURLY",
        (("", "LmpTotal"),),
        location="Location.$",
        location_type="@Location.@LocType",
        components=_LMP_COMPONENTS,
        published="da",
    ),
    "lmp_real_time_hourly_prelim": PriceFeed(
        "hourlylmp/rt/prelim",
        ("HourlyLmps", "HourlyLmp"),
        "BeginDate",
        60,
        "ISONE_REAL_TIME_HOURLY",
        (("", "LmpTotal"),),
        location="Location.$",
        location_type="@Location.@LocType",
        components=_LMP_COMPONENTS,
        revision="preliminary",
    ),
    "lmp_real_time_hourly_final": PriceFeed(
        "hourlylmp/rt/final",
        ("HourlyLmps", "HourlyLmp"),
        "BeginDate",
        60,
        "ISONE_REAL_TIME_HOURLY",
        (("", "LmpTotal"),),
        location="Location.$",
        location_type="@Location.@LocType",
        components=_LMP_COMPONENTS,
        revision="final",
        published="final",
    ),
    "lmp_real_time_5min_prelim": PriceFeed(
        "fiveminutelmp/prelim",
        ("FiveMinLmps", "FiveMinLmp"),
        "BeginDate",
        5,
        "ISONE_REAL_TIME_5MIN",
        (("", "LmpTotal"),),
        location="Location.$",
        location_type="@Location.@LocType",
        components=_LMP_COMPONENTS,
        revision="preliminary",
    ),
    "lmp_real_time_5min_final": PriceFeed(
        "fiveminutelmp/final",
        ("FiveMinLmps", "FiveMinLmp"),
        "BeginDate",
        5,
        "ISONE_REAL_TIME_5MIN",
        (("", "LmpTotal"),),
        location="Location.$",
        location_type="@Location.@LocType",
        components=_LMP_COMPONENTS,
        revision="final",
        published="final",
    ),
}
#: the ``fundamentals`` twin of each price feed that carries quantities: same answer, other table
QUANTITY_FEEDS: dict[str, str] = {
    f"{name}_quantities": name for name, feed in PRICE_FEEDS.items() if feed.quantities
}


def load_json(body: bytes) -> Any:
    """Decode an ISO-NE JSON answer, refusing empty bodies and HTML/XML error pages."""
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML or XML page instead of JSON (ask for application/json; error page?)")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None


def dig(doc: Any, path: tuple[str, ...]) -> list[dict[str, Any]]:
    """Return the records at ``path``; lists met on the way are flattened, a single record is a list of one.

    An answer that drops the outer wrappers (starts at a later key of ``path``) is accepted too.
    """
    for skip in range(len(path)):
        nodes: list[Any] = [doc]
        for key in path[skip:]:
            found: list[Any] = []
            for node in nodes:
                for item in node if isinstance(node, list) else [node]:
                    if isinstance(item, dict) and key in item:
                        found.append(item[key])
            nodes = found
            if not nodes:
                break
        if nodes:
            out: list[dict[str, Any]] = []
            for node in nodes:
                out.extend(node if isinstance(node, list) else [node])
            if not all(isinstance(r, dict) for r in out):
                raise ParseError(f"records at {'.'.join(path)} are not objects")
            return out
    keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
    raise ParseError(f"no {'.'.join(path)} in the answer (found {keys})")


def struct_records(records: list[dict[str, Any]], what: str) -> pa.StructArray:
    """Return records as one Arrow struct array (columnar, converted in C++)."""
    if not records:
        raise ParseError(f"the answer holds no {what} records")
    try:
        arr = pa.array(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ParseError(f"{what} records of mixed shapes: {exc}") from None
    if not isinstance(arr, pa.StructArray):
        raise ParseError(f"{what} records are not objects ({arr.type})")
    return arr


def column(arr: pa.StructArray, dotted: str) -> pa.Array:
    """Return the (nested) field ``a.b`` of struct records; ParseError naming the fields found if absent."""
    node: pa.Array = arr
    for part in dotted.split("."):
        kind = node.type
        if not pa.types.is_struct(kind) or kind.get_field_index(part) < 0:
            names = [kind.field(i).name for i in range(kind.num_fields)] if pa.types.is_struct(kind) else []
            raise ParseError(f"missing field {dotted!r}; found {sorted(names)}")
        node = node.field(part)
    return node


def numbers(arr: pa.StructArray, dotted: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Return a numeric field as float64; missing values stay NaN only where the caller allows them."""
    col = column(arr, dotted)
    try:
        out = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ParseError(f"non-numeric {dotted!r}: {exc}") from None
    return np.asarray(out, dtype=np.float64)


def published_rule(
    rule: str, arr: pa.StructArray, start: pd.DatetimeIndex, end: pd.DatetimeIndex
) -> pd.DatetimeIndex:
    """Return the publication instants of the records under ``rule`` (see the module docstring)."""
    if rule == "end":
        return end
    if rule == "da":
        return local_day_start_utc(start, TZ) - DA_POSTED_BEFORE_DAY
    if rule == "final":
        return local_day_start_utc(start, TZ) + FINAL_POSTED_AFTER_DAY
    return utc_index(utc_ms(column(arr, rule), rule))


def _intervals(feed: PriceFeed, arr: pa.StructArray) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    ms = utc_ms(column(arr, feed.start), feed.start)
    if feed.floor_5min:
        ms = ms - ms % 300_000
    start = utc_index(ms)
    return start, start + pd.Timedelta(minutes=feed.minutes)


def _labels(arr: pa.StructArray, dotted: str) -> pd.Series:
    col = column(arr, dotted)
    if col.null_count:
        raise ParseError(f"{col.null_count} records without {dotted!r}")
    return pd.Series(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def parse_prices(body: bytes, dataset: str) -> pd.DataFrame:
    """Map one answer of a price service to ``prices`` rows (one row per record and product).

    Raises
    ------
    ParseError
        On an empty, HTML/XML or non-JSON body, missing records or fields, unreadable stamps, a missing
        price, or two records for the same location and interval.
    """
    feed = PRICE_FEEDS[dataset]
    arr = struct_records(dig(load_json(body), feed.path), feed.endpoint)
    start, end = _intervals(feed, arr)
    published = published_rule(feed.published, arr, start, end)
    zone = _labels(arr, feed.location) if feed.location else None
    if feed.location_type.startswith("@"):
        loc_type: Any = _labels(arr, feed.location_type[1:]).map(slug)
    else:
        loc_type = feed.location_type
    units = dict(feed.units)
    frames = []
    for product, field in feed.products:
        price = numbers(arr, field)
        if np.isnan(price).any():
            raise ParseError(f"{int(np.isnan(price).sum())} records without a price in {field!r}")
        if zone is None:
            location: Any = product
        else:
            location = zone + ":" + product if product else zone
        frame = pd.DataFrame(
            {
                "interval_start_utc": start,
                "interval_end_utc": end,
                "market": feed.market,
                "location": location,
                "location_type": loc_type,
                "price": price,
            }
        )
        for name in ("energy", "congestion", "loss"):
            fields = dict(feed.components)
            frame[name] = numbers(arr, fields[name]) if name in fields else np.nan
        frame["currency"] = "USD"
        frame["unit"] = units.get(product, "USD/MWh")
        frame["revision"] = feed.revision
        frame["source"] = "isone"
        frame["published_at_utc"] = published
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    key = ["market", "location", "interval_start_utc", "published_at_utc"]
    if out.duplicated(key).any():
        first = out[out.duplicated(key, keep=False)].iloc[0]
        raise ParseError(
            f"two records for {first['location']} at {first['interval_start_utc']} in one answer"
        )
    return out.sort_values(key, ignore_index=True)


def parse_quantities(body: bytes, dataset: str) -> pd.DataFrame:
    """Map the quantities (MW requirements, designations, strike-price inputs) of a price answer.

    ``dataset`` is a key of :data:`QUANTITY_FEEDS`; the area is the record's reserve zone, or
    ``NEPOOL AREA`` for system-wide services.
    """
    feed = PRICE_FEEDS[QUANTITY_FEEDS[dataset]]
    arr = struct_records(dig(load_json(body), feed.path), feed.endpoint)
    start, end = _intervals(feed, arr)
    published = published_rule(feed.published, arr, start, end)
    area: Any = _labels(arr, feed.location) if feed.location else SYSTEM_AREA
    frames = []
    for variable, field, unit in feed.quantities:
        value = numbers(arr, field)
        if np.isnan(value).any():
            raise ParseError(f"{int(np.isnan(value).sum())} records without {field!r}")
        frames.append(
            fundamentals_frame(
                start,
                end,
                market="ISONE",
                area=area,
                variable=variable,
                value=value,
                unit=unit,
                source="isone",
                published=published,
            )
        )
    out = pd.concat(frames, ignore_index=True)
    key = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
    if out.duplicated(key).any():
        raise ParseError("two records for the same area and interval in one answer")
    return out.sort_values(key, ignore_index=True)
