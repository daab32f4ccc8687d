"""The HTML backtest report: papermill execution, code-free offline HTML, clear errors."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from marketintel.backtest.report import (
    TEMPLATE_PATH,
    ReportError,
    format_value,
    register_report,
    render_report,
    template_notebook,
)
from marketintel.backtest.scoring import ForecastFileError, score_frame
from marketintel.exceptions import MarketIntelError

NP_FILE = "datasets/epftoolbox/forecasts/Forecasts_NP_DNN_LEAR_ensembles.csv"
DAYS = 60


def _np_head(shared: Path, out: Path, days: int) -> Path:
    """Write the first ``days`` days of the NP published forecasts to ``out``."""
    raw = pd.read_csv(shared / NP_FILE, index_col=0)
    raw.iloc[: days * 24].to_csv(out)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The report of the NP file's first 60 days: (csv, html).

    How long rendering takes is measured by ``benchmarks/lear.py --report``, not asserted here.
    """
    from marketintel.config import shared_dir

    shared = shared_dir()
    if not (shared / NP_FILE).is_file():
        pytest.skip(f"{NP_FILE} not found under {shared} (set MI_SHARED_DIR)")
    root = tmp_path_factory.mktemp("report")
    csv = _np_head(shared, root / "np_60d.csv", DAYS)
    html = render_report(csv, root / "out" / "report.html", market="NP", title="NP, first 60 days")
    return csv, html


def test_committed_template_is_the_generated_one() -> None:
    committed = json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    built = template_notebook()
    assert [
        c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in committed["cells"]
    ] == [c.source for c in built.cells], "regenerate with marketintel.backtest.report.write_template()"
    tagged = [c for c in committed["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    assert all(c["cell_type"] == "code" and not c["outputs"] for c in committed["cells"])


@pytest.mark.slow
@pytest.mark.shared
def test_report_contents(rendered: tuple[Path, Path]) -> None:
    csv, html_path = rendered
    assert html_path.is_file()
    assert html_path.with_suffix(".ipynb").is_file(), "the executed notebook is kept next to the report"
    page = html_path.read_text(encoding="utf-8")

    # Title, period, source, sections.
    assert "<title>NP, first 60 days</title>" in page
    assert "2016-12-27 00:00:00 .. 2017-02-24 23:00:00" in page
    assert csv.name in page
    for heading in (
        "Accuracy over the period",
        "Error by hour of day",
        "Rolling accuracy (28 days)",
        "Forecasts against the actual (last 28 days)",
        "Tests of equal accuracy (Diebold-Mariano, Giacomini-White)",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert "Not computed" not in page

    # The score table carries score_frame's values, formatted as in format_table.
    frame = pd.read_csv(csv, index_col=0, parse_dates=True)
    scores = score_frame(frame, "Real price")
    for model in ("DNN Ensemble", "LEAR 1456"):
        row = re.search(rf'<tr><th class="mi-model">{re.escape(model)}</th>(.*?)</tr>', page)
        assert row is not None, model
        cells = re.findall(r"<td>(?:<b>)?([^<]*)(?:</b>)?</td>", row.group(1))
        expected = [format_value(scores.loc[model, c], c) for c in ("MAE", "rMAE", "sMAPE", "RMSE", "MAPE")]
        assert cells[:5] == expected
    mae = f"{scores.loc['DNN Ensemble', 'MAE']:.3f}"
    assert re.search(rf"<td>(<b>)?{mae}(</b>)?</td>", page)

    # No code: no inputs, no prompts, no <pre> blocks (looked for outside the CSS and the scripts).
    body = page.split("<body", 1)[1]
    markup = re.sub(r"<(style|script)\b.*?</\1>", "", body, flags=re.DOTALL)
    for prompt in ("In&nbsp;[", "Out[", "jp-InputPrompt", "jp-OutputPrompt", 'class="jp-InputArea', "<pre"):
        assert prompt not in markup, prompt
    assert "report.load_forecasts" not in page and "display(HTML(" not in page

    # Offline: BokehJS inlined exactly once, one Bokeh document per figure, no script from the network.
    assert page.count("/* BEGIN bokeh.min.js */") == 1
    assert page.count('<div class="mi-figure">') == 5  # hour, rolling, recent, DM, GW
    assert "plotly" not in page.lower()
    assert not re.search(r"<script[^>]*src=[\"']?https?://", page)
    assert "cdn.bokeh.org" not in markup
    assert "require.min.js" not in page and "MathJax.js" not in page and "mermaid" not in page

    # The kernel ran the caller's interpreter (the footer says which).
    assert f"at {sys.executable}." in page


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(ForecastFileError, match=r"no forecast file at .*nope\.csv") as info:
        render_report(missing, tmp_path / "r.html")
    assert isinstance(info.value, MarketIntelError)
    assert not (tmp_path / "r.ipynb").exists(), "no kernel is started for a bad input"


def _small_csv(path: Path) -> Path:
    stamps = pd.date_range("2024-01-01", periods=48, freq="h")
    pd.DataFrame({"price": range(48), "m1": range(48)}, index=stamps).to_csv(path)
    return path


def test_missing_columns_name_the_columns_found(tmp_path: Path) -> None:
    csv = _small_csv(tmp_path / "f.csv")
    with pytest.raises(
        ForecastFileError, match=r"no actual column 'Real price'; columns found: \['price', 'm1'\]"
    ):
        render_report(csv, tmp_path / "r.html")
    with pytest.raises(ForecastFileError, match=r"no model column\(s\) \['m2'\]; columns found"):
        render_report(csv, tmp_path / "r.html", actual="price", models=["m1", "m2"])


@pytest.mark.slow
def test_notebook_failure_carries_its_error_text(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('forecasts_path = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell('raise ValueError(f"boom in {forecasts_path}")')]
    template = tmp_path / "failing.ipynb"
    nbformat.write(nb, template)
    csv = _small_csv(tmp_path / "f.csv")
    out = tmp_path / "r.html"
    with pytest.raises(ReportError, match=r"ValueError: boom in .*f\.csv") as info:
        render_report(csv, out, actual="price", template=template)
    assert isinstance(info.value, MarketIntelError)
    assert str(out.with_suffix(".ipynb")) in str(info.value)
    assert out.with_suffix(".ipynb").is_file() and not out.exists()


@pytest.mark.slow
@pytest.mark.shared
def test_cli_report(shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = _np_head(shared_dir, tmp_path / "np_35d.csv", 35)
    parser = argparse.ArgumentParser(prog="mi backtest")
    register_report(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli" / "r.html"
    args = parser.parse_args(
        ["report", str(csv), "--out", str(out), "--models", "DNN Ensemble", "LEAR Ensemble", "--market", "NP"]
    )
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert f"report: {out.resolve()}" in printed
    page = out.read_text(encoding="utf-8")
    assert '<th class="mi-model">LEAR Ensemble</th>' in page and '<th class="mi-model">DNN 1</th>' not in page
    assert "<b>Market</b>: NP" in page


def test_cli_requires_out() -> None:
    parser = argparse.ArgumentParser(prog="mi backtest")
    register_report(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "f.csv"])


def _hourly_frame(days: int) -> pd.DataFrame:
    stamps = pd.date_range("2024-01-01", periods=days * 24, freq="h")
    actual = pd.Series(range(days * 24), index=stamps, dtype=float) % 24 + 40
    return pd.DataFrame({"price": actual, "m1": actual + 1.0, "m2": actual - 2.0}, index=stamps)


def test_sections_without_a_kernel() -> None:
    """The notebook's cells, called directly: Bokeh figures from marketintel.figures, BokehJS inlined once."""
    from marketintel.backtest import report, sections
    from marketintel.figures import FigureEmbedder

    assert report.FigureEmbedder is FigureEmbedder  # the notebooks import it from the report module
    assert report.format_value is sections.format_value and report.ReportError is sections.ReportError
    frame = _hourly_frame(10)
    figures = FigureEmbedder()
    hourly = report.hourly_section(frame, "price", ["m1", "m2"], figures)
    assert "<h2>Error by hour of day</h2>" in hourly and "/* BEGIN bokeh.min.js */" in hourly
    recent = report.recent_section(frame, "price", ["m2", "m1"], figures, days=3)
    assert "Forecasts against the actual (last 3 days)" in recent and "bokeh.min.js" not in recent
    assert '<div class="mi-figure">' in recent
    short = report.rolling_section(frame, "price", ["m1", "m2"], figures, window_days=28)
    assert "Not computed" in short
    metrics = report.metrics_section(frame, "price", ["m1", "m2"])
    assert '<tr><th class="mi-model">m1</th><td><b>1.000</b></td>' in metrics
    with pytest.raises(ReportError, match="at least 1 day"):
        report.recent_section(frame, "price", ["m1"], figures, days=0)


def _source(fig: object, name: str) -> dict[str, list[object]]:
    """The data of the figure's ColumnDataSource called ``name``, as lists."""
    from bokeh.models import ColumnDataSource

    (source,) = [m for m in fig.select({"type": ColumnDataSource}) if m.name == name]  # type: ignore[attr-defined]
    return {k: list(v) for k, v in source.data.items()}


def test_figure_builders_draw_what_they_are_given() -> None:
    from bokeh.models import Span

    from marketintel.figures import FigureError
    from marketintel.figures.backtest import (
        forecast_figure,
        hourly_mae_figure,
        metric_by_group_figure,
        pvalue_figure,
        recent_figure,
        rolling_figure,
    )

    by_hour = pd.DataFrame({"b": [1.0, 2.0], "a": [3.0, 4.0]}, index=pd.Index([0, 1], name="hour"))
    fig = hourly_mae_figure(by_hour, unit="EUR/MWh")
    assert [item.label["value"] for item in fig.legend[0].items] == ["b", "a"]
    assert _source(fig, "hourly_mae") == {"hour": [0, 1], "m0": [1.0, 2.0], "m1": [3.0, 4.0]}
    assert fig.yaxis[0].axis_label == "MAE [EUR/MWh]" and fig.xaxis[0].axis_label == "hour of day [h]"

    p = pd.DataFrame([[float("nan"), 0.01], [0.5, float("nan")]], index=["x", "y"], columns=["x", "y"])
    heat = pvalue_figure(p, "DM")
    cells = _source(heat, "p_values")
    assert heat.title.text == "DM" and cells["text"] == ["n/a", "0.010", "0.500", "n/a"]
    assert cells["colour"][2] == "#000000" and cells["colour"][1] != "#000000"  # coloured below 0.1 only

    months = pd.DataFrame({"m": [1.0, 2.0]}, index=["2024-01", "2024-02"])
    bars = metric_by_group_figure(months, metric="MAE", unit="EUR/MWh", group="month", group_unit="YYYY-MM")
    assert list(bars.x_range.factors) == ["2024-01", "2024-02"]
    assert bars.xaxis[0].axis_label == "month [YYYY-MM]"

    frame = _hourly_frame(2).tz_localize("UTC")
    drawn = forecast_figure(frame, "price", ["m1"], title="t", unit="EUR/MWh", tz="Europe/Oslo")
    data = _source(drawn, "forecast_vs_actual")
    assert pd.Timestamp(data["time"][0]) == pd.Timestamp("2024-01-01 01:00")  # wall clock of Oslo
    assert drawn.xaxis[0].axis_label == "delivery start [Europe/Oslo]"

    rolling = pd.DataFrame(
        {"model": ["m1", "m1"], "window_end_utc": pd.to_datetime(["2024-01-08", "2024-01-09"], utc=True),
         "mae": [1.0, 2.0], "rmae": [0.5, 1.2]}
    )  # fmt: skip
    layout = rolling_figure(rolling, ["m1"], window_days=7, unit="EUR/MWh")
    spans = sorted(s.location for s in layout.select({"type": Span}))
    assert spans == [1.0, 1.5]  # the accuracy alerts' thresholds on the rMAE
    assert _source(layout, "rolling m1")["rmae"] == [0.5, 1.2]
    with pytest.raises(FigureError, match="at least 1 day"):
        recent_figure(_hourly_frame(2), "price", ["m1"], days=0)
