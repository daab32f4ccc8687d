"""PJM Data Miner 2 JSON -> canonical rows. Pure and table-driven: one :class:`Feed` per dataset.

Data Miner answers ``{"items": [...], "totalRows": N, ...}`` (some recordings hold the bare list). Every
feed has UTC stamps (``*_utc`` fields), used directly; the ``*_ept`` twins are ignored, so DST needs no
guessing. Forecast feeds carry their evaluation time, which becomes ``published_at_utc``, so each new
forecast of the same hour is a revision, not an overwrite.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from marketintel.connectors.base import ParseError
from marketintel.connectors.canonical import slug

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
    if not body.strip():
        raise ParseError("empty body")
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise ParseError(f"truncated or corrupt gzip body: {exc}") from None
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of JSON (API error or maintenance page)")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    records = doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise ParseError(
            f"no 'items' list in the answer (keys: {sorted(doc) if isinstance(doc, dict) else '-'})"
        )
    return records


def _utc(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        raise ParseError(f"missing field {name!r}; found {sorted(frame.columns)}")
    return pd.to_datetime(frame[name], format="ISO8601").dt.tz_localize("UTC").astype("datetime64[ms, UTC]")


def parse(body: bytes, dataset: str) -> pd.DataFrame:
    """Map one Data Miner answer of ``dataset`` to canonical rows."""
    feed = FEEDS[dataset]
    records = items(body)
    if not records:
        raise ParseError("the answer holds no records")
    raw = pd.DataFrame.from_records(records)
    start = _utc(raw, feed.start)
    if feed.end:
        end = _utc(raw, feed.end)
    elif feed.interval is not None:
        end = start + feed.interval
    else:  # pragma: no cover - a Feed declares one or the other
        raise AssertionError(f"feed {feed.endpoint} declares neither an end field nor an interval")
    published_rule: dict[str, Callable[[], pd.Series]] = {
        "end": lambda: end,
        "da": lambda: pd.Series(
            local_day_start_utc(pd.DatetimeIndex(start), TZ) - DA_POSTED_BEFORE_DAY, index=raw.index
        ),
    }
    published = (
        published_rule[feed.published]() if feed.published in published_rule else _utc(raw, feed.published)
    )
    base = {
        "interval_start_utc": start,
        "interval_end_utc": end,
        "market": feed.market,
        "source": "pjm",
        "published_at_utc": published,
    }
    if feed.table == "prices":
        out = pd.DataFrame(base)
        out["location"] = raw[feed.location].astype(str)
        out["location_type"] = (
            raw[feed.location_type].astype(str).str.lower() if feed.location_type in raw else "pnode"
        )
        for col, src in feed.values.items():
            if src in raw:
                out[col] = pd.to_numeric(raw[src], errors="raise").astype(float)
            elif col == "price":
                raise ParseError(f"missing price field {src!r}; found {sorted(raw.columns)}")
            else:
                out[col] = float("nan")  # component not requested or not published
        out["currency"], out["unit"] = "USD", "USD/MWh"
        key = ["market", "location", "interval_start_utc"]
    else:
        area = raw[feed.location].astype(str) if feed.location else feed.default_location
        frames = []
        if feed.variable:
            value_field = feed.values["value"]
            variables = feed.variable_prefix + raw[feed.variable].astype(str).map(slug)
            frames.append(
                pd.DataFrame({**base, "area": area, "variable": variables, "value": raw[value_field]})
            )
        else:
            for variable, src in feed.values.items():
                if src not in raw:
                    raise ParseError(f"missing field {src!r}; found {sorted(raw.columns)}")
                frames.append(pd.DataFrame({**base, "area": area, "variable": variable, "value": raw[src]}))
        out = pd.concat(frames, ignore_index=True)
        out["value"] = pd.to_numeric(out["value"], errors="raise").astype(float)
        out["area_to"] = (
            pd.concat([raw[feed.area_to].astype(str)] * len(frames), ignore_index=True)
            if feed.area_to
            else ""
        )
        out["unit"] = feed.unit
        key = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]
    return out.sort_values(key, ignore_index=True)
