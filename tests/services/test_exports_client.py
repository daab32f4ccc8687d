"""The download center's client: what it sends the API (acting for a user) and how it says the API refused.

The API is a stand-in (``httpx.MockTransport``) that records the requests and answers as
:mod:`marketintel.api.exports` does, with problem+json refusals; a closed port stands for an API that is down.
The real API behind a real hub is exercised by tests/hub/test_page_exports.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd
import pytest

from marketintel.services import exports
from marketintel.services.exports import ApiConfig, Export, ExportError
from tests.storeproc import free_port

API = ApiConfig("http://api.test/services/api", "service-token")
DONE = {
    "id": "a46b7bf50ed240cb", "dataset": "prices", "format": "csv", "state": "done", "progress": 1.0,
    "rows": 167, "expected_rows": 167, "bytes": 25199, "created_at": "2026-12-07T23:00:45.910747+00:00",
    "finished_at": "2026-12-07T23:00:45.959574+00:00", "expires_at": "2026-12-07T23:15:45.959574+00:00",
    "error": None, "url": "/services/api/v1/exports/a46b7bf50ed240cb/file?signature=abc.def",
    "filters": {"start": "2018-12-18T00:00:00+00:00", "end": "2018-12-25T00:00:00+00:00",
                "markets": ["NORDPOOL_DA"], "locations": ["SYS"], "as_of": None},
}  # fmt: skip


def api(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """Return a stand-in API answering with ``answer`` and the list of requests it received."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return httpx.MockTransport(handler), seen


def problem(status: int, detail: str, **headers: str) -> httpx.Response:
    body = {"type": "about:blank", "title": "x", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json", **headers})


def test_start_export_posts_the_view_as_the_user_with_the_service_token() -> None:
    transport, seen = api(lambda r: httpx.Response(202, json={**DONE, "state": "queued", "url": None}))
    job = exports.start_export(
        "demo-trader", "prices", pd.Timestamp("2018-12-18"), "2018-12-25T00:00:00+01:00", ["NORDPOOL_DA"],
        ["SYS"], "parquet", as_of=pd.Timestamp("2018-12-20 12:00", tz="Europe/Oslo"), api=API,
        transport=transport,
    )  # fmt: skip
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "http://api.test/services/api/v1/exports"
    assert request.headers["authorization"] == "Bearer service-token"
    assert request.headers["x-mi-act-for"] == "demo-trader"
    assert json.loads(request.content) == {
        "dataset": "prices", "start": "2018-12-18T00:00:00+00:00", "end": "2018-12-24T23:00:00+00:00",
        "markets": ["NORDPOOL_DA"], "locations": ["SYS"], "as_of": "2018-12-20T11:00:00+00:00",
        "format": "parquet",
    }  # fmt: skip
    assert job.state == "queued" and job.running and job.link() is None


def test_list_exports_reads_the_jobs_and_their_links() -> None:
    running = {**DONE, "id": "b", "state": "running", "progress": None, "rows": 0, "url": None,
               "expires_at": None, "finished_at": None}  # fmt: skip
    transport, seen = api(lambda r: httpx.Response(200, json={"data": [running, DONE]}))
    got = exports.list_exports("demo-trader", api=API, transport=transport)
    assert seen[0].method == "GET" and seen[0].headers["x-mi-act-for"] == "demo-trader"
    assert [j.id for j in got] == ["b", "a46b7bf50ed240cb"]
    assert got[0].running and got[0].progress is None and got[0].link() is None
    done = got[1]
    assert (done.rows, done.bytes, done.filters["markets"]) == (167, 25199, ["NORDPOOL_DA"])
    assert done.expires_at == pd.Timestamp("2026-12-07T23:15:45.959574", tz="UTC")
    before = pd.Timestamp("2026-12-07T23:10:00", tz="UTC")
    assert done.link(before) == DONE["url"]
    assert done.link(before + pd.Timedelta(minutes=10)) is None  # expired: no link offered


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (
            problem(403, "demo-pilot's entitlement does not include exports of prices (exports allowed: "
                    "none); ask an admin"),
            403,
            "The API refused to start the export of prices: demo-pilot's entitlement does not include "
            "exports of prices (exports allowed: none); ask an admin.",
        ),
        (
            problem(429, "demo-trader is over the exports limit of 1 per 1 second; retry after the stated "
                    "delay", **{"Retry-After": "1"}),
            429,
            "Too many exports just now: demo-trader is over the exports limit of 1 per 1 second; retry after "
            "the stated delay. Try again in 1 s.",
        ),
        (
            problem(400, "end (2018-12-18 00:00:00+00:00) must be after start (2018-12-25 00:00:00+00:00)"),
            400,
            "The API could not start the export of prices: end (2018-12-18",
        ),
        (
            problem(503, "the store cannot be reached just now; retry after the stated delay",
                    **{"Retry-After": "5"}),
            503,
            "The API could not start the export of prices just now: the store cannot be reached just now; "
            "retry after the stated delay. Try again in 5 s.",
        ),
        (httpx.Response(502, text="Bad Gateway"), 502, "HTTP 502: Bad Gateway"),
    ],
)  # fmt: skip
def test_a_refusal_says_what_the_api_said(answer: httpx.Response, status: int, says: str) -> None:
    transport, _ = api(lambda r: answer)
    with pytest.raises(ExportError) as raised:
        exports.start_export("demo-pilot", "prices", "2018-12-25", "2018-12-18", fmt="csv", api=API,
                             transport=transport)  # fmt: skip
    assert raised.value.status == status
    assert says in str(raised.value)


def test_an_api_that_is_down_is_said_with_what_to_do() -> None:
    down = ApiConfig(f"http://127.0.0.1:{free_port()}/services/api", "t")
    with pytest.raises(ExportError, match=r"did not answer \(ConnectError.*`mi hub status`") as raised:
        exports.list_exports("demo-trader", api=down)
    assert raised.value.status is None


def test_without_the_api_configured_or_a_user_nothing_is_sent() -> None:
    assert exports.api_config({}) is None
    assert exports.api_config({"MI_API_URL": "http://x/services/api/"}) is None  # no token
    config = exports.api_config({"MI_API_URL": "http://x/services/api/", "JUPYTERHUB_API_TOKEN": "s3cret"})
    assert config == ApiConfig("http://x/services/api", "s3cret") and "s3cret" not in repr(config)
    transport, seen = api(lambda r: httpx.Response(200, json={"data": []}))
    with pytest.raises(ExportError, match="logged-in hub user"):
        exports.list_exports("", api=API, transport=transport)
    with pytest.raises(ValueError, match="format must be one of csv, parquet"):
        exports.start_export(
            "u", "prices", "2018-01-01", "2018-01-02", fmt="xlsx", api=API, transport=transport
        )
    with pytest.raises(ValueError, match="dataset must be one of"):
        exports.start_export("u", "curves", "2018-01-01", "2018-01-02", api=API, transport=transport)
    assert seen == []


def test_a_job_from_the_api_keeps_its_fields() -> None:
    job = Export.from_api({**DONE, "state": "failed", "error": "the store refused", "url": None})
    assert (job.state, job.error, job.running, job.link()) == ("failed", "the store refused", False, None)
    assert job.created_at is not None and job.created_at.tzinfo is not None
    minimal: dict[str, Any] = {"id": "x", "state": "queued"}
    assert Export.from_api(minimal).rows == 0 and Export.from_api(minimal).created_at is None
