"""EMC Singapore price information CSV -> canonical rows. Pure: bytes in, frame out.

The file
--------
EMC (Energy Market Company, operator of Singapore's National Electricity Market, ``www.emcsg.com``) offers
its price information as a CSV download, one row per date and half-hourly dispatch period::

    "INFORMATION TYPE","DATE","PERIOD","USEP ($/MWh)","LCP ($/MWh)","DEMAND (MW)","TCL (MW)"
    "USEP","01 Jan 2023","1","158.62","0.00","5539.761","0.000"

``USEP`` is the Uniform Singapore Energy Price, the half-hour's settlement price of energy at the Singapore
hub (the weighted average of the nodal prices at the off-take nodes); ``LCP`` the Load Curtailment Price
paid to interruptible load under the demand response programme (``0.00`` when no load was curtailed);
``DEMAND`` the system demand and ``TCL`` the total curtailed load. ``$`` is the Singapore dollar. Headers
are matched with spaces removed and case ignored (``USEP($/MWh)`` of the real-time download matches too);
``DATE``, ``PERIOD`` and ``USEP`` are required, the others are mapped when present.

Time
----
``PERIOD`` ``p`` (1..48) of ``DATE`` (``DD Mon YYYY``; ``DD-Mon-YYYY`` is accepted too) is the half hour
``[DATE + 30 min * (p - 1), DATE + 30 min * p)`` in Singapore time (``Asia/Singapore``, UTC+08:00, no
daylight saving time): period 1 is 00:00-00:30 SGT = 16:00-16:30 UTC of the previous day.

Missing periods are not invented: the recorded January 2023 export has 1,487 rows, not 31 x 48 = 1,488,
because period 14 of 22 Jan 2023 (06:30-07:00 SGT) is absent; that day maps to 47 intervals and the gap
stays visible. A repeated period or a period outside 1..48 raises :class:`ParseError`.

Publication (``published_at_utc``)
----------------------------------
EMC computes a period's USEP from the real-time dispatch run for it and posts it on its price
information page as the period runs; the file carries no issue time. Every row is published at its
period's *end* (the platform's rule for actuals): never earlier than EMC had it, and late by at most the
half hour. A monthly export fetched later repeats the same facts with the same ``published_at_utc``.

Mapping
-------
``prices``: ``USEP`` -> market ``EMC_USEP_30MIN``, location ``SG`` (``location_type = "hub"``, the
Singapore hub); ``LCP`` -> market ``EMC_LCP_30MIN``, location ``SG``; currency ``SGD``, unit ``SGD/MWh``.
``fundamentals``: ``DEMAND`` -> ``load`` and ``TCL`` -> ``curtailed_load``, market ``EMC``, area ``SG``,
[MW] (average over the period). Values are kept as published, including the recording's ``DEMAND`` of
9999.023 MW in period 1 of 15 Jan 2023 (its neighbours are ~5,800 MW: most likely a placeholder in EMC's
data, but not ours to correct).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "Asia/Singapore"
SOURCE = "emcsg"
AREA = "SG"
PERIODS_PER_DAY = 48
#: normalised header (spaces removed, upper case) -> (market, location type) of a price column
PRICE_COLUMNS = {"USEP($/MWH)": ("EMC_USEP_30MIN", "hub"), "LCP($/MWH)": ("EMC_LCP_30MIN", "hub")}
#: normalised header -> variable of a fundamentals column [MW]
FUNDAMENTAL_COLUMNS = {"DEMAND(MW)": "load", "TCL(MW)": "curtailed_load"}
REQUIRED = ("DATE", "PERIOD", "USEP($/MWH)")

_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]


def _norm(header: str) -> str:
    return "".join(str(header).split()).upper()


def read_periods(body: bytes) -> pd.DataFrame:
    """Return the rows (strings, normalised headers) with ``interval_start_utc`` and ``interval_end_utc``.

    Raises
    ------
    ParseError
        On an empty or HTML body, a missing required column, an unreadable date, a period outside 1..48
        or a period listed twice.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of the price information CSV (login or error page?)")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("cp1252", errors="replace")
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ParseError(f"unreadable CSV: {exc}") from None
    found = list(raw.columns)
    raw.columns = [_norm(c) for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ParseError(f"changed header: missing {missing} (spaces ignored); found {found}")
    if raw.empty:
        raise ParseError("the price information CSV has a header but no rows")
    dates = raw["DATE"].str.strip()
    day = pd.to_datetime(dates, format="%d %b %Y", errors="coerce")
    day = day.fillna(pd.to_datetime(dates, format="%d-%b-%Y", errors="coerce"))
    if day.isna().any():
        first = int(np.flatnonzero(day.isna().to_numpy())[0])
        raise ParseError(f"unreadable DATE {dates.iloc[first]!r} (expected DD Mon YYYY, e.g. 01 Jan 2023)")
    period = pd.to_numeric(raw["PERIOD"].str.strip(), errors="coerce")
    bad = period.isna() | ~period.between(1, PERIODS_PER_DAY) | (period % 1 != 0)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(f"PERIOD {raw['PERIOD'].iloc[first]!r} on {dates.iloc[first]} is not 1..48")
    period = period.astype(int)
    key = pd.DataFrame({"day": day, "period": period})
    if key.duplicated().any():
        dup = key[key.duplicated()].iloc[0]
        raise ParseError(f"period {dup['period']} of {dup['day']:%d %b %Y} is listed twice")
    wall = pd.DatetimeIndex(day + pd.to_timedelta((period - 1) * 30, unit="min"))
    start = local_to_utc(wall, TZ).as_unit("ms")
    raw["interval_start_utc"] = start
    raw["interval_end_utc"] = (start + pd.Timedelta(minutes=30)).as_unit("ms")
    return raw


def missing_periods(raw: pd.DataFrame) -> dict[str, list[int]]:
    """Return, per date (as written), the periods 1..48 absent from ``raw`` (from :func:`read_periods`)."""
    out: dict[str, list[int]] = {}
    for date, group in raw.groupby(raw["DATE"].str.strip(), sort=False):
        absent = sorted(set(range(1, PERIODS_PER_DAY + 1)) - set(pd.to_numeric(group["PERIOD"]).astype(int)))
        if absent:
            out[str(date)] = absent
    return out


def _numeric(raw: pd.DataFrame, col: str) -> pd.Series:
    values = raw[col].str.strip().str.replace(",", "", regex=False)
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(
            f"non-numeric {col} {raw[col].iloc[first]!r} on {raw['DATE'].iloc[first]} period"
            f" {raw['PERIOD'].iloc[first]} ({int(bad.sum())} such cell(s))"
        )
    return out.astype(float)


def parse_prices(body: bytes) -> pd.DataFrame:
    """Map a price information CSV to ``prices`` rows: USEP and, when present, LCP [SGD/MWh]."""
    raw = read_periods(body)
    frames = []
    for col, (market, location_type) in PRICE_COLUMNS.items():
        if col not in raw.columns:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "interval_start_utc": raw["interval_start_utc"].array,
                    "interval_end_utc": raw["interval_end_utc"].array,
                    "market": market,
                    "location": AREA,
                    "location_type": location_type,
                    "price": _numeric(raw, col).to_numpy(),
                    "energy": np.nan,
                    "congestion": np.nan,
                    "loss": np.nan,
                    "currency": "SGD",
                    "unit": "SGD/MWh",
                    "revision": "",
                    "source": SOURCE,
                    "fidelity": "official",
                    "published_at_utc": raw["interval_end_utc"].array,
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(_PRICE_ORDER, ignore_index=True)


def parse_demand(body: bytes) -> pd.DataFrame:
    """Map a price information CSV to ``fundamentals`` rows: ``load`` and ``curtailed_load`` [MW]."""
    raw = read_periods(body)
    present = {c: v for c, v in FUNDAMENTAL_COLUMNS.items() if c in raw.columns}
    if not present:
        raise ParseError(f"no demand column: expected one of {sorted(FUNDAMENTAL_COLUMNS)} (spaces ignored)")
    frames = [
        fundamentals_frame(
            raw["interval_start_utc"].array,
            raw["interval_end_utc"].array,
            market="EMC",
            area=AREA,
            variable=variable,
            value=_numeric(raw, col).to_numpy(),
            unit="MW",
            source=SOURCE,
            published=raw["interval_end_utc"].array,
        )
        for col, variable in present.items()
    ]
    return pd.concat(frames, ignore_index=True).sort_values(_FUND_ORDER, ignore_index=True)
