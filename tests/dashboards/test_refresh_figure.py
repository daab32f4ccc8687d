"""A redraw copies a new figure's values into the figure on screen when the two are alike; background work.

The figure on screen keeps its models (so the browser keeps its views and receives only what changed); a
figure of another shape is refused and left as it was.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
from bokeh.document import Document
from bokeh.models import ColumnDataSource

from marketintel.dashboards.page import PageView
from marketintel.figures.common import display_times, new_figure, refresh_in_place, time_label


def _prices(tz: str, n: int, lines: int = 1) -> object:
    starts = pd.date_range("2024-03-30", periods=n, freq="h", tz="UTC")
    fig = new_figure(title=f"prices ({tz})", x_label=time_label(tz, "delivery"), y_label="price [EUR/MWh]")
    for i in range(lines):
        source = ColumnDataSource({"t": display_times(starts, tz), "v": [float(i + k) for k in range(n)]})
        fig.line("t", "v", source=source, legend_label=f"line {i}")
    return fig


def test_alike_figures_are_copied_into_the_shown_one() -> None:
    shown, new = _prices("UTC", 48), _prices("Europe/Berlin", 72)
    doc = Document()
    doc.add_root(shown)
    ids = {m.id for m in doc.models}
    before = shown.renderers[0].data_source
    assert refresh_in_place(shown, new)
    assert {m.id for m in doc.models} == ids  # no model added or replaced
    assert shown.renderers[0].data_source is before
    assert len(before.data["t"]) == 72
    # 2024-03-31 is the EU switch to summer time: the wall clock jumps from 02:00 to 03:00
    t = [pd.Timestamp(v) for v in before.data["t"][24:26]]  # 00:00 and 01:00 UTC
    assert t == [pd.Timestamp("2024-03-31 01:00"), pd.Timestamp("2024-03-31 03:00")]
    assert shown.xaxis[0].axis_label == "delivery [Europe/Berlin]"
    assert shown.title.text == "prices (Europe/Berlin)"


def test_the_browsers_automatic_range_is_kept() -> None:
    """The browser sends back the bounds it computed; a new figure's are NaN and must not replace them."""
    shown, new = _prices("UTC", 24), _prices("UTC", 48)
    shown.x_range.start, shown.x_range.end = 1.0e12, 1.1e12  # as the browser reports them
    assert refresh_in_place(shown, new)
    assert (shown.x_range.start, shown.x_range.end) == (1.0e12, 1.1e12)
    assert len(shown.renderers[0].data_source.data["t"]) == 48


def test_a_figure_of_another_shape_is_refused_and_nothing_changes() -> None:
    shown, other = _prices("UTC", 24), _prices("Europe/Berlin", 24, lines=2)
    data = dict(shown.renderers[0].data_source.data)
    assert not refresh_in_place(shown, other)
    assert shown.title.text == "prices (UTC)"
    assert list(shown.renderers[0].data_source.data["t"]) == list(data["t"])


def test_a_page_shows_a_new_figure_or_refreshes_the_one_shown() -> None:
    pane = pn.pane.Bokeh(None)
    first = PageView.show_figure(pane, _prices("UTC", 24))
    assert pane.object is first
    again = PageView.show_figure(pane, _prices("America/Chicago", 24))
    assert again is first and first.xaxis[0].axis_label == "delivery [America/Chicago]"
    other = _prices("UTC", 24, lines=3)
    assert PageView.show_figure(pane, other) is other and pane.object is other


def test_background_work_does_not_mark_the_session_busy() -> None:
    """A page's periodic work leaves Panel's busy state alone (a busy switch reaches every browser)."""
    import asyncio

    from panel.io.callbacks import PeriodicCallback

    seen: list[bool] = []
    quiet = PageView.every(lambda: seen.append(bool(pn.state.busy)), 0.5, start=False)
    assert quiet.period == 500 and not quiet.running
    quiet.start()  # outside a session and an event loop: marked running, nothing scheduled
    asyncio.run(quiet._periodic_callback())  # one run, as the session's loop would make it
    loud = PeriodicCallback(callback=lambda: seen.append(bool(pn.state.busy)), period=500)
    loud.start()
    asyncio.run(loud._periodic_callback())
    quiet.stop()
    loud.stop()
    assert seen == [False, True]  # Panel's own periodic callback marks the session busy while it runs
