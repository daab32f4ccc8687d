"""ERCOT MIS documents -> canonical rows. Pure.

ERCOT stamps intervals by their *end* in Central prevailing time: ``HourEnding`` 1..24 (or ``"24:00"``)
and ``TimeEnding`` for 15-minute data. The hour that happens twice when DST ends is told apart by the
``DSTFlag`` column ("Y" marks the repeated, standard-time hour; SCED files call it ``RepeatedHourFlag``),
which is passed to :func:`marketintel.timeutils.local_to_utc`; nothing is guessed. Interval starts are
computed in UTC, so the 15-minute interval ending at 03:00 CDT on the spring day starts at 01:45 CST
(recorded snippet); on the fall-back day the interval is identified by its start wall time and the flag
(see :func:`ending_to_utc`).

Besides the recorded reports (NP3-560, NP4-737, NP4-732, NP6-788, 15-minute actual load), this module
maps two price reports from their documented layout only (no recording; ``verified=False``): DAM
Settlement Point Prices (NP4-190-CD, ``...DAMSPNP4190.csv``) and real-time Settlement Point Prices
(NP6-905-CD, ``...SPPHLZNP6905_YYYYMMDD_HHMM.csv``). Both are published at the document's posting time
(the ``YYYYMMDD.HHMMSS`` in its name); MIS documents are not revised (a correction is a new document, which
is stored as a new publication).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
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


def ending_to_utc(
    dates: pd.Series, ending: pd.Series, dst_flag: pd.Series | None, length: pd.Timedelta | None = None
) -> pd.Series:
    """Turn ERCOT's (delivery date, hour or time ending, DST flag) into interval ends in UTC.

    With ``length`` (the interval's duration) the interval's *start* wall time is resolved first, with
    the DST flag, and the end is that instant plus ``length``: on the fall-back day the hour ending
    "02:00" exists twice (``N``: 01:00-02:00 CDT, ``Y``: 01:00-02:00 CST) but the wall time 02:00 only once,
    so only the start (01:00, ambiguous, told apart by the flag) identifies it. When a start wall time does
    not exist (spring day: ERCOT labels the interval that ends at the jump by the wall time after it, e.g.
    TimeEnding "03:00" for 01:45-02:00 CST), the end wall times are resolved instead. Every day's labels
    are unambiguous under one of the two readings, and both agree on ordinary days.
    """
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
    if length is not None:
        try:
            start = local_to_utc(pd.DatetimeIndex(wall - length), TZ, is_dst)
            return pd.Series(start + length, index=dates.index).astype("datetime64[ms, UTC]")
        except (ValueError, TypeError):
            pass  # a start in the spring gap: read the end wall times instead
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
    end = ending_to_utc(raw[report.date_col], raw[report.ending_col], raw["DSTFlag"], pd.Timedelta(hours=1))
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
    end = ending_to_utc(raw["DeliveryDate"], raw["TimeEnding"], raw["DSTFlag"], pd.Timedelta(minutes=15))
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


#: SettlementPointType of NP6-905-CD -> canonical location type (gridstatus' reading of ERCOT's codes)
SPP_TYPES = {
    "HU": "hub",
    "AH": "hub",  # aggregate hubs (HB_BUSAVG, HB_HUBAVG)
    "SH": "hub",
    "LZ": "load_zone",
    "LZEW": "load_zone_energy_weighted",
    "LZ_DC": "dc_tie",
    "LZ_DCEW": "dc_tie_energy_weighted",
    "RN": "resource_node",
    "PCCRN": "resource_node",
    "PUN": "resource_node",
}
SPP_DAM_TOKEN, SPP_RT_TOKEN = "DAMSPNP4190", "SPPHLZNP6905"


def _point_kind(point: pd.Series) -> pd.Series:
    """Location type from the name prefix (``HB_``, ``LZ_``, ``DC_``), else a resource node."""
    kind = point.str.extract(r"^(HB|LZ|DC)_", expand=False).map(
        {"HB": "hub", "LZ": "load_zone", "DC": "dc_tie"}
    )
    return kind.fillna("resource_node")


def _document_csv(body: bytes, token: str, need: list[str]) -> tuple[pd.Timestamp, pd.DataFrame]:
    """Return (posting time [UTC], rows) of an MIS document ZIP whose CSV is a ``token`` report."""
    member, csv = unzip_single_csv(body)
    if token not in member:
        raise ParseError(f"document {member!r} is not a {token} report")
    if not csv.strip():
        raise ParseError(f"{member}: empty CSV")
    raw = pd.read_csv(io.BytesIO(csv), dtype=str, skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in need if c not in raw]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(raw.columns)}")
    return posted_at(member), raw


def _prices_frame(
    start: pd.Series, end: pd.Series, market: str, point: pd.Series, kind: pd.Series, price: pd.Series,
    published: pd.Timestamp,
) -> pd.DataFrame:  # fmt: skip
    try:
        value = pd.to_numeric(price, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"non-numeric SettlementPointPrice: {exc}") from None
    out = pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": end,
            "market": market,
            "location": point,
            "location_type": kind,
            "price": value,
            "energy": float("nan"),
            "congestion": float("nan"),
            "loss": float("nan"),
            "currency": "USD",
            "unit": "USD/MWh",
            "source": "ercot",
            "published_at_utc": published,
        }
    )
    out["published_at_utc"] = out["published_at_utc"].astype("datetime64[ms, UTC]")
    if out.duplicated(["location", "interval_start_utc"]).any():
        raise ParseError(
            "a settlement point and interval appear twice (DSTFlag missing on the repeated hour?)"
        )
    return out.sort_values(["location", "interval_start_utc"], ignore_index=True)


def parse_spp_day_ahead(body: bytes) -> pd.DataFrame:
    """Map a DAM Settlement Point Prices document (NP4-190-CD) to hourly price rows [USD/MWh].

    Documented layout (not recorded here): ``DeliveryDate`` (MM/DD/YYYY), ``HourEnding`` ("01:00".."24:00"),
    ``SettlementPoint``, ``SettlementPointPrice``, ``DSTFlag`` ("Y" on the repeated hour), as gridstatus
    reads it. Hour ending is turned into the interval as for the other hourly MIS reports
    (:func:`ending_to_utc`: "02:00" N and "02:00" Y on the fall-back day are 01:00-02:00 CDT and CST); the
    rows are published at the document's posting time (its name), the day before delivery.
    """
    need = ["DeliveryDate", "HourEnding", "SettlementPoint", "SettlementPointPrice", "DSTFlag"]
    published, raw = _document_csv(body, SPP_DAM_TOKEN, need)
    end = ending_to_utc(raw["DeliveryDate"], raw["HourEnding"], raw["DSTFlag"], pd.Timedelta(hours=1))
    point = raw["SettlementPoint"].astype(str).str.strip()
    return _prices_frame(
        end - pd.Timedelta(hours=1), end, "ERCOT_DAY_AHEAD_HOURLY", point, _point_kind(point),
        raw["SettlementPointPrice"], published,
    )  # fmt: skip


def parse_spp_real_time(body: bytes) -> pd.DataFrame:
    """Map a real-time Settlement Point Prices document (NP6-905-CD) to 15-minute price rows [USD/MWh].

    Documented layout (not recorded here): ``DeliveryDate``, ``DeliveryHour`` (hour ending, 1..24),
    ``DeliveryInterval`` (1..4, the quarter of that hour), ``SettlementPointName``, ``SettlementPointType``,
    ``SettlementPointPrice``, ``DSTFlag``. The interval starts ``DeliveryHour - 1`` hours plus
    ``(DeliveryInterval - 1) * 15`` minutes after local midnight (gridstatus' reading, issue #223), wall
    time, with ``DSTFlag`` telling the repeated hour apart; see :func:`ending_to_utc` for DST days (how
    ERCOT labels the spring day in this report is not recorded here). Energy-weighted
    load-zone prices share the zone's name, so they get an ``_EW`` suffix (``LZ_HOUSTON_EW``), as gridstatus
    does. Rows are published at the document's posting time (its name).
    """
    need = ["DeliveryDate", "DeliveryHour", "DeliveryInterval", "SettlementPointName", "SettlementPointType",
            "SettlementPointPrice", "DSTFlag"]  # fmt: skip
    published, raw = _document_csv(body, SPP_RT_TOKEN, need)
    try:
        hour = pd.to_numeric(raw["DeliveryHour"], errors="raise").astype(int)
        quarter = pd.to_numeric(raw["DeliveryInterval"], errors="raise").astype(int)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"unreadable DeliveryHour or DeliveryInterval: {exc}") from None
    if not (hour.between(1, 24).all() and quarter.between(1, 4).all()):
        raise ParseError("DeliveryHour outside 1..24 or DeliveryInterval outside 1..4")
    minutes = (hour - 1) * 60 + quarter * 15  # the interval's end, in minutes after local midnight
    ending = (minutes // 60).astype(str) + ":" + (minutes % 60).astype(str).str.zfill(2)
    end = ending_to_utc(raw["DeliveryDate"], ending, raw["DSTFlag"], pd.Timedelta(minutes=15))
    start = end - pd.Timedelta(minutes=15)
    kind_code = raw["SettlementPointType"].astype(str).str.strip().str.upper()
    point = raw["SettlementPointName"].astype(str).str.strip()
    point = point.where(~kind_code.isin(["LZEW", "LZ_DCEW"]), point + "_EW")
    kind = kind_code.map(SPP_TYPES).fillna(_point_kind(point))
    return _prices_frame(
        start, end, "ERCOT_REAL_TIME_15_MIN", point, kind,
        raw["SettlementPointPrice"], published,
    )  # fmt: skip
