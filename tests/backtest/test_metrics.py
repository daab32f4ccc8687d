"""Accuracy metrics: hand-computed values, exact pooling across folds and groups, edge cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from marketintel.backtest.metrics import (
    METRICS,
    ErrorSums,
    MetricsError,
    default_mape_threshold,
    insample_naive_mae,
    metrics_table,
    overall_metrics,
    pool,
    seasonal_naive,
)


def _hourly_frame(n_days: int = 21, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-04", periods=24 * n_days, freq="h")
    hours = idx.hour.to_numpy()
    y = 40 + 10 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 5, idx.size)
    return pd.DataFrame(
        {
            "actual": y,
            "good": y + rng.normal(0, 1, idx.size),
            "bad": y + rng.normal(2, 4, idx.size),
        },
        index=idx,
    )


def test_hand_computed_example() -> None:
    # e = y - f = [1, -1, -1, 0, 0]; the 5th point has y = f = 0 (sMAPE term 0, MAPE left out)
    y = np.array([2.0, 4.0, 0.0, -5.0, 0.0])
    f = np.array([1.0, 5.0, 1.0, -5.0, 0.0])
    acc = ErrorSums.from_arrays(y, f, mape_threshold=0.0)
    assert acc.n == 5
    assert acc.mae == pytest.approx(3 / 5)
    assert acc.rmse == pytest.approx(math.sqrt(3 / 5))
    # MAPE over |y| > 0: 1/2, 1/4, 0/5 -> mean 0.25; two points (the exact zeros) left out
    assert acc.mape == pytest.approx(25.0)
    assert acc.n_mape == 3
    assert acc.n_mape_left_out == 2
    assert acc.wape == pytest.approx(100 * 3 / 11)
    # sMAPE terms: 1/1.5, 1/4.5, 1/0.5, 0/5, 0 (0/0 counts as 0) -> (2/3 + 2/9 + 2) / 5
    assert acc.smape == pytest.approx(100 * (2 / 3 + 2 / 9 + 2) / 5)
    assert math.isnan(acc.rmae)  # no naive given


def test_rmae_and_mase_hand_computed() -> None:
    y = np.array([10.0, 12.0, 14.0, 10.0])
    f = np.array([11.0, 12.0, 13.0, 12.0])  # |e| = 1, 0, 1, 2 -> MAE 1
    naive = np.array([np.nan, 10.0, 10.0, 14.0])  # |y - naive| = 2, 4, 4 -> naive MAE 10/3
    acc = ErrorSums.from_arrays(y, f, naive)
    assert acc.naive_mae == pytest.approx(10 / 3)
    assert acc.rmae == pytest.approx(1 / (10 / 3))
    assert acc.mase() == pytest.approx(acc.rmae)
    assert acc.mase(scale=4.0) == pytest.approx(0.25)


def test_union_of_folds_equals_concatenated_data() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    y = rng.gamma(2.0, 20.0, n) - 5.0  # a few negative and near-zero prices
    y[[10, 500]] = 0.0
    f = y + rng.standard_t(3, n) * 3
    naive = np.concatenate([np.full(168, np.nan), y[:-168]])
    cuts = [0, 100, 333, 334, 700, n]  # uneven folds, one of a single point
    threshold = 0.5
    folds = [
        ErrorSums.from_arrays(y[a:b], f[a:b], naive[a:b], mape_threshold=threshold)
        for a, b in itertools.pairwise(cuts)
    ]
    whole = ErrorSums.from_arrays(y, f, naive, mape_threshold=threshold)
    pooled = pool(folds)
    assert pooled.n == whole.n == n
    assert pooled.n_mape_left_out == whole.n_mape_left_out >= 2
    assert_allclose(list(pooled.metrics().values()), list(whole.metrics().values()), rtol=1e-12)
    # the pooled RMSE is the root of the pooled MSE, computed here independently
    assert pooled.rmse == pytest.approx(np.sqrt(np.mean((y - f) ** 2)), rel=1e-12)
    # ... and is not the mean of the fold RMSEs
    assert abs(np.mean([p.rmse for p in folds]) - pooled.rmse) > 1e-3


def test_metrics_table_groups_pool_to_overall() -> None:
    frame = _hourly_frame()
    table = metrics_table(frame, "actual", ["good", "bad"], by=[None, "hour", "month", "weekday"])
    assert list(table.columns) == [
        "model",
        "group_by",
        "group_value",
        "metric",
        "value",
        "n_obs",
        "n_left_out",
    ]
    assert set(table["metric"]) == set(METRICS)
    assert table["value"].notna().all()
    for model in ("good", "bad"):
        rows = table[table["model"] == model]
        overall = rows[rows["group_by"] == "none"].set_index("metric")
        hourly = rows[rows["group_by"] == "hour"]
        assert sorted(hourly["group_value"].unique()) == list(range(24))
        mae_h = hourly[hourly["metric"] == "MAE"]
        # overall MAE = n-weighted mean of the hourly MAEs; overall MSE likewise
        assert overall.loc["MAE", "value"] == pytest.approx(
            np.average(mae_h["value"], weights=mae_h["n_obs"]), rel=1e-12
        )
        rmse_h = hourly[hourly["metric"] == "RMSE"]
        assert overall.loc["RMSE", "value"] == pytest.approx(
            math.sqrt(np.average(rmse_h["value"] ** 2, weights=rmse_h["n_obs"])), rel=1e-12
        )
        assert overall.loc["MAE", "n_obs"] == len(frame)


def test_grouped_rmae_independent() -> None:
    frame = _hourly_frame()
    table = metrics_table(frame, "actual", ["good"], by="hour")
    y = frame["actual"].to_numpy().reshape(-1, 24)  # days x hours, no gaps
    f = frame["good"].to_numpy().reshape(-1, 24)
    model_mae = np.abs(y - f).mean(axis=0)  # all days
    naive_mae = np.abs(y[7:] - y[:-7]).mean(axis=0)  # the first 7 days have no naive
    got = table[table["metric"] == "rMAE"].set_index("group_value")["value"].sort_index()
    assert_allclose(got.to_numpy(), model_mae / naive_mae, rtol=1e-12)
    overall = metrics_table(frame, "actual", ["good"]).set_index("metric")["value"]
    assert overall["rMAE"] == pytest.approx(np.abs(y - f).mean() / np.abs(y[7:] - y[:-7]).mean(), rel=1e-12)
    assert overall["MASE"] == pytest.approx(overall["rMAE"], rel=1e-15)


def test_seasonal_naive_looks_up_by_timestamp() -> None:
    idx = pd.date_range("2022-03-01", periods=24 * 10, freq="h", tz="UTC")
    y = pd.Series(np.arange(idx.size, dtype=float), index=idx)
    gap = y.drop(idx[24 * 8 : 24 * 8 + 5])  # five hours missing on day 9
    naive = seasonal_naive(gap)
    assert naive.iloc[:168].isna().all()
    t = pd.Timestamp("2022-03-09 10:00", tz="UTC")
    assert naive.loc[t] == y.loc[t - pd.Timedelta(days=7)]
    # the hour after a gap still finds its value one week earlier (no positional shift)
    t2 = pd.Timestamp("2022-03-09 05:00", tz="UTC")
    assert naive.loc[t2] == float(idx.get_loc(t2) - 168)
    # a point whose week-earlier hour is missing has no naive
    t3 = pd.Timestamp("2022-03-09 02:00", tz="UTC")
    gap2 = y.drop(pd.Timestamp("2022-03-02 02:00", tz="UTC"))
    assert math.isnan(seasonal_naive(gap2).loc[t3])


def test_market_and_horizon_groupings() -> None:
    frame = _hourly_frame(n_days=14)
    other = frame.copy()
    other["actual"] = other["actual"] * 2 + 100  # a second market with its own naive
    other["good"] = other["actual"] + 1.0
    long = pd.concat([frame.assign(market="A"), other.assign(market="B")])
    long = long.rename_axis("time_utc").reset_index()
    long["horizon"] = np.where(long["time_utc"].dt.hour < 12, 1, 2)
    table = metrics_table(
        long, "actual", ["good"], by=["market", "horizon"], time="time_utc", market="market"
    )
    rmae = table[(table["metric"] == "rMAE") & (table["group_by"] == "market")].set_index("group_value")
    y_b = other["actual"].to_numpy()
    assert rmae.loc["B", "value"] == pytest.approx(1.0 / np.abs(y_b[168:] - y_b[:-168]).mean(), rel=1e-12)
    mae_h = table[(table["metric"] == "MAE") & (table["group_by"] == "horizon")]
    assert set(mae_h["group_value"]) == {1, 2}
    assert mae_h["n_obs"].sum() == len(long)


def test_mape_threshold_and_left_out_counts() -> None:
    idx = pd.date_range("2020-01-01", periods=24 * 8, freq="h")
    y = np.full(idx.size, 50.0)
    y[[3, 30, 100]] = 0.0
    y[40] = 0.01  # below 1e-3 * mean|y| (about 0.05): left out
    y[41] = 1.0  # kept
    frame = pd.DataFrame({"y": y, "m": y + 1.0}, index=idx)
    threshold = default_mape_threshold(y)
    assert threshold == pytest.approx(1e-3 * np.mean(np.abs(y)))
    table = metrics_table(frame, "y", ["m"]).set_index("metric")
    assert table.loc["MAPE", "n_left_out"] == 4
    assert table.loc["MAPE", "n_obs"] == idx.size - 4
    kept = np.abs(y) > threshold
    assert table.loc["MAPE", "value"] == pytest.approx(100 * np.mean(1.0 / np.abs(y[kept])), rel=1e-12)
    assert (table.drop(index="MAPE")["n_left_out"] == 0).all()


def test_all_zero_actuals_never_warn_and_say_why_nan() -> None:
    y = np.zeros(10)
    f = np.zeros(10)
    out = overall_metrics(y, f)
    assert out["MAE"] == 0.0
    assert out["sMAPE"] == 0.0  # 0/0 terms count as 0
    assert math.isnan(out["MAPE"])
    assert out["MAPE_left_out"] == 10.0
    acc = ErrorSums.from_arrays(y, f)
    assert acc.n_obs("MAPE") == 0


def test_missing_forecasts_are_skipped_and_counted() -> None:
    frame = _hourly_frame(n_days=10)
    frame.iloc[5:29, frame.columns.get_loc("good")] = np.nan
    table = metrics_table(frame, "actual", ["good"]).set_index("metric")
    assert table.loc["MAE", "n_obs"] == len(frame) - 24
    ok = frame["good"].notna()
    expected = np.mean(np.abs(frame.loc[ok, "actual"] - frame.loc[ok, "good"]))
    assert table.loc["MAE", "value"] == pytest.approx(expected, rel=1e-12)


def test_mase_with_insample_scale() -> None:
    frame = _hourly_frame(n_days=28)
    history, test = frame.iloc[: 24 * 14], frame.iloc[24 * 14 :]
    scale = insample_naive_mae(history["actual"])
    h = history["actual"].to_numpy()
    assert scale == pytest.approx(np.abs(h[168:] - h[:-168]).mean(), rel=1e-12)
    table = metrics_table(test, "actual", ["good"], mase_scale=scale).set_index("metric")
    assert table.loc["MASE", "value"] == pytest.approx(table.loc["MAE", "value"] / scale, rel=1e-12)
    with pytest.raises(MetricsError, match="shorter than the seasonal lag"):
        insample_naive_mae(history["actual"].iloc[:100])


def test_errors_name_what_exists() -> None:
    frame = _hourly_frame(n_days=8)
    with pytest.raises(MetricsError, match=r"no forecast column\(s\) \['nope'\].*'good'"):
        metrics_table(frame, "actual", ["nope"])
    with pytest.raises(MetricsError, match=r"no actual column 'price'.*'actual'"):
        metrics_table(frame, "price", ["good"])
    with pytest.raises(MetricsError, match="cannot group by 'horizon'"):
        metrics_table(frame, "actual", ["good"], by="horizon")
    with pytest.raises(MetricsError, match="needs timestamps"):
        metrics_table(frame.reset_index(drop=True), "actual", ["good"])
    with pytest.raises(MetricsError, match="differ in length"):
        ErrorSums.from_arrays([1.0, 2.0], [1.0])


def test_default_models_and_no_naive() -> None:
    frame = _hourly_frame(n_days=8)
    table = metrics_table(frame.reset_index(drop=True), "actual", naive=None)
    assert set(table["model"]) == {"good", "bad"}
    assert set(table["metric"]) == {"MAE", "RMSE", "MAPE", "WAPE", "sMAPE"}
