"""The quants' getting-started notebook runs as a store *reader*, plots a series and shows a table.

It is executed in the project's environment (the ``marketintel`` kernel of the quants' servers) against a
real store that holds the demo sample, with ``MI_CLICKHOUSE_URL`` carrying a user of role ``reader``: any
write would be refused, and the test also checks that no table changed. A second run against an empty
database checks that it says so instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from marketintel.notebooks import python_kernel
from marketintel.store import migrate
from marketintel.store.endpoint.auth import write_user
from tests.storeproc import StoreProcess, start_store

NOTEBOOK = (
    Path(__file__).resolve().parents[2] / "lib" / "marketintel" / "hub" / "home" / "getting_started.ipynb"
)
READER, PASSWORD = "quant", "read-only-pw"
HOLOVIEWS_MIME = "application/vnd.holoviews_exec.v0+json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reader_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    """A store with the demo sample in ``default``, an empty ``empty`` database, and a reader user.

    The users file exists before the store starts, so the reader is known without a reload or restart.
    """
    from marketintel.services.sample import load_sample

    root = tmp_path_factory.mktemp("getting-started")
    users = root / "users.toml"
    write_user(users, READER, "reader", PASSWORD)  # keeps `default` (admin, loopback only) for loading
    store = start_store(root / "data", "--users", str(users), env={"MI_DATA_DIR": str(root)})
    try:
        admin = store.client()
        migrate(admin)
        load_sample(client=admin)
        admin.command("CREATE DATABASE empty")
        migrate(admin, database="empty")
        yield store
    finally:
        code = store.stop()
        assert code == 0, f"store exited with {code}:\n{store.log_text()[-3000:]}"


def _tables(store: StoreProcess) -> list[tuple[Any, ...]]:
    """Every data table with its row count (what a write would change).

    ``mi_system`` is the endpoint's own bookkeeping (its query log grows with every read), not data.
    """
    rows = store.client().query(
        "SELECT database, name, total_rows FROM system.tables "
        "WHERE database NOT IN ('system', 'mi_system', 'INFORMATION_SCHEMA', 'information_schema') "
        "ORDER BY database, name"
    )
    return [tuple(r) for r in rows.result_rows]


def _run(store: StoreProcess, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"http://{READER}:{PASSWORD}@127.0.0.1:{store.port}/{database}")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # the quants' kernel (`mi hub up` installs it into .venv); here a kernelspec of this interpreter
    assert nb.metadata["kernelspec"]["name"] == "marketintel"
    with python_kernel() as kernel_name:
        NotebookClient(
            nb, timeout=120, kernel_name=kernel_name, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    return nb


def _outputs(nb: Any, cell_id: str) -> list[Any]:
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    return list(cell.outputs)


def _all_text(nb: Any) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for k, v in out.get("data", {}).items() if k.startswith("text/"))
    return "\n".join(parts)


def _stderr(nb: Any) -> list[str]:
    return [
        out["text"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]


def test_reader_credentials_are_read_only(reader_store: StoreProcess) -> None:
    reader = reader_store.client(username=READER, password=PASSWORD)
    assert reader.query("SELECT count() FROM prices").result_rows[0][0] > 0
    with pytest.raises(Exception, match=r"(?i)readonly"):
        reader.command("CREATE TABLE scratch (x UInt8) ENGINE = Memory")


def test_notebook_plots_and_tabulates_without_writing(
    reader_store: StoreProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _tables(reader_store)
    nb = _run(reader_store, "default", tmp_path, monkeypatch)
    assert _tables(reader_store) == before, "the notebook changed the store"
    assert not (tmp_path / "mi-data" / "store").exists(), "the notebook started a local store"
    assert _stderr(nb) == []

    plot = _outputs(nb, "hourly-plot")
    assert any(HOLOVIEWS_MIME in out.get("data", {}) for out in plot), plot
    html = "".join(out.get("data", {}).get("text/html", "") for out in plot)
    for label in ("Hour start (UTC)", "Price [EUR/MWh]", "hourly average"):  # axis labels with units, legend
        assert label in html, f"the plot lacks {label!r}"

    (table,) = [out for out in _outputs(nb, "daily-table") if "text/html" in out.get("data", {})]
    body = table["data"]["text/html"]
    assert "<table" in body
    assert "price_avg" in body and "n_intervals" in body
    assert body.count("<tr") >= 3, "the daily table has no rows"  # header + at least 2 days


def test_notebook_says_so_when_the_store_is_empty(
    reader_store: StoreProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _run(reader_store, "empty", tmp_path, monkeypatch)
    text = _all_text(nb)
    assert "The store holds no prices yet" in text
    assert not any(HOLOVIEWS_MIME in out.get("data", {}) for out in _outputs(nb, "hourly-plot"))
