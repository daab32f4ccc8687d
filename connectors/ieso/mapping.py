"""IESO XML reports -> canonical rows. Pure.

IESO reports its market in Eastern Standard Time all year (a fixed UTC-05:00 clock): ``PricingHour`` and
``ForecastHour`` 1..24 are hours *ending* in EST, and ``CreatedAt`` / ``ForecastTimeStamp`` are EST too.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pandas as pd
from marketintel.connectors.base import ParseError
from marketintel.connectors.canonical import fundamentals_frame

from marketintel.timeutils import local_to_utc

EST = "Etc/GMT+5"


def _root(body: bytes, doc_id: str) -> ElementTree.Element:
    if not body.strip():
        raise ParseError("empty body")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise ParseError(f"malformed XML (truncated, or an HTML error page?): {exc}") from None
    found = root.get("docID")
    if found != doc_id:
        raise ParseError(f"expected an IESO {doc_id} report, got docID={found!r}")
    return root


def _text(node: ElementTree.Element, name: str) -> str:
    for child in node.iter():
        if child.tag.split("}")[-1] == name and child.text is not None:
            return child.text.strip()
    raise ParseError(f"missing <{name}>")


def _children(node: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [c for c in node if c.tag.split("}")[-1] == name]


def _est(stamps: list[str]) -> pd.DatetimeIndex:
    return local_to_utc(pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601")), EST)


def _hour_ending_starts(day: str, hours: list[int]) -> pd.Series:
    wall = pd.DatetimeIndex([pd.Timestamp(day) + pd.Timedelta(hours=h - 1) for h in hours])
    return pd.Series(local_to_utc(wall, EST)).astype("datetime64[ms, UTC]")


def parse_da_zonal_price(body: bytes) -> pd.DataFrame:
    """Map the Day-Ahead Hourly Ontario Zonal Energy Price report to price rows."""
    root = _root(body, "DAHourlyOntarioZonalPrice")
    day = _text(root, "DeliveryDate")
    created = _est([_text(root, "CreatedAt")])[0]
    rows = []
    for comp in root.iter():
        if comp.tag.split("}")[-1] != "HourlyPriceComponents":
            continue
        values = {c.tag.split("}")[-1]: (c.text or "").strip() for c in comp}
        rows.append(values)
    if not rows:
        raise ParseError("no HourlyPriceComponents in the report")
    raw = pd.DataFrame(rows)
    start = _hour_ending_starts(day, raw["PricingHour"].astype(int).tolist())
    price = raw["ZonalPrice"].astype(float)
    loss = raw["LossPriceCapped"].astype(float)
    congestion = raw["CongestionPriceCapped"].astype(float)
    return pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": start + pd.Timedelta(hours=1),
            "market": "IESO_DAY_AHEAD_HOURLY",
            "location": "ONTARIO",
            "location_type": "zone",
            "price": price,
            "energy": (price - loss - congestion).round(6),  # the report gives the price, loss and congestion
            "congestion": congestion,
            "loss": loss,
            "currency": "CAD",
            "unit": "CAD/MWh",
            "source": "ieso",
            "published_at_utc": created,
        }
    ).sort_values("interval_start_utc", ignore_index=True)


def parse_vg_forecast(body: bytes) -> pd.DataFrame:
    """Map the Variable Generation Forecast Summary (wind and solar by zone and organisation type)."""
    root = _root(body, "VGForecastSummary")
    issued = _est([_text(root, "ForecastTimeStamp")])[0]
    body_node = next((c for c in root if c.tag.split("}")[-1] == "DocBody"), None)
    if body_node is None:
        raise ParseError("missing <DocBody>")
    rows = []
    for org in _children(body_node, "OrganizationData"):
        org_type = _text(org, "OrganizationType").lower().replace(" ", "_")
        for fuel in _children(org, "FuelData"):
            fuel_type = _text(fuel, "FuelType").lower()
            for resource in _children(fuel, "ResourceData"):
                zone = _text(resource, "ZoneName")
                for forecast in _children(resource, "EnergyForecast"):
                    day = _text(forecast, "ForecastDate")
                    variable = f"{fuel_type}_forecast_{org_type}"
                    for interval in _children(forecast, "ForecastInterval"):
                        hour = int(_text(interval, "ForecastHour"))
                        rows.append((day, hour, zone, variable, float(_text(interval, "MWOutput"))))
    if not rows:
        raise ParseError("no ForecastInterval in the report")
    raw = pd.DataFrame(rows, columns=["day", "hour", "zone", "variable", "value"])
    wall = pd.DatetimeIndex(pd.to_datetime(raw["day"]) + pd.to_timedelta(raw["hour"] - 1, unit="h"))
    starts = pd.Series(local_to_utc(wall, EST), index=raw.index).astype("datetime64[ms, UTC]")
    out = fundamentals_frame(
        starts,
        starts + pd.Timedelta(hours=1),
        market="IESO",
        area=raw["zone"],
        variable=raw["variable"],
        value=raw["value"],
        unit="MW",
        source="ieso",
        published=issued,
    )
    return out.sort_values(["area", "variable", "interval_start_utc"], ignore_index=True)
