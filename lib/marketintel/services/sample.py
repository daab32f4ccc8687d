"""The demo's sample: the last days of the Nord Pool benchmark series, stored and summarised.

The sample is the last :data:`SAMPLE_DAYS` days of the epftoolbox Nord Pool dataset in the shared inputs
(system price, load and wind forecasts, each hour published the day before delivery), or a clearly
labelled synthetic series where the shared inputs are absent. Loading it twice adds no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketintel.timeutils import local_day_start_utc, local_to_utc

#: Day-ahead results of Nord Pool are published around 12:45 CET the day before delivery.
NP_PUBLICATION_OFFSET = pd.Timedelta(hours=-12, minutes=-15)  # from delivery-day 00:00 CET to D-1 11:45 UTC
SAMPLE_DAYS = 28
#: epftoolbox's NP stamps are market hours without DST shifts (24 per day): a fixed UTC+01:00 clock.
MARKET_CLOCK = "Etc/GMT-1"


def sample_frames(shared: Path, days: int = SAMPLE_DAYS) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Return (prices, fundamentals, description) of the sample to load.

    The sample is the last ``days`` days of the epftoolbox Nord Pool dataset when the shared inputs are
    present; otherwise a seeded synthetic series, labelled as such in ``source``.
    """
    csv = shared / "datasets" / "epftoolbox" / "NP.csv"
    now = pd.Timestamp.now(tz="UTC").floor("ms")
    if csv.exists():
        raw = pd.read_csv(csv, index_col=0, parse_dates=True).tail(days * 24)
        raw.columns = [c.strip() for c in raw.columns]
        # The file's stamps are market hours with no DST shifts (24 per day): read them as UTC+01:00.
        start = local_to_utc(pd.DatetimeIndex(raw.index), MARKET_CLOCK)
        price, load, wind = (
            raw["Price"].to_numpy(),
            raw["Grid load forecast"].to_numpy(),
            raw["Wind power forecast"].to_numpy(),
        )
        source, what = "epftoolbox", f"Nord Pool system price, last {days} days of epftoolbox NP.csv ({csv})"
    else:
        start = pd.date_range(end=now.floor("D"), periods=days * 24, freq="h", tz="UTC")
        rng = np.random.default_rng(2024)
        hours = np.arange(len(start))
        price = 40 + 12 * np.sin(2 * np.pi * (hours % 24 - 7) / 24) + rng.normal(0, 3, len(start))
        load = 40_000 + 6_000 * np.sin(2 * np.pi * (hours % 24 - 6) / 24)
        wind = np.clip(3_000 + rng.normal(0, 800, len(start)).cumsum() / 10, 0, None)
        source, what = "synthetic-demo", f"SYNTHETIC hourly series ({days} days): shared inputs not found"
    start = pd.DatetimeIndex(start)
    end = start + pd.Timedelta(hours=1)
    published = local_day_start_utc(start, MARKET_CLOCK) + NP_PUBLICATION_OFFSET
    prices = pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": end,
            "market": "NORDPOOL_DA",
            "location": "SYS",
            "location_type": "system",
            "price": price.astype(float),
            "energy": None,
            "congestion": None,
            "loss": None,
            "currency": "EUR",
            "unit": "EUR/MWh",
            "revision": "final",
            "source": source,
            "published_at_utc": published,
            "ingested_at_utc": now,
        }
    )
    fundamentals = pd.concat(
        [
            pd.DataFrame(
                {
                    "interval_start_utc": start,
                    "interval_end_utc": end,
                    "market": "NORDPOOL",
                    "area": "SYS",
                    "area_to": "",
                    "variable": variable,
                    "value": values.astype(float),
                    "unit": "MW",
                    "source": source,
                    "published_at_utc": published,
                    "ingested_at_utc": now,
                }
            )
            for variable, values in (("load_forecast", load), ("wind_forecast", wind))
        ],
        ignore_index=True,
    )
    return prices, fundamentals, what


#: the sample's market, location and the zone its delivery days are summarised in
SAMPLE_MARKET, SAMPLE_LOCATION, SAMPLE_TZ = "NORDPOOL_DA", "SYS", "Europe/Oslo"


@dataclass(frozen=True)
class SampleSummary:
    """What the store holds of the sample, and a point-in-time read of it.

    Attributes
    ----------
    description : str
        What the sample is (file and days, or SYNTHETIC).
    source : str
        ``source`` of its rows.
    loaded_prices, loaded_fundamentals : int
        Rows sent this time [rows].
    stored_prices, stored_fundamentals : int
        Rows the store holds of the source after deduplication [rows] (a second load adds none).
    as_of_utc : pd.Timestamp
        The instant of the point-in-time read: the day before the sample's last delivery day [UTC].
    published_hours : int
        Price hours published by ``as_of_utc`` [hours].
    daily : pd.DataFrame
        The last 7 delivery days (``day`` in :data:`SAMPLE_TZ`): ``base``, ``peak`` (weekdays 08-20),
        ``min``, ``max`` [EUR/MWh].
    """

    description: str
    source: str
    loaded_prices: int
    loaded_fundamentals: int
    stored_prices: int
    stored_fundamentals: int
    as_of_utc: pd.Timestamp
    published_hours: int
    daily: pd.DataFrame


def daily_profile(series: pd.DataFrame, tz: str, days: int = 7) -> pd.DataFrame:
    """Return base, peak (weekdays 08-20 local), min and max price per local delivery day, newest first."""
    local = pd.DatetimeIndex(series["interval_start_utc"]).tz_convert(tz)
    price = series["price"].to_numpy(dtype=float)
    frame = pd.DataFrame({"day": local.date, "price": price})
    peak = (local.day_of_week < 5) & (local.hour >= 8) & (local.hour < 20)
    grouped = frame.groupby("day")["price"]
    out = pd.DataFrame(
        {
            "base": grouped.mean(),
            "peak": frame[peak].groupby("day")["price"].mean(),
            "min": grouped.min(),
            "max": grouped.max(),
        }
    ).round(2)
    return out.sort_index(ascending=False).head(days).reset_index()


def load_sample(*, client: Any = None, shared: Path | None = None, days: int = SAMPLE_DAYS) -> SampleSummary:
    """Store the sample (idempotent) and return what the store holds of it.

    Parameters
    ----------
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store`.
    shared : Path, optional
        The shared inputs (default ``MI_SHARED_DIR``).
    days : int
        Days of the sample [days].
    """
    from marketintel import config
    from marketintel.services.queries import price_series, stored_series
    from marketintel.store import insert_df

    if client is None:
        from marketintel.services.store import ensure_store

        client = ensure_store().client
    prices, fundamentals, what = sample_frames(shared or config.shared_dir(), days)
    loaded = insert_df(client, "prices", prices), insert_df(client, "fundamentals", fundamentals)
    source = str(prices["source"].iloc[0])
    start, end = prices["interval_start_utc"].min(), prices["interval_end_utc"].max()
    stored = [
        int(stored_series(client, table, start, end, sources=source)["n_rows"].sum())
        for table in ("prices", "fundamentals")
    ]
    as_of = prices["interval_start_utc"].max().floor("D") - pd.Timedelta(days=1)
    known = price_series(client, SAMPLE_MARKET, SAMPLE_LOCATION, start, end, as_of=as_of, allow_empty=True)
    series = price_series(client, SAMPLE_MARKET, SAMPLE_LOCATION, start, end)
    return SampleSummary(
        what, source, loaded[0], loaded[1], stored[0], stored[1], as_of, len(known),
        daily_profile(series, SAMPLE_TZ),
    )  # fmt: skip
