"""Rolling-origin backtests: issue, recalibrate, forecast, store, resume.

For each target delivery day of the test period the engine takes the forecast's issue time (the day
before, 10:00 local), recalibrates the model when the cadence says so, asks it for the 24 hourly values
of the target day (and, with ``horizon_days`` > 1, of the days after it) through an as-of view of that
issue time, and hands the result to its sinks: a CSV in the layout of the published forecast files and/or
the store's ``forecasts`` table, with the run in ``backtest_runs``.

A run is identified by its specification (data fingerprint, model, window, period, cadence): the same
specification gives the same ``run_id``, so starting it again after an interruption skips the days already
written and goes on. With a cadence of more than one day, the model is recalibrated on resumption at the
last cadence day, exactly as the uninterrupted run would have been, so a resumed run writes the same
numbers.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from marketintel.exceptions import MarketIntelError
from marketintel.forecast.data import DailyPanel
from marketintel.forecast.models import Ensemble, ForecastModel


@dataclass(frozen=True)
class BacktestSpec:
    """What a backtest run is; its hash is the run id.

    Attributes
    ----------
    market, location : str
        What is forecast (``NP``/``SYSTEM``, a price zone, ...).
    model : str
        Model name as :func:`~marketintel.forecast.models.make_model` takes it.
    window : int or None
        LEAR calibration window [days].
    start : str
        First target delivery day (``YYYY-MM-DD``).
    days : int
        Number of target days.
    recalibrate_every : int
        Recalibration cadence [days] (1: daily, as the benchmark).
    horizon_days : int
        Days forecast at each issue (1: day-ahead).
    data : str
        Where the history comes from (file path or store series) and its fingerprint.
    """

    market: str
    location: str
    model: str
    window: int | None
    start: str
    days: int
    recalibrate_every: int = 1
    horizon_days: int = 1
    data: str = ""

    def run_id(self) -> str:
        """Return the run id: a UUID derived from the specification (same spec, same id)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return str(uuid.UUID(hashlib.sha256(text.encode()).hexdigest()[:32]))


class Sink(Protocol):
    """Where forecasts go; it also says which target days it already holds (for resuming)."""

    def done_days(self, candidates: dict[pd.Timestamp, pd.DatetimeIndex], n_models: int) -> set[pd.Timestamp]:
        """Return which of the candidate target days (day -> its UTC hours) are already written."""
        ...

    def write(self, day: pd.Timestamp, hours_utc: pd.DatetimeIndex, issue_time: pd.Timestamp,
              forecasts: dict[str, np.ndarray], actual: np.ndarray) -> None:  # fmt: skip
        """Write one target day's forecasts (``model name -> 24 values``) and the actual prices."""
        ...

    def close(self, status: str, message: str) -> None:
        """Finish the run (``ok`` or ``failed``)."""
        ...


class CsvSink:
    """Forecasts in the layout of the published forecast files: hour stamps, ``Real price``, one column each.

    Rows are appended and flushed day by day, so an interrupted run resumes from the file.
    """

    def __init__(self, path: Path, models: list[str]) -> None:
        self.path = Path(path)
        self.columns = ["Real price", *models]
        self._done: set[pd.Timestamp] = set()
        if self.path.exists() and self.path.stat().st_size:
            existing = pd.read_csv(self.path, index_col=0)
            if list(existing.columns) != self.columns:
                raise MarketIntelError(
                    f"{self.path} holds columns {list(existing.columns)}, not {self.columns}: "
                    "another run's output; choose another --out or delete it"
                )
            stamps = pd.DatetimeIndex(pd.to_datetime(existing.index))
            counts = pd.Series(1, index=stamps.normalize()).groupby(level=0).sum()
            self._done = {pd.Timestamp(str(d)) for d, c in counts.items() if c == 24}
            if (counts != 24).any():  # a day cut off mid-write: rewrite the file without it
                keep = stamps.normalize().isin(list(self._done))
                existing[keep].to_csv(self.path, float_format="%.6f")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(columns=self.columns).to_csv(self.path)

    def done_days(self, candidates: dict[pd.Timestamp, pd.DatetimeIndex], n_models: int) -> set[pd.Timestamp]:
        """Return the candidate days with all 24 rows in the file."""
        return {d for d in candidates if d in self._done}

    def write(self, day: pd.Timestamp, hours_utc: pd.DatetimeIndex, issue_time: pd.Timestamp,
              forecasts: dict[str, np.ndarray], actual: np.ndarray) -> None:  # fmt: skip
        """Append the day's 24 rows (local hour stamps, as the published files)."""
        local = pd.date_range(day, periods=24, freq="h")
        frame = pd.DataFrame(
            {"Real price": actual, **{m: forecasts[m] for m in self.columns[1:]}}, index=local
        )
        frame.index = pd.Index(local.strftime("%Y-%m-%d %H:%M:%S"))
        with self.path.open("a") as fh:
            frame.to_csv(fh, header=False, float_format="%.6f")
        self._done.add(pd.Timestamp(day))

    def close(self, status: str, message: str) -> None:
        """Nothing to finish: the file is complete after every day."""


class StoreSink:
    """Forecasts into the store's ``forecasts`` table, the run into ``backtest_runs``."""

    def __init__(
        self, client: Any, spec: BacktestSpec, run_id: str, config: dict[str, Any], unit: str
    ) -> None:
        self.client, self.spec, self.run_id, self.unit = client, spec, run_id, unit
        self.started = pd.Timestamp.now(tz="UTC")
        self.config = config
        self._row("running", "")

    def _row(self, status: str, message: str) -> None:
        from marketintel.curves.store import code_version
        from marketintel.store import insert_df

        now = pd.Timestamp.now(tz="UTC")
        start = pd.Timestamp(self.spec.start, tz="UTC")
        frame = pd.DataFrame(
            {
                "run_id": [self.run_id],
                "model": [self.config["model_name"]],
                "market": [self.spec.market],
                "location": [self.spec.location],
                "variable": ["price"],
                "benchmark": [self.config.get("benchmark", "")],
                "config": [json.dumps(self.config, sort_keys=True, default=str)],
                "issue_start_utc": [start - pd.Timedelta(days=1)],
                "issue_end_utc": [start + pd.Timedelta(days=self.spec.days - 1)],
                "recalibration": [f"every {self.spec.recalibrate_every} day(s)"],
                "status": [status],
                "message": [message],
                "code_version": [code_version()],
                "started_at_utc": [self.started],
                "finished_at_utc": [now if status != "running" else None],
                "published_at_utc": [now],
            }
        )
        insert_df(self.client, "backtest_runs", frame)

    def done_days(self, candidates: dict[pd.Timestamp, pd.DatetimeIndex], n_models: int) -> set[pd.Timestamp]:
        """Return the candidate days whose 24 hours are stored for every model of this run."""
        rows = self.client.query(
            "SELECT interval_start_utc, count() FROM forecasts FINAL WHERE run_id = {r:String} "
            "GROUP BY interval_start_utc",
            parameters={"r": self.run_id},
        ).result_rows
        stored = {pd.Timestamp(r[0]).tz_convert("UTC") if pd.Timestamp(r[0]).tzinfo else
                  pd.Timestamp(r[0]).tz_localize("UTC"): int(r[1]) for r in rows}  # fmt: skip
        return {d for d, hours in candidates.items() if all(stored.get(h, 0) >= n_models for h in hours)}

    def write(self, day: pd.Timestamp, hours_utc: pd.DatetimeIndex, issue_time: pd.Timestamp,
              forecasts: dict[str, np.ndarray], actual: np.ndarray) -> None:  # fmt: skip
        """Insert the day's forecasts (one row per model and hour)."""
        from marketintel.store import insert_df

        now = pd.Timestamp.now(tz="UTC")
        frames = [
            pd.DataFrame(
                {
                    "model": name,
                    "market": self.spec.market,
                    "location": self.spec.location,
                    "variable": "price",
                    "statistic": "mean",
                    "issue_time_utc": issue_time,
                    "interval_start_utc": hours_utc,
                    "interval_end_utc": hours_utc + pd.Timedelta(hours=1),
                    "value": values.astype(float),
                    "unit": self.unit,
                    "run_id": self.run_id,
                    "published_at_utc": now,
                }
            )
            for name, values in forecasts.items()
        ]
        insert_df(self.client, "forecasts", pd.concat(frames, ignore_index=True))

    def close(self, status: str, message: str) -> None:
        """Mark the run finished."""
        self._row(status, message)


@dataclass
class BacktestResult:
    """What a run did."""

    run_id: str
    days_forecast: int = 0
    days_skipped: int = 0
    recalibrations: int = 0
    seconds: float = 0.0
    seconds_per_day: list[float] = field(default_factory=list)


def run_backtest(
    panel: DailyPanel,
    model: ForecastModel,
    spec: BacktestSpec,
    sinks: list[Any],
    *,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Run (or resume) a rolling-origin backtest of ``model`` on ``panel``.

    Parameters
    ----------
    panel : DailyPanel
        History with publication times.
    model : ForecastModel
        The model (an :class:`~marketintel.forecast.models.Ensemble` writes every member too).
    spec : BacktestSpec
        Period, cadence and horizon; its hash is the run id.
    sinks : list
        :class:`CsvSink` and/or :class:`StoreSink`.
    progress : callable, optional
        Receives a line every few days (done/total, seconds per day, time left).

    Raises
    ------
    MarketIntelError
        When the period lies outside the data or lacks the history the model needs.
    """
    t0 = time.perf_counter()
    first = panel.day(spec.start)
    last = first + spec.days - 1
    if last + spec.horizon_days - 1 >= len(panel.days):
        raise MarketIntelError(
            f"the test period {spec.start} + {spec.days} days runs past the data's last day "
            f"{panel.days[-1].date()}"
        )
    if spec.recalibrate_every < 1 or spec.horizon_days < 1:
        raise MarketIntelError("recalibrate_every and horizon_days must be at least 1")
    result = BacktestResult(spec.run_id())
    n_models = len(model.members) + 1 if isinstance(model, Ensemble) else 1
    candidates = {pd.Timestamp(panel.days[t]): panel.hour_starts_utc(t) for t in range(first, last + 1)}
    done: set[pd.Timestamp] = set(candidates)
    for sink in sinks:
        done &= sink.done_days(candidates, n_models)  # a day counts as done only where every sink has it
    calibrated_at: int | None = None
    try:
        for target in range(first, last + 1):
            day = pd.Timestamp(panel.days[target])
            if day in done:
                result.days_skipped += 1
                continue
            tick = time.perf_counter()
            issue = panel.issue_time(target)
            view = panel.view(issue)
            anchor = first + ((target - first) // spec.recalibrate_every) * spec.recalibrate_every
            if calibrated_at != anchor:
                anchor_view = view if anchor == target else panel.view(panel.issue_time(anchor))
                model.recalibrate(anchor_view, anchor)
                calibrated_at = anchor
                result.recalibrations += 1
            for k in range(spec.horizon_days):
                day_k = target + k
                if isinstance(model, Ensemble):
                    forecasts = model.member_forecasts(view, day_k)
                else:
                    forecasts = {model.name: model.forecast(view, day_k)}
                actual = panel.series["price"][day_k]
                for sink in sinks:
                    sink.write(
                        pd.Timestamp(panel.days[day_k]),
                        panel.hour_starts_utc(day_k),
                        issue,
                        forecasts,
                        actual,
                    )
            result.days_forecast += 1
            result.seconds_per_day.append(time.perf_counter() - tick)
            if progress and (result.days_forecast % 10 == 0 or target == last):
                left = last - target
                pace = float(np.median(result.seconds_per_day[-20:]))
                progress(
                    f"  {model.name}: {target - first + 1}/{spec.days} days ({day.date()}), "
                    f"{pace:.2f} s/day, about {left * pace / 60:.1f} min left"
                )
    except BaseException as exc:
        for sink in sinks:
            sink.close("failed", f"{type(exc).__name__}: {exc}")
        raise
    for sink in sinks:
        sink.close("ok", f"{result.days_forecast} day(s) forecast, {result.days_skipped} resumed")
    result.seconds = time.perf_counter() - t0
    return result
