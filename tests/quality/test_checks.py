"""Data-quality checks on synthetic series with answers computed by hand."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.exceptions import MarketIntelError
from marketintel.quality import (
    QualityError,
    check_anomalies,
    check_completeness,
    check_duplicates,
    check_freshness,
    default_price_limits,
    expected_intervals,
    parse_cadence,
)

T = pd.Timestamp
#: A price shape without two equal neighbours, 20..40 [EUR/MWh]: no flat lines, no spikes.
SHAPE = [20.0, 25.0, 30.0, 35.0, 40.0, 35.0, 30.0, 25.0]


def utc(text: str) -> pd.Timestamp:
    return T(text, tz="UTC")


def series(
    start: str,
    periods: int,
    freq: str = "h",
    values: Any = None,
    published: str | None = None,
) -> pd.DataFrame:
    """A series of ``periods`` intervals of ``freq`` from ``start`` (UTC)."""
    begin = pd.date_range(utc(start), periods=periods, freq=freq)
    if values is None:
        values = np.resize(SHAPE, periods)
    return pd.DataFrame(
        {
            "interval_start_utc": begin,
            "interval_end_utc": begin + pd.Timedelta(freq if freq[0].isdigit() else "1" + freq),
            "value": np.asarray(values, dtype=float),
            "published_at_utc": utc(published) if published else begin - pd.Timedelta(days=1),
        }
    )


def window(frame: pd.DataFrame) -> dict[str, pd.Timestamp]:
    return {
        "start_utc": frame["interval_start_utc"].min(),
        "end_utc": frame["interval_end_utc"].max(),
    }


# --------------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cadence", "minutes"), [("5min", 5), ("15min", 15), ("30min", 30), ("1h", 60), ("1D", 1440)]
)
def test_parse_cadence_accepts_fixed_lengths_that_divide_an_hour_or_are_a_day(
    cadence: str, minutes: int
) -> None:
    assert parse_cadence(cadence) == pd.Timedelta(minutes=minutes)


@pytest.mark.parametrize("cadence", ["7min", "2h", "1M", "hourly", "-5min"])
def test_parse_cadence_names_what_it_expects(cadence: str) -> None:
    with pytest.raises(QualityError, match=r"divides one hour or is one day, e\.g\. '5min'") as info:
        parse_cadence(cadence)
    assert isinstance(info.value, MarketIntelError)


def test_checks_refuse_naive_timestamps_and_unknown_zones() -> None:
    frame = series("2024-01-01", 24)
    frame["interval_start_utc"] = frame["interval_start_utc"].dt.tz_localize(None)
    with pytest.raises(QualityError, match="naive"):
        check_completeness(
            frame, cadence="1h", tz="UTC", start_utc=utc("2024-01-01"), end_utc=utc("2024-01-02")
        )
    with pytest.raises(QualityError, match="IANA"):
        expected_intervals(utc("2024-01-01"), utc("2024-01-02"), cadence="1h", tz="Mars/Olympus")


# --------------------------------------------------------------------------------------------------------
# Completeness
# --------------------------------------------------------------------------------------------------------
DST_DAYS = [
    # zone, local date, local midnight [UTC], next local midnight [UTC], hours
    ("Europe/Berlin", "2024-03-31", "2024-03-30 23:00", "2024-03-31 22:00", 23),
    ("Europe/Berlin", "2024-10-27", "2024-10-26 22:00", "2024-10-27 23:00", 25),
    ("America/Chicago", "2024-03-10", "2024-03-10 06:00", "2024-03-11 05:00", 23),
    ("America/Chicago", "2024-11-03", "2024-11-03 05:00", "2024-11-04 06:00", 25),
]


@pytest.mark.parametrize(("tz", "day", "start", "end", "hours"), DST_DAYS)
@pytest.mark.parametrize(("cadence", "per_hour"), [("1h", 1), ("15min", 4)])
def test_completeness_expects_23_or_25_hours_on_dst_days(
    tz: str, day: str, start: str, end: str, hours: int, cadence: str, per_hour: int
) -> None:
    expected = hours * per_hour  # 23 / 25 hourly, 92 / 100 quarter-hourly
    frame = series(start, expected, cadence)
    assert frame["interval_end_utc"].max() == utc(end)

    result = check_completeness(frame, cadence=cadence, tz=tz, start_utc=utc(start), end_utc=utc(end))

    assert result.status == "pass"
    assert result.observed == 100.0
    assert result.threshold == 99.5
    assert result.unit == "%"
    assert result.details["expected"] == expected
    assert result.details["expected_per_day"] == {day: expected}
    json.dumps(result.details)


def test_completeness_counts_local_days_across_a_dst_change() -> None:
    # Chicago 2024-03-09 (24 h) and 2024-03-10 (23 h); a window of UTC days cuts them at 06:00 / 05:00.
    grid, day_starts, labels = expected_intervals(
        utc("2024-03-09 06:00"), utc("2024-03-11 05:00"), cadence="1h", tz="America/Chicago"
    )
    assert len(grid) == 47
    assert labels.count("2024-03-09") == 24
    assert labels.count("2024-03-10") == 23
    assert set(day_starts) == {utc("2024-03-09 06:00"), utc("2024-03-10 06:00")}


def test_completeness_with_a_daily_cadence_expects_one_interval_per_local_day() -> None:
    # Berlin 2024-10-26 (24 h), 2024-10-27 (25 h), 2024-10-28: local midnights in UTC.
    starts = pd.DatetimeIndex([utc("2024-10-25 22:00"), utc("2024-10-26 22:00"), utc("2024-10-27 23:00")])
    frame = pd.DataFrame(
        {
            "interval_start_utc": starts,
            "interval_end_utc": [*starts[1:], utc("2024-10-28 23:00")],
            "value": [1.0, 2.0, 3.0],
        }
    )
    result = check_completeness(
        frame, cadence="1D", tz="Europe/Berlin", start_utc=starts[0], end_utc=utc("2024-10-28 23:00")
    )
    assert (result.status, result.observed, result.details["expected"]) == ("pass", 100.0, 3)

    gap = check_completeness(
        frame.drop(index=1),
        cadence="1D",
        tz="Europe/Berlin",
        start_utc=starts[0],
        end_utc=utc("2024-10-28 23:00"),
    )
    assert gap.status == "fail"
    assert gap.observed == pytest.approx(200.0 / 3.0, abs=1e-12)
    assert gap.details["worst_days"][0]["missing_starts_utc"] == ["2024-10-26T22:00:00+00:00"]


def test_completeness_lists_the_missing_intervals_of_a_gap() -> None:
    # Berlin spring day: 23 hours, two missing (local 07:00 and 08:00 CEST = 05:00, 06:00 UTC).
    frame = series("2024-03-30 23:00", 23)
    frame = frame[~frame["interval_start_utc"].isin([utc("2024-03-31 05:00"), utc("2024-03-31 06:00")])]

    result = check_completeness(
        frame,
        cadence="1h",
        tz="Europe/Berlin",
        start_utc=utc("2024-03-30 23:00"),
        end_utc=utc("2024-03-31 22:00"),
    )

    assert result.status == "fail"
    assert result.observed == pytest.approx(100.0 * 21 / 23, abs=1e-12)  # 91.304 %
    assert (result.details["expected"], result.details["observed"], result.details["missing"]) == (23, 21, 2)
    assert result.details["worst_days"] == [
        {
            "date": "2024-03-31",
            "expected": 23,
            "observed": 21,
            "pct": 91.3043,
            "missing_starts_utc": ["2024-03-31T05:00:00+00:00", "2024-03-31T06:00:00+00:00"],
        }
    ]
    assert "2 of 23 expected 1h intervals missing (91.30 % present" in result.message


def test_completeness_warns_when_the_window_passes_but_a_day_does_not() -> None:
    # 10 UTC days (tz UTC): 240 hours, one missing -> 239 / 240 = 99.583 % over the window,
    # but its day has 23 / 24 = 95.833 %.
    frame = series("2024-01-01", 240).drop(index=30)
    result = check_completeness(
        frame, cadence="1h", tz="UTC", start_utc=utc("2024-01-01"), end_utc=utc("2024-01-11")
    )
    assert result.status == "warn"
    assert result.observed == pytest.approx(100.0 * 239 / 240, abs=1e-12)
    assert result.details["days_below_target"] == 1
    assert result.details["worst_days"][0]["date"] == "2024-01-02"
    assert result.details["worst_days"][0]["pct"] == pytest.approx(95.8333, abs=1e-4)


def test_completeness_only_expects_intervals_due_by_expected_until() -> None:
    frame = series("2024-01-01", 12)  # 00:00 .. 12:00
    result = check_completeness(
        frame,
        cadence="1h",
        tz="UTC",
        start_utc=utc("2024-01-01"),
        end_utc=utc("2024-01-02"),
        expected_until_utc=utc("2024-01-01 12:30"),
    )
    assert (result.status, result.observed, result.details["expected"]) == ("pass", 100.0, 12)


# --------------------------------------------------------------------------------------------------------
# Duplicates
# --------------------------------------------------------------------------------------------------------
def test_duplicates_tells_identical_copies_from_conflicts() -> None:
    frame = series("2024-01-01", 4)
    exact = frame.iloc[[1]]
    conflict = frame.iloc[[2]].assign(value=99.0)
    doubled = pd.concat([frame, exact, conflict], ignore_index=True)

    result = check_duplicates(doubled, **window(frame))

    assert result.status == "fail"
    assert (result.observed, result.threshold, result.unit) == (2.0, 0.0, "rows")
    assert result.details["exact_duplicate_keys"] == 1
    assert result.details["conflicting_keys"] == 1
    assert result.details["conflicts"] == [
        {
            "interval_start_utc": "2024-01-01T02:00:00+00:00",
            "interval_end_utc": "2024-01-01T03:00:00+00:00",
            "published_at_utc": "2023-12-31T02:00:00+00:00",
            "rows": 2,
            "values": [30.0, 99.0],
        }
    ]
    json.dumps(result.details)


def test_duplicates_exact_copies_take_exact_status_and_revisions_are_not_duplicates() -> None:
    frame = series("2024-01-01", 4)
    copies = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    assert check_duplicates(copies, **window(frame)).status == "fail"
    warned = check_duplicates(copies, exact_status="warn", **window(frame))
    assert (warned.status, warned.observed) == ("warn", 1.0)

    revision = frame.iloc[[0]].assign(value=1.0, published_at_utc=utc("2024-01-02"))
    revised = check_duplicates(pd.concat([frame, revision], ignore_index=True), **window(frame))
    assert (revised.status, revised.observed) == ("pass", 0.0)


# --------------------------------------------------------------------------------------------------------
# Anomalies
# --------------------------------------------------------------------------------------------------------
def test_spike_robust_z_on_a_constant_series_uses_the_minimum_scale() -> None:
    # 48 h at 50 with one hour at 130: median 50, MAD 0 -> scale max(1.4826 * 0, 1) = 1 -> z = 80.
    values = np.full(48, 50.0)
    values[20] = 130.0
    frame = series("2024-01-01", 48, values=values)

    result = check_anomalies(frame, flat_line=None, min_scale=1.0, **window(frame))

    assert result.status == "warn"
    assert (result.observed, result.threshold, result.unit) == (1.0, 0.0, "points")
    assert result.details["first_spikes"] == [
        {"interval_start_utc": "2024-01-01T20:00:00+00:00", "value": 130.0, "z": 80.0}
    ]
    assert result.details["limits"] is None


def test_spike_in_a_daily_shape_is_the_only_anomaly() -> None:
    values = np.resize(SHAPE, 72)
    values[36] = 400.0
    frame = series("2024-05-01", 72, values=values)

    result = check_anomalies(frame, market="SPP_DAY_AHEAD_HOURLY", **window(frame))

    assert result.status == "warn"
    assert result.observed == 1.0
    assert (
        result.details["spikes"],
        result.details["flat_line_points"],
        result.details["out_of_bounds"],
    ) == (
        1,
        0,
        0,
    )
    assert result.details["first_spikes"][0]["interval_start_utc"] == "2024-05-02T12:00:00+00:00"
    assert result.details["first_spikes"][0]["z"] > 8.0
    assert result.details["limits"]["caps"] == [2000.0]


def test_flat_line_of_six_hours_or_more_is_flagged() -> None:
    values = np.resize(SHAPE, 48)
    values[10:18] = 42.0  # 8 h flat -> flagged
    values[30:35] = 33.0  # 5 h flat -> not flagged
    frame = series("2024-01-01", 48, values=values)

    result = check_anomalies(frame, flat_line="6h", **window(frame))

    assert result.status == "warn"
    assert result.observed == 8.0
    assert result.details["spikes"] == 0
    assert result.details["first_flat_lines"] == [
        {
            "start_utc": "2024-01-01T10:00:00+00:00",
            "end_utc": "2024-01-01T18:00:00+00:00",
            "intervals": 8,
            "value": 42.0,
        }
    ]


def test_flat_line_is_broken_by_a_gap() -> None:
    values = np.resize(SHAPE, 48)
    values[10:18] = 42.0
    frame = series("2024-01-01", 48, values=values).drop(index=14)  # 4 h + gap + 3 h
    result = check_anomalies(frame, flat_line="6h", **window(frame))
    assert (result.status, result.observed) == ("pass", 0.0)


def test_value_above_the_ercot_cap_fails_and_the_cap_depends_on_the_date() -> None:
    values = np.resize(SHAPE, 48)
    values[30] = 6000.0  # above the 5000 HCAP of 2024, below the 9000 of 2021
    values[31] = -300.0  # below the -250 floor
    frame = series("2024-07-01", 48, values=values)

    result = check_anomalies(frame, market="ERCOT_REAL_TIME_15_MIN", **window(frame))

    assert result.status == "fail"
    assert result.details["out_of_bounds"] == 2
    assert result.details["first_out_of_bounds"] == [
        {"interval_start_utc": "2024-07-02T06:00:00+00:00", "value": 6000.0, "floor": -250.0, "cap": 5000.0},
        {"interval_start_utc": "2024-07-02T07:00:00+00:00", "value": -300.0, "floor": -250.0, "cap": 5000.0},
    ]
    assert result.observed == 2.0  # both are also spikes; each point counts once

    earlier = series("2021-07-01", 48, values=values)
    before = check_anomalies(earlier, market="ERCOT_REAL_TIME_15_MIN", **window(earlier))
    assert before.details["first_out_of_bounds"] == [
        {"interval_start_utc": "2021-07-02T07:00:00+00:00", "value": -300.0, "floor": -250.0, "cap": 9000.0}
    ]


def test_unknown_market_checks_only_spikes_and_flat_lines_unless_limits_are_given() -> None:
    values = np.resize(SHAPE, 48)
    values[30] = 6000.0
    frame = series("2024-07-01", 48, values=values)
    unknown = check_anomalies(frame, market="MOON_DA", **window(frame))
    assert (unknown.status, unknown.details["out_of_bounds"], unknown.details["limits"]) == ("warn", 0, None)

    given = check_anomalies(frame, market="MOON_DA", cap=1000.0, **window(frame))
    assert (given.status, given.details["out_of_bounds"]) == ("fail", 1)
    assert given.details["limits"]["caps"] == [1000.0]


def test_default_price_limits() -> None:
    assert default_price_limits("EPEX_DE_DA") is not None
    sdac = default_price_limits("NORDPOOL_DA")
    assert sdac is not None
    floor, cap = sdac.at(pd.DatetimeIndex([utc("2022-05-10 21:00"), utc("2022-05-10 22:00")]))
    assert floor.tolist() == [-500.0, -500.0]
    assert cap.tolist() == [3000.0, 4000.0]
    assert default_price_limits("EPEX_DE_ID") is None  # intraday: other limits
    assert default_price_limits("ISONE_RT_RESERVE_HOURLY") is None  # ancillary service
    assert default_price_limits("SPPX_DA") is None
    aeso = default_price_limits("AESO_POOL_PRICE_HOURLY")
    assert aeso is not None
    assert aeso.at(pd.DatetimeIndex([utc("2024-01-01")]))[1].tolist() == [999.99]


def test_anomalies_check_the_latest_publication_of_each_interval() -> None:
    frame = series("2024-01-01", 48)
    bad_then_fixed = frame.iloc[[20]].assign(value=9999.0, published_at_utc=utc("2023-01-01"))
    result = check_anomalies(
        pd.concat([frame, bad_then_fixed], ignore_index=True), cap=100.0, **window(frame)
    )
    assert (result.status, result.observed) == ("pass", 0.0)


# --------------------------------------------------------------------------------------------------------
# Freshness
# --------------------------------------------------------------------------------------------------------
def test_freshness_of_real_time_data_with_a_publication_lag() -> None:
    # 5-min intervals up to 11:40 UTC, published 15 min after their end; now 12:00.
    frame = series("2024-06-01 00:00", 140, "5min")
    assert frame["interval_end_utc"].max() == utc("2024-06-01 11:40")
    kwargs: dict[str, Any] = {
        "now_utc": utc("2024-06-01 12:00"),
        "cadence": "5min",
        "publication_lag": "15min",
        "start_utc": utc("2024-06-01"),
        "end_utc": utc("2024-06-02"),
    }

    fresh = check_freshness(frame, **kwargs)
    # staleness = (12:00 - 15 min) - 11:40 = 5 min <= one cadence (5 min)
    assert (fresh.status, fresh.observed, fresh.threshold, fresh.unit) == ("pass", 5.0, 5.0, "min")

    stale = check_freshness(frame.iloc[:-2], **kwargs)  # ends 11:30 -> 15 min stale
    assert (stale.status, stale.observed) == ("fail", 15.0)
    assert stale.details["expected_latest_end_utc"] == "2024-06-01T11:40:00+00:00"

    future = series("2024-06-01 11:40", 3, "5min", published="2024-06-01 12:10")
    hidden = check_freshness(pd.concat([frame.iloc[:-2], future], ignore_index=True), **kwargs)
    assert hidden.observed == 15.0  # rows published after now are not knowable yet


def test_freshness_of_day_ahead_data_with_a_negative_lag() -> None:
    # Berlin day-ahead, hourly, published 11:00 UTC the day before; lag -11 h.
    d1 = series("2024-06-09 22:00", 24, published="2024-06-09 11:00")  # delivery 2024-06-10
    d2 = series("2024-06-10 22:00", 24, published="2024-06-10 11:00")  # delivery 2024-06-11
    frame = pd.concat([d1, d2], ignore_index=True)

    def at(now: str) -> tuple[str, float | None]:
        result = check_freshness(
            frame,
            now_utc=utc(now),
            cadence="1h",
            publication_lag="-11h",
            start_utc=utc("2024-06-09 22:00"),
            end_utc=utc("2024-06-11 22:00"),
        )
        return result.status, result.observed

    assert at("2024-06-10 14:00") == ("pass", 0.0)  # through 2024-06-11 22:00 >= now + 11 h
    assert at("2024-06-10 10:00") == ("pass", 0.0)  # before publication: 22:00 >= 21:00
    # 2024-06-11 not published yet (d2 hidden at these instants in the frame below)
    late = d1
    result = check_freshness(
        late,
        now_utc=utc("2024-06-10 13:00"),
        cadence="1h",
        publication_lag="-11h",
        start_utc=utc("2024-06-09 22:00"),
        end_utc=utc("2024-06-11 22:00"),
    )
    # expected end now + 11 h = 2024-06-11 00:00, latest 2024-06-10 22:00 -> 120 min > 60 min
    assert (result.status, result.observed, result.threshold) == ("fail", 120.0, 60.0)


# --------------------------------------------------------------------------------------------------------
# Empty series
# --------------------------------------------------------------------------------------------------------
def test_every_check_fails_with_no_data_on_an_empty_series() -> None:
    empty = series("2024-01-01", 0)
    bounds = {"start_utc": utc("2024-01-01"), "end_utc": utc("2024-01-02")}
    results = [
        check_freshness(empty, now_utc=utc("2024-01-02"), cadence="1h", **bounds),
        check_completeness(empty, cadence="1h", tz="Europe/Berlin", **bounds),
        check_duplicates(empty, **bounds),
        check_anomalies(empty, market="ERCOT_DA", **bounds),
    ]
    assert [r.check_name for r in results] == ["freshness", "completeness", "duplicates", "anomalies"]
    for result in results:
        assert (result.status, result.observed) == ("fail", None)
        assert result.details["reason"] == "no data"
        assert result.window_start_utc == bounds["start_utc"]
