"""Tests of equal predictive accuracy: Diebold-Mariano and Giacomini-White, as in the epftoolbox.

Both follow Lago, Marcjasz, De Schutter and Weron (2021) and the epftoolbox functions ``DM`` and ``GW``.
Inputs are day-by-period matrices of shape ``(n_days, n_periods)`` (24 hourly prices per day), the layout
of day-ahead markets where all periods of a day are forecast at once, the day before.

Loss differential ``d = L(e_1) - L(e_2)`` with ``L = |.|`` (``norm=1``) or ``(.)^2`` (``norm=2``) and
``e_k = y - yhat_k``. The tests are **one-sided**: H0 "forecast 2 is not more accurate than forecast 1"
against H1 "forecast 2 is more accurate"; a small p-value says forecast 2 is significantly better.

Versions
--------
``univariate``
    One test per period (hour) of the day on that period's daily series of ``d`` (24 tests).
``multivariate``
    One test on the daily mean over the periods of ``d`` (one loss per day).

Diebold-Mariano (epftoolbox ``DM``)
    ``DM = mean(d) / sqrt(var(d) / N)`` with the population variance (``ddof=0``) and no autocovariance
    terms: the daily series are one-step-ahead forecasts (each day forecast the day before), whose loss
    differentials are serially uncorrelated under H0, so the HAC window is zero. ``p = 1 - Phi(DM)``
    (computed as the normal survival function, which equals ``1 - cdf`` and keeps tiny p-values).

Giacomini-White (epftoolbox ``GW``, Giacomini & White 2006, one-step horizon)
    Regress a vector of ones on ``h_{t-1} * d_t`` without intercept, ``GW = T * R^2`` (uncentred R^2),
    ``p = 1 - F_chi2(q)(sign(mean d) * GW)`` with ``q`` instruments. The conditional test uses
    ``h_{t-1} = (1, d_{t-1})`` (``q = 2``, ``T = N - 1``); the unconditional one ``h = 1`` (``q = 1``,
    ``T = N``; then ``GW = N mean(d)^2 / mean(d^2)``). Multiplying by the sign of the mean makes the
    chi-square test "one-sided" as in the epftoolbox: its size is about half the nominal level (a
    two-sided rejection with the favourable sign); ``one_sided=False`` gives the two-sided GW test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, overload

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from marketintel.exceptions import MarketIntelError

Version = Literal["univariate", "multivariate"]
Norm = Literal[1, 2]
#: Periods per day of hourly day-ahead markets.
HOURS_PER_DAY: Final[int] = 24


class StatTestError(MarketIntelError, ValueError):
    """Inputs to a statistical test are inconsistent (shape, non-finite values, unknown option)."""


@dataclass(frozen=True)
class TestResult:
    """One test: statistic and p-value.

    Attributes
    ----------
    statistic : float
        DM (standard normal under H0) or signed GW statistic (chi-square under H0)  [-].
    p_value : float
        One-sided p-value of H1 "forecast 2 is more accurate"  [-].
    n : int
        Length of the series the test ran on  [days].
    """

    __test__ = False  # not a pytest class

    statistic: float
    p_value: float
    n: int


@dataclass(frozen=True)
class PeriodTestResults:
    """One test per period of the day (the univariate version).

    Attributes
    ----------
    statistic : numpy.ndarray
        Statistics, shape ``(n_periods,)``  [-].
    p_value : numpy.ndarray
        One-sided p-values, shape ``(n_periods,)``  [-].
    n : int
        Length of each daily series  [days].
    """

    statistic: NDArray[np.float64]
    p_value: NDArray[np.float64]
    n: int


def to_daily_matrix(values: ArrayLike, periods_per_day: int = HOURS_PER_DAY) -> NDArray[np.float64]:
    """Reshape a period-by-period series to ``(n_days, periods_per_day)``.

    Parameters
    ----------
    values : array_like
        1-D series that starts at the first period of a day and covers whole days  [any unit].
    periods_per_day : int
        Periods per day (24 for hourly markets).

    Returns
    -------
    numpy.ndarray
        Matrix of shape ``(n_days, periods_per_day)``.
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if periods_per_day < 1 or arr.size % periods_per_day:
        raise StatTestError(
            f"{arr.size} values do not make whole days of {periods_per_day} periods; "
            "give a series that starts at a day's first period and covers whole days"
        )
    return arr.reshape(-1, periods_per_day)


def _losses(
    actual: ArrayLike, forecast_1: ArrayLike, forecast_2: ArrayLike, norm: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(actual, dtype=np.float64)
    f1 = np.asarray(forecast_1, dtype=np.float64)
    f2 = np.asarray(forecast_2, dtype=np.float64)
    if y.shape != f1.shape or y.shape != f2.shape:
        raise StatTestError(f"actual and forecasts differ in shape: {y.shape}, {f1.shape}, {f2.shape}")
    if y.ndim != 2:
        raise StatTestError(
            f"expected arrays of shape (n_days, n_periods), got {y.shape}; see to_daily_matrix()"
        )
    if not (np.isfinite(y).all() and np.isfinite(f1).all() and np.isfinite(f2).all()):
        raise StatTestError("actual and forecasts must be finite (drop the days with missing values first)")
    return _loss(y - f1, norm), _loss(y - f2, norm)


def _loss(errors: NDArray[np.float64], norm: int) -> NDArray[np.float64]:
    if norm == 1:
        return np.abs(errors)
    if norm == 2:
        return errors * errors
    raise StatTestError(f"norm must be 1 (absolute) or 2 (squared), got {norm!r}")


def _check_version(version: str) -> None:
    if version not in ("univariate", "multivariate"):
        raise StatTestError(f"version must be 'univariate' or 'multivariate', got {version!r}")


def dm_statistic(d: NDArray[np.float64]) -> NDArray[np.float64]:
    """DM statistic of loss-differential series along axis 0 (no HAC terms: one-step-ahead series).

    Parameters
    ----------
    d : numpy.ndarray
        Loss differentials, shape ``(N, ...)``  [loss unit].

    Returns
    -------
    numpy.ndarray
        ``mean(d) / sqrt(var(d) / N)`` per column (``ddof=0``); 0 where ``d`` is identically 0 and
        ``+-inf`` where it is a non-zero constant.
    """
    n = d.shape[0]
    if n < 2:
        raise StatTestError(f"the DM test needs at least 2 days, got {n}")
    mean = d.mean(axis=0)
    scale = np.sqrt(d.var(axis=0, ddof=0) / n)
    positive = scale > 0
    out = np.divide(mean, scale, out=np.zeros_like(mean), where=positive)
    constant = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.asarray(np.where(positive, out, constant), dtype=np.float64)


@overload
def dm_test(
    actual: ArrayLike,
    forecast_1: ArrayLike,
    forecast_2: ArrayLike,
    *,
    norm: Norm = ...,
    version: Literal["multivariate"] = ...,
) -> TestResult: ...
@overload
def dm_test(
    actual: ArrayLike,
    forecast_1: ArrayLike,
    forecast_2: ArrayLike,
    *,
    norm: Norm = ...,
    version: Literal["univariate"],
) -> PeriodTestResults: ...
def dm_test(
    actual: ArrayLike,
    forecast_1: ArrayLike,
    forecast_2: ArrayLike,
    *,
    norm: Norm = 1,
    version: Version = "multivariate",
) -> TestResult | PeriodTestResults:
    """Run the one-sided Diebold-Mariano test (epftoolbox ``DM``): is forecast 2 more accurate than 1.

    Parameters
    ----------
    actual : array_like
        Observed prices, shape ``(n_days, n_periods)``  [price unit].
    forecast_1, forecast_2 : array_like
        The two forecasts, same shape  [price unit].
    norm : {1, 2}
        Loss: 1 absolute, 2 squared error.
    version : {"multivariate", "univariate"}
        ``multivariate``: one test on the daily mean loss differential; ``univariate``: one test per period.

    Returns
    -------
    TestResult or PeriodTestResults
        Statistic and p-value (one per period for the univariate version). A small p-value rejects H0 in
        favour of "forecast 2 is more accurate than forecast 1".
    """
    _check_version(version)
    loss_1, loss_2 = _losses(actual, forecast_1, forecast_2, norm)
    if version == "univariate":
        stat = dm_statistic(loss_1 - loss_2)
        return PeriodTestResults(stat, stats.norm.sf(stat).astype(np.float64), loss_1.shape[0])
    d = loss_1.mean(axis=1) - loss_2.mean(axis=1)
    stat_m = float(dm_statistic(d[:, None])[0])
    return TestResult(stat_m, float(stats.norm.sf(stat_m)), d.size)


def gw_statistic(d: NDArray[np.float64], *, conditional: bool = True) -> NDArray[np.float64]:
    """Unsigned GW statistic ``T R^2`` of loss differentials along axis 0 (one-step horizon).

    Parameters
    ----------
    d : numpy.ndarray
        Loss differentials, shape ``(N, k)``  [loss unit]; one test per column.
    conditional : bool
        True: instruments ``(1, d_{t-1})`` on ``d_t, t = 2..N``; False: the constant on ``t = 1..N``.

    Returns
    -------
    numpy.ndarray
        ``T R^2`` per column, where R^2 is the uncentred R^2 of regressing ones on ``h_{t-1} d_t``; this
        equals ``z' S^+ z`` with ``z = sum_t x_t`` and ``S = sum_t x_t x_t'`` (``S^+``: pseudo-inverse, so
        an all-zero series gives 0).
    """
    if conditional:
        if d.shape[0] < 3:
            raise StatTestError(f"the conditional GW test needs at least 3 days, got {d.shape[0]}")
        dt = d[1:]
        x = np.stack([dt, d[:-1] * dt], axis=-1)  # (T, k, q)
    else:
        if d.shape[0] < 2:
            raise StatTestError(f"the GW test needs at least 2 days, got {d.shape[0]}")
        x = d[..., None]
    z = x.sum(axis=0)  # (k, q)
    s = np.einsum("tki,tkj->kij", x, x)  # (k, q, q)
    return np.asarray(np.einsum("ki,kij,kj->k", z, np.linalg.pinv(s, hermitian=True), z), dtype=np.float64)


def _gw_p_value(stat: NDArray[np.float64], q: int) -> NDArray[np.float64]:
    p: NDArray[np.float64] = np.asarray(stats.chi2.sf(stat, q), dtype=np.float64)
    return p


@overload
def gw_test(
    actual: ArrayLike,
    forecast_1: ArrayLike,
    forecast_2: ArrayLike,
    *,
    norm: Norm = ...,
    version: Literal["multivariate"] = ...,
    conditional: bool = ...,
    one_sided: bool = ...,
) -> TestResult: ...
@overload
def gw_test(
    actual: ArrayLike,
    forecast_1: ArrayLike,
    forecast_2: ArrayLike,
    *,
    norm: Norm = ...,
    version: Literal["univariate"],
    conditional: bool = ...,
    one_sided: bool = ...,
) -> PeriodTestResults: ...
def gw_test(
    actual: ArrayLike,
    forecast_1: ArrayLike,
    forecast_2: ArrayLike,
    *,
    norm: Norm = 1,
    version: Version = "multivariate",
    conditional: bool = True,
    one_sided: bool = True,
) -> TestResult | PeriodTestResults:
    """Giacomini-White test of (conditional) predictive ability (epftoolbox ``GW``, one-step horizon).

    Parameters
    ----------
    actual : array_like
        Observed prices, shape ``(n_days, n_periods)``  [price unit].
    forecast_1, forecast_2 : array_like
        The two forecasts, same shape  [price unit].
    norm : {1, 2}
        Loss: 1 absolute, 2 squared error.
    version : {"multivariate", "univariate"}
        ``multivariate``: on the daily mean loss differential; ``univariate``: one test per period.
    conditional : bool
        True (default, the epftoolbox test): instruments ``(1, d_{t-1})``; False: the unconditional test
        (constant instrument only).
    one_sided : bool
        True (default, as the epftoolbox): the statistic is multiplied by the sign of the mean loss
        differential, so only "forecast 2 better" can reject (size about half the nominal level); False:
        the two-sided chi-square test of equal (conditional) predictive ability.

    Returns
    -------
    TestResult or PeriodTestResults
        Signed statistic (when one-sided) and p-value; a small p-value favours forecast 2 (one-sided).

    Notes
    -----
    Sign as in the epftoolbox: for the univariate version the mean over all days of the period, for the
    multivariate version the mean over the days of the regression (days 2..N when conditional).
    """
    _check_version(version)
    loss_1, loss_2 = _losses(actual, forecast_1, forecast_2, norm)
    q = 2 if conditional else 1
    if version == "univariate":
        d = loss_1 - loss_2
        sign = np.sign(d.mean(axis=0))
    else:
        d = (loss_1.mean(axis=1) - loss_2.mean(axis=1))[:, None]
        sign = np.sign((d[1:] if conditional else d).mean(axis=0))
    stat = gw_statistic(d, conditional=conditional)
    if one_sided:
        stat = stat * sign
    p = _gw_p_value(stat, q)
    n = d.shape[0] - 1 if conditional else d.shape[0]
    if version == "univariate":
        return PeriodTestResults(stat, p, n)
    return TestResult(float(stat[0]), float(p[0]), n)


def _daily_losses(
    actual: ArrayLike, forecasts: pd.DataFrame, norm: int, periods_per_day: int
) -> NDArray[np.float64]:
    """Daily mean loss per model, shape ``(n_days, n_models)``."""
    y = np.asarray(actual, dtype=np.float64).reshape(-1)
    f = forecasts.to_numpy(dtype=np.float64)
    if f.shape[0] != y.size:
        raise StatTestError(f"actual has {y.size} values, the forecasts {f.shape[0]} rows")
    if not (np.isfinite(y).all() and np.isfinite(f).all()):
        raise StatTestError("actual and forecasts must be finite (drop the days with missing values first)")
    if periods_per_day < 1 or y.size % periods_per_day:
        raise StatTestError(f"{y.size} values do not make whole days of {periods_per_day} periods")
    loss = _loss(y[:, None] - f, norm)
    daily: NDArray[np.float64] = loss.reshape(-1, periods_per_day, f.shape[1]).mean(axis=1)
    return daily


def pairwise_test_matrix(
    actual: ArrayLike,
    forecasts: pd.DataFrame,
    *,
    test: Literal["dm", "gw"] = "dm",
    norm: Norm = 1,
    periods_per_day: int = HOURS_PER_DAY,
    models: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Multivariate DM (or one-sided conditional GW) p-values for every ordered pair of models.

    Parameters
    ----------
    actual : array_like
        Observed prices, a period-by-period series covering whole days  [price unit].
    forecasts : pandas.DataFrame
        One column per model, rows aligned with ``actual``  [price unit].
    test : {"dm", "gw"}
        The test (both the multivariate version, as the epftoolbox plots).
    norm : {1, 2}
        Loss: 1 absolute, 2 squared error.
    periods_per_day : int
        Periods per day (24).
    models : sequence of str, optional
        Columns to compare (default: all).

    Returns
    -------
    pandas.DataFrame
        ``p.loc[row, col]`` is the p-value of H1 "``col`` is more accurate than ``row``" (row = forecast 1,
        column = forecast 2). The diagonal is 1.0, as in the epftoolbox plots.
    """
    names = list(forecasts.columns if models is None else models)
    missing = [m for m in names if m not in forecasts.columns]
    if missing:
        raise StatTestError(f"no forecast column(s) {missing}; columns found: {list(forecasts.columns)}")
    daily = _daily_losses(actual, forecasts[names], norm, periods_per_day)
    d = daily[:, :, None] - daily[:, None, :]  # (n_days, row, col): loss(row) - loss(col)
    k = len(names)
    flat = d.reshape(d.shape[0], k * k)
    if test == "dm":
        p = stats.norm.sf(dm_statistic(flat))
    elif test == "gw":
        sign = np.sign(flat[1:].mean(axis=0))
        p = _gw_p_value(gw_statistic(flat, conditional=True) * sign, 2)
    else:
        raise StatTestError(f"test must be 'dm' or 'gw', got {test!r}")
    matrix = np.asarray(p, dtype=np.float64).reshape(k, k)
    np.fill_diagonal(matrix, 1.0)
    return pd.DataFrame(
        matrix, index=pd.Index(names, name="forecast_1"), columns=pd.Index(names, name="forecast_2")
    )


def dm_matrix(
    actual: ArrayLike,
    forecasts: pd.DataFrame,
    *,
    norm: Norm = 1,
    periods_per_day: int = HOURS_PER_DAY,
) -> pd.DataFrame:
    """Multivariate DM p-values of "column more accurate than row" (see :func:`pairwise_test_matrix`)."""
    return pairwise_test_matrix(actual, forecasts, test="dm", norm=norm, periods_per_day=periods_per_day)


def gw_matrix(
    actual: ArrayLike,
    forecasts: pd.DataFrame,
    *,
    norm: Norm = 1,
    periods_per_day: int = HOURS_PER_DAY,
) -> pd.DataFrame:
    """Multivariate conditional GW p-values of "column more accurate than row" (see pairwise_test_matrix)."""
    return pairwise_test_matrix(actual, forecasts, test="gw", norm=norm, periods_per_day=periods_per_day)
