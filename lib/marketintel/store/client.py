"""The one way the platform talks to ClickHouse: a configured clickhouse-connect client."""

from __future__ import annotations

from typing import Any

import clickhouse_connect

from marketintel.config import ClickHouseURL, clickhouse_url
from marketintel.exceptions import StoreNotRunningError


def connect(url: ClickHouseURL | None = None, **kwargs: Any) -> Any:
    """Return a clickhouse-connect client for ``MI_CLICKHOUSE_URL`` (default: the embedded store).

    Parameters
    ----------
    url : ClickHouseURL, optional
        Where to connect; default :func:`marketintel.config.clickhouse_url`.
    **kwargs
        Passed to ``clickhouse_connect.get_client`` (for example ``settings`` or ``session_id``).

    Returns
    -------
    clickhouse_connect.driver.client.Client
        A client with the library's defaults (compression on, UTC session time zone).

    Raises
    ------
    StoreNotRunningError
        If nothing answers at the address; the message says how to start the embedded store.
    """
    url = url or clickhouse_url()
    options: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "username": url.username,
        "password": url.password,
        "database": url.database,
        "secure": url.scheme == "https",
        "connect_timeout": 5,
        "send_receive_timeout": 600,
        # DateTime64(3, 'UTC') columns come back tz-aware, as they are declared
        "tz_mode": "schema",
    }
    options.update(kwargs)
    try:
        return clickhouse_connect.get_client(**options)
    except clickhouse_connect.driver.exceptions.OperationalError as exc:
        hint = (
            " Start the embedded store with `mi store start` (or `make demo`)."
            if url.is_local_default
            else " Check MI_CLICKHOUSE_URL."
        )
        raise StoreNotRunningError(f"cannot reach ClickHouse at {url.redacted()}: {exc}.{hint}") from None
