"""Make sure the store is reachable: the one place that decides whether to start the local endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketintel import config


@dataclass(frozen=True)
class StoreHandle:
    """A reachable store and how it was reached.

    Attributes
    ----------
    client : clickhouse_connect.driver.Client
        A client on ``MI_CLICKHOUSE_URL`` (the embedded store by default).
    url : str
        The address, password redacted (safe to print).
    local : bool
        Whether it is the embedded endpoint of this machine (``MI_CLICKHOUSE_URL`` unset or its default).
    started : bool
        Whether this call started the endpoint (False: it was running, or the server is external).
    pid : int
        The embedded endpoint's process id (0 for an external server).
    log : Path or None
        The embedded endpoint's log file.
    migration : str
        What the schema migration did (``""`` when not asked to migrate).
    """

    client: Any
    url: str
    local: bool
    started: bool = False
    pid: int = 0
    log: Path | None = None
    migration: str = ""


def ensure_store(*, start: bool = True, migrate: bool = True) -> StoreHandle:
    """Return a client on the configured store, starting the local endpoint only where that is the default.

    Parameters
    ----------
    start : bool
        Start the embedded endpoint in the background (``mi store start``) when ``MI_CLICKHOUSE_URL`` is the
        local default and nothing answers there. An external server is never started, only connected to.
    migrate : bool
        Create or update the platform's tables (idempotent: a second call changes nothing).

    Raises
    ------
    StoreNotRunningError
        When nothing answers and ``start`` is False, or the URL is not the local default (the message
        says how to start the store or which setting to check).
    StoreError
        When the local endpoint was started but did not come up (the log's tail is in the message).
    """
    from marketintel.store import connect
    from marketintel.store import migrate as run_migrations
    from marketintel.store.endpoint.process import LOG_FILE, ping, read_state, start_background

    url = config.clickhouse_url()
    started, pid, log = False, 0, None
    if url.is_local_default:
        path = config.store_dir()
        state = read_state(path)
        if start and (state is None or not ping(state.url)):
            state = start_background(path, config.store_host(), config.store_port(), [])
            started = True
        if state is not None:
            pid, log = state.pid, Path(state.path) / LOG_FILE
    client = connect(url)
    migration = str(run_migrations(client)) if migrate else ""
    return StoreHandle(client, url.redacted(), url.is_local_default, started, pid, log, migration)
