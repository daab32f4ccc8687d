"""Running the endpoint as a process: the directory lock, the state file, signals, start/stop/status."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from marketintel.exceptions import StoreAlreadyRunningError, StoreError, StoreNotRunningError
from marketintel.processes import pid_alive
from marketintel.store.endpoint import querylog
from marketintel.store.endpoint.auditlog import AuditWriter
from marketintel.store.endpoint.auth import Users
from marketintel.store.endpoint.engine import Engine
from marketintel.store.endpoint.server import EndpointServer, Limits

log = logging.getLogger("marketintel.store.endpoint")

LOCK_FILE = "mi-endpoint.lock"
STATE_FILE = "mi-endpoint.json"
LOG_FILE = "mi-endpoint.log"
ENGINE_CONFIG_FILE = "mi-engine-config.xml"
ENGINE_USERS_FILE = "mi-engine-users.xml"
#: databases that are the engine's or the endpoint's own, never platform data
_INTERNAL_DATABASES = frozenset({"system", "information_schema", "INFORMATION_SCHEMA", querylog.DATABASE})


def policy_databases(path: Path) -> list[str]:
    """Return the databases of a chDB directory whose tables get row policies (``default`` always).

    Read from the directory's ``metadata`` folder, before the engine starts: the policies are part of the
    configuration the engine loads then, and a database created later gets them at the next start (until
    then the endpoint refuses it to entitled users).
    """
    found = {"default"}
    meta = path / "metadata"
    if meta.is_dir():
        for entry in meta.iterdir():
            name = entry.name[:-4] if entry.name.endswith(".sql") else entry.name
            if name.isidentifier() and name not in _INTERNAL_DATABASES:
                found.add(name)
    return sorted(found)


def audit_dir(path: Path) -> Path:
    """Return where the audit key and journal of the store at ``path`` are kept: outside the store.

    ``MI_AUDIT_DIR`` if set, else ``<parent>/audit/<name>`` beside the data directory (the default store
    ``$MI_DATA_DIR/store`` keeps them in ``$MI_DATA_DIR/audit/store``).
    """
    raw = os.environ.get("MI_AUDIT_DIR")
    return Path(raw).expanduser().resolve() if raw else path.resolve().parent / "audit" / path.name


def write_engine_config(path: Path, databases: list[str]) -> Path:
    """Write the engine's configuration (users and row policies, :mod:`marketintel.access.policy`)."""
    from marketintel.access.policy import engine_config_xml, users_xml

    users_file = path / ENGINE_USERS_FILE
    config_file = path / ENGINE_CONFIG_FILE
    for target, text in (
        (users_file, users_xml(databases)),
        (config_file, engine_config_xml(str(users_file))),
    ):
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        tmp.replace(target)
    return config_file


@dataclass(frozen=True)
class EndpointState:
    """What a running endpoint writes into its data directory."""

    pid: int
    host: str
    port: int
    path: str
    engine_version: str
    started_at: float
    #: free disk space the store keeps: inserts below it are refused [bytes]
    min_free_disk_bytes: int = 0

    @property
    def url(self) -> str:
        """The endpoint's base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def read_state(path: Path) -> EndpointState | None:
    """Return the state of the endpoint serving ``path``, or None if none is running there."""
    state_file = path / STATE_FILE
    try:
        data = json.loads(state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    state = EndpointState(**data)
    if not pid_alive(state.pid):
        return None
    return state


def _take_lock(path: Path) -> IO[str]:
    """Lock the data directory for this process (released by the OS when the process dies)."""
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / LOCK_FILE, "a+")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        handle.close()
        state = read_state(path)
        where = f" (pid {state.pid}, {state.url})" if state else ""
        raise StoreAlreadyRunningError(
            f"the store data directory {path} is already served by another endpoint{where}. chDB allows one "
            "process per data directory: use that endpoint, or stop it first with "
            f"`mi store stop --path {path}`"
        ) from None
    return handle


def serve(
    path: Path,
    host: str,
    port: int,
    users: Users,
    limits: Limits | None = None,
    ready: threading.Event | None = None,
) -> int:
    """Serve the ClickHouse HTTP interface for ``path`` until SIGTERM or SIGINT; return the exit code.

    Raises
    ------
    StoreAlreadyRunningError
        If another process owns the data directory.
    StoreError
        If the port cannot be bound.
    """
    limits = limits or Limits()
    users.check_exposure(host)
    path = path.resolve()
    lock = _take_lock(path)
    try:
        covered = policy_databases(path)
        config_file = write_engine_config(path, covered)
        engine = Engine(
            str(path),
            role_settings={role: lim.settings for role, lim in users.limits.items()},
            config_file=str(config_file),
        )
    except Exception as exc:
        lock.close()
        raise StoreError(f"cannot open the chDB data directory {path}: {exc}") from None
    query_log = None
    if limits.query_log_ttl_days > 0:
        with engine.connection("admin") as conn:
            for statement in querylog.ddl(limits.query_log_ttl_days):
                conn.run(statement)
        query_log = querylog.QueryLog(lambda: engine.connection("admin"))
    audit: AuditWriter | None = AuditWriter(lambda: engine.connection("admin"), audit_dir(path))
    if os.environ.get("MI_STORE_AUDIT", "").lower() == "off":  # only to measure what the trail costs
        log.warning("MI_STORE_AUDIT=off: this store keeps NO audit trail (benchmarks only)")
        audit = None
    try:
        if audit is not None:
            audit.start()
    except Exception as exc:
        engine.close()
        lock.close()
        raise StoreError(
            f"cannot start the audit trail ({audit.directory if audit else ''}): {exc}"
        ) from None
    try:
        server = EndpointServer((host, port), engine, users, limits, query_log, covered, audit)
    except OSError as exc:
        if audit is not None:
            audit.close()
        engine.close()
        lock.close()
        raise StoreError(
            f"cannot listen on {host}:{port}: {exc.strerror}. Is another server using the port? "
            "Choose another with --port or MI_STORE_PORT"
        ) from None
    actual_port = server.server_address[1]
    state = EndpointState(
        os.getpid(),
        host,
        int(actual_port),
        str(path),
        engine.version,
        time.time(),
        limits.min_free_disk_bytes,
    )
    (path / STATE_FILE).write_text(json.dumps(asdict(state)))
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop_requested.is_set():
            return
        stop_requested.set()
        log.info(
            "received %s: finishing %d running request(s), then stopping",
            signal.Signals(signum).name,
            server.active,
        )
        server.shutting_down.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def reaper() -> None:
        while not stop_requested.wait(1.0):
            engine.expire_sessions()

    threading.Thread(target=reaper, daemon=True, name="session-reaper").start()
    threading.Thread(
        target=server.watch_clients, args=(stop_requested,), daemon=True, name="client-watcher"
    ).start()
    log.info(
        "serving %s at %s (chDB %s, users: %s)",
        path,
        state.url,
        engine.version,
        ", ".join(sorted(users.users)),
    )
    if query_log is not None:
        query_log.start()
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        # reads end now (their clients get QUERY_WAS_CANCELLED); inserts still arriving are completed
        cancelled = server.cancel_reads("the server is shutting down")
        if cancelled:
            log.info("cancelled %d running read(s) for shutdown", cancelled)
        clean = server.wait_idle(limits.shutdown_grace_s)
        if not clean:
            log.warning(
                "%d request(s) still running after %.0f s; stopping anyway",
                server.active,
                limits.shutdown_grace_s,
            )
        server.server_close()
        if query_log is not None:
            query_log.close()
        if audit is not None:
            audit.close()
        engine.close()
        (path / STATE_FILE).unlink(missing_ok=True)
        lock.close()
        log.info("stopped (%d requests served)", server.requests_served)
    return 0 if clean else 1


def ping(url: str, timeout_s: float = 2.0) -> bool:
    """Whether a ClickHouse HTTP server answers ``/ping`` at ``url``."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/ping", timeout=timeout_s) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def serve_command(
    path: Path, port: int, host: str | None = None, extra_args: Sequence[str] = ()
) -> list[str]:
    """Return the argv that runs ``mi store serve`` for ``path`` with this interpreter."""
    cmd = [
        sys.executable,
        "-m",
        "marketintel.cli",
        "store",
        "serve",
        "--path",
        str(path),
        "--port",
        str(port),
    ]
    if host is not None:
        cmd += ["--host", host]
    return cmd + list(extra_args)


def start_background(
    path: Path, host: str, port: int, extra_args: list[str], timeout_s: float = 60.0
) -> EndpointState:
    """Start ``mi store serve`` detached, logging to the data directory; wait until it answers.

    Returns the running endpoint's state; if one already serves ``path``, returns that one.

    Raises
    ------
    StoreError
        If the process exits or does not answer within ``timeout_s`` (the log's tail is in the message).
    """
    path = path.resolve()
    existing = read_state(path)
    if existing is not None and ping(existing.url):
        return existing
    path.mkdir(parents=True, exist_ok=True)
    log_path = path / LOG_FILE
    cmd = serve_command(path, port, host, extra_args)
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StoreError(f"the store exited with code {proc.returncode}:\n{_tail(log_path)}")
        state = read_state(path)
        if state is not None and state.pid == proc.pid and ping(state.url, 1.0):
            return state
        time.sleep(0.1)
    proc.terminate()
    raise StoreError(f"the store did not answer within {timeout_s:.0f} s:\n{_tail(log_path)}")


def stop(path: Path, timeout_s: float = 90.0) -> EndpointState:
    """Send SIGTERM to the endpoint serving ``path`` and wait until it has exited.

    Raises
    ------
    StoreNotRunningError
        If no endpoint serves ``path``.
    StoreError
        If it is still running after ``timeout_s``.
    """
    state = read_state(path.resolve())
    if state is None:
        raise StoreNotRunningError(f"no store endpoint is running for {path.resolve()}")
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(state.pid):
            return state
        time.sleep(0.1)
    raise StoreError(f"the store (pid {state.pid}) is still running {timeout_s:.0f} s after SIGTERM")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
