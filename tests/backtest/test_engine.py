"""The backtest engine: CSV and store sinks, resuming after an interruption, store series, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.backtest.engine import BacktestSpec, CsvSink, StoreSink, run_backtest
from marketintel.cli import main
from marketintel.config import shared_dir
from marketintel.exceptions import MarketIntelError
from marketintel.forecast.data import panel_from_epftoolbox
from marketintel.forecast.models import LEAR, make_model
from marketintel.forecast.store import panel_from_store, write_panel
from marketintel.store import migrate
from tests.storeproc import StoreProcess

EPF = shared_dir() / "datasets" / "epftoolbox"
pytestmark = pytest.mark.skipif(not EPF.is_dir(), reason=f"epftoolbox datasets not found at {EPF}")


class Interrupt(Exception):
    pass


def _stop_after(n: int) -> Any:
    seen = {"days": 0}

    def progress(line: str) -> None:
        seen["days"] += 1
        if seen["days"] >= n:
            raise Interrupt(line)

    return progress


def test_csv_run_resumes_after_an_interruption_with_identical_numbers(tmp_path: Path) -> None:
    panel = panel_from_epftoolbox(EPF / "NP.csv")
    spec = BacktestSpec("NP", "NP", "lear", 56, "2016-12-27", 30, recalibrate_every=7, data="NP.csv")
    out = tmp_path / "f.csv"
    with pytest.raises(Interrupt):  # stopped after the 2nd progress line = 20 days, mid-cadence
        run_backtest(panel, LEAR(56), spec, [CsvSink(out, ["LEAR 56"])], progress=_stop_after(2))
    written = pd.read_csv(out, index_col=0)
    assert len(written) == 20 * 24
    resumed = run_backtest(panel, LEAR(56), spec, [CsvSink(out, ["LEAR 56"])])
    assert (resumed.days_forecast, resumed.days_skipped) == (10, 20)
    # the first resumed day (offset 20) is recalibrated as of its cadence day (offset 14), then 21 and 28
    assert resumed.recalibrations == 3
    whole = tmp_path / "whole.csv"
    run_backtest(panel, LEAR(56), spec, [CsvSink(whole, ["LEAR 56"])])
    pd.testing.assert_frame_equal(pd.read_csv(out, index_col=0), pd.read_csv(whole, index_col=0))


def test_a_half_written_day_is_dropped_and_written_again(tmp_path: Path) -> None:
    panel = panel_from_epftoolbox(EPF / "NP.csv")
    spec = BacktestSpec("NP", "NP", "naive", None, "2016-12-27", 3)
    out = tmp_path / "f.csv"
    run_backtest(panel, make_model("naive"), spec, [CsvSink(out, ["Naive"])])
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[: 1 + 24 + 10]) + "\n")  # day 2 cut off after 10 hours
    again = run_backtest(panel, make_model("naive"), spec, [CsvSink(out, ["Naive"])])
    assert (again.days_forecast, again.days_skipped) == (2, 1)
    assert len(pd.read_csv(out, index_col=0)) == 72
    with pytest.raises(MarketIntelError, match="another run's output"):
        CsvSink(out, ["LEAR 56"])


def test_store_run_records_forecasts_and_the_run_and_resumes(store: StoreProcess, ch_database: str) -> None:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    panel = panel_from_epftoolbox(EPF / "NP.csv")
    spec = BacktestSpec("NP", "SYSTEM", "naive", None, "2016-12-27", 10)
    run_id = spec.run_id()
    sink = StoreSink(client, spec, run_id, {"model_name": "Naive"}, "EUR/MWh")
    result = run_backtest(panel, make_model("naive"), spec, [sink])
    assert result.days_forecast == 10
    stored = client.query_df(
        f"SELECT * FROM forecasts FINAL WHERE run_id = '{run_id}' ORDER BY interval_start_utc"
    )
    assert len(stored) == 240 and set(stored["model"]) == {"Naive"}
    first = stored.iloc[0]
    assert first["interval_start_utc"] == pd.Timestamp("2016-12-26 23:00", tz="UTC")  # 00:00 CET
    assert first["issue_time_utc"] == pd.Timestamp("2016-12-26 09:00", tz="UTC")  # 10:00 CET the day before
    assert first["value"] == pytest.approx(panel.series["price"][panel.day("2016-12-26"), 0])
    runs = client.query_df(  # each status change is a revision: the latest one counts
        "SELECT argMax(status, published_at_utc) AS status, argMax(message, published_at_utc) AS message "
        "FROM backtest_runs GROUP BY run_id"
    )
    assert runs["status"].tolist() == ["ok"] and "10 day(s)" in runs["message"].iloc[0]
    again = run_backtest(
        panel, make_model("naive"), spec, [StoreSink(client, spec, run_id, {"model_name": "Naive"}, "")]
    )
    assert (again.days_forecast, again.days_skipped) == (0, 10)


def test_store_series_give_the_same_forecasts_as_the_file(store: StoreProcess, ch_database: str) -> None:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    panel = panel_from_epftoolbox(EPF / "NP.csv")
    write_panel(client, panel, "NP", "SYSTEM")
    from_store = panel_from_store(
        client, "NP", "SYSTEM", ["grid_load_forecast", "wind_power_forecast"], panel.tz
    )
    assert len(from_store.days) == len(panel.days)
    assert np.array_equal(from_store.series["price"], panel.series["price"])
    assert np.array_equal(from_store.published["price"], panel.published["price"])
    target = panel.day("2017-03-01")
    a = LEAR(84).forecast(panel.view(panel.issue_time(target)), target)
    b = LEAR(84).forecast(from_store.view(from_store.issue_time(target)), target)
    assert np.abs(a - b).max() < 1e-9


def test_cli_run_score_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "naive.csv"
    args = ["backtest", "run", "--data", str(EPF / "NP.csv"), "--model", "naive", "--start", "2016-12-27",
            "--days", "35", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "35 day(s) forecast" in printed and "Naive" in printed
    assert list(pd.read_csv(out, index_col=0).columns) == ["Real price", "Naive"]
    assert main(["backtest", "score", str(out), "--actual", "Real price"]) == 0
    assert "MAE" in capsys.readouterr().out
    assert main([*args[:-2]]) == 2  # no destination
    assert "--out FORECASTS.csv and/or --store" in capsys.readouterr().err
    late = ["backtest", "run", "--data", str(EPF / "NP.csv"), "--model", "naive", "--start", "2018-12-20"]
    assert main([*late, "--days", "30", "--out", str(tmp_path / "x.csv")]) == 2
    assert "runs past the data's last day 2018-12-24" in capsys.readouterr().err


def test_cli_load_monitor_and_report(
    store: StoreProcess, ch_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    assert main(["backtest", "load", str(EPF / "PJM.csv"), "--location", "COMED"]) == 0
    assert "157,248 rows of PJM.csv stored as PJM/COMED" in capsys.readouterr().out  # price + 2 forecasts
    assert client.command("SELECT count() FROM prices WHERE market = 'PJM' AND location = 'COMED'") == 52416
    out = tmp_path / "store_naive.csv"
    # the exogenous names are the file's column names as slugs (the file spells "foecast")
    args = ["backtest", "run", "--from-store", "PJM/COMED", "--exog", "system_load_forecast", "--exog",
            "zonal_comed_load_foecast", "--tz", "Etc/GMT+5", "--model", "naive", "--start", "2016-12-27",
            "--days", "7", "--out", str(out), "--store"]  # fmt: skip
    assert main(args) == 0
    # the forecasts, and the actuals they were scored against (the week before too: the weekly naive's)
    assert client.command("SELECT count() FROM forecasts WHERE statistic = 'mean'") == 7 * 24
    assert client.command("SELECT count() FROM forecasts WHERE model = 'actual'") == (7 + 7) * 24
    published = EPF / "forecasts" / "Forecasts_NP_DNN_LEAR_ensembles.csv"
    assert main(["backtest", "monitor", str(published), "--market", "NP", "--history", "--store",
                 "--models", "LEAR 1092"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "ALERT LEAR 1092 NP: rMAE" in printed and "alert(s) written to the store" in printed
    assert client.command("SELECT count() FROM alerts FINAL WHERE category = 'forecast_accuracy'") > 0
    report = tmp_path / "naive.html"
    assert main(["backtest", "report", str(out), "--out", str(report), "--market", "PJM"]) == 0
    assert report.stat().st_size > 100_000 and "Naive" in report.read_text()
