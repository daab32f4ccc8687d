"""Start, find and stop the hub: JupyterHub with configurable-http-proxy, in the background.

``mi hub up`` runs ``jupyterhub -f jupyterhub_config.py`` in its own process group (JupyterHub starts the
proxy and its managed services, the dashboards and the idle culler, as its children), with its log and
state under ``$MI_DATA_DIR/hub``, and waits until the hub answers and the dashboards service is reachable
through the proxy. A state file makes ``up`` idempotent; ``down`` stops the whole group (JupyterHub stops
the quants' servers on its way out).

The settings ``mi hub up`` passes to ``jupyterhub_config.py`` (environment):

``MI_HUB_IP``, ``MI_HUB_PORT``            public address of the proxy (default 127.0.0.1:8000)
``MI_HUB_SSL_CERT``, ``MI_HUB_SSL_KEY``   TLS certificate and key of the public address
``MI_HUB_API_PORT``                       the Hub's own port on 127.0.0.1 (default 8081)
``MI_HUB_PROXY_API_PORT``                 the proxy's REST API on 127.0.0.1 (default 8001)
``MI_DASHBOARDS_PORT``                    the dashboards service on 127.0.0.1 (default 8010)
``MI_API_PORT``                           the API service on 127.0.0.1 (default 8020)
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from marketintel import config
from marketintel.exceptions import MarketIntelError
from marketintel.hub import paths
from marketintel.processes import pid_alive, start_detached, stop_process_group

#: seconds the hub gets to answer and route the dashboards after start
START_TIMEOUT_S = 90.0
STATE_FILE = "hub.json"
LOG_FILE = "hub.log"


class HubError(MarketIntelError):
    """The hub could not be started, reached or stopped."""


@dataclass(frozen=True)
class HubPorts:
    """The hub's ports: the public proxy, the Hub itself, the proxy's API, the dashboards and API services."""

    public: int = 8000
    api: int = 8081
    proxy_api: int = 8001
    dashboards: int = 8010
    service_api: int = 8020

    @classmethod
    def from_environment(cls, public: int | None = None) -> HubPorts:
        """Read the ports from the environment (the table of the module's docstring)."""

        def port(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise HubError(f"{name} must be a TCP port (1-65535), got {raw!r}")
            return int(raw)

        return cls(
            public=public or port("MI_HUB_PORT", cls.public),
            api=port("MI_HUB_API_PORT", cls.api),
            proxy_api=port("MI_HUB_PROXY_API_PORT", cls.proxy_api),
            dashboards=port("MI_DASHBOARDS_PORT", cls.dashboards),
            service_api=port("MI_API_PORT", cls.service_api),
        )


@dataclass(frozen=True)
class RunningHub:
    """A hub started by ``mi hub up``."""

    pid: int
    ip: str
    port: int
    api_port: int
    dashboards_port: int
    tls: bool
    log: str

    @property
    def url(self) -> str:
        """The public address (what users open)."""
        host = "127.0.0.1" if self.ip in ("", "0.0.0.0", "::") else self.ip
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"

    @property
    def api_url(self) -> str:
        """The Hub's REST API on loopback (no proxy, no TLS)."""
        return f"http://127.0.0.1:{self.api_port}/hub/api"


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` listens on loopback only (``localhost`` counts)."""
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def read_state(hub: Path | None = None) -> RunningHub | None:
    """Return the hub recorded in ``$MI_DATA_DIR/hub/hub.json`` if its process is alive.

    A record whose Hub process is gone (killed, out of memory) is removed, and what that Hub had started in
    sessions of their own (its proxy, its services) is stopped: they would hold the ports of the next start.
    """
    path = (hub or paths.hub_dir()) / STATE_FILE
    if not path.exists():
        return None
    try:
        state = RunningHub(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if not pid_alive(state.pid):
        for pid in _orphans(path.parent, state):  # stale: the Hub is gone; its proxy and services may not be
            stop_process_group(pid)
        path.unlink(missing_ok=True)
        return None
    return state


def healthy(hub: RunningHub, timeout_s: float = 2.0) -> bool:
    """Whether the Hub answers its health check on its own port."""
    try:
        return httpx.get(f"{hub.api_url.removesuffix('/api')}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def dashboards_routed(hub: RunningHub, timeout_s: float = 2.0) -> bool:
    """Whether the proxy routes ``/services/dashboards/`` to a running service (a redirect to log in)."""
    try:
        resp = httpx.get(f"{hub.url}services/dashboards/", timeout=timeout_s, verify=False)
    except httpx.HTTPError:
        return False
    return resp.status_code in (200, 302, 303)


def api_routed(hub: RunningHub, timeout_s: float = 2.0) -> bool:
    """Whether the proxy routes ``/services/api/`` to a running API (its ``/health`` answers 200)."""
    try:
        resp = httpx.get(f"{hub.url}services/api/health", timeout=timeout_s, verify=False)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200


def _check_address(ip: str, ssl_cert: Path | None, ssl_key: Path | None, insecure: bool) -> None:
    if (ssl_cert is None) != (ssl_key is None):
        raise HubError("--ssl-cert and --ssl-key go together: give both or neither")
    for path in (ssl_cert, ssl_key):
        if path is not None and not path.is_file():
            raise HubError(f"TLS file {path} does not exist")
    if not is_loopback(ip) and ssl_cert is None and not insecure:
        raise HubError(
            f"refusing to listen on {ip} without TLS: passwords would cross the network in clear. Give "
            "--ssl-cert and --ssl-key, or --insecure if a TLS proxy in front of the hub takes care of it"
        )


#: JupyterLab settings of the quants' servers: no news or update checks (this machine reaches no such site)
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}


def _ensure_lab_settings() -> None:
    """Write JupyterLab's settings overrides into this venv (``share/jupyter/lab/settings``)."""
    path = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    merged = {**current, **LAB_OVERRIDES}
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2) + "\n")


def _ensure_kernel() -> None:
    """Install the ``marketintel`` kernelspec into this venv (the quants' servers offer it)."""
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "marketintel" / "kernel.json"
    if spec.exists() and json.loads(spec.read_text()).get("argv", [""])[0] == sys.executable:
        return
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "marketintel",
         "--display-name", "Market Intelligence (Python 3.11)"],
        check=True, capture_output=True,
    )  # fmt: skip


def _ensure_store() -> None:
    """Start the local store when it is the default, and give the dashboards service its reader users."""
    from marketintel.hub import users
    from marketintel.services.store import ensure_store

    ensure_store(start=True, migrate=True)
    users.ensure_service_store_user("dashboards", impersonate=True)
    users.ensure_service_store_user(users.ALERT_ACKS_USER, insert_into=users.ALERT_ACKS_TABLES)


def up(
    ip: str = "127.0.0.1",
    port: int | None = None,
    *,
    ssl_cert: Path | None = None,
    ssl_key: Path | None = None,
    insecure: bool = False,
    progress: bool = True,
) -> RunningHub:
    """Start the hub unless it runs already; wait until it answers and routes the dashboards.

    Parameters
    ----------
    ip
        Public address of the proxy. Beyond loopback it needs TLS (``ssl_cert``/``ssl_key``) or
        ``insecure``.
    port
        Public port (default ``MI_HUB_PORT`` or 8000).
    ssl_cert, ssl_key
        PEM files for HTTPS on the public address.
    insecure
        Allow plain HTTP beyond loopback (behind a TLS-terminating proxy).
    progress
        Print what happens.

    Raises
    ------
    HubError
        On a bad address, a missing proxy (``make setup`` installs it), a hub of this data directory
        running at another address, or a hub that does not come up in time (with its log's tail).
    """
    _check_address(ip, ssl_cert, ssl_key, insecure)
    hub = paths.hub_dir()
    ports = HubPorts.from_environment(port)
    running = read_state(hub)
    if running is not None:
        if (running.ip, running.port) != (ip, ports.public):
            raise HubError(
                f"the hub of this data directory already runs at {running.url} (pid {running.pid}); "
                "`mi hub down` first to move it"
            )
        if healthy(running):
            return running
    if not paths.proxy_command().exists():
        raise HubError(
            f"configurable-http-proxy is not installed at {paths.proxy_command()}: run `make setup` "
            "(it installs the pinned npm package into the clone)"
        )
    hub.mkdir(parents=True, exist_ok=True)
    hub.chmod(0o700)
    _ensure_store()
    _ensure_kernel()
    _ensure_lab_settings()
    log = hub / LOG_FILE
    env = {
        **os.environ,
        "MI_DATA_DIR": str(config.data_dir()),
        "MI_HUB_DIR": str(hub),
        "MI_HUB_IP": ip,
        "MI_HUB_PORT": str(ports.public),
        "MI_HUB_API_PORT": str(ports.api),
        "MI_HUB_PROXY_API_PORT": str(ports.proxy_api),
        "MI_DASHBOARDS_PORT": str(ports.dashboards),
        "MI_API_PORT": str(ports.service_api),
        "MI_HUB_SSL_CERT": str(ssl_cert or ""),
        "MI_HUB_SSL_KEY": str(ssl_key or ""),
    }
    jupyterhub = Path(sys.executable).with_name("jupyterhub")
    command = [str(jupyterhub), "-f", str(paths.config_file())]
    proc = start_detached(command, log, env=env, cwd=hub)
    state = RunningHub(
        proc.pid, ip, ports.public, ports.api, ports.dashboards, ssl_cert is not None, str(log)
    )
    (hub / STATE_FILE).write_text(json.dumps(asdict(state)))
    if progress:
        print(f"starting JupyterHub at {state.url} (log {log}) ...", flush=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if healthy(state) and dashboards_routed(state) and api_routed(state):
            return state
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    down(hub)
    raise HubError(f"the hub did not come up at {state.url} within {START_TIMEOUT_S:.0f} s; its log:\n{tail}")


def down(hub: Path | None = None, timeout_s: float = 30.0) -> RunningHub | None:
    """Stop the hub (its process group: proxy, services, and the servers it stops on exit).

    Returns the hub that was running, or None.
    """
    hub = hub or paths.hub_dir()
    state = read_state(hub)
    if state is None:
        return None
    stop_process_group(state.pid, timeout_s)
    # JupyterHub starts its proxy and services in sessions of their own and stops them on its way out; one
    # that did not stop cleanly may have left some running, holding their ports: stop them too
    for pid in _orphans(hub, state):
        stop_process_group(pid, timeout_s)
    with contextlib.suppress(FileNotFoundError):
        (hub / STATE_FILE).unlink()
    return state


#: what the hub starts in sessions of their own (matched in their command lines)
_HUB_CHILDREN = ("configurable-http-proxy", "marketintel.api.serve", "marketintel.dashboards.serve",
                 "jupyterhub_idle_culler")  # fmt: skip


def _orphans(hub: Path, state: RunningHub) -> list[int]:
    """Return the pids of this hub's proxy and services that still run (after the Hub itself is gone).

    The proxy is the one in ``proxy.pid``; a service is ours when its environment names this hub's API
    (``JUPYTERHUB_API_URL`` with the hub's port, read from ``/proc``; another user's processes are skipped).
    """
    found: list[int] = []
    proxy = hub / "proxy.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(proxy.read_text().strip())
        # a pid file can outlive its process and its number be reused: only a proxy counts
        if pid_alive(pid) and b"configurable-http-proxy" in Path(f"/proc/{pid}/cmdline").read_bytes():
            found.append(pid)
    marker = f"127.0.0.1:{state.api_port}/hub/api".encode()
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in found:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if not any(name.encode() in cmdline for name in _HUB_CHILDREN):
                continue
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def describe(state: RunningHub | None) -> tuple[bool, str]:
    """Return (up?, one paragraph) about the hub for ``mi status`` and ``mi hub status``."""
    if state is None:
        return False, "not running (mi hub up)"
    ok = healthy(state)
    routed = dashboards_routed(state) if ok else False
    api = api_routed(state) if ok else False
    text = (
        f"{state.url} {'running' if ok else 'NOT answering'} (pid {state.pid}); dashboards service "
        f"{'up' if routed else 'NOT routed'} at {state.url}services/dashboards/; API "
        f"{'up' if api else 'NOT routed'} at {state.url}services/api/; log {state.log}"
    )
    return ok and routed and api, text
