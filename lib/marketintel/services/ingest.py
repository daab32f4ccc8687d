"""Ingest a window of one dataset, or follow it at its cadence: one call, one :class:`RunReport`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from clickhouse_connect.driver.exceptions import DatabaseError

from marketintel.exceptions import MarketIntelError
from marketintel.ingest.runner import RunReport
from marketintel.timeutils import to_instant

logger = logging.getLogger(__name__)


def utc_instant(value: Any, what: str) -> pd.Timestamp:
    """Return ``value`` as a UTC instant; a time without a zone is read as UTC (as the CLI's --start)."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise MarketIntelError(
            f"{what} must be a UTC date or time such as 2025-03-31T13:35, got {value!r}"
        ) from exc
    return to_instant(stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp, what).tz_convert("UTC")


def _http(replay: Path | None) -> Any:
    from marketintel.ingest.http import HttpClient

    if replay is None:
        return HttpClient("live")
    if not (Path(replay) / "index.json").is_file():
        raise MarketIntelError(
            f"replay folder {replay} has no index.json (record one with HttpClient 'record')"
        )
    return HttpClient("replay", Path(replay))


def ingest_window(
    source: str,
    dataset: str,
    start: Any,
    end: Any,
    *,
    client: Any = None,
    replay: Path | None = None,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunReport:
    """Ingest ``[start, end)`` of one dataset into the store, resuming from the dataset's watermark.

    Parameters
    ----------
    source : str
        Installed connector, e.g. ``"spp"`` (``mi connectors list``).
    dataset : str
        One of the source's datasets.
    start, end : str or pd.Timestamp
        The window [UTC; a time without zone is read as UTC].
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store` (starts the local store if it is
        the default).
    replay : Path, optional
        A folder of recorded responses to serve instead of the network.
    run_id : str, optional
        Identifier written with the checkpoints (default: a new UUID).
    progress : callable, optional
        Receives one line per payload.

    Returns
    -------
    RunReport
        Payloads, rows, quarantined and partial payloads, new instruments, watermark.
    """
    from marketintel.ingest import registry
    from marketintel.ingest.runner import ingest
    from marketintel.ingest.sdk import PullRequest

    request = PullRequest(dataset, utc_instant(start, "start"), utc_instant(end, "end"))
    ingestor_class = registry.load(source)
    client = client if client is not None else _store()
    http = _http(replay)
    try:
        report = ingest(ingestor_class(http=http), request, client, run_id=run_id, progress=progress)
    finally:
        http.close()
    if report.rows:
        refresh_rollups_quietly(client)
    return report


def refresh_rollups_quietly(client: Any) -> None:
    """Refresh the rollups after an ingest; a failure is logged, never raised.

    The rows are stored either way and reads stay exact without the refresh (they read what is newer
    than the rollup's watermark from the facts), only slower until the next refresh succeeds.
    """
    from marketintel.store.maintenance import refresh_rollups

    try:
        for done in refresh_rollups(client):
            logger.info("%s", done.summary())
    except (MarketIntelError, DatabaseError) as exc:
        logger.warning("rollup refresh skipped after ingest: %s", exc)


def follow_dataset(
    source: str,
    dataset: str,
    start: Any,
    until: Any = None,
    *,
    client: Any = None,
    replay: Path | None = None,
    speed: float = 60.0,
    lag: pd.Timedelta | None = None,
    run_id: str = "",
    on_report: Callable[[RunReport], None] | None = None,
) -> RunReport:
    """Follow a dataset from ``start``: each interval is ingested as soon as it ends (plus ``lag``).

    With ``replay`` the clock is simulated from ``start`` at ``speed`` times real time, so a recorded
    sequence plays back as it was published; otherwise the wall clock runs and ``until`` may be None
    (follow until interrupted).

    Parameters
    ----------
    source, dataset : str
        The connector and its dataset; the dataset's cadence sets the step.
    start : str or pd.Timestamp
        Where to start if the dataset has no watermark yet [UTC].
    until : str or pd.Timestamp, optional
        Stop once the intervals ending by this instant are in [UTC].
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store`.
    replay : Path, optional
        Recorded responses to serve instead of the network (with the simulated clock).
    speed : float
        With ``replay``: simulated seconds per real second [-].
    lag : pd.Timedelta, optional
        Publication lag after each interval's end (default the dataset's ``lag``).
    run_id : str
        The caller's run id for the combined report.
    on_report : callable, optional
        Receives each window's report as soon as it is stored.

    Returns
    -------
    RunReport
        All windows combined (:meth:`RunReport.combine`): sums, the last watermark.
    """
    from marketintel.ingest import registry
    from marketintel.ingest.follow import Clock, ReplayClock, WallClock, follow

    if until is None and replay is not None:
        raise MarketIntelError("a replayed follow needs `until`: the recording ends somewhere")
    begin = utc_instant(start, "start")
    stop = None if until is None else utc_instant(until, "until")
    ingestor_class = registry.load(source)
    client = client if client is not None else _store()
    clock: Clock = ReplayClock(begin, speed) if replay is not None else WallClock()
    http = _http(replay)

    def stored(report: RunReport) -> None:
        if report.rows:
            refresh_rollups_quietly(client)
        if on_report is not None:
            on_report(report)

    try:
        reports = follow(
            ingestor_class(http=http), dataset, begin, client, clock=clock, until_utc=stop,
            lag=lag, on_report=stored,
        )  # fmt: skip
    finally:
        http.close()
    return RunReport.combine(reports, source=source, dataset=dataset, run_id=run_id)


def _store() -> Any:
    from marketintel.services.store import ensure_store

    return ensure_store().client
