"""The accuracy page: stored backtest runs, one run's accuracy drawn from the store; the reports it links."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from marketintel.dashboards.accuracy import FILL, Accuracy, report_href
from marketintel.services import backtest as service
from marketintel.services import queries
from marketintel.store import migrate
from tests.storeproc import StoreProcess, free_port

DAYS = 14
#: the page base's download buttons pass Panel's deprecated ``button_type`` (the lead's page.py; reported)


@pytest.fixture(scope="module")
def stored(db_client: Any, shared_dir: Path) -> service.BacktestOutcome:
    """A 14-day backtest of the naive model on the Nord Pool benchmark data, stored in the test database."""
    return service.run_and_store_backtest(
        "NP", "naive", "2016-12-27", DAYS, data=shared_dir / "datasets/epftoolbox/NP.csv", client=db_client
    )


def test_an_empty_store_says_what_to_run(store: StoreProcess, ch_client: Any) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(ch_client, database=name)
    try:
        page = Accuracy(client=store.client(database=name, autogenerate_session_id=False))
        assert page.runs.empty and page.shown is None
        assert "No backtest run is stored yet" in page.message and FILL in page.message
        assert page.kind == "info"
    finally:
        ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def test_the_runs_table_holds_the_stored_metrics(db_client: Any, stored: service.BacktestOutcome) -> None:
    page = Accuracy(client=db_client)
    assert page.message == ""
    row = page.runs[page.runs["run_id"] == stored.run_id].iloc[0]
    overall = queries.backtest_metrics(db_client, stored.run_id, group_by="all")
    mae = overall[overall["metric"] == "MAE"]["value"].iloc[0]
    assert row["MAE"] == pytest.approx(mae, abs=1e-12) and row["unit"] == "EUR/MWh"
    assert (row["first_day"], row["last_day"], row["tz"]) == ("2016-12-27", "2017-01-09", "Etc/GMT-1")
    assert page.run == stored.run_id
    assert page._table.value["run_id"].tolist() == page.listed()["run_id"].tolist()
    page.market = "NP"
    assert stored.run_id in page.param.run.objects.values()


def test_the_run_is_drawn_from_its_stored_forecasts_and_actuals(
    db_client: Any, stored: service.BacktestOutcome
) -> None:
    page = Accuracy(client=db_client, run=stored.run_id, tz="market local")
    shown = page.shown
    assert shown is not None and shown.models == ["Naive"]
    # the hours and the actual are the backtest's own (its frame is in the market clock, UTC+1)
    forecasts = shown.forecasts()
    assert len(forecasts) == DAYS * 24
    np.testing.assert_allclose(forecasts[service.ACTUAL].to_numpy(), stored.frame[service.ACTUAL].to_numpy())
    np.testing.assert_allclose(forecasts["Naive"].to_numpy(), stored.frame["Naive"].to_numpy())
    # MAE by hour of day in the market's zone is the stored MAE by hour
    by_hour = queries.backtest_metrics(db_client, stored.run_id, metrics="MAE", group_by="hour")
    expected = by_hour.set_index("group_value")["value"]
    assert page.groups.index.tolist() == [str(h) for h in range(24)]
    np.testing.assert_allclose(page.groups["Naive"].to_numpy(), expected.loc[page.groups.index].to_numpy())
    # the weekly naive is scored too (the actuals of the week before the run are stored with it)
    assert np.isfinite(page.groups[service.NAIVE]).all()
    assert set(page.pvalues) == {"DM", "GW"} and page.pvalues["DM"].shape == (2, 2)
    assert not page.rolling.empty and set(page.rolling["model"]) == {"Naive"}
    assert page.param.week.objects == ["2016-12-27", "2017-01-03"] and page.week == "2017-01-03"
    assert page._week_pane.object.xaxis[0].axis_label == "delivery start [Etc/GMT-1]"


def test_choices_change_what_is_drawn(db_client: Any, stored: service.BacktestOutcome) -> None:
    page = Accuracy(client=db_client, run=stored.run_id)
    source = page._week_source
    assert source is not None
    first = pd.Timestamp(source.data["time"][0])
    assert first == pd.Timestamp("2017-01-02 23:00")  # 2017-01-03 00:00 at UTC+1, drawn in UTC
    page.week = "2016-12-27"
    assert page._week_source is source, "the same figure, new data"
    assert pd.Timestamp(source.data["time"][0]) == pd.Timestamp("2016-12-26 23:00")
    page.tz = "market local"
    assert pd.Timestamp(source.data["time"][0]) == pd.Timestamp("2016-12-27 00:00")
    page.grouping = "month"
    assert page.groups.index.tolist() == ["2016-12", "2017-01"]
    page.grouping = "horizon"
    assert page.groups.index.tolist() == ["1"]  # day-ahead: the first target day of each issue
    page.metric = "rMAE"
    assert page.groups.loc["1", service.NAIVE] == pytest.approx(1.0)
    windows = len(page.rolling)
    page.window_days = 1
    assert len(page.rolling) == DAYS and len(page.rolling) > windows
    frame = page.view_frame()
    assert len(frame) == DAYS * 24 and {"interval_start_utc", service.ACTUAL, "Naive"} <= set(frame.columns)


def test_a_recorded_report_is_linked(db_client: Any, stored: service.BacktestOutcome, tmp_path: Path) -> None:
    report = tmp_path / "backtest-report.html"
    report.write_text("<html><body>the report</body></html>")
    assert service.record_report(db_client, stored.run_id, report)
    assert service.report_path(db_client, stored.run_id) == report.resolve()
    page = Accuracy(client=db_client, run=stored.run_id)
    assert f'href="{report_href(stored.run_id)}"' in page._header.object
    row = page._table.value[page._table.value["run_id"] == stored.run_id].iloc[0]
    assert report_href(stored.run_id) in row["report"]
    # the run is otherwise unchanged: recording the report is a newer version of the same run row
    run = queries.backtest_runs(db_client, run_ids=stored.run_id).iloc[0]
    assert run["status"] == "ok"


@pytest.fixture
def reports_server(db_client: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """The dashboards' report route alone, in developer mode for the groups of the test's parameter."""
    import panel as pn

    from marketintel.dashboards import reports
    from marketintel.dashboards.serve import dev_settings

    port = free_port()
    settings = dev_settings(request.param, port)
    server = pn.serve(
        {"index": lambda: pn.pane.Markdown("index")}, port=port, address="127.0.0.1", prefix=settings.prefix,
        extra_patterns=reports.patterns(settings, client=lambda: db_client), show=False, threaded=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{settings.prefix}/reports/none", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}{settings.prefix}"
    server.stop()


@pytest.mark.parametrize("reports_server", [["traders"]], indirect=True)
def test_the_report_route_serves_recorded_reports_only(
    reports_server: str, db_client: Any, stored: service.BacktestOutcome, tmp_path: Path
) -> None:
    report = tmp_path / "r.html"
    report.write_text("<html><body>recorded report</body></html>")
    service.record_report(db_client, stored.run_id, report)
    answer = httpx.get(f"{reports_server}/reports/{stored.run_id}", timeout=10)
    assert answer.status_code == 200 and "recorded report" in answer.text
    assert answer.headers["content-type"].startswith("text/html")
    missing = httpx.get(f"{reports_server}/reports/{uuid.uuid4()}", timeout=10)
    assert missing.status_code == 404 and "No HTML report is recorded" in missing.text
    # a path is not a run id: the route does not match it
    assert httpx.get(f"{reports_server}/reports/..%2F..%2Fetc%2Fpasswd", timeout=10).status_code == 404
    report.unlink()
    gone = httpx.get(f"{reports_server}/reports/{stored.run_id}", timeout=10)
    assert gone.status_code == 404 and "its file is gone" in gone.text


@pytest.mark.parametrize("reports_server", [["ops"]], indirect=True)
def test_the_report_route_refuses_users_without_the_page(
    reports_server: str, db_client: Any, stored: service.BacktestOutcome, tmp_path: Path
) -> None:
    report = tmp_path / "r.html"
    report.write_text("<html><body>recorded report</body></html>")
    service.record_report(db_client, stored.run_id, report)
    answer = httpx.get(f"{reports_server}/reports/{stored.run_id}", timeout=10)
    assert answer.status_code == 403 and "recorded report" not in answer.text


def test_a_run_without_stored_actuals_shows_its_stored_metrics(
    db_client: Any, stored: service.BacktestOutcome
) -> None:
    """A run from before backtests stored their actuals: its stored MAE by hour, and what to run."""
    from marketintel.store import insert_df

    run_id = f"old-{uuid.uuid4()}"
    utc = pd.Timestamp("2024-01-02", tz="UTC")
    insert_df(db_client, "backtest_runs", pd.DataFrame([{
        "run_id": run_id, "model": "lear_old", "market": "OLD", "location": "X", "variable": "price",
        "issue_start_utc": utc - pd.Timedelta(days=1), "issue_end_utc": utc, "recalibration": "daily",
        "status": "ok", "started_at_utc": utc, "finished_at_utc": utc,
        "published_at_utc": pd.Timestamp.now(tz="UTC"),
    }]))  # fmt: skip
    hours = pd.date_range(utc, periods=24, freq="h")
    insert_df(db_client, "forecasts", pd.DataFrame({
        "model": "lear_old", "market": "OLD", "location": "X", "variable": "price", "statistic": "mean",
        "issue_time_utc": utc - pd.Timedelta(hours=14), "interval_start_utc": hours,
        "interval_end_utc": hours + pd.Timedelta(hours=1), "value": 1.0, "unit": "EUR/MWh", "run_id": run_id,
        "published_at_utc": utc,
    }))  # fmt: skip
    insert_df(db_client, "backtest_metrics", service.metrics_rows(
        pd.DataFrame({"model": "lear_old", "metric": "MAE", "group_by": ["none", "hour", "hour"],
                      "group_value": ["all", "0", "1"], "value": [2.0, 1.5, 2.5], "n_obs": 1}),
        run_id=run_id, market="OLD", location="X", unit="EUR/MWh",
    ))  # fmt: skip
    page = Accuracy(client=db_client, run=run_id)
    assert page.shown is None and page.kind == "info"
    assert "no stored actual prices" in page.message and "mi flows run backtest" in page.message
    assert page.groups.to_dict() == {"lear_old": {"0": 1.5, "1": 2.5}}
    assert page._groups_pane.object is not None and page._run_box.visible
    page.run = stored.run_id  # a run with actuals: drawn in full, the message gone
    assert page.shown is not None and page.message == ""
