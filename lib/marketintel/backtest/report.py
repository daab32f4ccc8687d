"""HTML backtest report of a forecast file: ``mi backtest report FORECASTS.csv --out REPORT.html``.

The report is a parameterised notebook (``templates/backtest_report.ipynb``) that papermill executes in a
kernel running this very interpreter, and that nbconvert exports without its code (inputs and prompts
left out): a self-contained HTML page that opens offline, BokehJS being inlined once and no script
coming from the network (no require.js, MathJax or mermaid from a CDN). The figures are the Bokeh
figures of :mod:`marketintel.figures.backtest`, the same the accuracy dashboard draws.

Contents: title, period and data source; the score table of :func:`marketintel.backtest.scoring.score_frame`
(MAE, rMAE, sMAPE, RMSE, MAPE with the hours left out, WAPE, MASE); MAE by hour of day; the rolling
28-day MAE and rMAE (:func:`marketintel.backtest.monitor.rolling_metrics`); forecasts against the actual
over the last days; the multivariate DM and GW p-value matrices (absolute loss,
:func:`marketintel.backtest.stats.pairwise_test_matrix`).

The parts live in named modules: the HTML pieces in :mod:`marketintel.backtest.sections`, the figures in
:mod:`marketintel.figures.backtest`. This module holds the template, the rendering and the CLI, and
re-exports the pieces: the notebook's cells call them as ``report.<name>``, so it holds no analysis code.
:func:`template_notebook` builds the template; the committed file must equal it
(``tests/backtest/test_report.py`` checks).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import pandas as pd

from marketintel.backtest.sections import (
    TABLE_HEADERS,
    ReportError,
    footer_html,
    format_value,
    header_html,
    hourly_section,
    load_forecasts,
    metrics_section,
    pairwise_tests,
    recent_section,
    rolling_section,
    scores_html,
    section_html,
    significance_section,
)
from marketintel.figures.common import FigureEmbedder
from marketintel.notebooks import execution_error, export_html, python_kernel

log = logging.getLogger(__name__)

#: The parameterised notebook papermill executes.
TEMPLATE_PATH: Final[Path] = Path(__file__).parent / "templates" / "backtest_report.ipynb"


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

    Three steps: check the inputs (before any kernel starts), execute the template notebook with the
    report's parameters, export the executed notebook to HTML without its code.

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
    say = progress or (lambda line: log.info("%s", line))
    forecasts, out_html = Path(forecasts), Path(out_html)
    frame, chosen = _checked_inputs(forecasts, actual, models, Path(template))
    shown_title = title or f"Backtest report: {forecasts.name}"
    out_html.parent.mkdir(parents=True, exist_ok=True)
    ipynb = out_html.with_suffix(".ipynb")
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
    _execute(Path(template), ipynb, parameters, timeout_s=timeout_s)
    say(f"notebook executed in {time.perf_counter() - started:.1f} s ({ipynb}); exporting HTML")
    _export(ipynb, out_html, title=shown_title)
    say(f"report written to {out_html} ({out_html.stat().st_size / 1e6:.1f} MB)")
    return out_html


def _checked_inputs(
    forecasts: Path, actual: str, models: Sequence[str] | None, template: Path
) -> tuple[pd.DataFrame, list[str]]:
    """Step 1: read the forecast file, check its columns and that the template is there.

    Raises
    ------
    ForecastFileError
        If the file or a column is missing (see :func:`load_forecasts`).
    ReportError
        If the template notebook is missing.
    """
    frame, chosen = load_forecasts(forecasts, actual, models)
    if not template.is_file():
        raise ReportError(f"the report template is missing at {template}; reinstall marketintel")
    return frame, chosen


def _execute(template: Path, ipynb: Path, parameters: dict[str, Any], *, timeout_s: float) -> None:
    """Step 2: execute ``template`` with ``parameters`` into ``ipynb``, in this interpreter's kernel.

    Parameters
    ----------
    template : pathlib.Path
        The parameterised notebook.
    ipynb : pathlib.Path
        The executed notebook to write (kept, also when a cell fails); its folder is the working directory.
    parameters : dict of str to object
        Injected after the ``parameters`` cell.
    timeout_s : float
        Time limit of each cell  [s].

    Raises
    ------
    ReportError
        If the kernel or a cell fails: the cell's error text and where the executed notebook is.
    """
    import papermill

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
                cwd=str(ipynb.parent),
            )
        except Exception as exc:  # any kernel failure: papermill, nbclient, jupyter_client errors
            raise ReportError(str(execution_error(exc, ipynb, "report notebook"))) from exc


def _export(ipynb: Path, out_html: Path, *, title: str) -> None:
    """Step 3: export the executed notebook to a code-free, offline HTML page.

    Raises
    ------
    ReportError
        If nbconvert fails (its error type and text).
    """
    try:
        export_html(ipynb, out_html, title=title)
    except Exception as exc:  # nbconvert/jinja errors
        raise ReportError(f"exporting {ipynb} to HTML failed: {type(exc).__name__}: {exc}") from exc


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
    "TABLE_HEADERS",
    "TEMPLATE_PATH",
    "FigureEmbedder",
    "ReportError",
    "cmd_report",
    "export_html",
    "footer_html",
    "format_value",
    "header_html",
    "hourly_section",
    "load_forecasts",
    "metrics_section",
    "pairwise_tests",
    "recent_section",
    "register_report",
    "render_report",
    "rolling_section",
    "scores_html",
    "section_html",
    "significance_section",
    "template_notebook",
    "write_template",
]
