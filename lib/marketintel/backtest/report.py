"""HTML backtest report of a forecast file: ``mi backtest report FORECASTS.csv --out REPORT.html``.

The report is a parameterised notebook (``templates/backtest_report.ipynb``) that papermill executes in a
kernel running this very interpreter, and that nbconvert exports without its code (inputs and prompts
left out): a self-contained HTML page that opens offline, plotly.js being inlined once and no script
coming from the network (no require.js, MathJax or mermaid from a CDN).

Contents: title, period and data source; the score table of :func:`marketintel.backtest.scoring.score_frame`
(MAE, rMAE, sMAPE, RMSE, MAPE with the hours left out, WAPE, MASE); MAE by hour of day; the rolling
28-day MAE and rMAE (:func:`marketintel.backtest.monitor.rolling_metrics`); forecasts against the actual
over the last days; the multivariate DM and GW p-value matrices (absolute loss,
:func:`marketintel.backtest.stats.pairwise_test_matrix`).

The notebook holds no analysis code: every cell calls a function of this module, which the tests can call
directly. :func:`template_notebook` builds the template; the committed file must equal it
(``tests/backtest/test_report.py`` checks).
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from marketintel.backtest.monitor import MonitorError, rolling_metrics
from marketintel.backtest.scoring import DECIMALS, ForecastFileError, read_forecast_file, score_frame
from marketintel.backtest.stats import HOURS_PER_DAY, StatTestError, pairwise_test_matrix
from marketintel.exceptions import MarketIntelError
from marketintel.notebooks import execution_error, export_html, python_kernel

log = logging.getLogger(__name__)

#: The parameterised notebook papermill executes.
TEMPLATE_PATH: Final[Path] = Path(__file__).parent / "templates" / "backtest_report.ipynb"
#: Columns of the score table and their headers.
TABLE_HEADERS: Final[dict[str, str]] = {
    "MAE": "MAE",
    "rMAE": "rMAE",
    "sMAPE": "sMAPE [%]",
    "RMSE": "RMSE",
    "MAPE": "MAPE [%]",
    "MAPE_left_out": "MAPE hours left out",
    "WAPE": "WAPE [%]",
    "MASE": "MASE",
}
#: Significance level below which the p-value heat maps are coloured  [-].
P_COLOURED: Final[float] = 0.1
_STYLE: Final[str] = """<style>
.mi-report { font-family: system-ui, sans-serif; }
.mi-report table.mi-scores { border-collapse: collapse; margin: 0.5em 0; }
.mi-report table.mi-scores th, .mi-report table.mi-scores td { padding: 3px 10px; text-align: right;
  border-bottom: 1px solid #ddd; }
.mi-report table.mi-scores th.mi-model { text-align: left; }
.mi-report .mi-note { color: #555; font-size: 0.9em; }
</style>"""


class ReportError(MarketIntelError, RuntimeError):
    """The report could not be rendered (bad input, kernel failure, export failure)."""


# --------------------------------------------------------------------------------------------------------
# Content: what the notebook's cells call
# --------------------------------------------------------------------------------------------------------
def load_forecasts(
    path: str | Path, actual: str = "Real price", models: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Read a forecast file and check its columns.

    Parameters
    ----------
    path : str or pathlib.Path
        Forecast CSV (:func:`marketintel.backtest.scoring.read_forecast_file`)  [price unit].
    actual : str
        Column of observed prices.
    models : sequence of str, optional
        Model columns (default: every column but ``actual``, in file order).

    Returns
    -------
    tuple of (pandas.DataFrame, list of str)
        The frame (DatetimeIndex) and the model columns.

    Raises
    ------
    ForecastFileError
        If the file is missing or malformed, or a column is missing (the message lists the columns found).
    """
    frame = read_forecast_file(path)
    found = [str(c) for c in frame.columns]
    if actual not in frame.columns:
        raise ForecastFileError(f"{path}: no actual column {actual!r}; columns found: {found}")
    chosen = [c for c in found if c != actual] if models is None else [str(m) for m in models]
    missing = [m for m in chosen if m not in frame.columns]
    if missing:
        raise ForecastFileError(f"{path}: no model column(s) {missing}; columns found: {found}")
    if not chosen:
        raise ForecastFileError(f"{path}: no model columns besides {actual!r}; columns found: {found}")
    return frame, chosen


def format_value(value: object, column: str) -> str:
    """Format one score as the table prints it (the decimals of ``format_table``; ``n/a`` for NaN).

    Parameters
    ----------
    value : object
        The score (float, or the integer count ``MAPE_left_out``).
    column : str
        Its column in :data:`TABLE_HEADERS`.

    Returns
    -------
    str
        E.g. ``"1.667"`` for an MAE, ``"4.85"`` for an sMAPE in %.
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    digits = DECIMALS.get(column, 0)
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def scores_html(scores: pd.DataFrame) -> str:
    """Render a score table (:func:`score_frame`) as HTML; the best value of each column in bold.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per model (index ``model``), columns of :data:`TABLE_HEADERS`.

    Returns
    -------
    str
        An HTML ``<table class="mi-scores">``.
    """
    columns = [c for c in TABLE_HEADERS if c in scores.columns]
    best = {
        c: float(np.nanmin(scores[c].to_numpy(dtype=np.float64)))
        for c in columns
        if c != "MAPE_left_out" and np.isfinite(scores[c].to_numpy(dtype=np.float64)).any()
    }
    head = "".join(f"<th>{html.escape(TABLE_HEADERS[c])}</th>" for c in columns)
    rows = []
    for model, row in scores.iterrows():
        cells = []
        for c in columns:
            text = format_value(row[c], c)
            bold = c in best and text != "n/a" and text == format_value(best[c], c)
            cells.append(f"<td><b>{text}</b></td>" if bold else f"<td>{text}</td>")
        rows.append(f'<tr><th class="mi-model">{html.escape(str(model))}</th>{"".join(cells)}</tr>')
    return (
        f'<table class="mi-scores"><thead><tr><th class="mi-model">model</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def header_html(
    frame: pd.DataFrame, source: str | Path, models: Sequence[str], *, title: str = "", market: str = ""
) -> str:
    """Title, period, data source and model list of the report.

    Parameters
    ----------
    frame : pandas.DataFrame
        The forecast frame (DatetimeIndex).
    source : str or pathlib.Path
        Where the data came from (the forecast file).
    models : sequence of str
        The models reported.
    title : str
        Report title; default ``"Backtest report: <file name>"``.
    market : str
        Market label shown under the title ("" for none).

    Returns
    -------
    str
        HTML (with the report's CSS).
    """
    name = Path(source).name
    shown = title or f"Backtest report: {name}"
    index = pd.DatetimeIndex(frame.index)
    n_days = index.normalize().nunique()
    lines = [
        f"<b>Period</b>: {index[0]} .. {index[-1]} ({len(frame):,} periods, {n_days:,} days)",
        f"<b>Data source</b>: {html.escape(str(Path(source).resolve()))}",
        f"<b>Models</b>: {html.escape(', '.join(models))}",
    ]
    if market:
        lines.insert(0, f"<b>Market</b>: {html.escape(market)}")
    body = "".join(f"<p>{line}</p>" for line in lines)
    return f'{_STYLE}<div class="mi-report"><h1>{html.escape(shown)}</h1>{body}</div>'


def section_html(heading: str, body: str, note: str = "") -> str:
    """Return a report section: heading, body HTML and an optional explanatory note (plain text)."""
    extra = f'<p class="mi-note">{html.escape(note)}</p>' if note else ""
    return f'<div class="mi-report"><h2>{html.escape(heading)}</h2>{body}{extra}</div>'


def metrics_section(frame: pd.DataFrame, actual: str, models: Sequence[str]) -> str:
    """Return the score table section (overall metrics of every model, :func:`score_frame`)."""
    scores = score_frame(frame, actual, list(models))
    note = (
        "MAE and RMSE in price units; rMAE: MAE over the MAE of the weekly seasonal naive (same hour one "
        "week earlier, built from the actual column; it cannot forecast the first 7 days); MASE equals rMAE "
        "(no in-sample history); MAPE leaves out the hours with |price| <= 0.1 % of the mean |price| "
        "(counted in 'MAPE hours left out') and must not rank models alone. Best value of each column in "
        "bold."
    )
    return section_html("Accuracy over the period", scores_html(scores), note)


def hourly_mae_figure(frame: pd.DataFrame, actual: str, models: Sequence[str]) -> Any:
    """Line chart of the MAE per hour of day and model.

    Parameters
    ----------
    frame : pandas.DataFrame
        The forecast frame (DatetimeIndex).
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str
        Model columns.

    Returns
    -------
    plotly.graph_objects.Figure
        x: hour of day [h], y: MAE [price unit], one line per model.
    """
    import plotly.graph_objects as go

    by_hour = score_frame(frame, actual, list(models), by="hour")["MAE"].unstack("model")
    fig = go.Figure()
    for model in models:
        fig.add_trace(
            go.Scatter(
                x=by_hour.index.to_numpy(), y=by_hour[model].to_numpy(), mode="lines+markers", name=model
            )
        )
    fig.update_layout(xaxis_title="hour of day", yaxis_title="MAE [price unit]", height=420, margin={"t": 30})
    fig.update_xaxes(dtick=1)
    return fig


def rolling_figure(frame: pd.DataFrame, actual: str, models: Sequence[str], *, window_days: int = 28) -> Any:
    """Plot the rolling ``window_days``-day MAE (top) and rMAE (bottom) per model, at each day end.

    Parameters
    ----------
    frame : pandas.DataFrame
        The forecast frame (DatetimeIndex; naive stamps are taken as UTC wall clock).
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str
        Model columns.
    window_days : int
        Window length  [days].

    Returns
    -------
    plotly.graph_objects.Figure
        Two panels sharing the time axis (the last day of each window).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    roll = rolling_metrics(frame, actual, list(models), market="", window_days=window_days)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(f"MAE over {window_days} days", f"rMAE over {window_days} days"),
    )
    palette = _palette(len(models))
    for i, model in enumerate(models):
        part = roll[roll["model"] == model]
        day = (part["window_end_utc"] - pd.Timedelta(days=1)).dt.tz_localize(None)
        common = {"x": day.to_numpy(), "mode": "lines", "name": model, "legendgroup": model}
        fig.add_trace(
            go.Scatter(y=part["mae"].to_numpy(), line={"color": palette[i]}, **common), row=1, col=1
        )
        fig.add_trace(
            go.Scatter(y=part["rmae"].to_numpy(), line={"color": palette[i]}, showlegend=False, **common),
            row=2,
            col=1,
        )
    fig.add_hline(y=1.0, line={"dash": "dot", "color": "grey"}, row=2, col=1)
    fig.update_yaxes(title_text="MAE [price unit]", row=1, col=1)
    fig.update_yaxes(title_text="rMAE [-]", row=2, col=1)
    fig.update_layout(height=650, margin={"t": 40})
    return fig


def recent_figure(frame: pd.DataFrame, actual: str, models: Sequence[str], *, days: int = 28) -> Any:
    """Forecasts of every model against the actual over the last ``days`` days.

    Parameters
    ----------
    frame : pandas.DataFrame
        The forecast frame (DatetimeIndex).
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str
        Model columns.
    days : int
        Days shown (the last ones of the file)  [days]; the range buttons zoom to the last week.

    Returns
    -------
    plotly.graph_objects.Figure
        The actual in black, one line per model (click the legend to hide or isolate one).
    """
    import plotly.graph_objects as go

    if days < 1:
        raise ReportError(f"the recent window must be at least 1 day, got {days}")
    index = pd.DatetimeIndex(frame.index)
    start = index[-1].normalize() - pd.Timedelta(days=days - 1)
    recent = frame[index >= start]
    x = pd.DatetimeIndex(recent.index)
    x = x.tz_localize(None) if x.tz is not None else x
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x.to_numpy(),
            y=recent[actual].to_numpy(),
            name=actual,
            mode="lines",
            line={"color": "black", "width": 3},
        )
    )
    for model in models:
        fig.add_trace(go.Scatter(x=x.to_numpy(), y=recent[model].to_numpy(), name=model, mode="lines"))
    fig.update_layout(
        height=480,
        margin={"t": 30},
        yaxis_title="price [price unit]",
        xaxis={
            "rangeselector": {
                "buttons": [
                    {"count": 7, "label": "last week", "step": "day", "stepmode": "backward"},
                    {"step": "all", "label": f"{days} days"},
                ]
            }
        },
    )
    return fig


def pvalue_figure(p_values: pd.DataFrame, title: str) -> Any:
    """Heat map of a pairwise p-value matrix, coloured as in the epftoolbox plots.

    Parameters
    ----------
    p_values : pandas.DataFrame
        ``p.loc[row, col]``: p-value that ``col`` is more accurate than ``row``
        (:func:`marketintel.backtest.stats.pairwise_test_matrix`)  [-].
    title : str
        Figure title.

    Returns
    -------
    plotly.graph_objects.Figure
        Green to red for p-values from 0 to 0.10, black above (no significant difference); the value in
        each cell as text.
    """
    import plotly.graph_objects as go

    p = p_values.to_numpy(dtype=np.float64)
    cap = P_COLOURED * 1.1
    z = np.minimum(p, cap)
    edge = P_COLOURED / cap
    colourscale = [
        [0.0, "rgb(0,128,0)"],
        [edge * 0.5, "rgb(255,255,0)"],
        [edge, "rgb(255,0,0)"],
        [min(edge + 1e-6, 1.0), "rgb(0,0,0)"],
        [1.0, "rgb(0,0,0)"],
    ]
    text = np.vectorize(lambda v: f"{v:.3f}")(p)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in p_values.columns],
            y=[str(r) for r in p_values.index],
            zmin=0.0,
            zmax=cap,
            colorscale=colourscale,
            text=text,
            texttemplate="%{text}",
            hovertemplate="row %{y}, column %{x}: p = %{text}<extra></extra>",
            colorbar={
                "title": {"text": "p-value"},
                "tickvals": [0, 0.05, 0.1],
                "ticktext": ["0", "0.05", "0.10"],
            },
        )
    )
    fig.update_layout(
        title={"text": title},
        height=120 + 45 * len(p_values),
        xaxis_title="forecast 2 (column): more accurate than ...",
        yaxis_title="forecast 1 (row)",
        yaxis={"autorange": "reversed"},
        margin={"t": 50},
    )
    return fig


def pairwise_tests(frame: pd.DataFrame, actual: str, models: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Multivariate DM and conditional GW p-value matrices with the absolute loss.

    Parameters
    ----------
    frame : pandas.DataFrame
        The forecast frame; must cover whole days of 24 hours starting at hour 0.
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str
        Model columns (at least 2).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"DM": p, "GW": p}``, see :func:`marketintel.backtest.stats.pairwise_test_matrix`.

    Raises
    ------
    ReportError
        If fewer than two models are given or the rows are not whole days.
    """
    if len(models) < 2:
        raise ReportError(f"the tests compare models pairwise: give at least 2 models, got {list(models)}")
    index = pd.DatetimeIndex(frame.index)
    if len(frame) % HOURS_PER_DAY or index[0].hour != 0:
        raise ReportError(
            f"the DM and GW tests need whole days of {HOURS_PER_DAY} hours starting at 00:00; the data has "
            f"{len(frame)} rows starting at {index[0]}"
        )
    out = {}
    for test in ("dm", "gw"):
        try:
            out[test.upper()] = pairwise_test_matrix(
                frame[actual].to_numpy(),
                frame[list(models)],
                test=test,
                norm=1,
            )
        except StatTestError as exc:
            raise ReportError(f"{test.upper()} test: {exc}") from None
    return out


def footer_html() -> str:
    """Provenance: when and with which interpreter the report was computed."""
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<div class="mi-report"><p class="mi-note">Computed {stamp} by marketintel.backtest.report '
        f"with Python {sys.version.split()[0]} at {html.escape(sys.executable)}.</p></div>"
    )


@dataclass
class FigureEmbedder:
    """Turns plotly figures into HTML fragments, inlining plotly.js in the first one only.

    Attributes
    ----------
    included : bool
        Whether plotly.js has been emitted already.
    """

    included: bool = field(default=False)

    def html(self, fig: Any) -> str:
        """Return the figure as a ``<div>`` (plus the plotly.js bundle the first time)."""
        out: str = fig.to_html(
            full_html=False, include_plotlyjs=not self.included, config={"displaylogo": False}
        )
        self.included = True
        return out


def hourly_section(frame: pd.DataFrame, actual: str, models: Sequence[str], figures: FigureEmbedder) -> str:
    """Return the "error by hour of day" section (:func:`hourly_mae_figure`)."""
    fig = hourly_mae_figure(frame, actual, models)
    return section_html(
        "Error by hour of day", figures.html(fig), "MAE per delivery hour over the whole period."
    )


def rolling_section(
    frame: pd.DataFrame,
    actual: str,
    models: Sequence[str],
    figures: FigureEmbedder,
    *,
    window_days: int = 28,
) -> str:
    """Return the rolling-accuracy section (:func:`rolling_figure`); a note if the data is too short."""
    heading = f"Rolling accuracy ({window_days} days)"
    try:
        fig = rolling_figure(frame, actual, models, window_days=window_days)
    except MonitorError as exc:
        return section_html(heading, "", f"Not computed: {exc}")
    return section_html(
        heading,
        figures.html(fig),
        "MAE and rMAE over the trailing window ending each day (shown at its last day); rMAE above 1 "
        "(dotted line): worse than the weekly seasonal naive over the same window.",
    )


def recent_section(
    frame: pd.DataFrame, actual: str, models: Sequence[str], figures: FigureEmbedder, *, days: int = 28
) -> str:
    """Return the forecasts-against-actual section (:func:`recent_figure`)."""
    fig = recent_figure(frame, actual, models, days=days)
    return section_html(
        f"Forecasts against the actual (last {days} days)",
        figures.html(fig),
        "Click a legend entry to hide a model, double-click to show it alone; the buttons zoom to the "
        "last week or back to the whole window.",
    )


def significance_section(
    frame: pd.DataFrame, actual: str, models: Sequence[str], figures: FigureEmbedder
) -> str:
    """Return the DM and GW heat-map section (:func:`pairwise_tests`); a note if they cannot run."""
    heading = "Tests of equal accuracy (Diebold-Mariano, Giacomini-White)"
    try:
        matrices = pairwise_tests(frame, actual, models)
    except ReportError as exc:
        return section_html(heading, "", f"Not computed: {exc}")
    body = "".join(
        figures.html(pvalue_figure(p, f"{name} test, multivariate, absolute loss"))
        for name, p in matrices.items()
    )
    return section_html(
        heading,
        body,
        "Cell (row, column): p-value of H1 'the column model is more accurate than the row model' on the "
        "daily mean absolute error over the period; coloured below 0.10 (green: strong evidence), black: "
        "no significant difference. GW: the conditional test, one-sided as in the epftoolbox.",
    )


def _palette(n: int) -> list[str]:
    from plotly.colors import qualitative

    colours: list[str] = list(qualitative.Plotly) + list(qualitative.D3)
    return [colours[i % len(colours)] for i in range(n)]


# --------------------------------------------------------------------------------------------------------
# The template
# --------------------------------------------------------------------------------------------------------
_PARAMETERS = """\
forecasts_path = ""  # str: forecast CSV (timestamp column, the actual, one column per model)
actual = "Real price"  # str: column of observed prices [price unit]
models = None  # list[str] | None: model columns; None: every column but `actual`
title = ""  # str: report title; "": "Backtest report: <file name>"
market = ""  # str: market label shown in the header; "": none
recent_days = 28  # int: days of the forecast-against-actual chart [days]
rolling_days = 28  # int: window of the rolling MAE and rMAE [days]
expected_executable = ""  # str: interpreter of the caller; the kernel must run the same one ("": no check)
"""

_CELLS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    (
        "setup",
        "import sys\n\nfrom IPython.display import HTML, display\n\nfrom marketintel.backtest import report",
        (),
    ),
    ("parameters", _PARAMETERS, ("parameters",)),
    (
        "load",
        "if expected_executable and sys.executable != expected_executable:\n"
        '    raise RuntimeError(f"the kernel runs {sys.executable}, the caller {expected_executable}")\n'
        "frame, model_cols = report.load_forecasts(forecasts_path, actual, models)\n"
        "figures = report.FigureEmbedder()\n"
        "display(HTML(report.header_html(frame, forecasts_path, model_cols, title=title, market=market)))",
        (),
    ),
    ("metrics", "display(HTML(report.metrics_section(frame, actual, model_cols)))", ()),
    ("hourly", "display(HTML(report.hourly_section(frame, actual, model_cols, figures)))", ()),
    (
        "rolling",
        "display(HTML(report.rolling_section(frame, actual, model_cols, figures, window_days=rolling_days)))",
        (),
    ),
    (
        "recent",
        "display(HTML(report.recent_section(frame, actual, model_cols, figures, days=recent_days)))",
        (),
    ),
    ("tests", "display(HTML(report.significance_section(frame, actual, model_cols, figures)))", ()),
    ("footer", "display(HTML(report.footer_html()))", ()),
)


def template_notebook() -> Any:
    """Build the report's template notebook (the committed ``templates/backtest_report.ipynb``).

    Returns
    -------
    nbformat.NotebookNode
        A v4 notebook of code cells, one tagged ``parameters``, for the ``python3`` kernel.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell_id, source, tags in _CELLS:
        cell = nbformat.v4.new_code_cell(source.rstrip("\n"))  # type: ignore[no-untyped-call]
        cell.id = cell_id
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def write_template(path: Path = TEMPLATE_PATH) -> Path:
    """Write :func:`template_notebook` to ``path`` (the maintainer's way to change the template)."""
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(template_notebook())  # type: ignore[no-untyped-call]
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------
def render_report(
    forecasts: Path,
    out_html: Path,
    *,
    actual: str = "Real price",
    models: Sequence[str] | None = None,
    title: str | None = None,
    market: str | None = None,
    timeout_s: float = 300,
    recent_days: int = 28,
    progress: Callable[[str], None] | None = None,
    template: Path = TEMPLATE_PATH,
) -> Path:
    """Render the HTML backtest report of a forecast file.

    Parameters
    ----------
    forecasts : pathlib.Path
        Forecast CSV (first column timestamps, then the actual and one column per model)  [price unit].
    out_html : pathlib.Path
        The report to write; the executed notebook is kept next to it (same name, ``.ipynb``).
    actual : str
        Column of observed prices.
    models : sequence of str, optional
        Model columns (default: every column but ``actual``).
    title : str, optional
        Report title (default ``"Backtest report: <file name>"``).
    market : str, optional
        Market label shown in the header.
    timeout_s : float
        Time limit of each notebook cell  [s].
    recent_days : int
        Days of the forecast-against-actual chart  [days].
    progress : callable, optional
        Called with a line of text at each step (e.g. ``print``).
    template : pathlib.Path
        The notebook to execute (default :data:`TEMPLATE_PATH`); it takes the parameters of its
        ``parameters`` cell.

    Returns
    -------
    pathlib.Path
        ``out_html``.

    Raises
    ------
    ForecastFileError
        If the file is missing or malformed or a column is missing (checked before any kernel starts).
    ReportError
        If the notebook fails (with its error text and where the executed notebook is) or the export fails.
    """
    import papermill

    say = progress or (lambda line: log.info("%s", line))
    forecasts = Path(forecasts)
    out_html = Path(out_html)
    frame, chosen = load_forecasts(forecasts, actual, models)
    if not Path(template).is_file():
        raise ReportError(f"the report template is missing at {template}; reinstall marketintel")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    ipynb = out_html.with_suffix(".ipynb")
    shown_title = title or f"Backtest report: {forecasts.name}"
    say(f"{forecasts}: {len(frame):,} rows, {len(chosen)} models; executing the report notebook")
    parameters = {
        "forecasts_path": str(forecasts.resolve()),
        "actual": actual,
        "models": chosen,
        "title": shown_title,
        "market": market or "",
        "recent_days": int(recent_days),
        "expected_executable": sys.executable,
    }
    started = time.perf_counter()
    with python_kernel() as kernel_name:
        try:
            papermill.execute_notebook(
                str(template),
                str(ipynb),
                parameters=parameters,
                kernel_name=kernel_name,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                execution_timeout=timeout_s,
                cwd=str(out_html.parent),
            )
        except Exception as exc:  # any kernel failure: papermill, nbclient, jupyter_client errors
            raise ReportError(str(execution_error(exc, ipynb, "report notebook"))) from exc
    say(f"notebook executed in {time.perf_counter() - started:.1f} s ({ipynb}); exporting HTML")
    try:
        export_html(ipynb, out_html, title=shown_title)
    except Exception as exc:  # nbconvert/jinja errors
        raise ReportError(f"exporting {ipynb} to HTML failed: {type(exc).__name__}: {exc}") from exc
    say(f"report written to {out_html} ({out_html.stat().st_size / 1e6:.1f} MB)")
    return out_html


def cmd_report(args: argparse.Namespace) -> int:
    """Render the report of ``args.forecasts`` to ``args.out``; print where it is."""
    out = render_report(
        args.forecasts,
        args.out,
        actual=args.actual,
        models=args.models,
        title=args.title,
        market=args.market,
        timeout_s=args.timeout,
        recent_days=args.recent_days,
        progress=print,
    )
    print(f"report: {out.resolve()}")
    return 0


def register_report(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``report`` sub-command (hooked under ``mi backtest``) to an argparse sub-parser group."""
    p = subparsers.add_parser(
        "report",
        help="render an HTML backtest report of a forecast file",
        description=(
            "Execute the backtest report notebook on a forecast CSV (first column timestamps, then the "
            "actual and the model columns) and export it as a self-contained HTML page without code: score "
            "table, MAE by hour, rolling MAE and rMAE, recent forecasts against the actual, DM and GW "
            "tests. The executed notebook is kept next to the page (.ipynb)."
        ),
    )
    p.add_argument("forecasts", type=Path, help="forecast CSV, e.g. Forecasts_NP_DNN_LEAR_ensembles.csv")
    p.add_argument("--out", type=Path, required=True, help="the HTML report to write")
    p.add_argument("--actual", default="Real price", help="column of observed prices (default: 'Real price')")
    p.add_argument("--models", nargs="+", default=None, metavar="COL", help="model columns (default: all)")
    p.add_argument("--title", default=None, help="report title (default: 'Backtest report: FILE')")
    p.add_argument("--market", default=None, help="market label shown in the header, e.g. NP")
    p.add_argument("--recent-days", type=int, default=28, help="days of the forecasts-vs-actual chart")
    p.add_argument("--timeout", type=float, default=300, help="time limit per notebook cell [s]")
    p.set_defaults(func=cmd_report)


__all__ = [
    "TEMPLATE_PATH",
    "FigureEmbedder",
    "ReportError",
    "cmd_report",
    "export_html",
    "header_html",
    "hourly_section",
    "load_forecasts",
    "metrics_section",
    "recent_section",
    "register_report",
    "render_report",
    "rolling_section",
    "significance_section",
    "template_notebook",
    "write_template",
]
