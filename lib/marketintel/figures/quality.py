"""Figures of data quality: freshness per dataset, completeness per local day, check results, one series.

The builders draw frames that :mod:`marketintel.services.quality` returns and compute nothing heavy: the
dashboards' ``quality`` page shows them in ``panel.pane.Bokeh`` (and streams new check results into
:func:`checks_figure`'s data source), the data-quality report embeds them with
:class:`~marketintel.figures.common.FigureEmbedder`. Each returns a Bokeh figure whose axes carry their
units; time axes are drawn in the zone ``tz`` (UTC or the market's local zone) and say which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from marketintel.figures.common import FigureError, display_times, new_figure, time_label

#: colour of each status (pass, warn, fail; unknown: never measured)
STATUS_COLOURS: Final[Mapping[str, str]] = {
    "pass": "#2ca02c",
    "warn": "#ff9f1a",
    "fail": "#d62728",
    "unknown": "#7f7f7f",
}
#: smallest value drawn on the freshness figure's log axis (a fresh or ahead dataset) [cadences]
MIN_BEHIND: Final[float] = 0.1


def _colours(statuses: Any) -> list[str]:
    return [STATUS_COLOURS.get(str(s), STATUS_COLOURS["unknown"]) for s in statuses]


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FigureError(f"{what} needs columns {missing}; got {list(frame.columns)}")


# --------------------------------------------------------------------------------------------------------
# Freshness
# --------------------------------------------------------------------------------------------------------
def freshness_figure(
    freshness: pd.DataFrame, *, fresh: float = 2.0, late: float = 6.0, tz: str = "UTC"
) -> Any:
    """Bar per dataset: how many publication cadences its data is behind now, coloured by status.

    Parameters
    ----------
    freshness : pandas.DataFrame
        :func:`marketintel.services.quality.dataset_freshness`: ``source``, ``dataset``, ``cadence``,
        ``watermark_utc``, ``behind_cadences`` [cadences], ``status``, ``message``.
    fresh, late : float
        The status limits, drawn as dashed lines [cadences].
    tz : str
        Zone the watermark is listed in (hover).

    Returns
    -------
    bokeh.plotting.figure
        y: ``source/dataset``; x: cadences behind now on a log axis (at least :data:`MIN_BEHIND`).
    """
    from bokeh.models import ColumnDataSource
    from bokeh.models.annotations import Span

    _require(freshness, ["source", "dataset", "cadence", "watermark_utc", "behind_cadences", "status",
                         "message"], "freshness_figure")  # fmt: skip
    names = [f"{s}/{d}" for s, d in zip(freshness["source"], freshness["dataset"], strict=True)]
    behind = pd.to_numeric(freshness["behind_cadences"], errors="coerce").to_numpy(dtype=float)
    drawn = np.where(np.isfinite(behind), np.maximum(behind, MIN_BEHIND), np.nan)
    marks = pd.to_datetime(freshness["watermark_utc"], utc=True)
    source = ColumnDataSource(
        {
            "name": names,
            "behind": drawn,
            "status": [str(s) for s in freshness["status"]],
            "colour": _colours(freshness["status"]),
            "cadence": [str(c) for c in freshness["cadence"]],
            "watermark": ["-" if pd.isna(m) else f"{m.tz_convert(tz):%Y-%m-%d %H:%M} {tz}" for m in marks],
            "message": [str(m) for m in freshness["message"]],
        }
    )
    fig = new_figure(
        title="Freshness of every ingested dataset against its publication cadence",
        x_label="behind now [cadences] (log scale)",
        y_label="dataset [source/dataset]",
        x_type="log",
        y_range=list(reversed(names)) or ["(none)"],
        height=max(140, 60 + 34 * len(names)),
        tooltips=[("dataset", "@name"), ("status", "@status"), ("behind", "@behind{0,0.0} cadences"),
                  ("cadence", "@cadence"), ("data up to", "@watermark"), ("", "@message")],
    )  # fmt: skip
    fig.hbar(y="name", right="behind", left=MIN_BEHIND / 2, height=0.6, color="colour", source=source)
    for limit, colour in ((fresh, STATUS_COLOURS["pass"]), (late, STATUS_COLOURS["warn"])):
        fig.add_layout(Span(location=limit, dimension="height", line_dash="dashed", line_color=colour))
    fig.ygrid.grid_line_alpha = 0.2
    return fig


# --------------------------------------------------------------------------------------------------------
# Completeness per local day
# --------------------------------------------------------------------------------------------------------
def completeness_source_data(days: pd.DataFrame, tz: str = "UTC") -> dict[str, Any]:
    """Return the columns :func:`completeness_figure` draws from a per-day completeness frame.

    Parameters
    ----------
    days : pandas.DataFrame
        :func:`marketintel.services.quality.completeness_by_day`.
    tz : str
        Zone the first missing interval is listed in (hover).
    """
    _require(days, ["day", "day_hours", "expected", "observed", "missing", "pct", "status",
                    "first_missing_utc"], "completeness_figure")  # fmt: skip
    first = pd.to_datetime(days["first_missing_utc"], utc=True)
    return {
        "day": [str(d) for d in days["day"]],
        "pct": days["pct"].to_numpy(dtype=float),
        "expected": days["expected"].to_numpy(dtype=np.int64),
        "observed": days["observed"].to_numpy(dtype=np.int64),
        "missing": days["missing"].to_numpy(dtype=np.int64),
        "hours": days["day_hours"].to_numpy(dtype=float),
        "status": [str(s) for s in days["status"]],
        "colour": _colours(days["status"]),
        "first_missing": ["-" if pd.isna(f) else f"{f.tz_convert(tz):%Y-%m-%d %H:%M} {tz}" for f in first],
    }


def completeness_figure(
    days: pd.DataFrame, *, market_tz: str, target_pct: float = 99.5, title: str = "", tz: str = "UTC"
) -> Any:
    """Bar per local day of the market: the share of its expected intervals present [%].

    A DST day expects 23 or 25 hours of intervals; the hover says how many hours and intervals.

    Parameters
    ----------
    days : pandas.DataFrame
        :func:`marketintel.services.quality.completeness_by_day`.
    market_tz : str
        The market's zone: the days are its local calendar days.
    target_pct : float
        The target, drawn as a dashed line [%].
    title : str
        Title (default: a generic one).
    tz : str
        Zone the first missing interval is listed in (hover).

    Returns
    -------
    bokeh.plotting.figure
        x: local day [market zone]; y: present [%] of expected intervals.
    """
    from bokeh.models import ColumnDataSource
    from bokeh.models.annotations import Span

    data = completeness_source_data(days, tz)
    source = ColumnDataSource(data)
    fig = new_figure(
        title=title or "Completeness per local day",
        x_label=time_label(market_tz, "local day"),
        y_label="intervals present [% of expected]",
        x_type="auto",
        x_range=data["day"] or ["(none)"],
        y_range=(0, 105),
        tooltips=[("day", "@day (@hours{0} h)"), ("present", "@observed of @expected (@pct{0.00} %)"),
                  ("missing", "@missing"), ("first missing", "@first_missing"), ("status", "@status")],
    )  # fmt: skip
    fig.vbar(x="day", top="pct", width=0.7, color="colour", source=source)
    fig.add_layout(Span(location=target_pct, dimension="width", line_dash="dashed", line_color="#444444"))
    fig.xaxis.major_label_orientation = 0.8 if len(data["day"]) > 10 else 0
    return fig


# --------------------------------------------------------------------------------------------------------
# Check results over time
# --------------------------------------------------------------------------------------------------------
def check_row_label(table: str, market: str, location: str, check: str) -> str:
    """Return the y label of one check of one series: ``"MARKET LOCATION: check"``."""
    series = " ".join(p for p in (str(market), str(location)) if p) or str(table)
    return f"{series}: {check}"


def checks_source_data(results: pd.DataFrame, tz: str = "UTC") -> dict[str, Any]:
    """Return the columns :func:`checks_figure` draws (also what a live page streams into it).

    Parameters
    ----------
    results : pandas.DataFrame
        ``data_quality`` rows (:func:`marketintel.services.queries.quality_results`), optionally with
        ``message``.
    tz : str
        Zone the check times are drawn in.
    """
    _require(results, ["checked_at_utc", "table_name", "market", "location", "check_name", "status",
                       "observed", "unit"], "checks_figure")  # fmt: skip
    messages = results["message"] if "message" in results else pd.Series([""] * len(results))
    observed = pd.to_numeric(results["observed"], errors="coerce")
    return {
        "time": display_times(results["checked_at_utc"], tz).to_numpy(dtype="datetime64[ms]"),
        "row": [
            check_row_label(t, m, loc, c)
            for t, m, loc, c in zip(
                results["table_name"],
                results["market"],
                results["location"],
                results["check_name"],
                strict=True,
            )
        ],
        "status": [str(s) for s in results["status"]],
        "colour": _colours(results["status"]),
        "observed": [
            "-" if pd.isna(v) else f"{v:.4g} {u}".strip()
            for v, u in zip(observed, results["unit"], strict=True)
        ],
        "message": [str(m) for m in messages],
    }


#: the shortest span of the check-results figure's time axis [ms]
CHECKS_MIN_SPAN_MS = 3_600_000


def checks_figure(results: pd.DataFrame, *, tz: str = "UTC") -> Any:
    """Dot per check result: when it ran (x), which check of which series (y), coloured by status.

    Parameters
    ----------
    results : pandas.DataFrame
        ``data_quality`` rows, optionally with ``message``.
    tz : str
        Zone the check times are drawn in.

    Returns
    -------
    bokeh.plotting.figure
        x: check time [tz]; y: ``"MARKET LOCATION: check"``. Its one renderer's data source has the
        columns of :func:`checks_source_data` (stream new results into it, add new rows to ``y_range``).
    """
    from bokeh.models import ColumnDataSource

    data = checks_source_data(results, tz)
    rows = sorted(set(data["row"]), reverse=True)
    fig = new_figure(
        title="Data-quality check results",
        x_label=time_label(tz, "checked at"),
        y_label="check [series: check]",
        y_range=rows or ["(none)"],
        height=max(160, 70 + 28 * len(rows)),
        tooltips=[("checked at", f"@time{{%F %H:%M:%S}} {tz}"), ("check", "@row"), ("status", "@status"),
                  ("observed", "@observed"), ("", "@message")],
    )  # fmt: skip
    fig.scatter(x="time", y="row", color="colour", size=11, alpha=0.85, source=ColumnDataSource(data))
    fig.ygrid.grid_line_alpha = 0.2
    # results of one run share one instant: without a floor the axis would zoom to milliseconds
    fig.x_range.min_interval = CHECKS_MIN_SPAN_MS
    return fig


# --------------------------------------------------------------------------------------------------------
# The checked series, with its missing intervals
# --------------------------------------------------------------------------------------------------------
def checked_series_figure(
    values: pd.DataFrame,
    *,
    cadence: str,
    start_utc: Any,
    end_utc: Any,
    tz: str = "UTC",
    title: str,
    y_label: str,
) -> Any:
    """Line of one series over the checked window, with its missing intervals marked in red.

    Parameters
    ----------
    values : pandas.DataFrame
        ``interval_start_utc`` (tz-aware) and ``value``: the stored intervals (the latest publication).
    cadence : str
        Interval length (pandas offset): the grid on which an absent interval is *missing*.
    start_utc, end_utc : pandas.Timestamp
        The checked window ``[start, end)``.
    tz : str
        Zone the times are drawn in.
    title : str
        Title.
    y_label : str
        Label of the value axis, with its unit in brackets (``"price [USD/MWh]"``).

    Returns
    -------
    bokeh.plotting.figure
        x: interval start [tz]; y: the value; a gap in the line and a red band at each missing interval.
    """
    from bokeh.models import ColumnDataSource
    from bokeh.models.annotations import BoxAnnotation

    _require(values, ["interval_start_utc", "value"], "checked_series_figure")
    step = pd.Timedelta(cadence)
    grid = pd.date_range(pd.Timestamp(start_utc), pd.Timestamp(end_utc), freq=step, inclusive="left")
    stamps = pd.DatetimeIndex(pd.to_datetime(values["interval_start_utc"], utc=True))
    stored = pd.Series(values["value"].to_numpy(dtype=float), index=stamps)
    stored = stored[~stored.index.duplicated(keep="last")].sort_index()
    shown = stored.reindex(stored.index.union(grid))  # NaN at a missing interval: a gap in the line
    missing = grid.difference(pd.DatetimeIndex(stored.index))
    fig = new_figure(
        title=title, x_label=time_label(tz, "interval start"), y_label=y_label,
        tooltips=[("start", f"@time{{%F %H:%M}} {tz}"), ("value", "@value{0,0.00}")],
    )  # fmt: skip
    line = ColumnDataSource({"time": display_times(shown.index, tz), "value": shown.to_numpy()})
    fig.line(x="time", y="value", source=line, line_width=1.6, color="#1f77b4", legend_label="stored")
    fig.scatter(x="time", y="value", source=line, size=5, color="#1f77b4")
    if len(missing):
        left = display_times(missing, tz)
        for instant in left:
            fig.add_layout(
                BoxAnnotation(left=instant, right=instant + step, fill_color=STATUS_COLOURS["fail"],
                              fill_alpha=0.25, line_alpha=0)
            )  # fmt: skip
        fig.scatter(x=[left[0]], y=[float("nan")], color=STATUS_COLOURS["fail"], size=10, marker="square",
                    legend_label=f"missing intervals ({len(missing)})")  # fmt: skip
    if fig.legend:  # right of the plot: inside it would hide the first points of the window
        fig.add_layout(fig.legend[0], "right")
    return fig
