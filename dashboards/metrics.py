# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Prometheus metrics of the dashboards service, served at ``/services/dashboards/metrics``.

:func:`patterns` returns the Tornado route that :func:`marketintel.dashboards.serve.build_server` adds to
the Bokeh server, and installs the hooks that count (in prometheus-client's process registry, beside its
process collector's memory, CPU and start time):

- ``mi_dashboards_sessions_opened_total{page}`` / ``mi_dashboards_sessions_closed_total{page}`` and the
  gauge ``mi_dashboards_sessions_active``: browser sessions (one per opened page);
- ``mi_dashboards_render_seconds{page}``: histogram of the time from a session's start on the server to the
  browser's "document ready" (the page drawn) [s]; its ``_count`` is the number of renders by page;
- ``mi_dashboards_callback_errors_total{page}``: errors raised in the pages' callbacks (Panel's exception
  handler; each is also logged with its traceback).

The metric names are those :func:`marketintel.services.health.dashboards_health` reads.

Who may scrape
--------------
Behind the Hub everything under ``/services/dashboards/`` is reachable through the Hub's proxy by anyone who
reaches the proxy, and this route is a plain Tornado handler, outside Panel's OAuth login. So:

- a request **through the proxy** (it carries ``X-Forwarded-For``, which the proxy always adds) must bring a
  Hub API token (``Authorization: token <t>`` or ``Bearer <t>``) of a user who may open the ``health``
  page (ops, admins), checked by the service's own re-check of Hub tokens (``serve.still_allowed``,
  answers cached per re-check interval); a Prometheus scraping through the proxy uses such a user's token
  (``authorization: credentials``);
- a request **straight to the service's port from loopback** (no ``X-Forwarded-For``): a Prometheus on the
  same machine, or the developer mode: is answered without a token (the service listens on loopback).

The figures are low-sensitivity (counts, timings, memory; no user names, no data), but user activity by
page is operational information for ops and admins, as the health page is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import panel as pn
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from tornado import web

from marketintel.dashboards import registry
from marketintel.services.health import (
    DASHBOARD_CALLBACK_ERRORS,
    DASHBOARD_RENDER_SECONDS,
    DASHBOARD_SESSIONS_ACTIVE,
    DASHBOARD_SESSIONS_CLOSED,
    DASHBOARD_SESSIONS_OPENED,
)

__all__ = ["METRICS_PAGE", "ROUTE", "MetricsHandler", "install", "page_label", "patterns"]

log = logging.getLogger(__name__)

#: the route under the service's prefix
ROUTE = "/metrics"
#: the page whose groups may read the metrics through the proxy
METRICS_PAGE = "health"
LOOPBACK = frozenset({"127.0.0.1", "::1"})
#: render-time buckets [s]
RENDER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0)

SESSIONS_OPENED = Counter(DASHBOARD_SESSIONS_OPENED, "Browser sessions opened, by page", ["page"])
SESSIONS_CLOSED = Counter(DASHBOARD_SESSIONS_CLOSED, "Browser sessions closed, by page", ["page"])
SESSIONS_ACTIVE = Gauge(DASHBOARD_SESSIONS_ACTIVE, "Browser sessions open now")
RENDER_SECONDS = Histogram(
    DASHBOARD_RENDER_SECONDS, "Time from a session's start to the page drawn in the browser [s]", ["page"],
    buckets=RENDER_BUCKETS,
)  # fmt: skip
CALLBACK_ERRORS = Counter(DASHBOARD_CALLBACK_ERRORS, "Errors raised in the pages' callbacks", ["page"])

_installed: dict[str, str] = {}
_lock = threading.Lock()


def page_label(path: str, prefix: str) -> str:
    """Return the ``page`` label of a request path: a registry page, ``index``, or ``other`` (bounded)."""
    rest = path[len(prefix) :] if prefix and path.startswith(prefix) else path
    name = rest.strip("/").split("/", 1)[0]
    if name == "":
        return "index"
    return name if name in registry.PAGES else "other"


def _session_page(session_context: Any, prefix: str) -> str:
    request = getattr(session_context, "request", None)
    path = getattr(request, "path", "") or ""
    return page_label(path, prefix)


def _on_session_created(prefix: str) -> Callable[[Any], None]:
    def created(session_context: Any) -> None:
        try:
            page = _session_page(session_context, prefix)
            SESSIONS_OPENED.labels(page).inc()
            SESSIONS_ACTIVE.inc()
            started = time.perf_counter()
            doc = session_context._document
            drawn = threading.Event()

            def ready(event: Any) -> None:
                if not drawn.is_set():
                    drawn.set()
                    RENDER_SECONDS.labels(page).observe(time.perf_counter() - started)

            def destroyed(context: Any) -> None:
                SESSIONS_CLOSED.labels(page).inc()
                SESSIONS_ACTIVE.dec()

            doc.on_event("document_ready", ready)
            doc.on_session_destroyed(destroyed)
        except Exception:  # counting must never keep a page from opening
            log.exception("metrics: cannot follow a new session")

    return created


def _exception_handler(prefix: str) -> Callable[[BaseException], None]:
    def handle(exception: BaseException) -> None:
        page = "other"
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            page = _session_page(doc.session_context, prefix)
        CALLBACK_ERRORS.labels(page).inc()
        log.error("error in a callback of page %s", page, exc_info=exception)

    return handle


def install(prefix: str) -> None:
    """Count sessions, renders and callback errors of the pages under ``prefix`` (once per process).

    Call before the server starts: Panel takes session hooks only outside a session. Panel's exception
    handler is installed only if none is set.
    """
    with _lock:
        if _installed.get("prefix") == prefix:
            return
        _installed["prefix"] = prefix
    pn.state.on_session_created(_on_session_created(prefix))
    # the health page polls Prefect and the hub every few seconds: httpx's INFO line per request is noise
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if pn.config.exception_handler is None:
        pn.config.exception_handler = _exception_handler(prefix)


class MetricsHandler(web.RequestHandler):
    """``GET /metrics``: the process registry in Prometheus's text format (see the module's text)."""

    allowed: Callable[[str], bool]

    def initialize(self, allowed: Callable[[str], bool]) -> None:
        """Take the token check (Tornado calls this with the route's keyword arguments)."""
        self.allowed = allowed

    def _token(self) -> str:
        header = self.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() in ("token", "bearer") else ""

    def get(self) -> None:
        """Answer the metrics, 401 without a token through the proxy, 403 for a token not allowed."""
        direct = "X-Forwarded-For" not in self.request.headers and self.request.remote_ip in LOOPBACK
        if not direct:
            token = self._token()
            if not token:
                self.set_status(401)
                self.set_header("WWW-Authenticate", 'Bearer realm="dashboards metrics"')
                self.finish(
                    "metrics need a Hub API token of a user in ops or admins (Authorization: token ...)\n"
                )
                return
            if not self.allowed(token):
                self.set_status(403)
                self.finish("this token's user may not read the dashboards' metrics (ops and admins may)\n")
                return
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.finish(generate_latest(REGISTRY))


def patterns(
    prefix: str, allowed: Callable[[str], bool] = lambda token: False
) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    """Install the hooks (:func:`install`) and return the route of ``/metrics`` for ``pn.serve``.

    Parameters
    ----------
    prefix : str
        The service's URL prefix (``/services/dashboards``); Bokeh adds it to the route.
    allowed : callable
        ``allowed(token)``: whether a Hub token's user may read the metrics (the service's own re-check
        of tokens, for :data:`METRICS_PAGE`); default none (developer mode: loopback only).
    """
    install(prefix)
    return [(ROUTE, MetricsHandler, {"allowed": allowed})]
