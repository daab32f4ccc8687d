"""The flows against one real Prefect server per session, the real store endpoint, real notebook kernels."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketintel.config import shared_dir
from tests.storeproc import StoreProcess, free_port

FIXTURES = shared_dir() / "fixtures"
pytestmark = [
    pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"recordings not found at {FIXTURES} (MI_SHARED_DIR)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local Prefect server for the session (SQLite in a temporary home), stopped at the end."""
    from marketintel.flows import server

    home = tmp_path_factory.mktemp("prefect")
    running = server.up(port=free_port(), home=home, progress=False)
    saved = {
        k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED")
    }
    os.environ.update(server.client_environment(running.api_url))
    os.environ["PREFECT_HOME"] = str(home)
    yield running
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    assert server.down(home)


@pytest.fixture
def flow_env(prefect_server: Any, store: StoreProcess, ch_database: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Path:  # fmt: skip
    """The store database and a reports folder for one test; Prefect settings for the session server."""
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    monkeypatch.setenv("MI_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    return tmp_path / "reports"


def _flow_runs(name: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async def read() -> list[Any]:
        async with get_client() as client:
            runs: list[Any] = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[name]))
            )
            return runs

    return asyncio.run(read())


def test_ingest_flow_replays_recordings_and_renders_its_report(
    flow_env: Path, store: StoreProcess, ch_database: str
) -> None:
    from marketintel.flows.params import IngestParams
    from marketintel.flows.pipeline import ingest

    out = ingest(IngestParams())
    html = Path(out["html"])
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert html.parent == flow_env / "ingest" / today and html.exists() and Path(out["notebook"]).exists()
    page = html.read_text()
    assert "offline" in page and "hl-ipython3" not in page  # markdown renders, no code cell does
    client = store.client(database=ch_database)
    assert client.command("SELECT count() FROM prices FINAL WHERE market = 'SPP_REAL_TIME_5MIN'") == 3 * 1234
    assert client.command("SELECT countIf(status = 'quarantined') FROM raw_payloads FINAL") == 1
    runs = _flow_runs("ingest")
    assert runs and runs[0].state.is_completed()


def test_curves_and_backtest_flows(flow_env: Path, store: StoreProcess, ch_database: str) -> None:
    from marketintel.flows.params import BacktestParams, CurvesParams
    from marketintel.flows.pipeline import backtest, build_curves

    case_a = shared_dir() / "curves" / "caseA_daily" / "contracts.csv"
    out = build_curves(CurvesParams(quotes=str(case_a), curve_name="CASE_A"))
    assert Path(out["html"]).exists()
    client = store.client(database=ch_database)
    assert client.command("SELECT count() FROM curves FINAL WHERE curve_name = 'CASE_A'") == 1064
    assert (
        client.command("SELECT argMax(status, published_at_utc) FROM curve_runs WHERE curve_name = 'CASE_A'")
        == "ok"
    )
    out = backtest(BacktestParams(days=7))
    assert "MAE" in Path(out["html"]).read_text()


def test_data_quality_flow_fails_on_the_quarantined_interval_and_alerts(flow_env: Path, store: StoreProcess,
                                                                       ch_database: str) -> None:  # fmt: skip
    from marketintel.flows.params import DataQualityParams, IngestParams
    from marketintel.flows.pipeline import DataQualityError, data_quality, ingest

    ingest(IngestParams())
    with pytest.raises(DataQualityError, match="completeness"):  # the 08:45 interval was served empty
        data_quality(DataQualityParams())
    client = store.client(database=ch_database)
    assert client.command("SELECT count() FROM data_quality") >= 4
    assert client.command("SELECT count() FROM alerts FINAL WHERE category = 'data_quality'") >= 1
    runs = _flow_runs("data_quality")
    assert runs and runs[0].state.is_failed()


def test_only_transient_failures_are_retried() -> None:
    from marketintel.flows.pipeline import is_transient
    from marketintel.notebooks import NotebookError

    assert is_transient(
        NotebookError("the ingest notebook failed in the kernel:\nDeadKernelError: Kernel died")
    )
    assert is_transient(ConnectionRefusedError("[Errno 111] Connection refused"))
    assert not is_transient(
        NotebookError("the ingest notebook failed in cell 3:\nUnknownDatasetError: no such")
    )


def test_a_failing_notebook_fails_the_run_and_writes_an_alert(
    flow_env: Path, store: StoreProcess, ch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marketintel.flows import pipeline
    from marketintel.flows.params import IngestParams

    monkeypatch.setattr(pipeline, "RETRY_DELAYS_S", [0.0, 0.0])
    with pytest.raises(Exception, match="spp has no dataset 'no_such_dataset'"):
        pipeline.ingest(IngestParams(dataset="no_such_dataset"))
    client = store.client(database=ch_database)
    assert client.command("SELECT count() FROM alerts FINAL WHERE category = 'flow'") == 1


def test_deployments_are_registered_with_time_zoned_schedules(prefect_server: Any) -> None:
    from prefect.client.orchestration import get_client

    from marketintel.flows.deployments import SCHEDULES, register

    ids = register()
    assert len(ids) == len(SCHEDULES)

    async def read() -> list[Any]:
        async with get_client() as client:
            found: list[Any] = await client.read_deployments()
            return found

    deployments = {d.name: d for d in asyncio.run(read())}
    for _flow, name, cron, tz, _params in SCHEDULES:
        (schedule,) = deployments[name].schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (cron, tz)
    assert deployments["eex-de-base-after-settlement"].schedules[0].schedule.timezone == "Europe/Berlin"


def test_ingest_flow_follows_a_dataset_interval_by_interval(
    flow_env: Path, store: StoreProcess, ch_database: str
) -> None:
    from marketintel.flows.params import IngestParams
    from marketintel.flows.pipeline import ingest

    out = ingest(IngestParams(follow=True))  # the recorded intervals, replayed at 600x
    page = Path(out["html"]).read_text()
    assert "following lmp_real_time_5min" in page
    client = store.client(database=ch_database)
    assert client.command("SELECT count() FROM prices FINAL WHERE market = 'SPP_REAL_TIME_5MIN'") == 3 * 1234
    assert client.command("SELECT countIf(status = 'quarantined') FROM raw_payloads FINAL") == 1


def test_scenario_flow_reports_the_issue_scenario_against_its_base(
    flow_env: Path, store: StoreProcess, ch_database: str, tmp_path: Path
) -> None:
    import pandas as pd

    from marketintel.flows.demo import SCENARIO_EXAMPLE
    from marketintel.flows.params import ScenarioParams
    from marketintel.flows.pipeline import scenario
    from marketintel.flows.recordings import replay_folder
    from marketintel.services import scenarios as S
    from marketintel.services.curves import build_and_store_curve
    from marketintel.services.ingest import ingest_window

    client = store.client(database=ch_database)
    replay_folder("cme", "futures_settlements", tmp_path / "replay")
    ingest_window(
        "cme", "futures_settlements", "2014-12-29 05:00", "2014-12-30 05:00", replay=tmp_path / "replay"
    )
    build_and_store_curve(product="NG", as_of="2014-12-29", calendar="HENRY_HUB", weights="days",
                          curve_name="HENRY_HUB_DAILY", client=client)  # fmt: skip
    out = scenario(ScenarioParams(file=str(SCENARIO_EXAMPLE)))
    page = Path(out["html"]).read_text()
    assert Path(out["html"]).parent.parent.name == "scenario" and "hl-ipython3" not in page
    runs = S.runs(client, "gas-cold-winter")
    assert runs["status"].tolist() == ["ok"]
    compared = S.compare(client, str(runs["run_id"].iloc[0])).set_index("contract")
    assert compared.loc["M-2015-06", "scenario_price"] == pytest.approx(3.10, abs=1e-9)
    feb = compared.loc["M-2015-02"]  # requoted June moves February's curve, then +15 %
    row = "<td>M-2015-02</td>"
    assert row in page and f"{feb['scenario_price']:.4f}" in page and f"{feb['difference']:+.4f}" in page
    assert "3.1000" in page and "scenario against its base" in page and 'name="difference"' not in page
    # the same text again: recognised as a rerun, nothing new stored
    scenario(ScenarioParams(scenario=SCENARIO_EXAMPLE.read_text()))
    assert S.runs(client, "gas-cold-winter")["status"].tolist() == ["reused", "ok"]
    # a scenario that does not check fails the run, naming the line and column
    with pytest.raises(Exception, match=r"line 2, column 1: unknown statement 'shfit'"):
        scenario(ScenarioParams(scenario='scenario "x"\nshfit 2015-01-01..2015-02-01 by +1\n'))
    assert client.command("SELECT count() FROM alerts FINAL WHERE category = 'flow'") == 1
    assert pd.notna(runs["duration_s"].iloc[0])
