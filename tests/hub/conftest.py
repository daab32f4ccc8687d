"""A real hub for the hub and browser tests: `mi demo --no-pipeline` on a temporary data directory.

That is what a new user's `make demo` leaves (minus the Prefect flows): the local store with the sample
data, JupyterHub with configurable-http-proxy, the dashboards service, and one demo user per group whose
passwords are in `$MI_DATA_DIR/hub/demo-users.txt`. Every port is a free one, so a developer's own platform
keeps running beside the tests. One hub serves the tests of this package; `mi stop` ends it after them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from marketintel.config import shared_dir
from marketintel.hub import paths as hub_paths
from tests.storeproc import free_port

#: HTTP clients of the running test, closed after it
_CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


#: a bound on how long a test waits for the hub to do something (not a claim about speed: see benchmarks/)
WAIT_S = 60.0


@dataclass
class Platform:
    """The running platform of the test session."""

    data_dir: Path
    env: dict[str, str]
    url: str
    passwords: dict[str, str]
    demo_stdout: str
    extra_users: dict[str, str] = field(default_factory=dict)

    def mi(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run `mi ARGS` against this platform."""
        return subprocess.run(
            [sys.executable, "-m", "marketintel.cli", *args],
            env=self.env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def password(self, user: str) -> str:
        """Return a demo or test user's password."""
        return self.passwords.get(user) or self.extra_users[user]

    def login(self, user: str, password: str | None = None) -> tuple[httpx.Client, httpx.Response]:
        """Log in through the Hub's login form; return the client (its cookies) and the form's answer."""
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=WAIT_S)
        _CLIENTS.append(client)
        client.get("/hub/login")
        xsrf = client.cookies.get("_xsrf", path="/hub/") or ""
        answer = client.post(
            "/hub/login",
            data={"username": user, "password": self.password(user) if password is None else password,
                  "_xsrf": xsrf},
        )  # fmt: skip
        return client, answer


def platform_env(data_dir: Path) -> dict[str, str]:
    """The environment of a platform on ``data_dir`` with free ports (and a 2 s dashboards re-check)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MI_", "PREFECT_"))}
    shared = os.environ.get("MI_SHARED_DIR")
    if shared:
        env["MI_SHARED_DIR"] = shared
    env.update(
        MI_DATA_DIR=str(data_dir),
        MI_STORE_PORT=str(free_port()),
        MI_HUB_PORT=str(free_port()),
        MI_HUB_API_PORT=str(free_port()),
        MI_HUB_PROXY_API_PORT=str(free_port()),
        MI_DASHBOARDS_PORT=str(free_port()),
        MI_API_PORT=str(free_port()),
        MI_PREFECT_PORT=str(free_port()),
        MI_DASHBOARDS_RECHECK_S="2",
        MI_REPORTS_DIR=str(data_dir / "reports"),
    )
    return env


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """`mi demo` on a temporary data directory; `mi stop` at the end of the package's tests.

    With ``../shared`` (CI always has it) the whole demo runs: every flow once, so the dashboards have the
    demo's curves, backtest, data-quality results and flow runs. Without it: ``--no-pipeline``.
    """
    if not hub_paths.proxy_command().exists():
        pytest.skip(f"configurable-http-proxy not installed at {hub_paths.proxy_command()} (run make setup)")
    data_dir = tmp_path_factory.mktemp("hub") / "mi-data"
    env = platform_env(data_dir)
    cmd = [sys.executable, "-m", "marketintel.cli"]
    try:
        pipeline = [] if (shared_dir() / "fixtures").is_dir() else ["--no-pipeline"]
        demo = subprocess.run(
            [*cmd, "demo", *pipeline], env=env, capture_output=True, text=True, timeout=900, check=False
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        match = re.search(r"hub +(http://\S+) \(pid", demo.stdout)
        assert match, demo.stdout
        file = data_dir / "hub" / "demo-users.txt"
        passwords = dict(line.split(" ", 1) for line in file.read_text().splitlines())
        yield Platform(data_dir, env, match.group(1).rstrip("/"), passwords, demo.stdout)
    finally:
        stopped = subprocess.run([*cmd, "stop"], env=env, capture_output=True, text=True, timeout=300)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


# the browser fixtures (module-scoped Chromium, per-test contexts and screenshots) for every test module here
from tests.hub.browsing import KEPT, browser, screens  # noqa: E402, F401


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the screenshots kept in MI_TEST_SCREENSHOTS (``make test`` keeps them under build/), per page."""
    if KEPT:
        terminalreporter.section(f"screenshots ({len(KEPT)}, in {KEPT[0].parent})")
        for path in KEPT:
            terminalreporter.write_line(str(path))
