"""Figures of platform health: flow runs by state, run durations, query latency, the store's tables.

The builders draw the frames of :mod:`marketintel.services.health` and compute nothing heavy. Each figure
draws from one named ``ColumnDataSource`` (:func:`source_of` finds it), and the ``*_data`` functions return
exactly the columns that source holds, so a live page replaces, patches or streams the source's data with
the same shape instead of building the figure again.

Time axes show wall-clock times of the zone ``tz`` the caller chose and say so in their label; every axis
carries its unit in brackets.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from marketintel.figures.common import FigureError, display_times, finish_legend, new_figure, time_label

__all__ = [
    "STATE_COLOURS",
    "TABLE_MEASURES",
    "durations_data",
    "latency_data",
    "latency_figure",
    "run_durations_figure",
    "runs_by_state_figure",
    "source_of",
    "state_data",
    "table_data",
    "tables_figure",
]

#: colours of Prefect's state types (failures red, successes green, waiting grey/blue)
STATE_COLOURS: Final[dict[str, str]] = {
    "SCHEDULED": "#9ecae1", "PENDING": "#bdbdbd", "RUNNING": "#1f77b4", "PAUSED": "#e6a100",
    "CANCELLING": "#fdae6b", "COMPLETED": "#2ca02c", "FAILED": "#d62728", "CRASHED": "#8c1c13",
    "CANCELLED": "#7f7f7f",
}  # fmt: skip
#: what the tables figure can draw: frame column -> (axis label with unit, divisor to that unit)
TABLE_MEASURES: Final[dict[str, tuple[str, float]]] = {
    "bytes_on_disk": ("size on disk [MiB]", 2.0**20),
    "rows": ("rows [rows]", 1.0),
    "parts": ("active parts [parts]", 1.0),
}
#: the latency figure's lines: source column, legend, colour
_LATENCY_LINES: Final[tuple[tuple[str, str, str], ...]] = (
    ("p50_ms", "p50", "#2ca02c"),
    ("p95_ms", "p95", "#ff7f0e"),
    ("p99_ms", "p99", "#d62728"),
)


def source_of(fig: Any, name: str) -> Any:
    """Return the data source of the renderer named ``name`` in ``fig``.

    Raises
    ------
    FigureError
        If ``fig`` has no such renderer (the message lists those it has).
    """
    renderer = fig.select_one({"name": name})
    if renderer is None:
        names = sorted(r.name for r in fig.renderers if r.name)
        raise FigureError(f"the figure has no renderer {name!r}; it has {names}")
    return renderer.data_source


# --------------------------------------------------------------------------------------------------------
# Flow runs by state
# --------------------------------------------------------------------------------------------------------
def state_data(by_state: pd.DataFrame) -> dict[str, Any]:
    """Return the columns of the runs-by-state source from ``state_type`` / ``runs`` rows."""
    return {
        "state": [str(s) for s in by_state["state_type"]],
        "runs": [int(n) for n in by_state["runs"]],
        "colour": [STATE_COLOURS.get(str(s), "#7f7f7f") for s in by_state["state_type"]],
    }


def runs_by_state_figure(by_state: pd.DataFrame, *, title: str = "Flow runs by state") -> Any:
    """Draw one bar per Prefect state type: how many flow runs are in it.

    Parameters
    ----------
    by_state : pandas.DataFrame
        ``state_type`` and ``runs`` [runs] (:attr:`PrefectHealth.by_state`); the bars keep its order.
    title : str
        Title above the plot.

    Returns
    -------
    bokeh.plotting.figure
        Bars from the source named ``"runs"`` (columns of :func:`state_data`).
    """
    from bokeh.models import ColumnDataSource

    data = state_data(by_state)
    fig = new_figure(
        title=title, x_label="state [-]", y_label="flow runs [runs]", x_type="auto", x_range=data["state"],
        height=280, tooltips=[("state", "@state"), ("runs", "@runs")],
    )  # fmt: skip
    fig.vbar(x="state", top="runs", width=0.8, color="colour", source=ColumnDataSource(data), name="runs")
    fig.y_range.start = 0
    fig.xaxis.major_label_orientation = 0.6
    fig.xgrid.grid_line_color = None
    return fig


# --------------------------------------------------------------------------------------------------------
# Run durations over time
# --------------------------------------------------------------------------------------------------------
def durations_data(runs: pd.DataFrame, tz: str = "UTC") -> dict[str, Any]:
    """Return the columns of the durations source: runs that started, with their duration.

    Parameters
    ----------
    runs : pandas.DataFrame
        :attr:`PrefectHealth.runs` (``start_utc``, ``duration_s``, ``flow``, ``deployment``,
        ``state_type``, ``run_id``, ``run_name``).
    tz : str
        Zone of the time axis.
    """
    done = runs[runs["start_utc"].notna() & runs["duration_s"].notna()].sort_values("start_utc")
    return {
        "time": np.asarray(display_times(done["start_utc"], tz), dtype="datetime64[ms]"),
        "duration_s": done["duration_s"].to_numpy(dtype=float),
        "flow": [str(v) for v in done["flow"]],
        "deployment": [str(v) for v in done["deployment"]],
        "state": [str(v) for v in done["state_type"]],
        "colour": [STATE_COLOURS.get(str(s), "#7f7f7f") for s in done["state_type"]],
        "run": [str(v) for v in done["run_name"]],
        "run_id": [str(v) for v in done["run_id"]],
    }


def run_durations_figure(runs: pd.DataFrame, *, tz: str = "UTC", title: str = "Flow run durations") -> Any:
    """Draw each started flow run at its start time and duration, coloured by its state.

    Parameters
    ----------
    runs : pandas.DataFrame
        :attr:`PrefectHealth.runs`.
    tz : str
        Zone of the time axis (its label names it).
    title : str
        Title above the plot.

    Returns
    -------
    bokeh.plotting.figure
        Points from the source named ``"durations"`` (columns of :func:`durations_data`).
    """
    from bokeh.models import ColumnDataSource

    fig = new_figure(
        title=title, x_label=time_label(tz, "run start"), y_label="duration [s]", height=300,
        tooltips=[("flow", "@flow"), ("deployment", "@deployment"), ("run", "@run"), ("state", "@state"),
                  ("start", "@time{%F %H:%M:%S}"), ("duration [s]", "@duration_s{0,0.0}")],
    )  # fmt: skip
    fig.scatter(x="time", y="duration_s", color="colour", size=9, alpha=0.8,
                source=ColumnDataSource(durations_data(runs, tz)), name="durations")  # fmt: skip
    fig.y_range.start = 0
    return fig


# --------------------------------------------------------------------------------------------------------
# Query latency over time
# --------------------------------------------------------------------------------------------------------
def latency_data(history: pd.DataFrame, tz: str = "UTC") -> dict[str, Any]:
    """Return the columns of the latency source.

    Parameters
    ----------
    history : pandas.DataFrame
        One row per reading: ``time_utc`` and ``p50_s``, ``p95_s``, ``p99_s`` [s] (percentiles of the
        store's recent window at that time).
    tz : str
        Zone of the time axis.
    """
    return {
        "time": np.asarray(display_times(history["time_utc"], tz), dtype="datetime64[ms]"),
        **{
            col: history[col.replace("_ms", "_s")].to_numpy(dtype=float) * 1000.0
            for col, _, _ in _LATENCY_LINES
        },
    }


def latency_figure(history: pd.DataFrame, *, tz: str = "UTC", title: str = "Store query latency") -> Any:
    """Draw the percentiles of the store's recent query latency at each reading.

    Parameters
    ----------
    history : pandas.DataFrame
        See :func:`latency_data` (may be empty: the page appends readings as it polls).
    tz : str
        Zone of the time axis.
    title : str
        Title above the plot.

    Returns
    -------
    bokeh.plotting.figure
        Lines from the source named ``"latency"`` (columns of :func:`latency_data`).
    """
    from bokeh.models import ColumnDataSource

    fig = new_figure(
        title=title, x_label=time_label(tz), y_label="query latency [ms]", height=280,
        tooltips=[("time", "@time{%F %H:%M:%S}"), ("p50 [ms]", "@p50_ms{0,0.0}"),
                  ("p95 [ms]", "@p95_ms{0,0.0}"), ("p99 [ms]", "@p99_ms{0,0.0}")],
    )  # fmt: skip
    source = ColumnDataSource(latency_data(history, tz))
    for i, (column, label, colour) in enumerate(_LATENCY_LINES):
        fig.line(x="time", y=column, source=source, color=colour, line_width=2, legend_label=label,
                 name="latency" if i == 0 else f"latency-{label}")  # fmt: skip
    fig.y_range.start = 0
    return finish_legend(fig)


# --------------------------------------------------------------------------------------------------------
# The store's tables
# --------------------------------------------------------------------------------------------------------
def table_data(tables: pd.DataFrame, measure: str = "bytes_on_disk") -> dict[str, Any]:
    """Return the columns of the tables source: one bar per table, ``value`` in the measure's unit.

    Raises
    ------
    FigureError
        If ``measure`` is not one of :data:`TABLE_MEASURES`.
    """
    if measure not in TABLE_MEASURES:
        raise FigureError(f"unknown table measure {measure!r}; expected one of {sorted(TABLE_MEASURES)}")
    divisor = TABLE_MEASURES[measure][1]
    ordered = tables.sort_values(measure, ascending=True, kind="stable")
    return {
        "table": [f"{d}.{t}" for d, t in zip(ordered["database"], ordered["table"], strict=True)],
        "value": [float(v) / divisor for v in ordered[measure]],
        "rows": [int(v) for v in ordered["rows"]],
        "parts": [int(v) for v in ordered["parts"]],
        "mib": [float(v) / 2.0**20 for v in ordered["bytes_on_disk"]],
    }


def tables_figure(
    tables: pd.DataFrame, *, measure: str = "bytes_on_disk", title: str = "Store tables"
) -> Any:
    """Draw one horizontal bar per table: its size on disk, rows or active parts.

    Parameters
    ----------
    tables : pandas.DataFrame
        :attr:`StoreHealth.tables` (``database``, ``table``, ``rows``, ``parts``, ``bytes_on_disk``).
    measure : str
        One of :data:`TABLE_MEASURES`; the x axis is labelled with its unit.
    title : str
        Title above the plot.

    Returns
    -------
    bokeh.plotting.figure
        Bars from the source named ``"tables"`` (columns of :func:`table_data`). A page that changes the
        measure replaces the source's data, the axis label (``fig.xaxis.axis_label``) and ``y_range``'s
        factors.
    """
    from bokeh.models import ColumnDataSource, NumeralTickFormatter

    data = table_data(tables, measure)
    fig = new_figure(
        title=title, x_label=TABLE_MEASURES[measure][0], y_label="table [database.table]", x_type="linear",
        y_range=data["table"], height=max(220, 26 * len(data["table"]) + 90),
        tooltips=[("table", "@table"), ("rows", "@rows{0,0}"), ("active parts", "@parts"),
                  ("on disk [MiB]", "@mib{0,0.00}")],
    )  # fmt: skip
    fig.hbar(
        y="table", right="value", height=0.7, color="#1f77b4", source=ColumnDataSource(data), name="tables"
    )
    fig.xaxis.formatter = NumeralTickFormatter(format="0.[00]a")  # 35k rows, 0.25 MiB: labels stay apart
    fig.x_range.start = 0
    fig.ygrid.grid_line_color = None
    return fig
