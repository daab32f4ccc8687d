"""MISO payloads -> canonical rows. Pure.

MISO stamps its market data in Eastern Standard Time all year (no DST): a fixed UTC-05:00 clock, so every
day has 24 hours. Day-ahead LMP reports are wide (``HE 1`` .. ``HE 24``, hour ending) with one row per node
and value (LMP, MCC congestion, MLC loss); the Data Broker's JSON forecasts give the hour's beginning
(``DateTimeEST``) and the forecast's issue interval in ``RefId``.

Real-time 5-minute LMP (``getLMPConsolidatedTable``, no recording: built from the documented JSON shape
that gridstatus' ``miso.py`` and other public clients read): ``LMPData.RefId`` (``25-Jun-2026 - Interval
02:25 EST``) and ``LMPData.FiveMinLMP.PricingNode`` = ``[{"name", "LMP", "MLC", "MCC"}, ...]`` (values as
strings). The RefId interval is taken as the *end* of the 5-minute interval, as in MISO's fuel mix feed
(``INTERVALEST`` closes its interval); this is not verified on a recording.
"""

from __future__ import annotations

import io
import json
import re

import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

EST = "Etc/GMT+5"  # UTC-05:00 all year
#: day-ahead results are posted around 14:00 EST on the day before the market day (approximation)
DA_POSTED_BEFORE_DAY = pd.Timedelta(hours=10)
_VALUE_COLUMN = {"LMP": "price", "MCC": "congestion", "MLC": "loss"}


def _check_text(body: bytes) -> None:
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of data (MISO error or maintenance page)")


def parse_da_lmp(body: bytes) -> pd.DataFrame:
    """Map a day-ahead ex-ante/ex-post LMP report (``YYYYMMDD_da_exante_lmp.csv``) to price rows."""
    _check_text(body)
    text = body.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    try:
        day = pd.Timestamp(pd.to_datetime(lines[1].strip().strip(","), format="%m/%d/%Y"))
        header_at = next(k for k, line in enumerate(lines) if line.startswith("Node,Type,Value"))
    except (IndexError, StopIteration, ValueError):
        raise ParseError(
            "not a MISO LMP report: no market date on line 2 or no 'Node,Type,Value' header"
        ) from None
    if "Eastern Standard Time" not in text[: text.find("Node,Type,Value")]:
        raise ParseError("the report does not say its hours are EST; the layout changed")
    wide = pd.read_csv(io.StringIO("\n".join(lines[header_at:])))
    hours = [c for c in wide.columns if re.fullmatch(r"HE \d+", c)]
    if len(hours) != 24:
        raise ParseError(f"expected HE 1..HE 24 columns, found {hours}")
    long = wide.melt(id_vars=["Node", "Type", "Value"], value_vars=hours, var_name="he", value_name="v")
    long = long[long["Value"].isin(list(_VALUE_COLUMN))]
    if long.empty:
        raise ParseError(f"no LMP/MCC/MLC rows (values found: {sorted(set(wide['Value']))})")
    hour_end = long["he"].str[3:].astype(int)
    wall = pd.DatetimeIndex(day + pd.to_timedelta(hour_end - 1, unit="h"))
    long = long.assign(start=local_to_utc(wall, EST).astype("datetime64[ms, UTC]"))
    table = long.pivot_table(index=["Node", "Type", "start"], columns="Value", values="v", aggfunc="first")
    table = table.reset_index()
    out = pd.DataFrame(
        {
            "interval_start_utc": table["start"],
            "interval_end_utc": table["start"] + pd.Timedelta(hours=1),
            "market": "MISO_DAY_AHEAD_EXANTE_HOURLY",
            "location": table["Node"].astype(str),
            "location_type": table["Type"].astype(str).str.lower(),
            "price": table["LMP"].astype(float),
            "currency": "USD",
            "unit": "USD/MWh",
            "source": "miso",
        }
    )
    for value, col in (("MCC", "congestion"), ("MLC", "loss")):
        out[col] = table[value].astype(float) if value in table else float("nan")
    out["energy"] = out["price"] - out["congestion"] - out["loss"]  # MEC = LMP - MCC - MLC (NaN if unknown)
    day_start = local_to_utc(pd.DatetimeIndex([day]), EST)[0]
    out["published_at_utc"] = day_start - DA_POSTED_BEFORE_DAY
    return out.sort_values(["location", "interval_start_utc"], ignore_index=True)


def _json(body: bytes) -> dict[str, object]:
    _check_text(body)
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError("expected a JSON object")
    return doc


def _ref_time(doc: dict[str, object]) -> pd.Timestamp:
    """Return the issue time in ``RefId`` (``10-Mar-2025 - Interval 06:00 EST``) as UTC."""
    m = re.fullmatch(r"(\d{1,2}-\w{3}-\d{4}) - Interval (\d{2}:\d{2}) EST", str(doc.get("RefId", "")))
    if not m:
        raise ParseError(f"unreadable RefId {doc.get('RefId')!r}")
    wall = pd.DatetimeIndex([pd.to_datetime(f"{m.group(1)} {m.group(2)}", format="%d-%b-%Y %H:%M")])
    return pd.Timestamp(local_to_utc(wall, EST)[0])


def parse_forecast(body: bytes, variable: str) -> pd.DataFrame:
    """Map a Data Broker wind or solar forecast (``getWindForecast``/``getSolarForecast``) to fundamentals."""
    doc = _json(body)
    records = doc.get("Forecast")
    if not isinstance(records, list) or not records:
        raise ParseError(f"no Forecast list in the answer (keys {sorted(doc)})")
    raw = pd.DataFrame.from_records(records)
    wall = pd.DatetimeIndex(pd.to_datetime(raw["DateTimeEST"], format="%Y-%m-%d %I:%M:%S %p"))
    start = pd.Series(local_to_utc(wall, EST)).astype("datetime64[ms, UTC]")
    return fundamentals_frame(
        start,
        start + pd.Timedelta(hours=1),
        market="MISO",
        area="MISO",
        variable=variable,
        value=pd.to_numeric(raw["Value"], errors="raise").astype(float),
        unit="MW",
        source="miso",
        published=_ref_time(doc),
    )


def parse_fuel_mix(body: bytes) -> pd.DataFrame:
    """Map a Data Broker fuel mix (``getfuelmix``, one 5-minute interval ending at ``INTERVALEST``)."""
    doc = _json(body)
    fuel = doc.get("Fuel")
    records = fuel.get("Type") if isinstance(fuel, dict) else None
    if not isinstance(records, list) or not records:
        raise ParseError("no Fuel.Type list in the answer")
    raw = pd.DataFrame.from_records(records)
    wall = pd.DatetimeIndex(pd.to_datetime(raw["INTERVALEST"], format="%Y-%m-%d %I:%M:%S %p"))
    end = pd.Series(local_to_utc(wall, EST)).astype("datetime64[ms, UTC]")
    variable = "generation_" + raw["CATEGORY"].astype(str).map(slug)
    out = fundamentals_frame(
        end - pd.Timedelta(minutes=5),
        end,
        market="MISO",
        area="MISO",
        variable=variable,
        value=pd.to_numeric(raw["ACT"], errors="raise").astype(float),
        unit="MW",
        source="miso",
        published=end,
    )
    return out.sort_values(["variable", "interval_start_utc"], ignore_index=True)


def parse_df_al(body: bytes) -> pd.DataFrame:
    """Map the daily "Forecasted and Actual Load" workbook (``YYYYMMDD_df_al.xls``) to fundamentals rows.

    One row per market day and hour ending (EST); per local resource zone (and MISO) the medium-term load
    forecast (MTLF) and the actual load, in MWh per hour. Actuals of hours not yet reached are blank. The
    workbook gives only its publication *date*: the end of that day (EST) is used as the publication time,
    so that a point-in-time read never sees the file's values before it certainly existed.
    """
    if not body:
        raise ParseError("empty body")
    if body[:8] != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ParseError("not an XLS workbook (an HTML error page, or a different file?)")
    try:
        sheet = pd.read_excel(io.BytesIO(body), header=None, engine="calamine")
    except Exception as exc:  # calamine raises its own error types for damaged workbooks
        raise ParseError(f"unreadable workbook: {exc}") from None
    labels = sheet[0].astype(str).str.strip()
    try:
        published_row = labels[labels == "Published Date:"].index[0]
        header_row = labels[labels == "Market Day"].index[0]
    except IndexError:
        raise ParseError("no 'Published Date:' or 'Market Day' row: the workbook layout changed") from None
    published_day = pd.Timestamp(sheet.iloc[published_row, 1]).normalize()
    published = local_to_utc(pd.DatetimeIndex([published_day + pd.Timedelta(days=1)]), EST)[0]
    columns = [str(c).strip() for c in sheet.iloc[header_row]]
    data = sheet.iloc[header_row + 1 :].set_axis(columns, axis=1)
    data = data[pd.to_numeric(data["HourEnding"], errors="coerce").notna()]
    day = pd.to_datetime(data["Market Day"])
    wall = pd.DatetimeIndex(day + pd.to_timedelta(data["HourEnding"].astype(int) - 1, unit="h"))
    start = pd.Series(local_to_utc(wall, EST), index=data.index).astype("datetime64[ms, UTC]")
    frames = []
    for column in columns[2:]:
        m = re.fullmatch(r"(\S+) (MTLF|ActualLoad) \(MWh\)", column)
        if not m:
            raise ParseError(f"unknown column {column!r} in the load workbook")
        frames.append(
            fundamentals_frame(
                start,
                start + pd.Timedelta(hours=1),
                market="MISO",
                area=m.group(1),
                variable="load_forecast_mtlf" if m.group(2) == "MTLF" else "load",
                value=pd.to_numeric(data[column], errors="coerce"),
                unit="MWh",
                source="miso",
                published=published,
            )
        )
    out = pd.concat(frames, ignore_index=True).dropna(subset=["value"])
    return out.sort_values(["area", "variable", "interval_start_utc"], ignore_index=True)


def parse_rt_lmp(body: bytes) -> pd.DataFrame:
    """Map a Data Broker ``getLMPConsolidatedTable`` answer to real-time 5-minute price rows (unverified).

    One row per pricing node for the interval ending at ``RefId`` (EST); energy = LMP - MCC - MLC, as
    MISO defines the components. Published at the interval's end (the feed shows the latest interval).

    Raises
    ------
    ParseError
        On an empty body, HTML, non-JSON, no ``LMPData.FiveMinLMP.PricingNode`` list, an unreadable
        ``RefId``, a missing LMP/MLC/MCC field or a non-numeric value.
    """
    doc = _json(body)
    lmp = doc.get("LMPData")
    five = lmp.get("FiveMinLMP") if isinstance(lmp, dict) else None
    nodes = five.get("PricingNode") if isinstance(five, dict) else None
    if not isinstance(lmp, dict) or not isinstance(nodes, list) or not nodes:
        raise ParseError("no LMPData.FiveMinLMP.PricingNode list in the answer")
    end = _ref_time(lmp)
    raw = pd.DataFrame.from_records(nodes)
    missing = [c for c in ("name", "LMP", "MLC", "MCC") if c not in raw]
    if missing:
        raise ParseError(f"changed layout: PricingNode misses {missing}; found {sorted(raw.columns)}")
    try:
        values = raw[["LMP", "MLC", "MCC"]].apply(pd.to_numeric, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"non-numeric price: {exc}") from None
    name = raw["name"].astype(str)
    out = pd.DataFrame(
        {
            "interval_start_utc": end - pd.Timedelta(minutes=5),
            "interval_end_utc": end,
            "market": "MISO_REAL_TIME_5MIN",
            "location": name,
            "location_type": name.str.endswith(".HUB").map({True: "hub", False: "node"}),
            "price": values["LMP"],
            "energy": values["LMP"] - values["MCC"] - values["MLC"],
            "congestion": values["MCC"],
            "loss": values["MLC"],
            "currency": "USD",
            "unit": "USD/MWh",
            "source": "miso",
            "published_at_utc": end,
        }
    )
    for col in ("interval_start_utc", "interval_end_utc", "published_at_utc"):
        out[col] = out[col].astype("datetime64[ms, UTC]")
    if out["location"].duplicated().any():
        raise ParseError(f"node listed twice: {out.loc[out['location'].duplicated(), 'location'].iloc[0]}")
    return out.sort_values(["location"], ignore_index=True)
