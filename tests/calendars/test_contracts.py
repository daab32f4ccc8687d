"""Contracts: names -> delivery periods, validation, CSV and forward_quotes mapping, delivery hours."""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketintel.calendars import (
    Contract,
    contract_hours,
    contracts_from_quotes,
    delivery_period,
    get_calendar,
    read_contracts_csv,
)

D = dt.date


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("D-2025-02-03", (D(2025, 2, 3), D(2025, 2, 3))),
        ("WE-2025-02-08", (D(2025, 2, 8), D(2025, 2, 9))),
        ("W-2025-07", (D(2025, 2, 10), D(2025, 2, 16))),  # ISO week 1 of 2025 starts Mon 30 Dec 2024
        ("w-2025-w07", (D(2025, 2, 10), D(2025, 2, 16))),
        ("W-2026-W01", (D(2025, 12, 29), D(2026, 1, 4))),
        ("BOM-2025-02-10", (D(2025, 2, 10), D(2025, 2, 28))),
        ("M-2025-02", (D(2025, 2, 1), D(2025, 2, 28))),
        ("M-2024-02", (D(2024, 2, 1), D(2024, 2, 29))),
        ("Q-2025-Q2", (D(2025, 4, 1), D(2025, 6, 30))),
        ("q-2025-4", (D(2025, 10, 1), D(2025, 12, 31))),
        ("Sum-2025", (D(2025, 4, 1), D(2025, 9, 30))),
        ("WIN-2025", (D(2025, 10, 1), D(2026, 3, 31))),
        ("Cal-2026", (D(2026, 1, 1), D(2026, 12, 31))),
        ("Y-2026", (D(2026, 1, 1), D(2026, 12, 31))),
        ("Strip-2026-07..2026-09", (D(2026, 7, 1), D(2026, 9, 30))),
        ("strip-2026-11..2027-02", (D(2026, 11, 1), D(2027, 2, 28))),
    ],
)
def test_delivery_period_of_standard_names(name: str, expected: tuple[dt.date, dt.date]) -> None:
    assert delivery_period(name) == expected


def test_seasons_follow_the_calendar() -> None:
    assert delivery_period("Win-2025", "HENRY_HUB") == (D(2025, 11, 1), D(2026, 3, 31))
    assert delivery_period("Sum-2025", "HENRY_HUB") == (D(2025, 4, 1), D(2025, 10, 31))
    assert delivery_period("Win-2025", "TTF") == (D(2025, 10, 1), D(2026, 3, 31))
    assert delivery_period("Sum-2026", get_calendar("EEX_DE")) == (D(2026, 4, 1), D(2026, 9, 30))
    with pytest.raises(ValueError, match="calendar PJM defines no seasons"):
        delivery_period("Sum-2025", "PJM")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "X-2025",
            r"cannot parse contract name 'X-2025'; accepted forms: D-YYYY-MM-DD .*Strip-YYYY-MM\.\.YYYY-MM",
        ),
        ("M-2025-2", "cannot parse"),
        ("WE-2025-02-07", "names its Saturday; 2025-02-07 is a Friday"),
        ("W-2025-53", "ISO year 2025 has no week 53"),
        ("Q-2025-Q5", "quarter must be 1..4"),
        ("M-2025-13", "month must be 01..12"),
        ("D-2025-02-30", "not a date"),
        ("Strip-2026-09..2026-07", "strip ends"),
    ],
)
def test_delivery_period_errors(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        delivery_period(name)


def test_contract_validation() -> None:
    ok = Contract("M-2026-01", D(2026, 1, 1), D(2026, 1, 31), price=-5.0)  # negative prices are allowed
    assert (ok.profile, ok.mid, ok.days) == ("base", -5.0, 31)
    quoted = Contract("M-2026-02", D(2026, 2, 1), D(2026, 2, 28), "peak", bid=99.0, ask=101.0)
    assert quoted.mid == 100.0
    assert quoted.price is None
    with pytest.raises(ValueError, match=r"contract 'bad': end 2026-01-01 is before start 2026-01-31"):
        Contract("bad", D(2026, 1, 31), D(2026, 1, 1), price=1.0)
    with pytest.raises(ValueError, match=r"contract 'bad': bid 102.0 is above ask 101.0"):
        Contract("bad", D(2026, 1, 1), D(2026, 1, 1), bid=102.0, ask=101.0)
    with pytest.raises(ValueError, match=r"contract 'bad': needs a price or both bid and ask"):
        Contract("bad", D(2026, 1, 1), D(2026, 1, 1), bid=1.0)
    with pytest.raises(ValueError, match=r"contract 'bad': price must be a finite number"):
        Contract("bad", D(2026, 1, 1), D(2026, 1, 1), price=math.nan)
    with pytest.raises(ValueError, match=r"contract 'bad': ask must be a finite number"):
        Contract("bad", D(2026, 1, 1), D(2026, 1, 1), price=1.0, bid=1.0, ask=math.inf)
    with pytest.raises(ValueError, match=r"contract 'bad': start must be a datetime.date"):
        Contract("bad", dt.datetime(2026, 1, 1), D(2026, 1, 1), price=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lower-case"):
        Contract("bad", D(2026, 1, 1), D(2026, 1, 1), "Peak", price=1.0)


def test_contract_hours_respect_dst() -> None:
    cal = get_calendar("EEX_DE")
    q1 = Contract("Q-2026-Q1", *delivery_period("Q-2026-Q1"), price=1.0)
    assert contract_hours(q1, cal) == 744 + 672 + 743 == 2159
    assert contract_hours(Contract("Cal-2026", *delivery_period("Cal-2026"), price=1.0), "EEX_DE") == 8760
    # Peak: Jan 22, Feb 20 (starts on a Sunday), Mar 22 weekdays, 12 hours each.
    q1_peak = Contract("Q-2026-Q1", *delivery_period("Q-2026-Q1"), "peak", price=1.0)
    assert contract_hours(q1_peak, cal) == (22 + 20 + 22) * 12 == 768
    win = Contract("Win-2025", *delivery_period("Win-2025"), price=1.0)
    assert contract_hours(win, cal) == 745 + 720 + 744 + 744 + 672 + 743  # Oct 2025 has the 25-hour day
    pjm = Contract("M-2024-01", *delivery_period("M-2024-01"), "5x16", price=1.0)
    assert contract_hours(pjm, "PJM") == 352
    with pytest.raises(ValueError, match="unknown profile '5x16' for calendar EEX_DE"):
        contract_hours(pjm, cal)


def test_read_contracts_csv_fills_dates_from_names_and_checks_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "contracts.csv"
    path.write_text(
        "name,start,end,price,bid,ask,profile,kind\n"
        "M-2026-02,,,94.0,,,,month\n"
        "Q-2026-Q2,2026-04-01,2026-06-30,,65.5,66.5,PEAK,quarter\n"
        "my-block,2026-07-06,2026-07-10,70,,,base,custom\n"
    )
    contracts = read_contracts_csv(path)
    assert contracts == [
        Contract("M-2026-02", D(2026, 2, 1), D(2026, 2, 28), "base", 94.0),
        Contract("Q-2026-Q2", D(2026, 4, 1), D(2026, 6, 30), "peak", None, 65.5, 66.5),
        Contract("my-block", D(2026, 7, 6), D(2026, 7, 10), "base", 70.0),
    ]
    path.write_text("name,start,end,price\nM-2026-02,2026-02-01,2026-03-01,94.0\n")
    with caplog.at_level(logging.WARNING, logger="marketintel.calendars"):
        (kept,) = read_contracts_csv(path)  # explicit dates rule over the name
    assert (kept.start, kept.end) == (D(2026, 2, 1), D(2026, 3, 1))
    assert "contracts.csv:2: contract 'M-2026-02' has dates 2026-02-01..2026-03-01" in caplog.text
    assert "its name means 2026-02-01..2026-02-28; the dates rule" in caplog.text
    path.write_text("name,start,end,price\nM-2026-02,,,\n")
    with pytest.raises(ValueError, match=r"contracts.csv:2: contract 'M-2026-02': needs a price"):
        read_contracts_csv(path)
    path.write_text("name,begin,end,price\nM-2026-02,,,1\n")
    with pytest.raises(
        ValueError, match=r"missing columns \['start'\]; got \['name', 'begin', 'end', 'price'\]"
    ):
        read_contracts_csv(path)
    path.write_text("name,start,end,price\n")
    with pytest.raises(ValueError, match="no contracts"):
        read_contracts_csv(path)


def _hour_weighted(contracts: list[Contract], names: list[str], profile: str) -> float:
    picked = [c for c in contracts if c.name in names and c.profile == profile]
    assert len(picked) == len(names)
    hours = np.array([contract_hours(c, "EEX_DE") for c in picked], dtype=float)
    prices = np.array([c.mid for c in picked])
    return float(hours @ prices / hours.sum())


@pytest.mark.shared
def test_shared_case_a_contracts_reprice_redundant_quarters(shared_dir: Path) -> None:
    contracts = read_contracts_csv(shared_dir / "curves" / "caseA_daily" / "contracts.csv", "EEX_DE")
    assert len(contracts) == 18
    assert contracts[0] == Contract("M-2025-02", D(2025, 2, 1), D(2025, 2, 28), "base", 128.5)
    assert contracts[-1] == Contract("Cal-2027", D(2027, 1, 1), D(2027, 12, 31), "base", 79.2)
    assert {c.profile for c in contracts} == {"base"}
    by_name = {c.name: c for c in contracts}
    # The redundant quarters are the hour-weighted means of their months (Q4 has the 25-hour day).
    for quarter, months in {
        "Q-2025-Q2": ["M-2025-04", "M-2025-05", "M-2025-06"],
        "Q-2025-Q3": ["M-2025-07", "M-2025-08", "M-2025-09"],
        "Q-2025-Q4": ["M-2025-10", "M-2025-11", "M-2025-12"],
    }.items():
        assert by_name[quarter].price == pytest.approx(_hour_weighted(contracts, months, "base"), abs=1e-12)


@pytest.mark.shared
def test_shared_case_b_contracts_reprice_redundant_base_and_peak(shared_dir: Path) -> None:
    contracts = read_contracts_csv(shared_dir / "curves" / "caseB_hourly" / "contracts.csv", "EEX_DE")
    assert len(contracts) == 18
    assert sum(c.profile == "peak" for c in contracts) == 9
    months = ["M-2026-01", "M-2026-02", "M-2026-03"]
    quarters = ["Q-2026-Q1", "Q-2026-Q2", "Q-2026-Q3", "Q-2026-Q4"]
    q1 = {c.profile: c for c in contracts if c.name == "Q-2026-Q1"}
    cal = {c.profile: c for c in contracts if c.name == "Cal-2026"}
    for profile in ("base", "peak"):
        assert q1[profile].mid == pytest.approx(_hour_weighted(contracts, months, profile), abs=1e-12)
        assert cal[profile].mid == pytest.approx(_hour_weighted(contracts, quarters, profile), abs=1e-12)
    assert q1["peak"].mid == (112.0 * 264 + 107.5 * 240 + 88.0 * 264) / 768  # 102.34375, exact


def test_contracts_from_quotes_maps_settle_and_exclusive_end() -> None:
    frame = pd.DataFrame(
        {
            "trade_date": [D(2026, 1, 15)] * 3,
            "market": ["EEX"] * 3,
            "product": ["DE_POWER"] * 3,
            "contract": ["2026-M02", "2026-Q2", "CAL-27"],
            "delivery_start": pd.to_datetime(["2026-02-01", "2026-04-01", "2027-01-01"]),
            "delivery_end": [D(2026, 3, 1), D(2026, 7, 1), D(2028, 1, 1)],
            "profile": ["base", "Peak", "base"],
            "settle": [94.0, None, 79.5],
            "bid": [np.nan, 60.0, 79.0],
            "ask": [np.nan, 61.0, 80.0],
            "currency": ["EUR"] * 3,
        }
    )
    contracts = contracts_from_quotes(frame)
    assert contracts == [
        Contract("2026-M02", D(2026, 2, 1), D(2026, 2, 28), "base", 94.0),
        Contract("2026-Q2", D(2026, 4, 1), D(2026, 6, 30), "peak", None, 60.0, 61.0),
        Contract("CAL-27", D(2027, 1, 1), D(2027, 12, 31), "base", 79.5, 79.0, 80.0),
    ]
    with pytest.raises(ValueError, match=r"lacks columns \['settle'\]"):
        contracts_from_quotes(frame.drop(columns="settle"))
    with pytest.raises(ValueError, match="empty"):
        contracts_from_quotes(frame.iloc[:0])
    nothing = frame.iloc[[1]].assign(bid=np.nan)
    with pytest.raises(ValueError, match="contract '2026-Q2': needs a price or both bid and ask"):
        contracts_from_quotes(nothing)
    reversed_row = frame.iloc[[0]].assign(delivery_end=[D(2026, 2, 1)])
    with pytest.raises(ValueError, match=r"delivery_end 2026-02-01 \(exclusive\) must be after"):
        contracts_from_quotes(reversed_row)


@pytest.mark.parametrize(
    ("calendar", "summer", "winter"),
    [
        # NYMEX natural gas: summer (injection) April-October, winter (withdrawal) November-March
        ("HENRY_HUB", (D(2025, 4, 1), D(2025, 10, 31)), (D(2025, 11, 1), D(2026, 3, 31))),
        # European gas and power: summer April-September, winter October-March
        ("TTF", (D(2025, 4, 1), D(2025, 9, 30)), (D(2025, 10, 1), D(2026, 3, 31))),
    ],
)
def test_season_names_follow_the_market_and_explicit_dates_rule(
    tmp_path: Path, calendar: str, summer: tuple[D, D], winter: tuple[D, D]
) -> None:
    names_only = tmp_path / "names.csv"
    names_only.write_text("name,start,end,price\nSum-2025,,,3.1\nWin-2025,,,3.9\n")
    got = read_contracts_csv(names_only, calendar)
    assert [(c.start, c.end) for c in got] == [summer, winter]
    # a US strip's explicit dates, whatever calendar reads the file: the dates are kept
    explicit = tmp_path / "explicit.csv"
    explicit.write_text(
        "name,start,end,price\nSum-2025,2025-04-01,2025-10-31,3.1\nWin-2025,2025-11-01,2026-03-31,3.9\n"
    )
    got = read_contracts_csv(explicit, calendar)
    assert [(c.start, c.end) for c in got] == [
        (D(2025, 4, 1), D(2025, 10, 31)),
        (D(2025, 11, 1), D(2026, 3, 31)),
    ]
