"""Rolling accuracy checks and the alerts they raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from marketintel.backtest.metrics import overall_metrics, seasonal_naive
from marketintel.backtest.monitor import (
    CHECK_COLUMNS,
    MonitorError,
    alert_id,
    alerts_from_checks,
    rolling_checks,
    rolling_metrics,
    write_alerts,
)
from marketintel.backtest.scoring import read_forecast_file
from marketintel.store import migrate, validate_frame
from marketintel.store.tables import TABLES

START = pd.Timestamp("2024-01-01", tz="UTC")
N_DAYS = 200
DEGRADE_DAY = 150  # 0-based day from which the "bad" model errs by 3.0 instead of 0.25


def _synthetic(market: str = "SYN") -> pd.DataFrame:
    """Hourly prices whose weekly naive errs by exactly 1.0 at every hour, and two models.

    The price climbs by 1/168 per hour on top of a daily shape, so ``|y(t) - y(t - 168 h)| = 1``. Model
    ``good`` errs by 0.25 throughout; ``bad`` by 0.25 until ``DEGRADE_DAY`` and by 3.0 from then on. In a
    28-day window holding ``k`` bad days, bad's rMAE is ``(3k + 0.25 (28 - k)) / 28``: above 1 from
    ``k = 8`` (k = 7 gives 0.9375), above 1.5 (critical) from ``k = 13``; its MAE ratio to the 0.25
    baseline is above 1.3 from ``k = 1`` (1.393) and above 2 from ``k = 3``.
    """
    stamps = pd.date_range(START, periods=N_DAYS * 24, freq="h")
    hours = np.arange(stamps.size, dtype=np.float64)
    y = 40.0 + hours / 168.0 + 10.0 * np.sin(2 * np.pi * (hours % 24) / 24)
    sign = np.where(hours % 2 == 0, 1.0, -1.0)
    bad_err = np.where(hours >= DEGRADE_DAY * 24, 3.0, 0.25)
    return pd.DataFrame(
        {"price": y, "good": y + 0.25 * sign, "bad": y + bad_err * sign, "market": market}, index=stamps
    )


def _day_end(day: int) -> pd.Timestamp:
    return START + pd.Timedelta(days=day + 1)


def test_breach_appears_on_the_right_day_and_not_before() -> None:
    checks = rolling_checks(_synthetic(), "price", ["good", "bad"], market="market")
    assert list(checks.columns) == list(CHECK_COLUMNS)
    assert set(checks["status"]) == {"ok", "breach"}
    assert (checks.loc[checks["model"] == "good", "status"] == "ok").all()

    bad = checks[checks["model"] == "bad"]
    rmae = bad[bad["check"] == "rmae"].set_index("window_end_utc")
    ratio = bad[bad["check"] == "mae_ratio"].set_index("window_end_utc")
    # rMAE: first full window ends on day 27; the 8th bad day is DEGRADE_DAY + 7.
    assert rmae.index[0] == _day_end(27)
    first_rmae = rmae.index[rmae["status"] == "breach"][0]
    assert first_rmae == _day_end(DEGRADE_DAY + 7)
    assert_allclose(rmae.loc[_day_end(DEGRADE_DAY + 6), "observed"], (21 + 0.25 * 21) / 28, rtol=1e-12)
    assert_allclose(rmae.loc[first_rmae, "observed"], (24 + 0.25 * 20) / 28, rtol=1e-12)
    assert_allclose(rmae["reference_mae"], 1.0, rtol=1e-12)
    # MAE ratio: the baseline needs 90 previous window MAEs (first on day 27 + 90); breach on day one.
    assert ratio.index[0] == _day_end(27 + 90)
    first_ratio = ratio.index[ratio["status"] == "breach"][0]
    assert first_ratio == _day_end(DEGRADE_DAY)
    assert_allclose(ratio.loc[first_ratio, "observed"], (3 + 0.25 * 27) / 28 / 0.25, rtol=1e-12)
    assert_allclose(ratio.loc[first_ratio, "reference_mae"], 0.25, rtol=1e-12)
    assert (ratio.loc[: _day_end(DEGRADE_DAY - 1), "status"] == "ok").all()
    # Once degraded, the rMAE stays breached to the end of the data.
    assert (rmae.loc[first_rmae:, "status"] == "breach").all()
    assert (rmae.loc[: _day_end(DEGRADE_DAY + 6), "status"] == "ok").all()


def test_latest_only_and_markets_kept_apart() -> None:
    two = pd.concat([_synthetic("A"), _synthetic("B").assign(bad=lambda d: d["good"])])
    two = two.reset_index(names="delivery_utc")
    latest = rolling_checks(
        two, "price", ["good", "bad"], time_col="delivery_utc", market="market", latest_only=True
    )
    assert set(latest["window_end_utc"]) == {_day_end(N_DAYS - 1)}
    assert len(latest) == 2 * 2 * 2  # markets x models x checks
    breached = latest[latest["status"] == "breach"]
    assert set(zip(breached["market"], breached["model"], strict=True)) == {("A", "bad")}


def test_rolling_metrics_match_error_sums_on_one_window() -> None:
    frame = _synthetic()
    rng = np.random.default_rng(7)
    frame["noisy"] = frame["price"] + rng.normal(0.0, 2.0, len(frame))
    roll = rolling_metrics(frame, "price", ["noisy"], market="market", window_days=28).set_index(
        "window_end_utc"
    )
    end = _day_end(60)
    window = frame[(frame.index >= end - pd.Timedelta(days=28)) & (frame.index < end)]
    naive = seasonal_naive(frame["price"]).loc[window.index]
    expected = overall_metrics(window["price"], window["noisy"], naive)
    assert_allclose(roll.loc[end, "mae"], expected["MAE"], rtol=1e-12)
    assert_allclose(roll.loc[end, "rmae"], expected["rMAE"], rtol=1e-12)
    assert roll.loc[end, "n_obs"] == 28 * 24


def test_alerts_are_deterministic_and_fit_the_table() -> None:
    checks = rolling_checks(_synthetic(), "price", ["good", "bad"], market="market")
    first = alerts_from_checks(checks, run_id="run-1", now=pd.Timestamp("2024-08-01", tz="UTC"))
    again = alerts_from_checks(checks, run_id="run-2", now=pd.Timestamp("2024-08-02", tz="UTC"))
    validate_frame(TABLES["alerts"], first)
    n_breaches = int((checks["status"] == "breach").sum())
    assert len(first) == n_breaches and first["alert_id"].is_unique
    assert first["alert_id"].tolist() == again["alert_id"].tolist()
    assert (first["raised_at_utc"] == again["raised_at_utc"]).all()
    assert set(first["category"]) == {"forecast_accuracy"} and set(first["status"]) == {"open"}
    assert set(first["table_name"]) == {"forecasts"} and set(first["market"]) == {"SYN"}

    rmae = first[first["title"].str.contains("rMAE")].sort_values("raised_at_utc")
    top = rmae.iloc[0]
    assert top["title"] == "bad SYN: rMAE 1.04 over the last 28 days (threshold 1.00)"
    assert top["alert_id"] == alert_id("bad", "SYN", "rmae", _day_end(DEGRADE_DAY + 7))
    assert top["severity"] == "warning"
    assert "MAE of bad is 1.036" in top["message"] and "naive's 1.000" in top["message"]
    # k = 13 bad days: rMAE (39 + 3.75) / 28 = 1.527 > 1.5.
    critical = rmae[rmae["raised_at_utc"] == _day_end(DEGRADE_DAY + 12)].iloc[0]
    assert critical["severity"] == "critical"
    ok_only = checks[checks["model"] == "good"]
    assert alerts_from_checks(ok_only).empty


def test_errors_name_what_is_missing() -> None:
    frame = _synthetic()
    with pytest.raises(MonitorError, match=r"no model column\(s\) \['nope'\]; columns found: \['price'"):
        rolling_checks(frame, "price", ["nope"], market="market")
    with pytest.raises(MonitorError, match="shorter than one window of 28 days"):
        rolling_checks(frame.iloc[: 20 * 24], "price", ["good"], market="market")
    with pytest.raises(MonitorError, match="DatetimeIndex or give time_col"):
        rolling_checks(frame.reset_index(drop=True), "price", ["good"], market="market")


@pytest.mark.shared
def test_np_published_forecasts_breaches(shared_dir: Path) -> None:
    frame = read_forecast_file(
        shared_dir / "datasets/epftoolbox/forecasts/Forecasts_NP_DNN_LEAR_ensembles.csv"
    )
    models = [c for c in frame.columns if c != "Real price"]
    checks = rolling_checks(frame, "Real price", models, market="NP")
    rmae = checks[checks["check"] == "rmae"]
    assert len(rmae) == len(models) * (728 - 27)  # every 28-day window of the 728-day test period
    breaches = rmae[rmae["status"] == "breach"].groupby("model").size().to_dict()
    # Observed, not assumed: the DNNs and the short-window LEARs (56, 84 days) and the LEAR ensemble never
    # do worse than the weekly naive over 28 days, but the long-window LEARs (1092, 1456 days) do, in the
    # summer 2018 price rise: windows ending 2018-07-31 .. 2018-08-31 (rMAE up to 1.48).
    assert breaches == {"LEAR 1092": 31, "LEAR 1456": 32}
    worst = rmae.loc[rmae["observed"].idxmax()]
    assert worst["model"] == "LEAR 1092" and worst["window_end_utc"] == pd.Timestamp("2018-08-23", tz="UTC")
    assert_allclose(worst["observed"], 1.4811, atol=1e-4)
    last = rmae[rmae["status"] == "breach"]["window_end_utc"]
    assert last.min() == pd.Timestamp("2018-08-01", tz="UTC") and last.max() == pd.Timestamp(
        "2018-09-01", tz="UTC"
    )


def test_store_round_trip(store: Any, ch_database: str) -> None:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    checks = rolling_checks(_synthetic(), "price", ["good", "bad"], market="market")
    alerts = alerts_from_checks(checks, run_id="run-1", now=pd.Timestamp("2024-08-01", tz="UTC"))
    assert write_alerts(client, alerts) == len(alerts) > 0
    # Written again by a later run: replaced, not duplicated (ReplacingMergeTree on alert_id).
    later = alerts_from_checks(checks, run_id="run-2", now=pd.Timestamp("2024-08-02", tz="UTC"))
    assert write_alerts(client, later) == len(later)
    assert write_alerts(client, later.iloc[:0]) == 0
    back = client.query_df(
        "SELECT alert_id, severity, title, run_id, raised_at_utc FROM alerts FINAL ORDER BY alert_id"
    )
    assert len(back) == len(alerts)
    assert set(back["run_id"]) == {"run-2"}
    expected = later.sort_values("alert_id").reset_index(drop=True)
    assert back["alert_id"].tolist() == expected["alert_id"].tolist()
    assert back["title"].tolist() == expected["title"].tolist()
    assert back["severity"].tolist() == expected["severity"].tolist()
    assert (
        pd.DatetimeIndex(back["raised_at_utc"]).tz_convert("UTC")
        == pd.DatetimeIndex(expected["raised_at_utc"])
    ).all()
