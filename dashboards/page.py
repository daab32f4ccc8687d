# Panel's constructors and param's Selector parameters are untyped: calls and class parameters of them
# mypy: disable-error-code="no-untyped-call, var-annotated"
"""What every dashboard page shares: the message line, loading, the display zone and "download this view".

A page is a :class:`PageView` subclass (a Panel ``Viewer`` with ``param`` state) that fills
:meth:`PageView.controls` (the widgets on the left) and :meth:`PageView.main` (what it draws). The base
gives it:

- ``self.client`` / ``self.database``: the store (the service's read-only client by default); every read
  goes through :mod:`marketintel.services`, never SQL here;
- ``tz``: the zone the page draws times in, the user's choice between UTC and the market's local zone
  (:meth:`display_tz`; a page sets :meth:`market_tz`);
- :meth:`guard`: a ``with`` block that shows the page as loading while it runs and turns a
  :class:`~marketintel.exceptions.MarketIntelError` or ``ValueError`` into a message in the page (never a
  traceback);
- :meth:`say` / :meth:`empty` / :meth:`clear`: one message line (an empty state says what to run to fill
  it);
- :meth:`downloads`: CSV and Parquet buttons for the frame the page shows (a file download; the
  platform's export path replaces it once it exists).

The navigation between pages is the service's template (:func:`marketintel.dashboards.serve`), which knows
the user's groups; a page does not.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from marketintel.dashboards.data import current_user, report_event, user_client
from marketintel.exceptions import MarketIntelError
from marketintel.figures.common import refresh_in_place
from marketintel.services.access import export_rights

__all__ = ["LOCAL", "UTC", "PageView", "frame_bytes"]

#: the display-zone choices
UTC = "UTC"
LOCAL = "market local"


def frame_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """Return ``frame`` as a CSV (UTF-8, ISO times with offset) or Parquet file's bytes.

    Parameters
    ----------
    frame : pandas.DataFrame
        What the page shows (tz-aware times are kept as such).
    fmt : {"csv", "parquet"}
        File format.
    """
    if fmt == "csv":
        return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S%z").encode()
    if fmt == "parquet":
        buffer = io.BytesIO()
        plain = frame.copy()
        for column in plain.columns:  # pandas' string dtypes and objects: Arrow strings
            if isinstance(plain[column].dtype, pd.StringDtype):
                plain[column] = plain[column].astype(object)
        plain.to_parquet(buffer, index=False)
        return buffer.getvalue()
    raise ValueError(f"download format must be 'csv' or 'parquet', got {fmt!r}")


class PageView(Viewer):
    """Base of a dashboard page (see the module's text).

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store. Default: the service's read-only client on ``MI_CLICKHOUSE_URL``.
    database : str, optional
        Database of the tables. Default: the client's.
    **params
        Initial values of the page's parameters.
    """

    #: title shown at the top of the page (the registry's title)
    title: ClassVar[str] = ""
    #: one or two sentences under the title: what the page shows
    intro: ClassVar[str] = ""

    tz = param.Selector(objects=[UTC, LOCAL], default=UTC, doc="Zone the times are drawn and listed in.")
    message = param.String(default="", doc="What the page could not show, and why (empty: nothing).")
    kind = param.Selector(objects=["info", "warning", "danger"], default="warning", doc="Kind of message.")
    busy = param.Boolean(default=False, doc="Whether the page is reading or computing.")

    def __init__(self, client: Any = None, database: str | None = None, **params: Any) -> None:
        self.client = client if client is not None else user_client()
        self.database = database
        self._exports: bool | frozenset[str] | None = None
        self._alert = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                                    css_classes=["mi-message"])  # fmt: skip
        self._body: pn.Column | None = None
        super().__init__(**params)

    # -- zone --------------------------------------------------------------------------------------------
    def market_tz(self) -> str:
        """Return the local zone of what the page shows (IANA name); pages override it. Default UTC."""
        return "UTC"

    def display_tz(self) -> str:
        """Return the zone times are drawn in: ``"UTC"`` or :meth:`market_tz`, as the user chose."""
        return self.market_tz() if self.tz == LOCAL else "UTC"

    # -- messages ----------------------------------------------------------------------------------------
    def say(self, text: str, kind: str = "warning") -> None:
        """Show one message (Markdown) above what the page draws; ``kind``: info, warning or danger."""
        self.kind = kind
        self.message = text

    def empty(self, what: str, run: str) -> None:
        """Show the empty state: nothing of ``what`` is stored yet, and the command that fills it."""
        self.say(f"No {what} is stored yet. To fill this page run `{run}`.", "info")

    def clear(self) -> None:
        """Remove the message."""
        self.message = ""

    @param.depends("message", "kind", watch=True)
    def _show_message(self) -> None:
        self._alert.alert_type = self.kind
        self._alert.object = self.message
        self._alert.visible = bool(self.message)

    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Run a block as one step of the page: loading shown meanwhile, an error shown in the page.

        Parameters
        ----------
        doing : str
            What the block does, for the message (e.g. ``"reading the curve"``).
        """
        self.busy = True
        if self._body is not None:
            self._body.loading = True
        try:
            yield
        except (MarketIntelError, ValueError, OSError) as exc:
            self.say(f"**Failed {doing}.** {exc}", "danger")
        finally:
            self.busy = False
            if self._body is not None:
                self._body.loading = False

    # -- background work -----------------------------------------------------------------------------------
    @staticmethod
    def every(callback: Callable[[], Any], period_s: float, start: bool = True) -> Any:
        """Run ``callback`` every ``period_s`` seconds in this session, in the background.

        Unlike ``pn.state.add_periodic_callback``, the run does not mark the session busy: Panel would
        otherwise switch every page's busy indicator on and off at each run (messages to every browser and
        work on the server however little the callback does). The callback stops with the session.

        Returns
        -------
        panel.io.callbacks.PeriodicCallback
            Has ``start()``, ``stop()`` and ``running``.
        """
        from panel.io.callbacks import PeriodicCallback

        periodic = PeriodicCallback(callback=callback, period=max(int(period_s * 1000), 1), background=True)
        if start:
            periodic.start()
        return periodic

    # -- figures ------------------------------------------------------------------------------------------
    @staticmethod
    def show_figure(pane: pn.pane.Bokeh, fig: Any) -> Any:
        """Show ``fig`` in ``pane``; return the figure on screen.

        A figure of the same shape as the one shown (a redraw: another zone, metric or window) is copied
        into it (:func:`~marketintel.figures.common.refresh_in_place`), so only the values that changed
        reach the browser; another one replaces it.
        """
        if pane.object is not None and fig is not None and refresh_in_place(pane.object, fig):
            return pane.object
        pane.object = fig
        return fig

    # -- downloads ---------------------------------------------------------------------------------------
    def may_export(self, table: str) -> bool:
        """Whether the page's user may export data of governed ``table`` (their entitlement's right)."""
        if self._exports is None:
            self._exports = export_rights(self.client, self.database)
        return self._exports is True or (not isinstance(self._exports, bool) and table in self._exports)

    def downloads(
        self, name: str, frame: Callable[[], pd.DataFrame], label: str = "this view", table: str | None = None
    ) -> pn.Row:
        """Return "download this view" buttons (CSV and Parquet) for the frame ``frame()`` returns.

        Parameters
        ----------
        name : str
            Stem of the file name (``<name>.csv``); characters other than letters, digits, ``-_.`` become
            ``_``.
        frame : callable
            Returns what the page shows now (called at click time).
        label : str
            What the buttons download, for their labels.
        table : str, optional
            The governed table the data comes from (``prices``, ``curves``, ``forecasts`` ...): without the
            export right on it the buttons are replaced by a note. Each download is audited.
        """
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "view"
        if table is not None and not self.may_export(table):
            note = f"Your entitlement does not include exports of {table}; ask an admin."
            return pn.Row(pn.pane.Markdown(note, css_classes=["mi-no-export"]), sizing_mode="stretch_width")
        user = current_user()

        def fetch(fmt: str) -> io.BytesIO:
            data = frame()
            out = frame_bytes(data, fmt)
            report_event("export", user, action=f"{stem}.{fmt}", target=table or name, rows=len(data),
                         bytes=len(out))  # fmt: skip
            return io.BytesIO(out)

        def button(fmt: str) -> pn.widgets.FileDownload:
            return pn.widgets.FileDownload(
                callback=lambda: fetch(fmt), filename=f"{stem}.{fmt}",
                label=f"Download {label} ({fmt.upper()})",
                width=230, css_classes=[f"mi-download-{fmt}"],
            )  # fmt: skip

        return pn.Row(button("csv"), button("parquet"), sizing_mode="stretch_width")

    # -- layout ------------------------------------------------------------------------------------------
    def controls(self) -> list[Any]:
        """Return the widgets shown left of the page's content (the zone choice is added below them)."""
        return []

    def main(self) -> list[Any]:
        """Return what the page draws, top to bottom."""
        return []

    def zone_widget(self) -> pn.widgets.RadioButtonGroup:
        """Return the UTC / market-local choice."""
        return pn.widgets.RadioButtonGroup.from_param(self.param.tz, name="Times in", width=250,
                                                      css_classes=["mi-tz"])  # fmt: skip

    def __panel__(self) -> pn.viewable.Viewable:
        """Return the page: title and intro; controls left; message and content right."""
        self._body = pn.Column(self._alert, *self.main(), sizing_mode="stretch_width")
        controls = pn.Column(
            *self.controls(), pn.pane.Markdown("Times in", margin=(10, 10, -10, 10)), self.zone_widget(),
            width=280,
        )  # fmt: skip
        return pn.Column(
            pn.pane.Markdown(f"## {self.title}\n{self.intro}", margin=(0, 10)),
            pn.Row(controls, self._body, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
