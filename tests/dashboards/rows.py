"""Price rows written by the dashboards' tests (into their own test databases, never the platform's)."""

from __future__ import annotations

import pandas as pd


def price_rows(
    market: str,
    location: str,
    starts: pd.DatetimeIndex,
    prices: list[float],
    published: pd.Timestamp,
    revision: str = "final",
) -> pd.DataFrame:
    """Return hourly price rows of one market and location, ready for ``insert_df(client, 'prices', ...)``."""
    return pd.DataFrame(
        {
            "interval_start_utc": starts,
            "interval_end_utc": starts + pd.Timedelta(hours=1),
            "market": market,
            "location": location,
            "location_type": "hub",
            "price": prices,
            "currency": "EUR",
            "unit": "EUR/MWh",
            "revision": revision,
            "published_at_utc": published,
            "source": "test",
        }
    )


def hours(start: str, n: int) -> pd.DatetimeIndex:
    """Return ``n`` hourly UTC stamps from ``start``."""
    return pd.date_range(start, periods=n, freq="h", tz="UTC")
