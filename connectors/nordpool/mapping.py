"""Nord Pool data portal answers and website exports -> canonical rows. Pure: bytes in, frame out.

Time and days
-------------
Nord Pool's delivery day is the CET/CEST calendar day (``deliveryDateCET``; the same wall clock as
``Europe/Oslo``). Every interval of the data portal is given in UTC (``deliveryStart``/``deliveryEnd``,
``...Z``): the recorded 2025-05-07 answers run ``2025-05-06T22:00:00Z`` .. ``2025-05-07T22:00:00Z`` (CEST)
and the 2024-11-05 answers ``2024-11-04T23:00:00Z`` .. (CET). The stamps are used as given (half-open
``[deliveryStart, deliveryEnd)``); each entry's length must equal the answer's ``resolutionInMinutes``.
Aggregates give calendar dates (``"deliveryStart": "2025-05-01", "deliveryEnd": "2025-05-07"``, both
inclusive): the interval is ``[local midnight of deliveryStart, local midnight after deliveryEnd)`` in
CET/CEST, converted to UTC.

Markets and locations
---------------------
One market per interval length: ``NORDPOOL_DAY_AHEAD_15MIN`` / ``_30MIN`` / ``_HOURLY`` for the auction
prices (the price indices at 15, 30 and 60 minutes are three series: before 2025-10-01 the 15- and 30-minute
indices repeat the hourly price, the recorded FI 2025-05-07 answers show it), ``NORDPOOL_DAY_AHEAD_DAILY`` /
``_WEEKLY`` / ``_MONTHLY`` / ``_YEARLY`` for the aggregates and the website's daily export, and
``NORDPOOL_INTRADAY_15MIN`` / ``_30MIN`` / ``_HOURLY`` (cross-border SIDC contracts) and
``NORDPOOL_INTRADAY_LOCAL_...`` (local contracts) for the intraday statistics' average prices. Nord Pool's
area codes are mapped to the platform's short bidding-zone codes (:data:`AREAS`: ``GER`` -> ``DE_LU``,
``TEL`` -> ``RO``, ``SYS``/``SYSTEM`` -> ``SYSTEM`` with ``location_type = "system"``); codes not in the
map (connection points such as ``NO2_NK``) are kept as published, upper case, ``-`` -> ``_``.
Prices are in the answer's ``currency`` (asked with ``currency=EUR|SEK|NOK|DKK|...``), unit ``<CUR>/MWh``.

Aggregates that cover part of their period (the current week, month and year: the recorded answer's May
2025 row runs 2025-05-01..07) keep the days they cover as their interval and ``revision = "partial"``;
complete periods have ``revision = ""``. The yearly row of ``AggregatePrices`` states ``deliveryEnd``
2025-12-31 while its value is the year to date (it equals GetAnnuals' 2025-01-01..05-07 row, 47.37): its end
is cut to the last day the answer's daily rows cover.

``published_at_utc``
--------------------
Day-ahead prices are set by the SDAC auction at 12:00 CET on the day before delivery and published from
about 12:45 CET. The portal's ``updatedAt`` is the moment the answer's version was written (the recorded
FI answers: 2025-05-06T11:22:09Z, 13:22 CEST; SYSTEM 10:56:31Z; 2025-10-01's first 15-minute auction
2025-09-30T12:08:18Z): the price rows are published at ``updatedAt``, never earlier than the data existed.
Aggregates: an average over days up to D is knowable once D's auction result is out, at 12:45 CET on D-1
(:data:`AUCTION_PUBLICATION`); rows that end on the answer's newest day are published at the later of that
and ``updatedAt`` (GetAnnuals' ``updatedAt``, 2024-03-26, predates its own 2025 row: it is not the rows'
time). The website export's daily rows: 12:45 CET on the day before. Physical flows and capacities: the
answer's ``updatedAt``. Intraday statistics: a contract's average price is final when the contract closes;
rows are published at ``min(contractCloseTime, updatedAt)``, ``revision = "running"`` while the contract
was still open at ``updatedAt``.

Empty answers
-------------
The portal answers 204 with no body for a day not yet published, and (price indices) 200 with empty
``multiIndexEntries`` and ``version: 0`` (the recorded 2025-05-10 FI answer): both are zero rows.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "Europe/Oslo"  # Nord Pool's "CET": CET in winter, CEST in summer
SOURCE = "nordpool"
MARKET = "NORDPOOL"  # fundamentals
#: the auction results' publication, local time on the day before delivery
AUCTION_PUBLICATION = pd.Timedelta(hours=12, minutes=45)

#: Nord Pool area codes -> the platform's short codes
AREAS = {
    **{f"NO{i}": f"NO{i}" for i in range(1, 6)},
    **{f"SE{i}": f"SE{i}" for i in range(1, 5)},
    "FI": "FI",
    "DK1": "DK1",
    "DK2": "DK2",
    "SYS": "SYSTEM",
    "SYSTEM": "SYSTEM",
    "EE": "EE",
    "LV": "LV",
    "LT": "LT",
    "GER": "DE_LU",
    "DE-LU": "DE_LU",
    "DE_LU": "DE_LU",
    "AT": "AT",
    "BE": "BE",
    "FR": "FR",
    "NL": "NL",
    "PL": "PL",
    "TEL": "RO",  # Transelectrica, Romania
    "BG": "BG",
    "UK": "GB",
    "GB": "GB",
}
#: the platform's codes -> the codes the portal is asked with
PORTAL_CODES = {"DE_LU": "GER", "RO": "TEL", "GB": "UK", "SYSTEM": "SYSTEM"}
#: the website export's column labels (old Norwegian price areas by city) -> short codes
EXPORT_COLUMNS = {
    "SYS": "SYSTEM",
    "Oslo": "NO1",
    "Kr.sand": "NO2",
    "Molde": "NO3",
    "Tr.heim": "NO3",  # Molde and Trondheim are both NO3; the export repeats the price
    "Tromsø": "NO4",
    "Bergen": "NO5",
}
RESOLUTION_SUFFIX = {15: "15MIN", 30: "30MIN", 60: "HOURLY"}
AGGREGATES = {  # answer key -> (market suffix, period)
    "multiAreaDailyAggregates": ("DAILY", "day"),
    "multiAreaWeeklyAggregates": ("WEEKLY", "week"),
    "multiAreaMonthlyAggregates": ("MONTHLY", "month"),
    "multiAreaYearlyAggregates": ("YEARLY", "year"),
}
_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
_INTRADAY_NAME = re.compile(r"^(QH|HH|PH)-\d{8}-\d{2,3}$")
_INTRADAY_BLOCK = re.compile(r"^(QH|HH|PH)-\d{8}-\d{2,3}-(QH|HH|PH)-\d{8}-\d{2,3}$")


# ------------------------------------------------------------------------------------------------------
# shared pieces
# ------------------------------------------------------------------------------------------------------
def area_code(code: str) -> str:
    """Return the platform's short code of a Nord Pool area code (unknown codes as published)."""
    if not isinstance(code, str) or not code.strip():
        raise ParseError(f"an area code that is not a name: {code!r}")
    return AREAS.get(code.strip(), code.strip().upper().replace("-", "_"))


def portal_code(location: str) -> str:
    """Return the code the data portal is asked with for one of the platform's locations."""
    return PORTAL_CODES.get(location, location)


def load_json(body: bytes) -> Any:
    """Decode a JSON answer; ``None`` for an empty body (the portal's 204 "not published yet")."""
    if not body.strip():
        return None
    head = body.lstrip()[:100].lower()
    if head.startswith((b"<!doctype", b"<html")):
        raise ParseError("an HTML page instead of the data portal's JSON (error or maintenance page?)")
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not JSON: {exc}") from None


def _utc(value: Any, what: str) -> pd.Timestamp:
    if not isinstance(value, str) or not value:
        raise ParseError(f"{what}: missing stamp ({value!r})")
    try:
        ts = pd.Timestamp(value)
    except ValueError:
        raise ParseError(f"{what}: unreadable stamp {value!r}") from None
    if ts.tzinfo is None:
        raise ParseError(f"{what}: stamp {value!r} has no offset (the portal writes UTC, '...Z')")
    return ts.tz_convert("UTC")


def _price(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(f"{what}: non-numeric price {value!r}")
    return float(value)


def _local_midnight(dates: Iterable[str], what: str) -> pd.DatetimeIndex:
    try:
        wall = pd.DatetimeIndex(pd.to_datetime(list(dates), format="%Y-%m-%d"))
    except (ValueError, TypeError) as exc:
        raise ParseError(f"{what}: dates not YYYY-MM-DD: {exc}") from None
    return local_to_utc(wall, TZ)


def _publication_of_days(last_days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """12:45 CET/CEST on the day before each (naive) delivery day, in UTC."""
    return local_to_utc(last_days - pd.Timedelta(days=1) + AUCTION_PUBLICATION, TZ)


def _stamps(values: list[Any] | pd.DatetimeIndex) -> pd.Series:
    """UTC instants as a ``datetime64[ms, UTC]`` Series on a 0..n-1 index (empty keeps the dtype)."""
    if len(values) == 0:
        return pd.Series([], dtype="datetime64[ms, UTC]")
    return pd.Series(pd.DatetimeIndex(values).tz_convert("UTC")).astype("datetime64[ms, UTC]")


def empty_prices() -> pd.DataFrame:
    """Zero price rows, with the table's columns and types."""
    return price_frame([])


def price_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build ``prices`` rows, sorted by market, location, interval and publication.

    Each dict holds start, end, market, location, price, currency, published and (optional) revision.
    """
    frame = pd.DataFrame(
        {
            "interval_start_utc": _stamps([r["start"] for r in rows]),
            "interval_end_utc": _stamps([r["end"] for r in rows]),
            "market": pd.Series([r["market"] for r in rows], dtype=object),
            "location": pd.Series([r["location"] for r in rows], dtype=object),
            "location_type": pd.Series(
                ["system" if r["location"] == "SYSTEM" else "bidding_zone" for r in rows], dtype=object
            ),
            "price": pd.Series([r["price"] for r in rows], dtype=float),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": pd.Series([r["currency"] for r in rows], dtype=object),
            "unit": pd.Series([f"{r['currency']}/MWh" for r in rows], dtype=object),
            "revision": pd.Series([r.get("revision", "") for r in rows], dtype=object),
            "source": SOURCE,
            "fidelity": "official",
            "published_at_utc": _stamps([r["published"] for r in rows]),
        }
    )
    frame = frame.sort_values(_PRICE_ORDER, ignore_index=True)
    dup = frame.duplicated(["market", "location", "interval_start_utc", "interval_end_utc"])
    if dup.any():
        first = frame[dup].iloc[0]
        raise ParseError(
            f"the answer gives {first['location']} {first['interval_start_utc']} ({first['market']}) twice"
        )
    return frame


def _fund_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = fundamentals_frame(
        _stamps([r["start"] for r in rows]),
        _stamps([r["end"] for r in rows]),
        market=MARKET,
        area=pd.Series([r["area"] for r in rows], dtype=object),
        area_to=pd.Series([r["area_to"] for r in rows], dtype=object),
        variable=pd.Series([r["variable"] for r in rows], dtype=object),
        value=pd.Series([r["value"] for r in rows], dtype=float),
        unit="MW",
        source=SOURCE,
        published=_stamps([r["published"] for r in rows]),
    )
    frame["fidelity"] = "official"
    return frame.sort_values(_FUND_ORDER, ignore_index=True)


def _check_span(start: pd.Timestamp, end: pd.Timestamp, minutes: int | None, what: str) -> int:
    length = int((end - start) / pd.Timedelta(minutes=1))
    if length <= 0:
        raise ParseError(f"{what}: an interval that ends before it starts ({start} .. {end})")
    if minutes is not None and length != minutes:
        raise ParseError(f"{what}: a {length}-minute interval in a {minutes}-minute answer ({start})")
    if length not in RESOLUTION_SUFFIX:
        raise ParseError(f"{what}: a {length}-minute interval; expected 15, 30 or 60 minutes ({start})")
    return length


# ------------------------------------------------------------------------------------------------------
# day-ahead prices: DayAheadPriceIndices and DayAheadPrices
# ------------------------------------------------------------------------------------------------------
def parse_price_indices(body: bytes, expect_minutes: int | None = None) -> pd.DataFrame:
    """Map a ``/api/DayAheadPriceIndices`` answer to ``prices`` rows [``<currency>/MWh``].

    One row per entry and index (area); market by ``resolutionInMinutes`` (15, 30 or 60), which must
    equal ``expect_minutes`` when given (the dataset asked for). Published at the answer's ``updatedAt``.
    """
    doc = load_json(body)
    if doc is None:
        return empty_prices()
    if not isinstance(doc, dict) or "multiIndexEntries" not in doc:
        raise ParseError("not a DayAheadPriceIndices answer (no 'multiIndexEntries')")
    minutes = doc.get("resolutionInMinutes")
    if minutes not in RESOLUTION_SUFFIX:
        raise ParseError(f"resolutionInMinutes {minutes!r}; expected 15, 30 or 60")
    if expect_minutes is not None and minutes != expect_minutes:
        raise ParseError(f"a {minutes}-minute answer where {expect_minutes}-minute prices were asked for")
    currency = _currency(doc.get("currency"))
    entries = doc["multiIndexEntries"]
    if not isinstance(entries, list):
        raise ParseError("'multiIndexEntries' is not a list")
    if not entries:
        return empty_prices()
    published = _utc(doc.get("updatedAt"), "updatedAt")
    states = {a: s.get("state", "") for s in doc.get("areaStates") or [] for a in s.get("areas", [])}
    market = f"NORDPOOL_DAY_AHEAD_{RESOLUTION_SUFFIX[minutes]}"
    rows = []
    for entry in entries:
        start = _utc(entry.get("deliveryStart"), "deliveryStart")
        end = _utc(entry.get("deliveryEnd"), "deliveryEnd")
        _check_span(start, end, minutes, "multiIndexEntries")
        per_area = entry.get("entryPerArea")
        if not isinstance(per_area, dict) or not per_area:
            raise ParseError(f"an entry without 'entryPerArea' at {start}")
        for code, value in per_area.items():
            rows.append(
                {
                    "start": start, "end": end, "market": market, "location": area_code(code),
                    "price": _price(value, f"{code} {start}"), "currency": currency,
                    "published": published, "revision": _revision(states.get(code, "Final")),
                }
            )  # fmt: skip
    return price_frame(rows)


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise ParseError(f"currency {value!r} is not an ISO code")
    return value


def _revision(state: str) -> str:
    """'' for a Final area state; the state in lower case otherwise (e.g. 'preliminary')."""
    return "" if state in ("Final", "") else state.lower()


def parse_day_ahead_prices(body: bytes) -> pd.DataFrame:
    """Map a ``/api/DayAheadPrices`` answer to ``prices`` rows [``<currency>/MWh``].

    Two forms: the object (``multiAreaEntries`` with ``entryPerArea``, ``deliveryAreas``, ``currency``,
    recorded for 2024-11-05) and the array of per-area objects (``deliveryArea``, ``prices[]`` with
    ``price``, recorded by Electricity Maps). The market follows each interval's length.
    """
    doc = load_json(body)
    if doc is None:
        return empty_prices()
    rows: list[dict[str, Any]] = []
    if isinstance(doc, dict) and "multiAreaEntries" in doc:
        currency = _currency(doc.get("currency"))
        entries = doc["multiAreaEntries"]
        if not entries:
            return empty_prices()
        published = _utc(doc.get("updatedAt"), "updatedAt")
        states = {a: s.get("state", "") for s in doc.get("areaStates") or [] for a in s.get("areas", [])}
        for entry in entries:
            start = _utc(entry.get("deliveryStart"), "deliveryStart")
            end = _utc(entry.get("deliveryEnd"), "deliveryEnd")
            suffix = RESOLUTION_SUFFIX[_check_span(start, end, None, "multiAreaEntries")]
            per_area = entry.get("entryPerArea")
            if not isinstance(per_area, dict) or not per_area:
                raise ParseError(f"an entry without 'entryPerArea' at {start}")
            for code, value in per_area.items():
                rows.append(
                    {
                        "start": start, "end": end, "market": f"NORDPOOL_DAY_AHEAD_{suffix}",
                        "location": area_code(code), "price": _price(value, f"{code} {start}"),
                        "currency": currency, "published": published,
                        "revision": _revision(states.get(code, "Final")),
                    }
                )  # fmt: skip
        return price_frame(rows)
    if isinstance(doc, list) and all(isinstance(a, dict) and "prices" in a for a in doc):
        for area in doc:
            currency = _currency(area.get("currency"))
            published = _utc(area.get("updatedAt"), "updatedAt")
            location = area_code(area.get("deliveryArea", ""))
            for entry in area["prices"]:
                start = _utc(entry.get("deliveryStart"), "deliveryStart")
                end = _utc(entry.get("deliveryEnd"), "deliveryEnd")
                suffix = RESOLUTION_SUFFIX[_check_span(start, end, None, "prices")]
                rows.append(
                    {
                        "start": start, "end": end, "market": f"NORDPOOL_DAY_AHEAD_{suffix}",
                        "location": location, "price": _price(entry.get("price"), f"{location} {start}"),
                        "currency": currency, "published": published,
                        "revision": _revision(area.get("status", "Final")),
                    }
                )  # fmt: skip
        return price_frame(rows)
    raise ParseError("not a DayAheadPrices answer (neither 'multiAreaEntries' nor a list of area 'prices')")


# ------------------------------------------------------------------------------------------------------
# aggregates: AggregatePrices (daily, weekly, monthly, yearly) and AggregatePrices/GetAnnuals
# ------------------------------------------------------------------------------------------------------
def _period_bounds(first: pd.Timestamp, period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the calendar period (naive dates, end inclusive) that starts on or holds ``first``."""
    if period == "day":
        return first, first
    if period == "week":
        monday = first - pd.Timedelta(days=first.day_of_week)
        return monday, monday + pd.Timedelta(days=6)
    if period == "month":
        return first.replace(day=1), first + pd.offsets.MonthEnd(0)
    return first.replace(month=1, day=1), first.replace(month=12, day=31)


def _aggregate_rows(
    items: list[dict[str, Any]], suffix: str, period: str, currency: str, last_day: pd.Timestamp | None
) -> list[dict[str, Any]]:
    """Rows of one aggregate list; ``last_day`` cuts nominal ends to the days the answer covers."""
    rows = []
    for item in items:
        try:
            first = pd.Timestamp(item["deliveryStart"])
            last = pd.Timestamp(item["deliveryEnd"])
        except (KeyError, ValueError, TypeError):
            raise ParseError(
                f"{suffix.lower()} aggregate without readable deliveryStart/End: {item}"
            ) from None
        if last_day is not None and last > last_day:
            last = last_day
        if last < first:
            raise ParseError(f"{suffix.lower()} aggregate ends before it starts: {item}")
        nominal_first, nominal_last = _period_bounds(first, period)
        revision = "" if (first, last) == (nominal_first, nominal_last) else "partial"
        averages = item.get("averagePerArea")
        if not isinstance(averages, dict) or not averages:
            raise ParseError(f"{suffix.lower()} aggregate without 'averagePerArea': {item}")
        for code, value in averages.items():
            rows.append(
                {
                    "first": first, "last": last, "market": f"NORDPOOL_DAY_AHEAD_{suffix}",
                    "location": area_code(code), "price": _price(value, f"{code} {first:%Y-%m-%d}"),
                    "currency": currency, "revision": revision,
                }
            )  # fmt: skip
    return rows


def _finish_aggregates(rows: list[dict[str, Any]], updated: pd.Timestamp | None) -> pd.DataFrame:
    if not rows:
        return empty_prices()
    firsts = pd.DatetimeIndex([r["first"] for r in rows])
    lasts = pd.DatetimeIndex([r["last"] for r in rows])
    starts = _local_midnight([f"{d:%Y-%m-%d}" for d in firsts], "deliveryStart")
    ends = _local_midnight([f"{d + pd.Timedelta(days=1):%Y-%m-%d}" for d in lasts], "deliveryEnd")
    published = _publication_of_days(lasts)
    newest = lasts.max()
    for k, row in enumerate(rows):
        row["start"], row["end"] = starts[k], ends[k]
        row["published"] = published[k]
        if updated is not None and lasts[k] == newest and updated > published[k]:
            row["published"] = updated
    return price_frame(rows)


def parse_aggregates(body: bytes, currency: str) -> pd.DataFrame:
    """Map an ``/api/AggregatePrices?year=`` answer to daily, weekly, monthly and yearly average prices.

    The answer names no currency: ``currency`` is the request's (its ``currency=`` parameter).
    """
    doc = load_json(body)
    if doc is None:
        return empty_prices()
    if not isinstance(doc, dict) or not any(k in doc for k in AGGREGATES):
        raise ParseError(f"not an AggregatePrices answer (none of {sorted(AGGREGATES)})")
    currency = _currency(doc.get("currency", currency))
    daily = doc.get("multiAreaDailyAggregates") or []
    try:
        last_day = max((pd.Timestamp(d["deliveryEnd"]) for d in daily), default=None)
    except (KeyError, ValueError, TypeError):
        raise ParseError("daily aggregates without a readable deliveryEnd") from None
    rows: list[dict[str, Any]] = []
    for key, (suffix, period) in AGGREGATES.items():
        items = doc.get(key) or []
        if isinstance(items, dict):  # the yearly aggregate is one object
            items = [items]
        rows += _aggregate_rows(items, suffix, period, currency, last_day)
    updated = _utc(doc["updatedAt"], "updatedAt") if doc.get("updatedAt") else None
    return _finish_aggregates(rows, updated)


def parse_annuals(body: bytes, currency: str) -> pd.DataFrame:
    """Map an ``/api/AggregatePrices/GetAnnuals`` answer to yearly average prices (``currency`` as asked)."""
    doc = load_json(body)
    if doc is None:
        return empty_prices()
    if not isinstance(doc, dict):
        raise ParseError("not a GetAnnuals answer (a JSON object with 'prices')")
    return _annuals(doc, _currency(currency))


def _annuals(doc: dict[str, Any], currency: str) -> pd.DataFrame:
    items = doc.get("prices")
    if not isinstance(items, list) or not all(isinstance(i, dict) and "year" in i for i in items):
        raise ParseError("not a GetAnnuals answer ('prices' with a 'year' per row)")
    rows = _aggregate_rows(items, "YEARLY", "year", currency, None)
    updated = _utc(doc["updatedAt"], "updatedAt") if doc.get("updatedAt") else None
    return _finish_aggregates(rows, updated)


# ------------------------------------------------------------------------------------------------------
# physical flows and capacities -> fundamentals
# ------------------------------------------------------------------------------------------------------
def parse_physical_flows(body: bytes) -> pd.DataFrame:
    """Map an ``/api/PhysicalFlows`` answer to ``fundamentals`` [MW].

    Per connection: ``flow`` from the delivery area to the neighbour = ``export - import`` (positive =
    out of the area, the table's direction), and per area ``net_import`` = ``totalNetPosition`` (the
    portal's net position is ``import - export``: FI exporting 667 MW to SE1 shows ``netPosition -667``).
    """
    doc = load_json(body)
    if doc is None:
        return _fund_frame([])
    if not isinstance(doc, list) or not all(isinstance(a, dict) and "exchanges" in a for a in doc):
        raise ParseError("not a PhysicalFlows answer (a list of areas with 'exchanges')")
    rows: list[dict[str, Any]] = []
    for area_doc in doc:
        area = area_code(area_doc.get("deliveryArea", ""))
        if area_doc.get("unit", "MW") != "MW":
            raise ParseError(f"flows in {area_doc.get('unit')!r}; expected MW")
        published = _utc(area_doc.get("updatedAt"), "updatedAt")
        for ex in area_doc["exchanges"]:
            start = _utc(ex.get("deliveryStart"), "deliveryStart")
            end = _utc(ex.get("deliveryEnd"), "deliveryEnd")
            _check_span(start, end, None, "exchanges")
            base = {"start": start, "end": end, "published": published}
            for conn in ex.get("byConnections") or []:
                flow = _price(conn.get("export"), "export") - _price(conn.get("import"), "import")
                rows.append({**base, "area": area, "area_to": area_code(conn.get("area", "")),
                             "variable": "flow", "value": flow})  # fmt: skip
            rows.append({**base, "area": area, "area_to": "", "variable": "net_import",
                         "value": _price(ex.get("totalNetPosition"), "totalNetPosition")})  # fmt: skip
    return _fund_frame(rows)


def parse_capacities(body: bytes) -> pd.DataFrame:
    """Map a day-ahead capacities answer to ``transfer_capacity`` fundamentals [MW], one per direction.

    ``exportsByConnection`` give the capacity from the delivery area to the connection (``area`` ->
    ``area_to``), ``importsByConnection`` the capacity from the connection into the area. Loss factors
    and ramping restrictions are not stored.
    """
    doc = load_json(body)
    if doc is None:
        return _fund_frame([])
    if not isinstance(doc, list) or not all(isinstance(a, dict) and "capacities" in a for a in doc):
        raise ParseError("not a capacities answer (a list of areas with 'capacities')")
    rows: list[dict[str, Any]] = []
    for area_doc in doc:
        area = area_code(area_doc.get("deliveryArea", ""))
        if area_doc.get("unit", "MW") != "MW":
            raise ParseError(f"capacities in {area_doc.get('unit')!r}; expected MW")
        published = _utc(area_doc.get("updatedAt"), "updatedAt")
        for cap in area_doc["capacities"]:
            start = _utc(cap.get("deliveryStart"), "deliveryStart")
            end = _utc(cap.get("deliveryEnd"), "deliveryEnd")
            _check_span(start, end, None, "capacities")
            base = {"start": start, "end": end, "published": published, "variable": "transfer_capacity"}
            for conn in cap.get("exportsByConnection") or []:
                rows.append({**base, "area": area, "area_to": area_code(conn.get("area", "")),
                             "value": _price(conn.get("capacity"), "capacity")})  # fmt: skip
            for conn in cap.get("importsByConnection") or []:
                rows.append({**base, "area": area_code(conn.get("area", "")), "area_to": area,
                             "value": _price(conn.get("capacity"), "capacity")})  # fmt: skip
    return _fund_frame(rows)


# ------------------------------------------------------------------------------------------------------
# intraday statistics -> prices
# ------------------------------------------------------------------------------------------------------
def parse_intraday_statistics(body: bytes) -> pd.DataFrame:
    """Map intraday contract statistics to ``prices``: each traded contract's ``averagePrice``.

    Contracts ``QH``/``HH``/``PH`` (15, 30, 60 minutes) and blocks of them (``PH-..-01-PH-..-05``:
    market suffix ``BLOCK``, variable length); cross-border (SIDC) contracts go to
    ``NORDPOOL_INTRADAY_<RES>``, local ones (``isLocalContract``) to ``NORDPOOL_INTRADAY_LOCAL_<RES>``.
    Contracts without trades (``averagePrice`` null) have no price and give no row.
    """
    doc = load_json(body)
    if doc is None:
        return empty_prices()
    if not isinstance(doc, list) or not all(isinstance(a, dict) and "contracts" in a for a in doc):
        raise ParseError("not an intraday statistics answer (a list of areas with 'contracts')")
    rows: list[dict[str, Any]] = []
    for area_doc in doc:
        location = area_code(area_doc.get("deliveryArea", ""))
        unit = area_doc.get("priceUnit", "")
        currency = _currency(unit.split("/")[0] if isinstance(unit, str) else unit)
        if unit != f"{currency}/MWh":
            raise ParseError(f"intraday prices in {unit!r}; expected <CUR>/MWh")
        updated = _utc(area_doc.get("updatedAt"), "updatedAt")
        for c in area_doc["contracts"]:
            name = str(c.get("contractName", ""))
            block = bool(_INTRADAY_BLOCK.match(name))
            if not block and not _INTRADAY_NAME.match(name):
                raise ParseError(f"unknown intraday contract {name!r}; expected QH/HH/PH or a block of them")
            if c.get("averagePrice") is None:
                continue
            start = _utc(c.get("deliveryStart"), "deliveryStart")
            end = _utc(c.get("deliveryEnd"), "deliveryEnd")
            if block:
                if end <= start:
                    raise ParseError(f"{name}: ends before it starts")
                suffix = "BLOCK"
            else:
                suffix = RESOLUTION_SUFFIX[_check_span(start, end, None, name)]
            closes = _utc(c.get("contractCloseTime"), "contractCloseTime")
            local = "LOCAL_" if c.get("isLocalContract") else ""
            rows.append(
                {
                    "start": start, "end": end, "market": f"NORDPOOL_INTRADAY_{local}{suffix}",
                    "location": location, "price": _price(c["averagePrice"], c["contractName"]),
                    "currency": currency, "published": min(closes, updated),
                    "revision": "" if closes <= updated else "running",
                }
            )  # fmt: skip
    return price_frame(rows)


# ------------------------------------------------------------------------------------------------------
# nordpoolgroup.com website export (xlsx): daily system and area prices
# ------------------------------------------------------------------------------------------------------
def parse_website_export(body: bytes, currency: str = "EUR") -> pd.DataFrame:
    """Map the website's daily prices export (xlsx) to ``NORDPOOL_DAY_AHEAD_DAILY`` rows.

    Layout (recorded export, 2022-01-01..2023-07-09): a header row (blank, ``SYS``, ``SE1``.. ``FI``,
    ``DK1``, ``DK2``, ``Oslo``, ``Kr.sand``, ``Bergen``, ``Molde``, ``Tr.heim``, ``Tromsø``, ``EE``, ``LV``,
    ``LT``, ``AT``, ``BE``, ``DE-LU``, ``FR``, ``NL``), then one row per day, newest first, date
    ``DD-MM-YYYY``, prices as text with decimal commas. The file names no currency: the website's default,
    EUR (``currency``). ``Tr.heim`` repeats ``Molde`` (both NO3) and must equal it.
    """
    try:
        sheet = pd.read_excel(io.BytesIO(body), engine="calamine", header=None, dtype=str)
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        raise ParseError(f"not a readable xlsx workbook: {exc}") from None
    if sheet.empty or sheet.shape[1] < 2:
        raise ParseError("an empty sheet; expected a date column and one column per area")
    header = [str(v).strip() for v in sheet.iloc[0, 1:]]
    if "SYS" not in header and "SE1" not in header:
        raise ParseError(f"changed layout: no SYS/SE1 columns in the header {header}")
    data = sheet.iloc[1:].dropna(how="all")
    try:
        days = pd.to_datetime(data[0].str.strip(), format="%d-%m-%Y")
    except (ValueError, AttributeError) as exc:
        raise ParseError(f"dates not DD-MM-YYYY: {exc}") from None
    values = {}
    for k, label in enumerate(header, start=1):
        text = data[k].astype("string").str.strip().str.replace(" ", "").str.replace(",", ".", regex=False)
        try:
            values[label] = pd.to_numeric(text.replace({"-": pd.NA, "": pd.NA}), errors="raise").astype(float)
        except (ValueError, TypeError) as exc:
            raise ParseError(f"non-numeric price in column {label!r}: {exc}") from None
    if "Molde" in values and "Tr.heim" in values:
        both = values["Molde"].notna() & values["Tr.heim"].notna()
        if not np.allclose(values["Molde"][both], values["Tr.heim"][both]):
            raise ParseError("Molde and Tr.heim (both NO3) differ; the export's NO3 is ambiguous")
        del values["Tr.heim"]
    starts = local_to_utc(pd.DatetimeIndex(days), TZ)
    ends = local_to_utc(pd.DatetimeIndex(days) + pd.Timedelta(days=1), TZ)
    published = _publication_of_days(pd.DatetimeIndex(days))
    rows = []
    for label, series in values.items():
        location = EXPORT_COLUMNS.get(label) or area_code(label)
        for k, price in enumerate(series):
            if np.isnan(price):
                continue  # a blank cell: the area had no price that day
            rows.append(
                {
                    "start": starts[k], "end": ends[k], "market": "NORDPOOL_DAY_AHEAD_DAILY",
                    "location": location, "price": price, "currency": currency, "published": published[k],
                }
            )  # fmt: skip
    return price_frame(rows)
