# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Your exports: the download center's jobs of the logged-in user, and links to their files.

The explorer's "download this view" starts an export job in the API's download center as the user
(:mod:`marketintel.services.exports`); this page lists the user's jobs (as ``GET /v1/exports`` does, the
dashboards acting for the user): state, progress, rows, size, when made and when the link expires. While a
job is queued or running the table is read again every :data:`REFRESH_S` seconds (otherwise every
:data:`IDLE_REFRESH_S`, for jobs started elsewhere: another tab, the API itself), off the event loop.

A finished job's link is the API's signed link: the browser opens it on the API, which serves the file only
to its owner (a browser without the API's login goes through the Hub's login and comes back, unseen by a
user logged in to the hub). Links and files expire after 15 minutes.
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

import pandas as pd
import panel as pn

from marketintel.dashboards.data import current_user
from marketintel.dashboards.page import PageView
from marketintel.services import exports
from marketintel.services.exports import ApiConfig, Export

__all__ = ["COLUMNS", "IDLE_REFRESH_S", "REFRESH_S", "Exports", "exports_frame"]

#: how often the table is read while a job is queued or running [s]
REFRESH_S = 2.0
#: how often it is read otherwise (jobs started elsewhere appear) [s]
IDLE_REFRESH_S = 30.0
#: the table's columns (times in UTC); ``error`` is shown only when a job failed
COLUMNS = ["created", "dataset", "selection", "window", "state", "progress", "rows", "size", "expires",
           "file", "error"]  # fmt: skip


def _time(stamp: pd.Timestamp | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if stamp is None else f"{stamp.tz_convert('UTC'):{fmt}}"


def _day(text: Any) -> str:
    """Return a filter's instant as a day, or day and minute when it is not midnight (UTC)."""
    if not text:
        return ""
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
    return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"


def _size(n: int) -> str:
    """Return a file size for people (decimal units); "" for none."""
    if n <= 0:
        return ""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _progress(job: Export) -> str:
    if job.state == "done":
        return "100%"
    if job.progress is None:
        return "counting rows" if job.state == "running" else ""
    return f"{job.progress:.0%}"


def _selection(filters: dict[str, Any]) -> str:
    markets = ", ".join(filters.get("markets") or []) or "all markets"
    locations = ", ".join(filters.get("locations") or [])
    return f"{markets} / {locations}" if locations else markets


def _link(job: Export, now: pd.Timestamp) -> str:
    url = job.link(now)
    if url is None:
        return ""
    name = html.escape(f"{job.dataset}-{job.id}.{job.format}")
    ident = html.escape(f"mi-export-{job.id}")
    return f'<a class="mi-export-link" id="{ident}" href="{html.escape(url)}" title="{name}">download</a>'


def exports_frame(jobs: list[Export], now: pd.Timestamp | None = None) -> pd.DataFrame:
    """Return the table of ``jobs`` (newest first, as the API lists them): :data:`COLUMNS`.

    Times are UTC (``expires``: the time of day the link expires). ``file`` holds an HTML link to the file
    while its signed link is valid at ``now`` (default: now). Without a failed job there is no ``error``.
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    rows = []
    for job in jobs:
        f = job.filters
        window = f"{_day(f.get('start'))} to {_day(f.get('end'))}"
        if f.get("as_of"):
            window += f", as of {_day(f['as_of'])}"
        expired = job.state == "done" and job.expires_at is not None and job.expires_at <= now
        rows.append([
            _time(job.created_at), f"{job.dataset} ({job.format.upper()})", _selection(f), window,
            "expired" if expired else job.state, _progress(job), f"{job.rows:,}", _size(job.bytes),
            _time(job.expires_at, "%H:%M:%S") if job.state == "done" and not expired else "",
            _link(job, now), job.error or "",
        ])  # fmt: skip
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame if frame["error"].astype(bool).any() else frame.drop(columns="error")


class Exports(PageView):
    """The logged-in user's export jobs, refreshed while one runs, with links to the finished files.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store, read for the user's export rights (default: the user's client).
    database : str, optional
        Database of the rights (default: the client's).
    user : str, optional
        The hub user (default: the session's, :func:`marketintel.dashboards.data.current_user`).
    api : ApiConfig, optional
        The API (default :func:`marketintel.services.exports.api_config`).
    transport : httpx.BaseTransport, optional
        HTTP transport of the API calls (tests).
    **params
        Initial values of the parameters.
    """

    title = "Exports"
    intro = (
        "Your exports from the download center: start one with *Download this view* in the "
        "[market explorer](explorer) (or `POST /services/api/v1/exports` with a token). A finished file's "
        "link works for you only, until it expires (15 minutes; the file is deleted then)."
    )

    def __init__(
        self,
        client: Any = None,
        database: str | None = None,
        user: str | None = None,
        api: ApiConfig | None = None,
        transport: Any = None,
        **params: Any,
    ) -> None:
        super().__init__(client, database, **params)
        self.user = user if user is not None else current_user()
        self.api = api if api is not None else exports.api_config()
        self._transport = transport
        self.jobs: list[Export] = []
        self._read_at = 0.0
        self._reading = False
        self._table = pn.widgets.Tabulator(
            pd.DataFrame(columns=COLUMNS), disabled=True, show_index=False, selectable=False, sortable=False,
            sizing_mode="stretch_width", layout="fit_data_fill", pagination="local", page_size=10,
            formatters={"file": {"type": "html"}}, css_classes=["mi-exports"],
        )  # fmt: skip
        self._status = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-exports-status"])
        self._rights = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-export-rights"],
                                        margin=(8, 10, 0, 10))  # fmt: skip
        self._refresh_button = pn.widgets.Button(label="Refresh", width=120)
        self._refresh_button.on_click(lambda _e: self.refresh())
        self._show_rights()
        self.refresh()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._callback = self.every(self._tick, REFRESH_S)

    # -- reads ---------------------------------------------------------------------------------------------
    def ready(self) -> bool:
        """Whether the page can reach the download center for a user; else say why (in the page)."""
        if self.api is None:
            self.say(
                f"The download center is not configured here (`{exports.API_URL_ENV}` is not set): exports "
                "run through the platform's API behind the hub. Downloads on the other pages make their "
                "files directly.",
                "info",
            )
            return False
        if not self.user:
            self.say("Exports are made for a logged-in hub user; this server runs without the hub.", "info")
            return False
        return True

    def read(self) -> list[Export]:
        """Return the user's jobs from the API (newest first)."""
        if self.api is None or not self.user:
            return []
        return exports.list_exports(self.user, api=self.api, transport=self._transport)

    def refresh(self) -> None:
        """Read the jobs now and show them (in the caller's thread)."""
        if not self.ready():
            return
        with self.guard("reading your exports"):
            self.apply(self.read())

    def apply(self, jobs: list[Export]) -> None:
        """Show ``jobs``: the table (replaced only when it changed) and the line above it."""
        self._read_at = time.monotonic()
        self.jobs = jobs
        if self.message and self.kind == "danger":
            self.clear()  # a failed read before: the API answers again
        frame = exports_frame(jobs)
        if not frame.equals(self._table.value):
            self._table.value = frame
        self._table.visible = bool(jobs)
        running = sum(j.running for j in jobs)
        if not jobs:
            self._status.object = "You have no exports yet."
        elif running:
            self._status.object = (
                f"{len(jobs)} exports, **{running} still running**: this table is read again every "
                f"{REFRESH_S:g} s. Times in UTC."
            )
        else:
            done = sum(j.link() is not None for j in jobs)
            self._status.object = f"{len(jobs)} exports, {done} ready to download. Times in UTC."

    async def _tick(self) -> None:
        """Read again, off the event loop: every tick while a job runs, else every :data:`IDLE_REFRESH_S`."""
        idle = not any(j.running for j in self.jobs)
        if self._reading or (idle and time.monotonic() - self._read_at < IDLE_REFRESH_S):
            return
        if self.api is None or not self.user:
            return
        self._reading = True
        try:
            jobs = await asyncio.to_thread(self.read)
        except exports.ExportError as exc:
            self._read_at = time.monotonic()
            self.say(f"**Failed reading your exports.** {exc}", "danger")
            return
        finally:
            self._reading = False
        self.apply(jobs)

    def _show_rights(self) -> None:
        """Say which datasets the user may export (their entitlement's export right)."""
        mine = [t for t in exports.DATASETS if self.may_export(t)]
        if self._exports is True:
            self._rights.object = "You may export every dataset."
        elif mine:
            self._rights.object = f"You may export: {', '.join(mine)}."
        else:
            self._rights.object = (
                f"Your entitlement includes no export of {', '.join(exports.DATASETS)}; ask an admin."
            )

    # -- layout ------------------------------------------------------------------------------------------
    def main(self) -> list[Any]:
        """Return the refresh button and the user's export rights, the line about the jobs and their table."""
        return [
            pn.Row(self._refresh_button, self._rights, sizing_mode="stretch_width"),
            self._status,
            self._table,
        ]

    def __panel__(self) -> pn.viewable.Viewable:
        """Return the page: title and intro, then the jobs across the page's width (no controls column).

        The table needs the width, and its times are UTC (it says so) whatever the other pages' zone choice.
        """
        self._body = pn.Column(self._alert, *self.main(), sizing_mode="stretch_width")
        return pn.Column(
            pn.pane.Markdown(f"## {self.title}\n{self.intro}", margin=(0, 10)), self._body,
            sizing_mode="stretch_width",
        )  # fmt: skip
