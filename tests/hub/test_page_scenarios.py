"""The scenarios page through the Hub, in headless Chromium, on the whole demo platform.

A quant opens Scenarios, types the issue's scenario on the demo's Henry Hub curve with a typo on line 3 and
sees the error with its line and column (and a mark in the editor's gutter); fixed, the scenario checks,
and Run stores it as the quant's own store user and shows the comparison contract by contract, which
equals the service's comparison of the stored run with its base. A trader may not open the page.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from marketintel.dashboards.scenarios import EXAMPLE
from marketintel.services import scenarios as service
from tests.hub.browsing import BOKEH_IDLE, Screens, admin_client, login
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow

#: the issue's scenario, with ".." missing on line 3
BAD = EXAMPLE.replace("shift 2015-01-01..2015-03-31", "shift 2015-01-01 2015-03-31")
#: JS: the columns of the data source of the contract-by-contract table (the one with a scenario column)
COMPARISON = """() => {
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== 'ColumnDataSource') continue;
    const data = m.data instanceof Map ? Object.fromEntries(m.data) : m.data;
    if (!('contract' in data) || !('scenario' in data)) continue;
    const cols = {};
    for (const [k, v] of Object.entries(data)) cols[k] = Array.from(v);
    return cols;
  }
  return null;
}"""


def _errors(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _type(page: Any, text: str) -> None:
    """Replace the editor's text as a person does: select all, then type (inserted as one edit)."""
    page.locator(".mi-scenario-editor .ace_content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def test_quant_writes_checks_runs_and_compares_the_issue_scenario(
    platform: Platform, screens: Screens
) -> None:
    client = admin_client(platform)
    page = screens.page("scenarios")
    errors = _errors(page)
    login(page, platform, "demo-quant")
    answer = page.goto(f"{platform.url}/services/dashboards/scenarios")
    assert answer is not None and answer.status == 200, answer and answer.status
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("scenario gas-cold-winter, 5 statement(s)").wait_for()  # the example checks
    screens.snap(page, "scenarios-open")

    _type(page, BAD)
    page.get_by_text("line 3, column 18:").wait_for()
    assert page.get_by_text("unexpected '2015-03-31'; expected \"..\"").count() >= 1
    assert page.locator(".mi-scenario-editor .ace_gutter-cell.ace_error").count() == 1  # line 3 marked
    assert page.get_by_role("button", name="Run scenario").is_disabled()
    screens.snap(page, "scenarios-error")

    _type(page, EXAMPLE)
    page.get_by_text("scenario gas-cold-winter, 5 statement(s)").wait_for()
    assert page.locator(".mi-scenario-editor .ace_gutter-cell.ace_error").count() == 0
    page.get_by_role("button", name="Run scenario").click()
    page.get_by_text("Running ...").wait_for()  # its progress, while it runs
    page.get_by_text("156 contracts of the base").wait_for()
    page.wait_for_function(BOKEH_IDLE)
    screens.snap(page, "scenarios-run")
    page.locator(".mi-comparison-title").scroll_into_view_if_needed()
    screens.snap(page, "scenarios-comparison")

    runs = service.runs(client, "gas-cold-winter")
    mine = runs[runs["created_by"] == "demo-quant"]
    assert len(mine) == 1 and mine["status"].iloc[0] in ("ok", "reused"), runs
    run_id = str(mine["run_id"].iloc[0])
    assert page.get_by_text(run_id).count() >= 1
    expected = service.compare(client, run_id)
    drawn = page.evaluate(COMPARISON)
    assert drawn is not None and drawn["contract"] == list(expected["contract"]) and len(expected) == 156
    for column, name in (
        ("base_price", "base"),
        ("scenario_price", "scenario"),
        ("difference", "difference"),
    ):
        np.testing.assert_allclose(drawn[name], expected[column], atol=1e-9)
    june = expected.set_index("contract").loc["M-2015-06"]
    assert june["scenario_price"] == pytest.approx(3.10, abs=1e-9)
    client.command("SYSTEM FLUSH LOGS")
    inserts = client.command(
        "SELECT count() FROM system.query_log WHERE user = 'demo-quant' AND query_kind = 'insert' "
        "AND query LIKE '%scenario_runs%'"
    )
    assert int(inserts) > 0  # recorded as the quant's own store user, not the service's
    assert errors == [], errors


def test_trader_is_refused_the_scenarios_page(platform: Platform, screens: Screens) -> None:
    page = screens.page("scenarios-trader")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/services/dashboards/scenarios")
    assert answer is not None and answer.status == 403
    assert page.title() == "Panel: Authorization Error"
