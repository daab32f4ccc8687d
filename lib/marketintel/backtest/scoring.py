"""Score published forecast files: ``mi backtest score FILE.csv``.

The layout is the epftoolbox one (``Forecasts_{NP,PJM}_DNN_LEAR_ensembles.csv``): a first, unnamed column of
timestamps (local market hours without DST shifts, every day 24 rows; kept as wall-clock stamps because
they are not localisable), then the actual price (``Real price``) and one column per model.

The scores are those of :mod:`marketintel.backtest.metrics`: the weekly seasonal naive of rMAE is built from
the actual column of the file itself (so it cannot forecast the file's first 7 days), and without an
in-sample history MASE is scaled by that same naive's MAE over the file (MASE = rMAE); pass ``mase_scale``
(:func:`marketintel.backtest.metrics.insample_naive_mae` of the history) for the textbook MASE.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from marketintel.backtest.metrics import METRICS, MetricsError, metrics_table
from marketintel.exceptions import MarketIntelError

#: Columns of the score table, in the order the paper prints them (then the rest).
SCORE_COLUMNS: Final[tuple[str, ...]] = (
    "MAE",
    "rMAE",
    "sMAPE",
    "RMSE",
    "MAPE",
    "WAPE",
    "MASE",
    "MAPE_left_out",
)
#: Decimals printed per column (MAE/RMSE in price units, rMAE/MASE ratios, percentages with 2).
DECIMALS: Final[dict[str, int]] = {
    "MAE": 3,
    "rMAE": 3,
    "sMAPE": 2,
    "RMSE": 3,
    "MAPE": 2,
    "WAPE": 2,
    "MASE": 3,
}
#: Columns printed as percentages.
PERCENT: Final[frozenset[str]] = frozenset({"sMAPE", "MAPE", "WAPE"})
BY_CHOICES: Final[tuple[str, ...]] = ("none", "hour", "month")


class ForecastFileError(MarketIntelError, ValueError):
    """A forecast file is missing, unreadable, or not in the expected layout."""


def read_forecast_file(path: str | Path) -> pd.DataFrame:
    """Read a published forecast file (timestamp column, then the actual and the model columns).

    Parameters
    ----------
    path : str or pathlib.Path
        CSV whose first column holds the timestamps (``YYYY-MM-DD HH:MM:SS``), the others numbers
        [price unit, e.g. EUR/MWh].

    Returns
    -------
    pandas.DataFrame
        Float columns as in the file, indexed by a sorted, unique DatetimeIndex named ``timestamp``.

    Raises
    ------
    ForecastFileError
        If the file is missing or empty, a timestamp does not parse, timestamps repeat or go backwards,
        or a column is not numeric.
    """
    path = Path(path)
    if not path.is_file():
        raise ForecastFileError(f"no forecast file at {path}")
    try:
        raw = pd.read_csv(path, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ForecastFileError(f"{path}: not a readable CSV ({exc})") from None
    if raw.empty or raw.shape[1] == 0:
        raise ForecastFileError(
            f"{path}: expected a timestamp column then the actual and forecast columns, "
            f"found columns {[str(raw.index.name), *map(str, raw.columns)]} and {len(raw)} rows"
        )
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(raw.index.astype(str), format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise ForecastFileError(
            f"{path}: the first column must hold timestamps like 2016-12-27 00:00:00 ({exc})"
        ) from None
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC")
    if stamps.has_duplicates:
        raise ForecastFileError(f"{path}: repeated timestamp {stamps[stamps.duplicated()][0]}")
    if not stamps.is_monotonic_increasing:
        raise ForecastFileError(f"{path}: timestamps are not in increasing order")
    bad = [str(c) for c in raw.columns if not pd.api.types.is_numeric_dtype(raw[c])]
    if bad:
        raise ForecastFileError(
            f"{path}: column(s) {bad} are not numeric; columns found: {list(raw.columns)}"
        )
    frame = raw.astype(np.float64)
    frame.index = stamps.rename("timestamp")
    frame.columns = pd.Index([str(c) for c in frame.columns])
    return frame


def _check_columns(frame: pd.DataFrame, actual: str, models: Sequence[str] | None, source: str) -> list[str]:
    found = list(map(str, frame.columns))
    if actual not in frame.columns:
        raise ForecastFileError(f"{source}: no actual column {actual!r}; columns found: {found}")
    chosen = [c for c in found if c != actual] if models is None else list(models)
    missing = [m for m in chosen if m not in frame.columns]
    if missing:
        raise ForecastFileError(f"{source}: no model column(s) {missing}; columns found: {found}")
    if not chosen:
        raise ForecastFileError(f"{source}: no model columns besides {actual!r}; columns found: {found}")
    return chosen


def score_frame(
    frame: pd.DataFrame,
    actual: str = "Real price",
    models: Sequence[str] | None = None,
    *,
    by: str = "none",
    mase_scale: float | None = None,
) -> pd.DataFrame:
    """Score every model column of a forecast frame (see :func:`score_file`).

    Parameters
    ----------
    frame : pandas.DataFrame
        As returned by :func:`read_forecast_file`.
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str, optional
        Model columns (default: all but ``actual``).
    by : {"none", "hour", "month"}
        Overall scores, or one row per model and hour of day / calendar month.
    mase_scale : float, optional
        In-sample naive MAE for MASE  [price unit]; default: MASE = rMAE.

    Returns
    -------
    pandas.DataFrame
        Index ``model`` (plus ``hour`` or ``month``), columns :data:`SCORE_COLUMNS`.
    """
    if by not in BY_CHOICES:
        raise ForecastFileError(f"by must be one of {list(BY_CHOICES)}, got {by!r}")
    chosen = _check_columns(frame, actual, models, "forecast frame")
    tidy = metrics_table(frame, actual, chosen, by=by, mase_scale=mase_scale)
    return _wide(tidy, chosen, by)


def _wide(tidy: pd.DataFrame, models: Sequence[str], by: str) -> pd.DataFrame:
    """Pivot the tidy metrics to one row per model (and group), columns :data:`SCORE_COLUMNS`."""
    values = tidy.pivot_table(
        index=["model", "group_value"], columns="metric", values="value", aggfunc="first", sort=False
    )
    left_out = tidy[tidy["metric"] == "MAPE"].set_index(["model", "group_value"])["n_left_out"]
    values["MAPE_left_out"] = left_out.reindex(values.index).to_numpy()
    values = values.reindex(columns=list(SCORE_COLUMNS))
    values.columns.name = None
    order = {m: i for i, m in enumerate(models)}
    values = values.sort_index(level=0, key=lambda idx: idx.map(order), sort_remaining=True)
    values["MAPE_left_out"] = values["MAPE_left_out"].astype(np.int64)
    if by == "none":
        return values.droplevel("group_value").rename_axis("model")
    return values.rename_axis(["model", by])


def score_file(
    path: str | Path,
    actual: str = "Real price",
    models: Sequence[str] | None = None,
    *,
    mase_scale: float | None = None,
) -> pd.DataFrame:
    """Score the models of a published forecast file over its whole period.

    Parameters
    ----------
    path : str or pathlib.Path
        Forecast file (:func:`read_forecast_file`).
    actual : str
        Column of observed prices  [price unit].
    models : sequence of str, optional
        Model columns (default: all but ``actual``, in file order).
    mase_scale : float, optional
        In-sample weekly-naive MAE for MASE  [price unit]; default: the naive over the file (MASE = rMAE).

    Returns
    -------
    pandas.DataFrame
        One row per model (index ``model``), columns ``MAE`` [price unit], ``rMAE`` [-], ``sMAPE`` [%],
        ``RMSE`` [price unit], ``MAPE`` [%], ``WAPE`` [%], ``MASE`` [-], ``MAPE_left_out`` [hours].
    """
    frame = read_forecast_file(path)
    _check_columns(frame, actual, models, str(path))
    return score_frame(frame, actual, models, mase_scale=mase_scale)


def format_table(df: pd.DataFrame) -> str:
    """Format a score table with the paper's decimals (MAE, RMSE, rMAE 3; sMAPE, MAPE 2, in %).

    Parameters
    ----------
    df : pandas.DataFrame
        A table from :func:`score_file` or :func:`score_frame` (any subset of :data:`SCORE_COLUMNS`).

    Returns
    -------
    str
        Fixed-width text; percentage columns are headed ``NAME [%]``; NaN prints as ``n/a``.
    """
    shown = pd.DataFrame(index=df.index)
    for col in df.columns:
        name = str(col)
        if name in DECIMALS:
            label = f"{name} [%]" if name in PERCENT else name
            shown[label] = df[col].map(partial(_fixed, digits=DECIMALS[name]))
        elif name == "MAPE_left_out":
            shown["MAPE left out"] = df[col].map(partial(_fixed, digits=0))
        else:
            shown[name] = df[col]
    return str(shown.to_string())


def _fixed(value: object, digits: int) -> str:
    """Format a number with fixed decimals, ``n/a`` for a missing one."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def cmd_score(args: argparse.Namespace) -> int:
    """Print the score table of a forecast file; write the tidy metrics to ``--out`` when given."""
    frame = read_forecast_file(args.file)
    models = _check_columns(frame, args.actual, args.models, str(args.file))
    try:
        overall = score_frame(frame, args.actual, models)
        print(f"{args.file}: {len(frame):,} rows, {frame.index[0]} .. {frame.index[-1]}")
        print(format_table(overall))
        by = args.by
        if by != "none":
            print()
            print(format_table(score_frame(frame, args.actual, models, by=by)))
        if args.out:
            groupings = [None] if by == "none" else [None, by]
            tidy = metrics_table(frame, args.actual, models, by=groupings)
            out = Path(args.out)
            tidy.to_csv(out, index=False)
            print(f"metrics written to {out} ({len(tidy):,} rows)")
    except MetricsError as exc:
        raise ForecastFileError(f"{args.file}: {exc}") from None
    return 0


def register_score(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``score`` sub-command (hooked under ``mi backtest``) to an argparse sub-parser group."""
    p = subparsers.add_parser(
        "score",
        help="score the model columns of a published forecast file",
        description=(
            "Print MAE, rMAE, sMAPE, RMSE, MAPE, WAPE and MASE of every model column of a forecast CSV "
            "(first column timestamps, then the actual and the model columns). rMAE's weekly naive is "
            "built from the actual column of the file; MASE equals rMAE (no in-sample history)."
        ),
    )
    p.add_argument("file", type=Path, help="forecast CSV, e.g. Forecasts_NP_DNN_LEAR_ensembles.csv")
    p.add_argument("--actual", default="Real price", help="column of observed prices (default: 'Real price')")
    p.add_argument("--models", nargs="+", default=None, metavar="COL", help="model columns (default: all)")
    p.add_argument(
        "--by", choices=BY_CHOICES, default="none", help="also print per hour of day or calendar month"
    )
    p.add_argument("--out", type=Path, default=None, help="write the tidy metrics table to this CSV")
    p.set_defaults(func=cmd_score)


__all__ = [
    "METRICS",
    "SCORE_COLUMNS",
    "ForecastFileError",
    "cmd_score",
    "format_table",
    "read_forecast_file",
    "register_score",
    "score_file",
    "score_frame",
]
