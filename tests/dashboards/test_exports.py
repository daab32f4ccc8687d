"""The exports page and "download this view" through the download center, against a stand-in API.

The API is ``httpx.MockTransport`` (or a patched :func:`marketintel.services.exports.start_export`); the
store is the dashboards' sample database. The real API behind a real hub, in a browser, is
tests/hub/test_page_exports.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pandas as pd
import panel as pn
import pytest

from marketintel.dashboards import page as page_module
from marketintel.dashboards.explorer import Explorer
from marketintel.dashboards.exports import IDLE_REFRESH_S, Exports, exports_frame
from marketintel.dashboards.page import ExportView, download_buttons, exports_page_url
from marketintel.services import exports
from marketintel.services.exports import ApiConfig, Export, ExportError
from marketintel.services.sample import SAMPLE_LOCATION, SAMPLE_MARKET, SampleSummary

API = ApiConfig("http://api.test/services/api", "service-token")
NOW = pd.Timestamp("2026-12-07 23:05", tz="UTC")
FILTERS = {"start": "2018-12-18T00:00:00+00:00", "end": "2018-12-25T00:00:00+00:00",
           "markets": ["NORDPOOL_DA"], "locations": ["SYS"], "as_of": None}  # fmt: skip


def job(**fields: Any) -> dict[str, Any]:
    """An export job as the API lists it (done by default)."""
    base = {
        "id": "j1", "dataset": "prices", "format": "csv", "state": "done", "progress": 1.0, "rows": 167,
        "expected_rows": 167, "bytes": 25199, "created_at": "2026-12-07T23:00:45+00:00",
        "finished_at": "2026-12-07T23:00:46+00:00", "expires_at": "2026-12-07T23:15:46+00:00",
        "error": None, "url": "/services/api/v1/exports/j1/file?signature=a.b&x=<y>", "filters": FILTERS,
    }  # fmt: skip
    return {**base, **fields}


def listing(*jobs: dict[str, Any]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda r: httpx.Response(200, json={"data": list(jobs)}))


# ------------------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------------------
def test_the_table_links_finished_files_only_while_their_links_are_valid() -> None:
    jobs = [
        Export.from_api(job(id="run", state="running", progress=0.45, rows=75, bytes=0, url=None,
                            expires_at=None, format="parquet", dataset="fundamentals")),
        Export.from_api(job()),
        Export.from_api(job(id="old", expires_at="2026-12-07T23:01:00+00:00")),
        Export.from_api(job(id="q", state="queued", progress=None, rows=0, bytes=0, url=None)),
    ]  # fmt: skip
    frame = exports_frame(jobs, now=NOW).set_index("created", drop=False)
    assert list(frame.columns) == [
        "created",
        "dataset",
        "selection",
        "window",
        "state",
        "progress",
        "rows",
        "size",
        "expires",
        "file",
    ]  # no failed job: no error column
    rows = frame.to_dict("records")
    running, done, old, queued = rows
    assert (running["dataset"], running["state"], running["progress"], running["file"]) == (
        "fundamentals (PARQUET)", "running", "45%", "")  # fmt: skip
    assert done["selection"] == "NORDPOOL_DA / SYS" and done["window"] == "2018-12-18 to 2018-12-25"
    assert (done["rows"], done["size"], done["expires"], done["created"]) == (
        "167", "25.2 kB", "23:15:46", "2026-12-07 23:00")  # fmt: skip
    assert done["file"] == (
        '<a class="mi-export-link" id="mi-export-j1" '
        'href="/services/api/v1/exports/j1/file?signature=a.b&amp;x=&lt;y&gt;" '
        'title="prices-j1.csv">download</a>'
    )  # the link is escaped
    assert (old["state"], old["file"], old["expires"]) == ("expired", "", "")
    assert (queued["state"], queued["progress"], queued["file"]) == ("queued", "", "")


def test_a_failed_job_shows_its_error() -> None:
    frame = exports_frame([Export.from_api(job(state="failed", error="the store refused", url=None))], NOW)
    assert frame.loc[0, "error"] == "the store refused" and frame.loc[0, "file"] == ""


# ------------------------------------------------------------------------------------------------------------
# The page
# ------------------------------------------------------------------------------------------------------------
def test_the_page_lists_the_users_jobs_and_says_what_they_may_export(db_client: Any) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        later = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=10)).isoformat()
        jobs = [job(state="running", progress=0.5, url=None), job(id="j0", expires_at=later)]
        return httpx.Response(200, json={"data": jobs})

    view = Exports(client=db_client, user="demo-trader", api=API, transport=httpx.MockTransport(answer))
    assert seen[0].headers["x-mi-act-for"] == "demo-trader" and view.message == ""
    assert [j.id for j in view.jobs] == ["j1", "j0"]
    assert list(view._table.value["state"]) == ["running", "done"]
    assert "1 still running" in view._status.object and "every 2 s" in view._status.object
    assert view._rights.object == "You may export every dataset."  # the sample's client is the store's admin
    pn.panel(view)  # the layout builds


def test_the_page_says_when_the_api_refuses_or_is_not_there(db_client: Any) -> None:
    refusal = httpx.MockTransport(
        lambda r: httpx.Response(503, json={"detail": "the hub cannot be reached to check the token"},
                                 headers={"Retry-After": "5"})
    )  # fmt: skip
    view = Exports(client=db_client, user="demo-trader", api=API, transport=refusal)
    assert view.kind == "danger" and "Failed reading your exports" in view.message
    assert "the hub cannot be reached to check the token. Try again in 5 s." in view.message
    view._transport = listing()
    view.refresh()
    assert view.message == "" and "no exports yet" in view._status.object  # the API answers again
    assert not view._table.visible

    nothing = Exports(client=db_client, user="demo-trader", api=None)
    nothing.api = None
    nothing.refresh()
    assert nothing.kind == "info" and "not configured here (`MI_API_URL`" in nothing.message
    no_user = Exports(client=db_client, user="", api=API, transport=listing())
    assert "logged-in hub user" in no_user.message


def test_the_page_reads_again_while_a_job_runs_and_seldom_otherwise(db_client: Any) -> None:
    later = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=10)).isoformat()
    answers = [[job(state="running", progress=0.2, url=None)], [job(state="running", progress=0.6, url=None)],
               [job(expires_at=later)], [job(id="j2"), job(expires_at=later)]]  # fmt: skip
    reads: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        reads.append(1)
        return httpx.Response(200, json={"data": answers[min(len(reads), len(answers)) - 1]})

    view = Exports(client=db_client, user="demo-trader", api=API, transport=httpx.MockTransport(answer))
    assert list(view._table.value["progress"]) == ["20%"]
    asyncio.run(view._tick())  # a job runs: read at every tick
    assert len(reads) == 2 and list(view._table.value["progress"]) == ["60%"]
    asyncio.run(view._tick())
    assert len(reads) == 3 and list(view._table.value["state"]) == ["done"]
    asyncio.run(view._tick())  # nothing runs: not again before IDLE_REFRESH_S
    assert len(reads) == 3
    view._read_at -= IDLE_REFRESH_S
    asyncio.run(view._tick())
    assert len(reads) == 4 and len(view._table.value) == 2  # a job started elsewhere appears


# ------------------------------------------------------------------------------------------------------------
# "Download this view"
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def behind_the_hub(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The dashboards as the hub runs them (API configured, a logged-in user); the exports started."""
    monkeypatch.setenv("MI_API_URL", API.url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", API.token)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/services/dashboards/")
    monkeypatch.setattr(page_module, "current_user", lambda: "demo-trader")
    started: list[dict[str, Any]] = []

    def start(user: str, dataset: str, start: Any, end: Any, markets: Any, locations: Any, fmt: str,
              **kw: Any) -> Export:  # fmt: skip
        started.append({"user": user, "dataset": dataset, "start": start, "end": end, "markets": markets,
                        "locations": locations, "fmt": fmt, **kw})  # fmt: skip
        if user == "refused":
            raise ExportError("The API refused to start the export of prices: no export right.", 403)
        return Export.from_api(job(state="queued", url=None))

    monkeypatch.setattr(exports, "start_export", start)
    return started


def click(row: pn.Row, fmt: str) -> pn.pane.Alert:
    """Click the row's ``fmt`` button; return the row's message."""
    button = next(o for o in row.objects if f"mi-download-{fmt}" in o.css_classes)
    button.clicks += 1
    return next(o for o in row.objects if isinstance(o, pn.pane.Alert))


def test_the_buttons_start_an_export_job_of_the_view(behind_the_hub: list[dict[str, Any]]) -> None:
    view = ExportView("prices", pd.Timestamp("2018-12-18", tz="UTC"), pd.Timestamp("2018-12-25", tz="UTC"),
                      ("NORDPOOL_DA",), ("SYS",), None, "The file holds the stored intervals.")  # fmt: skip
    row = download_buttons("prices", pd.DataFrame, "prices", "prices", lambda t: True, lambda: view)
    assert not any(isinstance(o, pn.widgets.FileDownload) for o in row.objects)
    message = click(row, "parquet")
    assert behind_the_hub == [{
        "user": "demo-trader", "dataset": "prices", "start": view.start, "end": view.end,
        "markets": ("NORDPOOL_DA",), "locations": ("SYS",), "fmt": "parquet", "as_of": None,
        "api": API,
    }]  # fmt: skip
    assert message.visible and message.alert_type == "success"
    assert (
        "**Export started** (PARQUET, job `j1`): prices of NORDPOOL_DA SYS, 2018-12-18 to 2018-12-25 UTC."
        in (message.object)
    )
    assert "The file holds the stored intervals." in message.object
    assert f"[your exports]({exports_page_url()})" in message.object
    assert exports_page_url() == "/services/dashboards/exports"


def test_a_refused_export_shows_the_apis_reason(
    behind_the_hub: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_module, "current_user", lambda: "refused")
    view = ExportView("prices", "2018-12-18", "2018-12-25")
    message = click(download_buttons("p", pd.DataFrame, "prices", "prices", None, lambda: view), "csv")
    assert message.alert_type == "danger"
    assert (
        message.object
        == "**Export not started.** The API refused to start the export of prices: no export right."
    )
    empty = click(download_buttons("p", pd.DataFrame, "prices", "prices", None, lambda: None), "csv")
    assert empty.alert_type == "warning" and "choose a selection" in empty.object


def test_without_the_api_or_for_other_tables_the_file_is_made_here(
    behind_the_hub: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    view = ExportView("prices", "2018-12-18", "2018-12-25")
    curves = download_buttons("curve", pd.DataFrame, "the curve", "curves", None, lambda: view)
    assert [type(o) for o in curves.objects] == [pn.widgets.FileDownload] * 2  # not a dataset of the API
    monkeypatch.delenv("MI_API_URL")
    direct = download_buttons("prices", pd.DataFrame, "prices", "prices", None, lambda: view)
    assert [type(o) for o in direct.objects] == [pn.widgets.FileDownload] * 2
    monkeypatch.setenv("MI_API_URL", API.url)
    monkeypatch.setattr(page_module, "current_user", lambda: None)  # no hub user (developer mode)
    assert [
        type(o) for o in download_buttons("p", pd.DataFrame, "p", "prices", None, lambda: view).objects
    ] == [pn.widgets.FileDownload] * 2
    assert behind_the_hub == []


def test_the_explorer_exports_its_selection(
    db_client: Any, sample: SampleSummary, behind_the_hub: list[dict[str, Any]]
) -> None:
    explorer = Explorer(client=db_client)
    explorer.param.update(resolution="hourly", as_of=pd.Timestamp("2030-01-01").to_pydatetime())
    section = explorer.downloads()
    prices_row, fundamentals_row = section.objects[1], section.objects[2]
    click(prices_row, "csv")
    click(fundamentals_row, "parquet")
    prices, fundamentals = behind_the_hub
    assert (prices["dataset"], prices["markets"], prices["locations"]) == (
        "prices", (SAMPLE_MARKET,), (SAMPLE_LOCATION,))  # fmt: skip
    assert prices["start"] == pd.Timestamp(explorer.start, tz="UTC")
    assert prices["end"] == pd.Timestamp(explorer.end, tz="UTC")
    assert prices["as_of"] == pd.Timestamp("2030-01-01", tz="UTC")
    assert (fundamentals["dataset"], fundamentals["markets"], fundamentals["locations"]) == (
        "fundamentals", ("NORDPOOL",), ("SYS",))  # fmt: skip
    assert "stored intervals, not the buckets shown" in click(prices_row, "csv").object


def test_a_user_without_the_export_right_sees_the_note(db_client: Any, sample: SampleSummary) -> None:
    explorer = Explorer(client=db_client)
    explorer._exports = frozenset({"curves"})
    section = explorer.downloads()
    notes = [o.objects[0].object for o in section.objects[1:]]
    assert notes == [
        "Your entitlement does not include exports of prices; ask an admin.",
        "Your entitlement does not include exports of fundamentals; ask an admin.",
    ]
