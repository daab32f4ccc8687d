"""Figures of an ingestion run: the stored series of the window it ingested.

The ingest report (``notebooks/ingest.py``) reads the series through :mod:`marketintel.services.queries`
and passes them here; the builder only draws (a missing interval is a gap in its line, not a slope
across it). It returns a Bokeh figure; :class:`~marketintel.figures.common.FigureEmbedder` embeds it with
BokehJS inlined, so the report opens offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from marketintel.figures.common import (
    FigureError,
    display_times,
    finish_legend,
    new_figure,
    palette,
    time_label,
)


def _on_own_grid(values: pd.Series) -> pd.Series:
    """Return a series on its commonest step, NaN where an interval is missing (stamps off it are kept)."""
    values = values[~values.index.duplicated(keep="last")].sort_index()
    index = pd.DatetimeIndex(values.index)
    if len(index) < 2:
        return values
    step = pd.Series(index[1:] - index[:-1]).mode()[0]
    grid = pd.date_range(index[0], index[-1], freq=step)
    return values.reindex(index.union(grid))


def ingested_series_figure(
    series: pd.DataFrame,
    *,
    title: str,
    quantity: str,
    tz: str = "UTC",
    local_tz: str | None = None,
    order: Sequence[str] | None = None,
) -> Any:
    """Lines of the stored series of an ingestion window, one per series, gaps where intervals are missing.

    Parameters
    ----------
    series : pandas.DataFrame
        Long form: ``name`` (the legend entry, e.g. ``"SPP_REAL_TIME_5MIN SPPNORTH_HUB"``),
        ``interval_start_utc`` (tz-aware), ``value`` and ``unit``.
    title : str
        Title.
    quantity : str
        What the values are (``"price"``, ``"value"``), for the y label with the units.
    tz : str
        Zone the time axis is drawn in.
    local_tz : str, optional
        The publisher's zone, listed in the hover next to ``tz``.
    order : sequence of str, optional
        Legend order of the names (default: as they come).

    Returns
    -------
    bokeh.plotting.figure
        x: interval start [tz]; y: ``quantity [units]``.
    """
    from bokeh.models import ColumnDataSource

    missing = [c for c in ("name", "interval_start_utc", "value", "unit") if c not in series.columns]
    if missing:
        raise FigureError(f"ingested_series_figure needs columns {missing}; got {list(series.columns)}")
    units = sorted({str(u) for u in series["unit"]})
    names = list(order) if order is not None else list(dict.fromkeys(str(n) for n in series["name"]))
    tooltips = [("series", "@name"), ("start", f"@time{{%F %H:%M}} {tz}"), ("value", "@value{0,0.00} @unit")]
    if local_tz and local_tz != tz:
        tooltips.insert(2, ("local", "@local"))
    fig = new_figure(
        title=title, x_label=time_label(tz, "interval start"),
        y_label=f"{quantity} [{', '.join(units) or '?'}]", height=420, tooltips=tooltips,
    )  # fmt: skip
    for name, colour in zip(names, palette(len(names)), strict=True):
        part = series[series["name"].astype(str) == name]
        if part.empty:
            continue
        unit = str(part["unit"].iloc[0])
        stamps = pd.DatetimeIndex(pd.to_datetime(part["interval_start_utc"], utc=True))
        values = _on_own_grid(pd.Series(part["value"].to_numpy(dtype=float), index=stamps))
        index = pd.DatetimeIndex(values.index)
        data: dict[str, Any] = {
            "time": display_times(index, tz),
            "value": values.to_numpy(),
            "name": [name] * len(values),
            "unit": [unit] * len(values),
        }
        if local_tz and local_tz != tz:
            data["local"] = list(index.tz_convert(local_tz).strftime("%Y-%m-%d %H:%M %Z"))
        source = ColumnDataSource(data)
        fig.line(x="time", y="value", source=source, color=colour, line_width=1.5, legend_label=name)
        fig.scatter(x="time", y="value", source=source, color=colour, size=4, legend_label=name)
    finish_legend(fig)
    if fig.legend:  # right of the plot: inside it would hide the first points of the window
        fig.add_layout(fig.legend[0], "right")
    return fig
