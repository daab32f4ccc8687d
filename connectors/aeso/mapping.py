"""AESO reports -> canonical rows. Pure: bytes in, frame out.

Time zone and stamps
--------------------
AESO runs the Alberta market on Mountain *prevailing* time (``America/Edmonton``: MST, UTC-07:00, in
winter and MDT, UTC-06:00, in summer); its API calls the local stamps ``*_mpt`` ("Mountain Prevailing
Time") and gives the UTC instant beside them.

Current Supply and Demand (CSD) report (``CSDReportServlet?contentType=csv``)
    A snapshot of the system, refreshed about every minute: a title, ``"Last Update : Jul 13, 2017 19:26"``
    (MPT wall clock), then blocks separated by blank lines: the summary (``"label","MW"``), generation by
    fuel type (``"fuel","MC","TNG","DCR"``: maximum capability, total net generation and dispatched
    contingency reserve [MW]), interchange by intertie (``"path","MW"``, with a ``TOTAL``), then one block
    per asset type (``"Name (ID)","MC","TNG","DCR"``, gas split by ``<center><b>Simple Cycle</b>``-style
    sub-headers and ``"ASSET","MC","TNG","DCR"`` header lines). The numbers are instantaneous SCADA
    readings, not interval averages: each is stored over the one minute *ending* at the Last Update stamp,
    ``[last_update - 1 min, last_update)``, and published at ``last_update`` (the report says when it was
    written, so that is ``published_at_utc``). Net Actual Interchange and the intertie flows are positive
    for exports: the recorded report has AIL 10270 = net generation 10054 - interchange (-216), and the
    -216 MW all on British Columbia; rows carry ``area = ALBERTA`` and ``area_to = <intertie>``, so
    positive = from Alberta to the neighbour, as the ``fundamentals`` table defines ``area_to``.

Wind and solar 7-day forecasts (``wind_rpt_longterm.csv``, ``solar_rpt_longterm.csv``)
    One row per hour, ``Forecast Transaction Date`` (``2025-03-18 04:00``, MPT wall clock), ``Min``,
    ``Most Likely``, ``Max``, ``Actual`` (blank for hours not yet metered), ``MCR`` (installed maximum
    continuous rating) and the three forecasts as a percentage of MCR (derivable, not stored).

    *The stamp is the hour's beginning.* Evidence, from the recorded solar file (2025-03-18..27, after
    DST began on 2025-03-09, so the wall clock is MDT): (1) output is non-zero from the row stamped 07:00
    to the row stamped 19:00 every day; sunrise in southern Alberta is about 07:30 MDT and sunset about
    19:40 MDT, so the hour 07:00-08:00 is partly lit (0.44 MW actual on 03-18) and 19:00-20:00 too
    (34.9 MW), while read as hour-*ending* the row 07:00 would be the dark hour 06:00-07:00 and the row
    20:00 (0 MW) the lit hour 19:00-20:00; (2) the energy-weighted centre of the daily profile read as
    hour-beginning is 13:00-13:30 MDT on 7 of the 9 forecast days (12:58..14:31 on all), near solar noon
    there (about 13:35 MDT), and an hour earlier (about 12:20) when read as hour-ending; (3) the report
    spans exactly 48 hours of history and 168 hours ahead of the
    first hour with no actual (2025-03-18 04:00 .. 2025-03-27 03:00 around 2025-03-20 04:00), i.e. it is
    anchored on the current hour by its start. gridstatus and Electricity Maps read the column the same
    way (as the interval start, localised in Mountain prevailing time). Caveat: in a summer-time file,
    "hour-ending in MST" gives the very same UTC instants, so the files cannot tell those two apart; AESO
    documents its reports in prevailing time, hence hour-beginning MPT.

    *Issue time.* The file carries none. The last hour with an ``Actual`` (2025-03-20 03:00-04:00 in the
    recordings) was metered when the report was written, the next was not: the report was written during
    the following hour (it is regenerated hourly). ``published_at_utc`` of every forecast row is the end of
    that following hour (2025-03-20 05:00 MDT = 11:00 UTC): an approximation that is never earlier than
    the real issue time, so as-of reads cannot see the forecast before it existed. The forecast rows for
    the 48 past hours are kept with that same issue time (they are what the report said then). Actuals
    are published at their interval's end (the platform convention for actuals); the same hour's actual,
    repeated in 48 consecutive reports, is therefore one fact, not 48.

    On the autumn DST day the wall clock repeats 01:00; the rows are in time order, so the first 01:00
    is MDT and the second MST (passed explicitly to :func:`marketintel.timeutils.local_to_utc`).

Pool price and system marginal price (APIM JSON API; no recording, documented layout, ``verified=False``)
    ``{"timestamp": "2024-04-19 03:29:58.480+0000", "responseCode": "200", "return": {"Pool Price Report":
    [{"begin_datetime_utc": "2024-04-14 06:00", "begin_datetime_mpt": "2024-04-14 00:00", "pool_price":
    "28.89", "forecast_pool_price": "28.77", "rolling_30day_avg": "66.02"}, ...]}}``; the OpenAPI document
    shows the report without the outer ``return``; both are accepted. Values are strings [CAD/MWh].
    ``begin_datetime_utc`` is the settlement hour's start (UTC, so DST days need no guessing: 23 or 25
    rows); ``begin_datetime_mpt`` is cross-checked against it. ``pool_price`` is blank for hours not yet
    settled (no price row then). The pool price is published at the hour's end; AESO's forecast pool price
    is updated until the hour ends, so a forecast row is published at ``min(hour end, response
    timestamp)`` (the hour's end when the answer has no timestamp). ``rolling_30day_avg`` is a statistic
    of the prices themselves and is not stored. The system marginal price report lists the blocks that set
    the SMP, ``[begin_datetime_utc, end_datetime_utc)``, with ``system_marginal_price`` [CAD/MWh] and
    ``volume`` (not stored); the block still active when the answer was written ends at a placeholder
    (23:59 of the day, per gridstatus), so blocks that end after the response timestamp are left out until
    a later answer has their real end.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/Edmonton"
MARKET = "AESO"
AREA = "ALBERTA"
SOURCE = "aeso"
POOL_MARKET = "AESO_POOL_PRICE_HOURLY"
POOL_FORECAST_MARKET = "AESO_POOL_PRICE_FORECAST_HOURLY"
SMP_MARKET = "AESO_SMP_VARIABLE"  # an SMP holds from the minute it is set until the next one: no fixed length

_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_LAST_UPDATE = re.compile(r"Last Update\s*:\s*([A-Za-z]{3,9}\.? \d{1,2}, \d{4} \d{1,2}:\d{2})")
_ASSET_ID = re.compile(r"\(([^()]+)\)\s*\**\s*$")

#: CSD summary labels -> variable names; other labels become ``slug(label)``
SUMMARY_VARIABLES = {
    "Alberta Total Net Generation": "generation_total_net",
    "Net Actual Interchange": "net_interchange",
    "Alberta Internal Load (AIL)": "load",
    "Net-To-Grid Generation": "generation_net_to_grid",
    "Contingency Reserve Required": "contingency_reserve_required",
    "Dispatched Contingency Reserve (DCR)": "dispatched_contingency_reserve",
    "Dispatched Contingency Reserve -Gen": "dispatched_contingency_reserve_from_generation",
    "Dispatched Contingency Reserve -Other": "dispatched_contingency_reserve_from_other",
}
#: the per-fuel and per-asset columns of the CSD report -> variable stems
CSD_MEASURES = (("MC", "capability"), ("TNG", "generation"), ("DCR", "dispatched_contingency_reserve"))
#: wind/solar report columns -> variable suffix (after ``wind_`` / ``solar_``)
VG_FORECASTS = {"Most Likely": "forecast", "Min": "forecast_min", "Max": "forecast_max", "MCR": "capacity"}
VG_COLUMNS = ("Forecast Transaction Date", "Min", "Most Likely", "Max", "Actual", "MCR")


# ------------------------------------------------------------------------------------------------------
# shared checks
# ------------------------------------------------------------------------------------------------------
def _text(body: bytes, what: str) -> str:
    """Decode a CSV body, refusing empty bodies and HTML error pages."""
    if not body.strip():
        raise ParseError("empty body")
    head = body.lstrip()[:200].lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise ParseError(f"an HTML page instead of the {what} CSV (error or maintenance page?)")
    return body.decode("utf-8-sig", errors="replace")


def _utc_ms(values: Any) -> pd.Series:
    return pd.Series(values).astype("datetime64[ms, UTC]")


def _mpt_to_utc(wall: pd.DatetimeIndex, is_dst: np.ndarray[Any, Any] | None, what: str) -> pd.DatetimeIndex:
    try:
        return local_to_utc(wall, TZ, is_dst)
    except ValueError as exc:  # pytz/zoneinfo NonExistentTimeError and AmbiguousTimeError are ValueErrors
        raise ParseError(
            f"{what}: local times that do not exist or cannot be resolved in {TZ}: {exc}"
        ) from None


# ------------------------------------------------------------------------------------------------------
# Current Supply and Demand report
# ------------------------------------------------------------------------------------------------------
def csd_last_update_utc(text: str) -> pd.Timestamp:
    """Return the CSD report's ``Last Update`` stamp (MPT wall clock) as a UTC instant.

    In the repeated hour of the autumn DST change the stamp is ambiguous; it is read as standard time
    (the later of the two instants), which never makes a reading look older than it is.
    """
    m = _LAST_UPDATE.search(text)
    if not m:
        raise ParseError("no 'Last Update : Mon DD, YYYY HH:MM' line: not a Current Supply Demand report")
    try:
        wall = pd.DatetimeIndex([pd.to_datetime(m.group(1).replace(".", ""), format="%b %d, %Y %H:%M")])
    except ValueError as exc:
        raise ParseError(f"unreadable Last Update stamp {m.group(1)!r}: {exc}") from None
    return pd.Timestamp(_mpt_to_utc(wall, np.array([False]), "Last Update")[0])


def _blocks(text: str) -> list[list[list[str]]]:
    """Return the report's blank-line separated blocks, each a list of CSV rows (cells stripped)."""
    blocks: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        current.append([cell.strip() for cell in next(csv.reader([line]))])
    if current:
        blocks.append(current)
    return blocks


def _numbers(cells: list[str], where: str) -> list[float]:
    try:
        return [float(c.replace(",", "")) for c in cells]
    except ValueError:
        raise ParseError(f"non-numeric value in {where}: {cells}") from None


def parse_csd(body: bytes) -> pd.DataFrame:
    """Map a Current Supply and Demand report (CSV) to ``fundamentals`` rows.

    Rows: the summary (``load`` = Alberta Internal Load, ``generation_total_net``, ``net_interchange``,
    reserves), ``capability_<fuel>`` / ``generation_<fuel>`` / ``dispatched_contingency_reserve_<fuel>``
    by fuel type (``<fuel>`` = ``total`` for the TOTAL line), ``flow`` per intertie (``area_to`` = the
    intertie, ``TOTAL`` for the sum; positive = export), and ``asset_capability`` / ``asset_generation``
    / ``asset_dispatched_contingency_reserve`` per asset (``area`` = the asset's short ID). All in [MW],
    over the minute ending at the report's Last Update stamp.
    """
    text = _text(body, "Current Supply Demand")
    if "Current Supply Demand" not in text[:500]:
        raise ParseError("not a Current Supply Demand report (no title line)")
    published = csd_last_update_utc(text)
    blocks = _blocks(text)
    pair_blocks = [b for b in blocks if all(len(r) == 2 for r in b)]
    summary = next((b for b in pair_blocks if any(r[0] == "Alberta Internal Load (AIL)" for r in b)), None)
    if summary is None:
        raise ParseError("changed report: no summary block with 'Alberta Internal Load (AIL)'")
    fuel_at = next(
        (k for k, b in enumerate(blocks) if all(len(r) == 4 for r in b) and any(r[0] == "TOTAL" for r in b)),
        None,
    )
    if fuel_at is None:
        raise ParseError("changed report: no generation-by-fuel block (fuel, MC, TNG, DCR with a TOTAL line)")
    tie_at = next(
        (
            k
            for k, b in enumerate(blocks)
            if k > fuel_at and all(len(r) == 2 for r in b) and any(r[0] == "TOTAL" for r in b)
        ),
        None,
    )
    if tie_at is None:
        raise ParseError("changed report: no interchange block (path, MW with a TOTAL line) after the fuels")

    rows: list[tuple[str, str, str, float]] = []  # (area, area_to, variable, value)
    for label, value in summary:
        rows.append((AREA, "", SUMMARY_VARIABLES.get(label, slug(label)), _numbers([value], label)[0]))
    for fuel, *values in blocks[fuel_at]:
        for (_, stem), number in zip(CSD_MEASURES, _numbers(values, fuel), strict=True):
            rows.append((AREA, "", f"{stem}_{slug(fuel)}", number))
    for path, value in blocks[tie_at]:
        to = "TOTAL" if path == "TOTAL" else slug(path).upper()
        rows.append((AREA, to, "flow", _numbers([value], path)[0]))
    for block in blocks[tie_at + 1 :]:
        for row in block:
            if (len(row) == 1 and row[0].startswith("<")) or row[0].upper() == "ASSET":
                continue  # sub-headers (<center><b>Simple Cycle</b></center>) and column headers
            if len(row) != 4:
                raise ParseError(f"changed report: asset line with {len(row)} fields: {row}")
            m = _ASSET_ID.search(row[0])
            if not m:
                raise ParseError(f"asset line without an '(ID)': {row[0]!r}")
            for (_, stem), number in zip(CSD_MEASURES, _numbers(row[1:], row[0]), strict=True):
                rows.append((m.group(1).strip(), "", f"asset_{stem}", number))

    raw = pd.DataFrame(rows, columns=["area", "area_to", "variable", "value"])
    key = ["area", "area_to", "variable"]
    dup = raw.duplicated(key, keep=False)
    if dup.any():  # the same asset listed twice (e.g. under two fuels) with different values
        conflicting = raw[dup].drop_duplicates().duplicated(key, keep=False)
        if conflicting.any():
            raise ParseError(f"conflicting values for {raw[dup][key].drop_duplicates().values.tolist()}")
        raw = raw.drop_duplicates(key)  # identical repeats are one fact
    out = fundamentals_frame(
        _utc_ms([published - pd.Timedelta(minutes=1)] * len(raw)),
        _utc_ms([published] * len(raw)),
        market=MARKET,
        area=raw["area"].to_numpy(),
        area_to=raw["area_to"].to_numpy(),
        variable=raw["variable"].to_numpy(),
        value=raw["value"].astype(float).to_numpy(),
        unit="MW",
        source=SOURCE,
        published=_utc_ms([published] * len(raw)),
    )
    return out.sort_values(_FUND_ORDER, ignore_index=True)


# ------------------------------------------------------------------------------------------------------
# Wind and solar 7-day forecast reports
# ------------------------------------------------------------------------------------------------------
def parse_vg_forecast(body: bytes, fuel: str) -> pd.DataFrame:
    """Map a wind or solar long-term (7-day) forecast report to ``fundamentals`` rows.

    Parameters
    ----------
    body : bytes
        The CSV as AESO serves it.
    fuel : {"wind", "solar"}
        Which report it is (the two share one layout).

    Returns
    -------
    pd.DataFrame
        ``<fuel>_forecast`` (most likely), ``<fuel>_forecast_min``, ``<fuel>_forecast_max`` and
        ``<fuel>_capacity`` (MCR) for every hour, published at the report's issue time, and
        ``<fuel>_generation`` (the metered hourly actual) where present, published at the hour's end.
        Values in [MW].
    """
    text = _text(body, f"{fuel} forecast")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ParseError(f"unreadable CSV: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in VG_COLUMNS if c not in raw.columns]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(raw.columns)}")
    if raw.empty:
        raise ParseError("the report has a header but no rows")
    try:
        wall = pd.DatetimeIndex(
            pd.to_datetime(raw["Forecast Transaction Date"].str.strip(), format="%Y-%m-%d %H:%M")
        )
    except ValueError as exc:
        raise ParseError(f"unreadable Forecast Transaction Date: {exc}") from None
    is_dst = ~wall.duplicated(keep="first")  # a repeated 01:00 (autumn): first MDT, then MST
    start = _utc_ms(_mpt_to_utc(wall, is_dst, "Forecast Transaction Date"))
    end = start + pd.Timedelta(hours=1)

    def numeric(col: str) -> pd.Series:
        values = raw[col].str.strip()
        try:
            return pd.Series(pd.to_numeric(values.mask(values == ""), errors="raise"), dtype=float)
        except ValueError as exc:
            raise ParseError(f"non-numeric {col!r}: {exc}") from None

    actual = numeric("Actual")
    metered = actual.notna().to_numpy()
    if not metered.any():
        raise ParseError("no hour has an Actual: the report's issue time cannot be told")
    # issue time: the report was written during the hour after the last metered one; take that hour's end
    issued = start[metered].max() + pd.Timedelta(hours=2)
    frames = []
    for col, suffix in VG_FORECASTS.items():
        values = numeric(col)
        if values.isna().any():
            raise ParseError(f"blank {col!r} for {int(values.isna().sum())} hour(s)")
        frames.append(
            fundamentals_frame(
                start, end, market=MARKET, area=AREA, variable=f"{fuel}_{suffix}", value=values,
                unit="MW", source=SOURCE, published=_utc_ms([issued] * len(raw)),
            )
        )  # fmt: skip
    frames.append(
        fundamentals_frame(
            start[metered], end[metered], market=MARKET, area=AREA, variable=f"{fuel}_generation",
            value=actual[metered], unit="MW", source=SOURCE, published=end[metered],
        )
    )  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    if out.duplicated(["variable", "interval_start_utc"]).any():
        raise ParseError("the same hour is listed twice")
    return out.sort_values(_FUND_ORDER, ignore_index=True)


# ------------------------------------------------------------------------------------------------------
# APIM price reports (documented layout; no recording)
# ------------------------------------------------------------------------------------------------------
def api_records(body: bytes, report: str) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """Return the records of an AESO API answer and its ``timestamp`` (UTC), if it has one.

    Accepts ``{"timestamp": ..., "responseCode": "200", "return": {report: [...]}}`` and the bare
    ``{report: [...]}`` of the OpenAPI example.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML or XML page instead of JSON (gateway error page?)")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    if "statusCode" in doc and report not in doc:  # the APIM gateway's error envelope
        raise ParseError(f"API error {doc.get('statusCode')}: {doc.get('message', '')}")
    node = doc.get("return", doc)
    records = node.get(report) if isinstance(node, dict) else None
    if not isinstance(records, list):
        keys = sorted(node) if isinstance(node, dict) else type(node).__name__
        raise ParseError(f"no {report!r} list in the answer (found {keys})")
    if not records:
        raise ParseError(f"{report!r} holds no records")
    stamp = doc.get("timestamp")
    issued = None
    if stamp:
        try:
            issued = pd.Timestamp(stamp)
        except ValueError as exc:
            raise ParseError(f"unreadable response timestamp {stamp!r}: {exc}") from None
        issued = issued.tz_localize("UTC") if issued.tzinfo is None else issued.tz_convert("UTC")
    return pd.DataFrame.from_records(records), issued


def _api_utc(raw: pd.DataFrame, col: str) -> pd.Series:
    if col not in raw:
        raise ParseError(f"changed layout: missing {col!r}; found {sorted(raw.columns)}")
    try:
        return _utc_ms(pd.to_datetime(raw[col].astype(str).str.strip(), format="%Y-%m-%d %H:%M", utc=True))
    except ValueError as exc:
        raise ParseError(f"unreadable {col}: {exc}") from None


def _check_mpt(raw: pd.DataFrame, utc: pd.Series, col: str) -> None:
    """Check the report's Mountain prevailing stamps against its UTC ones."""
    if col not in raw:
        return
    expected = utc.dt.tz_convert(TZ).dt.strftime("%Y-%m-%d %H:%M")
    given = raw[col].astype(str).str.strip()
    bad = expected != given
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(f"{col} {given.iloc[first]!r} is not {utc.iloc[first]} in {TZ}")


def _price(raw: pd.DataFrame, col: str) -> pd.Series:
    if col not in raw:
        raise ParseError(f"changed layout: missing {col!r}; found {sorted(raw.columns)}")
    values = raw[col].map(lambda v: np.nan if v is None or str(v).strip() in ("", "-") else v)
    try:
        return pd.to_numeric(values, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"non-numeric {col!r}: {exc}") from None


def _price_frame(
    start: pd.Series, end: pd.Series, market: str, price: pd.Series, published: pd.Series, revision: str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "interval_start_utc": start.to_numpy(),
            "interval_end_utc": end.to_numpy(),
            "market": market,
            "location": AREA,
            "location_type": "zone",
            "price": price.to_numpy(),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": "CAD",
            "unit": "CAD/MWh",
            "revision": revision,
            "source": SOURCE,
            "published_at_utc": published.to_numpy(),
        }
    )


def parse_pool_price(body: bytes) -> pd.DataFrame:
    """Map a Pool Price Report answer to ``prices`` rows (documented layout, not verified).

    ``AESO_POOL_PRICE_HOURLY`` holds the settled pool price of each hour (published at the hour's end);
    ``AESO_POOL_PRICE_FORECAST_HOURLY`` AESO's forecast pool price (published at ``min(hour end, response
    timestamp)``). Location ``ALBERTA`` (one price for the province), [CAD/MWh].
    """
    raw, issued = api_records(body, "Pool Price Report")
    start = _api_utc(raw, "begin_datetime_utc")
    _check_mpt(raw, start, "begin_datetime_mpt")
    end = _utc_ms(start + pd.Timedelta(hours=1))
    actual = _price(raw, "pool_price")
    forecast = _price(raw, "forecast_pool_price")
    settled = actual.notna()
    fc = forecast.notna()
    fc_published = end if issued is None else _utc_ms(end.where(end <= issued, issued))
    out = pd.concat(
        [
            _price_frame(start[settled], end[settled], POOL_MARKET, actual[settled], end[settled], ""),
            _price_frame(
                start[fc], end[fc], POOL_FORECAST_MARKET, forecast[fc], fc_published[fc], "forecast"
            ),
        ],
        ignore_index=True,
    )
    if out.empty:
        raise ParseError("no hour has a pool price or a forecast pool price")
    if out.duplicated(["market", "interval_start_utc"]).any():
        raise ParseError("the same settlement hour is listed twice")
    return out.sort_values(_PRICE_ORDER, ignore_index=True)


def parse_smp(body: bytes) -> pd.DataFrame:
    """Map a System Marginal Price Report answer to ``prices`` rows (documented layout, not verified).

    One row per block that set the SMP, ``[begin, end)``, published at its end, [CAD/MWh]; the block still
    active at the response timestamp (its end is a placeholder) is left out until its end is known.
    """
    raw, issued = api_records(body, "System Marginal Price Report")
    start = _api_utc(raw, "begin_datetime_utc")
    end = _api_utc(raw, "end_datetime_utc")
    _check_mpt(raw, start, "begin_datetime_mpt")
    price = _price(raw, "system_marginal_price")
    if price.isna().any():
        raise ParseError(f"blank system_marginal_price in {int(price.isna().sum())} block(s)")
    if (end <= start).any():
        raise ParseError("an SMP block that does not end after it begins")
    keep = pd.Series(True, index=raw.index) if issued is None else end <= issued
    if not keep.any():
        raise ParseError("no completed SMP block in the answer")
    out = _price_frame(start[keep], end[keep], SMP_MARKET, price[keep], end[keep], "")
    if out.duplicated(["interval_start_utc"]).any():
        raise ParseError("two SMP blocks start at the same minute")
    return out.sort_values(_PRICE_ORDER, ignore_index=True)
