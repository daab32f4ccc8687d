"""SPP LMP files -> canonical ``prices`` rows. Pure: bytes in, frame out.

SPP's "LMP by settlement location" CSVs (day-ahead hourly ``DA-LMP-SL-YYYYMMDD0100.csv``, real-time 5-minute
``RTBM-LMP-SL-YYYYMMDDHHMM.csv``) carry ``Interval`` (interval *ending*, Central prevailing time) and
``GMTIntervalEnd`` (the same instant in UTC). The UTC column is used, so DST days need no guessing: the
interval start is the UTC end minus the interval length. LMP = MEC (energy) + MCC (congestion) + MLC (loss).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd
from marketintel.connectors.base import ParseError

#: publisher column -> canonical column (the rest of the canonical row is constant per dataset)
COLUMNS = {
    "GMTIntervalEnd": "interval_end_utc",
    "Settlement Location": "location",
    "LMP": "price",
    "MEC": "energy",
    "MCC": "congestion",
    "MLC": "loss",
}
EXPECTED_HEADER = ["Interval", "GMTIntervalEnd", "Settlement Location", "Pnode", "LMP", "MLC", "MCC", "MEC"]
#: SPP's trading hubs; every other settlement location is a node, a utility hub or an interface
TRADING_HUBS = frozenset({"SPPNORTH_HUB", "SPPSOUTH_HUB"})
STAMP_FORMAT = "%m/%d/%Y %H:%M:%S"


def parse_lmp_csv(
    body: bytes, market: str, interval: pd.Timedelta, published: Callable[[pd.Series], pd.Series]
) -> pd.DataFrame:
    """Map one SPP LMP-by-settlement-location CSV to canonical price rows.

    Parameters
    ----------
    body : bytes
        The file as served.
    market : str
        Canonical market name, e.g. ``"SPP_DAY_AHEAD_HOURLY"``.
    interval : pd.Timedelta
        Length of each interval (1 h day-ahead, 5 min real-time).
    published : callable
        Interval end [UTC] -> when the price became knowable [UTC] (the dataset's publication rule).

    Raises
    ------
    ParseError
        On an empty file, an HTML page, or a header that is not SPP's (missing and found columns listed).
    """
    if not body.strip():
        raise ParseError("empty file (SPP serves 0-byte files for intervals not yet published)")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of CSV (SPP portal error or login page)")
    header = body.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip().split(",")
    missing = [c for c in EXPECTED_HEADER if c not in header]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {header}")
    try:
        raw = pd.read_csv(io.BytesIO(body), usecols=list(COLUMNS), dtype={"Settlement Location": "string"})
        end = pd.to_datetime(raw["GMTIntervalEnd"], format=STAMP_FORMAT).dt.tz_localize("UTC")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ParseError(f"unreadable SPP LMP file: {exc}") from None
    end = end.astype("datetime64[ms, UTC]")
    out = pd.DataFrame(
        {
            "interval_start_utc": end - interval,
            "interval_end_utc": end,
            "market": market,
            "location": raw["Settlement Location"].astype(str),
            "location_type": raw["Settlement Location"]
            .isin(TRADING_HUBS)
            .map({True: "hub", False: "settlement_location"}),
            "price": raw["LMP"].astype(float),
            "energy": raw["MEC"].astype(float),
            "congestion": raw["MCC"].astype(float),
            "loss": raw["MLC"].astype(float),
            "currency": "USD",
            "unit": "USD/MWh",
            "source": "spp",
            "published_at_utc": published(end),
        }
    )
    if out[["price", "energy", "congestion", "loss"]].isna().any().any():
        raise ParseError("LMP file has empty price cells")
    return out.sort_values(["location", "interval_start_utc"], ignore_index=True)
