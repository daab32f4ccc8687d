"""ENTSO-E Transparency Platform documents -> canonical rows. Pure: bytes in, frame out.

Documents (XML, IEC 62325-451)
------------------------------
The web API answers with one of three document kinds, told apart by the root element's *local* name
(namespaces are matched by local name, so every version works; seen: ``publicationdocument:7:0`` and
``7:3``, ``generationloaddocument:3:0``, ``acknowledgementdocument:7:0``):

``Publication_MarketDocument``
    ``type`` A44 (energy prices), A11 (physical flows), A25 (implicit-allocation net positions), A61
    (estimated net transfer capacity).
``GL_MarketDocument``
    ``type`` A65 (total load; ``process.processType`` A16 realised, A01 day-ahead, A31 week-ahead, A32
    month-ahead, A33 year-ahead), A75 (actual generation per production type), A68 (installed capacity),
    A69 (wind and solar forecast), A71 (day-ahead generation forecast).
``Acknowledgement_MarketDocument``
    Served with HTTP 200 when a query has no answer. ``Reason/code`` 999 ("No matching data found ...")
    is *no data*: zero rows, not an error. Any other reason code is a refused request and raises
    :class:`ParseError` with the reason text.

Stamps. Every stamp is UTC (``2024-07-27T22:00Z``). A ``TimeSeries`` holds one or more ``Period``; each
Period has a ``timeInterval`` (start, end), a ``resolution`` (PT15M, PT30M, PT60M, P7D, P1D, P1Y, P1M)
and ``Point``s numbered by ``position`` from 1 at the Period's start: position ``k`` covers ``[start +
(k-1) * resolution, start + k * resolution)``. Fixed resolutions (minutes, hours, days, weeks) are exact
UTC durations: the CZ year-ahead load forecast (P7D) runs 2023-01-01T23:00Z + 52 x 168 h =
2023-12-31T23:00Z, across both DST changes. P1M / P1Y step in calendar months of Europe/Brussels.

curveType. ``A01`` (sequential fixed-size blocks): every position is present; rows are the points
given. ``A03`` (variable-sized blocks): a point holds until the next given position, so omitted positions
repeat the previous value; the series is expanded to *every* interval of the Period (the ES A44 2025 file
leaves out 4 of 96 quarter-hours; the BE 60/15 file gives quarter-hour Periods as points 1, 5, 9, ...).
An A03 Period whose position 1 is missing has nothing to repeat and is refused.

Day-ahead and intraday-auction prices (A44)
    ``location`` = the short code of ``in_Domain`` (:mod:`.zones`), ``location_type`` ``bidding_zone``;
    currency ``currency_Unit.name``; unit ``<currency>/<price_Measure_Unit.name>`` with ``MWH`` written
    ``MWh`` (``EUR/MWh``). The market is told by the Period's resolution, so a document mixing PT60M and
    PT15M Periods (``hassentsoe__BE_60M_15M_mix.xml``; SDAC went to a 15-minute MTU for delivery from
    2025-10-01) gives rows in two markets and never mixes lengths in one: ``ENTSOE_DAY_AHEAD_HOURLY``,
    ``ENTSOE_DAY_AHEAD_15MIN``, ``ENTSOE_DAY_AHEAD_30MIN``. ``classificationSequence_AttributeInstance
    Component.position`` (absent = 1) numbers several auctions for one zone: 1 is SDAC; other positions
    are kept apart in their own market, ``ENTSOE_DAY_AHEAD_<LABEL>_<RES>`` where LABEL is ``EXAA`` for
    DE_LU position 2 (EXAA's 10:15 auction, ``hassentsoe__DE_60M_15M_overlap.xml``) and ``SEQ<n>``
    otherwise. ``contract_MarketAgreement.type`` A07 is the SIDC intraday auctions (IDA1 15:00 D-1, IDA2
    22:00 D-1, IDA3 10:00 D for 12:00-24:00, which ``ES_A44_intraday_prices.xml`` shows as positions 1, 2,
    3 with position 3 starting at 10:00Z = 12:00 CEST): market ``ENTSOE_INTRADAY_AUCTION_IDA<n>_<RES>``.

    ``published_at_utc``: SDAC results are published at about 12:45 Brussels time the day before
    delivery (later on decoupling days), so day-ahead rows are published at 12:45 Europe/Brussels on the
    day before the row's Brussels delivery day (EXAA publishes ~10:20; stamping it 12:45 is later than
    the truth, never earlier). IDA rows: 30 minutes after each auction's gate closure (IDA1 D-1 15:30,
    IDA2 D-1 22:30, IDA3 D 10:30 Brussels).

Fundamentals (``market = "ENTSOE"``, ``area`` = short zone code, unit ``MW`` [average power over the
interval] from ``quantity_Measure_Unit.name`` ``MAW``)
    A65 load: ``load`` (A16), ``load_forecast_day_ahead`` (A01), ``load_forecast_week_ahead`` (A31),
    ``load_forecast_month_ahead`` (A32), ``load_forecast_year_ahead`` (A33); businessType A60/A61
    (minimum possible / maximum available, in the week/month/year-ahead forecasts) add ``_min`` / ``_max``.
    A75 generation: ``generation_<type>`` for series with ``inBiddingZone_Domain``, ``consumption_<type>``
    for series with ``outBiddingZone_Domain`` (pumping, storage charging), ``<type>`` from ``psrType``
    (:data:`PSR_TYPES`, e.g. B05 ``fossil_hard_coal``). A68 ``installed_capacity_<type>``. A69
    ``generation_forecast_day_ahead_<type>`` (A01; A18 ``_intraday_``, A40 ``_current_``). A71
    ``generation_forecast_day_ahead_total`` / ``consumption_forecast_day_ahead_total``. A11 ``flow``:
    ``area`` = out_Domain, ``area_to`` = in_Domain (positive from area to area_to). A25 net positions
    ``net_position_day_ahead`` (contract A01) / ``net_position_intraday`` (A07), ``area`` = the zone side,
    positive = export (in_Domain is the region; negated when out_Domain is). A61 ``ntc_day_ahead`` (contract
    A01 or none; A02/A03/A04 week/month/year), ``area`` = out_Domain, ``area_to`` = in_Domain.

    ``published_at_utc`` follows the deadlines of Regulation (EU) 543/2013 (the platform publishes by
    then; stamping the deadline is never earlier than the truth when the TSO is on time): realised load,
    generation, flows and intraday net positions one hour after the interval's end (Art. 6.1.a, 16.1.b,
    12.1.g); day-ahead load forecast 10:00 Brussels D-1 (Art. 6.1.b: two hours before the day-ahead gate
    closure); week-ahead at 10:00 on the Friday before the week (6.1.c); month-ahead one week before the
    month (6.1.d); year-ahead on 16 December 00:00 of the previous year (6.1.e: by the 15th);
    installed capacity at the start of its year (14.1.a); wind/solar and generation forecasts 18:00 D-1
    (14.1.c, 14.1.d); day-ahead net positions as the prices (12:45 D-1); day-ahead NTC 11:00 D-1 (11.1).

GUI CSV export (transparency.entsoe.eu "Export data")
-----------------------------------------------------
``MTU (CET/CEST)`` = ``"DD/MM/YYYY HH:MM[:SS] - DD/MM/YYYY HH:MM[:SS]"`` in CET/CEST wall time; on DST
days the ambiguous or shifted ends carry ``(CET)`` / ``(CEST)`` (``30/03/2025 01:45:00 (CET) - 30/03/2025
03:00:00 (CEST)``, ``26/10/2025 02:00:00 (CEST) - 26/10/2025 02:15:00 (CEST)``), which give the offset;
untagged stamps are unambiguous Europe/Brussels wall times. ``Area`` ``BZN|NO1`` gives the zone (the file
name ``NO1__GUI_...`` when the column is missing). Values ``-`` / ``n/e`` / empty are rows not published
(yet): skipped, never zeros.

``Day-ahead Price (EUR/MWh)``: the export has a 15-minute MTU for all of 2025, but before SDAC's 15-minute
go-live (delivery 2025-10-01) the four quarters of each hour repeat the hourly price; those hours are
collapsed to one ``ENTSOE_DAY_AHEAD_HOURLY`` row (the same series the API's A44 gives, so the sources line
up), and quarters after the go-live (or an hour whose quarters differ) are ``ENTSOE_DAY_AHEAD_15MIN``.
``Sequence`` ``Without Sequence`` / ``Sequence n`` is the classification position. Load export (hourly):
``Actual Total Load (MW)`` -> ``load``, ``Day-ahead Total Load Forecast (MW)`` -> ``load_forecast_day_ahead``.
Hydro reservoirs (weekly, ``"30/12/2024 - 06/01/2025"`` local dates, the second date exclusive):
``hydro_reservoir_storage`` [MWh] over the week, published three days after the week (Art. 16.1.d: the
third working day). Published-at rules as for the API documents.

Cassettes (BrokenRecord.jl YAML) hold ``responses[0].body`` (the document) and ``request.target``
(``/api?documentType=...``); the body is parsed, the target tells the dataset.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

from marketintel.connectors.entsoe.zones import EIC_TO_CODE, REGION_PLACEHOLDER, location_type
from marketintel.ingest.sdk import ParseError

TZ = "Europe/Brussels"
SOURCE = "entsoe"
FUND_MARKET = "ENTSOE"
#: first delivery day of SDAC's 15-minute MTU
SDAC_15MIN_GO_LIVE = pd.Timestamp("2025-10-01")

PSR_TYPES: dict[str, str] = {
    "B01": "biomass",
    "B02": "fossil_brown_coal_lignite",
    "B03": "fossil_coal_derived_gas",
    "B04": "fossil_gas",
    "B05": "fossil_hard_coal",
    "B06": "fossil_oil",
    "B07": "fossil_oil_shale",
    "B08": "fossil_peat",
    "B09": "geothermal",
    "B10": "hydro_pumped_storage",
    "B11": "hydro_run_of_river_and_pondage",
    "B12": "hydro_water_reservoir",
    "B13": "marine",
    "B14": "nuclear",
    "B15": "other_renewable",
    "B16": "solar",
    "B17": "waste",
    "B18": "wind_offshore",
    "B19": "wind_onshore",
    "B20": "other",
    "B25": "energy_storage",
}
RESOLUTION_LABELS = {"PT15M": "15MIN", "PT30M": "30MIN", "PT60M": "HOURLY"}
#: (zone, classification position) -> label of the auction in the market name
SEQUENCE_LABELS = {("DE_LU", 2): "EXAA"}
#: intraday auction n -> (days before delivery, hour, minute) of its results, Brussels time
IDA_PUBLICATION = {1: (1, 15, 30), 2: (1, 22, 30), 3: (0, 10, 30)}
LOAD_VARIABLES = {
    "A16": "load",
    "A01": "load_forecast_day_ahead",
    "A31": "load_forecast_week_ahead",
    "A32": "load_forecast_month_ahead",
    "A33": "load_forecast_year_ahead",
}
HORIZONS = {"A01": "day_ahead", "A18": "intraday", "A40": "current"}
CONTRACT_HORIZONS = {"A01": "day_ahead", "A02": "week_ahead", "A03": "month_ahead", "A04": "year_ahead"}
UNITS = {"MAW": "MW", "MWH": "MWh", "KWH": "kWh", "MW": "MW"}

#: (documentType, processType or contract type or "") -> dataset name
DOC_DATASETS: dict[tuple[str, str], str] = {
    ("A44", "A01"): "day_ahead_prices",
    ("A44", "A07"): "intraday_auction_prices",
    ("A65", "A16"): "load_actual",
    ("A65", "A01"): "load_forecast_day_ahead",
    ("A65", "A31"): "load_forecast_week_ahead",
    ("A65", "A32"): "load_forecast_month_ahead",
    ("A65", "A33"): "load_forecast_year_ahead",
    ("A75", "A16"): "generation_actual_per_type",
    ("A68", "A33"): "installed_capacity_per_type",
    ("A69", "A01"): "wind_solar_forecast_day_ahead",
    ("A71", "A01"): "generation_forecast_day_ahead",
    ("A11", ""): "physical_flows",
    ("A25", "A01"): "net_position_day_ahead",
    ("A25", "A07"): "net_position_intraday",
    ("A61", "A01"): "ntc_day_ahead",
}
#: datasets whose key is the contract type (``contract_MarketAgreement.type``) rather than the process type
CONTRACT_KEYED = ("A44", "A25", "A61")
#: the data item of an acknowledgement's reason text -> dataset (e.g. "ENERGY_PRICES [12.1.D]")
ARTICLE_DATASETS = {
    "12.1.D": "day_ahead_prices",
    "6.1.A": "load_actual",
    "6.1.B": "load_forecast_day_ahead",
    "16.1.B": "generation_actual_per_type",
    "16.1.C": "generation_actual_per_type",
    "14.1.A": "installed_capacity_per_type",
    "14.1.C": "generation_forecast_day_ahead",
    "14.1.D": "wind_solar_forecast_day_ahead",
    "12.1.G": "physical_flows",
}

PRICE_COLUMNS = [
    "interval_start_utc", "interval_end_utc", "market", "location", "location_type", "price", "energy",
    "congestion", "loss", "currency", "unit", "revision", "source", "fidelity", "published_at_utc",
]  # fmt: skip
FUND_COLUMNS = [
    "interval_start_utc", "interval_end_utc", "market", "area", "area_to", "variable", "value", "unit",
    "source", "fidelity", "published_at_utc",
]  # fmt: skip
_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
_FIXED_STEPS = {"M": 60, "H": 3600}
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
_MS = np.int64(1_000_000)  # ns per ms


# ------------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------------
def _ln(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _utc_ms(ns: np.ndarray[Any, Any]) -> pd.Series:
    """int64 epoch nanoseconds -> a ``datetime64[ms, UTC]`` Series."""
    return pd.Series(pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC").as_unit("ms"))


def _stamp_ns(text: str | None, what: str) -> int:
    if not text:
        raise ParseError(f"missing {what}")
    try:
        return int(np.datetime64(text.strip().rstrip("Z"), "ns").astype(np.int64))
    except ValueError:
        raise ParseError(f"unreadable {what} {text!r} (expected YYYY-MM-DDTHH:MMZ)") from None


def _step_ns(resolution: str) -> int | None:
    """Nanoseconds of a fixed ISO 8601 resolution (PT15M, PT60M, P1D, P7D); None for P1M / P1Y."""
    if resolution in ("P1M", "P1Y"):
        return None
    m = _ISO_DURATION.match(resolution)
    if not m or not any(m.groups()):
        raise ParseError(f"unknown Period resolution {resolution!r}")
    days, hours, minutes = (int(g) if g else 0 for g in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 * 1_000_000_000


def _calendar_bounds(start: int, end: int, resolution: str) -> np.ndarray[Any, Any]:
    """Boundaries of a P1M / P1Y Period, stepping calendar months in Brussels time."""
    months = 12 if resolution == "P1Y" else 1
    local = pd.Timestamp(start, tz="UTC").tz_convert(TZ)
    bounds = [start]
    k = 1
    while bounds[-1] < end:
        nxt = (local + pd.DateOffset(months=months * k)).tz_convert("UTC").value
        bounds.append(min(nxt, end))
        k += 1
    return np.asarray(bounds, dtype=np.int64)


def _local_days(start_ns: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Return (unique Brussels delivery dates as naive datetime64[ns], inverse index) of UTC instants."""
    local = pd.DatetimeIndex(start_ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(TZ)
    naive = local.tz_localize(None).normalize().asi8
    days, inverse = np.unique(naive, return_inverse=True)
    return days, inverse


def _brussels_wall(naive_ns: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Brussels wall times (naive ns) -> UTC ns; wall times used here are never ambiguous."""
    idx = pd.DatetimeIndex(naive_ns.astype("datetime64[ns]")).tz_localize(TZ, ambiguous="raise")
    return idx.tz_convert("UTC").asi8


def published_day_before(
    start_ns: np.ndarray[Any, Any], days_before: int, hour: int, minute: int = 0
) -> np.ndarray[Any, Any]:
    """UTC [ns] of ``hour:minute`` Brussels time ``days_before`` days before each row's delivery day."""
    days, inverse = _local_days(start_ns)
    offset = (np.int64(-days_before * 86400) + np.int64(hour * 3600 + minute * 60)) * np.int64(1_000_000_000)
    out: np.ndarray[Any, Any] = _brussels_wall(days + offset)[inverse]
    return out


def _published_calendar(start_ns: np.ndarray[Any, Any], rule: str) -> np.ndarray[Any, Any]:
    """Week-, month- and year-ahead publication instants (see the module docstring)."""
    days, inverse = _local_days(start_ns)
    d = pd.DatetimeIndex(days.astype("datetime64[ns]"))
    if rule == "week":
        wall = d - pd.to_timedelta(d.dayofweek + 3, unit="D") + pd.Timedelta(hours=10)
    elif rule == "month":
        wall = d.to_period("M").to_timestamp() - pd.Timedelta(days=7)
    elif rule == "year":
        wall = d.to_period("Y").to_timestamp() - pd.Timedelta(days=16)
    else:  # "year_start"
        wall = d.to_period("Y").to_timestamp()
    out: np.ndarray[Any, Any] = _brussels_wall(wall.as_unit("ns").asi8)[inverse]
    return out


def _zone(eic: str | None, what: str) -> str:
    if not eic:
        raise ParseError(f"TimeSeries without {what}")
    try:
        return EIC_TO_CODE[eic]
    except KeyError:
        raise ParseError(
            f"unknown area EIC {eic!r} in {what}; add it to connectors/entsoe/zones.py"
        ) from None


# ------------------------------------------------------------------------------------------------------
# XML documents
# ------------------------------------------------------------------------------------------------------
class _Doc:
    """A parsed document: root kind, type, process type and the expanded points of every TimeSeries."""

    def __init__(self, body: bytes) -> None:
        if not body or not body.strip():
            raise ParseError("empty body")
        head = body.lstrip()[:100].lower()
        if head.startswith((b"<!doctype", b"<html")):
            raise ParseError("an HTML page instead of an ENTSO-E document (error or maintenance page?)")
        try:
            self.root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise ParseError(f"malformed XML: {exc}") from None
        tag = self.root.tag
        self.ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        self.kind = _ln(tag)
        self.type = self.root.findtext(self.ns + "type") or ""
        self.process = self.root.findtext(self.ns + "process.processType") or ""

    def reason(self) -> tuple[str, str]:
        ns = self.ns
        reason = self.root.find(ns + "Reason")
        if reason is None:
            return "", ""
        return (reason.findtext(ns + "code") or "").strip(), (reason.findtext(ns + "text") or "").strip()

    def series(
        self,
    ) -> tuple[list[dict[str, str]], list[tuple[int, str, int]], dict[str, np.ndarray[Any, Any]]]:
        """Return (per-series header fields, segments, row arrays start/end/value [ns, ns, -]).

        A segment is one Period's rows: (series index, resolution, row count), in row order. Rows of A03
        series are expanded to every interval of their Period; A01 rows are the points.
        """
        ns = self.ns
        t_series, t_period, t_res, t_ti = (
            ns + "TimeSeries",
            ns + "Period",
            ns + "resolution",
            ns + "timeInterval",
        )
        t_start, t_end, t_pos, t_curve = ns + "start", ns + "end", ns + "position", ns + "curveType"
        t_psr = f"{ns}MktPSRType/{ns}psrType"
        t_qty, t_price = ns + "quantity", ns + "price.amount"
        headers: list[dict[str, str]] = []
        segments: list[tuple[int, str, int]] = []
        starts: list[np.ndarray[Any, Any]] = []
        ends: list[np.ndarray[Any, Any]] = []
        values: list[np.ndarray[Any, Any]] = []
        for ts in self.root.iter(t_series):
            head = {_ln(c.tag): (c.text or "").strip() for c in ts if len(c) == 0}
            psr = ts.findtext(t_psr)
            if psr:
                head["psrType"] = psr.strip()
            curve = ts.findtext(t_curve) or "A01"
            for period in ts.iter(t_period):
                ti = period.find(t_ti)
                if ti is None:
                    raise ParseError("Period without timeInterval")
                p_start = _stamp_ns(ti.findtext(t_start), "Period start")
                p_end = _stamp_ns(ti.findtext(t_end), "Period end")
                res = (period.findtext(t_res) or "").strip()
                step = _step_ns(res)
                if step is None:
                    bounds = _calendar_bounds(p_start, p_end, res)
                else:
                    span = p_end - p_start
                    if span <= 0 or span % step:
                        raise ParseError(f"Period {p_start}..{p_end} is not a whole number of {res}")
                    bounds = p_start + step * np.arange(span // step + 1, dtype=np.int64)
                n = len(bounds) - 1
                pos_txt = [e.text for e in period.iter(t_pos)]
                val_txt = [e.text for e in period.iter(t_qty)] or [e.text for e in period.iter(t_price)]
                if len(pos_txt) != len(val_txt):
                    raise ParseError(
                        f"Period starting {res} at {np.datetime64(p_start, 'ns')}: {len(pos_txt)} positions"
                        f" but {len(val_txt)} values"
                    )
                if not pos_txt:
                    continue
                try:
                    pos = np.array(pos_txt).astype(np.int64)
                    val = np.array(val_txt).astype(np.float64)
                except (ValueError, TypeError):
                    raise ParseError(f"non-numeric position or value in a {res} Period") from None
                if pos.min() < 1 or pos.max() > n:
                    raise ParseError(f"position outside 1..{n} in a {res} Period of {n} intervals")
                if len(pos) > 1 and np.any(np.diff(pos) <= 0):
                    order = np.argsort(pos, kind="stable")
                    pos, val = pos[order], val[order]
                    if np.any(np.diff(pos) == 0):
                        raise ParseError(f"position repeated in a {res} Period")
                if curve == "A03":
                    if pos[0] != 1:
                        raise ParseError("curveType A03 Period without position 1: nothing to repeat")
                    marker = np.full(n, -1, dtype=np.int64)
                    marker[pos - 1] = np.arange(len(pos))
                    val = val[np.maximum.accumulate(marker)]
                    slot = np.arange(n)
                elif curve == "A01":
                    slot = pos - 1
                else:
                    raise ParseError(f"unknown curveType {curve!r}")
                starts.append(bounds[slot])
                ends.append(bounds[slot + 1])
                values.append(val)
                segments.append((len(headers), res, len(slot)))
            headers.append(head)
        cat = {
            "start": np.concatenate(starts) if starts else np.zeros(0, np.int64),
            "end": np.concatenate(ends) if ends else np.zeros(0, np.int64),
            "value": np.concatenate(values) if values else np.zeros(0),
        }
        return headers, segments, cat


def doc_dataset(doc: _Doc) -> str | None:
    """Return the dataset of a Publication / GL document (None for acknowledgements and unknown kinds)."""
    if doc.kind == "Acknowledgement_MarketDocument":
        return None
    if doc.type in CONTRACT_KEYED:
        contract = ""
        for el in doc.root.iter():
            if _ln(el.tag).lower() == "contract_marketagreement.type":
                contract = (el.text or "").strip()
                break
        return DOC_DATASETS.get((doc.type, contract or "A01"))
    return DOC_DATASETS.get((doc.type, doc.process if doc.type != "A11" else ""))


def ack_dataset(text: str) -> str | None:
    """Return the dataset an acknowledgement's reason text names (``... ENERGY_PRICES [12.1.D] ...``)."""
    m = re.search(r"\[(\d+\.\d+\.[A-Z])\]", text)
    return ARTICLE_DATASETS.get(m.group(1)) if m else None


def _empty(table: str) -> pd.DataFrame:
    cols = PRICE_COLUMNS if table == "prices" else FUND_COLUMNS
    out = pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    for c in ("interval_start_utc", "interval_end_utc", "published_at_utc"):
        out[c] = pd.Series([], dtype="datetime64[ms, UTC]")
    for c in ("price", "energy", "congestion", "loss", "value"):
        if c in out:
            out[c] = pd.Series([], dtype=float)
    return out


def _order_segments(
    keys: Sequence[tuple[str, ...]], counts: list[int], starts: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], bool]:
    """Return the row order that sorts segments by (key, first start), and whether that order is final.

    Rows of a segment share their key and have strictly increasing starts, so ordering the few segments
    orders the rows; the order is final (sorted, no repeated interval) when consecutive segments of one
    key do not overlap. Otherwise the frame is sorted and de-duplicated row by row.
    """
    offs = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    segs = [k for k in range(len(keys)) if counts[k]]
    segs.sort(key=lambda k: (keys[k], int(starts[offs[k]])))
    if not segs:
        return np.zeros(0, dtype=np.int64), True
    perm = np.concatenate([np.arange(offs[k], offs[k + 1]) for k in segs])
    clean = all(
        keys[a] != keys[b] or starts[offs[b]] > starts[offs[a + 1] - 1] for a, b in itertools.pairwise(segs)
    )
    return perm, clean


def _finish(
    frame: pd.DataFrame, order: list[str], key: list[str], what: str, presorted: bool = False
) -> pd.DataFrame:
    """Drop identical repeats, refuse conflicting ones, sort by the table's order."""
    if presorted:
        return frame
    dup = frame.duplicated(key, keep=False)
    if dup.any():
        valcol = "price" if "price" in frame else "value"
        clash = frame[dup].drop_duplicates([*key, valcol]).duplicated(key, keep=False)
        if clash.any():
            first = frame[dup][key].iloc[0].to_dict()
            raise ParseError(f"{what}: conflicting values for the same interval, e.g. {first}")
        frame = frame.drop_duplicates(key)
    return frame.sort_values(order, ignore_index=True, kind="stable")


def _price_frame(
    start: np.ndarray[Any, Any],
    end: np.ndarray[Any, Any],
    market: np.ndarray[Any, Any],
    location: np.ndarray[Any, Any],
    loc_type: np.ndarray[Any, Any],
    price: np.ndarray[Any, Any],
    currency: np.ndarray[Any, Any],
    unit: np.ndarray[Any, Any],
    published: np.ndarray[Any, Any],
    presorted: bool = False,
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "interval_start_utc": _utc_ms(start),
            "interval_end_utc": _utc_ms(end),
            "market": market,
            "location": location,
            "location_type": loc_type,
            "price": price,
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": currency,
            "unit": unit,
            "revision": "",
            "source": SOURCE,
            "fidelity": "official",
            "published_at_utc": _utc_ms(published),
        }
    )
    return _finish(
        frame,
        _PRICE_ORDER,
        [*_PRICE_ORDER[:-1], "interval_end_utc", "published_at_utc"],
        "prices",
        presorted,
    )


def _fund_frame(
    start: np.ndarray[Any, Any],
    end: np.ndarray[Any, Any],
    area: np.ndarray[Any, Any],
    area_to: np.ndarray[Any, Any] | str,
    variable: np.ndarray[Any, Any],
    value: np.ndarray[Any, Any],
    unit: np.ndarray[Any, Any] | str,
    published: np.ndarray[Any, Any],
    presorted: bool = False,
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "interval_start_utc": _utc_ms(start),
            "interval_end_utc": _utc_ms(end),
            "market": FUND_MARKET,
            "area": area,
            "area_to": area_to,
            "variable": variable,
            "value": value,
            "unit": unit,
            "source": SOURCE,
            "fidelity": "official",
            "published_at_utc": _utc_ms(published),
        }
    )
    key = [*_FUND_ORDER[:-1], "interval_end_utc", "published_at_utc"]
    return _finish(frame, _FUND_ORDER, key, "fundamentals", presorted)


def _price_unit(currency: str, measure: str) -> str:
    return f"{currency}/{UNITS.get(measure.upper(), measure)}"


def _price_series(h: dict[str, str], res: str) -> tuple[str, str, str, str, tuple[int, int, int]]:
    """Return (market, zone, currency, unit, publication rule) of one A44 TimeSeries' Period."""
    zone = _zone(h.get("in_Domain.mRID") or h.get("out_Domain.mRID"), "in_Domain")
    contract = h.get("contract_MarketAgreement.type", "A01") or "A01"
    position = int(h.get("classificationSequence_AttributeInstanceComponent.position") or 1)
    label = RESOLUTION_LABELS.get(res)
    if label is None:
        raise ParseError(f"price resolution {res!r} has no market (expected PT15M, PT30M or PT60M)")
    if contract == "A01":
        seq = "" if position == 1 else SEQUENCE_LABELS.get((zone, position), f"SEQ{position}") + "_"
        market, rule = f"ENTSOE_DAY_AHEAD_{seq}{label}", (1, 12, 45)
    elif contract == "A07":
        if position not in IDA_PUBLICATION:
            raise ParseError(f"intraday auction position {position} is not IDA1..IDA3")
        market, rule = f"ENTSOE_INTRADAY_AUCTION_IDA{position}_{label}", IDA_PUBLICATION[position]
    else:
        raise ParseError(f"A44 contract_MarketAgreement.type {contract!r} is not day-ahead (A01) or A07")
    currency = h.get("currency_Unit.name", "")
    if not currency:
        raise ParseError("A44 TimeSeries without currency_Unit.name")
    return market, zone, currency, _price_unit(currency, h.get("price_Measure_Unit.name", "MWH")), rule


def _prices(doc: _Doc) -> pd.DataFrame:
    headers, segments, rows = doc.series()
    if not len(rows["start"]):
        return _empty("prices")
    cache: dict[tuple[int, str], tuple[str, str, str, str, tuple[int, int, int]]] = {}
    fields = []
    for k, res, _ in segments:
        if (k, res) not in cache:
            cache[(k, res)] = _price_series(headers[k], res)
        fields.append(cache[(k, res)])
    counts = [n for _, _, n in segments]
    seg_of_row = np.repeat(np.arange(len(segments)), counts)
    start = rows["start"]
    published = np.empty(len(start), dtype=np.int64)
    rules = [f[4] for f in fields]
    for rule in set(rules):
        sel = np.repeat(np.asarray([r == rule for r in rules]), counts)
        published[sel] = published_day_before(start[sel], *rule)
    perm, clean = _order_segments([(f[0], f[1]) for f in fields], counts, start)
    seg_of_row = seg_of_row[perm]

    def col(i: int) -> np.ndarray[Any, Any]:
        out: np.ndarray[Any, Any] = np.asarray([f[i] for f in fields], dtype=object)[seg_of_row]
        return out

    return _price_frame(
        start[perm],
        rows["end"][perm],
        col(0),
        col(1),
        np.asarray([location_type(f[1]) for f in fields], dtype=object)[seg_of_row],
        rows["value"][perm],
        col(2),
        col(3),
        published[perm],
        clean,
    )


def _psr(h: dict[str, str]) -> str:
    code = h.get("psrType", "")
    if not code:
        return "total"
    return PSR_TYPES.get(code, f"psr_{code.lower()}")


def _series_fields(doc: _Doc, h: dict[str, str]) -> tuple[str, str, str, str]:
    """Return (area, area_to, variable, publication rule) of one TimeSeries of a fundamentals document."""
    t = doc.type
    if t == "A65":
        if doc.process not in LOAD_VARIABLES:
            raise ParseError(f"A65 processType {doc.process!r} is not one of {sorted(LOAD_VARIABLES)}")
        suffix = {"A60": "_min", "A61": "_max"}.get(h.get("businessType", ""), "")
        area = _zone(h.get("outBiddingZone_Domain.mRID"), "outBiddingZone_Domain")
        rule = {"A16": "actual", "A01": "day_ahead_10", "A31": "week", "A32": "month", "A33": "year"}[
            doc.process
        ]
        return area, "", LOAD_VARIABLES[doc.process] + suffix, rule
    if t in ("A75", "A68", "A69", "A71"):
        inside = h.get("inBiddingZone_Domain.mRID")
        area = _zone(inside or h.get("outBiddingZone_Domain.mRID"), "in/outBiddingZone_Domain")
        if t == "A75":
            return area, "", ("generation_" if inside else "consumption_") + _psr(h), "actual"
        if t == "A68":
            return area, "", "installed_capacity_" + _psr(h), "year_start"
        horizon = HORIZONS.get(doc.process)
        if horizon is None:
            raise ParseError(f"{t} processType {doc.process!r} is not one of {sorted(HORIZONS)}")
        rule = "day_ahead_18" if horizon == "day_ahead" else "actual"
        if t == "A69":
            return area, "", f"generation_forecast_{horizon}_{_psr(h)}", rule
        kind = "generation" if inside else "consumption"
        return area, "", f"{kind}_forecast_{horizon}_total", rule
    if t == "A11":
        out = _zone(h.get("out_Domain.mRID"), "out_Domain")
        return out, _zone(h.get("in_Domain.mRID"), "in_Domain"), "flow", "actual"
    if t == "A25":
        contract = h.get("contract_MarketAgreement.type", "A01")
        horizon = {"A01": "day_ahead", "A07": "intraday"}.get(contract)
        if horizon is None:
            raise ParseError(f"A25 contract type {contract!r} is not A01 or A07")
        out, into = h.get("out_Domain.mRID", ""), h.get("in_Domain.mRID", "")
        if into.startswith("REGION") or into == REGION_PLACEHOLDER:
            area, sign = _zone(out, "out_Domain"), "+"
        elif out.startswith("REGION"):
            area, sign = _zone(into, "in_Domain"), "-"
        else:
            raise ParseError(f"A25 net position without a REGION side: out {out!r}, in {into!r}")
        return area, sign, f"net_position_{horizon}", "day_ahead_1245" if horizon == "day_ahead" else "actual"
    if t == "A61":
        contract = h.get("contract_MarketAgreement.type", "A01") or "A01"
        horizon = CONTRACT_HORIZONS.get(contract)
        if horizon is None:
            raise ParseError(f"A61 contract type {contract!r} is not one of {sorted(CONTRACT_HORIZONS)}")
        out = _zone(h.get("out_Domain.mRID"), "out_Domain")
        return out, _zone(h.get("in_Domain.mRID"), "in_Domain"), f"ntc_{horizon}", "ntc"
    raise ParseError(f"document type {t!r} is not handled")


def _published(rule: str, start: np.ndarray[Any, Any], end: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    hour_ns = np.int64(3_600_000_000_000)
    if rule == "actual":
        return end + hour_ns
    if rule == "day_ahead_10":
        return published_day_before(start, 1, 10)
    if rule == "day_ahead_18":
        return published_day_before(start, 1, 18)
    if rule == "day_ahead_1245":
        return published_day_before(start, 1, 12, 45)
    if rule == "ntc":
        return published_day_before(start, 1, 11)
    if rule == "weekly_plus3":
        return end + 3 * 24 * hour_ns
    return _published_calendar(start, rule)


def _fundamentals(doc: _Doc) -> pd.DataFrame:
    headers, segments, rows = doc.series()
    if not len(rows["start"]):
        return _empty("fundamentals")
    fields = [_series_fields(doc, h) for h in headers]
    series_of_row = np.repeat(
        np.asarray([k for k, _, _ in segments], dtype=np.int64), [n for _, _, n in segments]
    )
    value = rows["value"]
    area_to = []
    for k, (_, to, _, _) in enumerate(fields):
        if doc.type == "A25":
            if to == "-":
                value = np.where(series_of_row == k, -value, value)
            area_to.append("")
        else:
            area_to.append(to)
    start, end = rows["start"], rows["end"]
    published = np.empty(len(start), dtype=np.int64)
    rules = [f[3] for f in fields]
    for rule in set(rules):
        sel = np.isin(series_of_row, [k for k, r in enumerate(rules) if r == rule])
        published[sel] = _published(rule, start[sel], end[sel])
    unit = [UNITS.get(h.get("quantity_Measure_Unit.name", "MAW").upper(), "MW") for h in headers]
    seg_keys = [(fields[k][0], area_to[k], fields[k][2]) for k, _, _ in segments]
    perm, clean = _order_segments(seg_keys, [n for _, _, n in segments], start)
    series_of_row = series_of_row[perm]
    return _fund_frame(
        start[perm],
        end[perm],
        np.asarray([f[0] for f in fields], dtype=object)[series_of_row],
        np.asarray(area_to, dtype=object)[series_of_row],
        np.asarray([f[2] for f in fields], dtype=object)[series_of_row],
        value[perm],
        np.asarray(unit, dtype=object)[series_of_row],
        published[perm],
        clean,
    )


def parse_document(body: bytes, table: str, expected: str | None = None) -> pd.DataFrame:
    """Map an ENTSO-E XML document to ``prices`` or ``fundamentals`` rows.

    Parameters
    ----------
    body : bytes
        The document as served (a cassette's body).
    table : str
        The table of the dataset the payload was fetched for (an acknowledgement maps to an empty frame of
        it).
    expected : str, optional
        The dataset the payload was fetched for; a document of another dataset is refused.
    """
    doc = _Doc(body)
    if doc.kind == "Acknowledgement_MarketDocument":
        code, text = doc.reason()
        if code == "999":
            return _empty(table)
        raise ParseError(f"ENTSO-E refused the request (reason {code or '?'}): {text or '(no text)'}")
    if doc.kind not in ("Publication_MarketDocument", "GL_MarketDocument"):
        raise ParseError(f"not an ENTSO-E market document: root <{doc.kind}>")
    found = doc_dataset(doc)
    if found is None:
        raise ParseError(f"document type {doc.type!r} / process {doc.process!r} is not a known dataset")
    if expected is not None and found != expected:
        raise ParseError(f"the document is {found} ({doc.type}/{doc.process}), not {expected}")
    return _prices(doc) if doc.type == "A44" else _fundamentals(doc)


# ------------------------------------------------------------------------------------------------------
# cassettes
# ------------------------------------------------------------------------------------------------------
def is_cassette(body: bytes) -> bool:
    """Whether ``body`` is a BrokenRecord.jl / VCR YAML recording."""
    return body.lstrip()[:40].startswith((b"responses:", b"interactions:", b"---"))


def unwrap_cassette(body: bytes) -> tuple[bytes, dict[str, str]]:
    """Return (response body, request query parameters) of a one-request cassette."""
    import yaml  # type: ignore[import-untyped]

    try:
        loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(body, Loader=loader)  # a safe loader
    except yaml.YAMLError as exc:
        raise ParseError(f"unreadable cassette YAML: {exc}") from None
    try:
        response = data["responses"][0]
        text = response["body"]
        status = int(response.get("status", 200))
        target = str(response.get("request", {}).get("target", ""))
    except (KeyError, IndexError, TypeError):
        raise ParseError("cassette without responses[0].body") from None
    if status != 200:
        raise ParseError(f"the cassette recorded HTTP {status}")
    params = dict(parse_qsl(urlsplit(target).query))
    return (text.encode() if isinstance(text, str) else bytes(text)), params


def params_dataset(params: dict[str, str]) -> str | None:
    """Return the dataset of a request's query parameters (documentType, processType, contract type)."""
    lower = {k.lower(): v for k, v in params.items()}
    doc_type = lower.get("documenttype", "")
    if doc_type in CONTRACT_KEYED:
        return DOC_DATASETS.get((doc_type, lower.get("contract_marketagreement.type", "A01")))
    if doc_type == "A11":
        return DOC_DATASETS.get(("A11", ""))
    return DOC_DATASETS.get((doc_type, lower.get("processtype", "")))


# ------------------------------------------------------------------------------------------------------
# GUI CSV exports
# ------------------------------------------------------------------------------------------------------
GUI_HEADERS = {
    "gui_day_ahead_prices": "Day-ahead Price",
    "gui_load": "Actual Total Load",
    "gui_hydro_reservoirs": "Energy (MWh)",
}
_MISSING = {"", "-", "n/e", "N/A", "n/a"}
_TAG_OFFSET = {"CET": 1, "CEST": 2}


def _gui_frame(body: bytes) -> pd.DataFrame:
    if not body.strip():
        raise ParseError("empty body")
    import io

    try:
        return pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParseError(f"unreadable GUI export CSV: {exc}") from None


def _gui_zone(frame: pd.DataFrame, filename: str) -> str:
    if "Area" in frame and len(frame):
        areas = frame["Area"].str.split("|").str[-1].str.strip().unique()
        if len(areas) != 1:
            raise ParseError(f"a GUI export with several areas: {list(areas)[:5]}")
        return str(areas[0])
    m = re.match(r"([A-Z0-9_]+?)__GUI_", filename.rsplit("/", 1)[-1])
    if not m:
        raise ParseError("GUI export without an Area column and without the zone in its file name")
    return m.group(1)


def _gui_stamps(text: pd.Series, what: str) -> np.ndarray[Any, Any]:
    """``DD/MM/YYYY HH:MM[:SS][ (CET|CEST)]`` CET/CEST wall times -> UTC ns."""
    parts = text.str.extract(r"^\s*(\d{2}/\d{2}/\d{4} \d{2}:\d{2})(?::\d{2})?\s*(?:\((CET|CEST)\))?\s*$")
    if parts[0].isna().any():
        bad = text[parts[0].isna()].iloc[0]
        raise ParseError(f"unreadable {what} stamp {bad!r} (expected DD/MM/YYYY HH:MM[:SS] [(CET|CEST)])")
    wall = pd.DatetimeIndex(pd.to_datetime(parts[0], format="%d/%m/%Y %H:%M")).as_unit("ns")
    tag = parts[1].fillna("").to_numpy()
    tagged = tag != ""
    out = np.empty(len(wall), dtype=np.int64)
    if tagged.any():
        offset = np.where(tag[tagged] == "CEST", 2, 1).astype(np.int64) * np.int64(3_600_000_000_000)
        out[tagged] = wall.asi8[tagged] - offset
    if (~tagged).any():
        try:
            local = wall[~tagged].tz_localize(TZ, ambiguous="raise", nonexistent="raise")
        except ValueError as exc:
            raise ParseError(
                f"{what}: an untagged wall time that is ambiguous or missing in CET/CEST: {exc}"
            ) from None
        out[~tagged] = local.tz_convert("UTC").as_unit("ns").asi8
    return out


def _gui_mtu(frame: pd.DataFrame, column: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    pair = frame[column].str.split(" - ", n=1, expand=True, regex=False)
    if pair.shape[1] != 2 or pair[1].isna().any():
        raise ParseError(f"{column}: expected 'start - end' intervals")
    start, end = _gui_stamps(pair[0], column), _gui_stamps(pair[1], column)
    if np.any(end <= start):
        raise ParseError(f"{column}: an interval that does not end after it starts")
    return start, end


def gui_mtu(body: bytes) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Return the UTC [ns] starts and ends of every MTU row of a GUI export (first column), as exported."""
    frame = _gui_frame(body)
    return _gui_mtu(frame, str(frame.columns[0]))


def _numbers(values: pd.Series, what: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    text = values.str.strip()
    present = ~text.isin(_MISSING).to_numpy()
    try:
        numbers = text[present].str.replace(",", "", regex=False).astype(float).to_numpy()
    except ValueError:
        raise ParseError(f"non-numeric value in {what}") from None
    return present, numbers


def parse_gui_prices(body: bytes, filename: str = "") -> pd.DataFrame:
    """Map a GUI ``Energy Prices`` export to ``prices`` rows (see the module docstring)."""
    frame = _gui_frame(body)
    col = next((c for c in frame.columns if c.startswith("Day-ahead Price")), None)
    mtu = next((c for c in frame.columns if c.startswith("MTU")), None)
    if col is None or mtu is None:
        raise ParseError(
            f"not a GUI prices export: no MTU / 'Day-ahead Price (...)' column in {list(frame.columns)}"
        )
    m = re.search(r"\((\w+)/(\w+)\)", col)
    if not m:
        raise ParseError(f"no currency/unit in {col!r}")
    currency, unit = m.group(1), f"{m.group(1)}/{m.group(2)}"
    for extra in ("Intraday Price (EUR/MWh)",):
        if extra in frame and (~frame[extra].str.strip().isin(_MISSING)).any():
            raise ParseError(f"the GUI export has {extra!r} values, which this parser does not map yet")
    zone = _gui_zone(frame, filename)
    start, end = _gui_mtu(frame, mtu)
    present, price = _numbers(frame[col], col)
    start, end = start[present], end[present]
    seq_text = frame["Sequence"].to_numpy()[present] if "Sequence" in frame else np.full(len(start), "")
    seq = np.array([int(s.split()[-1]) if s.strip().startswith("Sequence") else 1 for s in seq_text])
    length = (end - start) // np.int64(60_000_000_000)
    hour_ns = np.int64(3_600_000_000_000)
    days, inverse = _local_days(start)
    before = (days < SDAC_15MIN_GO_LIVE.value)[inverse]
    # collapse quarter-hours before the go-live whose four quarters repeat the hourly price
    hour = start - (start % hour_ns)
    keys = pd.DataFrame({"h": hour, "s": seq, "p": price, "q": length == 15})
    grp = keys.groupby(["h", "s"], sort=False)
    n_q = grp["q"].transform("sum").to_numpy()
    spread = (grp["p"].transform("max") - grp["p"].transform("min")).to_numpy()
    collapse = before & (length == 15) & (n_q == 4) & (spread == 0)
    first_q = collapse & (start == hour)
    keep = ~collapse | first_q
    out_start = start[keep]
    out_end = np.where(collapse[keep], out_start + hour_ns, end[keep])
    out_len = (out_end - out_start) // np.int64(60_000_000_000)
    labels = {15: "15MIN", 30: "30MIN", 60: "HOURLY"}
    if not np.isin(out_len, list(labels)).all():
        raise ParseError(f"{mtu}: interval lengths {sorted(set(out_len.tolist()))} min are not 15, 30 or 60")
    res = np.array([labels[int(x)] for x in out_len], dtype=object)
    seq_k = seq[keep]
    seq_label = np.array(
        ["" if s == 1 else SEQUENCE_LABELS.get((zone, int(s)), f"SEQ{s}") + "_" for s in seq_k], dtype=object
    )
    market = "ENTSOE_DAY_AHEAD_" + seq_label + res
    return _price_frame(
        out_start,
        out_end,
        market,
        np.full(len(out_start), zone, dtype=object),
        np.full(len(out_start), location_type(zone), dtype=object),
        price[keep],
        np.full(len(out_start), currency, dtype=object),
        np.full(len(out_start), unit, dtype=object),
        published_day_before(out_start, 1, 12, 45),
    )


GUI_LOAD_COLUMNS = {
    "Actual Total Load (MW)": ("load", "actual"),
    "Day-ahead Total Load Forecast (MW)": ("load_forecast_day_ahead", "day_ahead_10"),
}


def parse_gui_load(body: bytes, filename: str = "") -> pd.DataFrame:
    """Map a GUI ``Total Load - Day Ahead / Actual`` export to ``fundamentals`` rows [MW]."""
    frame = _gui_frame(body)
    mtu = next((c for c in frame.columns if c.startswith("MTU")), None)
    if mtu is None:
        raise ParseError("not a GUI load export: no MTU column")
    unknown = [c for c in frame.columns if c not in (mtu, "Area", *GUI_LOAD_COLUMNS)]
    if unknown:
        raise ParseError(f"GUI load export with unknown columns {unknown}")
    zone = _gui_zone(frame, filename)
    start, end = _gui_mtu(frame, mtu)
    parts = []
    for col, (variable, rule) in GUI_LOAD_COLUMNS.items():
        if col not in frame:
            continue
        present, value = _numbers(frame[col], col)
        s, e = start[present], end[present]
        parts.append(
            _fund_frame(s, e, np.full(len(s), zone, dtype=object), "",
                        np.full(len(s), variable, dtype=object),
                        value, "MW", _published(rule, s, e))
        )  # fmt: skip
    if not parts:
        raise ParseError(f"GUI load export without {list(GUI_LOAD_COLUMNS)}")
    return pd.concat(parts, ignore_index=True).sort_values(_FUND_ORDER, ignore_index=True)


def parse_gui_hydro(body: bytes, filename: str = "") -> pd.DataFrame:
    """Map a GUI ``Water Reservoirs and Hydro Storage Plants`` export to weekly ``fundamentals`` [MWh]."""
    frame = _gui_frame(body)
    need = ("Time Interval", "Energy (MWh)")
    if any(c not in frame for c in need):
        raise ParseError(f"not a GUI hydro reservoir export: columns {list(frame.columns)}")
    zone = _gui_zone(frame, filename)
    present, value = _numbers(frame["Energy (MWh)"], "Energy (MWh)")
    pair = frame["Time Interval"][present].str.split(" - ", n=1, expand=True, regex=False)
    try:
        a = pd.DatetimeIndex(pd.to_datetime(pair[0].str.strip(), format="%d/%m/%Y")).as_unit("ns").asi8
        b = pd.DatetimeIndex(pd.to_datetime(pair[1].str.strip(), format="%d/%m/%Y")).as_unit("ns").asi8
    except (ValueError, KeyError):
        raise ParseError("Time Interval: expected 'DD/MM/YYYY - DD/MM/YYYY'") from None
    start, end = _brussels_wall(a), _brussels_wall(b)
    if np.any(end <= start):
        raise ParseError("Time Interval: a week that does not end after it starts")
    return _fund_frame(
        start,
        end,
        np.full(len(start), zone, dtype=object),
        "",
        np.full(len(start), "hydro_reservoir_storage", dtype=object),
        value,
        "MWh",
        _published("weekly_plus3", start, end),
    )


def gui_dataset(body: bytes) -> str | None:
    """Return the GUI export dataset a CSV header names (None when it is not a known GUI export)."""
    head = body[:400].decode("utf-8-sig", errors="replace").split("\n", 1)[0]
    for dataset, marker in GUI_HEADERS.items():
        if marker in head:
            return dataset
    return None
