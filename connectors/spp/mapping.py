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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from marketintel.connectors.columnar import PRICE_COLUMNS, sort_indices, to_frame
from marketintel.ingest.sdk import ParseError

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
    body: bytes, market: str, interval: pd.Timedelta, published: Callable[[pd.Series], pd.Series] | None
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
    published : callable or None
        Interval end [UTC] -> when the price became knowable [UTC] (the dataset's publication rule);
        None when that is the interval end itself (real-time prices).

    Raises
    ------
    ParseError
        On an empty file, an HTML page, or a header that is not SPP's (missing and found columns listed).
    """
    head = body[:4096].lstrip()  # a slice: the checks below never copy the whole file
    if not head and not body.strip():
        raise ParseError("empty file (SPP serves 0-byte files for intervals not yet published)")
    if head[:1] == b"<":
        raise ParseError("an HTML page instead of CSV (SPP portal error or login page)")
    eol = head.find(b"\n")
    header = head[: eol if eol >= 0 else None].decode("utf-8-sig", errors="replace").strip().split(",")
    missing = [c for c in EXPECTED_HEADER if c not in header]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {header}")
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(COLUMNS),
                column_types={
                    "GMTIntervalEnd": pa.timestamp("ms"),
                    "Settlement Location": pa.string(),
                    **{c: pa.float64() for c in ("LMP", "MEC", "MCC", "MLC")},
                },
                timestamp_parsers=[STAMP_FORMAT],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ParseError(f"unreadable SPP LMP file: {exc}") from None
    if any(
        table[c].null_count for c in ("GMTIntervalEnd", "Settlement Location", "LMP", "MEC", "MCC", "MLC")
    ):
        raise ParseError("LMP file has empty cells")
    # sort by location, then interval, and derive every column in Arrow (C++), converting to pandas once
    loc, stamp = table["Settlement Location"], table["GMTIntervalEnd"]
    bounds = pc.min_max(stamp)
    ordered = (  # a real-time file holds one interval, already in location order: no sort needed
        table.num_rows < 2 or (bounds["min"] == bounds["max"] and pc.all(pc.less(loc[:-1], loc[1:])).as_py())
    )
    if not ordered:
        table = table.take(sort_indices(table, ["Settlement Location", "GMTIntervalEnd"]))
    utc = pa.timestamp("ms", tz="UTC")
    end = table["GMTIntervalEnd"].cast(utc)  # GMT: already UTC
    start = pc.subtract(end, pa.scalar(int(interval / pd.Timedelta(milliseconds=1)), pa.duration("ms")))
    if published is None:  # known when the interval ends: no per-interval rule to apply
        published_at = end
    else:  # publication times depend only on the interval: computed once per distinct interval
        distinct = pc.unique(end)
        published_distinct = published(pd.Series(distinct.to_pandas())).to_numpy(dtype="datetime64[ms]")
        published_at = pc.take(pa.array(published_distinct).cast(utc), pc.index_in(end, value_set=distinct))
    hub = pc.is_in(table["Settlement Location"], value_set=pa.array(sorted(TRADING_HUBS)))
    columns = {
        "interval_start_utc": start,
        "interval_end_utc": end,
        "market": market,
        "location": table["Settlement Location"],
        "location_type": pc.if_else(hub, "hub", "settlement_location"),
        "price": table["LMP"],
        "energy": table["MEC"],
        "congestion": table["MCC"],
        "loss": table["MLC"],
        "currency": "USD",
        "unit": "USD/MWh",
        "source": "spp",
        "published_at_utc": published_at,
    }
    return to_frame(columns, PRICE_COLUMNS, [])  # already sorted
