"""The local Prefect server: started by the project itself (``mi prefect up``), SQLite under ``MI_DATA_DIR``.

``prefect server start`` runs in its own process group with ``PREFECT_HOME`` and its SQLite database under
``$MI_DATA_DIR/prefect`` and analytics off; a state file records its pid and URL so that ``up`` is
idempotent (a second ``up`` finds the running server) and ``down`` stops the whole process group. Flows and
``mi flows serve`` talk to it through ``PREFECT_API_URL``, which :func:`client_environment` sets.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from marketintel import config
from marketintel.exceptions import MarketIntelError
from marketintel.processes import group_alive, pid_alive, start_detached, stop_process_group

__all__ = ["group_alive", "pid_alive", "stop_process_group"]

#: seconds the server gets to answer its health check after start (it migrates its database first)
START_TIMEOUT_S = 90.0


class PrefectServerError(MarketIntelError):
    """The Prefect server could not be started, reached or stopped."""


@dataclass(frozen=True)
class PrefectServer:
    """A running local Prefect server."""

    pid: int
    port: int
    home: Path
    log: Path

    @property
    def ui_url(self) -> str:
        """Address of the Prefect UI."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Address of the Prefect API."""
        return f"{self.ui_url}/api"


def server_environment(home: Path) -> dict[str, str]:
    """Return the environment of a Prefect server (and its clients) homed at ``home``."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }


def client_environment(api_url: str | None = None) -> dict[str, str]:
    """Return what a process needs to report flow runs to the server (set before ``import prefect``)."""
    home = config.prefect_home()
    return {
        "PREFECT_API_URL": api_url or config.prefect_api_url(),
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    """Return whether a Prefect API answers its health check."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as resp:
            return bool(resp.status == 200 and resp.read().strip() == b"true")
    except OSError:
        return False


def _state_file(home: Path) -> Path:
    return home / "server.json"


def read_state(home: Path | None = None) -> PrefectServer | None:
    """Return the server recorded in ``$MI_DATA_DIR/prefect/server.json`` if its process is alive."""
    home = home or config.prefect_home()
    path = _state_file(home)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    server = PrefectServer(int(state["pid"]), int(state["port"]), Path(state["home"]), Path(state["log"]))
    if not pid_alive(server.pid):
        path.unlink(missing_ok=True)  # stale: the process is gone
        return None
    return server


def up(port: int | None = None, home: Path | None = None, *, progress: bool = True) -> PrefectServer:
    """Start the local Prefect server unless it runs already; wait until it is healthy.

    Raises
    ------
    PrefectServerError
        When another process holds the port, or the server does not become healthy in time (the message
        ends with the tail of its log).
    """
    home = home or config.prefect_home()
    port = port or config.prefect_port()
    running = read_state(home)
    if running is not None and healthy(running.api_url):
        return running
    api = f"http://127.0.0.1:{port}/api"
    if healthy(api):
        raise PrefectServerError(
            f"something else already serves a Prefect API on port {port} (not started by this data "
            "directory); stop it or set MI_PREFECT_PORT"
        )
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    env = {**os.environ, **server_environment(home)}
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = start_detached(command, log, env=env, cwd=home)
    server = PrefectServer(proc.pid, port, home, log)
    _state_file(home).write_text(
        json.dumps({"pid": proc.pid, "port": port, "home": str(home), "log": str(log)})
    )
    if progress:
        print(f"starting the Prefect server (SQLite under {home}) ...", flush=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if healthy(server.api_url):
            return server
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    down(home)
    raise PrefectServerError(f"the Prefect server did not become healthy on port {port}; its log:\n{tail}")


def down(home: Path | None = None, timeout_s: float = 20.0) -> bool:
    """Stop the local Prefect server (its whole process group); return whether one was running."""
    home = home or config.prefect_home()
    server = read_state(home)
    if server is None:
        return False
    stop_process_group(server.pid, timeout_s)
    _state_file(home).unlink(missing_ok=True)
    return True
