"""Reads of logical series through the router, its state for the ``quality`` page, and refreshes.

- :func:`read_series`: the served rows of a logical series (every read of a logical series goes through
  the router: priority, failover, blending, synthetic fill, each decision stored and audited).
- :func:`routing_state`: per series and source, the priority, the latest trust score and its components,
  the breaker state, whether it is served now, and the last decision's reason and time.
- :func:`series_names`: the declared logical series.
- :func:`refresh_series`: fetch a window of every candidate through its circuit breaker (the connectors'
  ingest path with the HTTP client given), so the router's breakers see the sources' failures.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pandas as pd

from marketintel.routing.router import SERVED_COLUMNS, FetchFailed, Router
from marketintel.routing.series import SERIES, Candidate, get_series

_ROUTER: Router | None = None
_LOCK = threading.Lock()


def default_router() -> Router:
    """Return the process's router (its breakers live as long as the process), made on first use."""
    global _ROUTER  # noqa: PLW0603  (one set of breakers per process)
    with _LOCK:
        if _ROUTER is None:
            _ROUTER = Router()
        return _ROUTER


def series_names() -> list[str]:
    """Return the names of the declared logical series, sorted."""
    return sorted(SERIES)


def read_series(
    client: Any, series: str, start: Any, end: Any, *, router: Router | None = None
) -> pd.DataFrame:
    """Return the served rows of ``series`` over ``[start, end)`` [UTC], decided by the router.

    Parameters
    ----------
    client : clickhouse_connect.driver.Client
        The store.
    series : str
        A declared logical series (:func:`series_names`).
    start, end : str or pd.Timestamp
        The window [UTC; a time without zone is read as UTC].
    router : Router, optional
        Default: the process's router (:func:`default_router`).

    Returns
    -------
    pd.DataFrame
        ``interval_start_utc, interval_end_utc, value, unit, source, fidelity``: ``source`` is the candidate
        (``source/dataset``), ``blend`` (``fidelity = 'derived'``) or ``synthetic`` (``fidelity =
        'synthetic'``); intervals nothing could serve have no row.
    """
    r = router if router is not None else default_router()
    frame = r.route(client, series, start, end).frame
    return frame[SERVED_COLUMNS]


def routing_state(client: Any, *, router: Router | None = None) -> pd.DataFrame:
    """Return the routing state per series and source.

    Columns: ``series, source, priority, score, freshness, completeness, agreement, reliability,
    evaluated_at_utc, breaker, chosen, last_reason, last_decided_at_utc``. The breaker state is the
    router's own (default: the process's); a source the router has not met yet shows its last stored
    state. ``chosen`` is whether the source served (alone or in a blend) the latest interval of the last
    decision.
    """
    r = router if router is not None else default_router()
    trust = client.query(
        "SELECT series, source, argMax(score, evaluated_at_utc), argMax(freshness, evaluated_at_utc), "
        "argMax(completeness, evaluated_at_utc), argMax(agreement, evaluated_at_utc), "
        "argMax(reliability, evaluated_at_utc), max(evaluated_at_utc), argMax(breaker, evaluated_at_utc) "
        "FROM routing_trust FINAL GROUP BY series, source"
    ).result_rows
    scores = {(row[0], row[1]): row[2:] for row in trust}
    last = client.query(
        "SELECT series, argMax(tuple(chosen, weights, reason), tuple(decided_at_utc, interval_start_utc)), "
        "max(decided_at_utc) FROM routing_decisions FINAL GROUP BY series"
    ).result_rows
    decisions = {row[0]: (row[1], row[2]) for row in last}
    rows = []
    for name in series_names():
        s = SERIES[name]
        (chosen, weights, reason), decided = decisions.get(name, (("", "{}", ""), None))
        blend = json.loads(weights or "{}")
        for c in s.ranked():
            sc = scores.get((name, c.key))
            breaker = r.breakers[c.key].state if c.key in r.breakers else (sc[6] if sc else "closed")
            rows.append({
                "series": name, "source": c.key, "priority": c.priority,
                "score": sc[0] if sc else None, "freshness": sc[1] if sc else None,
                "completeness": sc[2] if sc else None, "agreement": sc[3] if sc else None,
                "reliability": sc[4] if sc else None, "evaluated_at_utc": sc[5] if sc else None,
                "breaker": breaker, "chosen": chosen == c.key or c.key in blend,
                "last_reason": reason, "last_decided_at_utc": decided,
            })  # fmt: skip
    return pd.DataFrame(rows)


def fetch_window(client: Any, candidate: Candidate, start: pd.Timestamp, end: pd.Timestamp, http: Any) -> int:
    """Fetch ``[start, end)`` of one candidate's dataset with ``http`` and store it; return the rows stored.

    The connectors' ingest path (payloads archived, rows validated and inserted, checkpoints written) but
    asking the whole window again rather than resuming after the watermark: the router re-reads a window
    to see revisions and recoveries.

    Raises
    ------
    FetchFailed
        When a payload holds no rows or cannot be read (it is archived as ``no_data`` / ``quarantined``).
    Exception
        What the HTTP client raised (timeouts, 5xx after the retries, refusals).
    """
    from marketintel.exceptions import SchemaError
    from marketintel.ingest import registry
    from marketintel.ingest.runner import archive, write_checkpoint
    from marketintel.ingest.sdk import ParseError, PullRequest
    from marketintel.store import get_table, insert_df, validate_frame

    ingestor = registry.load(candidate.source)(http=http)
    dataset = ingestor.discover().dataset(candidate.dataset)
    spec = get_table(dataset.table)
    rows = 0
    for raw in ingestor.pull_or_subscribe(PullRequest(candidate.dataset, start, end)):
        archive(client, raw, "pending")
        try:
            frame = ingestor.map_to_schema(raw)
            if frame.empty:
                archive(client, raw, "no_data", "the publisher's answer holds no rows")
                raise FetchFailed(f"{candidate.key}: empty payload from {raw.url}")
            validate_frame(spec, frame)
        except (ParseError, SchemaError, ValueError, KeyError) as exc:
            archive(client, raw, "quarantined", f"{type(exc).__name__}: {exc}")
            raise FetchFailed(f"{candidate.key}: unreadable payload from {raw.url}: {exc}") from exc
        rows += insert_df(client, dataset.table, frame)
        archive(client, raw, "ok")
        if raw.window_end_utc is not None:
            state = {"dataset": candidate.dataset, "watermark_utc": raw.window_end_utc, "run_id": "routing"}
            write_checkpoint(client, candidate.source, state)
    return rows


def refresh_series(client: Any, series: str, start: Any, end: Any, *, http: Any,
                   router: Router | None = None) -> dict[str, str]:  # fmt: skip
    """Fetch ``[start, end)`` of every candidate of ``series`` through its breaker; return the outcomes.

    Parameters
    ----------
    client : clickhouse_connect.driver.Client
        The store.
    series : str
        A declared logical series of the router.
    start, end : str or pd.Timestamp
        The window [UTC].
    http : HttpClient
        The connectors' HTTP client (live, record or replay).
    router : Router, optional
        Default: the process's router.

    Returns
    -------
    dict of str to str
        Per candidate: ``ok``, ``open`` (refused by its breaker) or ``failed: ...``.
    """
    r = router if router is not None else default_router()
    get_series(series, r.series)
    return r.fetch(series, start, end, lambda c, lo, hi: fetch_window(client, c, lo, hi, http))
