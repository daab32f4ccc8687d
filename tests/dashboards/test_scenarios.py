"""The scenarios page: live checking with positions, a run against its base, runs compared, on NYMEX data."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.dashboards.scenarios import BASE, EXAMPLE, Scenarios, comparison_rows
from marketintel.services import scenarios as service

pytestmark = pytest.mark.shared

#: the issue's scenario with a typo on line 3 (column 18: ".." expected between the two dates)
BAD = EXAMPLE.replace("shift 2015-01-01..2015-03-31", "shift 2015-01-01 2015-03-31")


@pytest.fixture(autouse=True)
def _no_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MI_PREFECT_API_URL", "http://127.0.0.1:9/api")


@pytest.fixture(scope="module")
def henry_hub(db_client: Any, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo's Henry Hub curve: the recorded NYMEX settlements of 2014-12-29, built and stored."""
    from marketintel.flows.recordings import replay_folder
    from marketintel.services.curves import build_and_store_curve
    from marketintel.services.ingest import ingest_window

    folder = tmp_path_factory.mktemp("cme") / "replay"
    replay_folder("cme", "futures_settlements", folder)
    ingest_window("cme", "futures_settlements", "2014-12-29 05:00", "2014-12-30 05:00", client=db_client,
                  replay=folder)  # fmt: skip
    build_and_store_curve(product="NG", as_of="2014-12-29", calendar="HENRY_HUB", weights="days",
                          curve_name="HENRY_HUB_DAILY", client=db_client)  # fmt: skip
    return db_client


def test_the_editor_checks_as_you_type_with_line_and_column(henry_hub: Any) -> None:
    page = Scenarios(client=henry_hub)
    assert page.checked is not None and page.checked.ok, page.checked
    assert "scenario *gas-cold-winter*, 5 statement(s)" in page._check_note.object
    assert not page._run_button.disabled and page._editor.annotations == []
    page._editor.value = BAD  # an edit in the browser
    assert page.text == BAD and not page.checked.ok
    assert "**line 3, column 18:** unexpected '2015-03-31'; expected \"..\"" in page._check_note.object
    assert page._editor.annotations == [
        {"row": 2, "column": 17, "text": "unexpected '2015-03-31'; expected \"..\"", "type": "error"}
    ]
    assert page._run_button.disabled
    # names are checked against the store: an unknown curve and a contract the base does not quote
    page._editor.value = EXAMPLE.replace("HENRY_HUB_DAILY", "HENRY_HUB_DAYLY").replace(
        "M-2015-06", "M-2013-06"
    )
    assert "**line 2, column 12:** unknown curve 'HENRY_HUB_DAYLY'; the store has: HENRY_HUB_DAILY" in (
        page._check_note.object
    )
    page._editor.value = EXAMPLE.replace("M-2015-06", "M-2013-06")
    assert "**line 5, column 9:** unknown contract 'M-2013-06'; the base quotes: " in page._check_note.object
    page._editor.value = EXAMPLE
    assert page.checked.ok and not page._run_button.disabled


def test_run_shows_both_curves_the_difference_and_the_comparison(henry_hub: Any) -> None:
    page = Scenarios(client=henry_hub)
    result = page.run()
    assert result is not None and page.message == "", page.message
    comparison = result.comparison.set_index("contract")
    assert comparison.loc["M-2015-06", "scenario_price"] == pytest.approx(3.10, abs=1e-9)
    assert result.unit == "USD/MMBtu" and result.curve_name == "HENRY_HUB_DAILY"
    # the table is the service's comparison, contract by contract, with units in the headers
    table = page._table.value
    assert list(table["contract"]) == list(result.comparison["contract"]) and len(table) == 156
    np.testing.assert_allclose(table["difference"], result.comparison["difference"], atol=0)
    assert "156 contracts of the base" in page._table_title.object
    # the figure: base and scenario as steps per delivery day, and their difference below
    top, bottom = page._figure.object.children
    sources = {r.name: r.data_source.data for r in [*top.renderers, *bottom.renderers]}
    np.testing.assert_allclose(sources["base"]["y"][::2], result.base["value"])
    np.testing.assert_allclose(sources["scenario"]["y"][::2], result.result["value"])
    np.testing.assert_allclose(
        sources["difference"]["y"][::2], result.result["value"].to_numpy() - result.base["value"].to_numpy()
    )
    assert top.yaxis[0].axis_label == "price [USD/MMBtu]" and bottom.yaxis[0].axis_label == (
        "difference [USD/MMBtu]"
    )
    assert top.xaxis[0].axis_label == "delivery [UTC]"
    # each contract reprices exactly on the rebuilt curve, then the shifts apply: February 2015 is 15 %
    # above its quote, December 2015 0.25 USD/MMBtu above, March 2016 on its quote, June 2015 on the requote
    feb, dec, mar = (comparison.loc[c] for c in ("M-2015-02", "M-2015-12", "M-2016-03"))
    assert feb["scenario_price"] == pytest.approx(1.15 * feb["quote"], abs=1e-9)
    assert dec["scenario_price"] == pytest.approx(dec["quote"] + 0.25, abs=1e-9)
    assert mar["scenario_price"] == pytest.approx(mar["quote"], abs=1e-9) and mar[
        "difference"
    ] == pytest.approx(0.0, abs=1e-9)
    # the run is listed, chosen for comparison; the local zone is Henry Hub's (Chicago)
    assert page.run_choice == result.run_id and page.runs["run_id"].iloc[0] == result.run_id
    assert page.market_tz() == "America/Chicago"
    page.tz = "market local"
    assert page._figure.object.children[0].xaxis[0].axis_label == "delivery [America/Chicago]"
    assert page.comparison_frame().equals(result.comparison)


def test_runs_are_compared_with_their_base_and_with_each_other(henry_hub: Any) -> None:
    page = Scenarios(client=henry_hub)
    first = page.run()  # the same inputs as the previous test's run: recognised, nothing new stored
    assert first is not None and first.reused and "same inputs as run" in page._summary.object
    page._editor.value = EXAMPLE.replace('"gas-cold-winter"', '"gas-mild-winter"').replace("+15%", "-10%")
    second = page.run()
    assert second is not None and second.status == "ok"
    assert page.run_choice == second.run_id
    assert page.param.against.objects[BASE] == ""
    page.against = ""  # its base
    base = page.compare()
    pd.testing.assert_frame_equal(base, service.compare(henry_hub, second.run_id))
    np.testing.assert_allclose(base["difference"], second.comparison["difference"], atol=1e-12)
    page.against = first.run_id  # the mild winter against the cold one
    other = page.compare()
    pd.testing.assert_frame_equal(other, service.compare(henry_hub, second.run_id, first.run_id))
    feb = other.set_index("contract").loc["M-2015-02"]
    cold = first.comparison.set_index("contract").loc["M-2015-02", "scenario_price"]
    assert feb["base_price"] == pytest.approx(cold, abs=1e-9)
    assert feb["difference"] < 0  # -10 % against +15 %
    assert page._compare_table.visible and "against" in page._compare_title.object
    assert page._compare_table.value.equals(comparison_rows(other, "USD/MMBtu"))
    page.against = second.run_id
    page.compare()
    assert page.kind == "danger" and "choose another run" in page.message


def test_a_failing_run_is_a_message_and_listed_as_failed(henry_hub: Any) -> None:
    page = Scenarios(client=henry_hub)
    page._editor.value = (
        'scenario "broken"\nbase curve HENRY_HUB_DAILY as of 2014-12-29\nrequote M-2014-06 = 3\n'
    )
    assert not page.checked.ok  # the live check names the contract ...
    assert page.run() is None  # ... and a run anyway says so in the page, not as a traceback
    assert page.kind == "danger" and "unknown contract 'M-2014-06'" in page.message
    assert "Not run." in page._status.object
    assert page.runs.set_index("scenario").loc["broken", "status"] == "failed"


def test_the_run_button_runs_in_the_background_and_shows_progress(henry_hub: Any) -> None:
    page = Scenarios(client=henry_hub)
    asyncio.run(page._on_run())
    assert page.result is not None and page.result.reused
    assert page._status.object.startswith("**Done** in ") and not page._run_button.disabled
    assert any("scenario 'gas-cold-winter'" in line for line in page.progress)


def test_an_empty_store_says_what_to_do(store: Any, ch_database: str) -> None:
    from marketintel.store import migrate

    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    page = Scenarios(client=client)
    assert page.runs.empty and "No scenario run is stored yet" in page._runs_note.object
    assert page.compare().empty and page.kind == "info" and "run a scenario first" in page.message
    assert "line 2, column 12:** unknown curve 'HENRY_HUB_DAILY'; there are none" in page._check_note.object
    assert page._run_button.disabled
