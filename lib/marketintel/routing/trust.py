r"""The trust score of a source of a logical series, over a window: the formula and its components.

For candidate ``c`` of series ``s`` over the window ``[start, end)`` evaluated at ``now``:

- **freshness** ``F``: ``lag = min(end, now) - newest interval end of c (at or before end)``;
  ``F = 1`` if ``lag <= S`` (``S`` = the series' ``max_staleness``), else ``F = exp(-(lag - S) / S)``;
  ``F = 0`` when the source has no row at all.
- **completeness** ``C``: intervals of the series' grid in ``[start, min(end, now))`` the source has a
  value for, divided by the grid's intervals (1 for an empty grid).
- **agreement** ``A``: over the intervals where c and at least one other candidate have values, the share
  where ``|x_c - m| <= tol * |m|``, ``m`` the median of the other candidates' values of the interval and
  ``tol`` the series' ``tolerance``; 1 where there is no overlap (nothing contradicts it).
- **reliability** ``R``: ``1 - failures / calls`` over the breaker's last :data:`RELIABILITY_WINDOW`
  fetches (1 before the first fetch).

.. math::

    \mathrm{score} = w_F F + w_C C + w_A A + w_R R,\quad
    (w_F, w_C, w_A, w_R) = (0.25, 0.25, 0.30, 0.20)

A source is *trusted* (may be blended) when ``score >= TRUSTED`` (0.6). Blend weights are the trusted
sources' scores normalised to sum 1. Every evaluation is stored in ``routing_trust`` (history kept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: weights of freshness, completeness, agreement and reliability in the score (sum 1)
WEIGHTS = {"freshness": 0.25, "completeness": 0.25, "agreement": 0.30, "reliability": 0.20}
#: a source scoring at least this may be blended with the others
TRUSTED = 0.6
#: fetches the reliability component looks back over
RELIABILITY_WINDOW = 10


@dataclass(frozen=True)
class Trust:
    """A trust evaluation: the four components in [0, 1] and the score."""

    freshness: float
    completeness: float
    agreement: float
    reliability: float
    lag_s: float | None = None  # [s]; None without rows
    overlap: int = 0  # intervals compared with the other sources

    @property
    def score(self) -> float:
        """The weighted sum of the components (module docstring)."""
        return (
            WEIGHTS["freshness"] * self.freshness
            + WEIGHTS["completeness"] * self.completeness
            + WEIGHTS["agreement"] * self.agreement
            + WEIGHTS["reliability"] * self.reliability
        )

    @property
    def trusted(self) -> bool:
        """Whether the score reaches :data:`TRUSTED`."""
        return self.score >= TRUSTED


def freshness(newest_end: pd.Timestamp | None, start: pd.Timestamp, end: pd.Timestamp,
              now: pd.Timestamp, max_staleness: pd.Timedelta) -> tuple[float, float | None]:  # fmt: skip
    """Return (F, lag [s]) of a source whose newest interval ends at ``newest_end`` (None: no rows)."""
    if newest_end is None:
        return 0.0, None
    lag = max(min(end, now) - newest_end, pd.Timedelta(0))
    if lag <= max_staleness:
        return 1.0, lag.total_seconds()
    return math.exp(-(lag - max_staleness) / max_staleness), lag.total_seconds()


def completeness(values: pd.Series, grid: pd.DatetimeIndex) -> float:
    """Return the share of ``grid`` (interval starts) at which ``values`` (indexed by start) has a value."""
    if len(grid) == 0:
        return 1.0
    return float(values.reindex(grid).notna().sum()) / len(grid)


def agreement(own: pd.Series, others: list[pd.Series], tolerance: float) -> tuple[float, int]:
    """Return (A, intervals compared): the share of overlapping intervals within ``tolerance`` of the others.

    The reference of an interval is the median of the other sources' values there.
    """
    if not others:
        return 1.0, 0
    ref = pd.concat(others, axis=1).median(axis=1, skipna=True)
    both = pd.concat([own.rename("own"), ref.rename("ref")], axis=1, sort=True).dropna()
    if both.empty:
        return 1.0, 0
    ok = np.abs(both["own"] - both["ref"]) <= tolerance * np.abs(both["ref"])
    return float(ok.mean()), len(both)


def reliability(failures: int, calls: int) -> float:
    """Return ``1 - failures / calls`` (1 without calls)."""
    return 1.0 if calls == 0 else 1.0 - failures / calls


def blend_weights(scores: dict[str, float]) -> dict[str, float]:
    """Return the blend weights: the scores normalised to sum 1."""
    total = sum(scores.values())
    return {k: v / total for k, v in scores.items()}
