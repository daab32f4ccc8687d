"""ISO-NE web services JSON -> canonical ``fundamentals`` rows. Pure and table-driven.

Every record carries ``BeginDate`` as local time *with its UTC offset* (``2024-11-03T01:00:00.000-05:00``),
so the repeated hour when DST ends is unambiguous. The ``.../current`` answers hold one record where the
``.../day/...`` answers hold a list, and some drop the outer wrapper: both shapes are accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from marketintel.connectors.base import ParseError
from marketintel.connectors.canonical import fundamentals_frame


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


def records(body: bytes, feed: Feed) -> list[dict[str, object]]:
    """Return the records of an ISO-NE answer, whether wrapped, unwrapped, a list or a single record."""
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML or XML page instead of JSON (ask for application/json; error page?)")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    wrapper, record = feed.containers
    node = doc.get(wrapper, doc) if isinstance(doc, dict) else None
    found = node.get(record) if isinstance(node, dict) else None
    if found is None:
        keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ParseError(f"no {wrapper}.{record} in the answer (found {keys})")
    return found if isinstance(found, list) else [found]


def _instants(values: pd.Series, what: str) -> pd.Series:
    try:
        stamps = pd.to_datetime(values, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"unreadable {what}: {exc}") from None
    return stamps.astype("datetime64[ms, UTC]")


def parse(body: bytes, dataset: str) -> pd.DataFrame:
    """Map one ISO-NE answer of ``dataset`` to canonical fundamentals rows."""
    feed = FEEDS[dataset]
    raw = pd.DataFrame.from_records(records(body, feed))
    if "BeginDate" not in raw:
        raise ParseError(f"missing BeginDate; found {sorted(raw.columns)}")
    start = _instants(raw["BeginDate"], "BeginDate")
    end = start + pd.Timedelta(minutes=feed.interval_minutes)
    published = _instants(raw[feed.published_field], feed.published_field) if feed.published_field else end
    if feed.area_field == "Location":
        area = raw["Location"].map(lambda loc: str(loc.get("$", "")) if isinstance(loc, dict) else str(loc))
    elif feed.area_field:
        area = raw[feed.area_field].astype(str)
    else:
        area = pd.Series("NEPOOL AREA", index=raw.index)
    frames = []
    for variable, field in feed.variables:
        if field not in raw:
            raise ParseError(f"missing field {field!r}; found {sorted(raw.columns)}")
        frames.append(
            fundamentals_frame(
                start,
                end,
                market="ISONE",
                area=area,
                variable=variable,
                value=pd.to_numeric(raw[field], errors="raise").astype(float),
                unit=feed.unit,
                source="isone",
                published=published,
            )
        )
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["area", "variable", "interval_start_utc", "published_at_utc"], ignore_index=True)
