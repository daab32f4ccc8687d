"""The dashboards' store client: one read-only clickhouse-connect client per process.

The service is given a read-only store user in ``MI_CLICKHOUSE_URL``; every read goes through
:mod:`marketintel.services.queries`, so nothing here writes or holds SQL.
"""

from __future__ import annotations

import threading
from typing import Any

from marketintel.store.client import connect

_CLIENT: Any = None
_LOCK = threading.Lock()


def store_client() -> Any:
    """Return the process's client on ``MI_CLICKHOUSE_URL``, connecting on first use.

    The client has no session id, so the sessions' callbacks and the live-tail pollers may use it from
    several threads at once (a ClickHouse session admits one query at a time).

    Returns
    -------
    clickhouse_connect.driver.client.Client
        The shared client.

    Raises
    ------
    StoreNotRunningError
        If nothing answers at ``MI_CLICKHOUSE_URL``.
    """
    global _CLIENT  # noqa: PLW0603  (one client per process, made on first use)
    with _LOCK:
        if _CLIENT is None:
            _CLIENT = connect(autogenerate_session_id=False)
        return _CLIENT
