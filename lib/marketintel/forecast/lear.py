"""LEAR: the Lasso-estimated autoregressive day-ahead price model of Lago et al. (2021), reproduced exactly.

For a target day ``d`` and each hour ``h`` one linear model reads 247 features (with two exogenous series):

- prices of days d-1, d-2, d-3 and d-7, all 24 hours (96);
- each exogenous day-ahead forecast at days d, d-1 and d-7, all 24 hours (72 per series);
- 7 weekday dummies (Monday first).

Features (bar the dummies) and targets are scaled per column by median and MAD, then ``asinh``. For each
hour the Lasso penalty is chosen by LARS with the AIC *as scikit-learn <= 1.0.1 computed it*: on the path of
the centred and L2-normalised features, ``n * MSE / var(y) + 2 * df`` (``df`` = non-zero coefficients),
and the Lasso is then refitted with that penalty on the unnormalised scaled features (as epftoolbox's
``LassoLarsIC(criterion='aic')`` followed by ``Lasso(alpha)`` did). Newer scikit-learn computes the AIC
differently (from 1.0.2 on) and refuses windows shorter than the feature count, so the criterion is
computed here from ``lars_path``. The result equals epftoolbox's recalibration run on scikit-learn 0.24.2
itself to 1e-10 [price] on every window, 56 days included (``benchmarks/lear_reference.py``).

Speed: the 24 hourly problems share one design matrix. Its centring, normalisation and Gram matrix are
computed once per recalibration and every hour's LARS path and Lasso refit run on the Gram matrix
(``lars_path_gram``, ``lasso_path(precompute=Gram, Xy=...)``), and the AIC residuals come from the Gram
matrix too, so no hour touches the ``n x 247`` matrix again. That is what takes a 1456-day recalibration from
seconds to a fraction of one (``benchmarks/lear.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: price lags [days]; exogenous lags [days] (the published forecasts used d-1 and d-7, plus day d itself)
PRICE_LAGS = (1, 2, 3, 7)
EXOG_LAGS = (1, 7)
#: Gaussian consistency constant of the MAD (statsmodels' ``mad``): MAD / 0.6745 estimates a std. dev.
MAD_C = 0.6744897501960817
MAX_ITER = 2500


def n_features(n_exog: int) -> int:
    """Return the number of LEAR features for ``n_exog`` exogenous series (247 for two)."""
    return 24 * len(PRICE_LAGS) + 24 * (len(EXOG_LAGS) + 1) * n_exog + 7


def build_features(prices: np.ndarray, exog: np.ndarray, weekday: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Return the LEAR feature rows of target days ``days``, in epftoolbox's column order.

    Parameters
    ----------
    prices : np.ndarray
        ``(n_days, 24)`` prices [price]; rows of target days may be NaN (they are not read).
    exog : np.ndarray
        ``(n_exog, n_days, 24)`` exogenous day-ahead forecasts (load [MW], wind [MW], ...).
    weekday : np.ndarray
        ``(n_days,)`` day of week of each day (Monday = 0).
    days : np.ndarray
        Row indices of the target days; each needs 7 days of history before it.

    Returns
    -------
    np.ndarray
        ``(len(days), n_features)``: for each hour, the price lags (d-1, d-2, d-3, d-7); then for each hour,
        each exogenous series at d-1 and d-7 and then each at d; then the weekday dummies.
    """
    days = np.asarray(days)
    if days.min() < max(PRICE_LAGS + EXOG_LAGS):
        raise ValueError(f"target days need {max(PRICE_LAGS + EXOG_LAGS)} days of history before them")
    n_exog = exog.shape[0]
    price_part = np.stack([prices[days - lag] for lag in PRICE_LAGS], axis=2)  # (m, 24, lags)
    blocks = [price_part.reshape(len(days), -1)]  # hour-major, lag inner
    per_hour = []
    for lag in EXOG_LAGS:
        for e in range(n_exog):
            per_hour.append(exog[e][days - lag])  # (m, 24)
    for e in range(n_exog):
        per_hour.append(exog[e][days])
    blocks.append(np.stack(per_hour, axis=2).reshape(len(days), -1))  # hour-major, (lag, exog) inner
    dummies = np.zeros((len(days), 7))
    dummies[np.arange(len(days)), weekday[days]] = 1.0
    blocks.append(dummies)
    return np.concatenate(blocks, axis=1)


@dataclass
class InvariantScaler:
    """Median/MAD standardisation followed by ``asinh`` (per column), and its inverse."""

    median: np.ndarray
    mad: np.ndarray

    @classmethod
    def fit(cls, data: np.ndarray) -> InvariantScaler:
        """Estimate the median and MAD (scaled by 1/0.6745) of each column."""
        median = np.median(data, axis=0)
        mad = np.median(np.abs(data - median), axis=0) / MAD_C
        mad = np.where(mad > 0, mad, 1.0)  # a constant column: leave it centred, not divided by zero
        return cls(median, mad)

    def transform(self, data: np.ndarray) -> np.ndarray:
        """Scale ``data`` [unit] to asinh space."""
        out: np.ndarray = np.arcsinh((data - self.median) / self.mad)
        return out

    def inverse(self, data: np.ndarray) -> np.ndarray:
        """Map asinh-space values back [unit]."""
        out: np.ndarray = np.sinh(data) * self.mad + self.median
        return out


def _criterion(coefs: np.ndarray, gram_n: np.ndarray, xy_n: np.ndarray, yy: float, n: int) -> np.ndarray:
    """Return the AIC of each path point as scikit-learn <= 1.0.1 did: ``n * MSE / var(y) + 2 * df``."""
    rss = yy - 2.0 * (xy_n @ coefs) + np.einsum("ik,ik->k", coefs, gram_n @ coefs)
    mse = np.maximum(rss, 0.0) / n
    df = (np.abs(coefs) > np.finfo(float).eps).sum(axis=0)
    sigma2 = yy / n  # np.var of the centred target
    out: np.ndarray = n * mse / (sigma2 + np.finfo(np.float64).eps) + 2 * df
    return out


#: LARS steps computed first; the path is only continued when the AIC could still improve (see aic_alpha)
FIRST_STEPS = 130
#: the same for windows with fewer days than features, whose AIC minimum comes within ~10-30 steps
FIRST_STEPS_SMALL = 40
#: variables the later path would have to drop, net, for a truncated path to miss the AIC minimum
DROP_MARGIN = 10


def aic_alpha(
    gram_n: np.ndarray,
    xy_n: np.ndarray,
    yy: float,
    n_samples: int,
    rss_floor: float = 0.0,
    x_n: np.ndarray | None = None,
    y_c: np.ndarray | None = None,
) -> tuple[float, bool]:
    """Return the Lasso penalty minimising the scikit-learn <= 1.0.1 AIC along the LARS path.

    The AIC minimum comes early on the path (about 20-40 of ~400 steps on the benchmark data), so the
    path is first computed for :data:`FIRST_STEPS` steps (:data:`FIRST_STEPS_SMALL` for windows with fewer
    days than features, whose paths end after ~90 steps). Every later point has an AIC of at least
    ``rss_floor / var(y) + 2 * df`` (the residual sum of squares never falls below the least-squares one,
    ``rss_floor``); when that bound, with ``df`` reduced by :data:`DROP_MARGIN` net drops, already exceeds
    the best AIC found, the rest of the path cannot win and is not computed. Otherwise the whole path is.

    Parameters
    ----------
    gram_n : np.ndarray
        ``X'X`` of the centred, L2-normalised features.
    xy_n : np.ndarray
        ``X'y`` with the centred target.
    yy : float
        ``y'y`` of the centred target.
    n_samples : int
        Rows of the design.
    rss_floor : float
        Least-squares residual sum of squares of the target on all features (0 when unknown).
    x_n, y_c : np.ndarray, optional
        The normalised design and centred target, for windows with fewer rows than features: then the
        path is computed on ``X`` itself (as scikit-learn's ``Gram='auto'`` did), not on the Gram matrix.

    Returns
    -------
    tuple of (float, bool)
        The penalty, and whether the path was truncated.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import lars_path, lars_path_gram

    sigma2 = yy / n_samples
    first = FIRST_STEPS if x_n is None else FIRST_STEPS_SMALL
    for steps in (first, 2 * first, MAX_ITER):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # LARS drops degenerate regressors (dummies)
            if x_n is not None and y_c is not None:
                alphas, _, coefs = lars_path(
                    x_n, y_c, method="lasso", max_iter=steps, eps=np.finfo(float).eps, alpha_min=0.0
                )
            else:
                alphas, _, coefs = lars_path_gram(
                    xy_n, gram_n, n_samples=n_samples, method="lasso", max_iter=steps,
                    eps=np.finfo(float).eps, alpha_min=0.0,
                )  # fmt: skip
        criterion = _criterion(coefs, gram_n, xy_n, yy, n_samples)
        best = int(np.argmin(criterion))
        finished = coefs.shape[1] <= steps  # the path ended before the step limit
        if finished or steps == MAX_ITER:
            return float(alphas[best]), False
        df_last = int((np.abs(coefs[:, -1]) > np.finfo(float).eps).sum())
        bound = rss_floor / (sigma2 + np.finfo(np.float64).eps) + 2 * (df_last - DROP_MARGIN)
        if bound > criterion[best]:
            return float(alphas[best]), True
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class LEARFit:
    """A recalibrated LEAR: 24 coefficient vectors and intercepts, with the scalers that go with them."""

    coef: np.ndarray  # (24, n_features)
    intercept: np.ndarray  # (24,)
    alphas: np.ndarray  # (24,) penalties chosen by the AIC
    scaler_x: InvariantScaler
    scaler_y: InvariantScaler

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return the 24 prices [price] for one row of features (or ``(m, 24)`` for ``m`` rows)."""
        x = np.atleast_2d(features).astype(float).copy()
        x[:, :-7] = self.scaler_x.transform(x[:, :-7])
        scaled = x @ self.coef.T + self.intercept
        out = self.scaler_y.inverse(scaled)
        return out[0] if features.ndim == 1 else out


def _lasso_gram(gram_c: np.ndarray, xy: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Lasso at ``alpha`` (scikit-learn's objective, ``1/(2n)||y - Xw||^2 + alpha |w|_1``) from the Gram.

    scikit-learn's own coordinate-descent kernel on the precomputed Gram matrix, called directly: the same
    arithmetic ``Lasso(alpha, max_iter=2500, tol=1e-4).fit`` runs, without its per-call input checks.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import _cd_fast

    n = y.shape[0]
    w = np.zeros(gram_c.shape[0])
    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        # as published: many hours stop at 2,500 sweeps before the duality gap reaches 1e-4 (epftoolbox
        # silenced the warning too); the forecasts are those iterates
        warnings.simplefilter("ignore", ConvergenceWarning)
        w, _gap, _tol, _iters = _cd_fast.enet_coordinate_descent_gram(
            w, alpha * n, 0.0, gram_c, xy, y, MAX_ITER, 1e-4, rng, False, False, True
        )
    return np.asarray(w)


Shared = tuple[np.ndarray, np.ndarray, int, np.ndarray | None]
Hour = tuple[np.ndarray, np.ndarray, float, float, np.ndarray]


def _fit_hours(shared: Shared, hours: list[Hour]) -> list[tuple[float, np.ndarray]]:
    """Fit a batch of hours that share the design (a unit of work for a process pool).

    ``shared`` is ``(gram_n, gram_c, n, x_n)`` (``x_n`` only for windows with fewer rows than features);
    each hour is ``(X'y normalised, X'y centred, y'y, least-squares RSS, centred y)``.
    """
    gram_n, gram_c, n, x_n = shared
    out = []
    for xy_n, xy_c, yy, rss_floor, y_c in hours:
        alpha, _ = aic_alpha(gram_n, xy_n, yy, n, rss_floor, x_n, y_c if x_n is not None else None)
        out.append((alpha, _lasso_gram(gram_c, xy_c, y_c, alpha)))
    return out


def fit_lear(x_train: np.ndarray, y_train: np.ndarray, pool: Any = None) -> LEARFit:
    """Recalibrate LEAR on a window: ``x_train`` ``(n, n_features)`` and ``y_train`` ``(n, 24)`` [price].

    Every hour shares the design matrix, so its scaling, centring, normalisation and Gram matrix are
    computed once; each hour then needs only ``X'y``. ``pool`` (a ``concurrent.futures`` executor) runs
    the 24 independent hours in parallel.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # these matrices are small: one BLAS thread is faster than two contending
        return _fit_lear(x_train, y_train, pool)


def worker_init() -> None:
    """Initialise a process-pool worker for :func:`fit_lear` (single-threaded BLAS)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _fit_lear(x_train: np.ndarray, y_train: np.ndarray, pool: Any) -> LEARFit:
    """Do the work of :func:`fit_lear`."""
    scaler_y = InvariantScaler.fit(y_train)
    y = scaler_y.transform(y_train)
    scaler_x = InvariantScaler.fit(x_train[:, :-7])
    x = np.array(x_train, dtype=float)
    x[:, :-7] = scaler_x.transform(x[:, :-7])
    n, p = x.shape
    x_mean = x.mean(axis=0)
    xc = x - x_mean
    norms = np.sqrt((xc**2).sum(axis=0))
    norms[norms == 0.0] = 1.0
    xn = xc / norms
    gram_c = np.ascontiguousarray(xc.T @ xc)  # the Lasso refit: centred, unnormalised features
    gram_n = gram_c / np.outer(norms, norms)  # the same, normalised (LARS)
    y_mean = y.mean(axis=0)
    yc = y - y_mean
    xy_c = xc.T @ yc  # (p, 24)
    small = n <= p  # scikit-learn's Gram='auto' used X itself when n <= p
    xy_n_all = xy_c / norms[:, None]
    yy_all = (yc**2).sum(axis=0)
    rss_floor = np.zeros(24)
    if not small:  # least-squares residual of each hour on all features: a floor under every path point
        solution, *_ = np.linalg.lstsq(gram_n, xy_n_all, rcond=None)
        rss_floor = np.maximum(yy_all - np.einsum("ph,ph->h", xy_n_all, solution), 0.0)
    shared = (gram_n, gram_c, n, xn if small else None)
    hours = [
        (np.ascontiguousarray(xy_n_all[:, h]), np.ascontiguousarray(xy_c[:, h]), float(yy_all[h]),
         float(rss_floor[h]), np.ascontiguousarray(yc[:, h]))
        for h in range(24)
    ]  # fmt: skip
    if pool is None:
        results = _fit_hours(shared, hours)
    else:  # one batch per worker: the Gram matrices travel once per batch, not once per hour
        workers = max(1, int(getattr(pool, "_max_workers", 2)))
        batches = [hours[k::workers] for k in range(workers)]
        done = list(pool.map(_fit_hours, [shared] * workers, batches))
        results = [None] * 24  # type: ignore[list-item]
        for k, batch in enumerate(done):
            for j, item in enumerate(batch):
                results[k + j * workers] = item
    alphas = np.array([r[0] for r in results])
    coef = np.stack([r[1] for r in results])
    intercept = y_mean - coef @ x_mean
    return LEARFit(coef, intercept, alphas, scaler_x, scaler_y)
