"""Point-forecast accuracy metrics that pool exactly across folds and groups.

Every metric is a ratio of sums over points, so the sums are what a backtest keeps: :class:`ErrorSums` holds
them for one (model, group) cell, two cells add with ``+``, and the metric of a union of folds is computed
from the added sums. The metric of the union therefore equals the metric of the concatenated data (RMSE is
the root of the pooled mean squared error, never an average of fold RMSEs).

Definitions follow the epftoolbox benchmark (Lago et al. 2021, Applied Energy 293), with ``e = y - yhat``:

=========  ===========================================================================================
metric     definition
=========  ===========================================================================================
``MAE``    ``sum|e| / n``  [price unit]
``RMSE``   ``sqrt(sum e^2 / n)``  [price unit]
``MAPE``   ``100 * mean(|e| / |y|)`` over the points with ``|y| > mape_threshold``  [%]; the points left
           out are counted (``n_mape_left_out``). Exact zeros are always left out (the rule is strict).
``WAPE``   ``100 * sum|e| / sum|y|``  [%]
``sMAPE``  ``100 * mean(|e| / ((|y| + |yhat|) / 2))``  [%]; a term with ``|y| + |yhat| = 0`` counts as 0
           (both are zero, so the error is zero too) and stays in the mean.
``rMAE``   ``MAE(model) / MAE(naive)``  [-]: the model over all its points, the naive over the points where
           the naive exists (the weekly seasonal naive ``y(t - 168 h)`` cannot forecast the first 7 days).
``MASE``   ``MAE(model) / scale``  [-]: ``scale`` is the in-sample MAE of the weekly seasonal naive
           (:func:`insample_naive_mae`); without an in-sample history it is the naive's MAE over the test
           period, so MASE equals rMAE.
=========  ===========================================================================================

Default MAPE threshold (:func:`default_mape_threshold`): ``1e-3 * mean|y|`` of the whole evaluated frame,
computed once and shared by every group and fold, so that the groups pool to the total. A metric that no
point defines (no points, every MAPE point left out, no naive point) is NaN and its ``n_obs`` is 0; nothing
else is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from marketintel.exceptions import MarketIntelError

#: The metrics in the order tables list them.
METRICS: Final[tuple[str, ...]] = ("MAE", "RMSE", "MAPE", "WAPE", "sMAPE", "rMAE", "MASE")
#: The seasonal lag of the weekly naive forecast (same hour one week earlier).
WEEK: Final[pd.Timedelta] = pd.Timedelta(days=7)
#: Default MAPE threshold relative to the mean absolute actual value [-].
MAPE_RELATIVE_THRESHOLD: Final[float] = 1e-3
#: The groupings :func:`metrics_table` derives from the timestamps; any other name must be a column.
TIME_GROUPINGS: Final[tuple[str, ...]] = ("hour", "month", "month_of_year", "weekday")
#: The ``naive`` value that asks :func:`metrics_table` to build the weekly seasonal naive itself.
WEEKLY_NAIVE: Final[str] = "weekly"

_TERM_COLUMNS: Final[tuple[str, ...]] = (
    "n",
    "sum_abs_error",
    "sum_sq_error",
    "sum_abs_actual",
    "n_mape",
    "sum_ape",
    "n_mape_left_out",
    "sum_smape",
    "n_naive",
    "sum_abs_naive_error",
)


class MetricsError(MarketIntelError, ValueError):
    """Inputs to a metric are inconsistent (shapes, missing columns, unknown grouping)."""


def _ratio(num: float, den: float) -> float:
    """``num / den`` with NaN for ``0 / 0`` and a signed infinity for ``x / 0`` (no warnings)."""
    if den == 0:
        return math.nan if num == 0 else math.copysign(math.inf, num)
    return num / den


@dataclass(frozen=True)
class ErrorSums:
    """The additive sums behind every metric, for one model over one set of points.

    Attributes
    ----------
    n : int
        Points with a finite actual and a finite forecast.
    sum_abs_error : float
        ``sum |y - yhat|`` over those points  [price unit].
    sum_sq_error : float
        ``sum (y - yhat)^2``  [price unit^2].
    sum_abs_actual : float
        ``sum |y|``  [price unit].
    n_mape : int
        Points kept for MAPE (``|y| > threshold``).
    sum_ape : float
        ``sum |y - yhat| / |y|`` over the kept points  [-].
    n_mape_left_out : int
        Points left out of MAPE (``|y| <= threshold``).
    sum_smape : float
        ``sum |y - yhat| / ((|y| + |yhat|) / 2)``, zero where the denominator is zero  [-].
    n_naive : int
        Points with a finite actual and a finite naive forecast.
    sum_abs_naive_error : float
        ``sum |y - naive|`` over those points  [price unit].
    """

    n: int = 0
    sum_abs_error: float = 0.0
    sum_sq_error: float = 0.0
    sum_abs_actual: float = 0.0
    n_mape: int = 0
    sum_ape: float = 0.0
    n_mape_left_out: int = 0
    sum_smape: float = 0.0
    n_naive: int = 0
    sum_abs_naive_error: float = 0.0

    def __add__(self, other: ErrorSums) -> ErrorSums:
        """Pool two disjoint sets of points (folds, groups)."""
        if not isinstance(other, ErrorSums):
            return NotImplemented
        return ErrorSums(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @classmethod
    def from_arrays(
        cls,
        actual: ArrayLike,
        forecast: ArrayLike,
        naive: ArrayLike | None = None,
        *,
        mape_threshold: float = 0.0,
    ) -> ErrorSums:
        """Accumulate the sums of one model over aligned arrays.

        Parameters
        ----------
        actual : array_like
            Observed values  [price unit]; non-finite values are skipped.
        forecast : array_like
            Forecasts aligned with ``actual``  [price unit]; non-finite values are skipped.
        naive : array_like, optional
            The benchmark (naive) forecast aligned with ``actual``  [price unit]; NaN where it does not
            exist (e.g. the first week for the weekly naive). None: no naive sums (rMAE and MASE are NaN).
        mape_threshold : float
            Points with ``|y| <= mape_threshold`` are left out of MAPE  [price unit]; must be >= 0.

        Returns
        -------
        ErrorSums
            The sums.
        """
        terms = point_terms(actual, forecast, naive, mape_threshold=mape_threshold)
        return cls.from_mapping({k: float(v.sum()) for k, v in terms.items()})

    @classmethod
    def from_mapping(cls, sums: Mapping[Hashable, float]) -> ErrorSums:
        """Build from a mapping with the field names as keys (e.g. a row of grouped sums)."""
        return cls(
            n=round(sums["n"]),
            sum_abs_error=float(sums["sum_abs_error"]),
            sum_sq_error=float(sums["sum_sq_error"]),
            sum_abs_actual=float(sums["sum_abs_actual"]),
            n_mape=round(sums["n_mape"]),
            sum_ape=float(sums["sum_ape"]),
            n_mape_left_out=round(sums["n_mape_left_out"]),
            sum_smape=float(sums["sum_smape"]),
            n_naive=round(sums["n_naive"]),
            sum_abs_naive_error=float(sums["sum_abs_naive_error"]),
        )

    @property
    def mae(self) -> float:
        """Mean absolute error  [price unit]."""
        return _ratio(self.sum_abs_error, self.n)

    @property
    def rmse(self) -> float:
        """Root mean squared error from the pooled squared errors  [price unit]."""
        return math.sqrt(_ratio(self.sum_sq_error, self.n)) if self.n else math.nan

    @property
    def mape(self) -> float:
        """Mean absolute percentage error over the kept points  [%]."""
        return 100.0 * _ratio(self.sum_ape, self.n_mape) if self.n_mape else math.nan

    @property
    def wape(self) -> float:
        """Weighted absolute percentage error ``sum|e| / sum|y|``  [%]."""
        return 100.0 * _ratio(self.sum_abs_error, self.sum_abs_actual) if self.n else math.nan

    @property
    def smape(self) -> float:
        """Symmetric mean absolute percentage error  [%]."""
        return 100.0 * _ratio(self.sum_smape, self.n) if self.n else math.nan

    @property
    def naive_mae(self) -> float:
        """MAE of the naive forecast over the points where it exists  [price unit]."""
        return _ratio(self.sum_abs_naive_error, self.n_naive)

    @property
    def rmae(self) -> float:
        """Relative MAE: the model's MAE over the naive's MAE  [-]."""
        if not (self.n and self.n_naive):
            return math.nan
        return _ratio(self.mae, self.naive_mae)

    def mase(self, scale: float | None = None) -> float:
        """Mean absolute scaled error  [-].

        Parameters
        ----------
        scale : float, optional
            In-sample MAE of the seasonal naive  [price unit] (:func:`insample_naive_mae`). None: the naive's
            MAE over these points, so the result equals :attr:`rmae`.

        Returns
        -------
        float
            ``MAE / scale``.
        """
        if scale is None:
            return self.rmae
        return _ratio(self.mae, scale) if self.n else math.nan

    def metric(self, name: str, *, mase_scale: float | None = None) -> float:
        """Return one metric by name (one of :data:`METRICS`)."""
        getters = {
            "MAE": lambda: self.mae,
            "RMSE": lambda: self.rmse,
            "MAPE": lambda: self.mape,
            "WAPE": lambda: self.wape,
            "sMAPE": lambda: self.smape,
            "rMAE": lambda: self.rmae,
            "MASE": lambda: self.mase(mase_scale),
        }
        if name not in getters:
            raise MetricsError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        return getters[name]()

    def metrics(self, *, mase_scale: float | None = None) -> dict[str, float]:
        """Return every metric of :data:`METRICS` as a dict (units as in the module table)."""
        return {name: self.metric(name, mase_scale=mase_scale) for name in METRICS}

    def n_obs(self, name: str) -> int:
        """Return the number of points the metric's mean runs over (MAPE: the kept points)."""
        if name == "MAPE":
            return self.n_mape
        if name == "rMAE":
            return self.n if self.n_naive else 0
        return self.n


def pool(parts: Iterable[ErrorSums]) -> ErrorSums:
    """Add up the sums of disjoint folds or groups."""
    total = ErrorSums()
    for part in parts:
        total = total + part
    return total


def _as_float_array(values: ArrayLike, what: str) -> NDArray[np.float64]:
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"{what} must be numeric: {exc}") from None
    return out.reshape(-1)


def point_terms(
    actual: ArrayLike,
    forecast: ArrayLike,
    naive: ArrayLike | None = None,
    *,
    mape_threshold: float = 0.0,
) -> dict[str, NDArray[np.float64]]:
    """Per-point contributions to the fields of :class:`ErrorSums` (vectorised).

    Parameters
    ----------
    actual, forecast : array_like
        Observed values and forecasts, same length  [price unit].
    naive : array_like, optional
        Naive forecast, same length, NaN where it does not exist  [price unit].
    mape_threshold : float
        MAPE keeps the points with ``|y| > mape_threshold``  [price unit].

    Returns
    -------
    dict of str to numpy.ndarray
        One array per :class:`ErrorSums` field; a skipped point contributes 0 everywhere.
    """
    y = _as_float_array(actual, "actual")
    f = _as_float_array(forecast, "forecast")
    if y.shape != f.shape:
        raise MetricsError(f"actual and forecast differ in length: {y.size} and {f.size}")
    if not (mape_threshold >= 0):
        raise MetricsError(f"mape_threshold must be >= 0, got {mape_threshold}")
    valid = np.isfinite(y) & np.isfinite(f)
    err = np.where(valid, y - np.where(valid, f, 0.0), 0.0)
    y0 = np.where(valid, y, 0.0)
    f0 = np.where(valid, f, 0.0)
    abs_err = np.abs(err)
    abs_y = np.abs(y0)
    kept = valid & (abs_y > mape_threshold)
    ape = np.divide(abs_err, abs_y, out=np.zeros_like(abs_err), where=kept)
    half_sum = (abs_y + np.abs(f0)) / 2.0
    smape = np.divide(abs_err, half_sum, out=np.zeros_like(abs_err), where=half_sum > 0)
    if naive is None:
        naive_ok = np.zeros(y.shape, dtype=bool)
        naive_err = np.zeros_like(abs_err)
    else:
        nv = _as_float_array(naive, "naive")
        if nv.shape != y.shape:
            raise MetricsError(f"actual and naive differ in length: {y.size} and {nv.size}")
        naive_ok = np.isfinite(y) & np.isfinite(nv)
        naive_err = np.abs(np.where(naive_ok, y, 0.0) - np.where(naive_ok, nv, 0.0))
    return {
        "n": valid.astype(np.float64),
        "sum_abs_error": abs_err,
        "sum_sq_error": err * err,
        "sum_abs_actual": abs_y,
        "n_mape": kept.astype(np.float64),
        "sum_ape": ape,
        "n_mape_left_out": (valid & ~kept).astype(np.float64),
        "sum_smape": smape,
        "n_naive": naive_ok.astype(np.float64),
        "sum_abs_naive_error": naive_err,
    }


def default_mape_threshold(actual: ArrayLike) -> float:
    """Default MAPE threshold: ``1e-3 * mean|y|`` over the finite actual values  [price unit].

    Always >= 0, so exact zeros are left out even when every value is zero.
    """
    y = _as_float_array(actual, "actual")
    finite = y[np.isfinite(y)]
    return MAPE_RELATIVE_THRESHOLD * float(np.mean(np.abs(finite))) if finite.size else 0.0


def seasonal_naive(
    actual: pd.Series,
    *,
    lag: pd.Timedelta = WEEK,
    keys: Sequence[pd.Series] | None = None,
) -> pd.Series:
    """Build the seasonal naive forecast ``y(t - lag)`` by timestamp lookup.

    Parameters
    ----------
    actual : pandas.Series
        Observed values indexed by a DatetimeIndex  [price unit]. Repeated timestamps (several horizons
        of one delivery hour) are allowed if they carry the same value.
    lag : pandas.Timedelta
        Seasonal lag, an absolute duration (7 days = 168 h: on UTC stamps, or local stamps without DST
        shifts as in the epftoolbox files, this is the same hour one week earlier).
    keys : sequence of pandas.Series, optional
        Extra keys aligned with ``actual`` (e.g. the market) within which the lag is taken.

    Returns
    -------
    pandas.Series
        The naive forecast aligned with ``actual``, NaN where ``t - lag`` is not in the data.
    """
    if not isinstance(actual.index, pd.DatetimeIndex):
        raise MetricsError("the seasonal naive needs timestamps: index the actual values by a DatetimeIndex")
    stamps = actual.index
    key_arrays = [np.asarray(k) for k in (keys or ())]
    for k in key_arrays:
        if k.shape[0] != stamps.size:
            raise MetricsError(f"a naive key has {k.shape[0]} values for {stamps.size} actual values")
    index = pd.MultiIndex.from_arrays([*key_arrays, stamps])
    values = pd.Series(actual.to_numpy(dtype=np.float64), index=index)
    values = values[np.isfinite(values.to_numpy())]
    if values.index.has_duplicates:
        spread = values.groupby(level=list(range(index.nlevels))).agg(["min", "max"])
        bad = spread[spread["max"] != spread["min"]]
        if len(bad):
            raise MetricsError(
                f"{len(bad)} timestamps carry different actual values, e.g. {bad.index[0]}; "
                "the naive needs one actual value per timestamp"
            )
        values = values[~values.index.duplicated()]
    lookup = pd.MultiIndex.from_arrays([*key_arrays, stamps - lag])
    return pd.Series(values.reindex(lookup).to_numpy(), index=actual.index, name="naive")


def insample_naive_mae(history: pd.Series, *, lag: pd.Timedelta = WEEK) -> float:
    """In-sample MAE of the seasonal naive over a history (the MASE scale)  [price unit].

    Parameters
    ----------
    history : pandas.Series
        Observed values before the test period, indexed by a DatetimeIndex  [price unit].
    lag : pandas.Timedelta
        Seasonal lag (default 7 days).

    Returns
    -------
    float
        ``mean |y(t) - y(t - lag)|`` over the points where both exist.
    """
    naive = seasonal_naive(history, lag=lag)
    sums = ErrorSums.from_arrays(history.to_numpy(), naive.to_numpy())
    if sums.n == 0:
        raise MetricsError(f"the history is shorter than the seasonal lag {lag}: no naive point")
    return sums.mae


def _group_keys(
    frame: pd.DataFrame, stamps: pd.DatetimeIndex | None, name: str
) -> NDArray[np.generic] | pd.Index:
    if name in TIME_GROUPINGS:
        if stamps is None:
            raise MetricsError(f"grouping by {name!r} needs timestamps (a DatetimeIndex or time=COLUMN)")
        if name == "hour":
            return stamps.hour
        if name == "month":
            return stamps.strftime("%Y-%m")
        if name == "month_of_year":
            return stamps.month
        return stamps.day_name()
    if name in frame.columns:
        return frame[name].to_numpy()
    raise MetricsError(
        f"cannot group by {name!r}: use None/'none', one of {list(TIME_GROUPINGS)} or a column of the "
        f"frame {list(map(str, frame.columns))}"
    )


def metrics_table(
    frame: pd.DataFrame,
    actual: str,
    models: Sequence[str] | None = None,
    by: str | Sequence[str | None] | None = None,
    naive: str | None = WEEKLY_NAIVE,
    *,
    time: str | None = None,
    market: str | None = None,
    mape_threshold: float | None = None,
    mase_scale: float | None = None,
) -> pd.DataFrame:
    """Tidy table of every metric per model, overall and per group.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per (delivery time[, market, horizon]) with the actual and the forecast columns.
    actual : str
        Column of observed values  [price unit].
    models : sequence of str, optional
        Forecast columns  [price unit]; default: every numeric column except ``actual`` and ``naive``
        and the grouping columns.
    by : str or sequence of str, optional
        Groupings: None or ``"none"`` (overall), ``"hour"`` (hour of day), ``"month"`` (calendar month
        ``YYYY-MM``), ``"month_of_year"``, ``"weekday"``, or a column such as ``"horizon"`` or ``"market"``.
        A sequence gives several groupings in one table. Default: overall only.
    naive : str, optional
        ``"weekly"`` (default): the weekly seasonal naive ``y(t - 7 days)`` built from ``actual`` (per
        ``market`` if given); a column name: that column is the naive forecast; None: no rMAE/MASE rows.
    time : str, optional
        Column of timestamps; default: the frame's index (when it is a DatetimeIndex).
    market : str, optional
        Column identifying the market, within which the weekly naive is built.
    mape_threshold : float, optional
        MAPE keeps ``|y| > mape_threshold``  [price unit]; default :func:`default_mape_threshold` of the
        whole frame (shared by every group).
    mase_scale : float, optional
        In-sample MAE of the weekly naive  [price unit] (:func:`insample_naive_mae`), shared by every group;
        default: the naive's MAE over the test period within each group (then MASE = rMAE).

    Returns
    -------
    pandas.DataFrame
        Columns ``model, group_by, group_value, metric, value, n_obs, n_left_out``. ``group_by`` is
        ``"none"`` with ``group_value`` ``"all"`` for the overall rows; ``n_left_out`` is the number of
        points left out of MAPE (0 for the other metrics). ``value`` is NaN only where ``n_obs`` is 0.
    """
    if actual not in frame.columns:
        raise MetricsError(f"no actual column {actual!r}; columns found: {list(map(str, frame.columns))}")
    groupings: list[str] = []
    for g in [by] if by is None or isinstance(by, str) else list(by):
        groupings.append("none" if g is None else g)
    if not groupings:
        raise MetricsError("by is empty: give None for the overall metrics or a list of groupings")
    reserved = {actual, *(c for c in (naive, time, market) if c is not None), *groupings}
    if models is None:
        models = [
            str(c) for c in frame.select_dtypes("number").columns if c not in reserved and c != "horizon"
        ]
    missing = [m for m in models if m not in frame.columns]
    if missing:
        raise MetricsError(f"no forecast column(s) {missing}; columns found: {list(map(str, frame.columns))}")
    if not models:
        raise MetricsError(f"no forecast columns to score; columns found: {list(map(str, frame.columns))}")

    if time is not None:
        if time not in frame.columns:
            raise MetricsError(f"no time column {time!r}; columns found: {list(map(str, frame.columns))}")
        stamps: pd.DatetimeIndex | None = pd.DatetimeIndex(frame[time])
    else:
        stamps = frame.index if isinstance(frame.index, pd.DatetimeIndex) else None
    y = frame[actual].to_numpy(dtype=np.float64)

    naive_values: NDArray[np.float64] | None
    if naive is None:
        naive_values = None
    elif naive in frame.columns:
        naive_values = frame[naive].to_numpy(dtype=np.float64)
    elif naive == WEEKLY_NAIVE:
        if stamps is None:
            raise MetricsError("the weekly naive needs timestamps: a DatetimeIndex or time=COLUMN")
        keys = [frame[market]] if market is not None else None
        naive_values = seasonal_naive(pd.Series(y, index=stamps), keys=keys).to_numpy()
    else:
        raise MetricsError(f"naive must be 'weekly', None or a column; columns found: {list(frame.columns)}")

    threshold = default_mape_threshold(y) if mape_threshold is None else float(mape_threshold)
    metric_names = [m for m in METRICS if naive_values is not None or m not in ("rMAE", "MASE")]

    pieces: list[pd.DataFrame] = []
    for model in models:
        terms = pd.DataFrame(
            point_terms(y, frame[model].to_numpy(), naive_values, mape_threshold=threshold),
            columns=list(_TERM_COLUMNS),
        )
        for grouping in groupings:
            if grouping == "none":
                sums = terms.sum().to_frame().T
                sums.index = pd.Index(["all"])
            else:
                keys_g = _group_keys(frame, stamps, grouping)
                sums = terms.groupby(np.asarray(keys_g), sort=True).sum()
            rows = []
            for value, row in zip(sums.index, sums.to_dict("records"), strict=True):
                acc = ErrorSums.from_mapping(row)
                for name in metric_names:
                    rows.append(
                        (
                            model,
                            grouping,
                            value,
                            name,
                            acc.metric(name, mase_scale=mase_scale),
                            acc.n_obs(name),
                            acc.n_mape_left_out if name == "MAPE" else 0,
                        )
                    )
            pieces.append(
                pd.DataFrame(
                    rows,
                    columns=["model", "group_by", "group_value", "metric", "value", "n_obs", "n_left_out"],
                )
            )
    out = pd.concat(pieces, ignore_index=True)
    out["value"] = out["value"].astype(np.float64)
    out["n_obs"] = out["n_obs"].astype(np.int64)
    out["n_left_out"] = out["n_left_out"].astype(np.int64)
    return out


def overall_metrics(
    actual: ArrayLike,
    forecast: ArrayLike,
    naive: ArrayLike | None = None,
    *,
    mape_threshold: float | None = None,
    mase_scale: float | None = None,
) -> dict[str, float]:
    """Every metric of one forecast over aligned arrays (a convenience over :class:`ErrorSums`).

    Parameters
    ----------
    actual, forecast : array_like
        Observed values and forecasts  [price unit].
    naive : array_like, optional
        Naive forecast, NaN where it does not exist  [price unit].
    mape_threshold : float, optional
        Default :func:`default_mape_threshold` of ``actual``  [price unit].
    mase_scale : float, optional
        In-sample naive MAE  [price unit]; default: the naive's MAE here.

    Returns
    -------
    dict of str to float
        The metrics of :data:`METRICS` plus ``MAPE_left_out`` (count).
    """
    threshold = default_mape_threshold(actual) if mape_threshold is None else mape_threshold
    acc = ErrorSums.from_arrays(actual, forecast, naive, mape_threshold=threshold)
    out = acc.metrics(mase_scale=mase_scale)
    out["MAPE_left_out"] = float(acc.n_mape_left_out)
    return out
