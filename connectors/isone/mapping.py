"""ISO-NE web services JSON -> canonical ``fundamentals`` rows. Pure and table-driven.

Every record carries ``BeginDate`` as local time *with its UTC offset* (``2024-11-03T01:00:00.000-05:00``),
so the repeated hour when DST ends is unambiguous (a stamp without an offset is refused rather than guessed).
The ``.../current`` answers hold one record where the ``.../day/...`` answers hold a list, and some drop the
outer wrapper: both shapes are accepted. Actuals are published at the interval end; forecasts at their
``CreationDate`` (each issue is a revision). Parsing is columnar (Arrow arrays from pyarrow's JSON reader,
distinct stamps parsed once, one ``lexsort``): no Python work per record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from marketintel.connectors.columnar import FUNDAMENTAL_COLUMNS, UTC_MS, to_frame
from marketintel.connectors.isone.common import arrow_records, field_names, rank_codes, utc_ms
from marketintel.ingest.sdk import ParseError


@dataclass(frozen=True)
class Feed:
    """How one ISO-NE service maps to fundamentals rows."""

    endpoint: str
    containers: tuple[str, str]  # (wrapper, record) keys, e.g. ("HourlySystemLoads", "HourlySystemLoad")
    variables: tuple[tuple[str, str], ...]  # (variable, field)
    unit: str = "MW"
    area_field: str = "Location"  # "Location" ({"$": name}) or a plain field
    published_field: str = ""  # forecast issue time; "" for actuals (published at the interval's end)
    interval_minutes: int = 60


FEEDS: dict[str, Feed] = {
    "load_day_ahead_cleared_hourly": Feed(
        "dayaheadhourlydemand", ("HourlyDaDemands", "HourlyDaDemand"), (("load_day_ahead_cleared", "Load"),)
    ),
    "load_real_time_hourly": Feed(
        "realtimehourlydemand", ("HourlyRtDemands", "HourlyRtDemand"), (("load", "Load"),)
    ),
    "system_load_hourly": Feed(
        "hourlysysload",
        ("HourlySystemLoads", "HourlySystemLoad"),
        (("load", "Load"), ("native_load", "NativeLoad"), ("ard_demand", "ArdDemand")),
    ),
    "load_forecast_hourly": Feed(
        "hourlyloadforecast",
        ("HourlyLoadForecasts", "HourlyLoadForecast"),
        (("load_forecast", "LoadMw"), ("net_load_forecast", "NetLoadMw")),
        area_field="",
        published_field="CreationDate",
    ),
    "load_forecast_by_region_hourly": Feed(
        "reliabilityregionloadforecast",
        ("ReliabilityRegionLoadForecasts", "ReliabilityRegionLoadForecast"),
        (("load_forecast", "LoadMw"),),
        area_field="ReliabilityRegion",
        published_field="CreationDate",
    ),
}


def parse(body: bytes, dataset: str) -> pd.DataFrame:
    """Map one ISO-NE answer of ``dataset`` to canonical fundamentals rows.

    Columnar: the answer is decoded into Arrow arrays (pyarrow's JSON reader, ``json.loads`` for other
    shapes), stamps are parsed once per distinct value, and the rows are ordered with one ``lexsort``.

    Raises
    ------
    ParseError
        On an empty, HTML/XML or non-JSON body, missing records or fields, stamps without a UTC offset, or
        non-numeric / missing values.
    """
    feed = FEEDS[dataset]
    arr = arrow_records(body, *feed.containers, _item(feed))
    names = field_names(arr)
    if "BeginDate" not in names:
        raise ParseError(f"missing BeginDate; found {sorted(names)}")
    start = _stamps(arr.field("BeginDate"), "BeginDate")
    end = start + feed.interval_minutes * 60_000
    if feed.published_field:
        if feed.published_field not in names:
            raise ParseError(f"missing field {feed.published_field!r}; found {sorted(names)}")
        published = _stamps(arr.field(feed.published_field), feed.published_field)
    else:
        published = end
    if feed.area_field:
        if feed.area_field not in names:
            raise ParseError(f"missing field {feed.area_field!r}; found {sorted(names)}")
        area_col = arr.field(feed.area_field)
        if pa.types.is_struct(area_col.type):  # {"@LocId": "4001", "$": ".Z.MAINE"}
            if area_col.type.get_field_index("$") < 0:
                raise ParseError(f"{feed.area_field} without its name ('$')")
            area_col = area_col.field("$")
        if area_col.null_count:
            raise ParseError(f"{area_col.null_count} records without {feed.area_field}")
        area_rank, area_labels = rank_codes(area_col)
    else:
        area_rank, area_labels = np.zeros(len(arr), dtype=np.int64), ["NEPOOL AREA"]
    values = []
    for _, field in feed.variables:
        if field not in names:
            raise ParseError(f"missing field {field!r}; found {sorted(names)}")
        col = arr.field(field)
        if col.null_count:
            raise ParseError(f"{col.null_count} records without {field!r}")
        try:
            values.append(np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ParseError(f"non-numeric {field!r}: {exc}") from None
    n, k = len(arr), len(feed.variables)
    variables = np.array([v for v, _ in feed.variables], dtype=object)
    var_rank = np.argsort(np.argsort(variables, kind="stable"), kind="stable")
    var_code = np.repeat(np.arange(k), n)
    starts, ends, pubs = np.tile(start, k), np.tile(end, k), np.tile(published, k)
    areas = np.tile(area_rank, k)
    rows = np.lexsort((pubs, starts, var_rank[var_code], areas))
    columns = {  # Arrow columns, pandas met once (to_frame): no per-row Python string objects
        "interval_start_utc": pa.array(starts[rows], type=UTC_MS),
        "interval_end_utc": pa.array(ends[rows], type=UTC_MS),
        "market": "ISONE",
        "area": pa.array(area_labels, type=pa.string()).take(pa.array(areas[rows])),
        "area_to": "",
        "variable": pa.array(variables.tolist(), type=pa.string()).take(pa.array(var_code[rows])),
        "value": pa.array(np.concatenate(values)[rows], type=pa.float64()),
        "unit": feed.unit,
        "source": "isone",
        "published_at_utc": pa.array(pubs[rows], type=UTC_MS),
    }
    return to_frame(columns, FUNDAMENTAL_COLUMNS, [])  # already in key order


def _item(feed: Feed) -> pa.StructType:
    """Return the Arrow type of the fields of ``feed`` that are read (the JSON reader skips the rest)."""
    fields = [("BeginDate", pa.string())]
    if feed.published_field:
        fields.append((feed.published_field, pa.string()))
    if feed.area_field == "Location":
        fields.append(("Location", pa.struct([("$", pa.string())])))
    elif feed.area_field:
        fields.append((feed.area_field, pa.string()))
    fields += [(field, pa.float64()) for _, field in feed.variables]
    return pa.struct(fields)


def _stamps(text: pa.Array, what: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Parse each distinct stamp once (a day's answer repeats ~25 of them) and spread them back."""
    enc = text.dictionary_encode()
    if enc.null_count:
        raise ParseError(f"{enc.null_count} records without {what}")
    distinct = utc_ms(enc.dictionary, what)
    return distinct[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
