"""What every figure builder shares: palette, time axes in a chosen zone, and embedding in HTML pages.

Figures are Bokeh models (a ``bokeh.plotting.figure`` or a layout of them). A dashboard shows one in a
``panel.pane.Bokeh``; a report embeds it with :class:`FigureEmbedder`, which inlines BokehJS once per page,
so the report opens offline in a browser.

Times are drawn as wall-clock times of one zone (UTC or a market's local zone, the user's choice): Bokeh's
datetime axis has no zones, so :func:`display_times` converts the instants and :func:`time_label` names the
zone on the axis.
"""

from __future__ import annotations

import warnings
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


#: properties of a shown figure that its page (Panel's pane) sets: not copied from the new figure
_PLACED_BY_PAGE = frozenset({"stylesheets", "sizing_mode", "styles", "css_classes", "margin"})
#: bounds of an automatic range: the browser computes them from the data and sends them back, so the
#: shown range holds numbers where a new figure's holds NaN; copying those would blank the plot
_AUTORANGED = frozenset({"start", "end"})


def refresh_in_place(shown: Any, new: Any) -> bool:
    """Give the figure on screen the values of a new figure of the same shape; return False if not alike.

    A page that redraws (another zone, another week, a new read) builds its figure again with the same
    builder. Swapping the new figure in would send every one of its models to the browser, which then
    builds all their views again; copying the new values into the models already shown sends only what
    changed (data, labels, ranges, colours). The two are alike when their model graphs have the same
    types in the same places (the same builder on data with the same series); otherwise nothing is
    changed and the caller shows ``new`` instead.

    Parameters
    ----------
    shown : bokeh.model.Model
        The figure (or layout) on screen.
    new : bokeh.model.Model
        The same builder's figure for the new state.
    """
    from bokeh.model import Model
    from bokeh.models import DataRange1d
    from bokeh.util.warnings import BokehDeprecationWarning

    changes: list[tuple[Any, str, Any]] = []
    paired: set[int] = set()

    def same(value: Any, other: Any) -> bool:
        try:
            return bool(value == other) and type(value) is type(other)
        except (ValueError, TypeError):  # arrays: compared element-wise
            return False

    def walk(old: Any, fresh: Any) -> bool:
        if type(old) is not type(fresh):
            return False
        if id(old) in paired:  # met before through another reference
            return True
        paired.add(id(old))
        skipped = _PLACED_BY_PAGE | (_AUTORANGED if isinstance(old, DataRange1d) else frozenset())
        for name in sorted(fresh.properties() - skipped):
            if fresh.lookup(name).readonly:
                continue
            before, after = getattr(old, name), getattr(fresh, name)
            if isinstance(after, Model) or isinstance(before, Model):
                if not walk(before, after):
                    return False
            elif isinstance(after, list | tuple) and any(isinstance(v, Model) for v in (*after, *before)):
                if len(before) != len(after):
                    return False
                for b, a in zip(before, after, strict=True):
                    if isinstance(a, Model) or isinstance(b, Model):
                        if not walk(b, a):
                            return False
                    elif not same(b, a):
                        return False
            elif not same(before, after):
                changes.append((old, name, after))
        return True

    with warnings.catch_warnings():  # reading deprecated properties (e.g. a tool's toggleable) warns
        warnings.simplefilter("ignore", BokehDeprecationWarning)
        if not walk(shown, new):
            return False
    for model, name, value in changes:
        setattr(model, name, dict(value) if isinstance(value, dict) else value)
    return True


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
    "refresh_in_place",
    "time_label",
]
