"""Seasonal priors fitted from history, and what they do to a curve."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from marketintel.calendars import Contract, get_calendar
from marketintel.curves.build import build_curve
from marketintel.curves.prior import daily_history, seasonal_prior
from marketintel.exceptions import MarketIntelError


def _history(days: pd.DatetimeIndex) -> pd.Series:
    doy = days.day_of_year.to_numpy()
    weekend = days.day_of_week.to_numpy() >= 5
    values = 80 + 15 * np.cos(2 * np.pi * doy / 365.2425) - 12.0 * weekend
    return pd.Series(values, index=days)


def test_the_fit_recovers_a_known_seasonal_and_weekly_shape() -> None:
    history = _history(pd.date_range("2022-01-01", "2024-12-31", freq="D"))
    future = pd.date_range("2026-01-01", "2026-12-31", freq="D")
    prior = seasonal_prior(history, future)
    truth = _history(future)
    assert np.abs((prior - prior.mean()) - (truth - truth.mean())).max() < 1e-8
    assert abs(prior.mean()) < 1e-9  # centred: the contracts set the level


def test_too_little_history_is_refused() -> None:
    with pytest.raises(MarketIntelError, match="at least a year of daily history"):
        seasonal_prior(
            _history(pd.date_range("2024-01-01", "2024-03-31")), pd.date_range("2026-01-01", "2026-01-31")
        )


def test_daily_history_averages_local_days() -> None:
    stamps = pd.date_range(
        "2026-03-28 23:00", "2026-03-30 21:00", freq="h", tz="UTC"
    )  # Berlin DST day inside
    prices = pd.DataFrame({"interval_start_utc": stamps, "price": np.arange(len(stamps), dtype=float)})
    daily = daily_history(prices, "Europe/Berlin")
    assert daily.index[0] == pd.Timestamp("2026-03-29")  # 23:00 UTC on the 28th is midnight in Berlin
    assert daily.iloc[0] == pytest.approx(np.arange(0, 23).mean())  # the 23 hours of 29 March
    assert daily.index[1] == pd.Timestamp("2026-03-30")


def test_a_prior_puts_its_weekly_shape_into_the_curve() -> None:
    cal = get_calendar("EEX_DE")
    months = [(1, 90.0), (2, 85.0), (3, 75.0)]
    ends = {1: dt.date(2026, 1, 31), 2: dt.date(2026, 2, 28), 3: dt.date(2026, 3, 31)}
    contracts = [Contract(f"M-2026-{m:02d}", dt.date(2026, m, 1), ends[m], price=p) for m, p in months]
    history = _history(pd.date_range("2022-01-01", "2024-12-31", freq="D"))
    dates = pd.date_range("2026-01-01", "2026-03-31", freq="D")
    plain = build_curve(contracts, cal, "2026-01-01", "2026-03-31")
    shaped = build_curve(contracts, cal, "2026-01-01", "2026-03-31", prior=seasonal_prior(history, dates))
    assert shaped.max_reprice_error < 1e-8
    weekend = dates.day_of_week >= 5
    gap = shaped.daily["price"][~weekend].mean() - shaped.daily["price"][weekend].mean()
    assert gap > 8.0  # weekends about 12 cheaper, as the history says
    assert abs(plain.daily["price"][~weekend].mean() - plain.daily["price"][weekend].mean()) < 1.0
    assert shaped.parameters["prior_sha256"] and not plain.parameters["prior_sha256"]
