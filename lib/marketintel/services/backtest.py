"""Run a backtest and store it; read stored runs back for the accuracy page; score a forecast file.

A stored backtest (:func:`run_and_store_backtest`) is: its forecasts in ``forecasts`` (``run_id`` set), the
actual prices it was scored against (also in ``forecasts``, model :data:`ACTUAL_MODEL`, statistic
:data:`ACTUAL_STATISTIC`, from :data:`LEAD_IN_DAYS` days before the first target day, so that the weekly
naive exists for every forecast), one ``backtest_runs`` row per status (its ``config`` JSON holds the
specification, the market's zone ``tz`` and, once the backtest flow exported it, the ``report``), and the
metrics in ``backtest_metrics`` (overall and by hour of day).

The reads for the accuracy page (:func:`accuracy_runs`, :func:`run_frame`, :func:`grouped_metrics`,
:func:`rolling_accuracy`, :func:`pairwise_pvalues`, :func:`forecast_week`, :func:`report_path`) return
frames; the page holds no SQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from marketintel.exceptions import MarketIntelError

#: the actual's column in forecast frames (as in the published forecast files)
ACTUAL = "Real price"
#: groupings stored in ``backtest_metrics`` (``none`` is stored as ``all``)
METRIC_GROUPINGS: tuple[str, ...] = ("none", "hour")
#: ``forecasts.model`` / ``forecasts.statistic`` of the actual prices a backtest was scored against
ACTUAL_MODEL = "actual"
ACTUAL_STATISTIC = "observed"
#: days of actuals stored before the first target day: the weekly naive's lag  [days]
LEAD_IN_DAYS = 7
#: the weekly seasonal naive (same hour one week earlier) as a competitor on the accuracy page
NAIVE = "naive (same hour last week)"
#: groupings the accuracy page offers: what they are called on an axis and their unit
GROUPINGS: dict[str, tuple[str, str]] = {
    "hour": ("hour of day", "h"),
    "month": ("month", "YYYY-MM"),
    "horizon": ("horizon: target day after the issue", "days"),
}


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
                "tz": str(panel.tz),
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
        actuals = actual_rows(
            panel, max(first - LEAD_IN_DAYS, 0), first + days, market=market, location=location, unit=unit,
            run_id=run_id,
        )  # fmt: skip
        insert_df(client, "forecasts", actuals)
    return outcome


def actual_rows(
    panel: Any, first: int, stop: int, *, market: str, location: str, unit: str, run_id: str
) -> pd.DataFrame:
    """Return the actual prices of days ``first`` to ``stop - 1`` of ``panel`` as ``forecasts`` rows.

    Parameters
    ----------
    panel : DailyPanel
        The backtest's history.
    first, stop : int
        Day positions in the panel (``stop`` excluded).
    market, location, unit : str
        The target, as the run's forecasts.
    run_id : str
        The run that stored them (the rows are shared by every run on the same market and location: the
        table's key has no run).

    Returns
    -------
    pandas.DataFrame
        ``forecasts`` rows with ``model`` :data:`ACTUAL_MODEL`, ``statistic`` :data:`ACTUAL_STATISTIC` and
        ``issue_time_utc`` the end of the hour (when the price is known at the earliest)  [price unit].
    """
    hours = [pd.DatetimeIndex(panel.hour_starts_utc(t)).tz_convert("UTC") for t in range(first, stop)]
    starts = pd.DatetimeIndex(hours[0].append(hours[1:])) if hours else pd.DatetimeIndex([], tz="UTC")
    values = np.concatenate([np.asarray(panel.series["price"][t], dtype=float) for t in range(first, stop)])
    ends = starts + pd.Timedelta(hours=1)
    rows = pd.DataFrame(
        {
            "model": ACTUAL_MODEL, "market": market, "location": location, "variable": "price",
            "statistic": ACTUAL_STATISTIC, "issue_time_utc": ends, "interval_start_utc": starts,
            "interval_end_utc": ends, "value": values, "unit": unit, "run_id": run_id,
            "published_at_utc": pd.Timestamp.now(tz="UTC"),
        }
    )  # fmt: skip
    finite: pd.DataFrame = rows[np.isfinite(values)].reset_index(drop=True)
    return finite


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


# --------------------------------------------------------------------------------------------------------
# The report of a run
# --------------------------------------------------------------------------------------------------------
def _config(run: Any) -> dict[str, Any]:
    """Return a ``backtest_runs`` row's ``config`` JSON as a dict ({} when it is not JSON)."""
    import json

    try:
        value = json.loads(str(run["config"] or "{}"))
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def record_report(client: Any, run_id: str, report: str | Path, *, database: str | None = None) -> bool:
    """Record where the HTML report of a run is: its ``backtest_runs`` row again, ``config["report"]`` set.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store (writer).
    run_id : str
        ``backtest_runs.run_id``.
    report : str or Path
        The report's HTML file (absolute), or a pattern of its name (``*`` in the file name, see
        :func:`flow_report_pattern`) when the file is written after the run is recorded.
    database : str, optional
        Database of the tables. Default: the client's.

    Returns
    -------
    bool
        Whether the run was found (nothing is written otherwise).
    """
    import json

    from marketintel.services import queries
    from marketintel.store import insert_df

    runs = queries.backtest_runs(client, run_ids=run_id, database=database, limit=1)
    if runs.empty:
        return False
    row = runs.iloc[[0]].copy()
    config = {**_config(row.iloc[0]), "report": str(Path(report).absolute())}
    row["config"] = json.dumps(config, sort_keys=True, default=str)
    row["published_at_utc"] = pd.Timestamp.now(tz="UTC")
    insert_df(client, "backtest_runs", row.reset_index(drop=True), database=database)
    return True


def report_path(client: Any, run_id: str, *, database: str | None = None) -> Path | None:
    """Return the HTML report recorded for a run (:func:`record_report`), or None.

    A recorded pattern resolves to the newest file it matches (the pattern itself when none does yet).

    Raises
    ------
    MarketIntelError
        If the store does not answer.
    """
    from marketintel.services import queries

    runs = queries.backtest_runs(client, run_ids=run_id, database=database, limit=1)
    if runs.empty:
        return None
    recorded = str(_config(runs.iloc[0]).get("report") or "")
    if not recorded:
        return None
    path = Path(recorded)
    if "*" not in path.name:
        return path
    found = sorted(path.parent.glob(path.name), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else path


# --------------------------------------------------------------------------------------------------------
# Reads of the accuracy page
# --------------------------------------------------------------------------------------------------------
#: overall metrics shown per run and model in the runs table, with their units' source
OVERVIEW_METRICS: tuple[str, ...] = ("MAE", "rMAE", "sMAPE", "RMSE")


def run_zone(run: Any) -> str:
    """Return the market zone of a ``backtest_runs`` row: config ``tz``, else the dataset's, else UTC."""
    from marketintel.forecast.data import EPFTOOLBOX_TZ

    return str(_config(run).get("tz") or EPFTOOLBOX_TZ.get(str(run["market"]), "UTC"))


def accuracy_runs(client: Any, *, database: str | None = None, limit: int = 500) -> pd.DataFrame:
    """Return the stored backtest runs, newest first, one row per run and model, with overall metrics.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    database : str, optional
        Database of the tables. Default: the client's.
    limit : int
        Most runs [runs].

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id``, ``market``, ``location``, ``model`` (the run's model or ensemble member),
        ``status``, ``first_day`` / ``last_day`` (target days, ``YYYY-MM-DD``), ``MAE``, ``rMAE``,
        ``sMAPE``, ``RMSE`` (stored overall metrics; NaN where not stored), ``unit`` (of MAE and RMSE),
        ``tz`` (the market's zone), ``report`` (recorded HTML report, ``""`` if none),
        ``started_at_utc``. Empty (with these columns) when no run is stored.
    """
    from marketintel.services import queries

    columns = ["run_id", "market", "location", "model", "status", "first_day", "last_day", *OVERVIEW_METRICS,
               "unit", "tz", "report", "started_at_utc"]  # fmt: skip
    runs = queries.backtest_runs(client, database=database, limit=limit)
    if runs.empty:
        return pd.DataFrame(columns=columns)
    metrics = queries.backtest_metrics(
        client, runs["run_id"].astype(str).tolist(), group_by="all", database=database
    )
    wide = (
        metrics.pivot_table(index=["run_id", "model"], columns="metric", values="value", aggfunc="last")
        if not metrics.empty
        else pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=["run_id", "model"]))
    )
    units = (
        metrics[metrics["metric"] == "MAE"].groupby("run_id")["unit"].last()
        if not metrics.empty
        else pd.Series()
    )
    rows = []
    stored: dict[tuple[str, str], dict[str, float]] = {
        (str(key[0]), str(key[1])): {str(m): float(v) for m, v in values.items()}
        for key, values in cast(dict[tuple[Any, Any], dict[Any, Any]], wide.to_dict("index")).items()
    }
    run: dict[str, Any]
    for run in runs.to_dict("records"):  # type: ignore[assignment]
        run_id = str(run["run_id"])
        config = _config(run)
        models = [m for (r, m) in stored if r == run_id] or [str(run["model"])]
        first = pd.Timestamp(run["issue_start_utc"]).tz_convert("UTC") + pd.Timedelta(days=1)
        last = pd.Timestamp(run["issue_end_utc"]).tz_convert("UTC")
        for model in models:
            values = stored.get((run_id, model), {})
            rows.append(
                {
                    "run_id": run_id, "market": str(run["market"]), "location": str(run["location"]),
                    "model": model, "status": str(run["status"]), "first_day": f"{first:%Y-%m-%d}",
                    "last_day": f"{last:%Y-%m-%d}",
                    **{m: values.get(m, np.nan) for m in OVERVIEW_METRICS},
                    "unit": str(units.get(run_id, "")), "tz": run_zone(run),
                    "report": str(config.get("report") or ""), "started_at_utc": run["started_at_utc"],
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


class NoActualsError(MarketIntelError, LookupError):
    """A stored run has forecasts but no stored actual prices (it ran before backtests stored them)."""


def stored_grouped_metrics(
    client: Any, run_id: str, by: str = "hour", *, metric: str = "MAE", database: str | None = None
) -> pd.DataFrame:
    """Return one metric per group of every model of a run as stored in ``backtest_metrics``.

    What the accuracy page shows for a run without stored actuals (:class:`NoActualsError`).

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    run_id : str
        ``backtest_runs.run_id``.
    by : str
        Stored grouping (``hour``: hour of day of the market clock).
    metric : str
        Metric name as stored.
    database : str, optional
        Database of the tables. Default: the client's.

    Returns
    -------
    pandas.DataFrame
        Index: the groups in the store's order (as text); one column per model  [the metric's unit].
        Empty when nothing is stored for that grouping.
    """
    from marketintel.services import queries

    rows = queries.backtest_metrics(client, run_id, metrics=metric, group_by=by, database=database)
    if rows.empty:
        return pd.DataFrame()
    order = list(dict.fromkeys(rows["group_value"].astype(str)))
    wide = rows.pivot_table(index="group_value", columns="model", values="value", aggfunc="last")
    wide = wide.reindex(order)
    wide.index = pd.Index([str(g) for g in wide.index], name=by)
    wide.columns = [str(c) for c in wide.columns]
    return wide


@dataclass
class RunFrame:
    """A stored run's forecasts against the actual, as the accuracy page draws them.

    Attributes
    ----------
    run_id, market, location : str
        The run and its target.
    models : list of str
        The run's forecast columns of ``frame`` (then :data:`NAIVE`, the weekly naive, also a column).
    unit : str
        Price unit.
    tz : str
        The market's zone.
    frame : pandas.DataFrame
        Index: delivery hour starts (UTC, tz-aware), from :data:`LEAD_IN_DAYS` days before the first
        target day; columns :data:`ACTUAL`, :data:`NAIVE` and each model (NaN before the first target day)
        [price unit]. The day-ahead forecast of each hour (horizon 1).
    horizons : pandas.DataFrame
        Every stored forecast of the run: ``interval_start_utc``, ``horizon`` (target day after the issue,
        1 = the first day forecast), :data:`ACTUAL`, :data:`NAIVE` and one column per model.
    first_utc : pandas.Timestamp
        First forecast hour.
    """

    run_id: str
    market: str
    location: str
    models: list[str]
    unit: str
    tz: str
    frame: pd.DataFrame
    horizons: pd.DataFrame
    first_utc: pd.Timestamp

    def forecasts(self) -> pd.DataFrame:
        """Return the rows of ``frame`` that have forecasts (the target days)."""
        return self.frame[self.frame.index >= self.first_utc]


def run_frame(client: Any, run_id: str, *, database: str | None = None) -> RunFrame:
    """Read a run's forecasts and the actual prices they are scored against.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    run_id : str
        ``backtest_runs.run_id``.
    database : str, optional
        Database of the tables. Default: the client's.

    Returns
    -------
    RunFrame

    Raises
    ------
    EmptyResultError
        If the run is not stored or has no forecasts.
    NoActualsError
        If no actuals were stored with it (a run from before the actuals were stored: run it again,
        ``mi flows run backtest``).
    """
    from marketintel.backtest.metrics import seasonal_naive
    from marketintel.exceptions import EmptyResultError
    from marketintel.services import queries

    runs = queries.backtest_runs(client, run_ids=run_id, database=database, limit=1)
    if runs.empty:
        raise EmptyResultError(f"no backtest run {run_id!r} is stored")
    run = runs.iloc[0]
    table = f"{database}.forecasts" if database else "forecasts"
    tidy: pd.DataFrame = client.query_df(
        f"SELECT model, issue_time_utc, interval_start_utc, value, unit FROM {table} FINAL "
        "WHERE run_id = {r:String} AND statistic = 'mean' "
        "ORDER BY model, issue_time_utc, interval_start_utc, published_at_utc DESC "
        "LIMIT 1 BY model, issue_time_utc, interval_start_utc",
        parameters={"r": run_id},
    )
    if tidy.empty:
        raise EmptyResultError(f"backtest run {run_id} has no stored forecasts (status {run['status']})")
    for column in ("issue_time_utc", "interval_start_utc"):
        tidy[column] = pd.to_datetime(tidy[column], utc=True)
    first, last = tidy["interval_start_utc"].min(), tidy["interval_start_utc"].max()
    actual_rows_: pd.DataFrame = client.query_df(
        f"SELECT interval_start_utc, value FROM {table} FINAL WHERE model = {{m:String}} "
        "AND statistic = {s:String} AND market = {k:String} AND location = {l:String} "
        "AND interval_start_utc >= {a:DateTime64(3, 'UTC')} "
        "AND interval_start_utc <= {b:DateTime64(3, 'UTC')} "
        "ORDER BY interval_start_utc, published_at_utc DESC LIMIT 1 BY interval_start_utc",
        parameters={"m": ACTUAL_MODEL, "s": ACTUAL_STATISTIC, "k": str(run["market"]),
                    "l": str(run["location"]), "a": first - pd.Timedelta(days=LEAD_IN_DAYS), "b": last},
    )  # fmt: skip
    if actual_rows_.empty:
        raise NoActualsError(
            f"backtest run {run_id} has no stored actual prices (it ran before backtests stored them): "
            "run it again, e.g. `mi flows run backtest`"
        )
    actual = pd.Series(
        actual_rows_["value"].to_numpy(dtype=float),
        index=pd.DatetimeIndex(pd.to_datetime(actual_rows_["interval_start_utc"], utc=True)),
    )
    naive = seasonal_naive(actual)
    issue_first = tidy.groupby(["model", "issue_time_utc"])["interval_start_utc"].transform("min")
    lead = pd.to_timedelta(tidy["interval_start_utc"] - issue_first)
    tidy["horizon"] = (lead.dt.total_seconds() // 86_400).astype(int) + 1
    models = [str(m) for m in pd.unique(tidy["model"])]
    horizons = tidy.pivot_table(
        index=["interval_start_utc", "horizon"], columns="model", values="value", aggfunc="last"
    ).reset_index()
    horizons[ACTUAL] = actual.reindex(pd.DatetimeIndex(horizons["interval_start_utc"])).to_numpy()
    horizons[NAIVE] = naive.reindex(pd.DatetimeIndex(horizons["interval_start_utc"])).to_numpy()
    day_ahead = horizons[horizons["horizon"] == 1].set_index("interval_start_utc")
    frame = pd.DataFrame({ACTUAL: actual, NAIVE: naive})
    for model in models:
        frame[model] = day_ahead[model].reindex(frame.index)
    frame.index.name = "interval_start_utc"
    return RunFrame(
        str(run_id), str(run["market"]), str(run["location"]), models,
        str(tidy["unit"].iloc[0]), run_zone(run), frame, horizons, pd.Timestamp(first),
    )  # fmt: skip


def _local(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Return ``frame`` indexed by the wall clock of ``tz`` (naive), for groupings by hour and month."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(frame.index).tz_convert(tz).tz_localize(None)
    return out


def grouped_metrics(run: RunFrame, by: str, *, tz: str = "UTC", metric: str = "MAE") -> pd.DataFrame:
    """Return one metric of every model (and the weekly naive) per group.

    Parameters
    ----------
    run : RunFrame
        The run (:func:`run_frame`).
    by : {"hour", "month", "horizon"}
        Hour of day or month in the zone ``tz``, or the horizon (target day after the issue).
    tz : str
        Zone of the hours and months.
    metric : str
        One of :data:`marketintel.backtest.metrics.METRICS`.

    Returns
    -------
    pandas.DataFrame
        Index: the groups in order (as text); one column per model, then :data:`NAIVE`  [unit of the
        metric: the price unit for MAE and RMSE, % for MAPE, WAPE and sMAPE, - for rMAE and MASE].
    """
    from marketintel.backtest.metrics import METRICS, metrics_table

    if by not in GROUPINGS:
        raise MarketIntelError(f"unknown grouping {by!r}; expected one of {list(GROUPINGS)}")
    if metric not in METRICS:
        raise MarketIntelError(f"unknown metric {metric!r}; expected one of {list(METRICS)}")
    columns = [*run.models, NAIVE]
    if by == "horizon":
        frame = run.horizons[["horizon", ACTUAL, NAIVE, *run.models]].reset_index(drop=True)
        tidy = metrics_table(frame, ACTUAL, columns, by="horizon", naive=NAIVE)
    else:
        tidy = metrics_table(_local(run.forecasts(), tz), ACTUAL, columns, by=by, naive=NAIVE)
    rows = tidy[(tidy["metric"] == metric) & (tidy["group_by"] == by)]
    wide = rows.pivot_table(
        index="group_value", columns="model", values="value", aggfunc="last", dropna=False
    )
    order = sorted(wide.index, key=lambda g: (len(str(g)), str(g)) if by != "month" else (0, str(g)))
    wide = wide.reindex(index=order, columns=columns)
    wide.index = pd.Index([str(g) for g in wide.index], name=by)
    return wide


def rolling_accuracy(run: RunFrame, window_days: int) -> pd.DataFrame:
    """Return the MAE and rMAE of every model over trailing windows of ``window_days`` market days.

    Windows are those of :func:`marketintel.backtest.monitor.rolling_metrics` (days of the market's zone)
    whose first day is a target day of the run.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`marketintel.backtest.monitor.ROLLING_COLUMNS`.
    """
    from marketintel.backtest.monitor import rolling_metrics

    frame = run.frame[[ACTUAL, *run.models]]
    rolling = rolling_metrics(
        frame, ACTUAL, run.models, market=run.market, window_days=window_days, tz=run.tz
    )
    first_day = pd.Timestamp(run.first_utc).tz_convert(run.tz).normalize().tz_convert("UTC")
    return rolling[rolling["window_start_utc"] >= first_day].reset_index(drop=True)


def pairwise_pvalues(run: RunFrame) -> dict[str, pd.DataFrame]:
    """Return the multivariate DM and GW p-value matrices of the run's models and the weekly naive.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"DM": p, "GW": p}``, :func:`marketintel.backtest.stats.pairwise_test_matrix` with the
        absolute loss over the run's days (24 hours each, from its first forecast hour)  [-].

    Raises
    ------
    MarketIntelError
        If an hour lacks a forecast or the actual, or the hours are not whole days.
    """
    from marketintel.backtest.stats import HOURS_PER_DAY, pairwise_test_matrix

    columns = [*run.models, NAIVE]
    rows = run.forecasts()[[ACTUAL, *columns]]
    if rows.isna().any().any() or len(rows) % HOURS_PER_DAY or len(rows) < 2 * HOURS_PER_DAY:
        raise MarketIntelError(
            f"the DM and GW tests need at least 2 whole days of {HOURS_PER_DAY} hours with every forecast "
            f"and the actual; run {run.run_id} has {len(rows)} hours, "
            f"{int(rows.isna().any(axis=1).sum())} of them incomplete"
        )
    actual = rows[ACTUAL].to_numpy()
    return {
        "DM": pairwise_test_matrix(actual, rows[columns], test="dm", norm=1),
        "GW": pairwise_test_matrix(actual, rows[columns], test="gw", norm=1),
    }


def run_weeks(run: RunFrame) -> list[str]:
    """Return the weeks of the run's target days: the first day of each 7 (``YYYY-MM-DD``, market zone)."""
    days = pd.DatetimeIndex(run.forecasts().index).tz_convert(run.tz).normalize().unique()
    return [f"{d:%Y-%m-%d}" for d in days[::7]]


def forecast_week(run: RunFrame, week_start: str) -> pd.DataFrame:
    """Return the actual and every model over the 7 market days from ``week_start`` (``YYYY-MM-DD``).

    Returns
    -------
    pandas.DataFrame
        Rows of :attr:`RunFrame.frame` in the week (UTC index), columns :data:`ACTUAL`, the models and
        :data:`NAIVE`  [price unit].
    """
    start = pd.Timestamp(week_start).tz_localize(run.tz).tz_convert("UTC")
    end = (pd.Timestamp(week_start) + pd.Timedelta(days=7)).tz_localize(run.tz).tz_convert("UTC")
    rows = run.frame[(run.frame.index >= max(start, run.first_utc)) & (run.frame.index < end)]
    return rows[[ACTUAL, *run.models, NAIVE]]


def flow_report_pattern(folder: Path, flow_run_id: str, flow_name: str = "backtest") -> str:
    """Return the name pattern of the HTML report a flow run will write in ``folder``.

    A flow's notebook runs in its report folder and the flow exports the HTML there once the notebook
    has run (:func:`marketintel.flows.pipeline.report_paths`: ``<flow>-<HHMMSS>-<run id[:8]>.html``), so
    while the notebook runs the file's name is known up to its start time. :func:`report_path` resolves
    the pattern to the newest such file (a retried run writes another).

    Parameters
    ----------
    folder : Path
        The notebook's working directory (the report folder).
    flow_run_id : str
        The flow run's id (the notebook's ``run_id`` parameter).
    flow_name : str
        The flow.
    """
    return str(Path(folder).resolve() / f"{flow_name}-*-{flow_run_id[:8]}.html")
