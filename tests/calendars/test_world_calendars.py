"""Calendars of the European, Asia-Pacific markets: market time units on DST days, peaks, holidays."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from marketintel.calendars import get_calendar, get_holiday_rule


@pytest.mark.parametrize("name", ["EEX_DE", "EEX_BE", "TGE_PL", "OMIE_ES", "OMIE_PT", "NORDPOOL", "EEX_HU"])
def test_sdac_quarter_hours_on_dst_days_after_the_switch(name: str) -> None:
    cal = get_calendar(name)
    # 2025-10-26: the first autumn DST day after the 15-minute MTU went live on 2025-10-01
    assert cal.periods_per_day("2025-10-25", "2025-10-27").tolist() == [96, 100, 96]
    # before the switch the day-ahead MTU was the hour; counted in quarter hours on request
    assert cal.periods_per_day("2025-09-30", "2025-10-01").tolist() == [24, 96]
    assert cal.periods_per_day("2025-03-29", "2025-03-31", minutes=15).tolist() == [96, 92, 96]
    assert cal.periods_per_day("2026-03-29", "2026-03-29").tolist() == [92]


def test_periods_are_contiguous_utc_starts_numbered_within_the_day() -> None:
    frame = get_calendar("EEX_DE").periods("2025-10-26", "2025-10-26")
    stamps = pd.DatetimeIndex(frame["datetime_utc"])
    assert stamps[0] == pd.Timestamp("2025-10-25 22:00", tz="UTC")  # CEST midnight
    assert (stamps[1:] - stamps[:-1] == pd.Timedelta(minutes=15)).all()
    assert stamps[-1] + pd.Timedelta(minutes=15) == pd.Timestamp("2025-10-26 23:00", tz="UTC")  # CET midnight
    assert frame["period"].tolist() == list(range(1, 101))


def test_nem_runs_on_aest_and_switched_to_five_minutes_on_2021_10_01() -> None:
    nem = get_calendar("NEM")
    assert nem.periods_per_day("2021-09-30", "2021-10-01").tolist() == [48, 288]
    first = nem.periods("2021-10-01", "2021-10-01")["datetime_utc"].iloc[0]
    assert first == pd.Timestamp("2021-09-30 14:00", tz="UTC")  # 00:00 AEST, UTC+10
    # no DST in market time: the Sydney clock change of 2021-10-03 changes nothing
    assert nem.periods_per_day("2021-10-02", "2021-10-04").tolist() == [288, 288, 288]
    assert nem.daily("2025-01-24", "2025-01-24")["peak_hours"].iloc[0] == 15  # 07:00-22:00


@pytest.mark.parametrize(("name", "offset", "per_day"), [("JEPX", 9, 48), ("EMC_SG", 8, 48), ("KPX", 9, 24)])
def test_asian_markets_have_fixed_offsets_and_their_mtu(name: str, offset: int, per_day: int) -> None:
    cal = get_calendar(name)
    counts = cal.periods_per_day("2024-01-01", "2024-12-31")
    assert set(counts.tolist()) == {per_day} and len(counts) == 366
    start = cal.periods("2024-04-01", "2024-04-01")["datetime_utc"].iloc[0]
    assert start == pd.Timestamp("2024-04-01", tz="UTC") - pd.Timedelta(hours=offset)


def test_holidays_from_the_package_include_lunar_and_substitute_days() -> None:
    kr = get_holiday_rule("KR").dates(2024)
    assert dt.date(2024, 2, 12) in kr  # Seollal substitute holiday (lunar new year fell on a Sunday)
    assert dt.date(2024, 9, 17) in kr  # Chuseok
    jp = get_holiday_rule("JP").dates(2024)
    assert dt.date(2024, 3, 20) in jp  # vernal equinox
    assert dt.date(2024, 5, 3) in get_holiday_rule("PL").dates(2024)  # Constitution Day


def test_jepx_peak_excludes_japanese_holidays() -> None:
    daily = get_calendar("JEPX").daily("2024-03-19", "2024-03-21")
    assert daily["peak_hours"].tolist() == [12, 0, 12]  # 2024-03-20 equinox is a holiday


def test_a_bad_period_length_names_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="minutes must divide an hour"):
        get_calendar("EEX_DE").periods("2025-01-01", "2025-01-01", minutes=7)
