"""ERCOT public dashboards (``www.ercot.com/api/1/services/read/dashboards/*.json``) -> fundamentals. Pure.

The dashboards are snapshots that cover the previous and the current operating day (and the next one for
the load forecast). Every stamp carries its UTC offset (``"2025-10-08 00:00:00-0500"``) and most records
also an ``epoch`` in milliseconds, so no DST flag is needed: the instant is taken from ``epoch`` where a
record has one (it is the unambiguous field), otherwise from the offset stamp, and the two must agree or
the payload is rejected. On the fall-back day ERCOT has been seen publishing two records with the same
stamp and none for the repeated hour (gridstatus/gridstatus pull request #469): such a payload is refused
with a clear reason (duplicate instants) rather than repaired by guessing.

Interval conventions, read from the recordings:

* energy storage resources: 288 records per day stamped 00:00..23:55 (``previousDay`` of the 2025-10-09
  snapshot): each stamp *begins* a 5-minute interval, so the day's intervals cover exactly the operating
  day. The values are SCADA samples (``tagCLastTime``); the 06:40 record is already in a snapshot updated at
  06:41, so each is a sample taken at the start of its interval, stored as the value of that interval.
* fuel mix: stamps a few seconds before each 5-minute mark (00:04:57, ..., 23:59:57; ``lastUpdated`` equals
  the last stamp): each record *ends* the 5-minute interval that its stamp rounds up to (00:00-00:05 for
  00:04:57), again 288 intervals covering the operating day.
* load forecast vs actual: ``hourEnding`` 1..24 with ``timestamp`` = the end of the hour (HE 1 of
  2024-11-24 is stamped 01:00-06:00); ``systemLoad`` is present only for hours that ended before
  ``lastUpdated`` (HE 1, 2 of a snapshot updated at 02:15), which confirms the hour-ending reading.

Publication times: actuals (storage, fuel mix, ``systemLoad``, ``currentDayHsl``) are published at the end
of their interval, but never later than the snapshot's ``lastUpdated`` (the payload proves they were
visible then). Forecasts (``currentLoadForecast``, ``dayAheadForecast``, ``dayAheadHsl``) carry no issue
time per value: they are stamped with ``lastUpdated``, the time the payload says it was built (an upper
bound of the issue time, so never look-ahead). Capacities (``seasonalCapacity`` per 5-minute record,
``monthlyCapacity`` per month) are stored as published at ``lastUpdated``; the monthly figure is taken to
cover the local calendar month of ``lastUpdated``. Dashboards are not revised after the fact.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError

TZ = "America/Chicago"
KEY = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]


def load_json(body: bytes, what: str) -> dict[str, Any]:
    """Decode a dashboard body, refusing empty bodies, HTML pages and non-objects."""
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError(f"an HTML page instead of the {what} JSON")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ParseError(f"not JSON ({what}): {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _stamp(text: Any, what: str) -> pd.Series:
    """Parse offset stamps (``"2024-11-24 01:00:00-0600"``) into UTC instants."""
    try:
        return pd.Series(pd.to_datetime(pd.Series(text), format="%Y-%m-%d %H:%M:%S%z", utc=True)).astype(
            "datetime64[ms, UTC]"
        )
    except (ValueError, TypeError) as exc:
        raise ParseError(f"{what}: unreadable time stamps: {exc}") from None


def _updated(doc: dict[str, Any], what: str) -> pd.Timestamp:
    if "lastUpdated" not in doc:
        raise ParseError(f"{what}: no 'lastUpdated' field; found {sorted(doc)}")
    return pd.Timestamp(_stamp([doc["lastUpdated"]], what).iloc[0])


def _records(doc: dict[str, Any], days: tuple[str, ...], what: str) -> pd.DataFrame:
    """Concatenate ``doc[day]["data"]`` for the days present; at least one must be."""
    present = [d for d in days if isinstance(doc.get(d), dict)]
    if not present:
        raise ParseError(f"{what}: none of {list(days)} in the payload; found {sorted(doc)}")
    try:
        frames = [pd.DataFrame(doc[d]["data"]) for d in present]
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"{what}: unreadable 'data' list: {exc}") from None
    raw = pd.concat(frames, ignore_index=True)
    if raw.empty:
        raise ParseError(f"{what}: no records")
    return raw


def _instants(raw: pd.DataFrame, what: str) -> pd.Series:
    """Return each record's instant from ``epoch`` [ms], checked against its offset ``timestamp``."""
    missing = [c for c in ("timestamp", "epoch") if c not in raw]
    if missing:
        raise ParseError(f"{what}: changed format, missing {missing}; found {list(raw.columns)}")
    try:
        epoch = pd.Series(pd.to_datetime(raw["epoch"].astype("int64"), unit="ms", utc=True)).astype(
            "datetime64[ms, UTC]"
        )
    except (ValueError, TypeError) as exc:
        raise ParseError(f"{what}: unreadable epoch: {exc}") from None
    stamp = _stamp(raw["timestamp"], what)
    if not (stamp == epoch).all():
        bad = raw.loc[stamp != epoch, ["timestamp", "epoch"]].head(3).to_dict("records")
        raise ParseError(f"{what}: 'timestamp' and 'epoch' disagree, e.g. {bad}")
    if epoch.duplicated().any():
        dup = raw.loc[epoch.duplicated(keep=False), ["timestamp", "dstFlag"]].head(4).to_dict("records")
        raise ParseError(f"{what}: the same instant is published twice (DST day?): {dup}")
    return epoch


def _finish(frames: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(frames, ignore_index=True)
    out = out[out["value"].notna()]  # a key absent from a record (future actuals) is no value
    out["value"] = out["value"].astype(float)
    return out.sort_values(KEY, ignore_index=True)


def parse_energy_storage(body: bytes) -> pd.DataFrame:
    """Map the energy-storage-resources dashboard to 5-minute fundamentals [MW].

    Variables ``storage_charging`` (negative, as ERCOT publishes it), ``storage_discharging`` and
    ``storage_net_output``, area ``ERCOT``.
    """
    what = "energy storage dashboard"
    doc = load_json(body, what)
    updated = _updated(doc, what)
    raw = _records(doc, ("previousDay", "currentDay"), what)
    start = _instants(raw, what)
    end = start + pd.Timedelta(minutes=5)
    published = end.where(end <= updated, updated)
    columns = {
        "totalCharging": "storage_charging",
        "totalDischarging": "storage_discharging",
        "netOutput": "storage_net_output",
    }
    missing = [c for c in columns if c not in raw]
    if missing:
        raise ParseError(f"{what}: changed format, missing {missing}; found {list(raw.columns)}")
    frames = [
        fundamentals_frame(
            start,
            end,
            market="ERCOT",
            area="ERCOT",
            variable=variable,
            value=pd.to_numeric(raw[column], errors="coerce"),
            unit="MW",
            source="ercot",
            published=published,
        )
        for column, variable in columns.items()
    ]
    return _finish(frames)


#: fuel-mix measures -> variable prefix
FUEL_MEASURES = {"gen": "generation", "hsl": "hsl", "seasonalCapacity": "capacity_seasonal"}


def parse_fuel_mix(body: bytes) -> pd.DataFrame:
    """Map the fuel-mix dashboard to 5-minute fundamentals by fuel [MW].

    Variables ``generation_<fuel>``, ``hsl_<fuel>`` (high sustained limit) and ``capacity_seasonal_<fuel>``
    where the snapshot has them, and ``capacity_monthly_<fuel>`` over the month of ``lastUpdated``;
    ``<fuel>`` is the slug of ERCOT's label (``coal_and_lignite``, ``power_storage``, ...).
    """
    what = "fuel mix dashboard"
    doc = load_json(body, what)
    updated = _updated(doc, what)
    data = doc.get("data")
    if not isinstance(data, dict) or not data:
        raise ParseError(f"{what}: no 'data' by day; found {sorted(doc)}")
    try:
        records = [
            (stamp, fuel, measure, value)
            for day in data.values()
            for stamp, fuels in day.items()
            for fuel, measures in fuels.items()
            for measure, value in measures.items()
        ]
    except (AttributeError, TypeError) as exc:
        raise ParseError(f"{what}: unexpected nesting under 'data': {exc}") from None
    raw = pd.DataFrame(records, columns=["stamp", "fuel", "measure", "value"])
    unknown = sorted(set(raw["measure"]) - set(FUEL_MEASURES))
    if unknown:
        raise ParseError(f"{what}: unknown measures {unknown}")
    stamps = raw["stamp"].drop_duplicates()
    instants = _stamp(stamps, what)
    if instants.duplicated().any():
        raise ParseError(f"{what}: the same instant is published twice (DST day?)")
    end_of = pd.Series(instants.dt.ceil("5min").to_numpy(), index=stamps.to_numpy())
    if end_of.duplicated().any():
        raise ParseError(f"{what}: two records fall in the same 5-minute interval")
    end = raw["stamp"].map(end_of).astype("datetime64[ms, UTC]")
    start = end - pd.Timedelta(minutes=5)
    is_capacity = raw["measure"] == "seasonalCapacity"
    actual_published = end.where(end <= updated, updated)
    published = actual_published.where(~is_capacity, updated)
    frames = [
        fundamentals_frame(
            start,
            end,
            market="ERCOT",
            area="ERCOT",
            variable=raw["measure"].map(FUEL_MEASURES) + "_" + raw["fuel"].map(slug),
            value=pd.to_numeric(raw["value"], errors="coerce"),
            unit="MW",
            source="ercot",
            published=published,
        )
    ]
    monthly = doc.get("monthlyCapacity")
    if isinstance(monthly, dict) and monthly:
        month = updated.tz_convert(TZ).tz_localize(None).to_period("M")
        m_start = pd.Timestamp(month.start_time).tz_localize(TZ).tz_convert("UTC")
        m_end = pd.Timestamp((month + 1).start_time).tz_localize(TZ).tz_convert("UTC")
        cap = pd.Series(monthly, dtype=float)
        frames.append(
            fundamentals_frame(
                pd.Series(m_start, index=cap.index).astype("datetime64[ms, UTC]"),
                pd.Series(m_end, index=cap.index).astype("datetime64[ms, UTC]"),
                market="ERCOT",
                area="ERCOT",
                variable="capacity_monthly_" + cap.index.map(slug),
                value=cap,
                unit="MW",
                source="ercot",
                published=updated,
            ).reset_index(drop=True)
        )
    return _finish(frames)


#: load-forecast-vs-actual fields -> (variable, is an actual)
LOAD_FIELDS = {
    "systemLoad": ("load", True),
    "currentDayHsl": ("hsl", True),
    "currentLoadForecast": ("load_forecast_current", False),
    "dayAheadForecast": ("load_forecast_day_ahead", False),
    "dayAheadHsl": ("hsl_forecast_day_ahead", False),
}


def parse_load_forecast_vs_actual(body: bytes) -> pd.DataFrame:
    """Map the load-forecast-vs-actual dashboard to hourly fundamentals [MW], area ``ERCOT``."""
    what = "load forecast vs actual dashboard"
    doc = load_json(body, what)
    updated = _updated(doc, what)
    raw = _records(doc, ("previousDay", "currentDay", "nextDay"), what)
    if "hourEnding" not in raw:
        raise ParseError(f"{what}: changed format, no 'hourEnding'; found {list(raw.columns)}")
    end = _instants(raw, what)
    start = end - pd.Timedelta(hours=1)
    unknown = sorted(set(raw.columns) - set(LOAD_FIELDS) - {"hourEnding", "dstFlag", "timestamp", "epoch"})
    if unknown:
        raise ParseError(f"{what}: unknown fields {unknown}")
    frames = []
    for field, (variable, is_actual) in LOAD_FIELDS.items():
        if field not in raw:
            continue
        published = end.where(end <= updated, updated) if is_actual else updated
        frames.append(
            fundamentals_frame(
                start,
                end,
                market="ERCOT",
                area="ERCOT",
                variable=variable,
                value=pd.to_numeric(raw[field], errors="coerce"),
                unit="MW",
                source="ercot",
                published=published,
            )
        )
    if not frames:
        raise ParseError(f"{what}: none of {list(LOAD_FIELDS)} in the records")
    return _finish(frames)
