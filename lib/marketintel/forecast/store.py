"""Forecast history from and to the store: prices and exogenous forecasts with their publication times.

:func:`write_panel` stores a panel (for example an epftoolbox dataset) as ``prices`` and ``fundamentals``
rows, each with the instant it was published; :func:`panel_from_store` reads them back into a panel whose
as-of guard uses those stored publication times, so a backtest on store series sees exactly what was known
at each issue time. Days are local delivery days of the given zone; where a zone has DST, the 25th hour of
the autumn day is averaged into its repeated hour and the missing spring hour is interpolated, the usual
convention of day-ahead forecasting datasets (each day has 24 values).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from marketintel.exceptions import EmptyResultError, MarketIntelError
from marketintel.forecast.data import DailyPanel


def _hours_utc(panel: DailyPanel) -> pd.DatetimeIndex:
    starts = pd.DatetimeIndex(panel.days).tz_localize(panel.tz).tz_convert("UTC").as_unit("ms")
    offsets = pd.to_timedelta(np.tile(np.arange(24), len(starts)), unit="h").as_unit("ms")
    return pd.DatetimeIndex(starts.repeat(24) + offsets)


def write_panel(
    client: Any, panel: DailyPanel, market: str, location: str, *, source: str = "epftoolbox"
) -> int:
    """Store a panel's price as ``prices`` rows and its other series as ``fundamentals`` rows [rows].

    Every hour of a day carries the day's publication instant as ``published_at_utc``.
    """
    from marketintel.ingest.canonical import slug
    from marketintel.store import insert_df

    hours = _hours_utc(panel).as_unit("ms")
    n = len(panel.days)
    unit = panel.units.get("price", "EUR/MWh")
    published = {k: pd.DatetimeIndex(np.repeat(v, 24)).tz_localize("UTC") for k, v in panel.published.items()}
    prices = pd.DataFrame(
        {
            "interval_start_utc": hours,
            "interval_end_utc": hours + pd.Timedelta(hours=1),
            "market": market,
            "location": location,
            "location_type": "zone",
            "price": panel.series["price"].reshape(n * 24),
            "currency": unit.split("/")[0],
            "unit": unit,
            "source": source,
            "published_at_utc": published["price"],
        }
    )
    rows = insert_df(client, "prices", prices)
    for name in panel.exogenous:
        frame = pd.DataFrame(
            {
                "interval_start_utc": hours,
                "interval_end_utc": hours + pd.Timedelta(hours=1),
                "market": market,
                "area": location,
                "area_to": "",
                "variable": slug(name),
                "value": panel.series[name].reshape(n * 24),
                "unit": panel.units.get(name, "MW"),
                "source": source,
                "published_at_utc": published[name],
            }
        )
        rows += insert_df(client, "fundamentals", frame)
    return rows


def _daily(
    frame: pd.DataFrame, tz: str, value: str, what: str
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Arrange hourly rows into (local days, (n, 24) values, (n,) latest publication per day)."""
    start = pd.DatetimeIndex(frame["interval_start_utc"])
    start = start.tz_localize("UTC") if start.tz is None else start.tz_convert("UTC")
    local = start.tz_convert(tz)
    data = pd.DataFrame(
        {
            "day": pd.DatetimeIndex(local.date),
            "hour": local.hour,
            "value": frame[value].to_numpy(dtype=float),
            "published": pd.DatetimeIndex(frame["published_at_utc"]).tz_convert("UTC").tz_localize(None),
        }
    )
    grid = data.groupby(["day", "hour"])["value"].mean().unstack("hour")  # a repeated hour is averaged
    grid = grid.reindex(columns=range(24))
    grid = grid.interpolate(axis=1, limit_direction="both")  # a missing (spring) hour is interpolated
    full = pd.date_range(grid.index.min(), grid.index.max(), freq="D")
    missing = full.difference(pd.DatetimeIndex(grid.index))
    if len(missing):
        raise MarketIntelError(f"{what}: {len(missing)} day(s) have no data, first {missing[0].date()}")
    published = data.groupby("day")["published"].max().reindex(full)
    return full, grid.reindex(full).to_numpy(), published.to_numpy().astype("datetime64[ms]")


def panel_from_store(
    client: Any,
    market: str,
    location: str,
    exogenous: list[str],
    tz: str,
    *,
    unit: str | None = None,
) -> DailyPanel:
    """Read a price series and its exogenous forecasts from the store into a panel.

    Parameters
    ----------
    client : Any
        A clickhouse-connect client.
    market, location : str
        ``prices.market`` and ``prices.location``; the exogenous series are ``fundamentals`` rows of the
        same market with ``area = location``.
    exogenous : list of str
        ``fundamentals.variable`` names, in feature order.
    tz : str
        Zone of the local delivery days.
    unit : str, optional
        Price unit (default: the stored one).

    Raises
    ------
    EmptyResultError
        When the store has no such prices or variables (the message says which).
    """
    prices = client.query_df(
        "SELECT interval_start_utc, price, unit, published_at_utc FROM prices FINAL "
        "WHERE market = {m:String} AND location = {l:String} ORDER BY interval_start_utc",
        parameters={"m": market, "l": location},
    )
    if prices.empty:
        raise EmptyResultError(f"no prices of {market}/{location} in the store")
    days, price, price_pub = _daily(prices, tz, "price", f"{market}/{location} prices")
    series = {"price": price}
    published = {"price": price_pub}
    for name in exogenous:
        rows = client.query_df(
            "SELECT interval_start_utc, value, published_at_utc FROM fundamentals FINAL "
            "WHERE market = {m:String} AND area = {a:String} AND variable = {v:String} "
            "ORDER BY interval_start_utc",
            parameters={"m": market, "a": location, "v": name},
        )
        if rows.empty:
            raise EmptyResultError(f"no fundamentals {name!r} of {market}/{location} in the store")
        ex_days, values, pub = _daily(rows, tz, "value", f"{market}/{location} {name}")
        common = days.intersection(ex_days)
        keep = days.isin(common)
        days = days[keep]
        series = {k: v[keep] for k, v in series.items()}
        published = {k: v[keep] for k, v in published.items()}
        ex_keep = ex_days.isin(common)
        series[name], published[name] = values[ex_keep], pub[ex_keep]
    return DailyPanel(days, tz, series, published, {"price": unit or str(prices["unit"].iloc[0])})
