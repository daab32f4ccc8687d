"""daily_completeness: one row per local day, DST-aware, summing to the completeness check."""

from __future__ import annotations

import pandas as pd
import pytest

from marketintel.quality import QualityError, check_completeness, daily_completeness

T = pd.Timestamp


def _series(starts: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"interval_start_utc": starts})


def test_a_fall_back_day_expects_25_hours_and_the_totals_match_the_check() -> None:
    # Berlin local days 2024-10-26 (24 h), 2024-10-27 (DST ends: 25 h), 2024-10-28 (24 h), quarter-hours
    start, end = T("2024-10-25 22:00", tz="UTC"), T("2024-10-28 23:00", tz="UTC")
    grid = pd.date_range(start, end, freq="15min", inclusive="left")
    missing = grid[[50, 150, 151]]  # one on the 26th (0..95), two on the 27th (96..195)
    frame = _series(grid[~grid.isin(missing)])
    days = daily_completeness(frame, cadence="15min", tz="Europe/Berlin", start_utc=start, end_utc=end)
    assert list(days["day"]) == ["2024-10-26", "2024-10-27", "2024-10-28"]
    assert list(days["day_hours"]) == [24.0, 25.0, 24.0]
    assert list(days["expected"]) == [96, 100, 96]
    assert list(days["missing"]) == [1, 2, 0]
    assert list(days["status"]) == ["fail", "fail", "pass"]  # one missing of 96 is 98.96 % < 99.5 %
    assert days["first_missing_utc"].iloc[1] == missing[1]
    check = check_completeness(frame, cadence="15min", tz="Europe/Berlin", start_utc=start, end_utc=end)
    assert check.details["expected"] == days["expected"].sum()
    assert check.details["observed"] == days["observed"].sum()
    assert check.observed == pytest.approx(100 * days["observed"].sum() / days["expected"].sum())


def test_only_intervals_due_are_expected_and_an_empty_series_counts_zero() -> None:
    start, end = T("2024-03-10 06:00", tz="UTC"), T("2024-03-11 05:00", tz="UTC")  # Chicago, 23 h
    days = daily_completeness(
        _series(pd.DatetimeIndex([], tz="UTC")), cadence="1h", tz="America/Chicago", start_utc=start,
        end_utc=end, expected_until_utc=start + pd.Timedelta(hours=5),
    )  # fmt: skip
    assert days[["day", "day_hours", "expected", "observed", "pct"]].values.tolist() == [
        ["2024-03-10", 23.0, 5, 0, 0.0]
    ]
    assert days["first_missing_utc"].iloc[0] == start


def test_nothing_due_gives_an_empty_frame_with_the_columns() -> None:
    start = T("2024-03-10 06:00", tz="UTC")
    days = daily_completeness(
        _series(pd.DatetimeIndex([start])), cadence="1h", tz="America/Chicago", start_utc=start,
        end_utc=start + pd.Timedelta(hours=3), expected_until_utc=start,
    )  # fmt: skip
    assert days.empty
    assert list(days.columns) == [
        "day", "day_start_utc", "day_hours", "expected", "observed", "missing", "pct", "status",
        "first_missing_utc",
    ]  # fmt: skip


def test_a_bad_cadence_or_zone_is_refused() -> None:
    start = T("2024-03-10 06:00", tz="UTC")
    with pytest.raises(QualityError, match="cadence"):
        daily_completeness(_series(pd.DatetimeIndex([start])), cadence="7min", tz="UTC", start_utc=start,
                           end_utc=start + pd.Timedelta(hours=1))  # fmt: skip
    with pytest.raises(QualityError, match="IANA"):
        daily_completeness(_series(pd.DatetimeIndex([start])), cadence="1h", tz="Mars/Olympus",
                           start_utc=start, end_utc=start + pd.Timedelta(hours=1))  # fmt: skip
