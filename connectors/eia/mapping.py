"""EIA payloads -> canonical rows. Pure: bytes in, frame out.

Henry Hub spot price (eia.gov ``dnav`` pages ``rngwhhdD`` daily and ``rngwhhdW`` weekly)
    *What the price is.* EIA's definitions page for its natural gas spot and futures prices
    (``dnav/ng/TblDefs/ng_pri_fut_tbldef2.asp``) defines the spot price as "the price for a one-time open
    market transaction for immediate delivery ... at a specific location", at the Henry Hub in Louisiana,
    from a price reporter (Thomson Reuters, later Refinitiv / LSEG; the recorded daily file says "Data
    Source: Thomson Reuters"). EIA's Natural Gas Weekly Update quotes the series by *trading day* ("the
    Henry Hub spot price rose ... from $2.80 last Wednesday to $3.45 yesterday").

    *The date is the trade date, not the gas day.* Next-day gas traded on day d flows on the gas day after
    it (and Friday's trade covers the weekend and Monday as a package), but EIA stamps the price with the
    day it was traded: the recorded daily series (1997-01-07 .. 2020-01-13, 5,788 prices) has prices on
    weekdays only, never on a Saturday or Sunday, which a gas-day (flow-date) series would have. So each
    row's interval is the *trade day*, ``[d 00:00, d+1 00:00)`` in ``America/Chicago``; the delivery it
    prices (the next gas day, 09:00-09:00 Central clock time under NAESB) is not encoded in the row.
    America/Chicago rather than America/New_York: the Henry Hub is at Erath, Louisiana (Central time),
    the NAESB gas day and the spot market's trading hours are set in Central clock time. (Both zones
    change DST on the same dates, so day boundaries differ by an hour only.)

    *The weekly price is the average of the week's daily prices, Monday to Friday, stamped with the
    Friday.* The weekly download's ``Week of`` column holds Fridays only (all 1,513 rows); EIA's page shows
    the same weeks as "Jan-06 to Jan-10". Evidence: for 2015-2019 the mean of the daily prices dated
    Saturday..Friday (i.e. the trade days Monday..Friday) reproduces the weekly value to the cent for 92 %
    of weeks (mean absolute difference 0.0008 USD/MMBtu, the rest being rounding of unrounded daily
    prices), while windows shifted by a day match for under 15 %. Holidays simply have no daily price. A
    weekly row's interval is ``[Monday 00:00, Saturday 00:00)`` America/Chicago of that week: the five
    trade days it averages.

    *Layouts.* Daily: the chart's "Download Data (CSV)" export, a 4-line preamble (title, page URL, the
    browser's clock time, "Data Source: ..."), then ``Day,Henry Hub Natural Gas Spot Price Dollars per
    Million Btu`` and rows ``01/13/2020,2.03``, newest first, ``MM/DD/YYYY`` with unpadded days
    (``01/9/2020``). Weekly: the same without the preamble, header ``Week of,...``. The header is found by
    content (the line starting ``Day`` or ``Week of``), so a preamble present or absent is both fine. A
    blank price (``01/5/2018,``: EIA's "NA", no assessment that day, during the January 2018 cold snap)
    gives no row; a file of blanks only is refused.

    *published_at_utc.* The files carry no release time. EIA updates its spot price pages once a week,
    on Wednesday (the pages' "Release Date" / "Next Release Date" are a week apart), and the recorded
    daily file, exported on a Wednesday-or-later, ends on Monday 2020-01-13. Rule: a price is published
    with the first Wednesday release at least two days after its trade day (the weekly price: after the
    Friday that ends its week), at the end of that Wednesday in America/New_York (EIA gives no hour, so
    the day's end, which is never early). It is an approximation that is never earlier than EIA's issue.

API v2 (``api.eia.gov/v2/<route>/data/``)
    One JSON envelope for every route: ``{"response": {"total", "dateFormat", "frequency", "data": [...],
    "description"}, "request": {...}, "apiVersion"}``; an error is ``{"error": ..., "code": ...}``.

    *Electricity RTO (Form EIA-930, Hourly Electric Grid Monitor)* -> ``fundamentals``, market ``EIA``,
    ``area`` = the respondent balancing authority (``respondent`` or ``fromba``), ``area_to`` = ``toba`` for
    interchange. ``frequency: hourly`` stamps are UTC hours, ``dateFormat`` ``YYYY-MM-DD"T"HH24``
    (``2020-01-06T06``), and EIA-930 reports *hour-ending*: the row ``T06`` is the hour 05:00-06:00 UTC
    (Electricity Maps reads it the same way, shifting the stamp back an hour). ``frequency: local-hourly``
    stamps carry the BA's UTC offset (``2022-10-31T04-07``, ``dateFormat`` ``YYYY-MM-DD"T"HH24TZH``) and
    are read with it, so both give the same UTC hours. Values are as given: ``value-units`` "megawatthours"
    -> ``MWh`` over the hour (numerically the hour's average MW). Interchange ``fromba -> toba`` is positive
    when ``fromba`` exports (EIA-930: positive = net outflow), which is the table's ``area -> area_to``
    convention; the recorded FPC -> FPL values are negative: FPC imported from FPL. ``value: null`` is
    EIA's mark of an hour the BA did not report: no row for it (the recorded PGE file has one null and
    one value: one row). Variables: fuel-type-data -> ``generation_<type-name>``
    (``generation_natural_gas``, ``generation_wind``); region-data -> ``load`` (D), ``load_forecast``
    (DF), ``generation_total_net`` (NG), ``net_interchange`` (TI); interchange-data -> ``flow``. Metered
    values are published an hour after the hour's end (BAs submit each hour after it ends; the Grid
    Monitor refreshes hourly), a forecast at its hour's start at the latest.

    *Natural gas prices* (``/v2/natural-gas/pri/fut/data/``; no recording: built from EIA's API
    documentation, ``verified=False``): records ``{"period": "2024-01-02", "duoarea": "RGC", "product":
    "EPG0", "process": "PS0", "process-name": "Spot Price", "series": "RNGWHHD", "series-description":
    "Henry Hub Natural Gas Spot Price (Dollars per Million Btu)", "value": 2.58, "units": "$/MMBTU"}``.
    Series ``RNGWHHD`` maps to the same market as the dnav daily download (``EIA_HENRY_HUB_SPOT_DAILY``),
    with the same trade-day interval and release rule; ``frequency: weekly`` to ``..._WEEKLY`` (the
    period must be the week's Friday). The futures series of the route (``RNGC1`` .. ``RNGC4``, NYMEX
    contracts 1-4) are CME settlements re-published: the request never asks for them, and a payload that
    holds them is refused (the ``cme`` connector has the exchange's own settlements).
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/Chicago"  # Henry Hub (Erath, Louisiana): the trade day's zone
RELEASE_TZ = "America/New_York"  # EIA (Washington, DC): the release day's zone
SOURCE = "eia"
MARKET_DAILY = "EIA_HENRY_HUB_SPOT_DAILY"
MARKET_WEEKLY = "EIA_HENRY_HUB_SPOT_WEEKLY"
LOCATION = "HENRY_HUB"
FUND_MARKET = "EIA"
SPOT_SERIES = "RNGWHHD"
_TITLE = "Henry Hub Natural Gas Spot Price"
_UNIT_TEXT = "Dollars per Million Btu"
_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
_WEDNESDAY = 2
_UNITS = {"megawatthours": "MWh", "megawatthour": "MWh", "mwh": "MWh", "megawatts": "MW", "mw": "MW"}
REGION_TYPES = {
    "D": "load",
    "DF": "load_forecast",
    "NG": "generation_total_net",
    "TI": "net_interchange",
}
_LOCAL_HOUR = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})([+-]\d{2})(?::?(\d{2}))?$")


def _utc_ms(values: Any) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ms"))


def _text(body: bytes) -> str:
    if not body.strip():
        raise ParseError("empty body")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("latin-1")


# ------------------------------------------------------------------------------------------------------
# Release rule and intervals
# ------------------------------------------------------------------------------------------------------
def release_after(days: pd.DatetimeIndex) -> pd.Series:
    """Return, for each local calendar day, the end of the first Wednesday at least two days after it.

    Parameters
    ----------
    days : pd.DatetimeIndex
        Naive dates (a trade day, or the Friday that ends a week).

    Returns
    -------
    pd.Series
        UTC instants: 24:00 America/New_York of that Wednesday (EIA's weekly release day).
    """
    earliest = days + pd.Timedelta(days=2)
    ahead = (_WEDNESDAY - np.asarray(earliest.day_of_week)) % 7
    wednesday = earliest + pd.to_timedelta(ahead, unit="D")
    return _utc_ms(local_to_utc(wednesday + pd.Timedelta(days=1), RELEASE_TZ))


def _trade_day_intervals(days: pd.DatetimeIndex) -> tuple[pd.Series, pd.Series]:
    return _utc_ms(local_to_utc(days, TZ)), _utc_ms(local_to_utc(days + pd.Timedelta(days=1), TZ))


def _week_intervals(fridays: pd.DatetimeIndex) -> tuple[pd.Series, pd.Series]:
    if (fridays.day_of_week != 4).any():
        bad = fridays[fridays.day_of_week != 4][0]
        raise ParseError(
            f"a weekly price is stamped {bad:%Y-%m-%d}, not a Friday (the week's last trade day)"
        )
    monday = fridays - pd.Timedelta(days=4)
    saturday = fridays + pd.Timedelta(days=1)
    return _utc_ms(local_to_utc(monday, TZ)), _utc_ms(local_to_utc(saturday, TZ))


def _price_frame(
    start: pd.Series, end: pd.Series, market: str, price: np.ndarray, published: pd.Series
) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "interval_start_utc": start.to_numpy(),
            "interval_end_utc": end.to_numpy(),
            "market": market,
            "location": LOCATION,
            "location_type": "hub",
            "price": np.asarray(price, dtype=float),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": "USD",
            "unit": "USD/MMBtu",
            "revision": "",
            "source": SOURCE,
            "fidelity": "official",
            "published_at_utc": published.to_numpy(),
        }
    )
    if out.duplicated(["interval_start_utc"]).any():
        raise ParseError(f"{market}: the same day or week is listed twice")
    return out.sort_values(_PRICE_ORDER, ignore_index=True)


def henry_hub_prices(days: pd.DatetimeIndex, price: np.ndarray, weekly: bool) -> pd.DataFrame:
    """Return ``prices`` rows of the Henry Hub spot price for trade days (or week-ending Fridays).

    Parameters
    ----------
    days : pd.DatetimeIndex
        Naive dates as EIA stamps them: trade days, or the Friday of each week when ``weekly``.
    price : np.ndarray
        The prices [USD/MMBtu].
    weekly : bool
        Whether these are weekly averages (Monday..Friday) rather than daily prices.
    """
    if weekly:
        start, end = _week_intervals(days)
    else:
        start, end = _trade_day_intervals(days)
    published = release_after(days)
    return _price_frame(start, end, MARKET_WEEKLY if weekly else MARKET_DAILY, price, published)


# ------------------------------------------------------------------------------------------------------
# dnav CSV downloads
# ------------------------------------------------------------------------------------------------------
def parse_dnav_csv(body: bytes, weekly: bool) -> pd.DataFrame:
    """Map an EIA dnav Henry Hub spot price CSV (daily ``Day`` or weekly ``Week of``) to ``prices`` rows.

    Rows: ``EIA_HENRY_HUB_SPOT_DAILY`` (each trade day, America/Chicago) or ``EIA_HENRY_HUB_SPOT_WEEKLY``
    (Monday..Friday of each week), location ``HENRY_HUB`` (``hub``), [USD/MMBtu].
    """
    text = _text(body)
    lines = text.splitlines()
    label = "week of" if weekly else "day"
    at = next((k for k, line in enumerate(lines[:20]) if line.split(",")[0].strip().lower() == label), None)
    if at is None:
        other = "Day" if weekly else "Week of"
        if any(line.split(",")[0].strip().lower() == other.lower() for line in lines[:20]):
            raise ParseError(
                f"a {'daily' if weekly else 'weekly'} file ('{other}' column), not the dataset asked"
            )
        raise ParseError(f"no header line starting {label.title()!r} in the first 20 lines: not a dnav CSV")
    header = lines[at].split(",", 1)
    if len(header) != 2 or _TITLE not in header[1] or _UNIT_TEXT not in header[1]:
        raise ParseError(f"unexpected series column {lines[at]!r}: expected '{_TITLE} {_UNIT_TEXT}'")
    try:
        raw = pd.read_csv(
            io.StringIO("\n".join(lines[at + 1 :])),
            header=None,
            names=["date", "price"],
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ParseError(f"unreadable CSV body: {exc}") from None
    if raw.empty:
        raise ParseError("the file has a header but no prices")
    try:
        days = pd.DatetimeIndex(pd.to_datetime(raw["date"].str.strip(), format="%m/%d/%Y"))
    except ValueError as exc:
        raise ParseError(f"unreadable date (expected MM/DD/YYYY): {exc}") from None
    try:
        price = pd.to_numeric(raw["price"].str.strip(), errors="raise").astype(float).to_numpy()
    except ValueError as exc:
        raise ParseError(f"non-numeric price: {exc}") from None
    priced = ~np.isnan(price)
    if not priced.any():
        raise ParseError("every price is blank")
    return henry_hub_prices(days[priced], price[priced], weekly)


# ------------------------------------------------------------------------------------------------------
# API v2 envelope
# ------------------------------------------------------------------------------------------------------
def v2_envelope(body: bytes) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the records of an API v2 answer and its ``response`` header (frequency, dateFormat, total)."""
    text = _text(body).lstrip()
    if text[:1] == "<":
        raise ParseError("an HTML page instead of JSON (error page?)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    if "error" in doc and "response" not in doc:
        raise ParseError(f"API error {doc.get('code', '')}: {doc['error']}")
    response = doc.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("data"), list):
        keys = sorted(response) if isinstance(response, dict) else sorted(doc)
        raise ParseError(f"no response.data list in the answer (found {keys})")
    records = response["data"]
    if not all(isinstance(r, dict) for r in records):
        raise ParseError("response.data holds non-object entries")
    return pd.DataFrame.from_records(records), response


def v2_route(records: pd.DataFrame) -> str:
    """Tell the v2 route of records by their columns: interchange, fuel_type, region or ng_price."""
    cols = set(records.columns)
    if {"fromba", "toba"} <= cols:
        return "interchange"
    if {"respondent", "fueltype"} <= cols:
        return "fuel_type"
    if {"respondent", "type"} <= cols:
        return "region"
    if {"series", "process"} <= cols:
        return "ng_price"
    return ""


def _need(raw: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in raw.columns]
    if missing:
        raise ParseError(f"changed layout: missing {missing}; found {sorted(raw.columns)}")


def _values(raw: pd.DataFrame) -> pd.Series:
    values = raw["value"].map(lambda v: np.nan if v is None or str(v).strip() == "" else v)
    try:
        return pd.to_numeric(values, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"non-numeric value: {exc}") from None


def _hour_ending_utc(periods: pd.Series, frequency: str) -> pd.Series:
    """Return the UTC *start* of each hour-ending period (``hourly``: UTC; ``local-hourly``: with offset)."""
    text = periods.astype(str).str.strip()
    if frequency == "hourly":
        try:
            end = pd.to_datetime(text, format="%Y-%m-%dT%H", utc=True)
        except ValueError as exc:
            raise ParseError(f"unreadable hourly period (expected YYYY-MM-DDTHH, UTC): {exc}") from None
    elif frequency == "local-hourly":
        parts = text.str.extract(_LOCAL_HOUR)
        if parts[0].isna().any():
            bad = text[parts[0].isna()].iloc[0]
            raise ParseError(f"unreadable local-hourly period {bad!r} (expected YYYY-MM-DDTHH-07)")
        sign = np.where(parts[2].str.startswith("-"), -1, 1)
        offset_min = sign * (parts[2].str[1:].astype(int) * 60 + parts[3].fillna("0").astype(int))
        wall = pd.to_datetime(parts[0] + " " + parts[1] + ":00", format="%Y-%m-%d %H:%M")
        end = (wall - pd.to_timedelta(offset_min, unit="min")).dt.tz_localize("UTC")
    else:
        raise ParseError(f"frequency {frequency!r}: this dataset reads 'hourly' or 'local-hourly' answers")
    return _utc_ms(end - pd.Timedelta(hours=1))


def parse_rto(body: bytes, route: str) -> pd.DataFrame:
    """Map an API v2 ``electricity/rto`` answer (interchange, fuel type or region data) to ``fundamentals``.

    Parameters
    ----------
    body : bytes
        The JSON answer.
    route : {"interchange", "fuel_type", "region"}
        Which route the dataset asks; the records must match it.
    """
    raw, response = v2_envelope(body)
    if raw.empty:
        return _empty_fundamentals()
    found = v2_route(raw)
    if found != route:
        raise ParseError(
            f"the records are {found or 'unknown'} data, not {route} data: {sorted(raw.columns)}"
        )
    _need(raw, ["period", "value", "value-units"])
    frequency = str(response.get("frequency", "")).strip()
    start = _hour_ending_utc(raw["period"], frequency)
    end = _utc_ms(start + pd.Timedelta(hours=1))
    units = raw["value-units"].astype(str).str.strip().str.lower()
    unknown = sorted(set(units) - set(_UNITS))
    if unknown:
        raise ParseError(f"unknown value-units {unknown}; known {sorted(_UNITS)}")
    unit = units.map(_UNITS)
    value = _values(raw)
    area_to: Any = ""
    if route == "interchange":
        area = raw["fromba"].astype(str).str.strip()
        area_to = raw["toba"].astype(str).str.strip()
        variable: Any = pd.Series("flow", index=raw.index)
    elif route == "fuel_type":
        area = raw["respondent"].astype(str).str.strip()
        names = raw["type-name"] if "type-name" in raw else raw["fueltype"]
        variable = "generation_" + names.astype(str).map(slug)
    else:
        area = raw["respondent"].astype(str).str.strip()
        codes = raw["type"].astype(str).str.strip()
        names = raw["type-name"].astype(str) if "type-name" in raw else codes
        variable = codes.map(REGION_TYPES).fillna(names.map(slug))
    forecast = variable.astype(str).str.endswith("_forecast")
    published = _utc_ms(end.where(~forecast, start) + pd.to_timedelta(np.where(forecast, 0, 1), unit="h"))
    keep = value.notna().to_numpy()
    out = fundamentals_frame(
        start[keep].to_numpy(),
        end[keep].to_numpy(),
        market=FUND_MARKET,
        area=area[keep].to_numpy(),
        area_to=area_to[keep].to_numpy() if isinstance(area_to, pd.Series) else area_to,
        variable=np.asarray(variable[keep], dtype=object),
        value=value[keep].to_numpy(),
        unit=unit[keep].to_numpy(),
        source=SOURCE,
        published=published[keep].to_numpy(),
    )
    out.insert(len(out.columns) - 1, "fidelity", "official")
    out = out.sort_values(_FUND_ORDER, ignore_index=True)
    if out.duplicated(["area", "area_to", "variable", "interval_start_utc"]).any():
        raise ParseError("the same hour is listed twice for one area and variable")
    return out


def _empty_fundamentals() -> pd.DataFrame:
    empty = pd.Series([], dtype="datetime64[ms, UTC]")
    out = fundamentals_frame(
        empty, empty, market=pd.Series([], dtype=object), area=pd.Series([], dtype=object),
        variable=pd.Series([], dtype=object), value=pd.Series([], dtype=float),
        unit=pd.Series([], dtype=object), source=SOURCE, published=empty,
        area_to=pd.Series([], dtype=object),
    )  # fmt: skip
    out.insert(len(out.columns) - 1, "fidelity", pd.Series([], dtype=object))
    return out


def parse_ng_spot(body: bytes, weekly: bool) -> pd.DataFrame:
    """Map an API v2 ``natural-gas/pri/fut`` answer (series RNGWHHD) to ``prices`` rows (not verified).

    ``frequency`` must be ``daily`` (trade days) or ``weekly`` (week-ending Fridays) as the dataset says.
    """
    raw, response = v2_envelope(body)
    if raw.empty:
        raise ParseError("response.data is empty: no Henry Hub spot price in the window")
    if v2_route(raw) != "ng_price":
        raise ParseError(f"not natural-gas price records (columns {sorted(raw.columns)})")
    _need(raw, ["period", "series", "value"])
    expected = "weekly" if weekly else "daily"
    frequency = str(response.get("frequency", expected)).strip()
    if frequency != expected:
        raise ParseError(f"frequency {frequency!r}; this dataset reads {expected!r} answers")
    series = raw["series"].astype(str).str.strip()
    other = sorted(set(series) - {SPOT_SERIES})
    if other:
        raise ParseError(
            f"series {other} are not the Henry Hub spot price ({SPOT_SERIES}); NYMEX futures belong to the"
            " cme connector: ask facets[series][]=RNGWHHD"
        )
    if "units" in raw:
        units = set(raw["units"].astype(str).str.strip().str.upper())
        if units - {"$/MMBTU"}:
            raise ParseError(f"units {sorted(units)}; expected $/MMBTU")
    try:
        days = pd.DatetimeIndex(pd.to_datetime(raw["period"].astype(str).str.strip(), format="%Y-%m-%d"))
    except ValueError as exc:
        raise ParseError(f"unreadable period (expected YYYY-MM-DD): {exc}") from None
    value = _values(raw)
    if value.isna().any():
        raise ParseError(f"{int(value.isna().sum())} null price(s) for {SPOT_SERIES}")
    return henry_hub_prices(days, value.to_numpy(), weekly)
