"""CAISO web reports outside OASIS -> canonical ``fundamentals`` rows. Pure.

Two publications, both stamped in Pacific *prevailing* time (``America/Los_Angeles``):

Today's Outlook 7-day outlook (``/outlook/history/YYYYMMDD/rtm_forecast_7day.csv``)
    One row per 5 minutes: ``Time`` (``MM/DD/YYYY HH:MM``), actual ``Demand`` and ``Net Demand``, the
    day-ahead demand / net demand forecasts, resource adequacy (RA) capacity forecasts, reserve
    requirements and RA credits [MW]. ``Time`` is the *end* of a 5-minute interval. Evidence (recorded file
    of 2026-03-11): the hourly forecast columns change value at ``HH:05`` and hold it through the next
    ``HH+1:00`` row (e.g. the day-ahead demand forecast is 22556 at 00:00, 21677 from 00:05 to 01:00,
    20835 from 01:05 to 02:00), so ``HH:00`` closes hour-ending ``HH``; and the file runs from
    ``03/11 00:00`` to ``03/19 00:00`` inclusive (2305 rows = 8 days x 288 + 1), the first row closing the
    previous day's last interval. The hourly forecasts are kept at the published 5-minute resolution.

    Issue time: the file does not say when it was written. The archive of day D holds actuals up to the end
    of D and forecasts beyond it, so it is taken as written when its last actual ``Demand`` interval ended
    (2026-03-12 00:00 PDT in the recording). Forecast columns get that snapshot time as
    ``published_at_utc`` (an approximation, and an upper bound for values issued earlier, e.g. the
    day-ahead forecast of D itself); actual columns (``Demand``, ``Net Demand``, ``Reserve requirement``)
    get the end of their interval. Blank cells (actuals after the snapshot) are "not yet known", not
    values, and give no row.

Daily Renewables Watch (``content.caiso.com/green/renewrpt/YYYYMMDD_DailyRenewablesWatch.txt``)
    Tab-separated text with two tables: "Hourly Breakdown of Renewable Resources (MW)" (geothermal,
    biomass, biogas, small hydro, wind, solar PV, solar thermal) and "Hourly Breakdown of Total Production
    by Resource Type (MW)" (renewables, nuclear, thermal, imports, hydro), rows ``Hour`` 1..24 = hour
    ending in Pacific prevailing time, date in the first cell (``MM/DD/YY``). On the spring DST day
    (recorded: 2017-03-12) the file still has 24 rows: hour 3 (02:00-03:00, a wall hour that does not
    exist) carries a .NET error text ("The supplied DateTime represents an invalid time...") or
    ``0``/``#VALUE!`` placeholders; that row is dropped because its hour does not exist (no data is
    invented and none of a real hour is lost). A non-numeric cell in any *existing* hour is a ParseError.
    How the file writes the 25-hour autumn DST day is not recorded: 25 hour rows are read as consecutive
    hours from local midnight. With 24 rows on the 25-hour day, the row of hour ending 2 (01:00-02:00, a
    wall hour that happens twice) cannot be placed: it is left out, every other hour is kept (their wall
    times are unambiguous), and the frame says why in ``attrs["left_out"]``, which the runner records
    with the payload (status ``partial``).
    Publication: the report covers a whole day and cannot exist before the day ends; the end of the
    operating day (local midnight after it) is used as ``published_at_utc`` (a lower bound on the real
    posting, which is usually the next morning).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/Los_Angeles"
FIVE_MIN = pd.Timedelta(minutes=5)

#: Today's Outlook column -> (variable, is an actual measurement)
OUTLOOK_COLUMNS = {
    "Demand": ("load", True),
    "Net Demand": ("net_load", True),
    "Day-ahead demand forecast": ("load_forecast_day_ahead", False),
    "Day-ahead net demand forecast": ("net_load_forecast_day_ahead", False),
    "Resource adequacy capacity forecast": ("ra_capacity_forecast", False),
    "Net resource adequacy capacity forecast": ("net_ra_capacity_forecast", False),
    "Reserve requirement": ("reserve_requirement", True),
    "Reserve requirement forecast": ("reserve_requirement_forecast", False),
    "Resource adequacy credits": ("ra_credits", False),
}


def _check_text(body: bytes) -> str:
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of the report (CAISO error or maintenance page)")
    return body.decode("utf-8-sig", errors="replace")


def _wall_to_utc(wall: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Pacific prevailing wall times, in file order, to UTC: a repeated wall time is the standard one."""
    is_dst = ~pd.Series(wall).duplicated(keep="first").to_numpy()
    try:
        return local_to_utc(wall, TZ, is_dst)
    except ValueError as exc:
        raise ParseError(f"a stamp that does not exist in Pacific time: {exc}") from None


def parse_outlook_7day(body: bytes) -> pd.DataFrame:
    """Map a Today's Outlook ``rtm_forecast_7day.csv`` to fundamentals rows (5-minute intervals).

    Raises
    ------
    ParseError
        On an empty body, an HTML page, a missing column (named), or no actual demand at all (the
        snapshot time cannot then be told).
    """
    text = _check_text(body)
    raw = pd.read_csv(io.StringIO(text))
    missing = [c for c in ("Time", *OUTLOOK_COLUMNS) if c not in raw]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(raw.columns)}")
    try:
        wall = pd.DatetimeIndex(pd.to_datetime(raw["Time"], format="%m/%d/%Y %H:%M"))
    except ValueError as exc:
        raise ParseError(f"unreadable Time stamp: {exc}") from None
    end = pd.Series(_wall_to_utc(wall)).astype("datetime64[ms, UTC]")
    demand = pd.to_numeric(raw["Demand"], errors="coerce")
    if demand.isna().all():
        raise ParseError("no actual Demand in the outlook: cannot tell when it was archived")
    snapshot = end[demand.notna()].max()
    frames = []
    for column, (variable, actual) in OUTLOOK_COLUMNS.items():
        value = pd.to_numeric(raw[column], errors="coerce")
        bad = value.isna() & raw[column].notna()
        if bad.any():
            raise ParseError(f"non-numeric {column!r} value {raw.loc[bad, column].iloc[0]!r}")
        keep = value.notna()
        frames.append(
            fundamentals_frame(
                end[keep] - FIVE_MIN,
                end[keep],
                market="CAISO",
                area="CAISO",
                variable=variable,
                value=value[keep].astype(float),
                unit="MW",
                source="caiso",
                published=end[keep] if actual else snapshot,
            )
        )
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["variable", "interval_start_utc"], ignore_index=True)


_TABLE_TITLES = ("Hourly Breakdown of Renewable Resources", "Hourly Breakdown of Total Production")
#: Renewables Watch labels whose slug is not the variable wanted
_WATCH_VARIABLES = {"WIND TOTAL": "generation_wind", "IMPORTS": "imports"}
_DST_PLACEHOLDER = re.compile(r"invalid time|#VALUE!", re.IGNORECASE)


def _watch_tables(text: str) -> list[pd.DataFrame]:
    """Split the report into its tables: header row ``Hour`` + the numbered hour rows after it.

    The labels of a header row are not aligned with its data (recorded: ``Hour``, blank, ``GEOTHERMAL``,
    ``BIOMASS``, blank, ...; data: hour, blank, value, blank, value, ...): the k-th label's values are in
    the (2k+2)-th cell after ``Hour``, and the cells between them must be blank.
    """
    # quoted cells may hold newlines (the DST error text): let the CSV reader join them
    grid = pd.read_csv(
        io.StringIO(text), sep="\t", header=None, dtype=str, keep_default_na=False, skip_blank_lines=False
    )
    cells = grid.apply(lambda col: col.str.strip())
    first = cells.apply(lambda row: next((c for c in row if c), ""), axis=1)
    tables = []
    for at in np.flatnonzero(first.to_numpy() == "Hour"):
        header = cells.iloc[at]
        hour_col = int(np.flatnonzero(header.to_numpy() == "Hour")[0])
        labels = [v for v in header.iloc[hour_col + 1 :] if v]
        # the header's labels are not aligned with the data: values sit in every second cell after Hour
        value_cols = [hour_col + 2 + 2 * k for k in range(len(labels))]
        rows = []
        for k in range(at + 1, len(cells)):
            if not cells.iat[k, hour_col].isdigit():
                break
            rows.append(k)
        block = cells.iloc[rows]
        gaps = [c for c in range(hour_col + 1, max(value_cols) + 1) if c not in value_cols]
        if value_cols[-1] >= cells.shape[1] or (block[gaps] != "").any().any():
            raise ParseError(f"changed layout: values are not in every second cell after Hour ({labels})")
        block = block[[hour_col, *value_cols]].set_axis(["hour", *labels], axis=1)
        tables.append(block.reset_index(drop=True))
    return tables


def parse_renewables_watch(body: bytes) -> pd.DataFrame:
    """Map a Daily Renewables Watch text report to hourly fundamentals rows [MW].

    Raises
    ------
    ParseError
        On an empty body, an HTML page, no date in the first cell, a missing table, a non-numeric value in
        an hour that exists, or an hour count that does not fit the day (see the module docstring).
    """
    text = _check_text(body)
    if not all(title in text for title in _TABLE_TITLES):
        raise ParseError(f"not a Daily Renewables Watch report: missing a table title {_TABLE_TITLES}")
    m = re.match(r"\s*(\d{2}/\d{2}/\d{2})\t", text)
    if not m:
        raise ParseError("no report date (MM/DD/YY) in the first cell")
    day = pd.Timestamp(pd.to_datetime(m.group(1), format="%m/%d/%y"))
    day_start = local_to_utc(pd.DatetimeIndex([day]), TZ)[0]
    day_end = local_to_utc(pd.DatetimeIndex([day + pd.Timedelta(days=1)]), TZ)[0]
    day_hours = int((day_end - day_start) / pd.Timedelta(hours=1))
    tables = _watch_tables(text)
    if len(tables) != 2:
        raise ParseError(f"expected 2 hourly tables, found {len(tables)}")
    frames = []
    left_out = ""
    for table in tables:
        hour = table["hour"].astype(int)
        if list(hour) != list(range(1, len(hour) + 1)) or len(hour) not in (24, 25):
            raise ParseError(f"hours are not 1..24 (or 1..25): {list(hour)}")
        if len(hour) == 25 and day_hours == 25:
            start = pd.Series(day_start + pd.to_timedelta(hour - 1, unit="h"))
            exists = pd.Series(True, index=table.index)
        elif len(hour) == 24:
            wall = pd.DatetimeIndex(day + pd.to_timedelta(hour - 1, unit="h"))
            # NaT where the wall hour does not exist (spring) or happens twice (autumn); tell them apart
            as_dst = np.ones(len(wall), dtype=bool)
            nonexistent = np.asarray(wall.tz_localize(TZ, ambiguous=as_dst, nonexistent="NaT").isna())
            local = wall.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")
            ambiguous = pd.Series(np.asarray(local.isna()) & ~nonexistent, index=table.index)
            exists = pd.Series(~nonexistent, index=table.index)
            start = pd.Series(local.tz_convert("UTC"), index=table.index)
            if ambiguous.any():
                hours = ", ".join(f"hour ending {h}" for h in hour[ambiguous])
                left_out = (
                    f"{hours} of {day:%Y-%m-%d} left out: the file has 24 hour rows on the 25-hour DST day, "
                    "so which of the two 01:00-02:00 local hours a row means cannot be told"
                )
                exists = exists & ~ambiguous
                marked = hour.mask(ambiguous, 0)  # hour 0: left out, not a DST-skipped hour
                table = table.assign(hour=marked)  # noqa: PLW2901 - the same table, its rows marked
        else:
            raise ParseError(
                f"{len(hour)} hour rows on a {day_hours}-hour day: which hours are meant is unknown"
            )
        values = table.drop(columns="hour")
        skipped = ~exists & (table["hour"] != 0)  # the spring day's hour that does not exist
        if skipped.any():
            placeholder = values[skipped].apply(
                lambda c: c.str.contains(_DST_PLACEHOLDER) | c.isin(["0", ""])
            )
            if not placeholder.all().all():
                raise ParseError("the DST-skipped hour holds values that are not placeholders")
        values, start = values[exists], start[exists].astype("datetime64[ms, UTC]")
        for label in values.columns:
            value = pd.to_numeric(values[label], errors="coerce")
            if value.isna().any():
                bad = values.loc[value.isna(), label].iloc[0]
                raise ParseError(f"non-numeric {label!r} value {bad!r} in an existing hour")
            frames.append(
                fundamentals_frame(
                    start,
                    start + pd.Timedelta(hours=1),
                    market="CAISO",
                    area="CAISO",
                    variable=_WATCH_VARIABLES.get(label, "generation_" + slug(label)),
                    value=value.astype(float),
                    unit="MW",
                    source="caiso",
                    published=day_end,
                )
            )
    out = pd.concat(frames, ignore_index=True).sort_values(
        ["variable", "interval_start_utc"], ignore_index=True
    )
    if left_out:
        out.attrs["left_out"] = left_out
    return out
