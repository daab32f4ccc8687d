"""PJM Data Miner 2 JSON -> canonical rows. Pure and table-driven: one :class:`Feed` per dataset.

Data Miner answers ``{"items": [...], "totalRows": N, ...}`` (some recordings hold the bare list). Every
feed has UTC stamps (``*_utc`` fields), used directly; the ``*_ept`` twins are ignored, so DST needs no
guessing. Forecast feeds carry their evaluation time, which becomes ``published_at_utc``, so each new
forecast of the same hour is a revision, not an overwrite.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.connectors.columnar import (
    FUNDAMENTAL_COLUMNS,
    PRICE_COLUMNS,
    UTC_MS,
    load_json,
    numbers,
    per_distinct,
    records_table,
    strings,
    to_frame,
    utc,
)
from marketintel.ingest.canonical import slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_day_start_utc

TZ = "America/New_York"  # Eastern prevailing time (EPT)
#: Day-ahead LMPs are posted around 13:30 EPT the day before the operating day (approximation).
DA_POSTED_BEFORE_DAY = pd.Timedelta(hours=10, minutes=30)


@dataclass(frozen=True)
class Feed:
    """How one Data Miner feed maps to a store table."""

    endpoint: str
    table: str
    start: str  # UTC start field
    interval: pd.Timedelta | None = None  # fixed length, when there is no end field
    end: str | None = None  # UTC end field
    values: dict[str, str] = field(
        default_factory=dict
    )  # canonical column -> field (prices) / variable -> field
    location: str = ""  # field with the pricing node or area
    area_to: str = ""  # fundamentals: field with the second area (a constraint's contingency)
    location_type: str = ""  # field with the location's type, or "" for a constant
    default_location: str = "PJM"
    variable: str = ""  # fundamentals: field whose value names the variable (gen_by_fuel's fuel_type)
    variable_prefix: str = ""
    unit: str = ""
    market: str = ""
    published: str = "end"  # "end", "da", or a UTC field name (forecast evaluation time)


FEEDS: dict[str, Feed] = {
    "lmp_day_ahead_hourly": Feed(
        "da_hrl_lmps",
        "prices",
        "datetime_beginning_utc",
        pd.Timedelta(hours=1),
        values={
            "price": "total_lmp_da",
            "energy": "system_energy_price_da",
            "congestion": "congestion_price_da",
            "loss": "marginal_loss_price_da",
        },
        location="pnode_name",
        location_type="type",
        market="PJM_DAY_AHEAD_HOURLY",
        published="da",
    ),
    "lmp_real_time_5min_unverified": Feed(
        "rt_unverified_fivemin_lmps",
        "prices",
        "datetime_beginning_utc",
        pd.Timedelta(minutes=5),
        values={
            "price": "total_lmp_rt",
            "energy": "system_energy_price_rt",
            "congestion": "congestion_price_rt",
            "loss": "marginal_loss_price_rt",
        },
        location="pnode_name",
        location_type="type",
        market="PJM_REAL_TIME_5MIN_UNVERIFIED",
    ),
    "generation_by_fuel": Feed(
        "gen_by_fuel",
        "fundamentals",
        "datetime_beginning_utc",
        pd.Timedelta(hours=1),
        values={"value": "mw"},
        variable="fuel_type",
        variable_prefix="generation_",
        unit="MW",
        market="PJM",
    ),
    "load_forecast_7day": Feed(
        "load_frcstd_7_day",
        "fundamentals",
        "forecast_datetime_beginning_utc",
        end="forecast_datetime_ending_utc",
        values={"load_forecast": "forecast_load_mw"},
        location="forecast_area",
        unit="MW",
        market="PJM",
        published="evaluated_at_datetime_utc",
    ),
    "solar_forecast_hourly": Feed(
        "hourly_solar_power_forecast",
        "fundamentals",
        "datetime_beginning_utc",
        end="datetime_ending_utc",
        values={"solar_forecast": "solar_forecast_mwh", "solar_forecast_btm": "solar_forecast_btm_mwh"},
        unit="MWh",
        market="PJM",
        published="evaluated_at_utc",
    ),
    "solar_forecast_5min": Feed(
        "five_min_solar_power_forecast",
        "fundamentals",
        "datetime_beginning_utc",
        end="datetime_ending_utc",
        values={"solar_forecast": "solar_forecast_mwh", "solar_forecast_btm": "solar_forecast_btm_mwh"},
        unit="MWh",
        market="PJM",
        published="evaluated_at_utc",
    ),
    "constraint_shadow_price_da": Feed(
        "da_marginal_value",
        "fundamentals",
        "datetime_beginning_utc",
        end="datetime_ending_utc",
        values={"shadow_price_da": "shadow_price"},
        location="monitored_facility",
        area_to="contingency_facility",
        unit="USD/MWh",
        market="PJM",
        published="da",
    ),
    "constraint_shadow_price_rt_5min": Feed(
        "rt_marginal_value",
        "fundamentals",
        "datetime_beginning_utc",
        end="datetime_ending_utc",
        values={"shadow_price_rt": "shadow_price"},
        location="monitored_facility",
        area_to="contingency_facility",
        unit="USD/MWh",
        market="PJM",
    ),
    "binding_constraints_da": Feed(
        "da_transconstraints",
        "fundamentals",
        "datetime_beginning_utc",
        end="datetime_ending_utc",
        values={"binding_constraint_hours_da": "duration"},
        location="monitored_facility",
        area_to="contingency_facility",
        unit="h",
        market="PJM",
        published="da",
    ),
}


def items(body: bytes) -> list[dict[str, object]]:
    """Return the records of a Data Miner answer (gzip or not, wrapped in ``items`` or a bare list)."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise ParseError(f"truncated or corrupt gzip body: {exc}") from None
    doc = load_json(body)
    records = doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise ParseError(
            f"no 'items' list in the answer (keys: {sorted(doc) if isinstance(doc, dict) else '-'})"
        )
    return records


def parse(body: bytes, dataset: str) -> pd.DataFrame:
    """Map one Data Miner answer of ``dataset`` to canonical rows (columnar, in Arrow; see ``columnar``)."""
    feed = FEEDS[dataset]
    required = [feed.start, *([feed.end] if feed.end else []), *([feed.location] if feed.location else [])]
    if feed.published not in ("end", "da"):
        required.append(feed.published)
    raw = records_table(items(body), required)
    start = utc(raw[feed.start], feed.start)
    if feed.end:
        end = utc(raw[feed.end], feed.end)
    elif feed.interval is not None:
        end = pc.add(start, pa.scalar(feed.interval.to_pytimedelta(), pa.duration("ms")))
    else:  # pragma: no cover - a Feed declares one or the other
        raise AssertionError(f"feed {feed.endpoint} declares neither an end field nor an interval")
    if feed.published == "end":
        published = end
    elif feed.published == "da":  # one posting time per operating day, computed on the distinct starts
        published = per_distinct(
            start,
            lambda s: local_day_start_utc(pd.DatetimeIndex(s), TZ) - DA_POSTED_BEFORE_DAY,
            UTC_MS,
        )
    else:
        published = utc(raw[feed.published], feed.published)
    base = {"interval_start_utc": start, "interval_end_utc": end, "published_at_utc": published}
    if feed.table == "prices":
        if feed.values["price"] not in raw.column_names:
            raise ParseError(
                f"missing price field {feed.values['price']!r}; found {sorted(raw.column_names)}"
            )
        cols: dict[str, object] = {**base, "location": strings(raw[feed.location])}
        cols["location_type"] = (
            pc.utf8_lower(strings(raw[feed.location_type]))
            if feed.location_type in raw.column_names
            else "pnode"
        )
        for col, src in feed.values.items():  # a component not requested or not published stays missing
            cols[col] = numbers(raw[src], src) if src in raw.column_names else float("nan")
        cols.update(market=feed.market, currency="USD", unit="USD/MWh", source="pjm")
        return to_frame(cols, PRICE_COLUMNS, ["location", "interval_start_utc"])
    area = strings(raw[feed.location]) if feed.location else pa.repeat(feed.default_location, raw.num_rows)
    area_to = strings(raw[feed.area_to]) if feed.area_to else pa.repeat("", raw.num_rows)
    parts = []
    if feed.variable:
        if feed.variable not in raw.column_names:
            raise ParseError(f"missing field {feed.variable!r}; found {sorted(raw.column_names)}")
        variables = per_distinct(
            strings(raw[feed.variable]), lambda s: feed.variable_prefix + s.map(slug), pa.string()
        )
        parts.append((variables, feed.values["value"]))
    else:
        parts = [(pa.repeat(variable, raw.num_rows), src) for variable, src in feed.values.items()]
    tables = []
    for variable, src in parts:
        if src not in raw.column_names:
            raise ParseError(f"missing field {src!r}; found {sorted(raw.column_names)}")
        value = numbers(raw[src], src)
        tables.append(
            pa.table({**base, "area": area, "area_to": area_to, "variable": variable, "value": value})
        )
    long = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    cols = {name: long[name] for name in long.column_names}
    cols.update(market=feed.market, unit=feed.unit, source="pjm")
    return to_frame(
        cols, FUNDAMENTAL_COLUMNS, ["area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
    )
