"""Errors as ``application/problem+json`` (RFC 9457): what was wrong and what is allowed.

Every error the API answers is a :class:`Problem`: a status, a short title, a ``detail`` that says what was
wrong and what would be accepted, and extension members where they help a program (``allowed``,
``limit``, ``errors``). The handlers turn FastAPI's validation errors, the services' parameter errors, the
store's refusals and its absence into problems too, so a client never has to parse an HTML page or a
stack trace.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from marketintel.exceptions import EmptyResultError, MarketIntelError, StoreNotRunningError
from marketintel.services.queries import QueryLimitError, QueryParameterError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
#: seconds a client is told to wait when the store or the hub cannot be reached [s]
RETRY_UNAVAILABLE_S = 5


class Problem(Exception):  # noqa: N818  (RFC 9457 calls it a problem)
    """An error answered as problem+json.

    Parameters
    ----------
    status : int
        HTTP status.
    title : str
        Short, the same for every occurrence of the kind of problem.
    detail : str
        This occurrence: what was wrong and what is allowed.
    headers : mapping, optional
        Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    **extra
        Extension members (``allowed``, ``limit``, ...).
    """

    def __init__(
        self, status: int, title: str, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def response(self, instance: str = "") -> JSONResponse:
        """Return the problem as a response."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return JSONResponse(body, status_code=self.status, headers=self.headers, media_type=MEDIA_TYPE)


def unauthorized(detail: str) -> Problem:
    """401: no token, or one the Hub does not know."""
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="marketintel"'})


def forbidden(detail: str, **extra: Any) -> Problem:
    """403: the caller may not have this."""
    return Problem(403, "Forbidden", detail, **extra)


def bad_request(detail: str, **extra: Any) -> Problem:
    """400: a parameter is outside what the endpoint accepts."""
    return Problem(400, "Bad request", detail, **extra)


def unavailable(what: str, detail: str, retry_after_s: int = RETRY_UNAVAILABLE_S) -> Problem:
    """503 with ``Retry-After``: ``what`` (the store, the hub) cannot be reached just now."""
    return Problem(
        503,
        f"{what} unavailable",
        detail,
        headers={"Retry-After": str(retry_after_s)},
        retry_after=retry_after_s,
    )


def too_many(detail: str, retry_after_s: float, limit: str) -> Problem:
    """429 with ``Retry-After`` (whole seconds, at least 1)."""
    wait = max(1, math.ceil(retry_after_s))
    return Problem(429, "Too many requests", detail, headers={"Retry-After": str(wait)}, limit=limit)


def store_problem(exc: BaseException) -> Problem | None:
    """Return the problem a store error means, or None if it is not one the API explains."""
    if isinstance(exc, Problem):  # already one (a full queue of store slots, a refusal)
        return exc
    if isinstance(exc, StoreNotRunningError):
        return unavailable("Store", f"the store cannot be reached: {exc}")
    text = str(exc)
    name = type(exc).__name__
    if "TOO_MANY_SIMULTANEOUS_QUERIES" in text or "Code: 202." in text:  # the store's cap on the API's user
        return unavailable("Store", "the store is busy (too many queries at once); retry shortly", 1)
    if name == "OperationalError" or "Connection refused" in text or "RemoteDisconnected" in text:
        return unavailable("Store", "the store cannot be reached just now; retry after the stated delay")
    if "ACCESS_DENIED" in text or "Code: 497" in text or "entitlement" in text.lower():
        first = text.strip().splitlines()[0] if text.strip() else name
        return forbidden(f"the store refused this read for the caller: {first[:400]}")
    if "TIMEOUT_EXCEEDED" in text or "Code: 159" in text:
        return Problem(504, "Query timed out", "the query took longer than the store allows; narrow it")
    return None


def install(app: FastAPI) -> None:
    """Register the problem handlers on ``app``."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return exc.response(str(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "parameter": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body",
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
        return bad_request(detail or "invalid request", errors=errors).response(str(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 406: "Not acceptable"}
        problem = Problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
        problem.headers.update(exc.headers or {})
        return problem.response(str(request.url.path))

    @app.exception_handler(QueryParameterError)
    async def _parameter(request: Request, exc: QueryParameterError) -> JSONResponse:
        return bad_request(str(exc)).response(str(request.url.path))

    @app.exception_handler(QueryLimitError)
    async def _limit(request: Request, exc: QueryLimitError) -> JSONResponse:
        return Problem(413, "Result too large", str(exc)).response(str(request.url.path))

    @app.exception_handler(EmptyResultError)
    async def _empty(request: Request, exc: EmptyResultError) -> JSONResponse:
        return Problem(404, "Not found", str(exc)).response(str(request.url.path))

    @app.exception_handler(MarketIntelError)
    async def _ours(request: Request, exc: MarketIntelError) -> JSONResponse:
        problem = store_problem(exc) or bad_request(str(exc))
        return problem.response(str(request.url.path))

    @app.exception_handler(Exception)
    async def _other(request: Request, exc: Exception) -> JSONResponse:
        problem = store_problem(exc)
        if problem is None:
            log.exception("unhandled error on %s", request.url.path)
            problem = Problem(500, "Internal error", f"{type(exc).__name__}: the error is in the API's log")
        return problem.response(str(request.url.path))
