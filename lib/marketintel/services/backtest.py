"""Run a backtest and store it (forecasts, ``backtest_runs``, ``backtest_metrics``); score a forecast file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketintel.exceptions import MarketIntelError

#: the actual's column in forecast frames (as in the published forecast files)
ACTUAL = "Real price"
#: groupings stored in ``backtest_metrics`` (``none`` is stored as ``all``)
METRIC_GROUPINGS: tuple[str, ...] = ("none", "hour")


@dataclass
class BacktestOutcome:
    """A finished (or resumed) backtest: what ran, its forecasts against the actuals, and its metrics.

    Attributes
    ----------
    run_id : str
        ``backtest_runs.run_id`` (derived from the specification: the same spec resumes the same run).
    market, location : str
        What was forecast.
    models : list of str
        Forecast columns of ``frame`` (an ensemble's members, then the ensemble).
    frame : pd.DataFrame
        Index: delivery hours (market clock, tz-naive); ``Real price`` and one column per model
        [price unit].
    metrics : pd.DataFrame
        Tidy metrics (:func:`marketintel.backtest.metrics.metrics_table`) overall and by hour of day.
    unit : str
        Price unit.
    data : str
        Where the history came from, with its fingerprint.
    clock : str
        The delivery hours' clock, in words.
    days_forecast, days_skipped, recalibrations : int
        Days forecast now, days found already written (resumed), model refits.
    seconds : float
        Run time [s].
    stored_metrics : int
        ``backtest_metrics`` rows written (0 when not stored).
    csv : Path or None
        The forecast file written, if asked.
    """

    run_id: str
    market: str
    location: str
    models: list[str]
    frame: pd.DataFrame
    metrics: pd.DataFrame
    unit: str
    data: str
    clock: str
    days_forecast: int = 0
    days_skipped: int = 0
    recalibrations: int = 0
    seconds: float = 0.0
    stored_metrics: int = 0
    csv: Path | None = None
    notes: list[str] = field(default_factory=list)


class _MemorySink:
    """Forecasts kept in memory (when nothing is stored or written)."""

    def __init__(self) -> None:
        self.rows: dict[pd.Timestamp, dict[str, float]] = {}

    def done_days(self, candidates: dict[pd.Timestamp, pd.DatetimeIndex], n_models: int) -> set[pd.Timestamp]:
        return set()

    def write(self, day: pd.Timestamp, hours_utc: pd.DatetimeIndex, issue_time: pd.Timestamp,
              forecasts: dict[str, np.ndarray], actual: np.ndarray) -> None:  # fmt: skip
        for k, hour in enumerate(hours_utc):
            self.rows[pd.Timestamp(hour)] = {name: float(v[k]) for name, v in forecasts.items()}

    def close(self, status: str, message: str) -> None:
        """Nothing to finish."""

    def frame(self) -> pd.DataFrame:
        """Return the forecasts, one column per model, indexed by UTC hour."""
        out = pd.DataFrame.from_dict(self.rows, orient="index")
        out.index = pd.DatetimeIndex(out.index).tz_convert("UTC")
        return out


def _csv_frame(path: Path, models: list[str], start: str, days: int) -> pd.DataFrame:
    """Return the target days of a forecast file (the actual and the models' columns)."""
    from marketintel.backtest.scoring import read_forecast_file

    written = read_forecast_file(path)
    first = pd.Timestamp(start)
    stamps = pd.DatetimeIndex(written.index)
    keep = (stamps >= first) & (stamps < first + pd.Timedelta(days=days))
    return written.loc[keep, [ACTUAL, *models]]


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _pool(workers: int) -> Any:
    """Return a process pool for LEAR's per-hour fits (spawned workers), or None for one worker."""
    if workers <= 1:
        return None
    import concurrent.futures as cf
    import multiprocessing as mp

    from marketintel.forecast.lear import worker_init

    return cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=worker_init
    )


def _stored_forecasts(client: Any, run_id: str) -> pd.DataFrame:
    """Return a run's stored forecasts, one column per model, indexed by UTC hour."""
    rows: pd.DataFrame = client.query_df(
        "SELECT model, interval_start_utc, value FROM forecasts FINAL WHERE run_id = {r:String}",
        parameters={"r": run_id},
    )
    if rows.empty:
        return pd.DataFrame()
    wide: pd.DataFrame = rows.pivot_table(
        index="interval_start_utc", columns="model", values="value", aggfunc="last"
    )
    wide.index = pd.DatetimeIndex(wide.index).tz_convert("UTC")
    return wide


def _frame(panel: Any, first: int, days: int, models: list[str], forecasts: pd.DataFrame) -> pd.DataFrame:
    """Return actual and forecasts of the target days, indexed by market-clock delivery hour."""
    local, utc, actual = [], [], []
    for t in range(first, first + days):
        local.append(pd.date_range(pd.Timestamp(panel.days[t]), periods=24, freq="h"))
        utc.append(pd.DatetimeIndex(panel.hour_starts_utc(t)).tz_convert("UTC"))
        actual.append(np.asarray(panel.series["price"][t], dtype=float))
    hours = pd.DatetimeIndex(utc[0].append(utc[1:])).as_unit("ms")
    out = pd.DataFrame({ACTUAL: np.concatenate(actual)}, index=pd.DatetimeIndex(np.concatenate(local)))
    if len(forecasts):
        forecasts = forecasts.set_axis(pd.DatetimeIndex(forecasts.index).as_unit("ms"))
    aligned = forecasts.reindex(hours)
    for name in models:
        out[name] = aligned[name].to_numpy(dtype=float) if name in aligned.columns else np.nan
    return out


def metrics_rows(
    metrics: pd.DataFrame, *, run_id: str, market: str, location: str, unit: str, benchmark: str = ""
) -> pd.DataFrame:
    """Return tidy metrics as ``backtest_metrics`` rows (a unit per metric; overall rows grouped ``all``)."""
    units = {"MAE": unit, "RMSE": unit, "MAPE": "%", "WAPE": "%", "sMAPE": "%"}
    rows = metrics[np.isfinite(metrics["value"].to_numpy(dtype=float))]
    return pd.DataFrame(
        {
            "run_id": run_id,
            "model": rows["model"].astype(str).to_numpy(),
            "market": market,
            "location": location,
            "variable": "price",
            "metric": rows["metric"].astype(str).to_numpy(),
            "group_by": rows["group_by"].replace({"none": "all"}).astype(str).to_numpy(),
            "group_value": rows["group_value"].astype(str).to_numpy(),
            "benchmark": benchmark,
            "value": rows["value"].to_numpy(dtype=float),
            "unit": [units.get(m, "1") for m in rows["metric"]],
            "n_obs": rows["n_obs"].to_numpy(dtype=np.uint64),
            "published_at_utc": pd.Timestamp.now(tz="UTC"),
        }
    )


@dataclass(frozen=True)
class History:
    """A market's price history with publication times, ready for a backtest.

    Attributes
    ----------
    panel : DailyPanel
        Days x 24 hours of prices (and exogenous series) with their publication instants.
    source : str
        Where it came from, with a fingerprint (file name and sha256 prefix, or the store series).
    location : str
        The location label.
    unit : str
        Price unit.
    clock : str
        The delivery hours' clock, in words.
    """

    panel: Any
    source: str
    location: str
    unit: str
    clock: str


def load_history(
    market: str,
    *,
    data: str | Path | None = None,
    from_store: str | None = None,
    tz: str | None = None,
    exog: Sequence[str] = (),
    location: str | None = None,
    client: Any = None,
) -> History:
    """Read a market's history from an epftoolbox CSV (default: the shared one) or from the store.

    Parameters are those of :func:`run_and_store_backtest`; ``client`` is needed for ``from_store``.

    Raises
    ------
    MarketIntelError
        When the file is missing, or ``from_store`` is not ``MARKET/LOCATION`` with a ``tz``.
    """
    from marketintel import config
    from marketintel.forecast.data import panel_from_epftoolbox

    if from_store is not None:
        from marketintel.forecast.store import panel_from_store

        market_name, _, loc = from_store.partition("/")
        if not loc or not tz or client is None:
            raise MarketIntelError(
                "from_store expects MARKET/LOCATION, a tz (the delivery days' zone) and a store"
            )
        panel = panel_from_store(client, market_name, loc, list(exog), tz)
        unit = panel.units.get("price", "")
        return History(panel, f"store:{market_name}/{loc}:{','.join(exog)}", loc, unit, panel.tz)
    path = Path(data) if data else config.shared_dir() / "datasets" / "epftoolbox" / f"{market}.csv"
    if not path.is_file():
        raise MarketIntelError(f"no dataset at {path} (give data=..., or set MI_SHARED_DIR)")
    panel = panel_from_epftoolbox(path, market)
    offset = pd.Timestamp("2020-01-01", tz=panel.tz).strftime("%z")
    clock = f"market time, UTC{offset[:3]}:{offset[3:]} all year"
    source = f"{path.name}@{_fingerprint(path)}"
    return History(panel, source, location or market, panel.units.get("price", ""), clock)


def run_and_store_backtest(
    market: str,
    model: str,
    start: str,
    days: int,
    *,
    window: int | None = 1456,
    data: str | Path | None = None,
    from_store: str | None = None,
    tz: str | None = None,
    exog: Sequence[str] = (),
    location: str | None = None,
    recalibrate_every: int = 1,
    horizon_days: int = 1,
    store: bool = True,
    out_csv: str | Path | None = None,
    out_dir: str | Path | None = None,
    benchmark: str = "",
    workers: int = 1,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestOutcome:
    """Run (or resume) a rolling-origin backtest, store its forecasts, run row and metrics; return them.

    Parameters
    ----------
    market : str
        Market name (``NP``, ``PJM``, ...; the epftoolbox dataset's name by default).
    model : str
        A registered model (:func:`marketintel.forecast.models.make_model`).
    start : str
        First target delivery day (``YYYY-MM-DD``).
    days : int
        Number of target days.
    window : int, optional
        LEAR calibration window [days].
    data : str or Path, optional
        An epftoolbox dataset CSV. Default, without ``from_store``: ``$MI_SHARED_DIR/datasets/epftoolbox/
        <market>.csv``.
    from_store : str, optional
        ``MARKET/LOCATION``: the history from the store's ``prices`` (and ``exog`` fundamentals), with
        their publication times; needs ``tz``.
    tz : str, optional
        Time zone of the delivery days when reading the store.
    exog : sequence of str
        Fundamentals variables used as exogenous inputs (store history).
    location : str, optional
        Location label of a file history (default: the market).
    recalibrate_every : int
        Recalibration cadence [days].
    horizon_days : int
        Days forecast at each issue.
    store : bool
        Write ``forecasts``, ``backtest_runs`` and ``backtest_metrics`` (overall and by hour).
    out_csv : str or Path, optional
        Also write the forecasts in the published forecast-file layout (day-ahead only).
    out_dir : str or Path, optional
        Like ``out_csv``, to ``<out_dir>/backtest_<market>_<model>_<start>_<days>d_<run id[:8]>.csv``.
    benchmark : str
        Benchmark model recorded with the run.
    workers : int
        Processes for LEAR's hourly fits.
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store` when storing or reading the store.
    progress : callable, optional
        Receives progress lines.

    Raises
    ------
    MarketIntelError
        On a missing dataset, a period outside the data, or a bad combination of parameters.
    """
    from marketintel.backtest.engine import BacktestSpec, CsvSink, StoreSink, run_backtest
    from marketintel.backtest.metrics import metrics_table
    from marketintel.forecast.models import Ensemble, make_model, model_spec
    from marketintel.store import insert_df

    if data is not None and from_store is not None:
        raise MarketIntelError("give a dataset file (data=...) or a store series (from_store=...), not both")
    if (out_csv is not None or out_dir is not None) and horizon_days != 1:
        raise MarketIntelError("the published-forecast CSV layout holds day-ahead forecasts only")
    if (store or from_store) and client is None:
        from marketintel.services.store import ensure_store

        client = ensure_store().client
    history = load_history(
        market, data=data, from_store=from_store, tz=tz, exog=exog, location=location, client=client
    )
    panel, source, location, unit, clock = (
        history.panel,
        history.source,
        history.location,
        history.unit,
        history.clock,
    )
    pool = _pool(workers) if model_spec(model).takes_pool else None
    try:
        forecaster = make_model(model, window, pool)
        spec = BacktestSpec(
            market, location, model, window, start, days, recalibrate_every, horizon_days, source
        )
        run_id = spec.run_id()
        if out_dir is not None:
            out_csv = Path(out_dir) / f"backtest_{market}_{model}_{start}_{days}d_{run_id[:8]}.csv"
        names = (
            [m.name for m in forecaster.members] + [forecaster.name]
            if isinstance(forecaster, Ensemble)
            else [forecaster.name]
        )
        sinks: list[Any] = []
        if out_csv is not None:
            sinks.append(CsvSink(Path(out_csv), names))
        if store:
            settings = {
                "spec": spec.__dict__,
                "model": forecaster.parameters(),
                "model_name": forecaster.name,
                "benchmark": benchmark,
            }
            sinks.append(StoreSink(client, spec, run_id, settings, unit))
        memory = _MemorySink()
        if not sinks:
            sinks.append(memory)
        if progress:
            progress(f"backtest {run_id}: {forecaster.name} on {market}/{location}, {days} days from {start}")
        result = run_backtest(panel, forecaster, spec, sinks, progress=progress)
    finally:
        if pool is not None:
            pool.shutdown()
    first = panel.day(start)
    if store:
        frame = _frame(panel, first, days, names, _stored_forecasts(client, run_id))
    elif out_csv is not None:
        frame = _csv_frame(Path(out_csv), names, start, days)
    else:
        frame = _frame(panel, first, days, names, memory.frame())
    metrics = metrics_table(frame, ACTUAL, names, by=list(METRIC_GROUPINGS))
    outcome = BacktestOutcome(
        run_id, market, location, names, frame, metrics, unit, source, clock, result.days_forecast,
        result.days_skipped, result.recalibrations, result.seconds,
        csv=Path(out_csv) if out_csv is not None else None,
    )  # fmt: skip
    if store:
        rows = metrics_rows(metrics, run_id=run_id, market=market, location=location, unit=unit,
                            benchmark=benchmark)  # fmt: skip
        outcome.stored_metrics = insert_df(client, "backtest_metrics", rows)
    return outcome


def score_forecast_file(
    path: str | Path,
    actual: str = ACTUAL,
    models: Sequence[str] | None = None,
    *,
    by: str = "none",
    mase_scale: float | None = None,
) -> pd.DataFrame:
    """Score the models of a forecast file (MAE, rMAE, sMAPE, RMSE, MAPE, WAPE, MASE).

    Parameters
    ----------
    path : str or Path
        A forecast file: hour stamps, the actual and one column per model.
    actual : str
        The actual's column [price unit].
    models : sequence of str, optional
        Model columns (default: every other column).
    by : {"none", "hour", "month"}
        Overall, or per hour of day / calendar month.
    mase_scale : float, optional
        In-sample naive MAE for MASE [price unit].

    Returns
    -------
    pd.DataFrame
        One row per model (and group); columns as :data:`marketintel.backtest.scoring.SCORE_COLUMNS`.
    """
    from marketintel.backtest.scoring import read_forecast_file, score_frame

    return score_frame(read_forecast_file(path), actual, models, by=by, mase_scale=mase_scale)
