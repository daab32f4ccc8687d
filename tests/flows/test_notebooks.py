"""The flows' notebooks are contracts: parameters equal the models, pairs in sync, reports without code."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest

from marketintel.config import REPO_ROOT
from marketintel.flows.params import NOTEBOOKS
from marketintel.notebooks import execute, export_html, notebook_parameters
from tests.storeproc import StoreProcess

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
STEMS = sorted({stem for stem, _ in NOTEBOOKS.values()})


def _cells(nb: Any) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("flow", sorted(NOTEBOOKS))
def test_parameters_cell_equals_the_flow_model(flow: str) -> None:
    stem, model = NOTEBOOKS[flow]
    found = notebook_parameters(NOTEBOOK_DIR / f"{stem}.ipynb")
    fields = model.model_fields
    assert sorted(found) == sorted(fields), f"{stem}.ipynb parameters differ from {model.__name__}"
    for name, field in fields.items():
        annotation = field.annotation
        assert isinstance(annotation, type), f"{model.__name__}.{name}: annotation {annotation!r}"
        assert found[name]["inferred_type_name"] == annotation.__name__, (name, found[name])
        default = ast.literal_eval(found[name]["default"])
        assert type(default) is annotation, (name, found[name]["default"])
        assert default == field.default, (name, found[name]["default"], field.default)


@pytest.mark.parametrize("stem", STEMS)
def test_pairs_in_sync_and_outputs_stripped(stem: str) -> None:
    py = jupytext.read(NOTEBOOK_DIR / f"{stem}.py")
    ipynb = nbformat.read(NOTEBOOK_DIR / f"{stem}.ipynb", as_version=4)
    assert _cells(py) == _cells(ipynb), f"run `jupytext --sync notebooks/{stem}.py`"
    for cell in ipynb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{stem}.ipynb holds outputs: strip them"
            assert cell.execution_count is None, f"{stem}.ipynb holds execution counts: strip them"
    assert ipynb.metadata.get("kernelspec", {}).get("name") == "python3"
    first = ipynb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell is the title"
    tagged = [c for c in ipynb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"


@pytest.mark.shared
@pytest.mark.slow
def test_backtest_report_has_no_code(shared_dir: Path, tmp_path: Path, store_env: StoreProcess) -> None:
    """The report shows no code; the backtest is stored (in the session store, not a store of its own)."""
    executed = execute(
        NOTEBOOK_DIR / "backtest.ipynb",
        tmp_path / "backtest.ipynb",
        {"model": "naive", "days": 7},
        timeout_s=120,
    )
    page = export_html(executed, tmp_path / "backtest.html", title="Backtest NP").read_text(encoding="utf-8")
    # the notebook's code would show as highlighted tokens; the reader sees none of it
    for token in ("run_backtest", "panel_from_epftoolbox", "FigureEmbedder", "score_frame"):
        assert token not in page, f"code ({token}) shows in the report"
    assert 'class="jp-CodeMirrorEditor' not in page and 'class="highlight' not in page, "code cells show"
    assert "Forecast backtest" in page and "EUR/MWh" in page and "/* BEGIN bokeh.min.js */" in page
    assert '<script src="http' not in page, "the report must open offline"
    forecasts = list(tmp_path.glob("backtest_NP_naive_2016-12-27_7d_*.csv"))
    assert len(forecasts) == 1, "the forecasts CSV goes to the working directory"
    assert len(forecasts[0].read_text().splitlines()) == 1 + 7 * 24
    run_id = forecasts[0].stem.rsplit("_", 1)[1]
    stored = store_env.client().command(
        "SELECT count() FROM backtest_metrics FINAL "
        "WHERE startsWith(run_id, {r:String}) AND group_by = 'all'",
        parameters={"r": run_id},
    )
    assert stored > 0, "the backtest's metrics are stored"


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("marketintel.quality") is None,
    reason="marketintel.quality is not there yet: the data-quality notebook needs it",
)
def test_ingest_then_data_quality(
    shared_dir: Path, store: Any, ch_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")  # the kernels inherit it
    ingested = execute(NOTEBOOK_DIR / "ingest.ipynb", tmp_path / "ingest.ipynb", {"run_id": "test-run"})
    text = json.dumps(nbformat.read(ingested, as_version=4).cells)
    assert "offline: replaying recorded responses from ../shared/fixtures" in text
    assert "empty file" in text  # the quarantined 08:45 payload and its reason
    checked = execute(NOTEBOOK_DIR / "data_quality.ipynb", tmp_path / "dq.ipynb", {"run_id": "test-run"})
    text = json.dumps(nbformat.read(checked, as_version=4).cells)
    assert "1 of 4 expected 5min intervals missing" in text  # the quarantined interval is caught
    client = store.client(database=ch_database)
    rows = client.query("SELECT check_name, status FROM data_quality WHERE run_id = 'test-run'").result_rows
    assert dict(rows) == {
        "freshness": "pass",
        "completeness": "fail",
        "duplicates": "pass",
        "anomalies": "pass",
    }
