"""nbval: run the notebooks with their default parameters against a real, temporary store.

``pytest --nbval-lax notebooks/`` executes every notebook here in a kernel of its own. The kernels
inherit this process's environment, so a store (``mi store serve`` on a temporary data directory) is
started before the first notebook's kernel and ``MI_CLICKHOUSE_URL`` / ``MI_DATA_DIR`` point at it; it is
stopped when the session ends. nbval's cells are not pytest functions and get no fixtures, hence the hooks
below instead of a session fixture: the store starts in the first notebook cell's setup, before nbval
starts that notebook's kernel.

The notebooks run in flow order (ingest first, so that the data-quality notebook checks the rows the
ingest notebook stored). Without the shared inputs (``MI_SHARED_DIR``, default ``../shared``) every
notebook is skipped; the data-quality notebook is skipped until ``marketintel.quality`` exists.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
#: the order the notebooks run in; unknown notebooks run after these
ORDER = ("ingest", "curves", "backtest", "data_quality")
#: files a notebook leaves in its working directory (nbval runs kernels in notebooks/), removed at the end
OUTPUT_GLOBS = ("backtest_*.csv",)
_ENV = ("MI_CLICKHOUSE_URL", "MI_DATA_DIR")
_state: dict[str, Any] = {}


def _is_notebook_cell(item: pytest.Item) -> bool:
    path = Path(str(item.path))
    return path.suffix == ".ipynb" and path.parent == HERE


def _shared_dir() -> Path:
    from marketintel.config import shared_dir

    return shared_dir()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the notebooks in flow order; skip them where their inputs or library modules are missing."""
    slots = [k for k, item in enumerate(items) if _is_notebook_cell(item)]
    if not slots:
        return
    rank = {stem: k for k, stem in enumerate(ORDER)}
    cells = [items[k] for k in slots]
    order = sorted(range(len(cells)), key=lambda j: (rank.get(Path(str(cells[j].path)).stem, len(ORDER)), j))
    for k, j in zip(slots, order, strict=True):
        items[k] = cells[j]
    shared = _shared_dir()
    no_quality = importlib.util.find_spec("marketintel.quality") is None
    for item in cells:
        if not shared.is_dir():
            reason = f"shared inputs not found at {shared} (set MI_SHARED_DIR to the shared/ folder)"
            item.add_marker(pytest.mark.skip(reason=reason))
        elif no_quality and Path(str(item.path)).stem == "data_quality":
            reason = (
                "marketintel.quality is not there yet (being written): the data-quality notebook needs it"
            )
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start the store before the first notebook kernel starts (kernels inherit the environment)."""
    if "store" in _state or not _is_notebook_cell(item) or item.get_closest_marker("skip"):
        return
    root = Path(tempfile.mkdtemp(prefix="mi-nbval-"))
    repo = str(HERE.parent)
    if repo not in sys.path:  # tests/ is a package at the repository root
        sys.path.insert(0, repo)
    from tests.storeproc import start_store

    _state["saved_env"] = {name: os.environ.get(name) for name in _ENV}
    _state["outputs_before"] = {p for pattern in OUTPUT_GLOBS for p in HERE.glob(pattern)}
    _state["root"] = root
    _state["store"] = start_store(root / "data", env={"MI_DATA_DIR": str(root)})
    os.environ["MI_CLICKHOUSE_URL"] = f"{_state['store'].url}/default"
    os.environ["MI_DATA_DIR"] = str(root)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the store, restore the environment and remove what the notebooks wrote next to themselves."""
    store = _state.pop("store", None)
    if store is None:
        return
    code = store.stop()
    for name, value in _state.pop("saved_env").items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    before = _state.pop("outputs_before")
    for path in {p for pattern in OUTPUT_GLOBS for p in HERE.glob(pattern)} - before:
        path.unlink(missing_ok=True)
    if code != 0:
        print(f"\nnotebook store exited with {code}:\n{store.log_text()[-3000:]}", file=sys.stderr)
    shutil.rmtree(_state.pop("root"), ignore_errors=True)
