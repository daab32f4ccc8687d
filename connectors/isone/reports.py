"""ISO-NE reports -> canonical rows: locations, wind/solar 7-day CSVs, the web client's load, morning report.

Each parser is pure (bytes -> frame). The conventions, with the evidence of the recorded files:

- ``locations`` (``api/v1.1/locations``, ``Locations.Location[]``: ``LocationID``, ``LocationType``,
  ``LocationName``, ``AreaType``) -> ``instruments``, one row per location: ``instrument_id`` =
  ``ISONE:<LocationID>``, location_type = the slugged ``LocationType`` (``hub``, ``load_zone``,
  ``ext_node``, ``system``, ``reserve_zone``). The answer carries no dates, so ``valid_from_utc`` is the
  documented default :data:`LOCATIONS_VALID_FROM` (2003-03-01 00:00 EST, the start of ISO-NE's Standard
  Market Design and its nodal prices), ``valid_to_utc`` is NULL (active), and ``published_at_utc`` is the
  same fixed instant, so that re-reading the list changes nothing.
- Seven-day wind / solar power forecast CSVs (``www.iso-ne.com`` ``seven_day_{wind,solar}_power_forecast_
  YYYYMMDD.csv``): ISO-NE's CSV report layout, the first field of each line is its kind (``C`` comment,
  ``H`` header, ``D`` data, ``T`` trailer). ``C`` lines carry ``Report generated 02/25/2025 10:02:35 EST``
  -> ``published_at_utc`` (the stated abbreviation, EST = UTC-5 or EDT = UTC-4, is honoured). The ``D``
  line starting ``"Date","Hour Ending"`` lists the 8 report days; the 24 data lines are hour ending
  ``01``..``24`` in local prevailing time, one column per day. Empty cells are hours not forecast (before
  the issue time on day 1, beyond 7 x 24 h on day 8) and give no row. The hour ending ``HE`` is the
  interval ``[HE - 1 h, HE)``; its end is read as a New York wall time (an ambiguous end on the day DST
  ends is the first, daylight one; a value at the non-existent 02:00 of the day DST starts is refused).
  The DST-day layout is not recorded, so that rule is unverified.
- Web client load (``www.iso-ne.com/ws/wsclient`` load data, a list of ``{"data": {...}}``): ``actual``
  holds 5-minute system load (``LoadMw``, native load ``Mw``, pumping ``PumpMw`` and both again with
  behind-the-meter PV added back, ``*BtmPv``), stamped at the interval start -> 5-minute rows published
  at the interval end; ``forecast`` (the current issue) and ``priorDay`` (earlier issues) hold hourly load
  forecasts with their ``CreationDate`` -> rows published at that time (the two arrays share the issue of
  the current day: rows identical in both are kept once); ``cleared`` is the day-ahead cleared demand of
  ``NEPOOL AREA``, published at the interval end as the ``dayaheadhourlydemand`` service's rows are.
- Morning report and seven-day forecast (old api/v1.1 answers, 2016): one report per operating day
  (``BeginDate`` = local midnight) with ``CreationDate`` -> ``published_at_utc``. Numeric daily figures are
  variables over the operating day (``capacity_supply_obligation``, ``surplus_deficiency``, ...); the peak
  loads are placed on their peak hour (``PeakLoadTodayHour``, ``PeakLoadYesterdayHour``); interchange per
  tie has area ``NEPOOL AREA`` and area_to the tie, negative = into New England (the import limits are
  negative: ``ImportLimitInMw`` -1000 for NB); city weather has the city as area [degF]; Y/N flags of the
  seven-day forecast become 1/0 (unit ``flag``). Free text (weather words, comments) is not mapped.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pandas as pd

from marketintel.connectors.isone.common import SYSTEM_AREA, TZ, utc_index, utc_ms
from marketintel.connectors.isone.prices import dig, load_json, numbers, struct_records
from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_day_start_utc, local_to_utc

#: first instant of ISO-NE's locations when the answer gives none: 2003-03-01 00:00 EST, the start of
#: Standard Market Design (nodal LMPs); a documented default, not a value from the answer
LOCATIONS_VALID_FROM = pd.Timestamp("2003-03-01 05:00", tz="UTC")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_GENERATED = re.compile(r"Report generated (\d\d/\d\d/\d{4} \d\d:\d\d:\d\d) (EST|EDT)")
_FIXED_ZONE = {"EST": "Etc/GMT+5", "EDT": "Etc/GMT+4"}


def _frame(rows: list[dict[str, Any]], what: str) -> pd.DataFrame:
    """Return fundamentals rows built from a few report records (reports are small: tens of values)."""
    if not rows:
        raise ParseError(f"the {what} holds no values")
    raw = pd.DataFrame.from_records(rows)
    out = fundamentals_frame(
        utc_index(raw["start"].to_numpy(dtype=np.int64)),
        utc_index(raw["end"].to_numpy(dtype=np.int64)),
        market="ISONE",
        area=raw["area"].astype(str),
        area_to=raw["area_to"].astype(str),
        variable=raw["variable"].astype(str),
        value=raw["value"].astype(float),
        unit=raw["unit"].astype(str),
        source="isone",
        published=utc_index(raw["published"].to_numpy(dtype=np.int64)),
    )
    key = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
    if out.duplicated(key).any():
        first = out[out.duplicated(key, keep=False)].iloc[0]
        raise ParseError(f"{what}: {first['variable']} of {first['area']} given twice for one interval")
    return out.sort_values(key, ignore_index=True)


# ------------------------------------------------------------------------------------------------------
# locations -> instruments
# ------------------------------------------------------------------------------------------------------
def parse_locations(body: bytes) -> pd.DataFrame:
    """Map the ``locations`` answer to ``instruments`` rows (one per location, USD/MWh power prices)."""
    arr = struct_records(dig(load_json(body), ("Locations", "Location")), "location")
    raw = pd.DataFrame(arr.to_pylist())
    for field in ("LocationID", "LocationType", "LocationName"):
        if field not in raw or raw[field].isna().any():
            raise ParseError(f"locations without {field!r}; found {sorted(raw.columns)}")
    kind = raw["LocationType"].astype(str)
    area_type = raw["AreaType"].astype(str) if "AreaType" in raw else pd.Series("", index=raw.index)
    ids = raw["LocationID"].astype(str)
    out = pd.DataFrame(
        {
            "instrument_id": "ISONE:" + ids,
            "commodity": "power",
            "market": "ISONE",
            "location": raw["LocationName"].astype(str),
            "location_type": kind.map(slug),
            "product": "",
            "currency": "USD",
            "unit": "USD/MWh",
            "timezone": TZ,
            "description": "ISO-NE " + kind + " " + raw["LocationName"].astype(str) + " (LocationID " + ids
            + ", " + area_type + " area)",
            "valid_from_utc": LOCATIONS_VALID_FROM,
            "valid_to_utc": pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ms, UTC]"),
            "source": "isone",
            "published_at_utc": LOCATIONS_VALID_FROM,
        }
    )  # fmt: skip
    for col in ("valid_from_utc", "published_at_utc"):
        out[col] = out[col].astype("datetime64[ms, UTC]")
    if out["instrument_id"].duplicated().any():
        raise ParseError(f"a LocationID listed twice: {sorted(ids[ids.duplicated()])}")
    return out.sort_values("instrument_id", ignore_index=True)


# ------------------------------------------------------------------------------------------------------
# seven-day wind / solar power forecast CSVs
# ------------------------------------------------------------------------------------------------------
def parse_seven_day_power_forecast(body: bytes, kind: str) -> pd.DataFrame:
    """Map a ``seven_day_{kind}_power_forecast`` CSV to ``{kind}_forecast`` rows [MW].

    Parameters
    ----------
    body : bytes
        The CSV report.
    kind : str
        ``"wind"`` or ``"solar"``; the report's title must say the same.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of the CSV report (error or maintenance page?)")
    text = body.decode("utf-8-sig", errors="replace")
    if f"Seven Day {kind.title()} Power Forecast" not in text[:400]:
        raise ParseError(f"not a seven-day {kind} power forecast report (title line missing)")
    generated = _GENERATED.search(text)
    if generated is None:
        raise ParseError("no 'Report generated MM/DD/YYYY HH:MM:SS EST|EDT' line: the issue time is unknown")
    wall = pd.DatetimeIndex([pd.Timestamp(pd.to_datetime(generated.group(1), format="%m/%d/%Y %H:%M:%S"))])
    published = local_to_utc(wall, _FIXED_ZONE[generated.group(2)])[0]
    try:
        table = pd.read_csv(io.StringIO(text), header=None, dtype=str, names=range(12), keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise ParseError(f"unreadable CSV: {exc}") from None
    data = table[table[0] == "D"]
    date_rows = data[data[1] == "Date"]
    if date_rows.empty:
        raise ParseError("no 'Date','Hour Ending' line: the report days are unknown")
    dates_row = date_rows.iloc[0]
    day_cols = [c for c in range(3, 12) if dates_row[c]]
    hours = data[(data[1] == "") & (data[2] != "")]
    if len(hours) != 24:
        raise ParseError(f"expected 24 hour-ending lines, found {len(hours)}")
    long = hours.melt(id_vars=[2], value_vars=day_cols, var_name="col", value_name="mw")
    long = long[long["mw"].str.strip() != ""]
    if long.empty:
        raise ParseError("the report holds no forecast values")
    try:
        day = pd.to_datetime(long["col"].map(dates_row), format="%m/%d/%Y")
        he = pd.to_numeric(long[2], errors="raise").astype(int)
        value = pd.to_numeric(long["mw"], errors="raise").astype(float)
    except ValueError as exc:
        raise ParseError(f"unreadable date, hour or value: {exc}") from None
    end_wall = pd.DatetimeIndex(day + pd.to_timedelta(he, unit="h"))
    try:
        end = local_to_utc(end_wall, TZ, is_dst=np.ones(len(end_wall), dtype=bool)).as_unit("ms")
    except ValueError as exc:  # a value at the hour that does not exist when DST starts
        raise ParseError(f"a forecast value at a local time that does not exist: {exc}") from None
    out = fundamentals_frame(
        end - pd.Timedelta(hours=1),
        end,
        market="ISONE",
        area=SYSTEM_AREA,
        variable=f"{kind}_forecast",
        value=value.to_numpy(),
        unit="MW",
        source="isone",
        published=pd.Timestamp(published).as_unit("ms"),
    )
    out["published_at_utc"] = out["published_at_utc"].astype("datetime64[ms, UTC]")
    return out.sort_values("interval_start_utc", ignore_index=True)


# ------------------------------------------------------------------------------------------------------
# www.iso-ne.com/ws/wsclient load data: 5-minute actual load, hourly forecasts, day-ahead cleared demand
# ------------------------------------------------------------------------------------------------------
_ACTUAL = (
    ("load", "LoadMw"),
    ("native_load", "Mw"),
    ("pump_load", "PumpMw"),
    ("load_incl_btm_pv", "SystemLoadBtmPv"),
    ("native_load_incl_btm_pv", "NativeLoadBtmPv"),
)
_FORECAST = (("load_forecast", "Mw"), ("net_load_forecast", "NetLoadMw"))


def parse_wsclient_load(body: bytes) -> pd.DataFrame:
    """Map the web client's load answer to fundamentals rows (5-minute actuals, forecasts, DA cleared)."""
    doc = load_json(body)
    blocks = [b for b in (doc if isinstance(doc, list) else [doc]) if isinstance(b, dict)]
    data = next((b["data"] for b in blocks if isinstance(b.get("data"), dict)), None)
    if data is None or "actual" not in data:
        raise ParseError("no data.actual in the web client answer (not the load data of ws/wsclient?)")
    frames = []
    actual = struct_records(dig(data, ("actual",)), "actual load")
    start = utc_index(utc_ms(actual.field("BeginDate"), "BeginDate"))
    end = start + pd.Timedelta(minutes=5)
    for variable, field in _ACTUAL:
        frames.append(
            fundamentals_frame(
                start, end, market="ISONE", area=SYSTEM_AREA, variable=variable,
                value=_complete(numbers(actual, field), field), unit="MW", source="isone", published=end,
            )
        )  # fmt: skip
    for part in ("forecast", "priorDay"):
        if not data.get(part):
            continue
        arr = struct_records(dig(data, (part,)), f"{part} forecast")
        f_start = utc_index(utc_ms(arr.field("BeginDate"), "BeginDate"))
        created = utc_index(utc_ms(arr.field("CreationDate"), "CreationDate"))
        for variable, field in _FORECAST:
            frames.append(
                fundamentals_frame(
                    f_start, f_start + pd.Timedelta(hours=1), market="ISONE", area=SYSTEM_AREA,
                    variable=variable, value=_complete(numbers(arr, field), field), unit="MW",
                    source="isone", published=created,
                )
            )  # fmt: skip
    if data.get("cleared"):
        arr = struct_records(dig(data, ("cleared",)), "cleared demand")
        c_start = utc_index(utc_ms(arr.field("BeginDate"), "BeginDate"))
        c_end = c_start + pd.Timedelta(hours=1)
        loc = (
            arr.field("Location").field("$").to_pylist()
            if arr.type.get_field_index("Location") >= 0
            else None
        )
        frames.append(
            fundamentals_frame(
                c_start, c_end, market="ISONE", area=pd.Series(loc) if loc else SYSTEM_AREA,
                variable="load_day_ahead_cleared", value=_complete(numbers(arr, "Mw"), "Mw"), unit="MW",
                source="isone", published=c_end,
            )
        )  # fmt: skip
    out = pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
    key = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
    if out.duplicated(key).any():
        raise ParseError("the forecast and priorDay arrays disagree on a value of the same issue")
    return out.sort_values(key, ignore_index=True)


def _complete(values: np.ndarray[Any, np.dtype[np.float64]], field: str) -> np.ndarray[Any, Any]:
    if np.isnan(values).any():
        raise ParseError(f"{int(np.isnan(values).sum())} records without {field!r}")
    return values


# ------------------------------------------------------------------------------------------------------
# morning report and seven-day forecast (old api/v1.1)
# ------------------------------------------------------------------------------------------------------
#: morning report field -> variable (daily figures over the operating day) [MW unless stated]
MORNING_FIELDS = {
    "CsoMw": "capacity_supply_obligation",
    "CapAdditionsMw": "capacity_additions",
    "GenOutagesReductionMW": "generation_outages_reductions",
    "GenPlannedOutagesReductionMW": "generation_outages_reductions_planned",
    "GenForcedOutagesReductionMW": "generation_outages_reductions_forced",
    "UncommittedAvailGenMw": "uncommitted_available_generation",
    "UncommittedGenBeforePeakMw": "uncommitted_available_generation_before_peak",
    "DRRCapacityMw": "drr_capacity",
    "UncommitedAvailDRRMw": "uncommitted_available_drr",
    "NetCapDeliveryMw": "net_capacity_deliveries",
    "TotAvailCapMw": "total_available_capacity",
    "TotalOperReserveReqMw": "operating_reserve_requirement",
    "CapRequiredMw": "capacity_required",
    "SurplusDeficiencyMw": "surplus_deficiency",
    "ReplReserveRequiredMw": "replacement_reserve_requirement",
    "ExcessCommitMw": "excess_commitment",
    "LargestFirstContMw": "largest_first_contingency",
    "AmsPeakLoadExpMw": "ams_peak_load_exposure",
    "TenMinReserveReqMw": "ten_min_reserve_requirement",
    "TenMinReserveEstMw": "ten_min_reserve_estimate",
    "ThirtyMinReserveReqMw": "thirty_min_reserve_requirement",
    "ThirtyMinReserveEstMw": "thirty_min_reserve_estimate",
    "ExpActOp4Mw": "op4_expected_actions",
    "AddlCapAvailOp4ActMw": "op4_additional_capacity",
    "NonCommUnitsCapMw": "non_committed_units_capacity",
    "UnitCommMinOrrMw": "units_committed_min_orr",
    "UnitCommMinOrrCount": "units_committed_min_orr_count",
}
_TIE_FIELDS = {
    "ScheduledMw": "tie_scheduled",
    "ImportLimitInMw": "tie_import_limit",
    "ExportLimitOutMw": "tie_export_limit",
    "TieFlowMw": "tie_capacity_delivery",
}
#: seven-day forecast market-day field -> variable (daily over the market day)
SEVEN_DAY_FIELDS = {
    "PeakLoadMw": "peak_load_forecast_daily",
    "CsoMw": "capacity_supply_obligation",
    "DelistMw": "delist",
    "OtherGenOutagesMw": "generation_outages_other",
    "ColdWeatherOutagesMw": "generation_outages_cold_weather",
    "PeakImportMw": "peak_import",
    "ReplReserveReqMw": "replacement_reserve_requirement",
    "ReqdReserveMw": "operating_reserve_requirement",
    "ReqdReserveInclReplMw": "operating_reserve_requirement_incl_replacement",
    "RtdrMw": "rtdr",
    "RtegMw": "rteg",
    "SurplusDeficiencyMw": "surplus_deficiency",
    "TotAvailGenImportMw": "total_available_generation_and_imports",
    "TotAvailGenMw": "total_available_generation",
    "TotLoadPlusReqdReserveMw": "load_plus_operating_reserve_requirement",
}
_CITY_FIELDS = {
    "HighTemperature": "temperature_high_forecast",
    "HighTempF": "temperature_high_forecast",
    "DewPointF": "dew_point_forecast",
}


def _snake(field: str) -> str:
    """Return a field name as a variable for fields without a mapping: ``TotAvailGenMw`` -> tot_avail_gen."""
    return slug(_CAMEL.sub("_", re.sub(r"(?i)mw$", "", field)))


def _unit(field: str) -> str:
    return "count" if field.lower().endswith("count") else "MW"


def _ms(stamp: Any, what: str) -> int:
    return int(utc_ms([str(stamp)], what)[0])


def _day_bounds(stamp: Any, what: str) -> tuple[int, int]:
    """Return the local operating day that starts at ``stamp`` as (start, end) in UTC ms."""
    start = pd.Timestamp(_ms(stamp, what), unit="ms", tz="UTC")
    day = local_day_start_utc(pd.DatetimeIndex([start, start + pd.Timedelta(hours=26)]), TZ)
    if day[0] != start:
        raise ParseError(f"{what} {stamp} is not a local midnight")
    return start.value // 1_000_000, day[1].value // 1_000_000


def parse_morning_report(body: bytes) -> pd.DataFrame:
    """Map ``morningreport`` answers to fundamentals rows (daily capacity outlook, ties, peaks, weather)."""
    rows: list[dict[str, Any]] = []
    for report in dig(load_json(body), ("MorningReports", "MorningReport")):
        if "BeginDate" not in report or "CreationDate" not in report:
            raise ParseError(f"a morning report without BeginDate/CreationDate; found {sorted(report)}")
        start, end = _day_bounds(report["BeginDate"], "BeginDate")
        base = {"published": _ms(report["CreationDate"], "CreationDate"), "area": SYSTEM_AREA, "area_to": ""}
        for field, value in report.items():
            if field.startswith("PeakLoad") or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            variable = MORNING_FIELDS.get(field, _snake(field))
            rows.append({**base, "start": start, "end": end, "variable": variable, "value": value,
                         "unit": _unit(field)})  # fmt: skip
        for mw, hour, variable in (
            ("PeakLoadTodayMw", "PeakLoadTodayHour", "peak_load_forecast"),
            ("PeakLoadYesterdayMw", "PeakLoadYesterdayHour", "peak_load"),
        ):
            if report.get(mw) is not None and report.get(hour):
                h = _ms(report[hour], hour)
                rows.append({**base, "start": h, "end": h + 3_600_000, "variable": variable,
                             "value": report[mw], "unit": "MW"})  # fmt: skip
        for part in ("InterchangeDetail", "TieDelivery"):
            for tie in dig(report, (part,)) if report.get(part) else []:
                for field, variable in _TIE_FIELDS.items():
                    if tie.get(field) is not None:
                        rows.append({**base, "start": start, "end": end, "area_to": str(tie["TieName"]),
                                     "variable": variable, "value": tie[field], "unit": "MW"})  # fmt: skip
        rows += _cities(report.get("CityForecastDetail"), base, start, end)
    return _frame(rows, "morning report")


def _cities(cities: Any, base: dict[str, Any], start: int, end: int) -> list[dict[str, Any]]:
    rows = []
    for city in cities if isinstance(cities, list) else [cities] if cities else []:
        for field, variable in _CITY_FIELDS.items():
            if isinstance(city.get(field), (int, float)):
                rows.append({**base, "start": start, "end": end, "area": str(city["CityName"]),
                             "variable": variable, "value": city[field], "unit": "degF"})  # fmt: skip
    return rows


def parse_seven_day_forecast(body: bytes) -> pd.DataFrame:
    """Map ``sevendayforecast`` answers to fundamentals rows (one set of daily figures per market day)."""
    rows: list[dict[str, Any]] = []
    for forecast in dig(load_json(body), ("SevenDayForecasts", "SevenDayForecast")):
        if "CreationDate" not in forecast:
            raise ParseError(f"a seven-day forecast without CreationDate; found {sorted(forecast)}")
        published = _ms(forecast["CreationDate"], "CreationDate")
        days = dig(forecast, ("MarketDay",)) if forecast.get("MarketDay") else []
        if not days:
            raise ParseError("a seven-day forecast without MarketDay")
        for market_day in days:
            start, end = _day_bounds(market_day.get("MarketDate"), "MarketDate")
            base = {"published": published, "area": SYSTEM_AREA, "area_to": "", "start": start, "end": end}
            for field, value in market_day.items():
                if value in ("Y", "N"):
                    rows.append(
                        {**base, "variable": _snake(field), "value": float(value == "Y"), "unit": "flag"}
                    )
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    variable = SEVEN_DAY_FIELDS.get(field, _snake(field))
                    rows.append({**base, "variable": variable, "value": value, "unit": _unit(field)})
            weather = market_day.get("Weather") or {}
            rows += _cities(
                weather.get("CityWeather") if isinstance(weather, dict) else None, base, start, end
            )
    return _frame(rows, "seven-day forecast")
