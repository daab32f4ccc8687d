"""The dashboards' store clients (one per hub user, acting for them) and shared reads.

The service is given a read-only store user in ``MI_CLICKHOUSE_URL`` that may act for users (the store's
``impersonate`` grant). Behind the hub (``MI_DASHBOARDS_ACT_FOR_USERS=1``) every read of a page runs as the
logged-in user (``execute_as``), so the store applies that user's entitlements to everything the page
shows; without the hub (a developer's ``--no-auth`` server) pages read as the service. Every read goes through
:mod:`marketintel.services.queries`, so nothing here writes or holds SQL. :func:`shared_read` lets the
sessions of one process share a read they all make (a live page's poll): the store answers it once per
interval however many pages are open.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import panel as pn

from marketintel.store.client import connect

_CLIENT: Any = None
_LOCK = threading.Lock()
_USER_CLIENTS: dict[str, Any] = {}
log = logging.getLogger(__name__)
#: the environment variable that makes pages read as the logged-in hub user
ACT_FOR_USERS = "MI_DASHBOARDS_ACT_FOR_USERS"


def current_user() -> str | None:
    """Return the hub user this session acts for, or None (no hub, or acting for users is off)."""
    if os.environ.get(ACT_FOR_USERS, "") != "1":
        return None
    user = pn.state.user
    return str(user) if user else None


def user_client(user: str | None = None) -> Any:
    """Return the client of ``user`` (default: the session's user, :func:`current_user`).

    It sends ``execute_as=<user>`` with every query: the store answers with that user's entitlement. With
    no user it is the service's own client (:func:`store_client`).
    """
    user = user if user is not None else current_user()
    if user is None:
        return store_client()
    with _LOCK:
        client = _USER_CLIENTS.get(user)
        if client is None:
            client = connect(autogenerate_session_id=False, settings={"execute_as": user})
            _USER_CLIENTS[user] = client
        return client


def report_event(kind: str, user: str | None, **fields: Any) -> None:
    """Report an audit event (page opened, download) for ``user`` in the background; None user: nothing."""
    if user is None:
        return
    from marketintel.access.events import report

    threading.Thread(
        target=report, args=(kind, user), kwargs={"caller": "dashboards", **fields}, daemon=True
    ).start()


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


T = TypeVar("T")
_shared: dict[Hashable, tuple[float, Any]] = {}
_shared_lock = threading.Lock()


def shared_read(key: Hashable, read: Callable[[], T], ttl_s: float) -> T:
    """Return ``read()``, or what another session's ``read`` for the same ``key`` got within ``ttl_s``.

    Parameters
    ----------
    key : hashable
        What is read, with everything that changes the answer (the reader's function, its arguments, the
        client).
    read : callable
        Makes the read; called when no result for ``key`` is younger than ``ttl_s``.
    ttl_s : float
        How long a result is given to other sessions [s]. A page polling every P seconds with
        ``ttl_s < P`` never sees its own previous answer again.

    Returns
    -------
    The result, shared: callers must not modify it in place. A re-read equal to the previous result
    returns the previous object itself, so a page can tell "nothing changed" by identity (``is``).
    """
    now = time.monotonic()
    with _shared_lock:
        hit = _shared.get(key)
        if hit is not None and now - hit[0] < ttl_s:
            return hit[1]  # type: ignore[no-any-return]
    value = read()
    if hit is not None and _equal(hit[1], value):
        value = hit[1]
    with _shared_lock:
        _shared[key] = (time.monotonic(), value)
        if len(_shared) > 4096:  # keys with cursors in them come and go: drop the expired ones
            for old in [k for k, (at, _) in _shared.items() if now - at >= ttl_s]:
                del _shared[old]
    return value


def _equal(old: Any, new: Any) -> bool:
    """Whether two reads gave the same answer (frames: same columns, dtypes and values)."""
    import pandas as pd

    if isinstance(old, pd.DataFrame) and isinstance(new, pd.DataFrame):
        return bool(
            list(old.columns) == list(new.columns)
            and list(old.dtypes) == list(new.dtypes)
            and old.attrs == new.attrs
            and old.equals(new)
        )
    if type(old) is not type(new):
        return False
    try:
        return bool(old == new)
    except (TypeError, ValueError):  # not comparable as a whole: treat as changed
        return False
