"""IESO XML reports -> canonical rows. Pure.

Conventions of every IESO public report (evidence: the recorded files under ``fixtures/ieso``):

* **Time zone.** IESO runs its market in Eastern Standard Time all year, a fixed UTC-05:00 clock
  (``Etc/GMT+5``); there is no daylight-saving shift, so every day has 24 hours. ``CreatedAt`` and
  ``ForecastTimeStamp`` are EST wall clock too (e.g. the day-ahead price of 2026-05-28 was created at
  ``2026-05-27T12:31:16`` EST = 17:31:16 UTC).
* **Hours.** ``PricingHour`` / ``DeliveryHour`` / ``ForecastHour`` / ``Hour`` 1..24 are hours *ending*: hour
  ``h`` of day ``D`` covers ``D (h-1):00 .. D h:00`` EST, so HE24 ends at the next midnight EST and HE1 of
  a July day covers 05:00-06:00 UTC.
* **5-minute intervals.** ``Interval`` 1..12 numbers the five-minute intervals inside an hour ending:
  interval ``i`` of HE ``h`` covers ``(h-1):(5i-5) .. (h-1):(5i)`` EST.
* **Namespaces.** Two envelopes exist side by side: ``<Document>`` / ``DocHeader`` / ``DocBody`` in
  ``http://www.ieso.ca/schema`` and the legacy ``<IMODocument>`` / ``IMODocHeader`` / ``IMODocBody`` in
  ``http://www.theIMO.com/schema``; the same report may be written with a default namespace or an ``ns0:``
  prefix. :func:`document` reads them all alike by stripping namespaces. The root's ``docID`` names the
  report.
* **Revisions.** IESO re-issues a report under the same name when it recomputes it (the current-day files
  grow during the day); each version carries its own ``CreatedAt``, which becomes ``published_at_utc``.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

EST = "Etc/GMT+5"
#: ``DocTitle`` of reports whose root may lack a ``docID`` (a reduced copy), by the docID they stand for
TITLES = {
    "Generators Output and Capability Report": "GenOutputCapability",
    "Adequacy Report": "Adequacy2",
    "Intertie Schedule and Flow Report": "IntertieScheduleFlow",
    "Predispatch Constrained Totals Report": "PredispConstTotals",
    "Realtime Constrained Totals Report": "RealtimeConstTotals",
    "Generator Output by Fuel Type Hourly Report": "GenOutputbyFuelHourly",
}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def document(body: bytes) -> ElementTree.Element:
    """Parse an IESO report; return its root with namespaces stripped from every tag.

    Raises
    ------
    ParseError
        On an empty body or malformed XML (a truncated download, an HTML error page).
    """
    if not body.strip():
        raise ParseError("empty body")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise ParseError(f"malformed XML (truncated, or an HTML error page?): {exc}") from None
    for node in root.iter():
        if isinstance(node.tag, str):
            node.tag = _local(node.tag)
    return root


def doc_id(root: ElementTree.Element) -> str | None:
    """Return the report's ``docID``, or the one its ``DocTitle`` stands for when the root has none."""
    found = root.get("docID")
    if found:
        return found
    title = root.findtext("./*/DocTitle")
    return TITLES.get((title or "").strip())


def _root(body: bytes, doc_id_: str) -> ElementTree.Element:
    root = document(body)
    found = doc_id(root)
    if found != doc_id_:
        raise ParseError(f"expected an IESO {doc_id_} report, got docID={found!r}")
    return root


def _text(node: ElementTree.Element, name: str) -> str:
    for child in node.iter(name):
        if child.text is not None and child.text.strip():
            return child.text.strip()
    raise ParseError(f"missing <{name}>")


def _children(node: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return node.findall(name)


def _body(root: ElementTree.Element) -> ElementTree.Element:
    for name in ("DocBody", "IMODocBody"):
        found = root.find(name)
        if found is not None:
            return found
    raise ParseError("missing <DocBody>")


def _est(stamps: list[str]) -> pd.DatetimeIndex:
    try:
        wall = pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise ParseError(f"unreadable time stamp in {stamps[:3]}: {exc}") from None
    return local_to_utc(wall, EST)


def created_at(root: ElementTree.Element) -> pd.Timestamp | None:
    """Return the report's ``CreatedAt`` (EST) as a UTC instant, or None if the header has none."""
    text = root.findtext("./*/CreatedAt")
    return _est([text.strip()])[0] if text and text.strip() else None


def numbers(values: pd.Series, what: str) -> pd.Series:
    """Return ``values`` (text) as floats; empty text becomes NaN, anything else unreadable is an error."""
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    try:
        out: pd.Series = pd.to_numeric(text, errors="raise").astype("float64")
        return out
    except (ValueError, TypeError) as exc:
        raise ParseError(f"non-numeric {what}: {exc}") from None


def ints(values: pd.Series, what: str, low: int, high: int) -> pd.Series:
    """Return ``values`` as integers in ``low..high``; raise ParseError otherwise."""
    out = numbers(values, what)
    if out.isna().any() or not out.between(low, high).all() or not (out % 1 == 0).all():
        bad = values[out.isna() | ~out.between(low, high) | (out % 1 != 0)].tolist()[:3]
        raise ParseError(f"{what} must be whole numbers {low}..{high}, got {bad}")
    return out.astype("int64")


def interval_starts(
    days: pd.Series, hours: pd.Series, intervals: pd.Series | None = None
) -> tuple[pd.Series, pd.Series]:
    """Return (start, end) UTC of hours ending ``hours`` (1..24) of EST ``days``, or of their 5-min intervals.

    ``intervals`` (1..12), when given, picks the five-minute interval inside each hour ending.
    """
    try:
        day = pd.to_datetime(days.astype(str).str.strip(), format="%Y-%m-%d")
    except (ValueError, TypeError) as exc:
        raise ParseError(f"unreadable delivery date: {exc}") from None
    he = ints(hours, "hour ending", 1, 24)
    wall = day + pd.to_timedelta(he - 1, unit="h")
    width = pd.Timedelta(hours=1)
    if intervals is not None:
        wall = wall + pd.to_timedelta((ints(intervals, "interval", 1, 12) - 1) * 5, unit="min")
        width = pd.Timedelta(minutes=5)
    start = pd.Series(local_to_utc(pd.DatetimeIndex(wall), EST), index=days.index).astype(
        "datetime64[ms, UTC]"
    )
    return start, start + width


def _hour_ending_starts(day: str, hours: list[int]) -> pd.Series:
    days = pd.Series([day] * len(hours))
    return interval_starts(days, pd.Series(hours))[0]


def finish_fundamentals(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Sort fundamentals rows on the table key; raise ParseError if a key repeats (never drop one)."""
    key = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
    dup = frame.duplicated(key, keep=False)
    if dup.any():
        first = frame.loc[dup, key].iloc[0].tolist()
        raise ParseError(f"{what}: {int(dup.sum())} rows repeat a key, e.g. {first}")
    return frame.sort_values(key, ignore_index=True)


def parse_da_zonal_price(body: bytes) -> pd.DataFrame:
    """Map the Day-Ahead Hourly Ontario Zonal Energy Price report to price rows [CAD/MWh]."""
    root = _root(body, "DAHourlyOntarioZonalPrice")
    day = _text(root, "DeliveryDate")
    created = _est([_text(root, "CreatedAt")])[0]
    rows = [{c.tag: (c.text or "").strip() for c in comp} for comp in root.iter("HourlyPriceComponents")]
    if not rows:
        raise ParseError("no HourlyPriceComponents in the report")
    raw = pd.DataFrame(rows)
    missing = {"PricingHour", "ZonalPrice", "LossPriceCapped", "CongestionPriceCapped"} - set(raw.columns)
    if missing:
        raise ParseError(f"HourlyPriceComponents without {sorted(missing)}")
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


def parse_rt_zonal_price(body: bytes) -> pd.DataFrame:
    """Map the Real-Time 5-Min Ontario Zonal Energy Price report (one delivery hour) to price rows [CAD/MWh].

    Built from the documented layout, not from a recording (``verified=False``): ``Document/DocBody`` holds
    ``DeliveryDate``, ``DeliveryHour`` (hour ending, EST) and up to twelve ``ZonalPrice`` elements, each with
    ``Interval`` (1..12), ``Flag``, ``LmpCap`` (the capped Ontario zonal price), ``LossPriceCap`` and
    ``CongPriceCap``; ``AveragePrice`` (the hour's mean) is not a five-minute fact and is not mapped. The
    schema (``RealtimeOntarioZonalPrice_r2.xsd``) lets the three prices be empty: the current hour's file
    lists all twelve slots and fills them as the intervals clear, so an interval whose ``LmpCap`` is empty
    has no price yet and yields no row (it comes with a later version of the file). The energy component is
    ``LmpCap - LossPriceCap - CongPriceCap``.
    """
    root = _root(body, "RealtimeOntarioZonalPrice")
    created = created_at(root)
    if created is None:
        raise ParseError("missing <CreatedAt>")
    body_node = _body(root)
    day, hour = _text(body_node, "DeliveryDate"), _text(body_node, "DeliveryHour")
    rows = [{c.tag: (c.text or "") for c in zp} for zp in body_node.findall("ZonalPrice")]
    if not rows:
        raise ParseError("no ZonalPrice intervals in the report")
    raw = pd.DataFrame(rows)
    missing = {"Interval", "LmpCap", "LossPriceCap", "CongPriceCap"} - set(raw.columns)
    if missing:
        raise ParseError(f"ZonalPrice without {sorted(missing)}")
    price = numbers(raw["LmpCap"], "LmpCap")
    cleared = price.notna()  # empty slots: intervals not cleared yet when the file was written
    raw, price = raw[cleared], price[cleared]
    if raw.empty:
        return _empty_prices()
    loss, congestion = (
        numbers(raw["LossPriceCap"], "LossPriceCap"),
        numbers(raw["CongPriceCap"], "CongPriceCap"),
    )
    start, end = interval_starts(
        pd.Series(day, index=raw.index), pd.Series(hour, index=raw.index), raw["Interval"]
    )
    out = pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": end,
            "market": "IESO_REAL_TIME_5MIN",
            "location": "ONTARIO",
            "location_type": "zone",
            "price": price,
            "energy": (price - loss - congestion).round(6),
            "congestion": congestion,
            "loss": loss,
            "currency": "CAD",
            "unit": "CAD/MWh",
            "source": "ieso",
            "published_at_utc": created,
        }
    )
    if out.duplicated("interval_start_utc").any():
        raise ParseError("an Interval appears twice in the report")
    return out.sort_values("interval_start_utc", ignore_index=True)


def _empty_prices() -> pd.DataFrame:
    stamp = pd.Series([], dtype="datetime64[ms, UTC]")
    text = pd.Series([], dtype=object)
    num = pd.Series([], dtype="float64")
    return pd.DataFrame(
        {
            "interval_start_utc": stamp,
            "interval_end_utc": stamp,
            "market": text,
            "location": text,
            "location_type": text,
            "price": num,
            "energy": num,
            "congestion": num,
            "loss": num,
            "currency": text,
            "unit": text,
            "source": text,
            "published_at_utc": stamp,
        }
    )


def parse_vg_forecast(body: bytes) -> pd.DataFrame:
    """Map the Variable Generation Forecast Summary (wind and solar by zone and organisation type) [MW]."""
    root = _root(body, "VGForecastSummary")
    issued = _est([_text(root, "ForecastTimeStamp")])[0]
    body_node = _body(root)
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
    starts, ends = interval_starts(raw["day"], raw["hour"])
    out = fundamentals_frame(
        starts,
        ends,
        market="IESO",
        area=raw["zone"],
        variable=raw["variable"],
        value=raw["value"],
        unit="MW",
        source="ieso",
        published=issued,
    )
    return out.sort_values(["area", "variable", "interval_start_utc"], ignore_index=True)
