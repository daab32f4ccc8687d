"""The scenario engine end to end on a real store: every statement on shared curve cases and NYMEX data."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.scenarios import ScenarioError, ScenarioSyntaxError, UnknownNameError
from marketintel.services import scenarios as S
from marketintel.store import migrate
from tests.storeproc import StoreProcess

CASE_A = (
    'base quotes "contracts.csv" daily weights hours calendar EEX_DE from 2025-02-01 to 2027-12-31 '
    "as of 2025-01-31"
)


@pytest.fixture
def db(store: StoreProcess, ch_database: str) -> Any:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    return client


@pytest.fixture
def case_a(shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding case A's contracts.csv (scenarios name it relative to the folder)."""
    shutil.copy(shared_dir / "curves" / "caseA_daily" / "contracts.csv", tmp_path / "contracts.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _by_date(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(frame["value"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["date"])))


def _row(comparison: pd.DataFrame, contract: str) -> pd.Series:
    row: Any = comparison.set_index("contract").loc[contract]
    return pd.Series(row)


# --------------------------------------------------------------------------------------------------------
# shift and base quotes on case A
# --------------------------------------------------------------------------------------------------------
def test_shifts_apply_pointwise_in_order_on_case_a(db: Any, case_a: Path, shared_dir: Path) -> None:
    text = f"""scenario "caseA-shifts"
{CASE_A}
shift 2026-01-01..2026-03-31 by +15%    # a cold first quarter
shift 2026-03-01..2026-06-30 by +0.25   # March gets both, in this order
"""
    result = S.run(text, client=db)
    reference = pd.read_csv(shared_dir / "curves" / "caseA_daily" / "reference_discrete_max_smoothness.csv")
    base, scen = _by_date(result.base), _by_date(result.result)
    assert len(base) == len(scen) == 1064
    assert np.abs(base.to_numpy() - reference["price"].to_numpy()).max() < 1e-6  # the exact base
    q1 = (base.index >= "2026-01-01") & (base.index <= "2026-02-28")
    march = (base.index >= "2026-03-01") & (base.index <= "2026-03-31")
    spring = (base.index >= "2026-04-01") & (base.index <= "2026-06-30")
    rest = ~(q1 | march | spring)
    np.testing.assert_array_equal(scen[q1].to_numpy(), base[q1].to_numpy() * 1.15)
    np.testing.assert_array_equal(scen[march].to_numpy(), base[march].to_numpy() * 1.15 + 0.25)
    np.testing.assert_array_equal(scen[spring].to_numpy(), base[spring].to_numpy() + 0.25)
    np.testing.assert_array_equal(scen[rest].to_numpy(), base[rest].to_numpy())  # untouched days equal
    comparison = result.comparison
    assert list(comparison.columns[:4]) == ["contract", "profile", "delivery_start", "delivery_end"]
    assert {"base_price", "scenario_price", "difference"} <= set(comparison.columns)
    jan = _row(comparison, "M-2026-01")
    assert jan["base_price"] == pytest.approx(115.0, abs=1e-9)
    assert jan["scenario_price"] == pytest.approx(115.0 * 1.15, abs=1e-9)
    assert jan["delivery_start"] == dt.date(2026, 1, 1) and jan["delivery_end"] == dt.date(2026, 1, 31)
    assert _row(comparison, "Cal-2027")["difference"] == pytest.approx(0.0, abs=1e-9)
    assert (comparison["base_price"] - comparison["quote"]).abs().max() < 1e-9  # the base reprices
    stored = db.query(
        "SELECT scenario, count() FROM curves FINAL WHERE curve_name = 'contracts_daily' GROUP BY scenario "
        "ORDER BY scenario"
    ).result_rows
    assert stored == [("base", 1064), ("caseA-shifts", 1064)]  # the base stays 'base'
    assert result.status == "ok" and not result.reused and result.output_version == 1


def test_requote_rebuilds_and_reprices_every_quote(db: Any, case_a: Path) -> None:
    text = f'scenario "caseA-requote"\n{CASE_A}\nrequote Q-2026-Q1 = 110\nrequote Cal-2027 = 81.5\n'
    comparison = S.run(text, client=db).comparison.set_index("contract")
    assert comparison.loc["Q-2026-Q1", "scenario_price"] == pytest.approx(110.0, abs=1e-9)
    assert comparison.loc["Cal-2027", "scenario_price"] == pytest.approx(81.5, abs=1e-9)
    assert comparison.loc["Q-2026-Q1", "requote"] == 110.0 and bool(comparison["requote"].isna()["M-2026-01"])
    others = comparison.drop(index=["Q-2026-Q1", "Cal-2027"])
    assert (others["scenario_price"] - others["quote"]).abs().max() < 1e-9  # the other contracts too
    assert comparison.loc["Q-2026-Q1", "base_price"] == pytest.approx(108.5, abs=1e-9)


# --------------------------------------------------------------------------------------------------------
# base curve NAME as of DATE
# --------------------------------------------------------------------------------------------------------
def _store_case_a(db: Any, folder: Path, as_of: str, cal_2027: float) -> Any:
    from marketintel.services.curves import build_and_store_curve

    frame = pd.read_csv(folder / "contracts.csv")
    frame.loc[frame["name"] == "Cal-2027", "price"] = cal_2027
    path = folder / f"contracts-{as_of}-{cal_2027}.csv"
    frame.to_csv(path, index=False)
    return build_and_store_curve(
        quotes=path,
        as_of=as_of,
        calendar="EEX_DE",
        start="2025-02-01",
        end="2027-12-31",
        curve_name="DE_CASE_A",
        client=db,
    )


def test_base_curve_as_of_picks_the_version_current_then(db: Any, case_a: Path) -> None:
    _store_case_a(db, case_a, "2025-01-30", 79.2)
    _store_case_a(db, case_a, "2025-01-31", 80.0)  # a later cutoff
    _store_case_a(db, case_a, "2025-01-31", 80.5)  # and a second version of it
    cal_2027 = {}
    for day in ("2025-01-30", "2025-01-31", "2025-02-03"):
        text = f'scenario "pick"\nbase curve DE_CASE_A as of {day}\nrequote Cal-2026 = 90\n'
        result = S.run(text, client=db)
        cal_2027[day] = _row(result.comparison, "Cal-2027")["base_price"]
        assert _row(result.comparison, "Cal-2026")["scenario_price"] == pytest.approx(90.0, abs=1e-9)
    assert cal_2027["2025-01-30"] == pytest.approx(79.2, abs=1e-9)
    assert cal_2027["2025-01-31"] == pytest.approx(80.5, abs=1e-9)  # the latest version of that cutoff
    assert cal_2027["2025-02-03"] == pytest.approx(80.5, abs=1e-9)  # still current three days later
    early = S.run('scenario "v1"\nbase curve DE_CASE_A as of 2025-01-31 version 1\n', client=db)
    assert _row(early.comparison, "Cal-2027")["base_price"] == pytest.approx(80.0, abs=1e-9)
    with pytest.raises(
        ScenarioError, match=r"no build as of 2025-01-29 or earlier.*2025-01-30 23:00"
    ) as info:
        S.run('scenario "too-early"\nbase curve DE_CASE_A as of 2025-01-29\n', client=db)
    assert (info.value.line, info.value.column) == (2, 1)


def test_the_issue_scenario_on_nymex_henry_hub(
    db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: StoreProcess, ch_database: str
) -> None:
    from marketintel.flows.recordings import replay_folder
    from marketintel.services.curves import build_and_store_curve
    from marketintel.services.ingest import ingest_window

    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    folder = tmp_path / "replay"
    replay_folder("cme", "futures_settlements", folder)
    ingest_window("cme", "futures_settlements", "2014-12-29 05:00", "2014-12-30 05:00", replay=folder)
    build_and_store_curve(
        product="NG",
        as_of="2014-12-29",
        calendar="HENRY_HUB",
        weights="days",
        curve_name="HENRY_HUB_DAILY",
        client=db,
    )
    text = """scenario "gas-cold-winter"
base curve HENRY_HUB_DAILY as of 2014-12-29            # the stored curve version current at that time
shift 2015-01-01..2015-03-31 by +15%                   # curve values on those delivery days x 1.15
shift 2015-12-01..2016-02-29 by +0.25                  # plus 0.25 in the curve's unit
requote M-2015-06 = 3.10                               # replace a quoted contract, rebuild the curve
"""
    result = S.run(text, client=db)
    comparison = result.comparison.set_index("contract")
    assert comparison.loc["M-2015-06", "scenario_price"] == pytest.approx(3.10, abs=1e-9)
    untouched = comparison[pd.to_datetime(comparison["delivery_start"]) >= pd.Timestamp("2016-03-01")]
    assert len(untouched) > 20 and (untouched["scenario_price"] - untouched["quote"]).abs().max() < 1e-9
    feb = comparison.loc["M-2015-02"]
    assert feb["difference"] != 0.0  # the requote moved February's curve, then the shift scaled it
    lineage = json.loads(db.query("SELECT base_lineage FROM scenario_runs FINAL").result_rows[0][0])
    assert lineage["curve_name"] == "HENRY_HUB_DAILY" and lineage["quotes"]["product"] == "NG"
    assert lineage["quotes"]["trade_date"] == "2014-12-29" and result.unit == "USD/MMBtu"
    stored = db.query(
        "SELECT count() FROM curves FINAL WHERE curve_name = 'HENRY_HUB_DAILY' "
        "AND scenario = 'gas-cold-winter'"
    ).result_rows[0][0]
    assert stored == len(result.result)


# --------------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            'scenario "x"\nshfit 2015-01-01..2015-02-01 by +1\n',
            2,
            1,
            r"unknown statement 'shfit' \(did you mean 'shift'\?\)",
        ),
        (
            'scenario "x"\nshift 2015-01-01 2015-02-01 by +1\n',
            2,
            18,
            r"unexpected '2015-02-01'; expected \"\.\.\"",
        ),
        ('scenario "x"\n\nshift 2015-01-01..2015-02-01 by\n', 3, 32, r"the line ends early; expected one of"),
        ('scenario "x"\nbase curve HH as of 2015-02-30\n', 2, 21, r"2015-02-30 is not a date"),
        ("scenario x\n", 1, 10, r"expected a quoted text"),
        (
            'scenario "x"\nbase curve A\nbase curve B\n',
            3,
            1,
            r"one base per scenario; the base is set on line 2",
        ),
        (
            'scenario "x"\nbase curve A\nshift 2015-01-01..2015-02-01 by +heat_rte\n',
            3,
            34,
            r"unknown name 'heat_rte'",
        ),
        (
            'scenario "x"\nbase curve A\nshift 2015-03-01..2015-02-01 by +1\n',
            3,
            1,
            r"ends \(2015-02-01\) before",
        ),
    ],
)
def test_syntax_and_meaning_errors_have_positions(text: str, line: int, column: int, message: str) -> None:
    result = S.check(text)
    assert not result.ok and result.errors
    error = result.errors[0]
    assert (error.line, error.column) == (line, column), error
    assert pytest.importorskip("re").search(message, error.message), error.message


def test_run_raises_the_positioned_syntax_error() -> None:
    with pytest.raises(ScenarioSyntaxError, match=r"^line 2, column 18: unexpected") as info:
        S.run('scenario "x"\nshift 2015-01-01 2015-02-01 by +1\n', client=object())
    assert (info.value.line, info.value.column) == (2, 18)


def test_unknown_curves_contracts_and_assumptions_are_named_with_the_known_ones(
    db: Any, case_a: Path
) -> None:
    _store_case_a(db, case_a, "2025-01-30", 79.2)
    S.set_assumption(db, "heat_rate", value=7.5)
    S.set_assumption(db, "load_growth", value=1.2)
    result = S.check('scenario "x"\nbase curve DE_CASE_B as of 2025-01-30\nuse heat_rte\n', db)
    messages = [e.message for e in result.errors]
    assert (result.errors[0].line, result.errors[0].column) == (2, 12)
    assert messages[0] == "unknown curve 'DE_CASE_B'; the store has: DE_CASE_A"
    assert (
        messages[1] == "unknown assumption 'heat_rte'; the store has: heat_rate, load_growth"
    )  # closest first
    result = S.check(f'scenario "x"\n{CASE_A}\nrequote Q-2026-Q5 = 1\n', db)
    assert result.errors[0].message.startswith("unknown contract 'Q-2026-Q5'; the base quotes: Q-2026-Q1, ")
    assert (result.errors[0].line, result.errors[0].column) == (3, 9)
    stored_base = S.check('scenario "x"\nbase curve DE_CASE_A\nrequote Cal-2028 = 1\n', db).errors
    assert [(e.line, e.column) for e in stored_base] == [(3, 9)]
    assert stored_base[0].message.startswith(
        "unknown contract 'Cal-2028'; the base quotes: Cal-2026, Cal-2027"
    )
    with pytest.raises(UnknownNameError, match=r"the base DE_CASE_A quotes: Cal-2026, Cal-2027"):
        S.run('scenario "x"\nbase curve DE_CASE_A\nrequote Cal-2028 = 1\n', client=db)
    failed = S.runs(db, "x")
    assert failed["status"].tolist() == ["failed"] and "Cal-2028" in failed["message"].iloc[0]


# --------------------------------------------------------------------------------------------------------
# assumptions, derived series, reruns
# --------------------------------------------------------------------------------------------------------
def test_assumption_versions_pin_or_follow_the_latest(db: Any, case_a: Path) -> None:
    assert [S.set_assumption(db, "heat_rate", value=v, unit="MMBtu/MWh") for v in (7.0, 7.5, 8.0)] == [
        1,
        2,
        3,
    ]
    listed = S.assumptions(db)
    assert listed["version"].tolist() == [3, 2, 1] and listed["latest"].tolist() == [True, False, False]
    shift = "shift 2026-01-01..2026-01-31 by *heat_rate"
    pinned = S.run(f'scenario "hr"\n{CASE_A}\nuse heat_rate@2\n{shift}\n', client=db)
    latest = S.run(f'scenario "hr"\n{CASE_A}\nuse heat_rate\n{shift}\n', client=db)
    assert _row(pinned.comparison, "M-2026-01")["scenario_price"] == pytest.approx(115.0 * 7.5, abs=1e-9)
    assert _row(latest.comparison, "M-2026-01")["scenario_price"] == pytest.approx(115.0 * 8.0, abs=1e-9)
    recorded = S.runs(db, "hr").set_index("run_id")["assumptions"]
    assert json.loads(recorded[pinned.run_id]) == {"heat_rate": 2}
    assert json.loads(recorded[latest.run_id]) == {"heat_rate": 3}
    with pytest.raises(ScenarioError, match=r"heat_rate has no version 9; it has @1, @2, @3"):
        S.run(f'scenario "hr"\n{CASE_A}\nuse heat_rate@9\n', client=db)


def test_derived_series_equal_their_formula(db: Any, case_a: Path) -> None:
    S.set_assumption(db, "heat_rate", value=7.5, unit="MMBtu/MWh")
    months = pd.date_range("2025-02-01", "2027-12-01", freq="MS")
    spread = pd.Series(np.linspace(2.0, 5.5, len(months)), index=months)
    S.set_assumption(db, "spread", points=spread, unit="EUR/MWh")
    text = f"""scenario "power"
{CASE_A}
use heat_rate
use spread
shift 2026-01-01..2026-12-31 by +spread%
derive power = scenario * heat_rate + spread in "EUR/MWh"
derive margin = power - base * heat_rate
"""
    result = S.run(text, client=db)
    days = pd.DatetimeIndex(pd.to_datetime(result.result["date"]))
    path = spread.reindex(days, method="ffill").to_numpy()  # each point holds until the next
    base, scen = result.base["value"].to_numpy(), result.result["value"].to_numpy()
    in_2026 = np.asarray(days.year == 2026)
    np.testing.assert_allclose(scen[in_2026], base[in_2026] * (1 + path[in_2026] / 100), rtol=1e-15)
    np.testing.assert_array_equal(result.derived["power"]["value"].to_numpy(), scen * 7.5 + path)
    np.testing.assert_array_equal(
        result.derived["margin"]["value"].to_numpy(), (scen * 7.5 + path) - base * 7.5
    )
    stored = db.query(
        "SELECT curve_name, unit, count() FROM curves FINAL WHERE scenario = 'power' "
        "GROUP BY curve_name, unit "
        "ORDER BY curve_name"
    ).result_rows
    assert stored == [
        ("MARGIN", "EUR/MWh", 1064),
        ("POWER", "EUR/MWh", 1064),
        ("contracts_daily", "EUR/MWh", 1064),
    ]


def test_a_rerun_of_the_same_inputs_is_reused(db: Any, case_a: Path) -> None:
    S.set_assumption(db, "bump", value=0.5)
    text = f'scenario "again"\n{CASE_A}\nuse bump\nshift 2026-01-01..2026-03-31 by +bump\n'
    first = S.run(text, client=db)
    second = S.run(text, client=db)
    assert (first.status, second.status) == ("ok", "reused") and second.reused
    assert first.run_id in second.message and second.output_version == first.output_version == 1
    np.testing.assert_array_equal(first.result["value"].to_numpy(), second.result["value"].to_numpy())
    versions = db.query(
        "SELECT count(DISTINCT version) FROM curves FINAL WHERE scenario IN ('again', 'base')"
    ).result_rows[0][0]
    assert versions == 1  # no new curve version, for the scenario nor its base
    S.set_assumption(db, "bump", value=0.75)  # a new version of an input: a new run
    third = S.run(text, client=db)
    assert third.status == "ok" and third.output_version == 2
    history = S.runs(db, "again")
    assert history["status"].tolist() == ["ok", "reused", "ok"]  # newest first
    assert (
        history["inputs_sha256"].iloc[1]
        == history["inputs_sha256"].iloc[2]
        != history["inputs_sha256"].iloc[0]
    )
    stored = S.compare(db, first.run_id)
    pd.testing.assert_frame_equal(stored, first.comparison, check_exact=False, atol=1e-12, rtol=0)
    two = S.compare(db, third.run_id, first.run_id).set_index("contract")
    assert two.loc["Q-2026-Q1", "difference"] == pytest.approx(0.25, abs=1e-9)


# --------------------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------------------
def test_cli_checks_runs_lists_and_assumes(
    db: Any,
    case_a: Path,
    store: StoreProcess,
    ch_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from marketintel.cli import main

    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    elsewhere = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(elsewhere)  # file names in the scenario are the scenario file's neighbours
    scenario = case_a / "cold.scn"
    scenario.write_text(
        f'scenario "cold"\n{CASE_A}\nuse hr\nshift 2026-01-01..2026-03-31 by +15%\n'
        "derive power = scenario * hr\n"
    )
    assert main(["scenario", "assume", "hr", "7.5", "--unit", "MMBtu/MWh"]) == 0
    assert "assumption hr@1 = 7.5 [MMBtu/MWh]" in capsys.readouterr().out
    points = case_a / "hr.csv"
    points.write_text("date,value\n2025-01-01,7.0\n2026-01-01,8.0\n")
    assert main(["scenario", "assume", "hr", "--file", str(points)]) == 0
    assert "assumption hr@2 = 2 points 2025-01-01 .. 2026-01-01" in capsys.readouterr().out
    assert main(["scenario", "check", str(scenario), "--store"]) == 0
    assert "line 4: shift: curve on 2026-01-01..2026-03-31" in capsys.readouterr().out
    out = elsewhere / "cold.csv"
    assert main(["scenario", "run", str(scenario), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cold: ok" in printed and "base_price" in printed and "M-2026-01" in printed
    written = pd.read_csv(out)
    assert list(written.columns) == [
        "delivery_start_utc",
        "delivery_end_utc",
        "date",
        "base",
        "scenario",
        "power",
    ]
    jan = written[written["date"] == "2026-01-15"].iloc[0]
    assert (
        jan["scenario"] == pytest.approx(jan["base"] * 1.15, rel=1e-15)
        and jan["power"] == jan["scenario"] * 8.0
    )
    assert main(["scenario", "runs", "cold"]) == 0
    assert "cold" in capsys.readouterr().out
    bad = case_a / "bad.scn"
    bad.write_text('scenario "cold"\nshift 2026-01-01 2026-03-31 by +15%\n')
    assert main(["scenario", "check", str(bad)]) == 1
    assert f"{bad}:2:18: unexpected '2026-03-31'" in capsys.readouterr().err
    assert main(["scenario", "run", str(bad)]) == 1
    assert f"{bad}:2:18:" in capsys.readouterr().err


def test_the_issue_base_quotes_line_reads_as_henry_hub_gas_in_new_york_time() -> None:
    from marketintel.scenarios.engine import choose_calendar
    from marketintel.scenarios.language import BaseQuotes, parse

    spec = parse(
        'scenario "s"\nbase quotes "quotes.csv" daily weights days tz America/New_York '
        "from 2026-12-01 to 2031-12-31\n"
    )
    assert isinstance(spec.base, BaseQuotes)
    assert (spec.base.start, spec.base.end) == (dt.date(2026, 12, 1), dt.date(2031, 12, 31))
    calendar = choose_calendar(spec.base)
    assert (calendar.name, calendar.tz, calendar.commodity) == ("HENRY_HUB", "America/New_York", "gas")
