"""The API's application: versioned routes under ``/services/api/v1/``, docs at ``/services/api/docs``.

Every data route:

1. identifies the caller with the Hub (:mod:`marketintel.api.auth`; 401, 403 or 503 otherwise),
2. counts the request against the caller's rate limit (:mod:`marketintel.api.limiter`; 429),
3. validates its parameters (400 with what was wrong and what is allowed),
4. checks the market against the caller's entitlement (403 naming the caller's markets),
5. reads as the caller (the store applies the entitlement and audits the query), and
6. answers in the negotiated format (:mod:`marketintel.api.formats`), streaming large results.

Errors are problem+json (:mod:`marketintel.api.problems`).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import importlib.resources
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, Literal

import pandas as pd
import pyarrow as pa
from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from marketintel.api import API_SERVICE, VERSION, formats
from marketintel.api.auth import HubIdentity, Who
from marketintel.api.limiter import Limiter
from marketintel.api.problems import Problem, bad_request, install, store_problem
from marketintel.api.store import Clients
from marketintel.services import feeds, queries

log = logging.getLogger(__name__)

#: longest window of one ticks request per resolution [days]
MAX_WINDOW_DAYS: dict[str, int] = {"raw": 31, "hourly": 366, "daily": 3660}
#: most locations in one ticks request
MAX_LOCATIONS = 50
#: page sizes of listings [rows]
DEFAULT_PAGE = 1_000
MAX_PAGE = 10_000
_RESOLUTIONS: dict[str, queries.Resolution] = {"raw": "native", "hourly": "hourly", "daily": "daily"}

Format = Literal["json", "csv", "parquet", "arrow"]


def _encode_cursor(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        raise bad_request(
            "cursor is not one this API returned; pass the 'next' value of the previous page"
        ) from None
    if not isinstance(value, dict):
        raise bad_request("cursor is not one this API returned; pass the 'next' value of the previous page")
    return value


def _instant(value: str | None, what: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise bad_request(
            f"{what} must be an ISO-8601 time such as 2024-06-01T00:00:00Z, got {value!r}"
        ) from None
    if pd.isna(stamp):
        raise bad_request(f"{what} must be an ISO-8601 time, got {value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _required_instant(value: str, what: str) -> pd.Timestamp:
    stamp = _instant(value, what)
    assert stamp is not None
    return stamp


def create_app(identity: HubIdentity | None = None, limiter: Limiter | None = None) -> FastAPI:
    """Return the API application.

    Parameters
    ----------
    identity : HubIdentity, optional
        Who is calling; default: the Hub of the service's ``JUPYTERHUB_*`` environment.
    limiter : Limiter, optional
        Rate limits; default from ``MI_API_RATE`` / ``MI_API_EXPORT_RATE``.
    """
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{API_SERVICE}/").rstrip("/")
    hub = identity or HubIdentity()
    limits = limiter or Limiter()
    clients = Clients()
    from marketintel.api import exports as export_jobs
    from marketintel.api import stream as price_stream

    center = export_jobs.ExportCenter(clients)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        center.start()
        yield
        center.stop()
        clients.close()

    app = FastAPI(
        title="Market Intelligence API",
        version=VERSION,
        description=(
            "Prices, fundamentals, forward curves, forecasts, backtests, data quality and alerts, as the "
            "caller's entitlement allows. Authenticate with a Hub API token (`Authorization: Bearer ...`; "
            "`mi hub token NAME` makes one). Answers in JSON, CSV, Parquet or Arrow IPC by `Accept` header "
            "(or `?format=`); errors are `application/problem+json`."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=prefix + "/openapi.json",
        lifespan=lifespan,
    )
    install(app)
    app.state.clients = clients
    app.state.exports = center

    app.state.identity = hub
    app.state.limiter = limits

    def respond(
        request: Request,
        fmt: str | None,
        batches: Callable[[], Iterator[pa.RecordBatch]],
        meta: dict[str, Any],
        name: str,
    ) -> Response:
        """Answer ``batches`` in the negotiated format, streamed; errors before the first byte: problems."""
        chosen = formats.negotiate(request.headers.get("accept"), fmt)
        iterator = batches()
        try:
            first = next(iterator)
        except StopIteration:
            first = None
        except Problem:
            raise
        except Exception as exc:
            problem = store_problem(exc)
            if problem is None:
                raise
            raise problem from None

        def chained() -> Iterator[pa.RecordBatch]:
            if first is not None:
                yield first
            yield from iterator

        headers = {"Content-Disposition": f'inline; filename="{name}.{formats.EXTENSIONS[chosen]}"'}
        if meta.get("units"):
            headers["X-Units"] = json.dumps(meta["units"], separators=(",", ":"))
        if meta.get("next"):
            headers["X-Next-Cursor"] = str(meta["next"])
        return StreamingResponse(
            formats.encode(chained(), chosen, meta), media_type=formats.MEDIA_TYPES[chosen], headers=headers
        )

    async def respond_frame(
        request: Request, fmt: str | None, read: Callable[[], pd.DataFrame], meta: dict[str, Any], name: str
    ) -> Response:
        try:
            df = await run_in_threadpool(read)
        except Problem:
            raise
        except Exception as exc:
            problem = store_problem(exc)
            if problem is None:
                raise
            raise problem from None
        return respond(request, fmt, lambda: formats.frame_batches(df), {**meta, "rows": len(df)}, name)

    # ---------------------------------------------------------------------------------------------------
    # the docs (a browser logs in through the Hub) and liveness
    # ---------------------------------------------------------------------------------------------------
    @app.get(prefix + "/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        try:
            await hub.caller(request)
        except Problem as problem:
            if problem.status == 401:
                return hub.login_redirect(prefix + "/docs")
            raise
        return get_swagger_ui_html(
            openapi_url=prefix + "/openapi.json",
            title="Market Intelligence API",
            swagger_js_url=f"{prefix}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{prefix}/docs/assets/favicon.png",
        )

    # Swagger UI's script and styles from the API itself (FastAPI's default loads them from a CDN, and the
    # docs page stays blank on a machine without the internet); the files are fastapi-offline's copy
    app.mount(prefix + "/docs/assets", StaticFiles(directory=_docs_assets()), name="docs-assets")

    @app.get(prefix + "/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(prefix + "/docs")

    @app.get(prefix + "/oauth_callback", include_in_schema=False)
    async def oauth_callback(request: Request) -> Response:
        return await hub.oauth_callback(request)

    @app.get(prefix + "/health", tags=["service"], summary="Liveness: the API answers (no token needed)")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": VERSION}

    v1 = APIRouter(prefix=f"{prefix}/{VERSION}")

    @v1.get("/me", tags=["service"], summary="Who the token belongs to and what their entitlement opens")
    async def me(who: Who) -> dict[str, Any]:
        entitlement = await run_in_threadpool(clients.entitlement, who.name)
        tables = {
            t: {"markets": sorted(m), "locations": sorted(f"{a}/{b}" for a, b in k), "all": a}
            for t in sorted(entitlement.tables)
            for a, m, k in [entitlement.markets(t)]
        }
        return {
            "name": who.name,
            "groups": list(who.groups),
            "admin": who.admin,
            "entitlement": "everything" if entitlement.everything else tables,
            "exports": True if entitlement.everything else sorted(entitlement.exports),
            "rate_limit": str(limits.rate),
            "export_rate_limit": str(limits.export_rate),
        }

    # ---------------------------------------------------------------------------------------------------
    # reference data
    # ---------------------------------------------------------------------------------------------------
    @v1.get("/instruments", tags=["reference"], summary="Instruments: markets, locations, products (paged)")
    async def instruments(
        request: Request,
        who: Who,
        market: Annotated[list[str] | None, Query(description="Markets (repeat for several)")] = None,
        type: Annotated[str | None, Query(description="Location type: hub, zone, node, ...")] = None,
        location: Annotated[str | None, Query(description="Location name or glob pattern (`*_HUB`)")] = None,
        cursor: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size [rows]")] = DEFAULT_PAGE,
        format: Format | None = None,
    ) -> Response:
        after = str(_decode_cursor(cursor).get("after", ""))

        def read() -> pd.DataFrame:
            client = clients.user(who.name)
            for m in market or []:
                clients.require(who.name, "prices", m)
            df = queries.instruments(client, markets=market, limit=queries.MAX_LIMIT)
            if type is not None:
                df = df[df["location_type"] == type]
            if location is not None:
                df = df[[fnmatch.fnmatchcase(str(x), location) for x in df["location"]]]
            return df[df["instrument_id"] > after] if after else df

        df = await run_in_threadpool(read)
        page = df.head(limit)
        more = len(df) > limit
        meta = {"next": _encode_cursor({"after": str(page["instrument_id"].iloc[-1])}) if more else None}
        return respond(
            request, format, lambda: formats.frame_batches(page), {**meta, "rows": len(page)}, "instruments"
        )

    # ---------------------------------------------------------------------------------------------------
    # prices
    # ---------------------------------------------------------------------------------------------------
    @v1.get("/prices/ticks", tags=["prices"], summary="Prices of one market's locations over a window")
    async def ticks(
        request: Request,
        who: Who,
        market: Annotated[str, Query(description="Market, e.g. SPP_RT")],
        location: Annotated[list[str], Query(description="Locations (repeat for several)")],
        start: Annotated[str, Query(description="Window start, ISO-8601 (naive = UTC), inclusive")],
        end: Annotated[str, Query(description="Window end, ISO-8601 (naive = UTC), exclusive")],
        as_of: Annotated[
            str | None, Query(description="Knowledge time: revisions published later are hidden")
        ] = None,
        resolution: Annotated[Literal["raw", "hourly", "daily"], Query()] = "raw",
        format: Format | None = None,
    ) -> Response:
        begin, finish = _required_instant(start, "start"), _required_instant(end, "end")
        knowledge = _instant(as_of, "as_of")
        if finish <= begin:
            raise bad_request(f"end ({finish}) must be after start ({begin})")
        longest = MAX_WINDOW_DAYS[resolution]
        if finish - begin > pd.Timedelta(days=longest):
            raise bad_request(
                f"the window is {(finish - begin) / pd.Timedelta(days=1):.1f} days; at most {longest} days "
                "at "
                f"resolution {resolution} (limits: {MAX_WINDOW_DAYS}); split the request or use an export",
                limit_days=longest,
            )
        places = list(dict.fromkeys(location))
        if len(places) > MAX_LOCATIONS:
            raise bad_request(
                f"{len(places)} locations; at most {MAX_LOCATIONS} per request", limit=MAX_LOCATIONS
            )
        await run_in_threadpool(clients.require, who.name, "prices", market, places)
        client = await run_in_threadpool(clients.user, who.name)
        units = await run_in_threadpool(_units, client, who.name, market, places)

        def batches() -> Iterator[pa.RecordBatch]:
            for place in places:
                query = queries.price_series_query(
                    client, market, place, begin, finish, resolution=_RESOLUTIONS[resolution],
                    as_of=knowledge, limit=queries.MAX_LIMIT - 1,
                )  # fmt: skip
                yield from feeds.arrow_batches(client, query.sql, query.params)

        meta = {
            "market": market,
            "locations": places,
            "start": begin.isoformat(),
            "end": finish.isoformat(),
            "as_of": (knowledge or pd.Timestamp.now(tz="UTC")).isoformat(),
            "resolution": resolution,
            "units": units,
        }
        return await run_in_threadpool(respond, request, format, batches, meta, f"{market}-ticks")

    @v1.get("/prices/latest", tags=["prices"], summary="The latest price of each location of a market")
    async def latest(
        request: Request,
        who: Who,
        market: Annotated[str, Query(description="Market, e.g. SPP_RT")],
        location: Annotated[
            list[str] | None, Query(description="Locations (default: all you may read)")
        ] = None,
        format: Format | None = None,
    ) -> Response:
        await run_in_threadpool(clients.require, who.name, "prices", market, location)
        client = await run_in_threadpool(clients.user, who.name)
        return await respond_frame(
            request, format, lambda: queries.latest_prices(client, market, location),
            {"market": market}, f"{market}-latest",
        )  # fmt: skip

    # ---------------------------------------------------------------------------------------------------
    # curves, fundamentals, forecasts, backtests
    # ---------------------------------------------------------------------------------------------------
    @v1.get("/curves/forward", tags=["curves"], summary="A forward curve version, with its lineage")
    async def forward(
        request: Request,
        who: Who,
        product: Annotated[str, Query(description="Curve name, e.g. PJM_WH_PEAK")],
        as_of: Annotated[
            str | None, Query(description="The curve's information cutoff (default: latest)")
        ] = None,
        version: Annotated[
            int | None, Query(ge=1, description="Build number at that cutoff (default: latest)")
        ] = None,
        granularity: Annotated[Literal["native", "monthly"], Query()] = "native",
        scenario: str = "base",
        format: Format | None = None,
    ) -> Response:
        await run_in_threadpool(clients.require_table, who.name, "curves")
        client = await run_in_threadpool(clients.user, who.name)
        cutoff = _instant(as_of, "as_of")

        def read() -> tuple[pd.DataFrame, dict[str, Any]]:
            points = queries.curve_points(
                client, product, curve_as_of=cutoff, version=version, scenario=scenario
            )
            lineage = _lineage(client, product, scenario, points)
            if granularity == "monthly":
                points = _monthly(points)
            return points, lineage

        points, lineage = await run_in_threadpool(read)
        unit = str(points["unit"].iloc[0]) if len(points) else ""
        meta = {
            "product": product,
            "scenario": scenario,
            "granularity": granularity,
            "units": {"value": unit},
            "lineage": lineage,
            "rows": len(points),
        }
        return respond(request, format, lambda: formats.frame_batches(points), meta, f"{product}-curve")

    @v1.get("/fundamentals", tags=["fundamentals"], summary="Load, generation, weather... of an area")
    async def fundamentals(
        request: Request,
        who: Who,
        market: str,
        variable: Annotated[list[str], Query(description="Variables (repeat for several)")],
        area: str,
        start: str,
        end: str,
        resolution: Annotated[Literal["raw", "hourly", "daily"], Query()] = "raw",
        as_of: str | None = None,
        format: Format | None = None,
    ) -> Response:
        begin, finish = _required_instant(start, "start"), _required_instant(end, "end")
        longest = MAX_WINDOW_DAYS[resolution]
        if finish - begin > pd.Timedelta(days=longest):
            raise bad_request(
                f"the window is longer than {longest} days at resolution {resolution}", limit_days=longest
            )
        await run_in_threadpool(clients.require, who.name, "fundamentals", market, [area])
        client = await run_in_threadpool(clients.user, who.name)
        knowledge = _instant(as_of, "as_of")

        def read() -> pd.DataFrame:
            df = queries.fundamentals(client, market, area, variable, begin, finish,
                                      resolution=_RESOLUTIONS[resolution],
                                      as_of=knowledge, allow_empty=True)  # fmt: skip
            if df.empty:  # a window without data is an empty answer; a variable the area never had is a 400
                known = feeds.fundamental_variables(client, market, area)
                unknown = sorted(set(variable) - set(known))
                if unknown:
                    raise bad_request(
                        f"unknown variables {unknown} for {market}/{area}; "
                        f"known: {', '.join(known) or 'none'}",
                        allowed=list(known),
                    )
            return df

        return await respond_frame(
            request,
            format,
            read,
            {"market": market, "area": area, "variables": variable},
            f"{market}-fundamentals",
        )

    @v1.get("/forecasts", tags=["forecasts"], summary="Stored forecasts of a market's target")
    async def forecasts(
        request: Request,
        who: Who,
        market: str,
        location: str | None = None,
        model: Annotated[list[str] | None, Query()] = None,
        variable: str | None = None,
        issued_from: str | None = None,
        issued_to: str | None = None,
        start: str | None = None,
        end: str | None = None,
        as_of: str | None = None,
        format: Format | None = None,
    ) -> Response:
        await run_in_threadpool(
            clients.require, who.name, "forecasts", market, [location] if location else None
        )
        client = await run_in_threadpool(clients.user, who.name)
        window = {
            "issued_from": _instant(issued_from, "issued_from"),
            "issued_to": _instant(issued_to, "issued_to"),
            "start": _instant(start, "start"),
            "end": _instant(end, "end"),
            "as_of": _instant(as_of, "as_of"),
        }

        def read() -> pd.DataFrame:
            return feeds.forecasts(
                client, market=market, location=location, models=model, variable=variable,
                issued_from=window["issued_from"], issued_to=window["issued_to"],
                start=window["start"], end=window["end"], as_of=window["as_of"],
            )  # fmt: skip

        return await respond_frame(request, format, read, {"market": market}, f"{market}-forecasts")

    @v1.get("/backtests/{run_id}/metrics", tags=["backtests"], summary="Accuracy metrics of a backtest run")
    async def backtest_metrics(
        request: Request,
        who: Who,
        run_id: Annotated[str, Path(min_length=1, max_length=200)],
        metric: Annotated[
            list[str] | None, Query(description="MAE, RMSE, MAPE, WAPE, ... (default: all)")
        ] = None,
        format: Format | None = None,
    ) -> Response:
        client = await run_in_threadpool(clients.user, who.name)

        def read() -> pd.DataFrame:
            runs = queries.backtest_runs(client, run_ids=run_id)
            if runs.empty:
                raise Problem(404, "Not found", f"no backtest run {run_id!r} that {who.name} may read")
            return queries.backtest_metrics(client, run_id, metrics=metric)

        return await respond_frame(request, format, read, {"run_id": run_id}, f"backtest-{run_id}")

    # ---------------------------------------------------------------------------------------------------
    # operations: quality and alerts (paged, newest first)
    # ---------------------------------------------------------------------------------------------------
    @v1.get("/quality", tags=["operations"], summary="Data-quality check results (newest first, paged)")
    async def quality(
        request: Request,
        who: Who,
        table: str | None = None,
        market: str | None = None,
        status: Annotated[list[Literal["pass", "warn", "fail"]] | None, Query()] = None,
        latest_only: bool = False,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        format: Format | None = None,
    ) -> Response:
        offset = int(_decode_cursor(cursor).get("offset", 0))
        client = await run_in_threadpool(clients.user, who.name)
        df = await run_in_threadpool(
            lambda: queries.quality_results(client, table_name=table, market=market, statuses=status,
                                            latest_only=latest_only, limit=offset + limit + 1)
        )  # fmt: skip
        return _page(request, format, df, offset, limit, "quality")

    @v1.get("/alerts", tags=["operations"], summary="Alerts (newest first, paged)")
    async def alerts(
        request: Request,
        who: Who,
        status: Annotated[list[Literal["open", "acknowledged", "resolved"]] | None, Query()] = None,
        severity: Annotated[list[Literal["info", "warning", "critical"]] | None, Query()] = None,
        market: str | None = None,
        since: str | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        format: Format | None = None,
    ) -> Response:
        offset = int(_decode_cursor(cursor).get("offset", 0))
        client = await run_in_threadpool(clients.user, who.name)
        df = await run_in_threadpool(
            lambda: queries.alerts(client, statuses=status, severities=severity, market=market,
                                   since=_instant(since, "since"), limit=offset + limit + 1)
        )  # fmt: skip
        return _page(request, format, df, offset, limit, "alerts")

    def _page(
        request: Request, fmt: str | None, df: pd.DataFrame, offset: int, limit: int, name: str
    ) -> Response:
        page = df.iloc[offset : offset + limit]
        more = len(df) > offset + limit
        meta = {"next": _encode_cursor({"offset": offset + limit}) if more else None, "rows": len(page)}
        return respond(request, fmt, lambda: formats.frame_batches(page), meta, name)

    # ---------------------------------------------------------------------------------------------------
    # exports and the stream
    # ---------------------------------------------------------------------------------------------------
    export_jobs.routes(v1, center, limits)
    price_stream.routes(v1, hub, clients, limits)
    app.include_router(v1)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = document_problems(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


#: the problems every route may answer, for the OpenAPI document (FastAPI's 422 is never sent: bad
#: parameters are 400 problems)
PROBLEMS: dict[str, str] = {
    "400": "A parameter is outside what the route accepts (the detail says what is allowed)",
    "401": "No token, or one the Hub does not know",
    "403": "Outside the caller's entitlement (or no export right)",
    "429": "Over the caller's rate limit (Retry-After)",
    "503": "The store or the Hub cannot be reached just now (Retry-After)",
}
_DATA_TAGS = {"reference", "prices", "curves", "fundamentals", "forecasts", "backtests", "operations"}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Return the OpenAPI document with the problems the API answers and the four formats of data routes."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["Problem"] = {
        "title": "Problem (RFC 9457)",
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "what was wrong and what is allowed"},
            "instance": {"type": "string"},
            "allowed": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["type", "title", "status", "detail"],
    }
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "service" in operation.get("tags", []) and "me" not in operation.get("operationId", ""):
                continue
            for code, text in PROBLEMS.items():
                responses.setdefault(code, {"description": text, "content": problem})
            if _DATA_TAGS & set(operation.get("tags", [])) and "200" in responses:
                responses["200"]["content"] = {
                    media.split(";")[0]: {} for media in formats.MEDIA_TYPES.values()
                } | {"application/json": {}}
    return schema


def _docs_assets() -> str:
    """Return the folder of Swagger UI's ``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``favicon.png``."""
    return str(importlib.resources.files("fastapi_offline") / "static")


#: how long the units of a caller's market and locations are reused [s]
UNITS_TTL_S = 60.0
_units_seen: dict[tuple[str, str, tuple[str, ...]], tuple[float, dict[str, str]]] = {}


def _units(client: Any, user: str, market: str, locations: list[str]) -> dict[str, str]:
    """Return ``{"price": unit}`` of a market's locations (several units: joined with `` | ``).

    Read as the caller, at most every :data:`UNITS_TTL_S` seconds per caller and selection (a unit changes
    with a market's definition, not between requests; the read was a sixth of a day of ticks' store time).
    """
    key = (user, market, tuple(locations))
    now = time.monotonic()
    hit = _units_seen.get(key)
    if hit is not None and now - hit[0] < UNITS_TTL_S:
        return hit[1]
    units = feeds.price_units(client, market, locations)
    found = {"price": " | ".join(units)} if units else {}
    if len(_units_seen) > 10_000:
        _units_seen.clear()
    _units_seen[key] = (now, found)
    return found


def _lineage(client: Any, product: str, scenario: str, points: pd.DataFrame) -> dict[str, Any]:
    """Return the build behind a curve version: its run, cutoff, version, status and inputs."""
    if points.empty:
        return {}
    run_id = str(points["run_id"].iloc[0])
    lineage: dict[str, Any] = {
        "run_id": run_id,
        "as_of_utc": pd.Timestamp(points["as_of_utc"].iloc[0]).isoformat(),
        "version": int(points["version"].iloc[0]),
        "published_at_utc": pd.Timestamp(points["published_at_utc"].iloc[0]).isoformat(),
    }
    try:
        versions = queries.curve_versions(client, product, scenario=scenario, limit=1000)
    except Exception:  # the runs table is a help
        return lineage
    match = (
        versions[versions.get("run_id", pd.Series(dtype=str)) == run_id]
        if "run_id" in versions
        else versions.iloc[:0]
    )
    if len(match):
        row = match.iloc[0].to_dict()
        for name, value in row.items():
            key = str(name)
            if key not in lineage and key not in ("parameters",):
                lineage[key] = value.isoformat() if isinstance(value, pd.Timestamp) else _plain(value)
    return lineage


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _monthly(points: pd.DataFrame) -> pd.DataFrame:
    """Return a curve's time-weighted average per delivery month (UTC months).

    Columns: ``delivery_start_utc``, ``delivery_end_utc`` (the month), ``value`` [see ``unit``], ``hours``
    (delivery hours of the curve in the month [h]) and ``unit``.
    """
    if points.empty:
        return points
    start = pd.Series(pd.to_datetime(points["delivery_start_utc"].dt.strftime("%Y-%m-01"), utc=True))
    hours = (points["delivery_end_utc"] - points["delivery_start_utc"]).dt.total_seconds() / 3600.0
    frame = pd.DataFrame({"m": start, "h": hours, "w": points["value"] * hours, "unit": points["unit"]})
    grouped = frame.groupby("m", sort=True).agg(h=("h", "sum"), w=("w", "sum"), unit=("unit", "first"))
    months = pd.DatetimeIndex(grouped.index)
    return pd.DataFrame(
        {
            "delivery_start_utc": months.astype("datetime64[ms, UTC]"),
            "delivery_end_utc": (months + pd.offsets.MonthBegin(1)).astype("datetime64[ms, UTC]"),
            "value": (grouped["w"] / grouped["h"]).to_numpy(),
            "hours": grouped["h"].to_numpy(),
            "unit": grouped["unit"].to_numpy(),
        }
    )
