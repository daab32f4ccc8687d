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


def follow(
    ingestor: Ingestor,
    dataset: str,
    start_utc: pd.Timestamp,
    store: Any,
    *,
    clock: Clock | None = None,
    until_utc: pd.Timestamp | None = None,
    lag: pd.Timedelta = NO_LAG,
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
    lag : pd.Timedelta
        Publication lag: an interval ending at ``t`` is asked for at ``t + lag``.
    on_report : callable, optional
        Receives each :class:`RunReport` as soon as its window is stored.
    """
    clock = clock or WallClock()
    cadence = pd.Timedelta(ingestor.discover().dataset(dataset).cadence)
    start = pd.Timestamp(start_utc).tz_convert("UTC")
    reports: list[RunReport] = []
    last = None if until_utc is None else pd.Timestamp(until_utc).tz_convert("UTC").floor(cadence)
    while True:
        available = (clock.now() - lag).floor(cadence)
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
        due = available + cadence + lag
        clock.sleep(max(0.0, (due - clock.now()).total_seconds()))
