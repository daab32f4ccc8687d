"""NYISO MIS CSV reports -> canonical rows. Pure and table-driven.

Files
-----
Every report is a CSV named after a local day, ``YYYYMMDD<token>.csv``, and the same CSVs are bundled by
month in ``YYYYMM01<token>_csv.zip`` (one member per day; every member is parsed). A payload may be either.

Time stamps
-----------
``Time Stamp`` (``Timestamp`` in ExternalLimitsFlows) is Eastern *prevailing* wall-clock time,
``MM/DD/YYYY HH:MM[:SS]``. Where a ``Time Zone`` column (``EST`` / ``EDT``) is present (pal, rtfuelmix) it
says which of the two 01:xx hours of the day DST ends is meant; it is passed to
:func:`marketintel.timeutils.local_to_utc`, and a label that contradicts the calendar is refused. Reports
without it (isolf, ExternalLimitsFlows, realtime_zone, damlbmp_zone) list the repeated hour twice in time
order, so within one file and one series the first occurrence of an ambiguous wall time is taken as EDT
and the second as EST. A wall time that does not exist (02:xx on the spring-forward day) is refused.

Which instant a stamp marks was read from the files (each daily file covers one operating day):

* ``rtfuelmix`` and ``realtime_zone`` stamp the **end** of the real-time dispatch (RTD) interval. Every
  member of the recorded ``20160401rtfuelmix_csv.zip`` and ``20160119rtfuelmix.csv`` runs from 00:05 to
  00:00 of the next day (the day's last interval ends at 24:00); the realtime_zone files run
  00:05:00 .. next-day 00:00:00 likewise (header and first row as documented for report P-24A; gridstatus
  also reads ``realtime`` stamps as interval ends).
* ``pal`` and ``ExternalLimitsFlows`` stamp the **beginning**: their daily files run 00:00 .. 23:55 (all
  recorded pal files, 2014 and 2017, and both flow files). pal "posts the actual measured load for each
  RTD interval (5 minutes) by zone" (NYISO Market Participant User's Guide, as quoted by NYISOToolkit);
  the measured value at the stamp is taken to stand for the interval that starts there.
* RTD intervals are nominally 5 minutes, but corrective-action runs (RTD-CAM) add off-grid stamps
  (``00:07:34``, ``00:09:40`` on 2017-11-22, shared by pal and rtfuelmix). An interval therefore ends at
  the next stamp of its series (beginning convention) or starts at the previous one (ending convention),
  capped at 5 minutes so a gap in the file is never stretched into a long interval.
* ``isolf`` (load forecast) and ``damlbmp_zone`` rows are **hour-beginning**.

Publication
-----------
Actuals and real-time prices are published at the end of their interval (no posting time in the files);
NYISO may correct real-time prices later, which arrive as the same key with the same convention.
``isolf``: the file of day D holds hourly forecasts for D 00:00 .. D+5 23:00 and is issued once a day; the
file has no issue time, so ``published_at_utc`` is the local midnight starting D (an approximation and an
upper bound: the MIS listing shows the D file posted on the morning of D-1). ``damlbmp_zone``: the
day-ahead market posts its results on D-1 by 11:00 Eastern; that time is used (approximation).

Prices
------
NYISO publishes ``LBMP``, ``Marginal Cost Losses`` and ``Marginal Cost Congestion`` and defines
``LBMP = energy + losses - congestion``: its congestion column has the opposite sign to the usual
``LMP = energy + loss + congestion``. The canonical ``congestion`` is therefore the published column
negated, and ``energy = LBMP - loss - congestion``. Checked on NYISO's own report P-4A (real-time zonal,
2000-06-30, hour 07:00): DUNWOD 44.19 / 1.17 / -30.73 and CENTRL 14.50 / -0.35 / -2.56 give the same
reference-bus energy 12.29 only with the sign flipped. The recorded ``lmp.csv`` (2016-02-18) has zero
congestion throughout, so it only confirms ``energy = LBMP - loss`` (19.84..19.85 in every zone).

Units: the 2016 rtfuelmix header says ``Gen MWh`` and ExternalLimitsFlows says ``MWH``, but the values
are power [MW] per interval (2017 files say ``Gen MW``); they are stored as MW.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/New_York"
MARKET = "NYISO"
SOURCE = "nyiso"
RTD_INTERVAL = pd.Timedelta(minutes=5)
HOUR = pd.Timedelta(hours=1)
#: ExternalLimitsFlows writes +/-9999 where an interface has no limit in that direction
NO_LIMIT = 9999.0
#: NYISO's external proxy zones in the zonal price files (Hydro-Quebec, ISO-NE, IESO, PJM)
EXTERNAL_ZONES = frozenset({"H Q", "NPX", "O H", "PJM"})
#: the day-ahead market posts its results by 11:00 Eastern on the day before delivery
DAM_POSTED = pd.Timedelta(hours=11) - pd.Timedelta(days=1)
_LABELS = ("EST", "EDT")
_PRICE_COLS = (
    "LBMP ($/MWHr)",
    "Marginal Cost Losses ($/MWHr)",
    "Marginal Cost Congestion ($/MWHr)",
)


@dataclass(frozen=True)
class Report:
    """One MIS report: where it lives and how its stamps and columns read.

    Attributes
    ----------
    folder : str
        MIS directory under ``/public/csv/``.
    token : str
        File name token: ``YYYYMMDD<token>.csv`` and ``YYYYMM01<token>_csv.zip``.
    table : str
        Store table of its rows.
    stamp : str
        ``"ending"`` or ``"beginning"`` (RTD intervals), or ``"hour_beginning"``.
    columns : tuple of str
        Columns the parser needs (a changed header naming one of them is refused).
    """

    folder: str
    token: str
    table: str
    stamp: str
    columns: tuple[str, ...]


REPORTS: dict[str, Report] = {
    "load_actual_5min": Report(
        "pal", "pal", "fundamentals", "beginning", ("Time Stamp", "Time Zone", "Name", "Load")
    ),
    "load_forecast_hourly": Report(
        "isolf", "isolf", "fundamentals", "hour_beginning", ("Time Stamp", "NYISO")
    ),
    "fuel_mix_5min": Report(
        "rtfuelmix", "rtfuelmix", "fundamentals", "ending", ("Time Stamp", "Time Zone", "Fuel Category")
    ),
    "interface_flows_5min": Report(
        "ExternalLimitsFlows", "ExternalLimitsFlows", "fundamentals", "beginning",
        ("Timestamp", "Interface Name", "Flow (MWH)", "Positive Limit (MWH)", "Negative Limit (MWH)"),
    ),
    "lbmp_real_time_5min_zone": Report(
        "realtime", "realtime_zone", "prices", "ending", ("Time Stamp", "Name", *_PRICE_COLS)
    ),
    "lbmp_day_ahead_hourly_zone": Report(
        "damlbmp", "damlbmp_zone", "prices", "hour_beginning", ("Time Stamp", "Name", *_PRICE_COLS)
    ),
}  # fmt: skip


# ----------------------------------------------------------------------------------------------------
# Payload -> CSV members -> frames
# ----------------------------------------------------------------------------------------------------
def members(body: bytes) -> list[tuple[str, bytes]]:
    """Return the CSV documents of a payload: itself, or every ``.csv`` member of a monthly ZIP.

    Raises
    ------
    ParseError
        On an empty body, an HTML page, or a truncated / corrupt / CSV-less ZIP.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of a CSV or ZIP (MIS error or 'file not found' page?)")
    if body[:2] != b"PK":
        return [("", body)]
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(".csv"))
            if not names:
                raise ParseError(f"no CSV member in the ZIP (found {zf.namelist()})")
            return [(name, zf.read(name)) for name in names]
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ParseError(f"truncated or corrupt ZIP: {exc}") from None


def read_csv(data: bytes, report: Report, member: str) -> pd.DataFrame:
    """Read one CSV document, checking the columns the report needs."""
    where = f" in {member}" if member else ""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ParseError(f"unreadable CSV{where}: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in report.columns if c not in frame.columns]
    if missing:
        raise ParseError(f"changed layout{where}: missing {missing}; found {list(frame.columns)}")
    if frame.empty:
        raise ParseError(f"no data rows{where}")
    return frame


def numbers(text: pd.Series, what: str) -> pd.Series:
    """Return a text column as floats; blanks become NaN, anything else unreadable is refused."""
    stripped = text.astype(str).str.strip()
    values = pd.to_numeric(stripped.where(stripped != ""), errors="coerce").astype(float)
    bad = values.isna() & (stripped != "")
    if bad.any():
        raise ParseError(f"non-numeric {what}: {stripped[bad].iloc[0]!r}")
    return values


def wall_times(text: pd.Series, what: str) -> pd.DatetimeIndex:
    """Parse ``MM/DD/YYYY HH:MM[:SS]`` local stamps (naive wall-clock times)."""
    stamps = text.astype(str).str.strip()
    stamps = stamps.where(stamps.str.len() != 16, stamps + ":00")
    try:
        return pd.DatetimeIndex(pd.to_datetime(stamps, format="%m/%d/%Y %H:%M:%S"))
    except (ValueError, TypeError) as exc:
        raise ParseError(f"unreadable {what}: {exc}") from None


def to_utc(wall: pd.DatetimeIndex, label: pd.Series | None, group: pd.Series) -> pd.Series:
    """Return the instants of local wall times, resolving the repeated hour at DST end.

    Parameters
    ----------
    wall : pd.DatetimeIndex
        Naive Eastern wall-clock times.
    label : pd.Series or None
        The report's ``Time Zone`` column (``EST`` / ``EDT``) where it has one.
    group : pd.Series
        One key per series and document (e.g. member + zone): without a label, the first occurrence of a
        wall time within its group is daylight time and the second standard time.
    """
    if label is not None:
        zone = label.astype(str).str.strip().str.upper()
        unknown = sorted(set(zone) - set(_LABELS))
        if unknown:
            raise ParseError(f"unknown Time Zone labels {unknown} (expected EST or EDT)")
        is_dst = (zone == "EDT").to_numpy()
    else:
        keys = pd.DataFrame({"g": group.to_numpy(), "w": wall})
        is_dst = (keys.groupby(["g", "w"], sort=False).cumcount() == 0).to_numpy()
    try:
        utc = local_to_utc(wall, TZ, is_dst)
    except (ValueError, TypeError) as exc:  # a non-existent wall time, or an hour listed three times
        raise ParseError(f"time stamps do not fit Eastern time: {exc}") from None
    if label is not None:
        expected = np.where(is_dst, -4.0, -5.0)  # hours from UTC: EDT, EST
        actual = np.asarray((utc.tz_localize(None) - wall) / pd.Timedelta(hours=-1), dtype=float)
        wrong = actual != expected
        if wrong.any():
            k = int(np.argmax(wrong))
            raise ParseError(f"Time Zone {zone.iloc[k]} contradicts the calendar at {wall[k]}")
    return pd.Series(utc.astype("datetime64[ms, UTC]"), index=group.index)


def intervals(stamp: pd.Series, series: pd.Series, convention: str) -> tuple[pd.Series, pd.Series]:
    """Return interval (start, end) of each stamp; ``stamp`` must be sorted by series then time.

    RTD intervals end at the next stamp of the series (``beginning``) or start at the previous one
    (``ending``), never longer than 5 minutes; ``hour_beginning`` stamps start one-hour intervals.
    """
    if convention == "hour_beginning":
        return stamp, stamp + HOUR
    by = stamp.groupby(series.to_numpy(), sort=False)
    if convention == "beginning":
        nxt = by.shift(-1)
        cap = stamp + RTD_INTERVAL
        return stamp, nxt.where(nxt.notna() & (nxt < cap), cap)
    prev = by.shift(1)
    floor = stamp - RTD_INTERVAL
    return prev.where(prev.notna() & (prev > floor), floor), stamp


def _long(report: Report, body: bytes) -> pd.DataFrame:
    """Return every document's rows in long form: member, wall, label, series, value columns."""
    parts = []
    for k, (member, data) in enumerate(members(body)):
        raw = read_csv(data, report, member)
        stamp_col = report.columns[0]
        raw.insert(0, "_member", k)
        raw = raw.rename(columns={stamp_col: "_stamp"})
        parts.append(raw)
    return pd.concat(parts, ignore_index=True)


def _stamped(
    frame: pd.DataFrame, series: pd.Series, convention: str, labelled: bool
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Attach UTC stamps, refuse conflicting duplicates, sort by series and time, add the intervals."""
    wall = wall_times(frame["_stamp"], "Time Stamp")
    group = frame["_member"].astype(str) + "|" + series.astype(str)
    frame = frame.assign(
        _series=series.to_numpy(),
        _utc=to_utc(wall, frame["Time Zone"] if labelled else None, group).to_numpy(),
    )
    value_cols = [c for c in frame.columns if c not in ("_member", "_stamp")]
    frame = frame.drop_duplicates(subset=value_cols)  # a stamp repeated in two members, same values
    dup = frame.duplicated(["_series", "_utc"], keep=False)
    if dup.any():
        first = frame.loc[dup].iloc[0]
        raise ParseError(f"conflicting rows for {first['_series']!r} at {first['_stamp']}")
    frame = frame.sort_values(["_series", "_utc"], ignore_index=True)
    start, end = intervals(frame["_utc"], frame["_series"], convention)
    return frame, start, end


def _sorted_fundamentals(out: pd.DataFrame) -> pd.DataFrame:
    for col in ("interval_start_utc", "interval_end_utc", "published_at_utc"):
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[ms, UTC]")
    order = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
    return out.sort_values(order, ignore_index=True)


# ----------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------
def parse_pal(body: bytes) -> pd.DataFrame:
    """Map ``pal`` (real-time actual load by zone, per RTD interval) to ``load`` rows [MW].

    A file fetched during its day lists the next stamp with a blank ``Load`` (not measured yet); those
    rows are skipped, as ERCOT's blank future actuals are.
    """
    report = REPORTS["load_actual_5min"]
    raw = _long(report, body)
    raw["_value"] = numbers(raw["Load"], "Load")
    raw = raw[raw["_value"].notna()].reset_index(drop=True)
    if raw.empty:
        raise ParseError("no measured load in the file (every Load is blank)")
    frame, start, end = _stamped(raw, raw["Name"].astype(str).str.strip(), report.stamp, labelled=True)
    out = fundamentals_frame(
        start, end, market=MARKET, area=frame["_series"], variable="load", value=frame["_value"],
        unit="MW", source=SOURCE, published=end,
    )  # fmt: skip
    return _sorted_fundamentals(out)


def parse_fuel_mix(body: bytes) -> pd.DataFrame:
    """Map ``rtfuelmix`` to ``generation_<fuel>`` rows for the NYCA [MW].

    The value column is ``Gen MW`` (``Gen MWh`` before 2017; the values are MW either way). Blank values
    (an interval not yet measured) are skipped.
    """
    report = REPORTS["fuel_mix_5min"]
    raw = _long(report, body)
    value_col = next((c for c in ("Gen MW", "Gen MWh") if c in raw.columns), None)
    if value_col is None:
        raise ParseError(f"changed layout: no 'Gen MW' column; found {list(raw.columns)}")
    raw["_value"] = numbers(raw[value_col], value_col)
    raw = raw[raw["_value"].notna()].reset_index(drop=True)
    if raw.empty:
        raise ParseError("no generation value in the file (every value is blank)")
    fuel = raw["Fuel Category"].astype(str).str.strip()
    frame, start, end = _stamped(raw, fuel, report.stamp, labelled=True)
    variable = "generation_" + frame["_series"].map(slug)
    out = fundamentals_frame(
        start, end, market=MARKET, area=MARKET, variable=variable, value=frame["_value"], unit="MW",
        source=SOURCE, published=end,
    )  # fmt: skip
    return _sorted_fundamentals(out)


def parse_interface_flows(body: bytes) -> pd.DataFrame:
    """Map ``ExternalLimitsFlows`` to flow and limit rows per interface [MW].

    Variables: ``interface_flow``, ``interface_limit_positive`` and ``interface_limit_negative``.
    The flow's sign is NYISO's, in the interface's defined direction (``area`` is the interface name).
    Limits of +/-9999 mean "no limit in that direction" and give no row. Blank values are skipped.
    """
    report = REPORTS["interface_flows_5min"]
    raw = _long(report, body)
    name = raw["Interface Name"].astype(str).str.strip()
    frame, start, end = _stamped(raw, name, report.stamp, labelled=False)
    parts = []
    for variable, col in (
        ("interface_flow", "Flow (MWH)"),
        ("interface_limit_positive", "Positive Limit (MWH)"),
        ("interface_limit_negative", "Negative Limit (MWH)"),
    ):
        value = numbers(frame[col], col)
        keep = value.notna() & ((value.abs() != NO_LIMIT) | (variable == "interface_flow"))
        parts.append(
            fundamentals_frame(
                start[keep], end[keep], market=MARKET, area=frame.loc[keep, "_series"], variable=variable,
                value=value[keep], unit="MW", source=SOURCE, published=end[keep],
            )
        )  # fmt: skip
    return _sorted_fundamentals(pd.concat(parts, ignore_index=True))


def parse_isolf(body: bytes) -> pd.DataFrame:
    """Map ``isolf`` (hour-beginning load forecast by zone and NYISO total) to ``load_forecast`` [MW].

    Zone names are upper-cased (``Hud Vl`` -> ``HUD VL``) to match the actual-load (pal) names; each
    document's issue time is the local midnight starting its first forecast day (see module docstring).
    """
    report = REPORTS["load_forecast_hourly"]
    raw = _long(report, body)
    zones = [c for c in raw.columns if c not in ("_member", "_stamp")]
    long = raw.melt(id_vars=["_member", "_stamp"], value_vars=zones, var_name="_zone", value_name="_text")
    long["_value"] = numbers(long["_text"], "forecast")
    if long["_value"].isna().any():
        blank = long[long["_value"].isna()].iloc[0]
        raise ParseError(f"blank forecast for {blank['_zone']} at {blank['_stamp']}")
    zone = long["_zone"].astype(str).str.strip().str.upper()
    # a forecast series is one zone of one issue (member): the same hour recurs across a month's members
    series = long["_member"].astype(str) + "|" + zone
    frame, start, end = _stamped(long, series, report.stamp, labelled=False)
    issued = start.groupby(frame["_member"].to_numpy()).transform("min")
    issued_local = pd.DatetimeIndex(issued).tz_convert(TZ).normalize()
    published = pd.Series(issued_local.tz_convert("UTC"), index=frame.index)
    area = frame["_series"].str.split("|", n=1).str[1]
    out = fundamentals_frame(
        start, end, market=MARKET, area=area, variable="load_forecast", value=frame["_value"], unit="MW",
        source=SOURCE, published=published,
    )  # fmt: skip
    return _sorted_fundamentals(out)


def parse_lbmp(body: bytes, dataset: str) -> pd.DataFrame:
    """Map a zonal LBMP report (``realtime_zone`` or ``damlbmp_zone``) to ``prices`` rows [USD/MWh].

    ``congestion`` is NYISO's ``Marginal Cost Congestion`` negated (see module docstring), so that
    ``price = energy + loss + congestion``.
    """
    report = REPORTS[dataset]
    raw = _long(report, body)
    name = raw["Name"].astype(str).str.strip()
    frame, start, end = _stamped(raw, name, report.stamp, labelled="Time Zone" in raw.columns)
    lbmp, loss, published_congestion = (numbers(frame[c], c) for c in _PRICE_COLS)
    if lbmp.isna().any() or loss.isna().any() or published_congestion.isna().any():
        raise ParseError("blank LBMP or component in the price file")
    congestion = -published_congestion
    if dataset == "lbmp_day_ahead_hourly_zone":
        market = "NYISO_DAY_AHEAD_HOURLY"
        day = pd.DatetimeIndex(start).tz_convert(TZ).normalize()
        published = pd.Series((day + DAM_POSTED).tz_convert("UTC"), index=frame.index)
    else:
        market = "NYISO_REAL_TIME_5MIN"
        published = end
    out = pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": end,
            "market": market,
            "location": frame["_series"],
            "location_type": np.where(frame["_series"].isin(EXTERNAL_ZONES), "external_zone", "zone"),
            "price": lbmp,
            "energy": lbmp - loss - congestion,
            "congestion": congestion + 0.0,  # + 0.0 turns the -0.0 of negated zeros into 0.0
            "loss": loss,
            "currency": "USD",
            "unit": "USD/MWh",
            "revision": "",
            "source": SOURCE,
            "published_at_utc": published,
        }
    )
    for col in ("interval_start_utc", "interval_end_utc", "published_at_utc"):
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[ms, UTC]")
    return out.sort_values(
        ["market", "location", "interval_start_utc", "published_at_utc"], ignore_index=True
    )


def parse(body: bytes, dataset: str) -> pd.DataFrame:
    """Map one payload (daily CSV or monthly ZIP) of ``dataset`` to canonical rows."""
    if dataset == "load_actual_5min":
        return parse_pal(body)
    if dataset == "fuel_mix_5min":
        return parse_fuel_mix(body)
    if dataset == "interface_flows_5min":
        return parse_interface_flows(body)
    if dataset == "load_forecast_hourly":
        return parse_isolf(body)
    return parse_lbmp(body, dataset)
