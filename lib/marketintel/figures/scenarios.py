"""Figures of scenarios: the scenario curve over its base, and their difference under them.

The builders draw what they are given: the ``base`` and ``result`` frames of a
:class:`~marketintel.services.scenarios.ScenarioResult` (``delivery_start_utc, delivery_end_utc, value``),
from the scenario flow's report and the ``scenarios`` dashboard page. Times are drawn in the zone ``tz``
(named on the axis), prices in their unit.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from marketintel.figures.common import FigureError, finish_legend, new_figure, time_label
from marketintel.figures.curves import curve_data

__all__ = ["comparison_figure", "comparison_sources"]

#: colours of the base, the scenario and the difference
COLOURS: Final[dict[str, str]] = {"base": "#7f7f7f", "scenario": "#d62728", "difference": "#1f77b4"}


def comparison_sources(
    base: pd.DataFrame, result: pd.DataFrame, tz: str = "UTC"
) -> dict[str, dict[str, Any]]:
    """Return the step-line data of the base, the scenario and their difference (scenario - base).

    Parameters
    ----------
    base, result : pandas.DataFrame
        ``delivery_start_utc, delivery_end_utc, value`` [unit]: the base curve and the scenario curve. The
        difference is taken on the delivery intervals both have.
    tz : str
        Zone the times are drawn in.

    Returns
    -------
    dict
        ``{"base": {"x", "y"}, "scenario": {...}, "difference": {...}}``: each value drawn flat over its
        interval (two points per interval).
    """
    keys = ["delivery_start_utc", "delivery_end_utc"]
    both = base[[*keys, "value"]].merge(result[[*keys, "value"]], on=keys, suffixes=("_base", "_scenario"))
    both = both.sort_values("delivery_start_utc")
    diff = both[keys].assign(value=both["value_scenario"].to_numpy() - both["value_base"].to_numpy())
    return {
        "base": curve_data(base.sort_values("delivery_start_utc"), tz),
        "scenario": curve_data(result.sort_values("delivery_start_utc"), tz),
        "difference": curve_data(diff, tz),
    }


def comparison_figure(
    base: pd.DataFrame,
    result: pd.DataFrame,
    *,
    unit: str,
    tz: str = "UTC",
    title: str = "scenario against base",
    base_label: str = "base",
    label: str = "scenario",
) -> Any:
    """Draw the scenario curve over its base and, below on the same time axis, the difference.

    Parameters
    ----------
    base, result : pandas.DataFrame
        As :func:`comparison_sources`.
    unit : str
        Price unit, e.g. ``"USD/MMBtu"``.
    tz : str
        Zone the times are drawn in (the axes name it).
    title : str
        Title of the upper figure.
    base_label, label : str
        Legend labels of the base (or the other run) and the scenario.

    Returns
    -------
    bokeh.layouts.Column
        Two figures sharing the delivery axis: prices [unit] of both curves (sources ``base`` and
        ``scenario``), and ``scenario - base`` [unit] (source ``difference``).
    """
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.models.annotations import Span

    if not unit:
        raise FigureError("a scenario figure needs the price unit of its values")
    sources = comparison_sources(base, result, tz)
    top = new_figure(title=title, x_label=time_label(tz, "delivery"), y_label=f"price [{unit}]", height=360)
    drawn = []
    for name, legend, width in (("base", base_label, 2.0), ("scenario", label, 2.0)):
        drawn.append(
            top.line(
                "x",
                "y",
                source=ColumnDataSource(sources[name], name=name),
                name=name,
                legend_label=legend,
                color=COLOURS[name],
                line_width=width,
                line_dash="dashed" if name == "base" else "solid",
            )
        )
    tips = [("delivery", "@x{%F %H:%M}"), ("price", f"@y{{0.0000}} {unit}")]
    top.add_tools(HoverTool(renderers=drawn, tooltips=tips, formatters={"@x": "datetime"}, mode="vline"))
    finish_legend(top)
    bottom = new_figure(
        title=f"{label} - {base_label}",
        x_label=time_label(tz, "delivery"),
        y_label=f"difference [{unit}]",
        height=220,
        x_range=top.x_range,
    )
    diff = bottom.line("x", "y", source=ColumnDataSource(sources["difference"], name="difference"),
                       name="difference", color=COLOURS["difference"], line_width=2)  # fmt: skip
    bottom.add_layout(Span(location=0.0, dimension="width", line_color="#444444", line_width=1))
    tips = [("delivery", "@x{%F %H:%M}"), ("difference", f"@y{{+0.0000}} {unit}")]
    bottom.add_tools(HoverTool(renderers=[diff], tooltips=tips, formatters={"@x": "datetime"}, mode="vline"))
    if len(sources["difference"]["y"]) and not np.isfinite(sources["difference"]["y"]).all():
        raise FigureError("the difference has non-finite values: the curves' values must be numbers")
    return column(top, bottom, sizing_mode="stretch_width")
