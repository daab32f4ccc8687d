"""Background processes started by the platform (Prefect server, flow runner, hub): alive?, stop.

Each background part runs in its own process group (``start_new_session=True``) and is stopped as a group,
so its children (a hub's proxy and services, a server's workers) stop with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

#: processes started by this process, by pid (kept so they are waited for, not left as zombies)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _stat_fields(pid: int | str) -> list[str] | None:
    """Return the fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp, ...), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def pid_alive(pid: int) -> bool:
    """Return whether process ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z"


def group_alive(pgid: int) -> bool:
    """Return whether any process of process group ``pgid`` runs (zombies count as gone)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
                return True
    return False


def stop_process_group(pid: int, timeout_s: float = 20.0) -> None:
    """Stop the process group led by ``pid``: SIGTERM, wait up to ``timeout_s`` [s], then SIGKILL.

    Returns when no process of the group runs any more. A leader started by this process
    (:data:`_CHILDREN`) is also waited for, so it leaves no zombie.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    child = _CHILDREN.pop(pid, None)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.2)
        else:
            time.sleep(0.2)
        if not group_alive(pid):
            break
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 10.0
        while group_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    if child is not None:
        child.wait()


def start_detached(
    command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a process group of its own, its output appended to ``log``.

    The process is kept in :data:`_CHILDREN`, so :func:`stop_process_group` waits for it (no zombie in this
    process); it outlives this process otherwise (a new session: no terminal signal reaches it).
    """
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
    _CHILDREN[proc.pid] = proc
    return proc
