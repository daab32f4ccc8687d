"""The backtests page lists the stored runs and shows the selected run's metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

from marketintel.dashboards.backtests import Backtests
from marketintel.services import queries
from marketintel.store import insert_df

UTC = "UTC"


def _store_runs(client: Any) -> None:
    def run(run_id: str, started: str) -> dict[str, Any]:
        return {
            "run_id": run_id, "model": "lear_728", "market": "NORDPOOL_DA", "location": "SYS",
            "variable": "price", "benchmark": "seasonal_naive_7d",
            "issue_start_utc": pd.Timestamp("2024-01-01", tz=UTC),
            "issue_end_utc": pd.Timestamp("2024-01-31", tz=UTC), "recalibration": "daily", "status": "ok",
            "started_at_utc": pd.Timestamp(started, tz=UTC), "finished_at_utc": pd.Timestamp(started, tz=UTC),
            "published_at_utc": pd.Timestamp(started, tz=UTC),
        }  # fmt: skip

    def metric(run_id: str, name: str, value: float, group_by: str = "all", group_value: str = "all") -> Any:
        return {
            "run_id": run_id, "model": "lear_728", "market": "NORDPOOL_DA", "location": "SYS",
            "variable": "price", "metric": name, "group_by": group_by, "group_value": group_value,
            "benchmark": "", "value": value, "unit": "EUR/MWh" if name != "rMAE" else "",
            "n_obs": np.uint64(720), "published_at_utc": pd.Timestamp("2024-02-02", tz=UTC),
        }  # fmt: skip

    insert_df(
        client, "backtest_runs", pd.DataFrame([run("bt_old", "2024-02-01"), run("bt_new", "2024-02-02")])
    )
    insert_df(client, "backtest_metrics", pd.DataFrame([
        metric("bt_new", "MAE", 4.5), metric("bt_new", "rMAE", 0.8),
        metric("bt_new", "MAE", 6.0, "hour", "13"),
        metric("bt_old", "MAE", 5.5),
    ]))  # fmt: skip


def test_runs_newest_first_and_metrics_of_the_selected_run(db_client: Any) -> None:
    _store_runs(db_client)
    page = Backtests(client=db_client)
    assert page.runs["run_id"].tolist()[:2] == ["bt_new", "bt_old"]
    assert page.run_id == "bt_new"
    every = queries.backtest_metrics(db_client, "bt_new")
    assert_frame_equal(page.metrics, every[every["group_by"] == "all"].reset_index(drop=True))
    assert page.param.group_by.objects == ["all", "hour"]
    page.group_by = "hour"
    assert page.metrics[["metric", "group_value", "value"]].values.tolist() == [["MAE", "13", 6.0]]
    page.run_id = "bt_old"
    assert page.group_by == "all"
    assert page.metrics["value"].tolist() == [5.5]
    assert page._plot.object is not None
    assert page.message == ""


def test_a_run_without_metrics_says_so(db_client: Any) -> None:
    _store_runs(db_client)
    page = Backtests(client=db_client)
    page.param.run_id.objects = [*page.param.run_id.objects, "bt_none"]
    page.run_id = "bt_none"
    assert page.metrics.empty
    assert "has no stored metrics" in page.message
