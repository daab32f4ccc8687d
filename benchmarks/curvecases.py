"""Synthetic but realistic curve-building problems for the benchmarks (consistent by construction)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from marketintel.calendars import Contract, MarketCalendar, delivery_period


def truth_hourly(calendar: MarketCalendar, start: str, end: str) -> pd.DataFrame:
    """An hourly 'true' price path: seasonal level, trend, weekly and daily shape, peak premium [EUR/MWh]."""
    hours = calendar.hourly(start, end)
    t = (hours["datetime_utc"] - hours["datetime_utc"].iloc[0]).dt.total_seconds().to_numpy() / 86400.0
    level = 85.0 - 0.01 * t + 18.0 * np.cos(2 * np.pi * (t - 15.0) / 365.25)
    hod = hours["hour_local"].to_numpy()
    shape = 1.0 + 0.12 * np.sin(2 * np.pi * (hod - 6) / 24) + 0.08 * np.sin(4 * np.pi * (hod - 3) / 24)
    weekend = hours["datetime_local"].dt.weekday.to_numpy() >= 5
    price = level * shape * np.where(weekend, 0.85, 1.0) * np.where(hours["is_peak"].to_numpy(), 1.1, 1.0)
    return hours.assign(price=price, shape=shape)


def priced(
    calendar: MarketCalendar, truth: pd.DataFrame, names: list[str], profiles: tuple[str, ...]
) -> list[Contract]:
    """Contracts priced as the hour-weighted average of ``truth`` over their delivery (consistent)."""
    out = []
    dates = truth["date"].dt.date.to_numpy()
    for name in names:
        start, end = delivery_period(name, calendar)
        sel = (dates >= start) & (dates <= end)
        for profile in profiles:
            mask = sel & calendar.profile_mask(truth, profile)
            out.append(Contract(name, start, end, profile, float(truth.loc[mask, "price"].mean())))
    return out


DAILY_5Y = (
    [f"M-2026-{m:02d}" for m in range(1, 7)]
    + ["Q-2026-Q3", "Q-2026-Q4", "Q-2027-Q1", "Q-2027-Q2", "Q-2027-Q3", "Q-2027-Q4", "Q-2028-Q1"]
    + ["Cal-2026", "Cal-2027", "Cal-2028", "Cal-2029", "Cal-2030", "Sum-2027", "Win-2027"]
)
HOURLY_3Y = [f"M-2026-{m:02d}" for m in range(1, 11)] + [
    "Q-2026-Q3",
    "Q-2026-Q4",
    "Q-2027-Q1",
    "Q-2027-Q2",
    "Q-2027-Q3",
    "Q-2027-Q4",
    "Cal-2028",
]


def bands(contracts: list[Contract], half_width: float = 0.5) -> list[Contract]:
    """The same contracts quoted as [price - w, price + w]."""
    return [
        Contract(c.name, c.start, c.end, c.profile, None, c.price - half_width, c.price + half_width)  # type: ignore[operator]
        for c in contracts
    ]


def window(names: list[str], calendar: MarketCalendar) -> tuple[dt.date, dt.date]:
    """First and last delivery date of a set of contract names."""
    periods = [delivery_period(n, calendar) for n in names]
    return min(p[0] for p in periods), max(p[1] for p in periods)
