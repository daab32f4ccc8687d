"""The pieces of the HTML backtest report: input, score table, header, sections and footer.

Every cell of the report notebook (:mod:`marketintel.backtest.report`) calls one function of this module
and displays the HTML it returns, so the tests can call the same functions directly. The figures come
from :mod:`marketintel.figures.backtest`; this module computes what they show.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from marketintel.backtest.monitor import MonitorError, rolling_metrics
from marketintel.backtest.scoring import DECIMALS, ForecastFileError, read_forecast_file, score_frame
from marketintel.backtest.stats import HOURS_PER_DAY, StatTestError, pairwise_test_matrix
from marketintel.exceptions import MarketIntelError
from marketintel.figures.backtest import hourly_mae_figure, pvalue_figure, recent_figure, rolling_figure
from marketintel.figures.common import FigureEmbedder

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
_STYLE: Final[str] = """<style>
.mi-report { font-family: system-ui, sans-serif; }
.mi-report table.mi-scores { border-collapse: collapse; margin: 0.5em 0; }
.mi-report table.mi-scores th, .mi-report table.mi-scores td { padding: 3px 10px; text-align: right;
  border-bottom: 1px solid #ddd; }
.mi-report table.mi-scores th.mi-model { text-align: left; }
.mi-report .mi-note { color: #555; font-size: 0.9em; }
</style>"""


#: The clock of a forecast file's naive timestamps, as the report's time axes name it.
FILE_CLOCK: Final[str] = "market clock of the file"


class ReportError(MarketIntelError, RuntimeError):
    """The report could not be rendered (bad input, kernel failure, export failure)."""


# --------------------------------------------------------------------------------------------------------
# Input and tests
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
        ``{"DM": p, "GW": p}``, see :func:`marketintel.backtest.stats.pairwise_test_matrix`  [-].

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


# --------------------------------------------------------------------------------------------------------
# Tables, header, footer
# --------------------------------------------------------------------------------------------------------
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


def footer_html() -> str:
    """Provenance: when and with which interpreter the report was computed."""
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<div class="mi-report"><p class="mi-note">Computed {stamp} by marketintel.backtest.report '
        f"with Python {sys.version.split()[0]} at {html.escape(sys.executable)}.</p></div>"
    )


# --------------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------------
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


def hourly_section(frame: pd.DataFrame, actual: str, models: Sequence[str], figures: FigureEmbedder) -> str:
    """Return the "error by hour of day" section: the MAE per delivery hour of each model."""
    by_hour = score_frame(frame, actual, list(models), by="hour")["MAE"].unstack("model")
    fig = hourly_mae_figure(by_hour[list(models)])
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
    """Return the rolling-accuracy section (MAE and rMAE over ``window_days`` [days]); a note if too short."""
    heading = f"Rolling accuracy ({window_days} days)"
    try:
        rolling = rolling_metrics(frame, actual, list(models), market="", window_days=window_days)
    except MonitorError as exc:
        return section_html(heading, "", f"Not computed: {exc}")
    return section_html(
        heading,
        figures.html(rolling_figure(rolling, models, window_days=window_days, clock=FILE_CLOCK)),
        "MAE and rMAE over the trailing window ending each day (shown at its last day); the dashed lines "
        "are the accuracy alerts' thresholds: rMAE above 1 (warning) is worse than the weekly seasonal "
        "naive over the same window, above 1.5 critical.",
    )


def recent_section(
    frame: pd.DataFrame, actual: str, models: Sequence[str], figures: FigureEmbedder, *, days: int = 28
) -> str:
    """Return the forecasts-against-actual section over the last ``days`` days  [days].

    Raises
    ------
    ReportError
        If ``days`` is less than 1.
    """
    if days < 1:
        raise ReportError(f"the recent window must be at least 1 day, got {days}")
    fig = recent_figure(frame, actual, models, days=days, clock=FILE_CLOCK)
    return section_html(
        f"Forecasts against the actual (last {days} days)",
        figures.html(fig),
        "Click a legend entry to hide a model; zoom with the mouse wheel or the box tool, back with the "
        "reset tool. Times are those of the forecast file (its market clock).",
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


__all__ = [
    "TABLE_HEADERS",
    "ReportError",
    "footer_html",
    "format_value",
    "header_html",
    "hourly_section",
    "load_forecasts",
    "metrics_section",
    "pairwise_tests",
    "recent_section",
    "rolling_section",
    "scores_html",
    "section_html",
    "significance_section",
]
