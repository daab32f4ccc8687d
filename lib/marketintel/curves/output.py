"""What a build hands back: the daily frame, the hourly curve, and each contract repriced and checked.

An hourly curve is each block-day's price times the hourly shape normalised to average 1 over that block-day,
so every base, peak and off-peak contract still reprices exactly at hourly resolution; :func:`reprice_hourly`
checks that on the hourly prices themselves. The hourly curve is kept as an array on the delivery grid
(:class:`HourlyCurve`); its frame (UTC and local stamps, date, block, price) is built only when asked for.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from marketintel.calendars import Contract
from marketintel.curves.blocks import Blocks, profile_atoms
from marketintel.curves.fit import Fit, Quotes
from marketintel.curves.grid import BlockDays, DeliveryGrid

#: a contract reprices "exactly" when its error is below this [price]
EXACT = 1e-8


def daily_frame(
    block_curves: np.ndarray, days: BlockDays, grid: DeliveryGrid, blocks: Blocks
) -> pd.DataFrame:
    """Return the daily curve: the hour-weighted base price and, with several blocks, each block's [price].

    Parameters
    ----------
    block_curves : np.ndarray
        ``(blocks, days)``: the solved block-day prices [price].
    days : BlockDays
        The build's block-day cells (their hours weight the base average).
    grid : DeliveryGrid
        The build's delivery days.
    blocks : Blocks
        The solved blocks (their names become columns).

    Returns
    -------
    pd.DataFrame
        Indexed by ``date`` (local delivery date); ``price`` (base) and one column per block when there
        are several [price].
    """
    hours = days.hours
    per_day = hours.sum(axis=0)
    columns = {"price": np.where(per_day > 0, (hours * block_curves).sum(axis=0) / per_day, np.nan)}
    if len(blocks.names) > 1:
        columns |= {name: block_curves[i] for i, name in enumerate(blocks.names)}
    return pd.DataFrame(columns, index=pd.Index(grid.dates, name="date"))


def shape_on_grid(shape: pd.Series | None, grid: DeliveryGrid) -> np.ndarray | None:
    """Return the hourly shape's values on the grid's hours, checked (None for a flat shape).

    Raises
    ------
    ValueError
        When the shape misses a delivery hour, or is not positive (it is a multiplicative profile).
    """
    if shape is None:
        return None
    values = grid.on_hours(shape)
    if np.isnan(values).any():
        missing = int(np.isnan(values).sum())
        raise ValueError(f"the hourly shape misses {missing} delivery hour(s) of the curve")
    if np.any(values <= 0):
        raise ValueError("the hourly shape must be positive (it is a multiplicative profile)")
    return values


def shaped_hours(block_curves: np.ndarray, days: BlockDays, shape: np.ndarray | None) -> np.ndarray:
    """Return each hour's price: its block-day price x shape / (mean shape of that block-day) [price].

    Parameters
    ----------
    block_curves : np.ndarray
        ``(blocks, days)``: the solved block-day prices [price].
    days : BlockDays
        Which block-day each hour belongs to, and the cells' hours.
    shape : np.ndarray, optional
        Positive hourly shape on the grid's hours (any scale); flat when None.
    """
    cell = days.cell_of_hour
    s = np.ones(len(cell)) if shape is None else shape
    mean = days.sums(s).ravel()[cell] / days.hours.ravel()[cell]
    price: np.ndarray = block_curves.ravel()[cell] * s / mean
    return price


def reprice_hourly(
    price: np.ndarray, grid: DeliveryGrid, contracts: list[Contract], weights: str = "hours"
) -> np.ndarray:
    """Return each contract's average of an hourly curve over its delivery, as it settles [price].

    The real repricing check of an hourly build: the hourly prices themselves, DST-true hour by hour. Power
    (``weights="hours"``) averages every profile hour alike; gas (``weights="days"``) averages each delivery
    day's mean price, so a 23- or 25-hour day counts as one day, as the contract settles.

    Parameters
    ----------
    price : np.ndarray
        Hourly prices on the grid's hours [price].
    grid : DeliveryGrid
        The build's delivery hours.
    contracts : list of Contract
        Contracts delivering inside the grid's window.
    weights : {"hours", "days"}
        Hour-weighted (power) or day-weighted (gas) averages.
    """
    lo, hi = grid.day_spans([c.start for c in contracts], [c.end for c in contracts])
    # per profile: its hours' prices in a row, and where each day starts among them (a contract is a slice)
    profiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out = np.empty(len(contracts))
    for i, c in enumerate(contracts):
        key = c.profile.strip().lower()
        if key not in profiles:
            mask, before = grid.profile_hours(profile_atoms(grid.calendar, key))
            profiles[key] = (price[mask], before)
        values, before = profiles[key]
        if weights == "days":  # each day's mean, then the mean over the days that have profile hours
            edges = before[lo[i] : hi[i] + 1]
            hours = np.diff(edges)
            full = hours > 0
            span = values[edges[0] : edges[-1]]  # days without profile hours are left out
            sums = np.add.reduceat(span, edges[:-1][full] - edges[0]) if full.any() else np.zeros(0)
            out[i] = float(np.mean(sums / hours[full])) if len(sums) else np.nan
        else:
            out[i] = values[before[lo[i]] : before[hi[i]]].mean()
    return out


class HourlyCurve:
    """An hourly curve on a delivery grid: the prices as an array, the frame built on first access.

    Parameters
    ----------
    grid : DeliveryGrid
        The delivery hours the prices are on.
    price : np.ndarray
        One price per hour of the grid [price].
    """

    def __init__(self, grid: DeliveryGrid, price: np.ndarray) -> None:
        self.grid = grid
        self.price = price
        self._frame: pd.DataFrame | None = None
        self._lock = threading.Lock()

    def series(self) -> pd.Series:
        """Return the prices by UTC hour beginning (index ``datetime_utc``) [price]."""
        return pd.Series(self.price, index=self.grid.utc, name="price")

    def frame(self) -> pd.DataFrame:
        """Return ``datetime_utc, datetime_local, date, block, price``: built once, then the same frame."""
        with self._lock:
            if self._frame is None:
                frame = self.grid.hours[["datetime_utc", "datetime_local", "date", "block"]].copy()
                frame["price"] = self.price.copy()
                self._frame = frame
            return self._frame


def fits_frame(contracts: list[Contract], quotes: Quotes, fit: Fit, repriced: np.ndarray) -> pd.DataFrame:
    """Return one row per contract: its quotes, the target it was fitted to, what it reprices to, the error.

    Parameters
    ----------
    contracts : list of Contract
        The contracts of the build, in row order.
    quotes : Quotes
        Their price, bid and ask as quoted (NaN where absent) [price].
    fit : Fit
        The fit: each contract's target and the band its repriced average must fall in [price].
    repriced : np.ndarray
        Each contract's average under the built curve [price].

    Returns
    -------
    pd.DataFrame
        ``contract, profile, start, end, price, bid, ask, target, repriced, error, residual_vs_quote,
        status``: ``error`` is the distance from the band [price], ``residual_vs_quote`` from the quote
        (the mid for bid/ask) [price], ``status`` ``ok`` within :data:`EXACT`, else ``MISPRICED``.
    """
    price, bid, ask = quotes.price, quotes.bid, quotes.ask
    lower, upper = fit.lower, fit.upper
    error = np.where(repriced < lower, repriced - lower, np.where(repriced > upper, repriced - upper, 0.0))
    quoted_error = repriced - np.where(np.isnan(price), (bid + ask) / 2, price)
    fits = pd.DataFrame(
        {
            "contract": [c.name for c in contracts],
            "profile": [c.profile for c in contracts],
            "start": [c.start for c in contracts],
            "end": [c.end for c in contracts],
            "price": price,
            "bid": bid,
            "ask": ask,
            "target": fit.target,
            "repriced": repriced,
            "error": error,
            "residual_vs_quote": quoted_error,
        }
    )
    fits["status"] = np.where(np.abs(error) <= EXACT, "ok", "MISPRICED")
    return fits
