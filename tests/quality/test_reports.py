"""The ingest and data-quality reports draw Bokeh figures with BokehJS inlined once: they open offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from marketintel.config import REPO_ROOT
from marketintel.notebooks import execute, export_html

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
#: what BokehJS's inline bundle starts with (its licence banner names the version)
BOKEHJS = "Bokeh Contributors"


def _offline(page: str) -> None:
    assert "plotly" not in page.lower(), "plotly left the reports"
    assert '<script src="http' not in page and "cdn.bokeh.org" not in page, "the report must open offline"
    assert 'class="mi-figure"' in page


@pytest.mark.shared
def test_ingest_and_data_quality_reports_embed_bokeh_inline(
    shared_dir: Path, store: Any, ch_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")  # the kernels inherit it
    ingested = execute(NOTEBOOK_DIR / "ingest.ipynb", tmp_path / "ingest.ipynb", {"run_id": "report-test"})
    page = export_html(ingested, tmp_path / "ingest.html", title="Ingest").read_text(encoding="utf-8")
    _offline(page)
    assert page.count('class="mi-figure"') == 1
    assert "interval start [UTC]" in page and "price [USD/MWh]" in page

    checked = execute(NOTEBOOK_DIR / "data_quality.ipynb", tmp_path / "dq.ipynb", {"run_id": "report-test"})
    page = export_html(checked, tmp_path / "dq.html", title="Data quality").read_text(encoding="utf-8")
    _offline(page)
    assert page.count('class="mi-figure"') == 2  # completeness per local day, the series with its gap
    assert len(re.findall(r"Bokeh Contributors", page)) >= 1
    assert "local day [America/Chicago]" in page and "interval start [America/Chicago]" in page
    assert "missing intervals (1)" in page  # the interval whose file SPP served empty
    assert "1 of 4 expected 5min intervals missing" in page
