"""Curve builds on the shared reference cases (exact answer, hourly repricing) and their failure modes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketintel.calendars import Contract, get_calendar, read_contracts_csv
from marketintel.config import shared_dir
from marketintel.curves import solve
from marketintel.curves.build import (
    CurveSolveError,
    InconsistentContractsError,
    Scenario,
    Shift,
    build_curve,
    choose_blocks,
    clear_caches,
)
from marketintel.curves.grid import block_days, delivery_grid
from marketintel.curves.matrix import contract_matrix, pattern_columns
from marketintel.curves.solve import dependencies

CURVES = shared_dir() / "curves"
needs_cases = pytest.mark.skipif(not CURVES.is_dir(), reason=f"reference curve cases not found at {CURVES}")
EEX = get_calendar("EEX_DE")


def _shape(path: Path) -> pd.Series:
    frame = pd.read_csv(path)
    return pd.Series(
        frame["shape"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["datetime_utc"], utc=True))
    )


@pytest.fixture(scope="module")
def case_a() -> tuple[list[Contract], pd.DataFrame]:
    if not CURVES.is_dir():
        pytest.skip(f"reference curve cases not found at {CURVES}")
    contracts = read_contracts_csv(CURVES / "caseA_daily" / "contracts.csv", EEX)
    reference = pd.read_csv(CURVES / "caseA_daily" / "reference_discrete_max_smoothness.csv")
    return contracts, reference


@pytest.fixture(scope="module")
def case_b() -> tuple[list[Contract], pd.Series]:
    if not CURVES.is_dir():
        pytest.skip(f"reference curve cases not found at {CURVES}")
    contracts = read_contracts_csv(CURVES / "caseB_hourly" / "contracts.csv", EEX)
    return contracts, _shape(CURVES / "caseB_hourly" / "shape.csv")


@needs_cases
def test_case_a_equals_the_exact_reference(case_a: tuple[list[Contract], pd.DataFrame]) -> None:
    contracts, reference = case_a
    build = build_curve(contracts, EEX, "2025-02-01", "2027-12-31")
    assert len(build.daily) == 1064
    assert build.max_reprice_error < 1e-8
    assert (build.fits["status"] == "ok").all()
    assert np.abs(build.daily["price"].to_numpy() - reference["price"].to_numpy()).max() < 1e-6
    assert (
        build.method == "max_smoothness_exact" and build.inconsistencies.empty
    )  # redundant quarters accepted


@needs_cases
def test_case_a_weights_dst_days_by_their_hours(case_a: tuple[list[Contract], pd.DataFrame]) -> None:
    contracts, _ = case_a
    build = build_curve(contracts, EEX, "2025-02-01", "2027-12-31")
    hours = pd.read_csv(CURVES / "caseA_daily" / "hours_per_day.csv")["hours"].to_numpy()
    f = build.daily["price"].to_numpy()
    march = slice(28, 59)  # 2025-03-01 .. 03-31, with the 23-hour 30 March
    assert hours[march].min() == 23
    weighted = (hours[march] * f[march]).sum() / hours[march].sum()
    assert weighted == pytest.approx(104.2, abs=1e-10)
    assert abs(f[march].mean() - 104.2) > 1e-6  # an unweighted mean would misprice it


@needs_cases
def test_case_b_reprices_every_contract_hourly(case_b: tuple[list[Contract], pd.Series]) -> None:
    contracts, shape = case_b
    build = build_curve(contracts, EEX, "2026-01-01", "2026-12-31", granularity="hourly", shape=shape)
    assert build.blocks.names == ("peak", "offpeak")
    assert build.hourly is not None and len(build.hourly) == 8760
    assert len(build.fits) == 18 and build.max_reprice_error < 1e-8
    hourly = build.hourly.assign(is_peak=build.hourly["block"] == "peak")
    dates = hourly["date"].dt.date
    # off-peak of each period follows from base and peak with DST-true hour counts, and reprices too
    base = {c.name: c for c in contracts if c.profile == "base"}
    for peak in (c for c in contracts if c.profile == "peak"):
        sel = (dates >= peak.start) & (dates <= peak.end)
        n_base, n_peak = int(sel.sum()), int((sel & hourly["is_peak"]).sum())
        assert base[peak.name].price is not None and peak.price is not None
        offpeak = (n_base * base[peak.name].price - n_peak * peak.price) / (n_base - n_peak)
        mean = hourly.loc[sel & ~hourly["is_peak"], "price"].mean()
        assert mean == pytest.approx(offpeak, abs=1e-8), peak.name
    per_day = hourly.groupby("date").size()
    assert per_day[pd.Timestamp("2026-03-29")] == 23 and per_day[pd.Timestamp("2026-10-25")] == 25


@needs_cases
def test_case_b_needs_dst_true_hours(case_b: tuple[list[Contract], pd.Series]) -> None:
    """The README's check: a calendar without DST would misprice Q1 base by about 0.004."""
    contracts, shape = case_b
    build = build_curve(contracts, EEX, "2026-01-01", "2026-12-31", granularity="hourly", shape=shape)
    assert build.hourly is not None
    h = build.hourly
    q1 = h["date"] < pd.Timestamp("2026-04-01")
    # a naive calendar: every local day 24 equal hours -> the day's mean price, days weighted equally
    naive = h[q1].groupby("date")["price"].mean().mean()
    assert abs(naive - 91.24872626215841) > 1e-3
    assert h.loc[q1, "price"].mean() == pytest.approx(91.24872626215841, abs=1e-8)


def test_flat_and_negative_prices() -> None:
    contracts = [
        Contract("M-2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), price=-5.0),
        Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), price=-5.0),
        Contract("M-2026-03", dt.date(2026, 3, 1), dt.date(2026, 3, 31), price=-5.0),
    ]
    build = build_curve(contracts, EEX, "2026-01-01", "2026-03-31")
    assert np.abs(build.daily["price"].to_numpy() + 5.0).max() < 1e-9
    contracts[1] = Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), price=-30.0)
    build = build_curve(contracts, EEX, "2026-01-01", "2026-03-31")
    assert build.max_reprice_error < 1e-8 and build.daily["price"].min() < -30.0


@needs_cases
def test_inconsistent_quarter_is_reported_with_its_size(case_a: tuple[list[Contract], pd.DataFrame]) -> None:
    contracts, _ = case_a
    bad = [
        Contract(c.name, c.start, c.end, c.profile, (c.price or 0) + 0.3) if c.name == "Q-2025-Q2" else c
        for c in contracts
    ]
    with pytest.raises(InconsistentContractsError) as err:
        build_curve(bad, EEX, "2025-02-01", "2027-12-31")
    report = err.value.report
    assert report["contract"].tolist() == ["Q-2025-Q2"]
    assert report["inconsistency"].iloc[0] == pytest.approx(0.3, abs=1e-9)
    assert "M-2025-04" in report["implied_from"].iloc[0] and "M-2025-06" in report["implied_from"].iloc[0]
    assert "inconsistent by +0.3" in str(err.value)
    build = build_curve(bad, EEX, "2025-02-01", "2027-12-31", on_inconsistent="least-squares")
    assert build.max_reprice_error < 1e-8  # reprices the reconciled targets exactly
    adjusted = build.fits.set_index("contract")
    assert adjusted.loc["Q-2025-Q2", "residual_vs_quote"] == pytest.approx(-0.3 * 0.75, abs=1e-3)
    assert (adjusted["status"] == "adjusted (least squares)").sum() == 4  # the quarter and its 3 months


@needs_cases
def test_bid_ask_build_stays_inside_every_band(case_a: tuple[list[Contract], pd.DataFrame]) -> None:
    contracts, _ = case_a
    banded = [
        Contract(c.name, c.start, c.end, c.profile, None, (c.price or 0) - 0.5, (c.price or 0) + 0.5)
        for c in contracts
    ]
    build = build_curve(banded, EEX, "2025-02-01", "2027-12-31", bid_ask=True)
    fits = build.fits
    assert ((fits["repriced"] >= fits["bid"] - 1e-9) & (fits["repriced"] <= fits["ask"] + 1e-9)).all()
    assert build.polished and build.solver == "clarabel+exact-polish"
    exact = build_curve(contracts, EEX, "2025-02-01", "2027-12-31")
    f_band, f_exact = build.daily["price"].to_numpy(), exact.daily["price"].to_numpy()
    rough = [float(np.sum(np.diff(f, 2) ** 2)) for f in (f_band, f_exact)]
    assert rough[0] < rough[1]


def test_bands_that_cannot_hold_fail_with_the_widening_needed() -> None:
    contracts = [
        Contract("M-2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), bid=49.0, ask=50.0),
        Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), bid=49.0, ask=50.0),
        Contract("M-2026-03", dt.date(2026, 3, 1), dt.date(2026, 3, 31), bid=49.0, ask=50.0),
        Contract("Q-2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31), bid=51.0, ask=52.0),
    ]
    with pytest.raises(InconsistentContractsError, match="cannot all hold") as err:
        build_curve(contracts, EEX, "2026-01-01", "2026-03-31", bid_ask=True)
    assert err.value.report["widen_by"].sum() == pytest.approx(1.0, abs=1e-6)
    build = build_curve(
        contracts, EEX, "2026-01-01", "2026-03-31", bid_ask=True, on_inconsistent="least-squares"
    )
    assert build.max_reprice_error < 1e-8  # inside the widened bands


def test_bad_parameters_name_what_was_expected() -> None:
    one = [Contract("M-2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), price=50.0)]
    with pytest.raises(ValueError, match="granularity must be 'daily' or 'hourly'"):
        build_curve(one, EEX, "2026-01-01", "2026-01-31", granularity="weekly")  # type: ignore[arg-type]
    with pytest.raises(CurveSolveError, match="partly outside the curve's window"):
        build_curve(one, EEX, "2026-01-05", "2026-01-31")
    feb = [Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), price=50.0)]
    with pytest.raises(CurveSolveError, match="no contract delivers inside"):
        build_curve(feb, EEX, "2026-01-01", "2026-01-31")
    with pytest.raises(CurveSolveError, match="at least two independent contracts"):
        build_curve(one, EEX, "2026-01-01", "2026-01-31")
    peak = [Contract("M-2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), "peak", 60.0)]
    with pytest.raises(ValueError, match="all contracts must be base"):
        build_curve(peak + one, EEX, "2026-01-01", "2026-01-31", weights="days")


def test_blocks_merge_what_no_quote_tells_apart() -> None:
    pjm = get_calendar("PJM")
    assert choose_blocks(pjm, {"base"}).names == ("base",)
    assert choose_blocks(pjm, {"base", "peak"}).names == ("5x16", "offpeak")
    assert set(choose_blocks(pjm, {"base", "peak", "2x16"}).names) == {"5x16", "2x16", "7x8"}
    assert choose_blocks(EEX, {"base", "peak"}).names == ("peak", "offpeak")


def test_scenarios_shift_only_their_period_and_profile() -> None:
    contracts = [
        Contract(f"M-2026-0{m}", dt.date(2026, m, 1), dt.date(2026, m + 1, 1) - dt.timedelta(days=1), price=p)
        for m, p in ((1, 80.0), (2, 70.0), (3, 60.0))
    ] + [Contract("Q-2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "peak", 85.0)]
    up = Scenario("up", (Shift(dt.date(2026, 2, 1), dt.date(2026, 2, 28), 5.0, "add", "peak"),))
    down = Scenario("down", (Shift(dt.date(2026, 1, 1), dt.date(2026, 3, 31), 0.9, "mul"),))
    build = build_curve(
        contracts, EEX, "2026-01-01", "2026-03-31", granularity="hourly", scenarios=(up, down)
    )
    assert build.hourly is not None
    base = build.hourly["price"].to_numpy()
    diff = build.scenarios["up"].to_numpy() - base
    feb_peak = (build.hourly["date"].dt.month == 2).to_numpy() & (build.hourly["block"] == "peak").to_numpy()
    assert np.allclose(diff[feb_peak], 5.0) and np.allclose(diff[~feb_peak], 0.0)
    assert np.allclose(build.scenarios["down"].to_numpy(), 0.9 * base)
    cube = build.to_xarray()
    assert cube.dims == ("delivery", "scenario") and list(cube["scenario"].values) == ["base", "up", "down"]
    tidy = build.tidy()
    assert len(tidy) == 3 * len(base) and set(tidy["scenario"]) == {"base", "up", "down"}


def test_contracts_outside_the_window_are_left_out_and_recorded() -> None:
    contracts = [
        Contract("M-2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), price=80.0),
        Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), price=70.0),
        Contract("M-2027-01", dt.date(2027, 1, 1), dt.date(2027, 1, 31), price=60.0),
    ]
    build = build_curve(contracts, EEX, "2026-01-01", "2026-02-28")
    assert build.parameters["ignored_outside_window"] == ["M-2027-01 base"]
    assert list(build.fits["contract"]) == ["M-2026-01", "M-2026-02"] and build.max_reprice_error < 1e-8


def test_same_inputs_same_hash() -> None:
    contracts = [
        Contract("M-2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), price=80.0),
        Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), price=70.0),
    ]
    one = build_curve(contracts, EEX, "2026-01-01", "2026-02-28")
    two = build_curve(list(reversed(contracts)), EEX, "2026-01-01", "2026-02-28")
    assert one.input_sha256 == two.input_sha256
    changed = build_curve(contracts, EEX, "2026-01-01", "2026-02-28", tolerance=1e-5)
    assert changed.input_sha256 != one.input_sha256


def _month(m: int) -> tuple[dt.date, dt.date]:
    return dt.date(2026, m, 1), dt.date(2026, m + 1, 1) - dt.timedelta(days=1)


def _hourly_contracts() -> list[Contract]:
    months = [
        Contract(f"M-2026-{m:02d}", *_month(m), price=p)
        for m, p in ((1, 80.0), (2, 74.0), (3, 66.0), (4, 58.0), (5, 55.0))
    ]
    return [
        *months,
        Contract("Q-2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "peak", 88.0),
        Contract("M-2026-04", *_month(4), "peak", 63.0),
        Contract("M-2026-05", *_month(5), "peak", 61.0),
    ]


def test_the_contract_matrix_weights_each_block_day_by_its_hours() -> None:
    pjm = get_calendar("PJM")
    start, end = dt.date(2026, 1, 1), dt.date(2026, 6, 30)
    contracts = [
        Contract("Q-2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "base", 50.0),
        Contract("M-2026-03", dt.date(2026, 3, 1), dt.date(2026, 3, 31), "peak", 60.0),
        Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), "2x16", 40.0),
        Contract("Q-2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 6, 30), "offpeak", 35.0),
    ]
    grid = delivery_grid(pjm, start, end)
    blocks = choose_blocks(pjm, {c.profile.lower() for c in contracts})
    days = block_days(grid, blocks, "hours")
    a = contract_matrix(contracts, grid, blocks, days).toarray()
    hours = pjm.hourly(start, end)
    dates = hours["date"].dt.date.to_numpy()
    for row, c in zip(a, contracts, strict=True):
        mask = (dates >= c.start) & (dates <= c.end) & pjm.profile_mask(hours, c.profile)
        assert row.sum() == pytest.approx(1.0, abs=1e-14)
        # the row's weight on block-day (b, d) is that block-day's share of the contract's hours
        cell = days.cell_of_hour[mask]
        expected = np.bincount(cell, minlength=a.shape[1]) / mask.sum()
        assert np.array_equal(row, expected)


@needs_cases
def test_compressed_columns_keep_every_dependency(case_a: tuple[list[Contract], pd.DataFrame]) -> None:
    contracts, _ = case_a
    build = build_curve(contracts, EEX, "2025-02-01", "2027-12-31")
    a = build.matrix
    assert a is not None
    small = pattern_columns(a)
    assert small.shape[1] < a.shape[1] // 50
    order = np.lexsort((np.arange(a.shape[0]), np.diff(a.indptr)))
    full, compressed = dependencies(a, order), dependencies(small, order)
    assert full.independent.tolist() == compressed.independent.tolist()
    for one, other in zip(full.dependencies, compressed.dependencies, strict=True):
        assert one.index == other.index and one.combination == pytest.approx(other.combination, abs=1e-12)


def test_a_rebuild_reuses_the_grid_and_the_factorisation_and_gives_the_same_curve() -> None:
    contracts = _hourly_contracts()
    moved = [Contract(c.name, c.start, c.end, c.profile, (c.price or 0) * 1.1 + 2.0) for c in contracts]
    clear_caches()
    first = build_curve(contracts, EEX, "2026-01-01", "2026-05-31", granularity="hourly")
    again = build_curve(moved, EEX, "2026-01-01", "2026-05-31", granularity="hourly")
    assert first.hourly_curve is not None and again.hourly_curve is not None
    assert again.hourly_curve.grid is first.hourly_curve.grid  # the kept grid
    clear_caches()
    fresh = build_curve(moved, EEX, "2026-01-01", "2026-05-31", granularity="hourly")
    assert fresh.solution is not None and again.solution is not None
    assert np.array_equal(fresh.solution, again.solution)  # the same computation, only not repeated
    pd.testing.assert_frame_equal(fresh.fits, again.fits)
    assert again.max_reprice_error < 1e-8
    assert again.matrix is not first.matrix  # callers get their own copy of the kept rows


def test_the_hourly_frame_is_built_when_asked_for_and_matches_the_curve() -> None:
    build = build_curve(_hourly_contracts(), EEX, "2026-01-01", "2026-05-31", granularity="hourly")
    assert build.hourly_curve is not None
    curve = build.curve
    assert curve.index.name == "datetime_utc" and str(curve.index.dtype) == "datetime64[ms, UTC]"
    frame = build.hourly
    assert frame is not None and build.hourly is frame  # built once, then the same frame
    assert list(frame.columns) == ["datetime_utc", "datetime_local", "date", "block", "price"]
    assert np.array_equal(frame["price"].to_numpy(), curve.to_numpy())
    assert (frame["datetime_utc"].to_numpy() == curve.index.to_numpy()).all()
    # the vectorised hourly repricing is the plain average over each contract's hours
    hours = frame.assign(is_peak=frame["block"] == "peak")
    dates = hours["date"].dt.date
    for c, repriced in zip(_hourly_contracts(), build.fits["repriced"], strict=True):
        sel = (dates >= c.start) & (dates <= c.end) & EEX.profile_mask(hours, c.profile)
        assert repriced == pytest.approx(hours.loc[sel, "price"].mean(), abs=1e-12)
    daily = build_curve(_hourly_contracts(), EEX, "2026-01-01", "2026-05-31")
    assert daily.hourly is None and daily.hourly_curve is None


def test_bid_ask_through_cvxpy_goes_through_cvxpy(monkeypatch: pytest.MonkeyPatch) -> None:
    contracts = [
        Contract(f"M-2026-0{m}", *_month(m), bid=b, ask=b + 1)
        for m, b in ((1, 79.0), (2, 70.0), (3, 61.0), (4, 57.0))
    ]
    routes: list[str] = []
    original = solve.solve_bands

    def spy(*args: object, **kwargs: object) -> solve.BandSolution:
        routes.append(str(kwargs.get("via")))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(solve, "solve_bands", spy)
    direct = build_curve(contracts, EEX, "2026-01-01", "2026-04-30", bid_ask=True)
    through = build_curve(contracts, EEX, "2026-01-01", "2026-04-30", bid_ask=True, band_solver="cvxpy")
    assert routes == ["clarabel", "cvxpy"]
    assert through.solver == "cvxpy+clarabel+exact-polish" and direct.solver == "clarabel+exact-polish"
    assert direct.solution is not None and through.solution is not None
    assert np.abs(direct.solution - through.solution).max() < 1e-9  # both polish to the exact optimum


def test_hourly_gas_curves_reprice_by_day_not_by_hour() -> None:
    """Gas settles on the mean of its delivery days: a 23- or 25-hour day counts once, not by its hours."""
    from marketintel.curves.output import reprice_hourly

    cal = get_calendar("HENRY_HUB")
    months = [
        (pd.Timestamp(2025, m, 1), pd.Timestamp(2025, m, 1) + pd.offsets.MonthEnd(0)) for m in range(1, 13)
    ]
    contracts = [
        Contract(f"M-2025-{a.month:02d}", a.date(), b.date(), "base", 3.0 + 0.4 * (a.month % 5))
        for a, b in months
    ]
    build = build_curve(contracts, cal, "2025-01-01", "2025-12-31", granularity="hourly", weights="days")
    assert set(build.fits["status"]) == {"ok"} and build.max_reprice_error < 1e-9
    assert build.hourly_curve is not None
    grid = delivery_grid(cal, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    quoted = np.array([c.price for c in contracts])
    by_hour = reprice_hourly(build.hourly_curve.price, grid, contracts, "hours")
    dst = [2, 10]  # March (a 23-hour day) and November (a 25-hour day)
    assert np.abs(by_hour - quoted)[dst].min() > 1e-6  # weighting by hours would misprice the DST months
