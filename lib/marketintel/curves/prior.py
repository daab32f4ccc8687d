"""Seasonal priors fitted from history: the shape a curve's deviations are measured from.

The smoothness objective ignores adding a line to the prior, so only its *shape* matters: here, smooth
annual harmonics plus day-of-week effects, fitted by least squares to historical daily prices. Weekday
effects make a daily power curve cheaper at weekends, as the market is; harmonics keep the prior free of
the month-boundary steps a month-of-year table would put into the curve. :func:`prior_on_cells` puts a prior
(daily or hourly) onto a build's block-day unknowns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketintel.curves.grid import BlockDays, DeliveryGrid
from marketintel.exceptions import MarketIntelError

#: annual harmonics fitted (1: summer/winter, 2: the shoulder seasons)
HARMONICS = 2
DAYS_PER_YEAR = 365.2425


def _design(dates: pd.DatetimeIndex, weekdays: bool) -> np.ndarray:
    doy = dates.day_of_year.to_numpy(dtype=float)
    cols = [np.ones(len(dates))]
    for k in range(1, HARMONICS + 1):
        angle = 2 * np.pi * k * doy / DAYS_PER_YEAR
        cols += [np.cos(angle), np.sin(angle)]
    if weekdays:
        dow = dates.day_of_week.to_numpy()
        cols += [(dow == d).astype(float) for d in range(1, 7)]  # Monday is the base day
    return np.column_stack(cols)


def seasonal_prior(history: pd.Series, dates: pd.DatetimeIndex, *, weekdays: bool = True) -> pd.Series:
    """Fit annual harmonics and day-of-week effects to daily history and evaluate them on ``dates``.

    Parameters
    ----------
    history : pd.Series
        Daily prices [price] by local delivery date (naive dates); at least a year of them.
    dates : pd.DatetimeIndex
        Local delivery dates of the curve.
    weekdays : bool
        Fit day-of-week effects (power); off for gas, whose days are alike.

    Returns
    -------
    pd.Series
        The prior [price] by date, centred on zero (the contracts set the level).

    Raises
    ------
    MarketIntelError
        With less than a year of history (the seasons could not be told apart).
    """
    clean = history.dropna()
    index = pd.DatetimeIndex(clean.index)
    if len(clean) < 365 or (index.max() - index.min()).days < 364:
        raise MarketIntelError(
            f"a seasonal prior needs at least a year of daily history; got {len(clean)} days "
            f"({index.min().date() if len(clean) else '-'} .. {index.max().date() if len(clean) else '-'})"
        )
    design = _design(index, weekdays)
    coef, *_ = np.linalg.lstsq(design, clean.to_numpy(dtype=float), rcond=None)
    fitted = _design(pd.DatetimeIndex(dates), weekdays) @ coef
    return pd.Series(fitted - fitted.mean(), index=pd.DatetimeIndex(dates), name="prior")


def daily_history(prices: pd.DataFrame, tz: str) -> pd.Series:
    """Average interval prices (``interval_start_utc``, ``price``) to local delivery days [price]."""
    local = pd.DatetimeIndex(prices["interval_start_utc"]).tz_convert(tz)
    day = pd.DatetimeIndex(local.date)
    return prices["price"].groupby(day.to_numpy()).mean()


def prior_on_cells(prior: pd.Series | None, grid: DeliveryGrid, days: BlockDays) -> np.ndarray | None:
    """Return a prior on the build's stacked block-day cells (a daily prior applies to every block).

    Parameters
    ----------
    prior : pd.Series, optional
        By local date (naive index) [price], or by tz-aware hour (then averaged per block-day) [price].
    grid : DeliveryGrid
        The build's delivery hours.
    days : BlockDays
        The build's block-day cells.

    Returns
    -------
    np.ndarray or None
        ``blocks * days`` values [price], block after block; None without a prior.

    Raises
    ------
    ValueError
        When the prior misses a delivery date or hour of the curve.
    """
    if prior is None:
        return None
    nb = days.shape[0]
    index = pd.DatetimeIndex(prior.index)
    if index.tz is None:  # by local date
        values = prior.reindex(grid.dates)
        if values.isna().any():
            missing = grid.dates[values.isna().to_numpy()]
            raise ValueError(
                f"the prior has no value for {len(missing)} delivery date(s), first {missing[0].date()}"
            )
        return np.tile(values.to_numpy(dtype=float), nb)
    by_hour = grid.on_hours(prior)
    if np.isnan(by_hour).any():
        absent = int(np.isnan(by_hour).sum())
        raise ValueError(f"the hourly prior misses {absent} delivery hour(s) of the curve")
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(days.hours > 0, days.sums(by_hour) / np.maximum(days.hours, 1), np.nan)
    # block-days without hours (peak on a Sunday): carry the block's neighbouring values, for smoothness only
    filled = pd.DataFrame(means.T).interpolate(limit_direction="both").to_numpy().T
    return np.asarray(filled.ravel(), dtype=float)
