"""SPP West (WEIS, ``SWPW``) interchange and tie flows -> canonical ``fundamentals`` rows. Pure.

Two publications with the same layout, one column per quantity and one row per minute, stamped in UTC
(``...Z``):

- the rolling trend ``chart-api/interchange-trend-swpw/asFile`` (``GMTTime``, ``SWPW NSI``, ``SWPW NAI``,
  one column per neighbouring balancing authority, ``SWPW NSI Future``): 24 h of actuals up to the moment
  it is served and 24 h ahead, where only ``SWPW NSI Future`` is filled (recorded 2026-04-02: actuals up to
  ``2026-04-02T17:19Z``, blanks after it);
- the monthly archive ``historical-tie-flow?path=/TieFlows_SWPW_MonYYYY.csv`` (``GMTTIME``, ``SPP_NSI``,
  ``SPP_NAI``, the neighbours): actuals only. The recorded ``Mar2026`` file covers 2026-03-25 05:00Z to
  2026-03-31 04:59Z (Central days 03-25..03-30) and holds only zeros, i.e. before SPP's RTO West
  expansion of 2026-04-01; it is parsed as served.

Conventions chosen:

- Each stamp opens a 1-minute interval ``[t, t + 1 min)`` (SPP does not say whether the value is a sample
  at ``t`` or an average; approximation).
- ``NSI`` is net scheduled interchange (variable ``net_scheduled_interchange``), ``NAI`` net actual
  interchange (``net_actual_interchange``), both with ``area = "SWPW"`` and no ``area_to``; each neighbour
  column is an actual tie flow (``tie_flow_actual``) from ``area = "SWPW"`` to ``area_to`` = the neighbour.
  Sign: the files state none; values are passed through unchanged and read with the NERC interchange
  convention that the ``fundamentals`` table also uses (positive = out of SPP West into ``area_to`` /
  net export). This is **not verified** against an SPP statement.
- ``NSI Future`` (``net_scheduled_interchange_future``) is the schedule known when the trend was served:
  its ``published_at_utc`` is the end of the last minute with an actual value (the serve time is not in
  the file; approximation). Actuals are published at the end of their minute.
- Blank cells are "no value (yet)" and give no row; a non-numeric cell is a ParseError.
"""

from __future__ import annotations

import io

import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError

AREA = "SWPW"
MINUTE = pd.Timedelta(minutes=1)
#: publisher column -> canonical name, for both layouts
RENAME = {
    "GMTTIME": "time",
    "GMTTime": "time",
    "SPP_NSI": "NSI",
    "SWPW NSI": "NSI",
    "SPP_NAI": "NAI",
    "SWPW NAI": "NAI",
    "SWPW NSI Future": "NSI_FUTURE",
}
SYSTEM_VARIABLES = {
    "NSI": "net_scheduled_interchange",
    "NAI": "net_actual_interchange",
    "NSI_FUTURE": "net_scheduled_interchange_future",
}


def parse_interchange(body: bytes) -> pd.DataFrame:
    """Map an SPP West interchange trend or monthly tie-flow CSV to fundamentals rows [MW].

    Raises
    ------
    ParseError
        On an empty body, an HTML page, a header without the time / NSI / NAI columns, an unreadable
        stamp or a non-numeric value.
    """
    if not body.strip():
        raise ParseError("empty file")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of CSV (SPP portal error or login page)")
    raw = pd.read_csv(io.BytesIO(body), dtype=str).rename(columns=RENAME)
    missing = [c for c in ("time", "NSI", "NAI") if c not in raw]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(raw.columns)}")
    try:
        start = pd.to_datetime(raw["time"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    except ValueError as exc:
        raise ParseError(f"unreadable GMTTime stamp: {exc}") from None
    start = start.astype("datetime64[ms, UTC]")
    if start.duplicated().any():
        raise ParseError(f"repeated stamp {start[start.duplicated()].iloc[0]}")
    values = raw.drop(columns="time").apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & raw.drop(columns="time").notna()
    if bad.any().any():
        column = bad.any().idxmax()
        raise ParseError(f"non-numeric {column!r} value {raw.loc[bad[column], column].iloc[0]!r}")
    actual_columns = [c for c in values.columns if c != "NSI_FUTURE"]
    has_actual = values[actual_columns].notna().any(axis=1)
    snapshot = start[has_actual].max() + MINUTE if has_actual.any() else None
    frames = []
    for column in values.columns:
        keep = values[column].notna()
        future = column == "NSI_FUTURE"
        if future and snapshot is None:
            raise ParseError("an NSI Future column without any actual value: the serve time is unknown")
        frames.append(
            fundamentals_frame(
                start[keep],
                start[keep] + MINUTE,
                market="SPP",
                area=AREA,
                area_to="" if column in SYSTEM_VARIABLES else column,
                variable=SYSTEM_VARIABLES.get(column, "tie_flow_actual"),
                value=values.loc[keep, column].astype(float),
                unit="MW",
                source="spp",
                published=snapshot if future else start[keep] + MINUTE,
            )
        )
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["area", "area_to", "variable", "interval_start_utc"], ignore_index=True)
