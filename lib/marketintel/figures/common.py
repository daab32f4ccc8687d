"""What every figure builder shares: palette, time axes in a chosen zone, and embedding in HTML pages.

Figures are Bokeh models (a ``bokeh.plotting.figure`` or a layout of them). A dashboard shows one in a
``panel.pane.Bokeh``; a report embeds it with :class:`FigureEmbedder`, which inlines BokehJS once per page,
so the report opens offline in a browser.

Times are drawn as wall-clock times of one zone (UTC or a market's local zone, the user's choice): Bokeh's
datetime axis has no zones, so :func:`display_times` converts the instants and :func:`time_label` names the
zone on the axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import pandas as pd

from marketintel.exceptions import MarketIntelError


class FigureError(MarketIntelError, ValueError):
    """A figure was asked for with arguments it cannot be drawn with (the message says which)."""


#: 20 distinct colours: Bokeh's Category10, then the lighter half of Category20
_COLOURS: Final[tuple[str, ...]] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5",
)  # fmt: skip
#: the tools of every figure (hover is added per figure, with its own tooltips)
TOOLS: Final[str] = "pan,wheel_zoom,box_zoom,reset,save"
#: height of a figure unless told  [px]
HEIGHT: Final[int] = 340


def palette(n: int) -> list[str]:
    """Return ``n`` distinct colours, the same ones in every figure (they repeat past 20).

    Parameters
    ----------
    n : int
        Number of colours (one per model, series, ...).

    Returns
    -------
    list of str
        CSS colours: Bokeh's Category10, then the light half of Category20.
    """
    return [_COLOURS[i % len(_COLOURS)] for i in range(n)]


def display_times(values: Any, tz: str = "UTC") -> pd.DatetimeIndex:
    """Return instants as naive wall-clock times of ``tz``, what a Bokeh datetime axis draws.

    Parameters
    ----------
    values : array-like of datetime
        Instants: tz-aware (any zone) or naive meaning UTC.
    tz : str
        IANA zone of the wall clock, e.g. ``"UTC"`` or ``"America/Chicago"``.

    Returns
    -------
    pandas.DatetimeIndex
        Naive local times (a DST fall-back hour appears twice, in order).
    """
    index = pd.DatetimeIndex(pd.to_datetime(values))
    if index.tz is None:
        index = index.tz_localize("UTC")
    try:
        return index.tz_convert(tz).tz_localize(None)
    except (KeyError, ValueError) as exc:  # an unknown zone
        raise FigureError(f"unknown time zone {tz!r}: expected an IANA name such as 'UTC'") from exc


def time_label(tz: str = "UTC", what: str = "time") -> str:
    """Return the label of a time axis drawn in ``tz``, e.g. ``"time [America/Chicago]"``."""
    return f"{what} [{tz}]"


def new_figure(
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_type: Literal["datetime", "linear", "log", "auto"] = "datetime",
    height: int = HEIGHT,
    x_range: Any = None,
    y_range: Any = None,
    tooltips: Sequence[tuple[str, str]] | None = None,
) -> Any:
    """Return a Bokeh figure in the house style: full width, titled, both axes labelled with units.

    Parameters
    ----------
    title : str
        Title above the plot.
    x_label, y_label : str
        Axis labels, each with its unit in brackets (``"price [USD/MMBtu]"``, ``time_label(tz)``).
    x_type : str
        ``"datetime"`` (default), ``"linear"``, ``"log"`` or ``"auto"`` (categorical when
        ``x_range`` is a list).
    height : int
        Height  [px].
    x_range, y_range : optional
        Bokeh ranges or lists of categories.
    tooltips : sequence of (label, field), optional
        A hover tool with these tooltips (Bokeh's ``@field`` syntax; ``{%F %H:%M}`` formats datetimes).

    Returns
    -------
    bokeh.plotting.figure
    """
    from bokeh.models import HoverTool
    from bokeh.plotting import figure

    kwargs: dict[str, Any] = {}
    if x_range is not None:
        kwargs["x_range"] = x_range
    if y_range is not None:
        kwargs["y_range"] = y_range
    fig = figure(
        title=title, x_axis_type=x_type, height=height, sizing_mode="stretch_width", tools=TOOLS,
        toolbar_location="above", x_axis_label=x_label, y_axis_label=y_label, **kwargs,
    )  # fmt: skip
    if tooltips:
        formatters: dict[str, Any] = {
            f"@{{{f.split('{')[0].strip('@{}')}}}": "datetime" for _, f in tooltips if "{%" in f
        }
        fig.add_tools(HoverTool(tooltips=list(tooltips), formatters=formatters))
    if fig.title is not None and not isinstance(fig.title, str):
        fig.title.text_font_size = "13px"
    return fig


def finish_legend(fig: Any) -> Any:
    """Place a figure's legend (if it has items) top left, clickable to hide a series; return ``fig``."""
    if fig.legend and fig.legend[0].items:
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        fig.legend.background_fill_alpha = 0.7
    return fig


def inline_resources() -> str:
    """Return the ``<script>`` tags that inline BokehJS (core only, 1.3 MB): no network needed.

    Figures only: no widgets, tables, WebGL or MathJax bundles (another 2.7 MB a report does not use).
    """
    from bokeh.resources import Resources

    return str(Resources(mode="inline", components=["bokeh"]).render_js())


@dataclass
class FigureEmbedder:
    """Turns figures into HTML fragments, inlining BokehJS in the first one only.

    One embedder per page: the page then opens offline (no script from the network) and carries the
    bundle once however many figures it shows.

    Attributes
    ----------
    included : bool
        Whether BokehJS has been emitted already.
    """

    included: bool = field(default=False)

    def html(self, fig: Any) -> str:
        """Return the figure as a ``<div>`` and its ``<script>`` (plus BokehJS the first time)."""
        from bokeh.embed import components
        from bokeh.model import Model

        if not isinstance(fig, Model):
            raise FigureError(f"expected a Bokeh figure or layout, got {type(fig).__name__}")
        script, div = components(fig)
        head = "" if self.included else inline_resources()
        self.included = True
        return f'{head}<div class="mi-figure">{div}</div>{script}'


__all__ = [
    "HEIGHT",
    "FigureEmbedder",
    "FigureError",
    "display_times",
    "finish_legend",
    "inline_resources",
    "new_figure",
    "palette",
    "time_label",
]
