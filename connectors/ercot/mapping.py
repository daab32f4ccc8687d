"""ERCOT MIS documents -> canonical rows. Pure.

ERCOT stamps intervals by their *end* in Central prevailing time: ``HourEnding`` 1..24 (or ``"24:00"``)
and ``TimeEnding`` for 15-minute data. The hour that happens twice when DST ends is told apart by the
``DSTFlag`` column ("Y" marks the repeated, standard-time hour; SCED files call it ``RepeatedHourFlag``),
which is passed to :func:`marketintel.timeutils.local_to_utc`; nothing is guessed. Interval starts are
computed in UTC, so the 15-minute interval ending at 03:00 CDT on the spring day starts at 01:45 CST.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import pandas as pd
from marketintel.connectors.base import ParseError
from marketintel.connectors.canonical import fundamentals_frame

from marketintel.timeutils import local_to_utc

TZ = "America/Chicago"
_POSTED = re.compile(r"\.((?:19|20)\d{6})\.(\d{6})\d*\.")  # cdr.<type>.<duns>.YYYYMMDD.HHMMSS[fff].NAME.csv


@dataclass(frozen=True)
class Report:
    """One MIS report: its file token, time columns and how its value columns become variables."""

    token: str  # e.g. "PVGRHRLYAVGACTNP4737"
    report_type_id: str
    date_col: str
    ending_col: str
    prefix: str  # variable prefix ("solar_", "wind_", "load_forecast")
    measures: dict[str, str]  # column prefix -> variable suffix


REPORTS: dict[str, Report] = {
    "solar_hourly_actual_forecast": Report(
        "PVGRHRLYAVGACTNP4737", "13483", "DELIVERY_DATE", "HOUR_ENDING", "solar_",
        {"GEN": "generation", "STPPF": "forecast_stppf", "PVGRPP": "forecast_pvgrpp", "COP_HSL": "cop_hsl",
         "HSL": "hsl"},
    ),
    "wind_hourly_actual_forecast": Report(
        "WPPHRLYAVGACTNP4732", "13028", "DELIVERY_DATE", "HOUR_ENDING", "wind_",
        {"GEN": "generation", "STWPF": "forecast_stwpf", "WGRPP": "forecast_wgrpp", "COP_HSL": "cop_hsl",
         "HSL": "hsl"},
    ),
    "load_forecast_7day_by_forecast_zone": Report(
        "LFCCONGESTNP3560", "12311", "DeliveryDate", "HourEnding", "load_forecast", {},
    ),
}  # fmt: skip


def ending_to_utc(dates: pd.Series, ending: pd.Series, dst_flag: pd.Series | None) -> pd.Series:
    """Turn ERCOT's (delivery date, hour or time ending, DST flag) into interval ends in UTC."""
    text = ending.astype(str).str.strip()
    hhmm = text.where(text.str.contains(":"), text + ":00").str.split(":", expand=True)
    try:
        day = pd.to_datetime(dates.astype(str).str.strip(), format="%m/%d/%Y")
        wall = (
            day
            + pd.to_timedelta(hhmm[0].astype(int), unit="h")
            + pd.to_timedelta(hhmm[1].astype(int), unit="m")
        )
    except (ValueError, KeyError) as exc:
        raise ParseError(f"unreadable delivery date or time ending: {exc}") from None
    is_dst = None if dst_flag is None else (dst_flag.astype(str).str.strip().str.upper() != "Y").to_numpy()
    try:
        return pd.Series(local_to_utc(pd.DatetimeIndex(wall), TZ, is_dst), index=dates.index).astype(
            "datetime64[ms, UTC]"
        )
    except (ValueError, TypeError) as exc:
        raise ParseError(f"local times that do not exist or cannot be resolved: {exc}") from None


def posted_at(member: str) -> pd.Timestamp:
    """Return when ERCOT posted a document, from its name (``...20250313.135508...``), in UTC."""
    m = _POSTED.search(member)
    if not m:
        raise ParseError(f"no posting time in the document name {member!r}")
    wall = pd.DatetimeIndex([pd.to_datetime(m.group(1) + m.group(2), format="%Y%m%d%H%M%S")])
    return pd.Timestamp(local_to_utc(wall, TZ, [True])[0])


def unzip_single_csv(body: bytes) -> tuple[str, bytes]:
    """Return (member name, bytes) of the one CSV in an MIS document ZIP."""
    if not body:
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of a ZIP (MIS error page?)")
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise ParseError(f"expected one CSV in the document, found {zf.namelist()}")
            return names[0], zf.read(names[0])
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise ParseError(f"truncated or corrupt ZIP: {exc}") from None


def _measure(column: str, measures: dict[str, str]) -> tuple[str, str] | None:
    """Split ``STWPF_LZ_WEST`` into (variable suffix, area)."""
    for key in sorted(measures, key=len, reverse=True):
        for area_part in ("SYSTEM_WIDE", "LZ_"):
            if column.startswith(f"{key}_{area_part}"):
                area = column[len(key) + 1 :]
                return measures[key], "ERCOT" if area == "SYSTEM_WIDE" else area
        if column == f"SYSTEM_WIDE_{key}":
            return measures[key], "ERCOT"
    return None


def parse_report(body: bytes, dataset: str) -> pd.DataFrame:
    """Map an MIS report document (ZIP with one CSV) to fundamentals rows."""
    report = REPORTS[dataset]
    member, csv = unzip_single_csv(body)
    if report.token not in member:
        raise ParseError(f"document {member!r} is not a {report.token} report")
    raw = pd.read_csv(io.BytesIO(csv))
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in (report.date_col, report.ending_col, "DSTFlag") if c not in raw]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(raw.columns)}")
    end = ending_to_utc(raw[report.date_col], raw[report.ending_col], raw["DSTFlag"])
    published = posted_at(member)
    frames = []
    for column in raw.columns:
        if column in (report.date_col, report.ending_col, "DSTFlag"):
            continue
        if report.measures:
            found = _measure(column, report.measures)
            if found is None:
                raise ParseError(f"unknown column {column!r} in {report.token}")
            variable, area = report.prefix + found[0], found[1]
        else:
            variable, area = report.prefix, "ERCOT" if column == "SystemTotal" else column.upper()
        frames.append(
            fundamentals_frame(
                end - pd.Timedelta(hours=1),
                end,
                market="ERCOT",
                area=area,
                variable=variable,
                value=pd.to_numeric(raw[column], errors="coerce"),
                unit="MW",
                source="ercot",
                published=published,
            )
        )
    out = pd.concat(frames, ignore_index=True).dropna(subset=["value"])  # actuals of future hours are blank
    return out.sort_values(["area", "variable", "interval_start_utc"], ignore_index=True)


def parse_actual_load_15min(body: bytes) -> pd.DataFrame:
    """Map ERCOT's 15-minute actual system load (DeliveryDate, TimeEnding, Demand, DSTFlag)."""
    if not body.strip():
        raise ParseError("empty body")
    raw = pd.read_csv(io.BytesIO(body), skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    if list(raw.columns) != ["DeliveryDate", "TimeEnding", "Demand", "DSTFlag"]:
        raise ParseError(
            f"changed header: expected DeliveryDate,TimeEnding,Demand,DSTFlag; found {list(raw.columns)}"
        )
    end = ending_to_utc(raw["DeliveryDate"], raw["TimeEnding"], raw["DSTFlag"])
    out = fundamentals_frame(
        end - pd.Timedelta(minutes=15),
        end,
        market="ERCOT",
        area="ERCOT",
        variable="load",
        value=raw["Demand"].astype(float),
        unit="MW",
        source="ercot",
        published=end,
    )
    return out.sort_values("interval_start_utc", ignore_index=True)


def parse_sced_lmp(body: bytes) -> pd.DataFrame:
    """Map an LMPs-by-resource-node/zone/hub SCED file (NP6-788-CD) to price rows.

    The SCED timestamp is the run's time; each run's prices are taken to hold for the five minutes that
    follow it (SCED runs every five minutes; the exact validity window is not in the file).
    """
    if not body.strip():
        raise ParseError("empty body")
    raw = pd.read_csv(io.BytesIO(body), skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    need = ["SCEDTimestamp", "RepeatedHourFlag", "SettlementPoint", "LMP"]
    if [c for c in need if c not in raw]:
        raise ParseError(f"changed header: expected {need}; found {list(raw.columns)}")
    wall = pd.DatetimeIndex(pd.to_datetime(raw["SCEDTimestamp"], format="%m/%d/%Y %H:%M:%S"))
    is_dst = (raw["RepeatedHourFlag"].astype(str).str.strip().str.upper() != "Y").to_numpy()
    start = pd.Series(local_to_utc(wall, TZ, is_dst)).astype("datetime64[ms, UTC]")
    point = raw["SettlementPoint"].astype(str).str.strip()
    kind = point.str.extract(r"^(HB|LZ|DC)_", expand=False).map(
        {"HB": "hub", "LZ": "load_zone", "DC": "dc_tie"}
    )
    out = pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": start + pd.Timedelta(minutes=5),
            "market": "ERCOT_REAL_TIME_SCED",
            "location": point,
            "location_type": kind.fillna("resource_node"),
            "price": pd.to_numeric(raw["LMP"], errors="raise").astype(float),
            "energy": float("nan"),
            "congestion": float("nan"),
            "loss": float("nan"),
            "currency": "USD",
            "unit": "USD/MWh",
            "source": "ercot",
            "published_at_utc": start,
        }
    )
    return out.sort_values(["location", "interval_start_utc"], ignore_index=True)
