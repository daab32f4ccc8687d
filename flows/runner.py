"""The background flow runner: ``mi flows serve`` detached, so the scheduled deployments actually run.

``mi flows start`` (or ``mi flows serve --background``) runs ``mi flows serve`` (Prefect's
``serve(*deployments())``: it registers the deployments and polls the server for their due runs, each run in
a subprocess) in its own process group, logging to ``$MI_DATA_DIR/prefect/runner.log``. A state file,
``$MI_DATA_DIR/prefect/runner.json``, records its pid, the Prefect API it serves, the deployments and the log,
so that ``start`` is idempotent and ``stop`` finds it: SIGTERM to the process group (Prefect cancels the runs
in flight and pauses the schedules, so no backlog of late runs piles up while nothing serves them; the next
start resumes them), a wait, then SIGKILL.

Serving means more than a live pid: the Prefect server marks a deployment READY while a runner polls for its
runs and NOT_READY about a minute after the last poll. :func:`deployment_status` reads that status through the
REST API (``POST /api/deployments/filter``), so checking it needs no ``import prefect``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketintel import config, processes
from marketintel.exceptions import MarketIntelError
from marketintel.flows import server

STATE_FILE = "runner.json"
LOG_FILE = "runner.log"
#: seconds a new runner gets to serve every deployment (it imports the flows, then registers and polls)
READY_TIMEOUT_S = 120.0
#: seconds a runner gets to stop after SIGTERM (it pauses the schedules through the API) before SIGKILL
STOP_TIMEOUT_S = 30.0


class FlowRunnerError(MarketIntelError):
    """The background flow runner could not be started or does not serve its deployments."""


@dataclass(frozen=True)
class FlowRunner:
    """A background ``mi flows serve`` process."""

    pid: int
    #: the Prefect API it serves deployments of
    api_url: str
    log: Path
    #: names of the deployments it serves
    deployments: tuple[str, ...]
    #: when it was started [s since the epoch]
    started_at: float


@dataclass(frozen=True)
class DeploymentState:
    """What the Prefect server says about one deployment."""

    name: str
    #: ``READY`` (a runner polls for its runs), ``NOT_READY``, or ``MISSING`` (not registered)
    status: str
    paused: bool = False

    @property
    def ready(self) -> bool:
        """Whether a runner serves it and its schedule is active."""
        return self.status == "READY" and not self.paused


def deployment_names() -> tuple[str, ...]:
    """Return the names of the scheduled deployments (:data:`marketintel.flows.deployments.SCHEDULES`)."""
    from marketintel.flows.deployments import SCHEDULES

    return tuple(name for _flow, name, _cron, _tz, _params in SCHEDULES)


def _state_file(home: Path) -> Path:
    return home / STATE_FILE


def read_state(home: Path | None = None) -> FlowRunner | None:
    """Return the runner recorded in ``$MI_DATA_DIR/prefect/runner.json`` if its process is alive."""
    home = home or config.prefect_home()
    path = _state_file(home)
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    runner = FlowRunner(
        int(state["pid"]), str(state["api_url"]), Path(state["log"]), tuple(state["deployments"]),
        float(state["started_at"]),
    )  # fmt: skip
    if not server.pid_alive(runner.pid):
        path.unlink(missing_ok=True)  # stale: the process is gone
        return None
    return runner


def deployment_status(api_url: str, names: tuple[str, ...], timeout_s: float = 5.0) -> list[DeploymentState]:
    """Return the server's status of each named deployment (``MISSING`` for one it does not know).

    Raises
    ------
    OSError
        When the Prefect API cannot be reached (``urllib.error.URLError`` is one).
    """
    body = json.dumps({"deployments": {"name": {"any_": list(names)}}}).encode()
    request = urllib.request.Request(
        f"{api_url}/deployments/filter",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as resp:
        rows: list[dict[str, Any]] = json.loads(resp.read())
    found: dict[str, DeploymentState] = {}
    for row in rows:  # a name registered for several flows: READY only if every one of them is
        name = str(row["name"])
        state = DeploymentState(name, str(row.get("status") or "NOT_READY"), bool(row.get("paused")))
        if name not in found or not state.ready:
            found[name] = state
    return [found.get(name, DeploymentState(name, "MISSING")) for name in names]


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _api_url(api_url: str | None, progress: bool) -> str:
    """Return the Prefect API to serve on: the one given, ``MI_PREFECT_API_URL``, or the local server."""
    if api_url:
        return api_url
    if os.environ.get("MI_PREFECT_API_URL"):
        return config.prefect_api_url()
    return server.up(progress=progress).api_url


def start(
    api_url: str | None = None,
    home: Path | None = None,
    *,
    ready_timeout_s: float = READY_TIMEOUT_S,
    progress: bool = True,
) -> FlowRunner:
    """Start the background flow runner unless one runs already; wait until it serves every deployment.

    Parameters
    ----------
    api_url
        The Prefect API to serve on (default: ``MI_PREFECT_API_URL``, else the local server, started if
        needed).
    home
        Where the state file and the log go (default ``$MI_DATA_DIR/prefect``).
    ready_timeout_s
        How long to wait until the server reports every deployment READY [s].
    progress
        Print a line when a runner is started.

    Raises
    ------
    FlowRunnerError
        When the runner exits or does not serve its deployments in time (it is then stopped; the message
        ends with the tail of its log).
    """
    home = home or config.prefect_home()
    running = read_state(home)
    if running is None:
        api = _api_url(api_url, progress)
        running = _spawn(api, home)
        if progress:
            print(f"starting the flow runner (pid {running.pid}, log {running.log}) ...", flush=True)
    wait_until_serving(running, ready_timeout_s)
    return running


def _spawn(api: str, home: Path) -> FlowRunner:
    """Start ``mi flows serve --api-url API`` in its own process group and record it."""
    names = deployment_names()
    home.mkdir(parents=True, exist_ok=True)
    log = home / LOG_FILE
    env = {
        **os.environ,
        **server.client_environment(api),
        # the runs it starts must find this data directory and reports folder whatever their working directory
        "MI_DATA_DIR": str(config.data_dir()),
        "MI_REPORTS_DIR": str(config.reports_dir()),
        "PREFECT_LOGGING_LEVEL": "INFO",  # the log says which runs it submitted and how they ended
    }
    command = [sys.executable, "-m", "marketintel.cli", "flows", "serve", "--api-url", api]
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S %z')}: {' '.join(command)}\n".encode())
    proc = processes.start_detached(command, log, env=env)
    runner = FlowRunner(proc.pid, api, log, names, time.time())
    _state_file(home).write_text(
        json.dumps(
            {
                "pid": runner.pid,
                "api_url": api,
                "log": str(log),
                "deployments": list(names),
                "started_at": runner.started_at,
            }
        )
    )
    return runner


def wait_until_serving(runner: FlowRunner, timeout_s: float = READY_TIMEOUT_S) -> list[DeploymentState]:
    """Wait until the server reports every deployment of ``runner`` READY; return their states.

    Raises
    ------
    FlowRunnerError
        When the runner exits first or the time is up (it is then stopped; the message ends with its log).
    """
    deadline = time.monotonic() + timeout_s
    states: list[DeploymentState] = []
    while time.monotonic() < deadline:
        if not server.pid_alive(runner.pid):
            stop(runner.log.parent)
            raise FlowRunnerError(f"the flow runner exited; its log:\n{_tail(runner.log)}")
        with contextlib.suppress(OSError, ValueError):
            states = deployment_status(runner.api_url, runner.deployments)
            if states and all(s.ready for s in states):
                return states
        time.sleep(1.0)
    stop(runner.log.parent)
    waiting = ", ".join(f"{s.name} {s.status}" for s in states if not s.ready) or "no answer from the API"
    raise FlowRunnerError(
        f"the flow runner did not serve its deployments within {timeout_s:.0f} s ({waiting}); its log:\n"
        f"{_tail(runner.log)}"
    )


def stop(home: Path | None = None, timeout_s: float = STOP_TIMEOUT_S) -> FlowRunner | None:
    """Stop the background flow runner (its whole process group); return it, or None if none was running."""
    home = home or config.prefect_home()
    runner = read_state(home)
    if runner is not None:
        server.stop_process_group(runner.pid, timeout_s)
    _state_file(home).unlink(missing_ok=True)
    return runner


def describe(runner: FlowRunner | None) -> tuple[bool, str]:
    """Return (serving every deployment?, one line): pid, READY count, the log."""
    if runner is None:
        return False, "not running (mi flows start)"
    try:
        states = deployment_status(runner.api_url, runner.deployments)
    except (OSError, ValueError) as exc:
        return False, f"pid {runner.pid}, no answer from the Prefect API at {runner.api_url} ({exc})"
    ready = [s for s in states if s.ready]
    text = f"pid {runner.pid}, serving {len(ready)} of {len(states)} deployments READY; log {runner.log}"
    others = [f"{s.name} {'PAUSED' if s.paused else s.status}" for s in states if not s.ready]
    if others:
        text += "\n  not READY: " + ", ".join(others)
    return len(ready) == len(states) > 0, text


def start_for_demo() -> list[str]:
    """Start the flow runner at the end of ``mi demo``; return lines naming what runs and where it logs.

    A runner that cannot start is reported in the lines (the demo's results stand without it).
    """
    from marketintel.store.endpoint.process import LOG_FILE
    from marketintel.store.endpoint.process import read_state as store_state

    lines = [
        "running in the background (mi status or make status shows them, mi stop or make stop stops them):"
    ]
    if config.clickhouse_url().is_local_default:
        store = store_state(config.store_dir())
        if store is not None:
            lines.append(f"  store        {store.url} (pid {store.pid}); log {Path(store.path) / LOG_FILE}")
    prefect = None if os.environ.get("MI_PREFECT_API_URL") else server.read_state()
    if prefect is not None:
        lines.append(f"  Prefect      UI {prefect.ui_url} (pid {prefect.pid}); log {prefect.log}")
    try:
        text = describe(start())[1]
    except MarketIntelError as exc:
        text = f"NOT started: {exc}"
    lines.append(f"  flow runner  {text}")
    return lines
