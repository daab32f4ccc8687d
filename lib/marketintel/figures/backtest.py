"""Figures of forecast accuracy: error by hour, rolling accuracy, forecasts against the actual, p-values.

The builders draw what they are given and compute nothing: the backtest report
(:mod:`marketintel.backtest.sections`) passes them the scores of :mod:`marketintel.backtest.scoring` and
:mod:`marketintel.backtest.monitor`, and a dashboard can pass the same frames read from the store.
Each returns a ``plotly.graph_objects.Figure``; :class:`~marketintel.figures.common.FigureEmbedder`
turns it into HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from marketintel.figures.common import FigureError, palette

#: Significance level below which the p-value heat maps are coloured  [-].
P_COLOURED: Final[float] = 0.1


def hourly_mae_figure(by_hour: pd.DataFrame) -> Any:
    """Line chart of the MAE per hour of day, one line per model.

    Parameters
    ----------
    by_hour : pandas.DataFrame
        Index: hour of day [h]; one column per model, in legend order: its MAE  [price unit]
        (e.g. ``score_frame(frame, actual, models, by="hour")["MAE"].unstack("model")``).

    Returns
    -------
    plotly.graph_objects.Figure
        x: hour of day [h], y: MAE [price unit].
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    hours = by_hour.index.to_numpy()
    for model in by_hour.columns:
        fig.add_trace(go.Scatter(x=hours, y=by_hour[model].to_numpy(), mode="lines+markers", name=str(model)))
    fig.update_layout(xaxis_title="hour of day", yaxis_title="MAE [price unit]", height=420, margin={"t": 30})
    fig.update_xaxes(dtick=1)
    return fig


def rolling_figure(rolling: pd.DataFrame, models: Sequence[str], *, window_days: int) -> Any:
    """Plot the rolling MAE (top) and rMAE (bottom) per model, at the last day of each window.

    Parameters
    ----------
    rolling : pandas.DataFrame
        One row per model and window end (:func:`marketintel.backtest.monitor.rolling_metrics`): columns
        ``model``, ``window_end_utc`` (exclusive end of the window, tz-aware), ``mae`` [price unit] and
        ``rmae`` [-].
    models : sequence of str
        Models drawn, in legend order.
    window_days : int
        Window length, for the panel titles  [days].

    Returns
    -------
    plotly.graph_objects.Figure
        Two panels sharing the time axis; a dotted line at rMAE 1 (the weekly seasonal naive).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(f"MAE over {window_days} days", f"rMAE over {window_days} days"),
    )
    colours = palette(len(models))
    for i, model in enumerate(models):
        part = rolling[rolling["model"] == model]
        day = (part["window_end_utc"] - pd.Timedelta(days=1)).dt.tz_localize(None)
        common = {"x": day.to_numpy(), "mode": "lines", "name": model, "legendgroup": model}
        fig.add_trace(
            go.Scatter(y=part["mae"].to_numpy(), line={"color": colours[i]}, **common), row=1, col=1
        )
        fig.add_trace(
            go.Scatter(y=part["rmae"].to_numpy(), line={"color": colours[i]}, showlegend=False, **common),
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
        Forecast frame (DatetimeIndex): the actual and one column per model  [price unit].
    actual : str
        Column of observed prices.
    models : sequence of str
        Model columns.
    days : int
        Days shown (the last ones of the frame)  [days]; the range buttons zoom to the last week.

    Returns
    -------
    plotly.graph_objects.Figure
        The actual in black, one line per model (click the legend to hide or isolate one).

    Raises
    ------
    FigureError
        If ``days`` is less than 1.
    """
    import plotly.graph_objects as go

    if days < 1:
        raise FigureError(f"the recent window must be at least 1 day, got {days}")
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
        Green to red for p-values from 0 to :data:`P_COLOURED`, black above (no significant difference);
        the value in each cell as text.
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


__all__ = ["P_COLOURED", "hourly_mae_figure", "pvalue_figure", "recent_figure", "rolling_figure"]
