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
- :meth:`downloads`: CSV and Parquet buttons for what the page shows. For a view of a governed data table
  the API exports (prices, fundamentals: the page passes an :class:`ExportView`) behind the hub, the
  buttons start an export job in the download center as the user (:mod:`marketintel.services.exports`)
  and point to the ``exports`` page, where the file is downloaded with its signed link; otherwise (other
  tables, a developer's ``--no-auth`` server without the API) they make the file here.

The navigation between pages is the service's template (:func:`marketintel.dashboards.serve`), which knows
the user's groups; a page does not.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from marketintel.dashboards.data import current_user, report_event, user_client
from marketintel.exceptions import MarketIntelError
from marketintel.figures.common import refresh_in_place
from marketintel.services import exports
from marketintel.services.access import export_rights

__all__ = ["LOCAL", "UTC", "ExportView", "PageView", "download_buttons", "exports_page_url", "frame_bytes"]

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


#: governed tables whose views "download this view" exports through the API's download center
JOB_TABLES = frozenset({"prices", "fundamentals"})


@dataclass(frozen=True)
class ExportView:
    """What a page shows of a governed table, as the download center's export job takes it.

    Attributes
    ----------
    dataset : {"prices", "fundamentals"}
        The table.
    start, end : pandas.Timestamp
        Window on the interval start (UTC), ``end`` exclusive.
    markets, locations : tuple of str
        Filters (``locations`` are areas for fundamentals).
    as_of : pandas.Timestamp or None
        Knowledge time; None: now.
    note : str
        What the file holds that differs from the page (e.g. stored intervals, not hourly means), or "".
    """

    dataset: str
    start: Any
    end: Any
    markets: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    as_of: Any = None
    note: str = ""

    def describe(self) -> str:
        """Return one line: the dataset, its filters and window (UTC)."""
        where = " ".join([", ".join(self.markets), ", ".join(self.locations)]).strip()

        def day(value: Any) -> str:
            stamp = pd.Timestamp(value)
            stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
            return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"

        as_of = f", as known {day(self.as_of)} UTC" if self.as_of is not None else ""
        window = f"{day(self.start)} to {day(self.end)} UTC"
        return f"{self.dataset} of {where or 'everything you may read'}, {window}{as_of}"


def exports_page_url() -> str:
    """Return the path of the dashboards' ``exports`` page (under the service's prefix)."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/dashboards/")
    return prefix.rstrip("/") + "/exports"


def download_buttons(
    name: str,
    frame: Callable[[], pd.DataFrame],
    label: str = "this view",
    table: str | None = None,
    may_export: Callable[[str], bool] | None = None,
    export: Callable[[], ExportView | None] | None = None,
) -> pn.Row:
    """Return "download this view" buttons (CSV and Parquet): :meth:`PageView.downloads` of any page.

    Parameters
    ----------
    name, frame, label, table
        As :meth:`PageView.downloads`.
    may_export : callable, optional
        ``may_export(table)``: whether the user has the export right on ``table`` (default: yes).
    export : callable, optional
        Returns the view as an export job takes it (called at click time), for a ``table`` of
        :data:`JOB_TABLES`. With the API configured and a hub user, the buttons start that job.
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "view"
    if table is not None and may_export is not None and not may_export(table):
        note = f"Your entitlement does not include exports of {table}; ask an admin."
        return pn.Row(pn.pane.Markdown(note, css_classes=["mi-no-export"]), sizing_mode="stretch_width")
    user = current_user()
    api = exports.api_config()
    if export is not None and table in JOB_TABLES and api is not None and user is not None:
        return _job_buttons(user, api, label, export)

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


def _job_buttons(
    user: str, api: exports.ApiConfig, label: str, export: Callable[[], ExportView | None]
) -> pn.Row:
    """Return CSV and Parquet buttons that start export jobs of ``export()`` for ``user``, and a message."""
    status = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width",
                           css_classes=["mi-export-status"], margin=(5, 10))  # fmt: skip

    def start(fmt: str) -> None:
        view = export()
        if view is None:
            status.param.update(alert_type="warning", visible=True,
                                object="Nothing to export: choose a selection first.")  # fmt: skip
            return
        try:
            job = exports.start_export(
                user, view.dataset, view.start, view.end, view.markets, view.locations, fmt,
                as_of=view.as_of, api=api,
            )  # fmt: skip
        except (exports.ExportError, ValueError) as exc:
            status.param.update(alert_type="danger", visible=True, object=f"**Export not started.** {exc}")
            return
        note = f" {view.note}" if view.note else ""
        status.param.update(
            alert_type="success", visible=True,
            object=(f"**Export started** ({fmt.upper()}, job `{job.id}`): {view.describe()}.{note} "
                    f"Follow it and download the file in [your exports]({exports_page_url()})."),
        )  # fmt: skip

    def button(fmt: str) -> pn.widgets.Button:
        clicked = pn.widgets.Button(label=f"Download {label} ({fmt.upper()})", width=230,
                                    css_classes=[f"mi-download-{fmt}", "mi-export-job"])  # fmt: skip
        clicked.on_click(lambda _event: start(fmt))
        return clicked

    return pn.Row(button("csv"), button("parquet"), status, sizing_mode="stretch_width")


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
        self,
        name: str,
        frame: Callable[[], pd.DataFrame],
        label: str = "this view",
        table: str | None = None,
        export: Callable[[], ExportView | None] | None = None,
    ) -> pn.Row:
        """Return "download this view" buttons (CSV and Parquet) for what the page shows.

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
        export : callable, optional
            For ``prices`` and ``fundamentals``: returns the view as an export job takes it (called at click
            time). Behind the hub with the API configured (``MI_API_URL``) the buttons start that job in the
            download center as the user and link to the ``exports`` page; otherwise they make the file
            from ``frame()`` here.
        """
        return download_buttons(name, frame, label, table, self.may_export, export)

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
