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


# --------------------------------------------------------------------------------------------------------
# Acknowledgements: who acknowledged an alert, when (table ``alert_acks``, append-only)
# --------------------------------------------------------------------------------------------------------
#: environment variable with the store URL acknowledgements are written with (a store user that may insert
#: into ``alert_acks`` only); unset: the caller's own client
ACK_URL_ENV = "MI_ALERT_ACK_URL"
#: longest note stored with an acknowledgement [characters]
MAX_NOTE = 500

_ACK_COLUMNS: dict[str, str] = {
    "alert_id": "object", "acknowledged_by": "object", "acknowledged_at_utc": "datetime64[ms, UTC]",
    "alert_updated_at_utc": "datetime64[ms, UTC]", "note": "object",
}  # fmt: skip


def ack_client(env: Any = None) -> Any:
    """Return the client acknowledgements are written with, or None to use the caller's own.

    A dashboards service reads with a read-only store user; it writes acknowledgements with the user in
    ``MI_ALERT_ACK_URL`` (``http://user:password@host:port``), which may insert into ``alert_acks`` only.

    Parameters
    ----------
    env : mapping, optional
        The environment; default ``os.environ``.
    """
    import os
    from urllib.parse import unquote, urlsplit

    from marketintel.config import ClickHouseURL
    from marketintel.exceptions import ConfigError
    from marketintel.store.client import connect

    raw = (os.environ if env is None else env).get(ACK_URL_ENV, "")
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{ACK_URL_ENV} must look like http://user:password@host:8123/database")
    url = ClickHouseURL(
        scheme=parts.scheme, host=parts.hostname, port=parts.port or 8123,
        username=unquote(parts.username or "default"), password=unquote(parts.password or ""),
        database=parts.path.strip("/") or "default",
    )  # fmt: skip
    return connect(url, autogenerate_session_id=False)


def acknowledge(
    client: Any,
    alert_id: str,
    *,
    by: str,
    note: str = "",
    at: Any = None,
    database: str | None = None,
) -> dict[str, Any]:
    """Store that user ``by`` acknowledged alert ``alert_id`` (its current version) and return the record.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store, as a user that may insert into ``alert_acks``.
    alert_id : str
        ``alerts.alert_id`` of a stored alert.
    by : str
        Who acknowledges it (the logged-in hub user).
    note : str
        What they say about it; cut at :data:`MAX_NOTE` characters.
    at : str or pd.Timestamp, optional
        When [UTC]; default now.
    database : str, optional
        Database of the tables; default the client's.

    Returns
    -------
    dict
        The stored row: ``alert_id``, ``acknowledged_by``, ``acknowledged_at_utc``,
        ``alert_updated_at_utc``, ``note``.

    Raises
    ------
    MarketIntelError
        If ``by`` is empty or no alert has this id.
    """
    from clickhouse_connect.driver.exceptions import DatabaseError

    from marketintel.exceptions import MarketIntelError, StoreError
    from marketintel.services.queries import alerts
    from marketintel.store import insert_df

    who = str(by or "").strip()
    if not who:
        raise MarketIntelError("an acknowledgement needs the user who makes it; log in through the hub")
    current = alerts(client, database=database, limit=10_000)
    match = current[current["alert_id"] == alert_id]
    if match.empty:
        raise MarketIntelError(f"no alert with id {alert_id!r}; pick one of the listed alerts")
    when = pd.Timestamp.now(tz="UTC") if at is None else pd.Timestamp(at)
    when = (when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")).floor("ms")
    row = {
        "alert_id": alert_id,
        "acknowledged_by": who,
        "acknowledged_at_utc": when,
        "alert_updated_at_utc": pd.Timestamp(match["updated_at_utc"].iloc[0]).tz_convert("UTC"),
        "note": str(note or "")[:MAX_NOTE],
    }
    frame = pd.DataFrame({k: [v] for k, v in row.items()})
    try:
        insert_df(ack_client_or(client), "alert_acks", frame, database=database)
    except DatabaseError as exc:
        raise StoreError(
            f"the store refused the acknowledgement ({str(exc).strip().splitlines()[0][:300]}); the writer "
            f"needs a store user allowed to insert into alert_acks (for the dashboards: {ACK_URL_ENV})"
        ) from exc
    return row


def ack_client_or(client: Any) -> Any:
    """Return :func:`ack_client` if ``MI_ALERT_ACK_URL`` is set, else ``client``."""
    other = ack_client()
    return client if other is None else other


def alert_acks(
    client: Any, *, alert_ids: Any = None, database: str | None = None, limit: int = 10_000
) -> pd.DataFrame:
    """Return the latest acknowledgement of each acknowledged alert, newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    alert_ids : str or sequence of str, optional
        Only these alerts. Default: all.
    database : str, optional
        Database of the tables; default the client's.
    limit : int
        Most rows [rows].

    Returns
    -------
    pd.DataFrame
        ``alert_id``, ``acknowledged_by``, ``acknowledged_at_utc``, ``alert_updated_at_utc``
        (datetime64[ms, UTC]) and ``note``.
    """
    from clickhouse_connect.driver.exceptions import DatabaseError

    from marketintel.exceptions import StoreError
    from marketintel.store.schema import qualified_name, quote_identifier

    table = qualified_name(database, "alert_acks") if database else quote_identifier("alert_acks")
    ids = [alert_ids] if isinstance(alert_ids, str) else (None if alert_ids is None else list(alert_ids))
    where = "WHERE alert_id IN {ids:Array(String)}" if ids is not None else ""
    params: dict[str, Any] = {"limit": int(limit)}
    if ids is not None:
        params["ids"] = [str(i) for i in ids]
    try:
        frame: pd.DataFrame = client.query_df(
            "SELECT alert_id, acknowledged_by, acknowledged_at_utc, alert_updated_at_utc, note"
            f" FROM {table} {where}"
            " ORDER BY acknowledged_at_utc DESC LIMIT 1 BY alert_id LIMIT {limit:UInt64}",
            parameters=params,
            tz_mode="schema",
        )
    except DatabaseError as exc:
        if "UNKNOWN_TABLE" in str(exc) or "does not exist" in str(exc) or "doesn't exist" in str(exc):
            raise StoreError(
                "the store has no table alert_acks yet: migrate it (`mi store migrate`)"
            ) from exc
        raise
    if not len(frame.columns):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _ACK_COLUMNS.items()})
    return frame


def alerts_with_acks(
    client: Any, *, categories: Any = None, database: str | None = None, limit: int = 500
) -> pd.DataFrame:
    """Return alerts at their latest update with their latest acknowledgement, newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    categories : str or sequence of str, optional
        What raised them (``'data_quality'``, ``'flow'``, ...). Default: all.
    database : str, optional
        Database of the tables; default the client's.
    limit : int
        Most alerts [rows].

    Returns
    -------
    pd.DataFrame
        The columns of :func:`marketintel.services.queries.alerts` plus ``acknowledged_by``,
        ``acknowledged_at_utc`` (NaT: not acknowledged), ``note`` and ``state``: ``"acknowledged"``,
        ``"raised again"`` (updated after its acknowledgement), or the alert's own ``status``.
        ``attrs["problem"]`` says why no acknowledgement could be read ('' when they could).
    """
    from marketintel.exceptions import StoreError
    from marketintel.services.queries import alerts

    listing = alerts(client, categories=categories, database=database, limit=limit)
    problem = ""
    try:
        acks = alert_acks(client, alert_ids=list(listing["alert_id"].astype(str)), database=database)
    except StoreError as exc:  # a store migrated before acknowledgements existed: alerts still listed
        problem = str(exc)
        acks = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _ACK_COLUMNS.items()})
    out = listing.merge(
        acks.drop(columns=["alert_updated_at_utc"]).assign(_acked_version=acks["alert_updated_at_utc"]),
        on="alert_id",
        how="left",
    )
    out["acknowledged_by"] = out["acknowledged_by"].fillna("").astype(object)
    out["note"] = out["note"].fillna("").astype(object)
    out["acknowledged_at_utc"] = pd.to_datetime(out["acknowledged_at_utc"], utc=True).astype(
        "datetime64[ms, UTC]"
    )
    acked = out["acknowledged_by"] != ""
    again = acked & (out["updated_at_utc"] > pd.to_datetime(out["_acked_version"], utc=True))
    state = out["status"].astype(object).where(~acked, "acknowledged")
    out["state"] = state.where(~again, "raised again")
    out = out.drop(columns="_acked_version")
    out.attrs["problem"] = problem
    return out
