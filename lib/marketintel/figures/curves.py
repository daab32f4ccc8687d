"""Figures of forward curves: the curve with its quoted contracts, the hourly shape, the repricing errors.

The builders draw what they are given and compute nothing: the ``curves`` and ``curve-builder`` dashboards
and the curves report pass them frames from :mod:`marketintel.services.curves` (a stored version's
points, contracts and peak/off-peak averages, or an unsaved build's). Each returns a Bokeh figure; every
time axis is drawn in the zone ``tz`` (the market's local time or UTC) and says so, every price axis
names its unit.

The curve figure's data sources are named (:func:`curve_sources`), so a dashboard changes what is drawn
by replacing their ``data`` (:func:`update_curve_figure`) instead of building a new figure.
"""

from __future__ import annotations

from collections.abc import Mapping
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

__all__ = [
    "contract_data",
    "curve_figure",
    "curve_sources",
    "hourly_figure",
    "repricing_figure",
    "update_curve_figure",
]

#: colour of the shown version's curve, and of the contracts by profile
CURVE_COLOUR: Final[str] = "#1f77b4"
CONTRACT_COLOURS: Final[dict[str, str]] = {"base": "#ff7f0e", "peak": "#d62728", "offpeak": "#2ca02c"}
#: colours of the peak / off-peak daily averages
BLOCK_COLOURS: Final[dict[str, str]] = {"peak": "#d62728", "offpeak": "#2ca02c"}


def _step_data(start: Any, end: Any, values: Any, tz: str) -> dict[str, Any]:
    """Return a step line's points: each value drawn flat over its interval ``[start, end)``."""
    x0, x1 = display_times(start, tz), display_times(end, tz)
    y = np.asarray(values, dtype=float)
    xs = np.empty(2 * len(y), dtype="datetime64[ms]")
    xs[0::2], xs[1::2] = x0.to_numpy("datetime64[ms]"), x1.to_numpy("datetime64[ms]")
    ys = np.repeat(y, 2)
    return {"x": xs, "y": ys}


def curve_data(points: pd.DataFrame, tz: str) -> dict[str, Any]:
    """Return the step-line data of a curve's points (``delivery_start_utc, delivery_end_utc, value``)."""
    return _step_data(points["delivery_start_utc"], points["delivery_end_utc"], points["value"], tz)


def contract_data(contracts: pd.DataFrame, tz: str) -> dict[str, Any]:
    """Return the segment data of quoted contracts (rows with a known delivery interval only).

    Parameters
    ----------
    contracts : pd.DataFrame
        ``contract, profile, start_utc, end_utc, target, repriced, error`` [UTC], [price unit]
        (:func:`marketintel.services.curves.contract_fits`).
    tz : str
        Zone of the time axis.
    """
    known = contracts[contracts["start_utc"].notna() & contracts["end_utc"].notna()]
    profile = known["profile"].astype(str).str.lower()
    return {
        "x0": display_times(known["start_utc"], tz),
        "x1": display_times(known["end_utc"], tz),
        "y": known["target"].to_numpy(dtype=float),
        "contract": known["contract"].astype(str).to_numpy(),
        "profile": profile.to_numpy(),
        "repriced": known["repriced"].to_numpy(dtype=float),
        "error": known["error"].to_numpy(dtype=float),
        "colour": [CONTRACT_COLOURS.get(p, "#9467bd") for p in profile],
    }


def curve_sources(
    points: pd.DataFrame,
    contracts: pd.DataFrame | None = None,
    *,
    overlays: Mapping[str, pd.DataFrame] | None = None,
    blocks: pd.DataFrame | None = None,
    tz: str = "UTC",
) -> dict[str, dict[str, Any]]:
    """Return the data of each named source of :func:`curve_figure`, in drawing order.

    Parameters
    ----------
    points : pd.DataFrame
        The shown version: ``delivery_start_utc, delivery_end_utc, value`` [UTC], [price unit]. For an
        hourly curve pass its daily averages as ``blocks`` and ``points`` may be empty.
    contracts : pd.DataFrame, optional
        Its quoted contracts (:func:`contract_data`).
    overlays : mapping of str to pd.DataFrame, optional
        Other versions, by legend label, with the columns of ``points``.
    blocks : pd.DataFrame, optional
        Daily averages of an hourly curve: ``start_utc`` (local midnight) [UTC] and ``base`` [, ``peak``,
        ``offpeak``] [price unit] (:func:`marketintel.services.curves.block_averages`).
    tz : str
        Zone of the time axis.

    Returns
    -------
    dict of str to dict
        ``"overlay:<label>"`` per overlay, ``"curve"`` (or ``"base"``, ``"peak"``, ``"offpeak"`` from
        ``blocks``), ``"contracts"``.
    """
    sources: dict[str, dict[str, Any]] = {}
    for label, frame in (overlays or {}).items():
        sources[f"overlay:{label}"] = curve_data(frame, tz)
    if blocks is not None and len(blocks):
        start = pd.DatetimeIndex(blocks["start_utc"])
        end = start[1:].append(pd.DatetimeIndex([start[-1] + pd.Timedelta(days=1)]))
        for column in ("base", "peak", "offpeak"):
            if column in blocks.columns:
                sources[column] = _step_data(start, end, blocks[column], tz)
    else:
        sources["curve"] = curve_data(points, tz)
    if contracts is not None:
        sources["contracts"] = contract_data(contracts, tz)
    return sources


def curve_figure(
    sources: Mapping[str, Mapping[str, Any]],
    *,
    unit: str,
    tz: str = "UTC",
    title: str = "forward curve",
    label: str = "curve",
    height: int = 420,
) -> Any:
    """Draw a forward curve, earlier versions under it and the quoted contracts over their delivery.

    Parameters
    ----------
    sources : mapping
        :func:`curve_sources`.
    unit : str
        Price unit of the values, e.g. ``"USD/MMBtu"``.
    tz : str
        Zone the times were converted to (the axis label names it).
    title : str
        Title of the figure.
    label : str
        Legend label of the shown version.
    height : int
        Height [px].

    Returns
    -------
    bokeh.plotting.figure
        x: delivery [tz], y: price [unit]; each renderer is named as its source.
    """
    from bokeh.models import ColumnDataSource, HoverTool

    if not unit:
        raise FigureError("a curve figure needs the price unit of its values")
    fig = new_figure(
        title=title, x_label=time_label(tz, "delivery"), y_label=f"price [{unit}]", height=height
    )
    overlays = [name for name in sources if name.startswith("overlay:")]
    for name, colour in zip(overlays, palette(len(overlays) + 3)[3:], strict=False):
        fig.line("x", "y", source=ColumnDataSource(dict(sources[name]), name=name), name=name,
                 legend_label=name.removeprefix("overlay:"), color=colour, line_width=1.5, line_dash="dashed",
                 alpha=0.8)  # fmt: skip
    lines = {"curve": (label, CURVE_COLOUR), "base": (f"{label}: daily base", CURVE_COLOUR)}
    lines |= {k: (f"daily {k}", c) for k, c in BLOCK_COLOURS.items()}
    drawn = []
    for name, (legend, colour) in lines.items():
        if name in sources:
            drawn.append(
                fig.line(
                    "x",
                    "y",
                    source=ColumnDataSource(dict(sources[name]), name=name),
                    name=name,
                    legend_label=legend,
                    color=colour,
                    line_width=2,
                )
            )
    if drawn:
        hover = HoverTool(
            renderers=drawn,
            tooltips=[("delivery", "@x{%F %H:%M}"), ("price", f"@y{{0.000}} {unit}")],
            formatters={"@x": "datetime"},
            mode="vline",
        )
        fig.add_tools(hover)
    if "contracts" in sources:
        source = ColumnDataSource(dict(sources["contracts"]), name="contracts")
        quotes = fig.segment(
            "x0", "y", "x1", "y", source=source, name="contracts", color="colour", line_width=5, alpha=0.55,
            legend_label="quoted contracts",
        )  # fmt: skip
        tips = [
            ("contract", "@contract (@profile)"), ("quoted", f"@y{{0.0000}} {unit}"),
            ("repriced", f"@repriced{{0.0000}} {unit}"), ("error", f"@error{{0.00e+0}} {unit}"),
            ("delivery", "@x0{%F %H:%M} .. @x1{%F %H:%M}"),
        ]  # fmt: skip
        fig.add_tools(
            HoverTool(renderers=[quotes], tooltips=tips, formatters={"@x0": "datetime", "@x1": "datetime"})
        )
    return finish_legend(fig)


def update_curve_figure(fig: Any, sources: Mapping[str, Mapping[str, Any]], tz: str) -> bool:
    """Replace the data of a :func:`curve_figure` in place; return False if its sources are not the same set.

    Parameters
    ----------
    fig : bokeh.plotting.figure
        A figure from :func:`curve_figure`.
    sources : mapping
        New :func:`curve_sources` (same names: e.g. another version, or another zone).
    tz : str
        Zone the new times are in (the x axis label follows).
    """
    from bokeh.models import ColumnDataSource

    held = {s.name: s for s in fig.select({"type": ColumnDataSource}) if s.name}
    if set(held) != set(sources):
        return False
    for name, data in sources.items():
        held[name].data = dict(data)
    fig.xaxis.axis_label = time_label(tz, "delivery")
    return True


def hourly_figure(points: pd.DataFrame, *, unit: str, tz: str = "UTC", title: str = "hourly shape") -> Any:
    """Draw an hourly curve hour by hour (its shape inside each day: peak and off-peak hours).

    Parameters
    ----------
    points : pd.DataFrame
        ``delivery_start_utc, value`` per delivery hour [UTC], [price unit].
    unit : str
        Price unit.
    tz : str
        Zone of the time axis.
    title : str
        Title of the figure.

    Returns
    -------
    bokeh.plotting.figure
        x: delivery hour [tz], y: price [unit]; the renderer and its source are named ``"hourly"``.
    """
    from bokeh.models import ColumnDataSource

    data: dict[str, Any] = {
        "x": display_times(points["delivery_start_utc"], tz),
        "y": points["value"].to_numpy(dtype=float),
    }
    fig = new_figure(
        title=title, x_label=time_label(tz, "delivery hour"), y_label=f"price [{unit}]", height=300,
        tooltips=[("hour beginning", "@x{%F %H:%M}"), ("price", f"@y{{0.000}} {unit}")],
    )  # fmt: skip
    fig.line("x", "y", source=ColumnDataSource(data, name="hourly"), name="hourly", color=CURVE_COLOUR,
             line_width=1)  # fmt: skip
    return fig


def repricing_figure(
    contracts: pd.DataFrame, *, unit: str, title: str = "repricing error per contract"
) -> Any:
    """Draw each contract's repricing error (curve average minus quote, outside the bid/ask band).

    Parameters
    ----------
    contracts : pd.DataFrame
        ``contract, profile, target, repriced, error`` [price unit].
    unit : str
        Price unit.
    title : str
        Title of the figure.

    Returns
    -------
    bokeh.plotting.figure
        x: contract (categorical), y: error [unit]; the bars' source is named ``"errors"``.
    """
    from bokeh.models import ColumnDataSource

    keys = [f"{c} {p}" for c, p in zip(contracts["contract"], contracts["profile"], strict=True)]
    errors = contracts["error"].to_numpy(dtype=float)
    data: dict[str, Any] = {
        "key": keys, "error": errors, "contract": contracts["contract"].astype(str).to_numpy(),
        "profile": contracts["profile"].astype(str).to_numpy(),
        "target": contracts["target"].to_numpy(dtype=float),
        "repriced": contracts["repriced"].to_numpy(dtype=float),
        "colour": ["#1f77b4" if abs(e) <= 1e-8 else "#d62728" for e in np.nan_to_num(errors)],
    }  # fmt: skip
    fig = new_figure(
        title=title, x_label="contract", y_label=f"error [{unit}]", x_type="auto", x_range=keys, height=300,
        tooltips=[("contract", "@contract (@profile)"), ("quoted", f"@target{{0.0000}} {unit}"),
                  ("repriced", f"@repriced{{0.0000}} {unit}"), ("error", f"@error{{0.00e+0}} {unit}")],
    )  # fmt: skip
    fig.vbar(x="key", top="error", width=0.8, color="colour", source=ColumnDataSource(data, name="errors"),
             name="errors")  # fmt: skip
    fig.xaxis.major_label_orientation = 1.2
    fig.xaxis.major_label_text_font_size = "8px" if len(keys) > 40 else "10px"
    return fig
