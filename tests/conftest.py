"""Shared fixtures: one real store endpoint per test session, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.storeproc import StoreProcess, start_store


def _shared() -> Path:
    from marketintel.config import shared_dir

    return shared_dir()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only shared inputs (MI_SHARED_DIR, default ../shared); skips the test where absent."""
    path = _shared()
    if not path.is_dir():
        pytest.skip(f"shared inputs not found at {path} (set MI_SHARED_DIR to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    """A real `mi store serve` on a temporary data directory, shared by the whole test session."""
    root = tmp_path_factory.mktemp("store")
    proc = start_store(root / "data", env={"MI_DATA_DIR": str(root)})
    yield proc
    code = proc.stop()
    assert code == 0, f"store exited with {code}:\n{proc.log_text()[-3000:]}"


@pytest.fixture(scope="session")
def ch_client(store: StoreProcess) -> Any:
    """A clickhouse-connect client (library defaults: compression on, tz-aware UTC) on the session store."""
    return store.client()


@pytest.fixture
def ch_database(ch_client: Any) -> Iterator[str]:
    """A fresh, empty database for one test (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    ch_client.command(f"CREATE DATABASE {name}")
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture(scope="session", autouse=True)
def _no_store_left_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the session when a test started the local store of its own data directory and left it running.

    Code under test starts the local endpoint where it is the configured store (``ensure_store``); a test
    that reaches it without pointing ``MI_CLICKHOUSE_URL`` at the session store would leak a server.
    """
    yield
    from marketintel.store.endpoint.process import read_state, stop

    leaked = []
    for state_file in tmp_path_factory.getbasetemp().rglob("mi-data/store/mi-endpoint.json"):
        if read_state(state_file.parent) is not None:
            leaked.append(str(state_file.parent))
            stop(state_file.parent)
    assert not leaked, f"tests left the local store running (stopped now): {leaked}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the user's own data directory, store and users file."""
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "mi-data"))
    for name in (
        "MI_CLICKHOUSE_URL",
        "MI_STORE_USERS_FILE",
        "MI_STORE_CLUSTER",
        "MI_STORE_PORT",
        "MI_STORE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store_env(monkeypatch: pytest.MonkeyPatch, store: StoreProcess) -> StoreProcess:
    """Point MI_CLICKHOUSE_URL at the session store, so `marketintel.store.connect()` reaches it."""
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/default")
    return store
