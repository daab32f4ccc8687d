"""Run the data-quality checks of one stored series, store the results and raise alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

#: a window that ended longer ago than this is historical: checked as of when its last interval was due
HISTORICAL_AFTER = pd.Timedelta(days=1)


@dataclass(frozen=True)
class QualityOutcome:
    """What a data-quality run found and wrote.

    Attributes
    ----------
    results : pd.DataFrame
        One row per check in the ``data_quality`` layout (``check_name``, ``status``, ``observed``,
        ``threshold``, ``unit``, ``details``, ...).
    written : int
        Rows appended to ``data_quality``.
    alerts : int
        Alerts raised (one per check that did not pass).
    start_utc, end_utc : pd.Timestamp
        The window checked [UTC].
    checked_as_of_utc : pd.Timestamp or None
        The instant the checks were judged at when the window is historical (its end + publication lag +
        one cadence); None: now.
    """

    results: pd.DataFrame
    written: int
    alerts: int
    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    checked_as_of_utc: pd.Timestamp | None

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return bool((self.results["status"] == "fail").any())

    def counts(self) -> dict[str, int]:
        """Return how many checks passed, warned and failed."""
        counts = self.results["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in ("pass", "warn", "fail")}


def run_data_quality(
    *,
    table: str,
    market: str,
    location: str = "",
    variable: str = "",
    cadence: str,
    publication_lag: str = "0min",
    tz: str,
    start: Any,
    end: Any,
    run_id: str = "",
    client: Any = None,
    store: bool = True,
) -> QualityOutcome:
    """Check one stored series over ``[start, end)``: freshness, completeness, duplicates, anomalies.

    A window that ended more than a day ago (a replayed or historical one) is judged as of the moment its
    last interval was due (its end + the publication lag + one cadence), not now: at the real clock its
    freshness would always fail.

    Parameters
    ----------
    table : {"prices", "fundamentals"}
        The table holding the series.
    market, location, variable : str
        The series (``location`` is the area of fundamentals; ``variable`` only for fundamentals).
    cadence : str
        Interval length (pandas offset, e.g. ``"5min"``).
    publication_lag : str
        How long after an interval ends it is published (e.g. ``"15min"``).
    tz : str
        Market time zone (local days for completeness).
    start, end : str or pd.Timestamp
        The window [UTC; a time without a zone is read as UTC].
    run_id : str
        Run id written with the results.
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store`.
    store : bool
        Append the results to ``data_quality`` and raise alerts.
    """
    from marketintel.quality import parse_cadence, run_checks, write_results
    from marketintel.quality.checks import parse_lag
    from marketintel.services.ingest import utc_instant

    if client is None:
        from marketintel.services.store import ensure_store

        client = ensure_store().client
    start_utc, end_utc = utc_instant(start, "start"), utc_instant(end, "end")
    historical = end_utc < pd.Timestamp.now(tz="UTC") - HISTORICAL_AFTER
    as_of = end_utc + parse_lag(publication_lag) + parse_cadence(cadence) if historical else None
    results = run_checks(
        client, table=table, market=market, location=location, variable=variable, cadence=cadence,
        publication_lag=publication_lag, tz=tz, start_utc=start_utc, end_utc=end_utc, now_utc=as_of,
        run_id=run_id,
    )  # fmt: skip
    written, alerts = write_results(client, results, run_id=run_id) if store else (0, 0)
    return QualityOutcome(results, written, alerts, start_utc, end_utc, as_of)
