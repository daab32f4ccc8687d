# mypy: disable-error-code="no-untyped-call, var-annotated"
"""The HTML reports of backtest runs, served to the users of the accuracy page.

``GET <prefix>/reports/<run id>`` answers the HTML report the backtest flow recorded for that run
(:func:`marketintel.services.backtest.report_path`, written by the backtest notebook with
:func:`~marketintel.services.backtest.record_report`). The URL names a run, never a path: only files the
platform recorded as reports can be fetched, and only ``.html`` files.

Authorization is the accuracy page's (:func:`marketintel.dashboards.serve.authorize_callback` asked for
``<prefix>/accuracy``): with the Hub's OAuth the user's access token (Panel's ``access_token`` cookie) is
re-checked against the Hub, a user no longer logged in is sent to the login, a user whose groups may not
open the accuracy page gets 403; in developer mode the pretend user's groups decide.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import panel as pn
from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.web import authenticated

from marketintel.exceptions import MarketIntelError

__all__ = ["PAGE", "ReportHandler", "patterns"]

log = logging.getLogger(__name__)

#: the page whose users may read the reports
PAGE = "accuracy"
#: the route under the service's prefix (a run id: letters, digits and dashes)
ROUTE = r"/reports/([A-Za-z0-9-]{1,64})"


def _page(title: str, text: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:system-ui,sans-serif;margin:2em'><h2>{html.escape(title)}</h2>"
        f"<p>{html.escape(text)}</p></body></html>"
    )


class ReportHandler(AuthRequestHandler):
    """Answer a backtest run's recorded HTML report to a user who may open the accuracy page."""

    def initialize(self, settings: Any, check: Any = None, client: Callable[[], Any] | None = None) -> None:
        """Keep the service's settings, the Hub re-check (OAuth mode) and how to get a store client."""
        self.settings_ = settings
        self.check = check
        self.client = client

    def _token(self) -> str | None:
        """Return the user's Hub access token from Panel's cookie (None without one, or in developer mode)."""
        if self.settings_.dev_groups is not None:
            return None
        raw = self.get_secure_cookie("access_token", max_age_days=pn.config.oauth_expiry)
        return pn.state._decrypt_cookie(raw) if raw else None

    def _refuse(self, status: int, title: str, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(_page(title, text))

    @authenticated
    async def get(self, run_id: str) -> None:
        """Serve the report of ``run_id`` (404 when none is recorded or the file is gone)."""
        from marketintel.dashboards.serve import authorize_callback

        token = self._token()
        allowed = authorize_callback(self.settings_, self.check, token=lambda: token)(
            None, f"{self.settings_.prefix}/{PAGE}"
        )
        if isinstance(allowed, str):
            self.redirect(allowed)
            return
        if not allowed:
            self._refuse(403, "Not authorized", "Reports are open to the users of the accuracy page.")
            return
        client = self.client() if self.client is not None else _store_client()
        try:
            path = await asyncio.get_running_loop().run_in_executor(None, _recorded, client, run_id)
        except MarketIntelError as exc:
            self._refuse(503, "The store did not answer", str(exc))
            return
        if path is None or path.suffix != ".html" or not path.is_file():
            self._refuse(
                404, "No report",
                f"No HTML report is recorded for backtest run {run_id}, or its file is gone "
                f"({path}). Runs of the backtest flow record theirs: mi flows run backtest.",
            )  # fmt: skip
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(path.read_bytes())


def _store_client() -> Any:
    from marketintel.dashboards.data import store_client

    return store_client()


def _recorded(client: Any, run_id: str) -> Path | None:
    from marketintel.services.backtest import report_path

    return report_path(client, run_id)


def patterns(
    settings: Any, check: Any = None, client: Callable[[], Any] | None = None
) -> list[tuple[Any, ...]]:
    """Return the ``extra_patterns`` of :func:`panel.serve` that serve the reports under the prefix.

    Parameters
    ----------
    settings : marketintel.dashboards.serve.ServeSettings
        The service's settings (prefix, developer groups).
    check : marketintel.dashboards.serve.HubUserCheck, optional
        The Hub re-check (OAuth mode).
    client : callable, optional
        Returns the store client; default the service's read-only one.
    """
    return [(ROUTE, ReportHandler, {"settings": settings, "check": check, "client": client})]
