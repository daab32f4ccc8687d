"""Raise alerts: one row in ``alerts`` per problem, idempotent by its id."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd

#: severities an alert may have (``alerts.severity``)
SEVERITIES = ("info", "warning", "critical")


def raise_alert(
    *,
    key: str,
    category: str,
    severity: str,
    title: str,
    message: str,
    market: str = "",
    location: str = "",
    table_name: str = "",
    run_id: str = "",
    client: Any = None,
) -> str:
    """Store an open alert and return its id (raising the same ``key`` again replaces it, adds none).

    Parameters
    ----------
    key : str
        What the alert is about, e.g. ``"flow/ingest/<run id>"``; its id is a UUID derived from it.
    category : str
        ``flow``, ``data_quality``, ``accuracy``, ...
    severity : {"info", "warning", "critical"}
        How bad it is.
    title, message : str
        One line, and the details (cut at 2,000 characters).
    market, location, table_name, run_id : str
        What it concerns and the run that raised it.
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store`.

    Raises
    ------
    MarketIntelError
        On an unknown severity.
    """
    from marketintel.exceptions import MarketIntelError
    from marketintel.store import insert_df

    if severity not in SEVERITIES:
        raise MarketIntelError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    if client is None:
        from marketintel.services.store import ensure_store

        client = ensure_store(migrate=False).client
    alert_id = str(uuid.uuid5(uuid.NAMESPACE_URL, key))
    now = pd.Timestamp.now(tz="UTC")
    frame = pd.DataFrame(
        {
            "alert_id": [alert_id], "category": [category], "severity": [severity], "raised_at_utc": [now],
            "table_name": [table_name], "market": [market], "location": [location], "title": [title],
            "message": [message[:2000]], "status": ["open"], "run_id": [run_id], "updated_at_utc": [now],
        }
    )  # fmt: skip
    insert_df(client, "alerts", frame)
    return alert_id
