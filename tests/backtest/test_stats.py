"""Diebold-Mariano and Giacomini-White tests: hand-computed cases, epftoolbox values, size and power."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from marketintel.backtest.stats import (
    StatTestError,
    dm_matrix,
    dm_test,
    gw_matrix,
    gw_test,
    to_daily_matrix,
)


def _with_daily_loss_differential(d: list[float], periods: int = 2) -> tuple[np.ndarray, ...]:
    """Actual 0, forecast 2 perfect, forecast 1 off by d on every period: |e1| - |e2| = d."""
    f1 = np.repeat(np.asarray(d, dtype=float)[:, None], periods, axis=1)
    zeros = np.zeros_like(f1)
    return zeros, f1, zeros


def test_dm_hand_computed() -> None:
    y, f1, f2 = _with_daily_loss_differential([1, 2, 3, 4])
    # mean 2.5, population variance 1.25, N 4: DM = 2.5 / sqrt(1.25 / 4) = sqrt(20)
    res = dm_test(y, f1, f2, norm=1)
    assert res.statistic == pytest.approx(math.sqrt(20))
    assert res.p_value == pytest.approx(0.5 * math.erfc(math.sqrt(20) / math.sqrt(2)), rel=1e-9)
    assert res.n == 4
    uni = dm_test(y, f1, f2, version="univariate")
    assert_allclose(uni.statistic, [math.sqrt(20)] * 2)
    # norm 2: d = [1, 4, 9, 16], mean 7.5, variance 32.25
    res2 = dm_test(y, f1, f2, norm=2)
    assert res2.statistic == pytest.approx(7.5 / math.sqrt(32.25 / 4))
    # swapping the forecasts flips the sign
    assert dm_test(y, f2, f1).statistic == pytest.approx(-math.sqrt(20))


def test_gw_hand_computed() -> None:
    y, f1, f2 = _with_daily_loss_differential([1, 2, 3, 4])
    # conditional: x_t = (d_t, d_{t-1} d_t) = (2, 2), (3, 6), (4, 12); z = (9, 20);
    # S = [[29, 70], [70, 184]], det 436; GW = z' S^-1 z = 1304 / 436; chi2(2) sf = exp(-x / 2)
    res = gw_test(y, f1, f2)
    assert res.statistic == pytest.approx(1304 / 436)
    assert res.p_value == pytest.approx(math.exp(-1304 / 872))
    assert res.n == 3
    # unconditional: GW = N mean(d)^2 / mean(d^2) = 100 / 30; chi2(1) sf(x) = erfc(sqrt(x / 2))
    unc = gw_test(y, f1, f2, conditional=False)
    assert unc.statistic == pytest.approx(10 / 3)
    assert unc.p_value == pytest.approx(math.erfc(math.sqrt(5 / 3)))
    # one-sided: when forecast 1 is the better one, the signed statistic is negative and p = 1
    rev = gw_test(y, f2, f1)
    assert rev.statistic == pytest.approx(-1304 / 436)
    assert rev.p_value == 1.0
    assert gw_test(y, f2, f1, one_sided=False).p_value == pytest.approx(math.exp(-1304 / 872))


def test_gw_matches_an_explicit_regression() -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(50, 10, (60, 24))
    f1 = y + rng.normal(0, 2.0, y.shape)
    f2 = y + rng.normal(0, 1.8, y.shape)
    res = gw_test(y, f1, f2, version="univariate")
    d = np.abs(y - f1) - np.abs(y - f2)
    for h in (0, 7, 23):
        x = np.column_stack([d[1:, h], d[:-1, h] * d[1:, h]])
        beta = np.linalg.lstsq(x, np.ones(59), rcond=None)[0]
        r2 = 1 - np.mean((1 - x @ beta) ** 2)
        assert abs(res.statistic[h]) == pytest.approx(59 * r2, rel=1e-9)
    dm = dm_test(y, f1, f2, version="univariate")
    assert_allclose(dm.statistic, d.mean(0) / np.sqrt(d.var(0) / 60), rtol=1e-12)


def test_size_and_power_by_simulation() -> None:
    rng = np.random.default_rng(20240601)
    n_sims, n_days = 500, 120
    p_dm = np.empty(n_sims)
    p_gw_two = np.empty(n_sims)
    p_gw_one = np.empty(n_sims)
    for i in range(n_sims):  # H0: both forecasts have the same error distribution
        y = np.zeros((n_days, 24))
        f1 = rng.normal(0, 1, y.shape)
        f2 = rng.normal(0, 1, y.shape)
        p_dm[i] = dm_test(y, f1, f2).p_value
        p_gw_two[i] = gw_test(y, f1, f2, one_sided=False).p_value
        p_gw_one[i] = gw_test(y, f1, f2).p_value
    # binomial sd of a 5 % rate over 500 runs is ~1 %: accept +-3.3 sd
    assert 0.018 <= np.mean(p_dm < 0.05) <= 0.082
    assert 0.018 <= np.mean(p_gw_two < 0.05) <= 0.082
    # the epftoolbox one-sided GW rejects only two-sided rejections with the favourable sign: ~2.5 %
    assert np.mean(p_gw_one < 0.05) <= 0.05
    assert np.mean(p_gw_one < 0.05) == pytest.approx(np.mean((p_gw_two < 0.05) & (p_gw_one < 0.05)))

    power_dm = np.empty(100)
    power_gw = np.empty(100)
    for i in range(100):  # H1: forecast 2's errors are 20 % smaller
        y = np.zeros((n_days, 24))
        f1 = rng.normal(0, 1.0, y.shape)
        f2 = rng.normal(0, 0.8, y.shape)
        power_dm[i] = dm_test(y, f1, f2).p_value
        power_gw[i] = gw_test(y, f1, f2).p_value
    assert np.mean(power_dm < 0.05) >= 0.99
    assert np.mean(power_gw < 0.05) >= 0.99


def test_matrix_equals_pairwise_tests() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(40, 8, 24 * 50)
    forecasts = pd.DataFrame({f"m{k}": y + rng.normal(0, 1 + 0.2 * k, y.size) for k in range(3)})
    dm = dm_matrix(y, forecasts)
    gw = gw_matrix(y, forecasts, norm=2)
    for row in forecasts.columns:
        for col in forecasts.columns:
            if row == col:
                assert dm.loc[row, col] == 1.0
                continue
            args = (to_daily_matrix(y), to_daily_matrix(forecasts[row]), to_daily_matrix(forecasts[col]))
            assert dm.loc[row, col] == pytest.approx(dm_test(*args).p_value, rel=1e-12, abs=1e-300)
            assert gw.loc[row, col] == pytest.approx(gw_test(*args, norm=2).p_value, rel=1e-9, abs=1e-15)
    # m0 is the most accurate: "m0 better than m2" is significant, the reverse is not
    assert dm.loc["m2", "m0"] < 0.01 < dm.loc["m0", "m2"]


def test_input_errors() -> None:
    y = np.zeros((10, 24))
    with pytest.raises(StatTestError, match="differ in shape"):
        dm_test(y, y, np.zeros((9, 24)))
    with pytest.raises(StatTestError, match="n_days, n_periods"):
        dm_test(np.zeros(24), np.zeros(24), np.ones(24))
    with pytest.raises(StatTestError, match="finite"):
        dm_test(y, np.full_like(y, np.nan), y)
    with pytest.raises(StatTestError, match="norm must be 1"):
        dm_test(y, y, y, norm=3)  # type: ignore[call-overload]
    with pytest.raises(StatTestError, match="whole days"):
        to_daily_matrix(np.zeros(25))
    # identical forecasts: no evidence either way, no warning
    assert dm_test(y, y + 1, y + 1).p_value == pytest.approx(0.5)
    assert gw_test(y, y + 1, y + 1).p_value == pytest.approx(1.0)


def _np_forecasts(shared_dir: Path) -> pd.DataFrame:
    path = shared_dir / "datasets" / "epftoolbox" / "forecasts" / "Forecasts_NP_DNN_LEAR_ensembles.csv"
    if not path.is_file():
        pytest.skip(f"published epftoolbox forecasts not found at {path}")
    return pd.read_csv(path, index_col=0)


@pytest.mark.shared
def test_reproduces_the_epftoolbox_documented_p_values(shared_dir: Path) -> None:
    # The epftoolbox docstrings of DM and GW test LEAR Ensemble (1) against DNN Ensemble (2) on NP
    # with norm 1 and print these p-values.
    f = _np_forecasts(shared_dir)
    y, f1, f2 = (to_daily_matrix(f[c]) for c in ("Real price", "LEAR Ensemble", "DNN Ensemble"))
    assert dm_test(y, f1, f2).p_value == pytest.approx(0.003005725748326471, rel=1e-9)
    assert gw_test(y, f1, f2).p_value == pytest.approx(0.017598166936843906, rel=1e-9)
    dm_uni = [
        9.99999944e-01, 9.97562415e-01, 8.10333949e-01, 8.85201928e-01, 9.33505978e-01, 8.78116764e-01,
        1.70135981e-02, 2.37961920e-04, 5.52337353e-04, 6.07843340e-05, 1.51249750e-03, 1.70415008e-03,
        4.22319907e-03, 2.32808010e-03, 3.55958698e-03, 4.80663621e-03, 1.64841032e-04, 4.55829140e-02,
        5.86609688e-02, 1.98878375e-03, 1.04045731e-01, 8.71203187e-02, 2.64266732e-01, 4.06676195e-02,
    ]  # fmt: skip
    gw_uni = [
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.03217562e-01, 2.63206239e-03, 5.23325510e-03, 5.90845414e-04, 6.55116487e-03, 9.85034605e-03,
        3.34250412e-02, 1.80798591e-02, 2.74761848e-02, 3.19436776e-02, 8.39512169e-04, 2.11907847e-01,
        5.79718600e-02, 8.73956638e-03, 4.30521699e-01, 2.67395381e-01, 6.33448562e-01, 1.99826993e-01,
    ]  # fmt: skip
    assert_allclose(dm_test(y, f1, f2, version="univariate").p_value, dm_uni, rtol=1e-6)
    assert_allclose(gw_test(y, f1, f2, version="univariate").p_value, gw_uni, rtol=1e-6)
