"""The delivery grid of a build: the market's real hours over the curve's window, and the block-day cells.

Expanding a calendar into hours (DST-true: 23 and 25 hours on the change days, holidays, peak windows) is
the most expensive part of setting up a build that is not the solve itself, and it depends only on the
calendar and the window. :func:`delivery_grid` therefore keeps the last few grids (arrays marked read-only,
and the calendar's hourly frame, which builds only read), so that rebuilding a curve over the same window,
with new quotes or another shape, starts from the finished grid.

The unknowns of a build are *block-days*: one price per solved block (:mod:`.blocks`) and local delivery
day, stacked block after block (``cell = block * n_days + day``). :func:`block_days` counts the hours of
each cell and says which cell each hour belongs to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

from marketintel.calendars import Contract, MarketCalendar
from marketintel.calendars.calendar import as_date
from marketintel.curves.blocks import Blocks
from marketintel.curves.solve import CurveSolveError

#: grids kept for rebuilds over the same window (a 5-year grid holds about 4 MB)
GRID_CACHE_SIZE = 8


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class DeliveryGrid:
    """The real delivery hours of a calendar over local dates ``first`` .. ``last``, as arrays.

    Shared between builds over the same window (:func:`delivery_grid`): the arrays are read-only, and
    :attr:`hours` must only be read.

    Attributes
    ----------
    calendar : MarketCalendar
        The market calendar the hours come from.
    first, last : datetime.date
        First and last local delivery date (inclusive).
    dates : pd.DatetimeIndex
        Local delivery dates (naive midnights, ``datetime64[s]``), one per day.
    day_of_hour : np.ndarray
        int64, per hour: the day it delivers on (index into :attr:`dates`).
    label_of_hour : np.ndarray
        int64, per hour: its block label (index into ``calendar.block_labels``).
    utc : pd.DatetimeIndex
        Hour-beginning instants (``datetime64[ms, UTC]``, named ``datetime_utc``).
    hours : pd.DataFrame
        The calendar's hourly frame (:meth:`MarketCalendar.hourly`), read-only by convention.
    """

    calendar: MarketCalendar
    first: dt.date
    last: dt.date
    dates: pd.DatetimeIndex
    day_of_hour: np.ndarray
    label_of_hour: np.ndarray
    utc: pd.DatetimeIndex
    hours: pd.DataFrame
    _profiles: dict[frozenset[str], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def n_days(self) -> int:
        """Local delivery days in the window [d]."""
        return len(self.dates)

    @property
    def n_hours(self) -> int:
        """Real delivery hours in the window [h]."""
        return len(self.day_of_hour)

    def day_spans(self, starts: Sequence[dt.date], ends: Sequence[dt.date]) -> tuple[np.ndarray, np.ndarray]:
        """Return the day indices ``lo`` (first) and ``hi`` (one past the last) of delivery periods.

        Parameters
        ----------
        starts, ends : sequence of datetime.date
            First and last local delivery date of each period (inclusive).

        Returns
        -------
        tuple of np.ndarray
            int64 ``lo`` and ``hi``: the period covers ``dates[lo:hi]``.
        """
        days = self.dates.values.astype("datetime64[D]")
        lo = np.searchsorted(days, np.array(starts, dtype="datetime64[D]"), side="left")
        hi = np.searchsorted(days, np.array(ends, dtype="datetime64[D]"), side="right")
        return lo.astype(np.int64), hi.astype(np.int64)

    def labels_mask(self, labels: frozenset[str]) -> np.ndarray:
        """Return which hours carry one of the calendar's block ``labels`` (bool, per hour)."""
        return self.profile_hours(labels)[0]

    def profile_hours(self, labels: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return which hours carry one of the block ``labels``, and how many of them precede each day.

        Returns
        -------
        tuple of np.ndarray
            ``mask`` (bool, per hour) and ``before`` (int64, per day and one past the last: the number of
            masked hours before the day starts), so the masked hours of days ``lo .. hi-1`` are
            ``hours[mask][before[lo]:before[hi]]``. Kept with the grid (read-only).
        """
        if labels not in self._profiles:
            codes = [i for i, label in enumerate(self.calendar.block_labels) if label in labels]
            if len(codes) == len(self.calendar.block_labels):
                mask = np.ones(self.n_hours, dtype=bool)
            else:
                mask = np.isin(self.label_of_hour, codes)
            first_hour = np.searchsorted(self.day_of_hour, np.arange(self.n_days + 1))  # and the end
            before = np.concatenate([[0], np.cumsum(mask)])[first_hour]
            self._profiles[labels] = (_frozen(mask), _frozen(before))
        return self._profiles[labels]

    def on_hours(self, series: pd.Series) -> np.ndarray:
        """Return an hourly series' values on the grid's hours, NaN where it has none (float64).

        Parameters
        ----------
        series : pd.Series
            Values by tz-aware hour-beginning instant (any zone, any scale).
        """
        index = series.index
        if isinstance(index, pd.DatetimeIndex) and index.tz is not None and index.equals(self.utc):
            return np.asarray(series.to_numpy(dtype=float))  # already on the grid: no reindexing
        return np.asarray(series.reindex(self.utc).to_numpy(dtype=float))


def delivery_grid(calendar: MarketCalendar, start: Any, end: Any) -> DeliveryGrid:
    """Return the delivery grid of ``calendar`` over local dates ``start`` .. ``end`` (inclusive).

    The last :data:`GRID_CACHE_SIZE` grids are kept: the same calendar and window give the same object.

    Parameters
    ----------
    calendar : MarketCalendar
        The market calendar.
    start, end : datetime.date or str
        First and last local delivery date (``"2026-01-01"``), both inclusive.

    Raises
    ------
    ValueError
        On dates that are not local calendar dates, or ``end`` before ``start``.
    """
    return _grid(calendar, as_date(start, "start"), as_date(end, "end"))


@lru_cache(maxsize=GRID_CACHE_SIZE)
def _grid(calendar: MarketCalendar, first: dt.date, last: dt.date) -> DeliveryGrid:
    hours = calendar.hourly(first, last)
    date = hours["date"].to_numpy()  # ascending: a new day starts where the date changes
    new_day = np.concatenate([[True], date[1:] != date[:-1]])
    day_of_hour = np.cumsum(new_day, dtype=np.int64) - 1
    dates = pd.DatetimeIndex(date[new_day])
    labels = pd.Categorical(hours["block"], categories=list(calendar.block_labels)).codes
    utc = pd.DatetimeIndex(hours["datetime_utc"])
    return DeliveryGrid(
        calendar=calendar,
        first=dates[0].date(),
        last=dates[-1].date(),
        dates=dates,
        day_of_hour=_frozen(day_of_hour),
        label_of_hour=_frozen(np.asarray(labels, dtype=np.int64)),
        utc=utc,
        hours=hours,
    )


def clear_grid_cache() -> None:
    """Forget the kept grids (the next build of every window expands its calendar again)."""
    _grid.cache_clear()


@dataclass(frozen=True)
class Window:
    """The contracts a build uses: those delivering inside its window, and those left out.

    Attributes
    ----------
    contracts : list of Contract
        Contracts delivering entirely inside the window, in the order given.
    ignored : list of str
        ``"<name> <profile>"`` of each contract delivering entirely outside the window.
    """

    contracts: list[Contract]
    ignored: list[str]


def contracts_in_window(contracts: list[Contract], grid: DeliveryGrid) -> Window:
    """Keep the contracts delivering inside the grid's window; record those entirely outside it.

    Raises
    ------
    CurveSolveError
        When a contract delivers partly outside the window, or none delivers inside it.
    """
    first, last = grid.first, grid.last
    ignored = [f"{c.name} {c.profile}" for c in contracts if c.end < first or c.start > last]
    kept = [c for c in contracts if not (c.end < first or c.start > last)]
    straddling = [c.name for c in kept if c.start < first or c.end > last]
    if straddling:
        raise CurveSolveError(
            f"contract(s) {straddling} deliver partly outside the curve's window {first} .. {last}; "
            "widen --start/--end to cover them or leave them out"
        )
    if not kept:
        raise CurveSolveError(f"no contract delivers inside the curve's window {first} .. {last}")
    return Window(kept, ignored)


@dataclass(frozen=True)
class BlockDays:
    """The block-day cells of a build: which cell each hour belongs to, and the hours of each cell.

    Attributes
    ----------
    cell_of_hour : np.ndarray
        int64, per hour: ``block * n_days + day``, the stacked unknown it belongs to.
    hours : np.ndarray
        ``(blocks, days)``: real hours of each block on each day [h] (0 for peak on a Sunday).
    weights : np.ndarray
        ``(blocks, days)``: what contracts average with, ``hours`` (power) or 1 per day (gas) [h] or [d].
    """

    cell_of_hour: np.ndarray
    hours: np.ndarray
    weights: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(blocks, days)``."""
        nb, n = self.hours.shape
        return int(nb), int(n)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Return the sums of hourly ``values`` over each block-day cell, ``(blocks, days)`` [their unit]."""
        return np.bincount(self.cell_of_hour, weights=values, minlength=self.hours.size).reshape(self.shape)


def block_days(grid: DeliveryGrid, blocks: Blocks, weights: Literal["hours", "days"]) -> BlockDays:
    """Return the block-day cells of ``blocks`` on ``grid``, with their hours and averaging weights.

    Parameters
    ----------
    grid : DeliveryGrid
        The build's delivery hours.
    blocks : Blocks
        The solved blocks (:func:`~marketintel.curves.blocks.choose_blocks`).
    weights : {"hours", "days"}
        Power averages weight each day by its hours in the profile; gas weights each day by 1.
    """
    nb, n = len(blocks.names), grid.n_days
    cell = blocks.of_label(grid.calendar)[grid.label_of_hour] * n + grid.day_of_hour
    hours = np.bincount(cell, minlength=nb * n).astype(float).reshape(nb, n)
    w = np.ones((nb, n)) if weights == "days" else hours
    return BlockDays(_frozen(cell), _frozen(hours), w if w is hours else _frozen(w))
