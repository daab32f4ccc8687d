"""The download center's client: start and list a user's export jobs through the API, acting for them.

The dashboards' "download this view" and their ``exports`` page do not make files themselves: they ask the
API (:mod:`marketintel.api.exports`) to run an export job *as the user*, with the dashboards service's own
Hub token (``JUPYTERHUB_API_TOKEN``, which the Hub gives every managed service) and the header
``X-MI-Act-For: <user>``. The API accepts that header from its trusted services only
(:mod:`marketintel.api.auth`), reads the store as the user (their entitlement and export right apply),
counts the request against the user's rate limits and audits the export. The finished file's signed link
(``Export.url``) is opened by the user's browser and works only for them.

The API's address as the dashboards reach it is ``MI_API_URL`` (``http://127.0.0.1:<port>/services/api``;
the hub sets it in the dashboards' environment). Without it, or without a token, :func:`api_config` is
None and the dashboards keep their direct downloads (a developer's ``--no-auth`` server).

Errors: a refusal of the API (403 without the export right, 429 over the export limit, 400 for a bad
window) raises :class:`ExportError` with the API's own ``detail`` (problem+json); an API that does not
answer raises it with what to do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

from marketintel.exceptions import MarketIntelError

__all__ = [
    "ACT_FOR_HEADER",
    "API_URL_ENV",
    "DATASETS",
    "FORMATS",
    "ApiConfig",
    "Export",
    "ExportError",
    "api_config",
    "list_exports",
    "start_export",
]

#: the environment variable with the API's address as the dashboards reach it (with the service prefix)
API_URL_ENV = "MI_API_URL"
#: the environment variable of the calling service's Hub token (set by the Hub for a managed service)
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"
#: the header that names the user a trusted service acts for (:data:`marketintel.api.auth.ACT_FOR_HEADER`)
ACT_FOR_HEADER = "X-MI-Act-For"
#: how long a call waits for the API [s] (it answers at once: jobs run in the background)
TIMEOUT_S = 10.0
#: what the API exports
DATASETS = ("prices", "fundamentals", "forecasts")
#: the file formats of an export
FORMATS = ("csv", "parquet")
#: a job's states; the first two are still going
RUNNING_STATES = ("queued", "running")


class ExportError(MarketIntelError):
    """The API refused an export call, or could not be reached.

    Attributes
    ----------
    status : int or None
        The API's HTTP status (None: no answer).
    retry_after_s : float or None
        How long the API asked to wait (429, 503) [s].
    """

    def __init__(self, message: str, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ApiConfig:
    """Where the API is and how the dashboards authenticate to it.

    Attributes
    ----------
    url : str
        The API's base URL with its prefix, no trailing slash (``http://127.0.0.1:8020/services/api``).
    token : str
        The calling service's Hub API token.
    """

    url: str
    token: str = field(repr=False)


def api_config(env: Mapping[str, str] | None = None) -> ApiConfig | None:
    """Return the API's address and the service's token, or None when either is not set.

    Parameters
    ----------
    env : mapping, optional
        The environment; default :data:`os.environ`. Reads :data:`API_URL_ENV` and :data:`TOKEN_ENV`.
    """
    env = os.environ if env is None else env
    url, token = env.get(API_URL_ENV, "").strip(), env.get(TOKEN_ENV, "").strip()
    if not url or not token:
        return None
    return ApiConfig(url.rstrip("/"), token)


def _stamp(value: Any) -> pd.Timestamp | None:
    return None if value in (None, "") else pd.Timestamp(value).tz_convert("UTC")


@dataclass(frozen=True)
class Export:
    """An export job as the API lists it.

    Attributes
    ----------
    id, dataset, format, state : str
        ``state``: queued, running, done, failed or expired.
    progress : float or None
        Fraction written [0-1]; None before the rows are counted.
    rows, expected_rows : int
        Rows written; rows counted before it started (None until then) [rows].
    bytes : int
        Size of the finished file [B].
    created_at, finished_at, expires_at : pandas.Timestamp or None
        UTC. The link and the file go at ``expires_at``.
    error : str or None
        Why a failed job failed.
    url : str or None
        The signed link of a finished job (a path under the hub's address), None otherwise.
    filters : dict
        ``start``, ``end``, ``markets``, ``locations``, ``as_of`` as the API took them.
    """

    id: str
    dataset: str
    format: str
    state: str
    progress: float | None = None
    rows: int = 0
    expected_rows: int | None = None
    bytes: int = 0
    created_at: pd.Timestamp | None = None
    finished_at: pd.Timestamp | None = None
    expires_at: pd.Timestamp | None = None
    error: str | None = None
    url: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Export:
        """Return the job of one item of the API's answer."""
        return cls(
            id=str(body["id"]), dataset=str(body.get("dataset", "")), format=str(body.get("format", "")),
            state=str(body.get("state", "")),
            progress=None if body.get("progress") is None else float(body["progress"]),
            rows=int(body.get("rows") or 0),
            expected_rows=None if body.get("expected_rows") is None else int(body["expected_rows"]),
            bytes=int(body.get("bytes") or 0), created_at=_stamp(body.get("created_at")),
            finished_at=_stamp(body.get("finished_at")), expires_at=_stamp(body.get("expires_at")),
            error=body.get("error"), url=body.get("url"), filters=dict(body.get("filters") or {}),
        )  # fmt: skip

    @property
    def running(self) -> bool:
        """Whether the job is still queued or running."""
        return self.state in RUNNING_STATES

    def link(self, now: pd.Timestamp | None = None) -> str | None:
        """Return the signed link while it is valid (done, not expired at ``now``), else None."""
        now = pd.Timestamp.now(tz="UTC") if now is None else now
        if self.state != "done" or not self.url or (self.expires_at is not None and self.expires_at <= now):
            return None
        return self.url


def _problem(response: httpx.Response, doing: str) -> ExportError:
    """Return the error of a refusal: the API's problem+json ``detail``, else the status and body's start."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if not detail:
        detail = f"HTTP {response.status_code}: {response.text[:300].strip() or response.reason_phrase}"
    detail = str(detail).rstrip(". ")
    retry: float | None = None
    raw = response.headers.get("retry-after")
    if raw:
        try:
            retry = float(raw)
        except ValueError:
            retry = None
    status = response.status_code
    if status == 429:
        wait = f" Try again in {math.ceil(retry)} s." if retry is not None else ""
        message = f"Too many exports just now: {detail}.{wait}"
    elif status == 403:
        message = f"The API refused to {doing}: {detail}."
    elif status in (502, 503, 504):
        wait = f" Try again in {math.ceil(retry)} s." if retry is not None else " Try again shortly."
        message = f"The API could not {doing} just now: {detail}.{wait}"
    else:
        message = f"The API could not {doing}: {detail}."
    return ExportError(message, status, retry)


def _call(
    method: str,
    path: str,
    user: str,
    doing: str,
    *,
    body: Mapping[str, Any] | None = None,
    api: ApiConfig | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Any:
    """Call the API as the service acting for ``user``; return the answer's JSON.

    Raises
    ------
    ExportError
        Without an API configured, when the API does not answer, or when it refuses (its ``detail``).
    """
    api = api if api is not None else api_config()
    if api is None:
        raise ExportError(
            f"the download center is not configured ({API_URL_ENV} and {TOKEN_ENV} are not both set): "
            "exports run through the API behind the hub"
        )
    if not user:
        raise ExportError("an export is made for a logged-in hub user; this session has none")
    headers = {"Authorization": f"Bearer {api.token}", ACT_FOR_HEADER: user, "Accept": "application/json"}
    try:
        with httpx.Client(base_url=api.url, timeout=TIMEOUT_S, transport=transport) as client:
            response = client.request(method, path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise ExportError(
            f"the download center (the API at {api.url}) did not answer ({type(exc).__name__}: {exc}); "
            "try again in a moment, or ask ops to check the hub's service 'api' (`mi hub status`)"
        ) from None
    if response.status_code >= 400:
        raise _problem(response, doing)
    try:
        return response.json()
    except ValueError:
        raise ExportError(
            f"the API answered {doing} with something other than JSON (HTTP {response.status_code})",
            response.status_code,
        ) from None


def _iso(value: Any) -> str | None:
    """Return an instant as ISO-8601 (naive values mean UTC), None as None."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat()


def start_export(
    user: str,
    dataset: str,
    start: Any,
    end: Any,
    markets: Sequence[str] = (),
    locations: Sequence[str] = (),
    fmt: str = "csv",
    *,
    as_of: Any = None,
    api: ApiConfig | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Export:
    """Start an export job for ``user`` (``POST /v1/exports``); return it as queued.

    Parameters
    ----------
    user : str
        The hub user the job runs as (their entitlement and export right apply).
    dataset : {"prices", "fundamentals", "forecasts"}
        The table to export.
    start, end : str, datetime or pandas.Timestamp
        Window on ``interval_start_utc``, ``end`` exclusive (naive values mean UTC).
    markets, locations : sequence of str
        Filters (``locations`` are areas for fundamentals). Empty: everything the user may read.
    fmt : {"csv", "parquet"}
        File format.
    as_of : optional
        Knowledge time; None: now.
    api : ApiConfig, optional
        Default :func:`api_config`.
    transport : httpx.BaseTransport, optional
        HTTP transport (tests).

    Raises
    ------
    ValueError
        For a dataset or format the API does not export.
    ExportError
        When the API refuses (its ``detail``: no export right, over the limit, a bad window) or is down.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    body = {
        "dataset": dataset, "start": _iso(start), "end": _iso(end), "markets": [str(m) for m in markets],
        "locations": [str(loc) for loc in locations], "as_of": _iso(as_of), "format": fmt,
    }  # fmt: skip
    answer = _call("POST", "/v1/exports", user, f"start the export of {dataset}", body=body, api=api,
                   transport=transport)  # fmt: skip
    return Export.from_api(answer)


def list_exports(
    user: str, *, api: ApiConfig | None = None, transport: httpx.BaseTransport | None = None
) -> list[Export]:
    """Return ``user``'s export jobs, newest first (``GET /v1/exports``).

    Raises
    ------
    ExportError
        When the API refuses or is down.
    """
    answer = _call("GET", "/v1/exports", user, "list the exports", api=api, transport=transport)
    return [Export.from_api(item) for item in answer.get("data", [])]
