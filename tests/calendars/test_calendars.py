"""Market calendars: DST hour counts, peak and NERC blocks, holidays, registry errors.

Expected numbers are counted by hand from the calendar (weekday of the 1st, DST dates), not by the code.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketintel.calendars import CALENDARS, get_calendar, get_holiday_rule, nerc_holidays
from marketintel.calendars.holidays import easter_sunday

D = dt.date


def test_registry_has_the_markets_and_lists_them_on_error() -> None:
    expected = {
        "EEX_DE": "Europe/Berlin",
        "EEX_FR": "Europe/Paris",
        "EEX_NL": "Europe/Amsterdam",
        "EEX_AT": "Europe/Vienna",
        "NORDPOOL": "Europe/Oslo",
        "OMIE_ES": "Europe/Madrid",
        "GB": "Europe/London",
        "PJM": "America/New_York",
        "NYISO": "America/New_York",
        "ISONE": "America/New_York",
        "MISO": "America/New_York",
        "ERCOT": "America/Chicago",
        "SPP": "America/Chicago",
        "CAISO": "America/Los_Angeles",
        "AESO": "America/Edmonton",
        "IESO": "America/Toronto",
        "TTF": "Europe/Amsterdam",
        "NBP": "Europe/London",
        "THE": "Europe/Berlin",
        "HENRY_HUB": "America/Chicago",
        "EEX_BE": "Europe/Brussels",
        "EEX_CZ": "Europe/Prague",
        "EEX_SK": "Europe/Bratislava",
        "EEX_HU": "Europe/Budapest",
        "EEX_SI": "Europe/Ljubljana",
        "EEX_HR": "Europe/Zagreb",
        "EEX_RO": "Europe/Berlin",
        "EEX_BG": "Europe/Berlin",
        "TGE_PL": "Europe/Warsaw",
        "OMIE_PT": "Europe/Madrid",
        "NEM": "Australia/Brisbane",
        "JEPX": "Asia/Tokyo",
        "KPX": "Asia/Seoul",
        "EMC_SG": "Asia/Singapore",
    }
    assert {name: cal.tz for name, cal in CALENDARS.items()} == expected
    assert get_calendar("eex_de") is CALENDARS["EEX_DE"]
    with pytest.raises(KeyError, match=r"unknown calendar 'EEX'; known: .*EEX_DE.*PJM"):
        get_calendar("EEX")
    with pytest.raises(KeyError) as info:
        get_calendar("nope")
    assert str(info.value).startswith("unknown calendar 'nope'")  # not quoted twice, as KeyError would


def test_hourly_frame_columns_and_dtypes() -> None:
    frame = get_calendar("EEX_DE").hourly(D(2026, 1, 1), "2026-01-01")
    assert list(frame.columns) == [
        "datetime_utc",
        "datetime_local",
        "date",
        "hour_ending",
        "hour_local",
        "is_holiday",
        "is_peak",
        "block",
    ]
    assert str(frame["datetime_utc"].dtype) == "datetime64[ms, UTC]"
    assert str(frame["datetime_local"].dtype) == "datetime64[ms, Europe/Berlin]"
    assert str(frame["date"].dtype) == "datetime64[s]"
    assert frame["datetime_utc"].iloc[0] == pd.Timestamp("2025-12-31 23:00", tz="UTC")
    assert frame["hour_ending"].tolist() == list(range(1, 25))
    assert frame["is_holiday"].all()  # New Year's Day
    assert frame["is_peak"].sum() == 12  # EEX peak keeps holidays: Thursday 08:00-20:00
    assert set(frame["block"]) == {"peak", "offpeak"}


def test_dst_days_have_23_and_25_hours_in_berlin() -> None:
    cal = get_calendar("EEX_DE")
    daily = cal.daily("2025-03-29", "2025-10-27")
    assert daily.loc["2025-03-30", "hours"] == 23
    assert daily.loc["2025-10-26", "hours"] == 25
    assert daily.loc["2025-03-29", "hours"] == 24
    assert daily["hours"].dtype == np.int64
    assert str(daily.index.dtype) == "datetime64[s]"
    assert daily.index.name == "date"

    fall = cal.hourly("2025-10-26", "2025-10-26")
    assert fall["hour_ending"].tolist() == list(range(1, 26))
    assert fall["hour_local"].tolist() == [0, 1, 2, 2, *range(3, 24)]  # 02:00 twice
    assert fall["datetime_utc"].iloc[0] == pd.Timestamp("2025-10-25 22:00", tz="UTC")
    assert fall["datetime_utc"].iloc[-1] == pd.Timestamp("2025-10-26 22:00", tz="UTC")
    spring = cal.hourly("2025-03-30", "2025-03-30")
    assert spring["hour_local"].tolist() == [0, 1, *range(3, 24)]  # no 02:00
    # A three-year frame: 1095 days, the DST changes cancel out.
    assert len(cal.hourly("2025-01-01", "2027-12-31")) == 1095 * 24


def test_eex_peak_hours_of_months() -> None:
    cal = get_calendar("EEX_DE")
    # January 2026 starts on a Thursday: 22 weekdays; New Year is a holiday but stays peak (EEX).
    assert cal.profile_hours("2026-01-01", "2026-01-31", "peak") == 22 * 12 == 264
    # March 2026 starts on a Sunday: 22 weekdays; 29 March (DST) is a Sunday with 23 hours, all off-peak.
    march = cal.daily("2026-03-01", "2026-03-31")
    assert march["peak_hours"].sum() == 264
    assert march["hours"].sum() == 743
    assert march["offpeak_hours"].sum() == 743 - 264 == 479
    assert march.loc["2026-03-29", "peak_hours"] == 0
    # October 2025 starts on a Wednesday: 23 weekdays; 26 October (fall-back Sunday) has 25 off-peak hours.
    october = cal.daily("2025-10-01", "2025-10-31")
    assert october["peak_hours"].sum() == 23 * 12 == 276
    assert october["offpeak_hours"].sum() == 745 - 276 == 469
    assert october.loc["2025-10-26", "offpeak_hours"] == 25


def test_eex_peak_window_is_08_to_20_and_holidays_stay_peak() -> None:
    cal = get_calendar("EEX_DE")
    day = cal.hourly("2026-04-03", "2026-04-03")  # Good Friday 2026: a German holiday
    assert day["is_holiday"].all()
    assert day.loc[day["is_peak"], "hour_local"].tolist() == list(range(8, 20))
    assert day.loc[day["is_peak"], "datetime_utc"].iloc[0] == pd.Timestamp("2026-04-03 06:00", tz="UTC")


def test_gb_peak_is_07_to_19_uk_time() -> None:
    cal = get_calendar("GB")
    day = cal.hourly("2026-07-01", "2026-07-01")  # a Wednesday in BST
    assert day.loc[day["is_peak"], "hour_local"].tolist() == list(range(7, 19))
    assert day.loc[day["is_peak"], "datetime_utc"].iloc[0] == pd.Timestamp("2026-07-01 06:00", tz="UTC")
    assert cal.profile_hours("2026-01-01", "2026-01-31", "peak") == 264


def test_nerc_holidays_against_published_dates() -> None:
    # 2010 and 2011 as in the published NERC "additional off-peak days" list.
    assert nerc_holidays(2010) == [
        D(2010, 1, 1),
        D(2010, 5, 31),
        D(2010, 7, 5),  # 4 July on a Sunday -> Monday
        D(2010, 9, 6),
        D(2010, 11, 25),
        D(2010, 12, 25),  # Saturday: not moved
    ]
    assert nerc_holidays(2011)[:2] == [D(2011, 1, 1), D(2011, 5, 30)]  # New Year on a Saturday stays
    assert nerc_holidays(2021) == [
        D(2021, 1, 1),
        D(2021, 5, 31),
        D(2021, 7, 5),
        D(2021, 9, 6),
        D(2021, 11, 25),
        D(2021, 12, 25),
    ]
    assert nerc_holidays(2022) == [
        D(2022, 1, 1),
        D(2022, 5, 30),
        D(2022, 7, 4),
        D(2022, 9, 5),
        D(2022, 11, 24),
        D(2022, 12, 26),  # Christmas on a Sunday -> Monday
    ]
    assert nerc_holidays(2023) == [
        D(2023, 1, 2),  # New Year on a Sunday -> Monday
        D(2023, 5, 29),
        D(2023, 7, 4),
        D(2023, 9, 4),
        D(2023, 11, 23),
        D(2023, 12, 25),
    ]


def test_pjm_blocks_in_a_month_with_a_holiday() -> None:
    cal = get_calendar("PJM")
    # January 2024 starts on a Monday: 23 weekdays, minus New Year (Monday, NERC) = 22 peak days.
    jan = cal.daily("2024-01-01", "2024-01-31")
    assert jan["hours_5x16"].sum() == 22 * 16 == 352
    assert jan["hours_2x16"].sum() == (8 + 1) * 16 == 144  # 8 weekend days + the holiday
    assert jan["hours_7x8"].sum() == 31 * 8 == 248
    assert jan["peak_hours"].sum() == 352
    assert jan["offpeak_hours"].sum() == 144 + 248
    assert jan.loc["2024-01-01", "is_holiday"]
    assert cal.profile_hours("2024-01-01", "2024-01-31", "5x16") == 352


def test_nerc_holiday_days_are_2x16() -> None:
    cal = get_calendar("PJM")
    days = cal.daily("2021-07-02", "2021-07-06")
    assert days["hours_5x16"].tolist() == [16, 0, 0, 0, 16]  # Fri, Sat, Sun, Mon (observed 4 July), Tue
    assert days["is_holiday"].tolist() == [False, False, False, True, False]
    around_xmas = cal.daily("2022-12-23", "2022-12-27")
    assert around_xmas["hours_5x16"].tolist() == [16, 0, 0, 0, 16]  # 26 Dec 2022 observed
    new_year = cal.daily("2021-12-31", "2022-01-03")
    assert new_year["hours_5x16"].tolist() == [16, 0, 0, 16]  # Saturday holiday: Friday stays peak
    assert new_year["is_holiday"].tolist() == [False, True, False, False]


def test_nerc_blocks_on_us_dst_days() -> None:
    cal = get_calendar("PJM")
    days = cal.daily("2024-03-10", "2024-11-03")
    spring, fall = days.loc["2024-03-10"], days.loc["2024-11-03"]  # both Sundays
    assert (spring["hours"], spring["hours_2x16"], spring["hours_7x8"]) == (23, 16, 7)  # HE3 is skipped
    assert (fall["hours"], fall["hours_2x16"], fall["hours_7x8"]) == (25, 16, 9)  # HE2 happens twice
    fall_hours = cal.hourly("2024-11-03", "2024-11-03")
    assert fall_hours["block"].tolist() == ["7x8"] * 8 + ["2x16"] * 16 + ["7x8"]


def test_base_equals_sum_of_blocks_every_day_of_a_year() -> None:
    cal = get_calendar("PJM")
    year = cal.daily("2024-01-01", "2024-12-31")
    assert (year["hours"] == year["hours_5x16"] + year["hours_2x16"] + year["hours_7x8"]).all()
    assert (year["hours"] == year["peak_hours"] + year["offpeak_hours"]).all()
    # 2024: 262 weekdays, all six NERC holidays on weekdays -> 256 peak days; 104 weekend days + 6.
    assert year["hours"].sum() == 8784
    assert year["hours_5x16"].sum() == 256 * 16
    assert year["hours_2x16"].sum() == 110 * 16
    assert year["hours_7x8"].sum() == 366 * 8  # -1 in March, +1 in November


def test_ercot_window_is_he07_to_he22_cpt() -> None:
    cal = get_calendar("ERCOT")
    day = cal.hourly("2024-01-02", "2024-01-02")  # Tuesday
    assert day.loc[day["is_peak"], "hour_local"].tolist() == list(range(6, 22))
    assert cal.block_labels == ("5x16", "2x16", "7x8")


def test_caiso_is_wecc_6x16() -> None:
    cal = get_calendar("CAISO")
    assert cal.block_labels == ("6x16", "1x16", "7x8")
    week = cal.daily("2024-01-01", "2024-01-07")  # Mon (New Year, NERC) .. Sun
    assert week["hours_6x16"].tolist() == [0, 16, 16, 16, 16, 16, 0]
    assert week["hours_1x16"].tolist() == [16, 0, 0, 0, 0, 0, 16]
    assert (week["hours"] == week["hours_6x16"] + week["hours_1x16"] + week["hours_7x8"]).all()
    with pytest.raises(ValueError, match=r"unknown profile '5x16' for calendar CAISO; valid: .*6x16"):
        cal.profile_hours("2024-01-01", "2024-01-07", "5x16")


def test_profile_mask_and_profile_hours_per_day() -> None:
    cal = get_calendar("PJM")
    frame = cal.hourly("2024-01-05", "2024-01-08")  # Fri .. Mon
    assert cal.profile_mask(frame, "BASE").sum() == 96
    assert cal.profile_mask(frame, "7x24").sum() == 96
    assert cal.profile_mask(frame, "peak").sum() == 32
    assert cal.profile_mask(frame, "offpeak").sum() == 64
    assert cal.profile_mask(frame, "7x16").sum() == 64
    assert cal.profile_mask(frame, "2x16").sum() == 32
    assert cal.profile_mask(frame, "7x8").sum() == 32
    per_day = cal.profile_hours_per_day("2024-01-05", "2024-01-08", "5x16")
    assert per_day.dtype == np.int64
    assert per_day.tolist() == [16, 0, 0, 16]
    with pytest.raises(
        ValueError, match=r"unknown profile 'super' for calendar PJM; valid: base, 7x24, peak"
    ):
        cal.profile_mask(frame, "super")
    with pytest.raises(ValueError, match=r"missing columns \['block'\]"):
        cal.profile_mask(frame.drop(columns="block"), "peak")
    with pytest.raises(ValueError, match=r"valid: base, 7x24, peak, offpeak$"):
        get_calendar("EEX_DE").profile_mask(frame, "5x16")


def test_gas_calendars_weight_days() -> None:
    ttf = get_calendar("TTF")
    daily = ttf.daily("2025-10-25", "2025-10-27")
    assert daily["weight_days"].tolist() == [1, 1, 1]
    assert daily["hours"].tolist() == [24, 25, 24]
    assert daily["peak_hours"].tolist() == [0, 0, 0]
    assert ttf.commodity == "gas"
    with pytest.raises(ValueError, match=r"valid: base, 7x24$"):
        ttf.profile_hours("2025-10-25", "2025-10-27", "peak")
    assert get_calendar("HENRY_HUB").seasons is not None


def test_bad_date_ranges_fail_clearly() -> None:
    cal = get_calendar("EEX_DE")
    with pytest.raises(ValueError, match="end 2026-01-01 is before start 2026-01-02"):
        cal.hourly("2026-01-02", "2026-01-01")
    with pytest.raises(ValueError, match="ISO date"):
        cal.hourly("01/02/2026", "2026-01-03")
    with pytest.raises(ValueError, match="local calendar date"):
        cal.hourly(pd.Timestamp("2026-01-01", tz="UTC"), "2026-01-03")


def test_hourly_builds_three_years_in_one_frame() -> None:
    """Three years of hours in one call (its speed is timed within benchmarks/curves.py, not asserted)."""
    frame = get_calendar("PJM").hourly("2025-01-01", "2027-12-31")
    assert len(frame) == 1095 * 24
    assert (frame["datetime_utc"].diff().iloc[1:] == pd.Timedelta(hours=1)).all()
    hours_per_day = frame.groupby("date").size()
    assert len(hours_per_day) == 1095
    assert hours_per_day.value_counts().to_dict() == {24: 1089, 23: 3, 25: 3}  # one spring, one autumn a year


def test_holiday_rules() -> None:
    assert [easter_sunday(y) for y in (2024, 2025, 2026)] == [D(2024, 3, 31), D(2025, 4, 20), D(2026, 4, 5)]
    assert get_holiday_rule("de").dates(2026) == [
        D(2026, 1, 1),
        D(2026, 4, 3),
        D(2026, 4, 6),
        D(2026, 5, 1),
        D(2026, 5, 14),
        D(2026, 5, 25),
        D(2026, 10, 3),
        D(2026, 12, 25),
        D(2026, 12, 26),
    ]
    gb = get_holiday_rule("GB")
    assert [d for d in gb.dates(2022) if d.month in (1, 12)] == [
        D(2022, 1, 3),
        D(2022, 12, 26),
        D(2022, 12, 27),
    ]
    assert [d for d in gb.dates(2021) if d.month == 12] == [D(2021, 12, 27), D(2021, 12, 28)]
    assert D(2025, 4, 26) in get_holiday_rule("NL").dates(2025)  # 27 April 2025 is a Sunday
    with pytest.raises(KeyError, match="known: AT, AU, BE"):
        get_holiday_rule("XX")


#: weekday differences to the ``holidays`` package that our rules state (see their descriptions)
STATED_DIFFERENCES = {"NL": {"Good Friday", "Liberation Day"}}


@pytest.mark.parametrize("code", ["DE", "FR", "NL", "AT", "NO", "ES", "GB"])
def test_european_holidays_equal_the_holidays_package_on_weekdays(code: str) -> None:
    """Every Monday-Friday holiday of 2000-2040 against an independent table (holidays 0.109).

    Weekends are left out: there the conventions differ without changing a peak hour (the package lists a
    UK Christmas on a Saturday beside its substitute, leaves out Spanish national days on a Sunday, ...).
    """
    import holidays

    first = 2008 if code == "ES" else 2000  # the package's Spanish table starts in 2008
    years = range(first, 2041)
    peer = holidays.country_holidays(code, years=years, **({"subdiv": "ENG"} if code == "GB" else {}))
    theirs = {day: name for day, name in peer.items() if day.weekday() < 5}
    rule = get_holiday_rule(code)
    ours = {day for year in years for day in rule.dates(year) if day.weekday() < 5}
    assert sorted(ours - set(theirs)) == []
    missing = {name for day, name in theirs.items() if day not in ours}
    assert missing == STATED_DIFFERENCES.get(code, set()), missing


def test_dated_exceptions_of_the_holiday_rules() -> None:
    gb = get_holiday_rule("GB")
    assert [d for d in gb.dates(2022) if d.month in (5, 6, 9)] == [
        D(2022, 5, 2),
        D(2022, 6, 2),
        D(2022, 6, 3),
        D(2022, 9, 19),
    ]
    assert D(2020, 5, 8) in gb.dates(2020) and D(2020, 5, 4) not in gb.dates(2020)
    nl = get_holiday_rule("NL")
    assert D(2013, 4, 30) in nl.dates(2013) and D(2013, 4, 27) not in nl.dates(2013)  # Queen's Day
    assert D(2006, 4, 29) in nl.dates(2006)  # 30 April 2006 was a Sunday
    assert D(2017, 10, 31) in get_holiday_rule("DE").dates(2017)
    assert D(2018, 10, 31) not in get_holiday_rule("DE").dates(2018)
    fr = get_holiday_rule("FR")
    assert D(2006, 6, 5) not in fr.dates(2006) and D(2008, 5, 12) in fr.dates(2008)  # Whit Mondays


@pytest.mark.shared
def test_matches_shared_case_b_hourly_stamps_and_peak_flags(shared_dir: Path) -> None:
    shape = pd.read_csv(shared_dir / "curves" / "caseB_hourly" / "shape.csv")
    frame = get_calendar("EEX_DE").hourly("2026-01-01", "2026-12-31")
    assert len(frame) == len(shape) == 8760
    expected_utc = pd.to_datetime(shape["datetime_utc"], utc=True).dt.as_unit("ms")
    assert (frame["datetime_utc"].to_numpy() == expected_utc.to_numpy()).all()
    assert (frame["is_peak"].to_numpy() == shape["is_peak"].to_numpy().astype(bool)).all()
    assert frame["is_peak"].sum() == 3132  # 261 weekdays in 2026 x 12


@pytest.mark.shared
def test_matches_shared_case_a_hours_per_day(shared_dir: Path) -> None:
    expected = pd.read_csv(shared_dir / "curves" / "caseA_daily" / "hours_per_day.csv")
    daily = get_calendar("EEX_DE").daily(expected["date"].iloc[0], expected["date"].iloc[-1])
    assert len(daily) == len(expected) == 1064
    assert daily.index.strftime("%Y-%m-%d").tolist() == expected["date"].tolist()
    assert daily["hours"].tolist() == expected["hours"].tolist()
