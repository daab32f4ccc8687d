"""Figures of forecast accuracy: metrics by group, rolling accuracy, forecasts against the actual, p-values.

The builders draw what they are given and compute nothing: the backtest report
(:mod:`marketintel.backtest.sections`) passes them the scores of :mod:`marketintel.backtest.scoring` and
:mod:`marketintel.backtest.monitor`, and the accuracy dashboard (``marketintel.dashboards.accuracy``) the
same frames read from the store through :mod:`marketintel.services.backtest`. Each returns a Bokeh model
(a figure or a column of figures); :class:`~marketintel.figures.common.FigureEmbedder` turns it into
HTML that opens offline, ``panel.pane.Bokeh`` shows it in a page.

Time axes show wall-clock times of the zone ``tz`` the caller chose (UTC or the market's) and say so in
their label; every axis carries its unit in brackets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from marketintel.figures.common import (
    FigureError,
    display_times,
    finish_legend,
    new_figure,
    palette,
    time_label,
)

#: Significance level below which the p-value heat maps are coloured  [-].
P_COLOURED: Final[float] = 0.1
#: The accuracy alerts' thresholds drawn on the rolling rMAE (:mod:`marketintel.backtest.monitor`):
#: warning above 1 (worse than the weekly naive), critical above 1.5  [-].
RMAE_THRESHOLDS: Final[dict[str, float]] = {"warning": 1.0, "critical": 1.5}
_THRESHOLD_COLOURS: Final[dict[str, str]] = {"warning": "#e6a100", "critical": "#c0392b"}


def _legend_above(fig: Any) -> Any:
    """Put a figure's legend above the plot in one row (inside it would hide data); return ``fig``."""
    finish_legend(fig)
    if fig.legend:
        fig.legend.orientation = "horizontal"
        fig.add_layout(fig.legend[0], "above")
    return fig


def _model_key(i: int) -> str:
    """Column of the ``i``-th model in a figure's data source (model names may hold any character)."""
    return f"m{i}"


# --------------------------------------------------------------------------------------------------------
# Metrics by group (hour of day, month, horizon)
# --------------------------------------------------------------------------------------------------------
def metric_by_group_figure(
    table: pd.DataFrame,
    *,
    metric: str = "MAE",
    unit: str = "price unit",
    group: str = "hour of day",
    group_unit: str = "h",
    title: str = "",
) -> Any:
    """Draw grouped bars of one metric per group (hour of day, month, horizon), one bar per model.

    Parameters
    ----------
    table : pandas.DataFrame
        Index: the groups in drawing order (hours, ``YYYY-MM`` months, horizons); one column per model, in
        legend order: the metric  [``unit``].
    metric : str
        Metric name, for the axis label (``MAE``, ``rMAE``, ...).
    unit : str
        Unit of the metric (``EUR/MWh``, ``%``, ``-``).
    group : str
        What the groups are, for the axis label.
    group_unit : str
        Unit of the groups, for the axis label (``h``, ``month``, ``days ahead``).
    title : str
        Figure title (default: ``"<metric> by <group>"``).

    Returns
    -------
    bokeh.plotting.figure
        x: the groups (categorical) [``group_unit``], y: the metric [``unit``]; a hover shows each bar.
    """
    from bokeh.models import ColumnDataSource, FactorRange
    from bokeh.transform import dodge

    groups = [str(g) for g in table.index]
    models = [str(m) for m in table.columns]
    fig = new_figure(
        title=title or f"{metric} by {group}",
        x_label=f"{group} [{group_unit}]",
        y_label=f"{metric} [{unit}]",
        x_type="auto",
        x_range=FactorRange(factors=groups),
        height=340,
        tooltips=[("group", "@group"), ("model", "$name"), (metric, "$y{0,0.000}")],
    )
    data: dict[str, Any] = {"group": groups}
    for i, model in enumerate(models):
        data[_model_key(i)] = table[model].to_numpy(dtype=np.float64)
    source = ColumnDataSource(data=data, name="metric_by_group")
    width = 0.8 / max(len(models), 1)
    for i, (model, colour) in enumerate(zip(models, palette(len(models)), strict=True)):
        offset = (i - (len(models) - 1) / 2) * width
        fig.vbar(
            x=dodge("group", offset, range=fig.x_range),
            top=_model_key(i),
            width=width * 0.95,
            source=source,
            color=colour,
            legend_label=model,
            name=model,
        )
    fig.y_range.start = 0
    fig.xgrid.grid_line_color = None
    if len(groups) > 12:
        fig.xaxis.major_label_orientation = 0.8
    return _legend_above(fig)


def hourly_mae_figure(by_hour: pd.DataFrame, *, unit: str = "price unit") -> Any:
    """Line chart of the MAE per hour of day, one line per model.

    Parameters
    ----------
    by_hour : pandas.DataFrame
        Index: hour of day [h]; one column per model, in legend order: its MAE  [``unit``]
        (e.g. ``score_frame(frame, actual, models, by="hour")["MAE"].unstack("model")``).
    unit : str
        Price unit, for the axis label.

    Returns
    -------
    bokeh.plotting.figure
        x: hour of day [h], y: MAE [``unit``]; the lines' data in one source named ``hourly_mae``.
    """
    from bokeh.models import ColumnDataSource

    models = [str(m) for m in by_hour.columns]
    fig = new_figure(
        title="MAE by hour of day",
        x_label="hour of day [h]",
        y_label=f"MAE [{unit}]",
        x_type="linear",
        tooltips=[("hour", "@hour"), ("model", "$name"), ("MAE", "$y{0,0.000}")],
    )
    data: dict[str, Any] = {"hour": by_hour.index.to_numpy(dtype=np.int64)}
    for i, model in enumerate(models):
        data[_model_key(i)] = by_hour[model].to_numpy(dtype=np.float64)
    source = ColumnDataSource(data=data, name="hourly_mae")
    for i, (model, colour) in enumerate(zip(models, palette(len(models)), strict=True)):
        fig.line(
            "hour", _model_key(i), source=source, color=colour, line_width=2, legend_label=model, name=model
        )
        fig.scatter(
            "hour", _model_key(i), source=source, color=colour, size=6, legend_label=model, name=model
        )
    fig.xaxis.ticker = list(range(24))
    return finish_legend(fig)


# --------------------------------------------------------------------------------------------------------
# Rolling accuracy
# --------------------------------------------------------------------------------------------------------
def rolling_figure(
    rolling: pd.DataFrame,
    models: Sequence[str],
    *,
    window_days: int,
    unit: str = "price unit",
    tz: str = "UTC",
    clock: str = "",
    thresholds: Mapping[str, float] = RMAE_THRESHOLDS,
) -> Any:
    """Plot the rolling MAE (top) and rMAE (bottom) per model at the last day of each window.

    Parameters
    ----------
    rolling : pandas.DataFrame
        One row per model and window end (:func:`marketintel.backtest.monitor.rolling_metrics`): columns
        ``model``, ``window_end_utc`` (exclusive end of the window, tz-aware or naive UTC), ``mae``
        [``unit``] and ``rmae`` [-].
    models : sequence of str
        Models drawn, in legend order.
    window_days : int
        Window length, for the titles  [days].
    unit : str
        Price unit of the MAE.
    tz : str
        Zone the window ends are drawn in (IANA name).
    clock : str
        Name of the clock on the time axis instead of ``tz`` (e.g. ``"market clock"`` for naive times of a
        forecast file); default ``tz``.
    thresholds : mapping of str to float
        Alert thresholds drawn on the rMAE (label -> level [-]); default the accuracy alerts'
        (:data:`RMAE_THRESHOLDS`).

    Returns
    -------
    bokeh.models.Column
        Two figures sharing the time axis; dashed lines at the thresholds, labelled.
    """
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, Range1d
    from bokeh.models.annotations import Label, Span

    day_label = time_label(clock or tz, "last day of the window")
    mae = new_figure(
        title=f"MAE over a {window_days}-day window",
        x_label=day_label,
        y_label=f"MAE [{unit}]",
        height=280,
        tooltips=[
            ("model", "$name"),
            ("day", "@day{%F}"),
            ("MAE", "@mae{0,0.000}"),
            ("rMAE", "@rmae{0.000}"),
        ],
    )
    rmae = new_figure(
        title=f"rMAE over a {window_days}-day window (alert thresholds dashed)",
        x_label=day_label,
        y_label="rMAE [-]",
        height=280,
        x_range=mae.x_range,
        tooltips=[("model", "$name"), ("day", "@day{%F}"), ("rMAE", "@rmae{0.000}")],
    )
    for model, colour in zip(models, palette(len(models)), strict=True):
        part = rolling[rolling["model"] == model]
        ends = display_times(part["window_end_utc"], tz) - pd.Timedelta(days=1)
        source = ColumnDataSource(
            data={
                "day": ends.to_numpy(),
                "mae": part["mae"].to_numpy(dtype=np.float64),
                "rmae": part["rmae"].to_numpy(dtype=np.float64),
            },
            name=f"rolling {model}",
        )
        for fig, field in ((mae, "mae"), (rmae, "rmae")):
            fig.line("day", field, source=source, color=colour, line_width=2, legend_label=model, name=model)
            fig.scatter("day", field, source=source, color=colour, size=4, legend_label=model, name=model)
    for label, level in thresholds.items():
        colour = _THRESHOLD_COLOURS.get(label, "grey")
        rmae.add_layout(
            Span(location=level, dimension="width", line_dash="dashed", line_color=colour, line_width=2)
        )
        rmae.add_layout(
            Label(
                x=5,
                y=level,
                x_units="screen",
                text=f"{label} {level:g}",
                text_color=colour,
                text_font_size="11px",
                y_offset=2,
            )
        )
    # the thresholds stay in view however accurate the models (spans take no part in the auto range)
    finite = rolling["rmae"].to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    top = max([*thresholds.values(), float(finite.max()) if finite.size else 0.0, 0.0])
    rmae.y_range = Range1d(start=0, end=top * 1.12 if top > 0 else 1.0)
    return column(_legend_above(mae), _legend_above(rmae), sizing_mode="stretch_width")


# --------------------------------------------------------------------------------------------------------
# Forecasts against the actual
# --------------------------------------------------------------------------------------------------------
def forecast_source_data(
    frame: pd.DataFrame, actual: str, models: Sequence[str], tz: str = "UTC"
) -> dict[str, Any]:
    """Return the data of :func:`forecast_figure`'s source: ``time`` (wall clock of ``tz``), actual, models.

    Parameters
    ----------
    frame : pandas.DataFrame
        DatetimeIndex of delivery periods (tz-aware, or naive meaning UTC); the actual and one column per
        model  [price unit].
    actual : str
        Column of observed prices.
    models : sequence of str
        Model columns, in the order of the figure's lines.
    tz : str
        Zone the times are drawn in.

    Returns
    -------
    dict of str to numpy.ndarray
        ``time``, ``actual`` and ``m0``, ``m1``, ... (one per model): what a page assigns to the figure's
        source to show another window without a new figure.
    """
    data: dict[str, Any] = {
        "time": display_times(frame.index, tz).to_numpy(),
        "actual": frame[actual].to_numpy(dtype=np.float64),
    }
    for i, model in enumerate(models):
        data[_model_key(i)] = frame[model].to_numpy(dtype=np.float64)
    return data


def forecast_figure(
    frame: pd.DataFrame,
    actual: str,
    models: Sequence[str],
    *,
    title: str,
    unit: str = "price unit",
    tz: str = "UTC",
    clock: str = "",
) -> Any:
    """Forecasts of every model against the actual over the frame's periods.

    Parameters
    ----------
    frame : pandas.DataFrame
        DatetimeIndex of delivery periods (tz-aware, or naive meaning UTC); the actual and one column per
        model  [``unit``].
    actual : str
        Column of observed prices.
    models : sequence of str
        Model columns.
    title : str
        Figure title.
    unit : str
        Price unit.
    tz : str
        Zone the times are drawn in (IANA name).
    clock : str
        Name of the clock on the time axis instead of ``tz`` (e.g. ``"market clock"`` for naive times of a
        forecast file); default ``tz``.

    Returns
    -------
    bokeh.plotting.figure
        The actual in black, one line per model (click a legend entry to hide it); all lines on one source
        named ``forecast_vs_actual`` (data as :func:`forecast_source_data`).
    """
    from bokeh.models import ColumnDataSource

    fig = new_figure(
        title=title,
        x_label=time_label(clock or tz, "delivery start"),
        y_label=f"price [{unit}]",
        height=360,
        tooltips=[("time", "@time{%F %H:%M}"), ("series", "$name"), ("price", "$y{0,0.00}")],
    )
    source = ColumnDataSource(data=forecast_source_data(frame, actual, models, tz), name="forecast_vs_actual")
    fig.step(
        "time",
        "actual",
        source=source,
        mode="after",
        color="black",
        line_width=2.5,
        legend_label="actual",
        name="actual",
    )
    for i, (model, colour) in enumerate(zip(models, palette(len(models)), strict=True)):
        fig.step(
            "time",
            _model_key(i),
            source=source,
            mode="after",
            color=colour,
            line_width=1.8,
            legend_label=str(model),
            name=str(model),
        )
    return _legend_above(fig)


def recent_figure(
    frame: pd.DataFrame,
    actual: str,
    models: Sequence[str],
    *,
    days: int = 28,
    unit: str = "price unit",
    tz: str = "UTC",
    clock: str = "",
) -> Any:
    """Forecasts of every model against the actual over the last ``days`` days of the frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        Forecast frame (DatetimeIndex): the actual and one column per model  [``unit``].
    actual : str
        Column of observed prices.
    models : sequence of str
        Model columns.
    days : int
        Days shown (the last ones of the frame)  [days].
    unit : str
        Price unit.
    tz : str
        Zone the times are drawn in.
    clock : str
        Name of the clock on the time axis instead of ``tz`` (e.g. ``"market clock"`` for naive times of a
        forecast file); default ``tz``.

    Returns
    -------
    bokeh.plotting.figure
        As :func:`forecast_figure`; zoom with the wheel or the box tool, reset with the reset tool.

    Raises
    ------
    FigureError
        If ``days`` is less than 1.
    """
    if days < 1:
        raise FigureError(f"the recent window must be at least 1 day, got {days}")
    index = pd.DatetimeIndex(frame.index)
    start = index[-1].normalize() - pd.Timedelta(days=days - 1)
    recent = frame[index >= start]
    return forecast_figure(
        recent,
        actual,
        models,
        title=f"Forecasts against the actual, last {days} days",
        unit=unit,
        tz=tz,
        clock=clock,
    )


# --------------------------------------------------------------------------------------------------------
# Tests of equal accuracy
# --------------------------------------------------------------------------------------------------------
def _p_colour(p: float) -> str:
    """Colour of a p-value as in the epftoolbox plots: green (0) - yellow - red (0.1), black above."""
    if not np.isfinite(p) or p >= P_COLOURED:
        return "#000000"
    t = max(p, 0.0) / P_COLOURED
    if t < 0.5:  # green -> yellow
        red, green = round(255 * t / 0.5), round(128 + 127 * t / 0.5)
    else:  # yellow -> red
        red, green = 255, round(255 * (1 - (t - 0.5) / 0.5))
    return f"#{red:02x}{green:02x}00"


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
    bokeh.plotting.figure
        Green to red for p-values from 0 to :data:`P_COLOURED`, black at and above (no significant
        difference); the value in each cell as text; cells in a source named ``p_values`` (``row``,
        ``col``, ``p`` [-], ``text``, ``colour``).
    """
    from bokeh.models import ColumnDataSource

    rows = [str(r) for r in p_values.index]
    cols = [str(c) for c in p_values.columns]
    p = p_values.to_numpy(dtype=np.float64)
    cells = [(r, c, float(p[i, j])) for i, r in enumerate(rows) for j, c in enumerate(cols)]
    source = ColumnDataSource(
        data={
            "row": [r for r, _, _ in cells],
            "col": [c for _, c, _ in cells],
            "p": [v for _, _, v in cells],
            "text": [f"{v:.3f}" if np.isfinite(v) else "n/a" for _, _, v in cells],
            "colour": [_p_colour(v) for _, _, v in cells],
            "text_colour": ["white" if _p_colour(v) == "#000000" else "black" for _, _, v in cells],
        },
        name="p_values",
    )
    fig = new_figure(
        title=title,
        x_label="forecast 2, column [model]",
        y_label="forecast 1, row [model]",
        x_type="auto",
        x_range=cols,
        y_range=list(reversed(rows)),
        height=140 + 50 * len(rows),
        tooltips=[("row", "@row"), ("column", "@col"), ("p-value [-]", "@text")],
    )
    fig.rect("col", "row", width=1, height=1, source=source, fill_color="colour", line_color="white")
    fig.text(
        "col",
        "row",
        text="text",
        source=source,
        text_color="text_colour",
        text_align="center",
        text_baseline="middle",
        text_font_size="12px",
    )
    fig.grid.grid_line_color = None
    fig.axis.major_tick_line_color = None
    fig.xaxis.major_label_orientation = 0.3 if max((len(c) for c in cols), default=0) > 10 else 0
    return fig


__all__ = [
    "P_COLOURED",
    "RMAE_THRESHOLDS",
    "forecast_figure",
    "forecast_source_data",
    "hourly_mae_figure",
    "metric_by_group_figure",
    "pvalue_figure",
    "recent_figure",
    "rolling_figure",
]
