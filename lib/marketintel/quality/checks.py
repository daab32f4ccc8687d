"""Data-quality checks: pure functions on one series, each returning a :class:`CheckResult`.

A *series* is one (table, market, location/area, variable): a frame with tz-aware UTC
``interval_start_utc`` and ``interval_end_utc``, a value column and ``published_at_utc``. Nothing here
reads the store (see :mod:`marketintel.quality.run`); every check is vectorised pandas/numpy.

The four checks
---------------
``freshness``
    Data for an interval ending at ``e`` is expected to be published by ``e + publication_lag``. At
    ``now`` the latest interval end should therefore be at least ``now - publication_lag``, with one
    cadence of slack: ``latest_end >= now - publication_lag - cadence``. Observed is the staleness
    ``max(0, now - publication_lag - latest_end)`` [min]; the check fails when it exceeds one cadence
    [min]. Real-time data has a positive lag (``"15min"``: an interval is published 15 minutes after it
    ends). Day-ahead data is published *before* delivery, so its lag is negative: an auction clearing
    at 12:45 local for the next local day has, just before publication, data up to tonight's local
    midnight, i.e. about ``now + 11 h`` -> ``publication_lag="-11h"``.
``completeness``
    Expected intervals are the cadence grid of each LOCAL day of the market (``tz``): 23 or 25 hours on
    DST days (92 or 100 quarter-hours); a daily cadence (``"1D"``) expects one interval per local day.
    Only intervals lying entirely in the window count. Observed is ``100 * present / expected`` [%]
    over the window; it fails below ``target_pct`` (99.5 %) and warns when the window passes but a
    single day is below target. Details list the worst days and their first missing interval starts.
``duplicates``
    More than one row per interval and publication (the natural key of a series plus
    ``published_at_utc``). Rows that agree on the value are *exact* duplicates, rows that disagree are
    *conflicts*. Observed is the number of surplus rows [rows]; conflicts fail; exact duplicates give
    ``exact_status`` ("fail" by default).
``anomalies``
    On the latest publication of each interval:

    - *spikes*: robust z-score ``|x - m| / max(1.4826 * MAD, min_scale)`` above ``z_threshold`` (8),
      where ``m`` is the rolling median over a centred time window ``(t - w/2, t + w/2]`` of
      ``spike_window`` (default one day, so the daily shape is inside the spread) and ``MAD`` the
      rolling median of ``|x - m|`` over the same window (the usual two-pass approximation of the
      Hampel identifier; ``min_scale`` keeps a constant stretch from dividing by zero);
    - *flat lines*: the same value over contiguous intervals spanning at least ``flat_line`` (e.g. 6 h);
    - *out of bounds*: values below the market's floor or above its cap (:data:`PRICE_LIMITS`).

    Observed is the number of anomalous points [points]; out-of-bounds values fail, spikes and flat
    lines warn.

An empty series gives a ``fail`` result with ``details["reason"] == "no data"``, never an exception.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from marketintel.exceptions import MarketIntelError
from marketintel.timeutils import local_day_start_utc, local_days, naive_timestamp_problem, to_instant

Status = Literal["pass", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")

START = "interval_start_utc"
END = "interval_end_utc"
PUBLISHED = "published_at_utc"

#: Default completeness target [%].
COMPLETENESS_TARGET_PCT = 99.5
#: Default robust z-score above which a point is a spike [1].
SPIKE_Z = 8.0
#: Consistency constant of the MAD for normal data: sigma = 1.4826 * MAD.
MAD_TO_SIGMA = 1.4826
#: How many examples (days, missing starts, anomalous points) details list.
MAX_EXAMPLES = 5
MAX_MISSING_STARTS = 10
_NO_DATA = "no data"


class QualityError(MarketIntelError, ValueError):
    """A data-quality check was asked something it cannot do (bad cadence, lag, zone, table, frame)."""


# --------------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one series and window.

    Attributes
    ----------
    check_name : str
        ``"freshness"``, ``"completeness"``, ``"duplicates"`` or ``"anomalies"``.
    status : {"pass", "warn", "fail"}
        The verdict.
    observed : float or None
        The measured value [``unit``]; None when nothing could be measured (no data).
    threshold : float or None
        What ``observed`` was compared with [``unit``].
    unit : str
        Unit of ``observed`` and ``threshold``, e.g. ``"min"``, ``"%"``, ``"rows"``, ``"points"``.
    window_start_utc, window_end_utc : pd.Timestamp
        The checked window ``[start, end)``, tz-aware UTC.
    details : dict
        JSON-able specifics (timestamps as ISO 8601 strings); always has a ``"message"``.
    """

    check_name: str
    status: Status
    observed: float | None
    threshold: float | None
    unit: str
    window_start_utc: pd.Timestamp
    window_end_utc: pd.Timestamp
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        """One-line explanation: what was wrong and what would be right."""
        return str(self.details.get("message", ""))


def _no_data(
    check_name: str, unit: str, threshold: float | None, start: pd.Timestamp, end: pd.Timestamp
) -> CheckResult:
    return CheckResult(
        check_name,
        "fail",
        None,
        threshold,
        unit,
        start,
        end,
        {
            "reason": _NO_DATA,
            "message": f"no rows in [{_iso(start)}, {_iso(end)}); expected a series to check",
        },
    )


# --------------------------------------------------------------------------------------------------------
# Arguments and frames
# --------------------------------------------------------------------------------------------------------
def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).isoformat()


def parse_cadence(cadence: str) -> pd.Timedelta:
    """Return a dataset's interval length; it must divide one hour or be one (local) day.

    Parameters
    ----------
    cadence : str
        A pandas offset alias with a fixed length: ``"5min"``, ``"15min"``, ``"1h"``, ``"1D"``, ...

    Raises
    ------
    QualityError
        If ``cadence`` is not such an alias; the message names the accepted ones.
    """
    expected = (
        "a pandas offset alias that divides one hour or is one day, e.g. '5min', '15min', '30min', '1h', '1D'"
    )
    try:
        length = pd.Timedelta(cadence)
    except (TypeError, ValueError) as exc:
        raise QualityError(f"cadence {cadence!r} is not {expected}: {exc}") from None
    if pd.isna(length) or length <= pd.Timedelta(0):
        raise QualityError(f"cadence {cadence!r} is not {expected}")
    if length != pd.Timedelta(days=1) and pd.Timedelta(hours=1) % length != pd.Timedelta(0):
        raise QualityError(f"cadence {cadence!r} ({length}) is not {expected}")
    return length


def parse_lag(publication_lag: str) -> pd.Timedelta:
    """Return a signed publication lag [time]; negative when data is published before delivery.

    Raises
    ------
    QualityError
        If ``publication_lag`` is not a timedelta string such as ``"15min"``, ``"1D"`` or ``"-11h"``.
    """
    try:
        lag = pd.Timedelta(publication_lag)
    except (TypeError, ValueError) as exc:
        raise QualityError(
            f"publication_lag {publication_lag!r} is not a timedelta such as '15min', '1D' or '-11h': {exc}"
        ) from None
    if pd.isna(lag):
        raise QualityError(f"publication_lag {publication_lag!r} is NaT; give e.g. '0min'")
    return lag


def check_tz(tz: str) -> str:
    """Return ``tz`` if it is a known IANA time zone.

    Raises
    ------
    QualityError
        Otherwise, with an example of a valid name.
    """
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise QualityError(
            f"tz {tz!r} is not an IANA time zone; give the market's zone, e.g. 'America/Chicago'"
        ) from None
    return tz


def _window(start_utc: Any, end_utc: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = to_instant(start_utc, "start_utc")
    end = to_instant(end_utc, "end_utc")
    if end <= start:
        raise QualityError(f"end_utc {end} must be after start_utc {start}")
    return start, end


def _utc_column(frame: pd.DataFrame, name: str) -> pd.DatetimeIndex:
    if name not in frame.columns:
        raise QualityError(f"the series has no column {name!r}; it has {list(frame.columns)}")
    problem = naive_timestamp_problem(name, frame[name])
    if problem is not None:
        raise QualityError(problem)
    index = pd.DatetimeIndex(frame[name])
    if str(index.tz) != "UTC":
        raise QualityError(f"column {name!r} must be in UTC, got time zone {index.tz}")
    return index.as_unit("ns")


def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise QualityError(f"the series lacks columns {missing}; it has {list(frame.columns)}")


def latest_publication(frame: pd.DataFrame) -> pd.DataFrame:
    """Return one row per interval, the latest publication, sorted by interval start.

    Parameters
    ----------
    frame : pd.DataFrame
        A series; ``published_at_utc`` is optional (without it the last row per interval wins).
    """
    order = [START, PUBLISHED] if PUBLISHED in frame.columns else [START]
    ordered = frame.sort_values(order, kind="stable")
    return ordered.drop_duplicates(subset=[START], keep="last").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------
# Freshness
# --------------------------------------------------------------------------------------------------------
def check_freshness(
    frame: pd.DataFrame,
    *,
    now_utc: Any,
    cadence: str,
    publication_lag: str = "0min",
    start_utc: Any,
    end_utc: Any,
) -> CheckResult:
    """Check that the latest interval end is as recent as the cadence and publication lag promise.

    Parameters
    ----------
    frame : pd.DataFrame
        The series (``interval_end_utc``, optionally ``published_at_utc``); rows published after
        ``now_utc`` are ignored (they were not knowable yet).
    now_utc : pd.Timestamp
        The instant the check is made "at" (tz-aware).
    cadence : str
        Interval length, e.g. ``"5min"``, ``"1h"`` or ``"1D"`` (:func:`parse_cadence`); also the slack.
    publication_lag : str
        Time from an interval's end to its publication [time], signed: ``"15min"`` for real time,
        negative (``"-11h"``) for day-ahead data published before delivery.
    start_utc, end_utc : pd.Timestamp
        The window of the run (reported with the result).

    Returns
    -------
    CheckResult
        ``observed`` = staleness [min], ``threshold`` = one cadence [min]; fail when above it.
    """
    length = parse_cadence(cadence)
    lag = parse_lag(publication_lag)
    now = to_instant(now_utc, "now_utc")
    start, end = _window(start_utc, end_utc)
    threshold = length / pd.Timedelta(minutes=1)
    if PUBLISHED in frame.columns and len(frame):
        frame = frame[_utc_column(frame, PUBLISHED) <= now]
    if not len(frame):
        return _no_data("freshness", "min", threshold, start, end)
    latest_end = _utc_column(frame, END).max()
    expected_end = now - lag
    staleness = max((expected_end - latest_end) / pd.Timedelta(minutes=1), 0.0)
    status: Status = "fail" if staleness > threshold else "pass"
    details: dict[str, Any] = {
        "now_utc": _iso(now),
        "latest_interval_end_utc": _iso(latest_end),
        "expected_latest_end_utc": _iso(expected_end - length),
        "cadence_min": threshold,
        "publication_lag_min": lag / pd.Timedelta(minutes=1),
    }
    if PUBLISHED in frame.columns:
        details["latest_published_at_utc"] = _iso(_utc_column(frame, PUBLISHED).max())
    details["message"] = (
        f"latest interval ends {_iso(latest_end)}, {staleness:g} min behind {_iso(expected_end)}"
        f" (now - lag); expected an interval end at or after {_iso(expected_end - length)}"
        if status == "fail"
        else f"latest interval ends {_iso(latest_end)}, {staleness:g} min stale (allowed {threshold:g})"
    )
    return CheckResult("freshness", status, staleness, threshold, "min", start, end, details)


# --------------------------------------------------------------------------------------------------------
# Completeness
# --------------------------------------------------------------------------------------------------------
def _ns(index: pd.DatetimeIndex) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.asarray(index.as_unit("ns").asi8, dtype=np.int64)


def expected_intervals(
    start_utc: Any, end_utc: Any, *, cadence: str, tz: str
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, list[str]]:
    """Return the interval starts a dataset should have in ``[start, end)``, with their local days.

    Intervals follow the cadence grid of each local day of ``tz`` (so a DST day has 23 or 25 hours) and
    count only if they lie entirely in the window.

    Parameters
    ----------
    start_utc, end_utc : pd.Timestamp
        The window (tz-aware).
    cadence : str
        Interval length (:func:`parse_cadence`); ``"1D"`` means one interval per local day.
    tz : str
        IANA zone of the market's delivery calendar.

    Returns
    -------
    starts : pd.DatetimeIndex
        Expected interval starts [UTC].
    day_starts : pd.DatetimeIndex
        For each expected start, the start of its local day [UTC].
    day_labels : list of str
        For each expected start, its local date (``YYYY-MM-DD``).
    """
    length = parse_cadence(cadence)
    check_tz(tz)
    start, end = _window(start_utc, end_utc)
    # Local days overlapping the window, plus two so that every day has a successor (its end).
    local = local_days(start, end + pd.Timedelta(days=2), tz)
    bounds = local_day_start_utc(pd.DatetimeIndex(local), tz).as_unit("ns")
    labels = np.array([d.date().isoformat() for d in local], dtype=object)
    if length == pd.Timedelta(days=1):
        grid = bounds[:-1]
        grid_end = bounds[1:]
    else:
        grid = pd.date_range(bounds[0], bounds[-1], freq=length, inclusive="left").as_unit("ns")
        grid_end = grid + length
    keep = (grid >= start) & (grid_end <= end)
    grid = grid[keep]
    day = np.searchsorted(_ns(bounds), _ns(grid), side="right") - 1
    return grid, bounds[day], [str(x) for x in labels[day]]


def check_completeness(
    frame: pd.DataFrame,
    *,
    cadence: str,
    tz: str,
    start_utc: Any,
    end_utc: Any,
    expected_until_utc: Any = None,
    target_pct: float = COMPLETENESS_TARGET_PCT,
) -> CheckResult:
    """Check the share of expected intervals present, per local day and over the window.

    Parameters
    ----------
    frame : pd.DataFrame
        The series (``interval_start_utc``); starts off the expected grid are counted as unexpected.
    cadence : str
        Interval length (:func:`parse_cadence`).
    tz : str
        IANA zone of the market's delivery calendar (local days, DST).
    start_utc, end_utc : pd.Timestamp
        The window ``[start, end)``.
    expected_until_utc : pd.Timestamp, optional
        Expect only intervals ending at or before this instant (e.g. what should be published by now);
        default ``end_utc``.
    target_pct : float
        Minimum share of expected intervals [%].

    Returns
    -------
    CheckResult
        ``observed`` = present / expected [%]; fail below ``target_pct``, warn when the window passes
        but a local day is below it.
    """
    start, end = _window(start_utc, end_utc)
    until = end if expected_until_utc is None else min(end, to_instant(expected_until_utc, "expected_until"))
    if not len(frame):
        parse_cadence(cadence)
        check_tz(tz)
        return _no_data("completeness", "%", target_pct, start, end)
    present_all = _utc_column(frame, START).unique()
    if until <= start:
        grid = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")
        day_labels: list[str] = []
    else:
        grid, _, day_labels = expected_intervals(start, until, cadence=cadence, tz=tz)
    in_window = present_all[(present_all >= start) & (present_all < until)]
    found = np.isin(_ns(grid), _ns(pd.DatetimeIndex(in_window)))
    unexpected = int((~np.isin(_ns(pd.DatetimeIndex(in_window)), _ns(grid))).sum())
    expected_n = len(grid)
    if expected_n == 0:
        return CheckResult(
            "completeness",
            "pass",
            None,
            target_pct,
            "%",
            start,
            end,
            {
                "expected": 0,
                "observed": 0,
                "expected_until_utc": _iso(until),
                "message": f"no whole {cadence} interval is due in [{_iso(start)}, {_iso(until)})",
            },
        )
    per_day = pd.DataFrame({"day": day_labels, "found": found, "start": grid})
    days = per_day.groupby("day", sort=True)["found"].agg(expected="size", observed="sum")
    days["pct"] = 100.0 * days["observed"] / days["expected"]
    observed_n = int(found.sum())
    pct = 100.0 * observed_n / expected_n
    short = days[days["pct"] < target_pct]
    status: Status = "fail" if pct < target_pct else ("warn" if len(short) else "pass")
    missing = per_day.loc[~per_day["found"]]
    worst = days[days["observed"] < days["expected"]].sort_values(["pct", "day"]).head(MAX_EXAMPLES)
    worst_days: list[dict[str, Any]] = [
        {
            "date": str(day),
            "expected": int(row["expected"]),
            "observed": int(row["observed"]),
            "pct": round(float(row["pct"]), 4),
            "missing_starts_utc": [
                _iso(s) for s in missing.loc[missing["day"] == day, "start"].head(MAX_MISSING_STARTS)
            ],
        }
        for day, row in worst.iterrows()
    ]
    details: dict[str, Any] = {
        "expected": expected_n,
        "observed": observed_n,
        "missing": expected_n - observed_n,
        "unexpected": unexpected,
        "days": len(days),
        "days_below_target": len(short),
        "expected_per_day": {str(k): int(v) for k, v in days["expected"].items()},
        "worst_days": worst_days,
        "expected_until_utc": _iso(until),
        "tz": tz,
        "cadence": cadence,
    }
    if status == "pass":
        details["message"] = f"{observed_n} of {expected_n} expected intervals present ({pct:.2f} %)"
    else:
        first = worst_days[0]
        details["message"] = (
            f"{expected_n - observed_n} of {expected_n} expected {cadence} intervals missing"
            f" ({pct:.2f} % present, target {target_pct:g} %); worst local day {first['date']}"
            f" with {first['observed']} of {first['expected']}, first missing"
            f" {', '.join(first['missing_starts_utc'][:3])}"
        )
    return CheckResult("completeness", status, pct, target_pct, "%", start, end, details)


def daily_completeness(
    frame: pd.DataFrame,
    *,
    cadence: str,
    tz: str,
    start_utc: Any,
    end_utc: Any,
    expected_until_utc: Any = None,
    target_pct: float = COMPLETENESS_TARGET_PCT,
) -> pd.DataFrame:
    """Return the completeness of each local day of the window: expected and present intervals.

    The same count as :func:`check_completeness` (its totals are this frame's sums), one row per local day
    of ``tz``: a DST day expects 23 or 25 hours of intervals.

    Parameters
    ----------
    frame : pd.DataFrame
        The series (``interval_start_utc``, tz-aware UTC); may be empty.
    cadence : str
        Interval length (:func:`parse_cadence`).
    tz : str
        IANA zone of the market's delivery calendar.
    start_utc, end_utc : pd.Timestamp
        The window ``[start, end)``.
    expected_until_utc : pd.Timestamp, optional
        Expect only intervals ending by this instant; default ``end_utc``.
    target_pct : float
        Minimum share of expected intervals of a day [%].

    Returns
    -------
    pd.DataFrame
        One row per local day with an expected interval, in order:

        - ``day`` : str, the local date (``YYYY-MM-DD``)
        - ``day_start_utc`` : datetime64[ns, UTC], the day's local midnight
        - ``day_hours`` : float, the length of the local day [h] (23, 24 or 25)
        - ``expected``, ``observed``, ``missing`` : int, intervals of the day in the window [intervals]
        - ``pct`` : float, ``100 * observed / expected`` [%]
        - ``status`` : ``"pass"`` at or above ``target_pct``, else ``"fail"``
        - ``first_missing_utc`` : datetime64[ns, UTC], the first missing interval start (NaT: none)
    """
    start, end = _window(start_utc, end_utc)
    until = end if expected_until_utc is None else min(end, to_instant(expected_until_utc, "expected_until"))
    columns = ["day", "day_start_utc", "day_hours", "expected", "observed", "missing", "pct", "status",
               "first_missing_utc"]  # fmt: skip
    if until <= start:
        parse_cadence(cadence)
        check_tz(tz)
        labels: list[str] = []
        grid, day_starts = pd.DatetimeIndex([], tz="UTC"), pd.DatetimeIndex([], tz="UTC")
    else:
        grid, day_starts, labels = expected_intervals(start, until, cadence=cadence, tz=tz)
    present = _utc_column(frame, START).unique() if len(frame) else pd.DatetimeIndex([], tz="UTC")
    found = np.isin(_ns(grid), _ns(pd.DatetimeIndex(present)))
    per = pd.DataFrame(
        {"day": labels, "day_start_utc": day_starts, "found": found, "start": grid.as_unit("ns")}
    )
    if per.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(columns, _DAILY_DTYPES, strict=True)})
    days = per.groupby(["day", "day_start_utc"], sort=True).agg(
        expected=("found", "size"), observed=("found", "sum")
    )
    days = days.reset_index()
    first_missing = per.loc[~per["found"]].groupby("day")["start"].min()
    days["first_missing_utc"] = days["day"].map(first_missing).astype("datetime64[ns, UTC]")
    next_start = local_day_start_utc(
        pd.DatetimeIndex(days["day_start_utc"]) + pd.Timedelta(hours=36), tz
    )  # noon of the next local day is never ambiguous; its day start is this day's end
    days["day_hours"] = (next_start - pd.DatetimeIndex(days["day_start_utc"])) / pd.Timedelta(hours=1)
    days["expected"] = days["expected"].astype("int64")
    days["observed"] = days["observed"].astype("int64")
    days["missing"] = days["expected"] - days["observed"]
    days["pct"] = 100.0 * days["observed"] / days["expected"]
    days["status"] = np.where(days["pct"] >= target_pct, "pass", "fail")
    return days.loc[:, columns].reset_index(drop=True)


_DAILY_DTYPES = ("object", "datetime64[ns, UTC]", "float64", "int64", "int64", "int64", "float64", "object",
                 "datetime64[ns, UTC]")  # fmt: skip


# --------------------------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------------------------
def check_duplicates(
    frame: pd.DataFrame,
    *,
    value_column: str = "value",
    start_utc: Any,
    end_utc: Any,
    key_columns: Sequence[str] = (START, END, PUBLISHED),
    exact_status: Status = "fail",
) -> CheckResult:
    """Check for more than one row per interval and publication.

    Parameters
    ----------
    frame : pd.DataFrame
        All rows of the series (not the latest-version read).
    value_column : str
        The value column compared between rows of one key.
    start_utc, end_utc : pd.Timestamp
        The window (reported with the result).
    key_columns : sequence of str
        Natural key of a row within the series, publication included.
    exact_status : {"pass", "warn", "fail"}
        Status when there are only exact duplicates (same value); conflicts always fail.

    Returns
    -------
    CheckResult
        ``observed`` = surplus rows (rows - distinct keys) [rows], ``threshold`` 0.
    """
    start, end = _window(start_utc, end_utc)
    if exact_status not in STATUSES:
        raise QualityError(f"exact_status must be one of {list(STATUSES)}, got {exact_status!r}")
    if not len(frame):
        return _no_data("duplicates", "rows", 0.0, start, end)
    keys = list(key_columns)
    _require(frame, [*keys, value_column])
    rows = frame.groupby(keys, sort=True, dropna=False).size()
    distinct = frame.drop_duplicates([*keys, value_column]).groupby(keys, sort=True, dropna=False).size()
    sizes = pd.DataFrame({"rows": rows, "values": distinct.reindex(rows.index)})
    repeated = sizes[sizes["rows"] > 1]
    surplus = int((repeated["rows"] - 1).sum())
    conflicts = repeated[repeated["values"] > 1]
    exact = repeated[repeated["values"] == 1]
    status: Status = "fail" if len(conflicts) else (exact_status if len(exact) else "pass")

    def examples(part: pd.DataFrame) -> list[dict[str, Any]]:
        out = []
        for key, row in part.head(MAX_EXAMPLES).iterrows():
            values = key if isinstance(key, tuple) else (key,)
            item = {
                k: _iso(v) if isinstance(v, pd.Timestamp) else v for k, v in zip(keys, values, strict=True)
            }
            mask = np.logical_and.reduce([frame[k] == v for k, v in zip(keys, values, strict=True)])
            item["rows"] = int(row["rows"])
            item["values"] = sorted(float(x) for x in frame.loc[mask, value_column].unique())
            out.append(item)
        return out

    details: dict[str, Any] = {
        "rows": len(frame),
        "keys": len(sizes),
        "duplicated_keys": len(repeated),
        "exact_duplicate_keys": len(exact),
        "conflicting_keys": len(conflicts),
        "conflicts": examples(conflicts),
        "exact": examples(exact),
    }
    if status == "pass":
        details["message"] = f"{len(frame)} rows, one per interval and publication"
    else:
        details["message"] = (
            f"{surplus} surplus rows: {len(conflicts)} intervals with conflicting values and {len(exact)}"
            " with identical copies for the same publication; expected one row per interval and publication"
        )
    return CheckResult("duplicates", status, float(surplus), 0.0, "rows", start, end, details)


# --------------------------------------------------------------------------------------------------------
# Anomalies: market floors and caps
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriceLimits:
    """Floor and cap of a market's prices, as steps in time.

    Attributes
    ----------
    name : str
        What the limits are (shown in details).
    unit : str
        Unit of floor and cap, e.g. ``"USD/MWh"``.
    steps : tuple of (str, float, float)
        ``(valid_from_utc, floor, cap)`` in increasing time; the first applies to everything before too.
    source : str
        Where the numbers come from (and how approximate they are).
    """

    name: str
    unit: str
    steps: tuple[tuple[str, float, float], ...]
    source: str

    def at(self, starts: pd.DatetimeIndex) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Return the floor and cap in force at each interval start [``unit``]."""
        valid = _ns(pd.DatetimeIndex([pd.Timestamp(s) for s, _, _ in self.steps]))
        which = np.clip(np.searchsorted(valid, _ns(starts), side="right") - 1, 0, None)
        floors = np.array([f for _, f, _ in self.steps], dtype=float)
        caps = np.array([c for _, _, c in self.steps], dtype=float)
        return floors[which], caps[which]


# Floors and caps of market prices (energy; not ancillary services). They mark values a market cannot
# clear at, so a value outside is most likely a data error (units, sign, parsing): such points fail.
# Step dates are local midnights, written in UTC in the code.
#
# market prefix           floor   cap [per unit]                    source / approximation
# ----------------------  ------  --------------------------------  -----------------------------------------
# ERCOT                   -250    3000; 4500 from 2012-08-01;       HCAP (PUCT Subst. R. 25.505): steps of the
#                                 5000 from 2013-06-01; 7000 from   PUCT order of Oct. 2012; 5000 from
#                                 2014-06-01; 9000 from 2015-06-01; 2022-01-01 (ERCOT notice M-A120721-01).
#                                 5000 from 2022-01-01 [USD/MWh]    Floor: the -250 energy offer floor.
#                                                                   Congestion can take nodal prices past both
#                                                                   (SCED's power balance penalty: HCAP + 1).
# SPP, MISO, PJM, NYISO,  -1000   2000 [USD/MWh]                    FERC Order 831 (2016): offers capped at
# ISONE, ISO_NE, CAISO                                              1000, verified cost-based offers up to
#                                                                   2000 may set LMPs. APPROXIMATE: shortage
#                                                                   pricing and congestion can take LMPs past
#                                                                   2000;
#                                                                   offer floors are -150 (CAISO, ISO-NE) to
#                                                                   -1000, -1000 is a plausibility bound.
# AESO                    0       999.99 [CAD/MWh]                  Alberta pool price floor and cap.
# IESO                    -2000   2000 [CAD/MWh]                    Ontario max./min. market clearing price
#                                                                   (unverified after Market Renewal, 2025).
# EPEX, NORDPOOL,         -500    3000; 4000 from delivery day      SDAC harmonised max./min. clearing price
# NORD_POOL, ENTSOE,              2022-05-11 [EUR/MWh]              (CACM Art. 41); the rise to 5000 planned
# EXAA, OMIE: day-ahead                                             for 2022-09-20 was suspended. Intraday
# only (DA/DAM/DAY in                                               markets (other limits) get none.
# the market name)
#
# Ancillary-service markets (names with RESERVE, REGULATION, ANCILLARY) and unknown markets have no
# limits: only spikes and flat lines are checked.
_ERCOT = PriceLimits(
    "ERCOT system-wide offer cap (HCAP) and offer floor",
    "USD/MWh",
    (
        ("2010-12-01T06:00Z", -250.0, 3000.0),
        ("2012-08-01T05:00Z", -250.0, 4500.0),
        ("2013-06-01T05:00Z", -250.0, 5000.0),
        ("2014-06-01T05:00Z", -250.0, 7000.0),
        ("2015-06-01T05:00Z", -250.0, 9000.0),
        ("2022-01-01T06:00Z", -250.0, 5000.0),
    ),
    "PUCT Subst. R. 25.505; ERCOT market notice M-A120721-01 (HCAP 5000 from 2022-01-01)",
)
_FERC_831 = PriceLimits(
    "US RTO offer caps (FERC Order 831), approximate LMP bounds",
    "USD/MWh",
    (("2017-02-21T05:00Z", -1000.0, 2000.0),),
    "FERC Order 831: 1000 offer cap, 2000 hard cap on verified offers setting LMP; floor approximate",
)
_SDAC = PriceLimits(
    "SDAC harmonised maximum and minimum clearing price",
    "EUR/MWh",
    (("2015-01-01T00:00Z", -500.0, 3000.0), ("2022-05-10T22:00Z", -500.0, 4000.0)),
    "SDAC HMMCP (CACM Art. 41): +4000 from trading day 2022-05-10; +5000 suspended in Sept. 2022",
)
_AESO = PriceLimits(
    "Alberta pool price floor and cap",
    "CAD/MWh",
    (("2001-01-01T07:00Z", 0.0, 999.99),),
    "AESO pool price: floor 0, cap 999.99",
)
_IESO = PriceLimits(
    "Ontario maximum and minimum market clearing price",
    "CAD/MWh",
    (("2002-05-01T05:00Z", -2000.0, 2000.0),),
    "IESO Market Rules: market clearing price within -2000..2000 (unverified after Market Renewal)",
)

#: Default price limits by market-name prefix (see the table above).
PRICE_LIMITS: Mapping[str, PriceLimits] = {
    "ERCOT": _ERCOT,
    "SPP": _FERC_831,
    "MISO": _FERC_831,
    "PJM": _FERC_831,
    "NYISO": _FERC_831,
    "ISONE": _FERC_831,
    "ISO_NE": _FERC_831,
    "CAISO": _FERC_831,
    "AESO": _AESO,
    "IESO": _IESO,
    "EPEX": _SDAC,
    "NORDPOOL": _SDAC,
    "NORD_POOL": _SDAC,
    "ENTSOE": _SDAC,
    "EXAA": _SDAC,
    "OMIE": _SDAC,
}
_SDAC_PREFIXES = ("EPEX", "NORDPOOL", "NORD_POOL", "ENTSOE", "EXAA", "OMIE")
_ANCILLARY = ("RESERVE", "REGULATION", "ANCILLARY")
_DAY_AHEAD = ("DA", "DAM", "DAY")


def default_price_limits(market: str) -> PriceLimits | None:
    """Return the default floor and cap of a market's energy prices, or None if unknown.

    Parameters
    ----------
    market : str
        Market name as in ``prices.market``, e.g. ``"ERCOT_REAL_TIME_15_MIN"``, ``"EPEX_DE_DA"``.
    """
    name = market.upper()
    tokens = name.split("_")
    if any(word in tokens for word in _ANCILLARY) or any(w in name for w in _ANCILLARY):
        return None
    for prefix in sorted(PRICE_LIMITS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "_"):
            if prefix in _SDAC_PREFIXES and not any(t in _DAY_AHEAD for t in tokens[1:]):
                return None
            return PRICE_LIMITS[prefix]
    return None


# --------------------------------------------------------------------------------------------------------
# Anomalies
# --------------------------------------------------------------------------------------------------------
def robust_zscore(
    values: pd.Series, *, window: str = "1D", min_scale: float = 1.0, min_periods: int = 5
) -> pd.Series:
    """Return ``|x - m| / max(1.4826 * MAD, min_scale)`` over a centred rolling time window.

    Parameters
    ----------
    values : pd.Series
        Values indexed by a sorted, tz-aware interval start [any unit].
    window : str
        Width ``w`` of the window ``(t - w/2, t + w/2]`` [time].
    min_scale : float
        Smallest scale the deviation is divided by [unit of the values]; > 0.
    min_periods : int
        Fewest points in a window for a score; NaN otherwise [points].

    Returns
    -------
    pd.Series
        The robust z-score of each point [1]; NaN where the window is too sparse.
    """
    if not min_scale > 0:
        raise QualityError(f"min_scale must be > 0 (in the unit of the values), got {min_scale}")
    try:
        width = pd.Timedelta(window)
    except (TypeError, ValueError) as exc:
        raise QualityError(f"spike window {window!r} is not a timedelta such as '1D': {exc}") from None
    median = values.rolling(width, center=True, min_periods=min_periods).median()
    deviation = (values - median).abs()
    mad = deviation.rolling(width, center=True, min_periods=min_periods).median()
    scale = np.maximum(MAD_TO_SIGMA * mad, min_scale)
    return deviation / scale


def check_anomalies(
    frame: pd.DataFrame,
    *,
    value_column: str = "value",
    start_utc: Any,
    end_utc: Any,
    market: str = "",
    floor: float | None = None,
    cap: float | None = None,
    use_market_limits: bool = True,
    z_threshold: float = SPIKE_Z,
    spike_window: str = "1D",
    min_scale: float = 1.0,
    flat_line: str | None = "6h",
) -> CheckResult:
    """Check for spikes, flat lines and values outside the market's floor and cap.

    Parameters
    ----------
    frame : pd.DataFrame
        The series; with several publications of an interval, the latest is checked.
    value_column : str
        The value column [any unit].
    start_utc, end_utc : pd.Timestamp
        The window (reported with the result).
    market : str
        Market name, for the default floor and cap (:func:`default_price_limits`).
    floor, cap : float, optional
        Override the default floor / cap [unit of the values].
    use_market_limits : bool
        Look up the market's default limits (False for non-price series such as fundamentals).
    z_threshold : float
        Robust z-score above which a point is a spike [1].
    spike_window : str
        Width of the centred rolling window of the spike test [time].
    min_scale : float
        Smallest robust scale [unit of the values] (see :func:`robust_zscore`).
    flat_line : str or None
        Shortest run of one value over contiguous intervals that is a flat line [time]; None disables.

    Returns
    -------
    CheckResult
        ``observed`` = anomalous points (each counted once) [points], ``threshold`` 0; fail when any
        value is out of bounds, warn on spikes or flat lines.
    """
    start, end = _window(start_utc, end_utc)
    if not len(frame):
        return _no_data("anomalies", "points", 0.0, start, end)
    _require(frame, [START, END, value_column])
    series = latest_publication(frame)
    starts = _utc_column(series, START)
    ends = _utc_column(series, END)
    x = pd.Series(series[value_column].to_numpy(dtype=float), index=starts)

    def point(i: int, **extra: Any) -> dict[str, Any]:
        return {"interval_start_utc": _iso(starts[i]), "value": float(x.iloc[i]), **extra}

    # Spikes
    z = robust_zscore(x, window=spike_window, min_scale=min_scale)
    spike = (z > z_threshold).to_numpy()
    spikes = [point(int(i), z=round(float(z.iloc[i]), 3)) for i in np.flatnonzero(spike)[:MAX_EXAMPLES]]

    # Flat lines: runs of one value over contiguous intervals
    flat = np.zeros(len(x), dtype=bool)
    runs: list[dict[str, Any]] = []
    if flat_line is not None:
        try:
            min_run = pd.Timedelta(flat_line)
        except (TypeError, ValueError) as exc:
            raise QualityError(f"flat_line {flat_line!r} is not a timedelta such as '6h': {exc}") from None
        values = x.to_numpy()
        breaks = np.ones(len(x), dtype=bool)
        breaks[1:] = (values[1:] != values[:-1]) | (_ns(starts)[1:] != _ns(ends)[:-1])
        run_id = np.cumsum(breaks)
        duration = pd.Series(_ns(ends) - _ns(starts)).groupby(run_id).transform("sum").to_numpy()
        flat = (duration >= min_run.value) & ~np.isnan(values)
        for rid in pd.unique(run_id[flat])[:MAX_EXAMPLES]:
            members = np.flatnonzero(run_id == rid)
            runs.append(
                {
                    "start_utc": _iso(starts[members[0]]),
                    "end_utc": _iso(ends[members[-1]]),
                    "intervals": len(members),
                    "value": float(values[members[0]]),
                }
            )

    # Floor and cap
    limits = default_price_limits(market) if use_market_limits else None
    lower = np.full(len(x), -np.inf)
    upper = np.full(len(x), np.inf)
    if limits is not None:
        lower, upper = limits.at(starts)
    if floor is not None:
        lower = np.full(len(x), float(floor))
    if cap is not None:
        upper = np.full(len(x), float(cap))
    out = ((x.to_numpy() < lower) | (x.to_numpy() > upper)) & ~np.isnan(x.to_numpy())
    outside = [
        point(int(i), floor=float(lower[i]), cap=float(upper[i])) for i in np.flatnonzero(out)[:MAX_EXAMPLES]
    ]

    anomalous = int((spike | flat | out).sum())
    status: Status = "fail" if out.any() else ("warn" if anomalous else "pass")
    details: dict[str, Any] = {
        "points": len(x),
        "spikes": int(spike.sum()),
        "flat_line_points": int(flat.sum()),
        "out_of_bounds": int(out.sum()),
        "first_spikes": spikes,
        "first_flat_lines": runs,
        "first_out_of_bounds": outside,
        "z_threshold": z_threshold,
        "spike_window": spike_window,
        "flat_line": flat_line,
        "limits": _limits_details(limits, floor, cap, lower, upper),
    }
    parts = []
    if out.any():
        parts.append(
            f"{int(out.sum())} values outside the floor/cap (first {outside[0]['interval_start_utc']})"
        )
    if spike.any():
        parts.append(f"{int(spike.sum())} spikes with robust z > {z_threshold:g}")
    if flat.any():
        parts.append(f"{int(flat.sum())} points in flat lines of at least {flat_line}")
    details["message"] = "; ".join(parts) if parts else f"no anomalies in {len(x)} points"
    return CheckResult("anomalies", status, float(anomalous), 0.0, "points", start, end, details)


def _limits_details(
    limits: PriceLimits | None,
    floor: float | None,
    cap: float | None,
    lower: np.ndarray[Any, Any],
    upper: np.ndarray[Any, Any],
) -> dict[str, Any] | None:
    """Describe the floor and cap applied (the distinct values in force over the window)."""
    if limits is None and floor is None and cap is None:
        return None

    def distinct(bound: np.ndarray[Any, Any]) -> list[float]:
        return sorted({float(v) for v in np.unique(bound) if np.isfinite(v)})

    return {
        "name": limits.name if limits is not None else "given",
        "unit": limits.unit if limits is not None else "",
        "floors": distinct(lower),
        "caps": distinct(upper),
        "source": limits.source if limits is not None else "given by the caller",
        "overridden": [name for name, v in (("floor", floor), ("cap", cap)) if v is not None],
    }
