"""Forecast-accuracy monitoring: rolling checks per model and market, and the alerts they raise.

Two checks run at the end of every market day (or only the latest one), each on the trailing window of
``window_days`` whole days ending that day:

``rmae``
    rMAE over the window (:mod:`marketintel.backtest.metrics`: the model's MAE over its points, the weekly
    seasonal naive's MAE over the points of the window where the naive exists)  [-]; a breach when it is
    above ``rmae_threshold`` (1.0: the model is worse than "same hour last week").
``mae_ratio``
    The window's MAE over the median of the window MAEs of the ``baseline_days`` previous day ends  [-];
    a breach when it is above ``mae_ratio_threshold`` (1.3: 30 % worse than usual).

A check is evaluated only where it is defined: a full window (its first day not before the data's first
day) with points, and for ``mae_ratio`` a full baseline (a window MAE at each of the ``baseline_days``
previous day ends). Nothing is read from after the window's end.

Breaches become rows of the store's ``alerts`` table (:func:`alerts_from_checks`, :func:`write_alerts`). The
``alert_id`` is a UUID5 of model, market, check and window end date, so writing the same breach again
replaces the row (``alerts`` is a ReplacingMergeTree on ``alert_id``) instead of adding a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from marketintel.backtest.metrics import point_terms, seasonal_naive
from marketintel.exceptions import MarketIntelError
from marketintel.store import insert_df, validate_frame
from marketintel.store.tables import TABLES
from marketintel.timeutils import local_day_start_utc, local_days, local_to_utc

#: Names of the checks, in output order.
CHECKS: Final[tuple[str, ...]] = ("rmae", "mae_ratio")
#: Above these values a breach is critical rather than a warning  [-].
CRITICAL: Final[dict[str, float]] = {"rmae": 1.5, "mae_ratio": 2.0}
#: Namespace of the deterministic alert ids.
ALERT_NAMESPACE: Final[uuid.UUID] = uuid.uuid5(uuid.NAMESPACE_URL, "marketintel/backtest/monitor")
#: ``alerts.category`` of the accuracy alerts.
CATEGORY: Final[str] = "forecast_accuracy"
#: Columns of :func:`rolling_metrics`.
ROLLING_COLUMNS: Final[tuple[str, ...]] = (
    "market",
    "model",
    "window_start_utc",
    "window_end_utc",
    "n_obs",
    "mae",
    "naive_mae",
    "rmae",
)
#: Columns of :func:`rolling_checks`.
CHECK_COLUMNS: Final[tuple[str, ...]] = (
    "model",
    "market",
    "check",
    "window_start_utc",
    "window_end_utc",
    "observed",
    "threshold",
    "status",
    "mae",
    "reference_mae",
    "window_days",
)
_SUMS: Final[tuple[str, ...]] = ("n", "sum_abs_error", "n_naive", "sum_abs_naive_error")


class MonitorError(MarketIntelError, ValueError):
    """Inputs to a monitoring check are inconsistent (missing columns, bad window, no timestamps)."""


def _columns_found(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns]


def _instants(frame: pd.DataFrame, time_col: str | None, tz: str) -> pd.DatetimeIndex:
    """Return the frame's timestamps as UTC instants (naive ones read as wall clock in ``tz``)."""
    if time_col is None:
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise MonitorError(
                "the frame needs timestamps: index it by a DatetimeIndex or give time_col=COLUMN; "
                f"columns found: {_columns_found(frame)}"
            )
        stamps = pd.DatetimeIndex(frame.index)
    else:
        if time_col not in frame.columns:
            raise MonitorError(f"no time column {time_col!r}; columns found: {_columns_found(frame)}")
        stamps = pd.DatetimeIndex(frame[time_col])
    if stamps.tz is None:
        return local_to_utc(stamps, tz)
    return stamps.tz_convert("UTC")


def _market_keys(frame: pd.DataFrame, market: str) -> NDArray[np.object_]:
    """Market of each row: the column ``market`` if the frame has one, else ``market`` itself."""
    if market in frame.columns:
        return frame[market].astype(str).to_numpy(dtype=object)
    return np.full(len(frame), market, dtype=object)


def _day_grid(day_starts: pd.DatetimeIndex, tz: str) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Every local day from the first to the last of ``day_starts``: (starts, ends), UTC instants."""
    first, last = day_starts.min(), day_starts.max()
    # A local day lasts 23 to 25 h, so [first, last + 25.5 h) overlaps exactly the days up to the next one.
    edges = local_day_start_utc(local_days(first, last + pd.Timedelta(hours=25.5), tz), tz)
    return edges[:-1], edges[1:]


def rolling_metrics(
    frame: pd.DataFrame,
    actual: str,
    models: Sequence[str],
    *,
    time_col: str | None = None,
    market: str = "",
    window_days: int = 28,
    tz: str = "UTC",
) -> pd.DataFrame:
    """MAE and rMAE over the trailing ``window_days`` days, at the end of every day.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per delivery period (and market) with the actual and the forecast columns.
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str
        Forecast columns  [price unit].
    time_col : str, optional
        Column of delivery timestamps; default the frame's DatetimeIndex.
    market : str
        A column identifying the market (the weekly naive and the windows are built per market); if the
        frame has no such column, the name of the one market of the whole frame (e.g. ``"NP"``).
    window_days : int
        Window length  [days].
    tz : str
        Time zone of the market days; naive timestamps are read as wall-clock times in it (the epftoolbox
        files have no DST shifts, so ``"UTC"`` keeps their days).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ROLLING_COLUMNS`: ``window_start_utc`` / ``window_end_utc`` (the window
        ``[start, end)``, the end being the end of the evaluated day), ``n_obs`` [periods], ``mae`` and
        ``naive_mae`` [price unit], ``rmae`` [-]. One row per market, model and day whose window is full.
    """
    if window_days < 1:
        raise MonitorError(f"window_days must be >= 1, got {window_days}")
    if actual not in frame.columns:
        raise MonitorError(f"no actual column {actual!r}; columns found: {_columns_found(frame)}")
    missing = [m for m in models if m not in frame.columns]
    if missing:
        raise MonitorError(f"no model column(s) {missing}; columns found: {_columns_found(frame)}")
    if not models:
        raise MonitorError(f"no model columns to check; columns found: {_columns_found(frame)}")
    if frame.empty:
        raise MonitorError("the frame has no rows: nothing to check")
    instants = _instants(frame, time_col, tz)
    markets = _market_keys(frame, market)
    day_start = local_day_start_utc(instants, tz)
    pieces: list[pd.DataFrame] = []
    for name in pd.unique(markets):
        rows = np.flatnonzero(markets == name)
        stamps = instants[rows]
        y = frame[actual].to_numpy(dtype=np.float64)[rows]
        naive = seasonal_naive(pd.Series(y, index=stamps)).to_numpy()
        days = day_start[rows]
        starts, ends = _day_grid(days, tz)
        if len(starts) < window_days:
            continue  # no full window in this market
        for model in models:
            terms = point_terms(y, frame[model].to_numpy(dtype=np.float64)[rows], naive)
            daily = (
                pd.DataFrame({k: terms[k] for k in _SUMS}, index=days)
                .groupby(level=0)
                .sum()
                .reindex(starts, fill_value=0.0)
            )
            window = daily.rolling(window_days, min_periods=window_days).sum()
            window = window.iloc[window_days - 1 :]
            n = window["n"].to_numpy()
            n_naive = window["n_naive"].to_numpy()
            mae = np.divide(window["sum_abs_error"].to_numpy(), n, out=np.full(n.shape, np.nan), where=n > 0)
            naive_mae = np.divide(
                window["sum_abs_naive_error"].to_numpy(),
                n_naive,
                out=np.full(n.shape, np.nan),
                where=n_naive > 0,
            )
            rmae = np.divide(mae, naive_mae, out=np.full(n.shape, np.nan), where=naive_mae > 0)
            pieces.append(
                pd.DataFrame(
                    {
                        "market": str(name),
                        "model": model,
                        "window_start_utc": starts[: len(starts) - window_days + 1],
                        "window_end_utc": ends[window_days - 1 :],
                        "n_obs": n.astype(np.int64),
                        "mae": mae,
                        "naive_mae": naive_mae,
                        "rmae": rmae,
                    }
                )
            )
    if not pieces or all(p.empty for p in pieces):
        span = f"{instants.min()} .. {instants.max()}"
        raise MonitorError(f"the data ({span}) is shorter than one window of {window_days} days")
    out = pd.concat([p for p in pieces if not p.empty], ignore_index=True)
    return out[out["n_obs"] > 0].reset_index(drop=True).reindex(columns=list(ROLLING_COLUMNS))


def rolling_checks(
    frame: pd.DataFrame,
    actual: str,
    models: Sequence[str],
    *,
    time_col: str | None = None,
    market: str = "",
    window_days: int = 28,
    rmae_threshold: float = 1.0,
    mae_ratio_threshold: float = 1.3,
    baseline_days: int = 90,
    latest_only: bool = False,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Run the accuracy checks per model and market at each day end (or only the latest).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per delivery period (and market) with the actual and the forecast columns.
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str
        Forecast columns  [price unit].
    time_col : str, optional
        Column of delivery timestamps; default the frame's DatetimeIndex.
    market : str
        A column identifying the market, or the market's name when the frame has no such column.
    window_days : int
        Trailing window of both checks  [days].
    rmae_threshold : float
        rMAE above which the ``rmae`` check breaches  [-].
    mae_ratio_threshold : float
        Ratio of the window MAE to the baseline median above which ``mae_ratio`` breaches  [-].
    baseline_days : int
        Number of previous day ends whose window MAEs make the baseline median  [days].
    latest_only : bool
        Keep only the last day end of each market.
    tz : str
        Time zone of the market days; naive timestamps are read as wall-clock times in it.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHECK_COLUMNS`: ``observed`` (rMAE or MAE ratio) and ``threshold`` [-], ``status``
        ``"ok"`` or ``"breach"`` (``observed > threshold``), ``mae`` [price unit] of the window,
        ``reference_mae`` [price unit] (the naive's MAE for ``rmae``, the baseline median for
        ``mae_ratio``), ``window_days`` [days]. Sorted by window end, market, model and check.
    """
    if baseline_days < 1:
        raise MonitorError(f"baseline_days must be >= 1, got {baseline_days}")
    for what, value in (("rmae_threshold", rmae_threshold), ("mae_ratio_threshold", mae_ratio_threshold)):
        if not (np.isfinite(value) and value > 0):
            raise MonitorError(f"{what} must be a positive number, got {value}")
    rolling = rolling_metrics(
        frame, actual, models, time_col=time_col, market=market, window_days=window_days, tz=tz
    )
    pieces: list[pd.DataFrame] = []
    for _, unsorted in rolling.groupby(["market", "model"], sort=False):
        grp = unsorted.sort_values("window_end_utc")
        base = {
            "model": grp["model"].to_numpy(),
            "market": grp["market"].to_numpy(),
            "window_start_utc": grp["window_start_utc"].to_numpy(),
            "window_end_utc": grp["window_end_utc"].to_numpy(),
            "mae": grp["mae"].to_numpy(),
            "window_days": window_days,
        }
        pieces.append(
            pd.DataFrame(
                {
                    **base,
                    "check": "rmae",
                    "observed": grp["rmae"].to_numpy(),
                    "threshold": rmae_threshold,
                    "reference_mae": grp["naive_mae"].to_numpy(),
                }
            )
        )
        # The baseline: the median window MAE of the previous `baseline_days` day ends (calendar days, so
        # a day without a window MAE leaves the baseline incomplete and the check undefined).
        mae = grp.set_index("window_end_utc")["mae"]
        calendar = mae.reindex(
            pd.DatetimeIndex(
                local_day_start_utc(
                    local_days(mae.index.min(), mae.index.max() + pd.Timedelta(hours=1), tz), tz
                )
            )
        )
        baseline = calendar.shift(1).rolling(baseline_days, min_periods=baseline_days).median()
        median = baseline.reindex(mae.index).to_numpy()
        ratio = np.divide(
            mae.to_numpy(),
            median,
            out=np.full(median.shape, np.nan),
            where=np.isfinite(median) & (median > 0),
        )
        pieces.append(
            pd.DataFrame(
                {
                    **base,
                    "check": "mae_ratio",
                    "observed": ratio,
                    "threshold": mae_ratio_threshold,
                    "reference_mae": median,
                }
            )
        )
    checks = pd.concat(pieces, ignore_index=True)
    checks = checks[np.isfinite(checks["observed"].to_numpy(dtype=np.float64))]
    if latest_only:
        last = checks.groupby("market")["window_end_utc"].transform("max")
        checks = checks[checks["window_end_utc"] == last]
    checks = checks.assign(
        status=np.where(checks["observed"] > checks["threshold"], "breach", "ok"),
        check=pd.Categorical(checks["check"], categories=list(CHECKS), ordered=True),
    )
    checks = checks.sort_values(["window_end_utc", "market", "model", "check"], kind="stable")
    checks["check"] = checks["check"].astype(str)
    checks["window_days"] = checks["window_days"].astype(np.int64)
    out: pd.DataFrame = checks.reindex(columns=list(CHECK_COLUMNS)).reset_index(drop=True)
    return out


def alert_id(model: str, market: str, check: str, window_end_utc: pd.Timestamp) -> str:
    """Deterministic alert id: UUID5 of model, market, check and the window end's date (UTC).

    Parameters
    ----------
    model, market, check : str
        What breached.
    window_end_utc : pandas.Timestamp
        End of the checked window (tz-aware).

    Returns
    -------
    str
        The UUID in its canonical text form.
    """
    day = pd.Timestamp(window_end_utc).strftime("%Y-%m-%d")
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{model}\x1f{market}\x1f{check}\x1f{day}"))


def _describe(row: Any) -> tuple[str, str, str]:
    """(severity, title, message) of one breach row."""
    who = f"{row.model} {row.market}".strip()
    days = int(row.window_days)
    last_day = (pd.Timestamp(row.window_end_utc) - pd.Timedelta(hours=1)).strftime("%Y-%m-%d")
    first_day = pd.Timestamp(row.window_start_utc).strftime("%Y-%m-%d")
    critical = float(row.observed) > CRITICAL[row.check]
    severity = "critical" if critical else "warning"
    if row.check == "rmae":
        title = f"{who}: rMAE {row.observed:.2f} over the last {days} days (threshold {row.threshold:.2f})"
        message = (
            f"Over {first_day} .. {last_day} ({days} days) the MAE of {row.model} is {row.mae:.3f}, the "
            f"weekly seasonal naive's {row.reference_mae:.3f}: rMAE {row.observed:.3f} > "
            f"{row.threshold:.2f}, the model does worse than the price of the same hour a week earlier "
            f"(critical above {CRITICAL['rmae']:.2f}). Right would be an rMAE below {row.threshold:.2f}."
        )
    else:
        title = (
            f"{who}: MAE {row.mae:.2f} is {row.observed:.2f}x its usual {row.reference_mae:.2f} over the "
            f"last {days} days (threshold {row.threshold:.2f}x)"
        )
        message = (
            f"Over {first_day} .. {last_day} ({days} days) the MAE of {row.model} is {row.mae:.3f}, "
            f"{row.observed:.3f} times the median {days}-day MAE of the previous day ends "
            f"({row.reference_mae:.3f}); threshold {row.threshold:.2f}x (critical above "
            f"{CRITICAL['mae_ratio']:.2f}x)."
        )
    return severity, title, message


def alerts_from_checks(
    checks: pd.DataFrame, run_id: str = "", *, now: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Turn the breaches of :func:`rolling_checks` into rows of the ``alerts`` table.

    Parameters
    ----------
    checks : pandas.DataFrame
        Output of :func:`rolling_checks`; the ``ok`` rows are ignored.
    run_id : str
        Run that raised the alerts.
    now : pandas.Timestamp, optional
        ``updated_at_utc`` of the rows (the ReplacingMergeTree version); default the current time.

    Returns
    -------
    pandas.DataFrame
        The ``alerts`` columns: ``alert_id`` (:func:`alert_id`), ``category`` ``"forecast_accuracy"``,
        ``severity`` ``"warning"`` or ``"critical"`` (rMAE above 1.5, MAE ratio above 2), ``raised_at_utc``
        (the window end: when the breach became observable), ``table_name`` ``"forecasts"``, ``market``,
        ``location`` ``""``, ``title``, ``message``, ``status`` ``"open"``, ``run_id``, ``updated_at_utc``.
        No rows if nothing breached.
    """
    missing = [c for c in CHECK_COLUMNS if c not in checks.columns]
    if missing:
        raise MonitorError(
            f"not a rolling_checks table: missing {missing}; columns found: {_columns_found(checks)}"
        )
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if stamp.tzinfo is None:
        raise MonitorError(f"now must be tz-aware, got {stamp}")
    breaches = checks[checks["status"] == "breach"]
    rows = []
    for row in breaches.itertuples(index=False):
        severity, title, message = _describe(row)
        window_end: Any = row.window_end_utc
        rows.append(
            {
                "alert_id": alert_id(str(row.model), str(row.market), str(row.check), window_end),
                "category": CATEGORY,
                "severity": severity,
                "raised_at_utc": pd.Timestamp(window_end),
                "table_name": "forecasts",
                "market": str(row.market),
                "location": "",
                "title": title,
                "message": message,
                "status": "open",
                "run_id": run_id,
                "updated_at_utc": stamp,
            }
        )
    columns = list(TABLES["alerts"].column_names)
    out = pd.DataFrame(rows, columns=columns)
    for col in ("raised_at_utc", "updated_at_utc"):
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[ms, UTC]")
    for col in (c for c in columns if not c.endswith("_utc")):
        out[col] = out[col].astype(str)
    return out


def write_alerts(client: Any, alerts: pd.DataFrame, *, database: str | None = None) -> int:
    """Insert alert rows into the store's ``alerts`` table; writing the same alerts again is harmless.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store client (:func:`marketintel.store.connect`).
    alerts : pandas.DataFrame
        Rows from :func:`alerts_from_checks`.
    database : str, optional
        Database of the table (default: the client's).

    Returns
    -------
    int
        Rows written; 0 (and no request) when ``alerts`` is empty.
    """
    validate_frame(TABLES["alerts"], alerts)
    if alerts.empty:
        return 0
    return insert_df(client, "alerts", alerts, database=database)


__all__ = [
    "CHECKS",
    "CHECK_COLUMNS",
    "ROLLING_COLUMNS",
    "MonitorError",
    "alert_id",
    "alerts_from_checks",
    "rolling_checks",
    "rolling_metrics",
    "write_alerts",
]
