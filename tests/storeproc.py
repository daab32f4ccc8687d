"""Start and stop real `mi store serve` processes for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect

from marketintel.store.endpoint.process import serve_command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StoreProcess:
    path: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> Any:
        options: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "tz_mode": "schema"}
        options.update(kwargs)
        return clickhouse_connect.get_client(**options)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


#: how long a test waits for something the store should do promptly: a bound on the wait, not a claim
#: about the time (figures are measured in benchmarks/, not asserted on shared CI machines)
WAIT_S = 30.0


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = WAIT_S, every: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` if it still does not after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not the case after waiting {timeout:g} s")
        time.sleep(every)


def ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ping", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def start_store(
    path: Path, *extra: str, port: int | None = None, env: dict[str, str] | None = None, wait: bool = True
) -> StoreProcess:
    """Start `mi store serve` on `path` and wait until it answers /ping."""
    port = port or free_port()
    path.mkdir(parents=True, exist_ok=True)
    log = path.parent / f"{path.name}-{port}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("MI_DATA_DIR", str(path.parent))
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            serve_command(path, port, extra_args=extra),
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
    sp = StoreProcess(path, port, proc, log)
    if wait:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"store exited with {proc.returncode}:\n{sp.log_text()}")
            if ping(sp.url):
                return sp
            time.sleep(0.05)
        proc.kill()
        raise RuntimeError(f"store did not answer within 60 s:\n{sp.log_text()}")
    return sp
