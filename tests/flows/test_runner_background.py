"""The background flow runner: started detached, its deployments READY in Prefect, `mi status`, `mi stop`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketintel import config
from tests.storeproc import free_port, wait_until

pytestmark = pytest.mark.slow

#: bound on waiting for the runner to serve (it imports the flows, registers, polls): not a claim on speed
READY_WAIT_S = 90.0


@pytest.fixture
def platform_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A temporary data directory, free ports and a reports folder, for this process and `mi` subprocesses."""
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MI_PREFECT_PORT", str(free_port()))
    monkeypatch.setenv("MI_STORE_PORT", str(free_port()))
    monkeypatch.setenv("MI_REPORTS_DIR", str(tmp_path / "reports"))  # where a due run would write
    for name in ("MI_CLICKHOUSE_URL", "MI_PREFECT_API_URL", "PREFECT_API_URL", "PREFECT_HOME"):
        monkeypatch.delenv(name, raising=False)
    yield dict(os.environ)
    from marketintel.flows import runner, server
    from marketintel.store.endpoint.process import read_state

    runner.stop()  # whatever a failed test left running
    server.down()
    from marketintel import processes

    for pid, child in list(processes._CHILDREN.items()):  # stopped by `mi stop`: reap it here
        if child.poll() is not None:
            processes._CHILDREN.pop(pid)
    store = read_state(config.store_dir())
    if store is not None:
        subprocess.run([sys.executable, "-m", "marketintel.cli", "store", "stop"], check=False, timeout=120)


def mi(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketintel.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_runner_serves_the_deployments_status_shows_every_part_and_stop_ends_them(
    platform_env: dict[str, str],
) -> None:
    from marketintel.flows import runner, server

    prefect = server.up(port=config.prefect_port(), home=config.prefect_home(), progress=False)
    store = mi("store", "start", env=platform_env)
    assert store.returncode == 0, store.stderr

    started = mi("flows", "start", env=platform_env)
    assert started.returncode == 0, started.stdout + started.stderr
    background = runner.read_state()
    assert background is not None and background.api_url == prefect.api_url
    assert background.log == config.prefect_home() / "runner.log" and background.log.exists()
    assert os.getpgid(background.pid) == background.pid  # its own process group

    from marketintel.flows.deployments import SCHEDULES

    names = runner.deployment_names()
    assert len(names) == len(SCHEDULES) > 6 and background.deployments == names

    def serving() -> bool:
        states = runner.deployment_status(prefect.api_url, names)
        return all(s.status == "READY" and not s.paused for s in states)

    wait_until(serving, "every deployment READY in Prefect", timeout=READY_WAIT_S, every=1.0)

    again = mi("flows", "serve", "--background", env=platform_env)  # idempotent: the same runner
    assert again.returncode == 0, again.stderr
    assert runner.read_state() == background

    status = mi("status", env=platform_env)
    # every part but the hub (not started here) is up: exit 1, and the hub's line says how to start it
    assert status.returncode == 1, status.stdout + status.stderr
    out = status.stdout
    assert f"data directory: {config.data_dir()}  (from MI_DATA_DIR)" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "up" in lines["store"].split() and f"127.0.0.1:{config.store_port()}" in lines["store"]
    assert "GiB free" in out and str(config.store_dir()) in lines["store"]
    assert "up" in lines["Prefect"].split() and prefect.ui_url in lines["Prefect"] and "healthy" in out
    n = len(names)
    assert "flow" in lines and f"pid {background.pid}, serving {n} of {n} deployments READY" in lines["flow"]
    assert "DOWN" in lines["hub"].split() and "mi hub up" in lines["hub"]

    pids: list[Any] = [background.pid, prefect.pid]
    stopped = mi("flows", "stop", env=platform_env)  # first the runner: Prefect pauses its schedules
    assert stopped.returncode == 0 and f"flow runner stopped (pid {background.pid})" in stopped.stdout
    assert not server.group_alive(background.pid)
    paused = runner.deployment_status(prefect.api_url, names)
    assert all(s.paused for s in paused), paused  # no backlog of late runs while nothing serves them
    down = mi("status", env=platform_env)
    assert down.returncode == 1 and "DOWN  not running (mi flows start)" in down.stdout

    result = mi("stop", env=platform_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Prefect server stopped" in result.stdout and "store stopped" in result.stdout
    for pid in pids:
        assert not server.pid_alive(pid) and not server.group_alive(pid)
    assert runner.read_state() is None and server.read_state() is None
    final = mi("status", env=platform_env)
    assert final.returncode == 1
    assert final.stdout.count(" DOWN  ") == 4 and " up " not in final.stdout, final.stdout


def test_status_says_how_to_start_each_part_that_is_down(platform_env: dict[str, str]) -> None:
    from marketintel.cli import platform_status

    parts = {p.part: p for p in platform_status()}
    assert set(parts) >= {"store", "Prefect", "flow runner"}
    assert not any(p.ok for p in parts.values())
    assert "mi store start" in parts["store"].text and "mi prefect up" in parts["Prefect"].text
    assert "mi flows start" in parts["flow runner"].text
