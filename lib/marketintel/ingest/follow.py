"""Following a dataset in real time: ingest each new window as soon as the publisher has it.

``follow`` wakes at the dataset's cadence (plus its publication lag), ingests everything from the
watermark up to the last complete interval, and sleeps until the next one is due. The clock is injected:
:class:`WallClock` in production, :class:`ReplayClock` to play a recorded sequence back at any speed (with
``HttpClient("replay", ...)``), which is how following is tested and benchmarked offline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import pandas as pd

from marketintel.ingest.runner import RunReport, ingest, read_watermark
from marketintel.ingest.sdk import Ingestor, PullRequest

NO_LAG = pd.Timedelta(0)


class Clock(Protocol):
    """What ``follow`` needs of time."""

    def now(self) -> pd.Timestamp:
        """Return the current instant (UTC)."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


class WallClock:
    """The real clock."""

    def now(self) -> pd.Timestamp:
        """Return the current instant (UTC)."""
        return pd.Timestamp.now(tz="UTC")

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` [s]."""
        time.sleep(max(0.0, seconds))


class ReplayClock:
    """A clock that starts at ``start_utc`` and runs ``speed`` times faster than real time.

    Parameters
    ----------
    start_utc : pd.Timestamp
        The instant the replay starts at.
    speed : float
        Simulated seconds per real second (60: a 5-minute cadence every 5 real seconds).
    """

    def __init__(self, start_utc: pd.Timestamp, speed: float = 60.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.start = pd.Timestamp(start_utc).tz_convert("UTC")
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> pd.Timestamp:
        """Return the simulated instant."""
        return self.start + pd.Timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        time.sleep(max(0.0, seconds) / self.speed)

    def real_seconds_until(self, instant: pd.Timestamp) -> float:
        """Return how many real seconds remain until the clock shows ``instant``."""
        return (instant - self.now()).total_seconds() / self.speed


def floor_interval(instant: pd.Timestamp, cadence: pd.Timedelta, tz: str) -> pd.Timestamp:
    """Return the last interval boundary at or before ``instant`` (UTC).

    Intervals shorter than a day are aligned on UTC (every zone's offset is a whole number of quarter
    hours, so 5-, 15- and 30-minute grids agree); daily ones on the publisher's local midnight in ``tz``
    (a CET delivery day starts at 23:00 or 22:00 UTC, an AEST one at 14:00 UTC).
    """
    instant = pd.Timestamp(instant).tz_convert("UTC")
    if cadence < pd.Timedelta(days=1):
        return instant.floor(cadence)
    local = instant.tz_convert(tz)
    days = int(cadence / pd.Timedelta(days=1))
    midnight = local.normalize()
    if days > 1:
        midnight -= pd.DateOffset(days=(midnight.toordinal() % days))
    return pd.Timestamp(midnight.tz_convert("UTC"))


def next_interval(boundary: pd.Timestamp, cadence: pd.Timedelta, tz: str) -> pd.Timestamp:
    """Return the boundary after ``boundary`` (``floor_interval``'s grid; local days keep 23 or 25 hours)."""
    if cadence < pd.Timedelta(days=1):
        return boundary + cadence
    local = boundary.tz_convert(tz) + pd.DateOffset(days=int(cadence / pd.Timedelta(days=1)))
    return pd.Timestamp(local.tz_convert("UTC"))


def follow(
    ingestor: Ingestor,
    dataset: str,
    start_utc: pd.Timestamp,
    store: Any,
    *,
    clock: Clock | None = None,
    until_utc: pd.Timestamp | None = None,
    lag: pd.Timedelta | None = None,
    on_report: Callable[[RunReport], None] | None = None,
) -> list[RunReport]:
    """Ingest ``dataset`` from ``start_utc`` on, window by window as the clock passes each interval's end.

    Parameters
    ----------
    ingestor : Ingestor
        The connector (with its HTTP client).
    dataset : str
        The dataset to follow; its ``cadence`` sets the step.
    start_utc : pd.Timestamp
        Where to start if the dataset has no watermark yet.
    store : clickhouse_connect.driver.Client
        The store the runner writes to.
    clock : Clock, optional
        Default :class:`WallClock`.
    until_utc : pd.Timestamp, optional
        Stop once the intervals ending by this instant are in (default: follow forever).
    lag : pd.Timedelta, optional
        Publication lag: an interval ending at ``t`` is asked for at ``t + lag`` (default the dataset's
        :attr:`~marketintel.ingest.sdk.Dataset.lag`; negative for day-ahead data published before delivery).
    on_report : callable, optional
        Receives each :class:`RunReport` as soon as its window is stored.
    """
    clock = clock or WallClock()
    spec = ingestor.discover().dataset(dataset)
    cadence = pd.Timedelta(spec.cadence)
    lag = pd.Timedelta(spec.lag) if lag is None else lag
    start = pd.Timestamp(start_utc).tz_convert("UTC")
    reports: list[RunReport] = []
    last = None if until_utc is None else floor_interval(pd.Timestamp(until_utc), cadence, spec.timezone)
    while True:
        available = floor_interval(clock.now() - lag, cadence, spec.timezone)
        if last is not None:
            available = min(available, last)
        watermark = read_watermark(store, ingestor.source, dataset) or start
        if available > watermark:
            report = ingest(ingestor, PullRequest(dataset, max(watermark, start), available), store)
            reports.append(report)
            if on_report is not None:
                on_report(report)
        if last is not None and available >= last:
            return reports  # the interval ending at until_utc is in: done
        due = next_interval(available, cadence, spec.timezone) + lag
        clock.sleep(max(0.0, (due - clock.now()).total_seconds()))
