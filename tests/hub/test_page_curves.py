"""The curves and curve-builder pages through the Hub, in headless Chromium, on the whole demo platform.

A trader opens Forward curves and sees the demo's Henry Hub curve and its 156 NYMEX contracts as the store
holds them; switching the times to market local time redraws the same curve six hours earlier on the axis
(Chicago in winter). A quant builds a curve from the stored Henry Hub settlements in the curve builder and
sees the per-contract report, and saves it as a new version as their own store user (the demo quant is a
store writer). Ops may not open curves; traders may not open the curve builder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from marketintel.services import curves as service
from tests.hub.browsing import BOKEH_IDLE, Screens, admin_client, login, wait_until
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow

#: JS: the named data sources of the page's figures: their columns' first values and lengths
SOURCES = """() => {
  const out = {};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== 'ColumnDataSource' || !m.name) continue;
    const cols = {};
    for (const [k, v] of m.data.entries ? m.data.entries() : Object.entries(m.data)) cols[k] = Array.from(v);
    out[m.name] = cols;
  }
  return out;
}"""
#: JS: the x-axis labels of the page's figures
AXES = """() => [...Bokeh.documents[0].all_models]
  .filter(m => m.type === 'DatetimeAxis').map(m => m.axis_label)"""
HENRY_HUB = "HENRY_HUB_DAILY"


def _errors(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _open(page: Any, platform: Platform, name: str) -> None:
    answer = page.goto(f"{platform.url}/services/dashboards/{name}")
    assert answer is not None and answer.status == 200, answer and answer.status
    page.wait_for_function(BOKEH_IDLE)


def test_trader_sees_the_henry_hub_curve_and_its_contracts(platform: Platform, screens: Screens) -> None:
    page = screens.page("curves")
    errors = _errors(page)
    login(page, platform, "demo-trader")
    _open(page, platform, "curves")
    page.get_by_text("Lineage of the version shown").wait_for()
    screens.snap(page, "curves-utc")
    stored = service.curve_version(admin_client(platform), HENRY_HUB)
    drawn = page.evaluate(SOURCES)
    assert {"curve", "contracts", "errors"} <= set(drawn), list(drawn)
    # the curve as stored (a step per delivery day) and every quoted contract at its settlement
    np.testing.assert_allclose(drawn["curve"]["y"][::2], stored.points["value"], atol=1e-12)
    assert len(drawn["contracts"]["y"]) == len(stored.contracts) == 156
    np.testing.assert_allclose(drawn["contracts"]["y"], stored.contracts["target"], atol=1e-12)
    assert drawn["contracts"]["contract"][0] == "M-2015-01"
    assert page.get_by_text(str(stored.lineage["run_id"])).count() >= 1
    assert page.get_by_text(stored.lineage["input_sha256"]).count() >= 1
    assert "delivery [UTC]" in page.evaluate(AXES)
    first_utc = drawn["curve"]["x"][0]

    page.get_by_text("market local").click()  # the interaction: the same curve in Chicago time
    wait_until(
        lambda: page.evaluate(SOURCES)["curve"]["x"][0] != first_utc, "the curve redrawn in local time"
    )
    page.wait_for_function(BOKEH_IDLE)
    screens.snap(page, "curves-local")
    local = page.evaluate(SOURCES)
    assert local["curve"]["x"][0] == first_utc - 6 * 3600 * 1000  # CST = UTC-6 on 1 January 2015
    np.testing.assert_allclose(local["curve"]["y"], drawn["curve"]["y"])
    assert "delivery [America/Chicago]" in page.evaluate(AXES)
    assert errors == [], errors


def test_ops_is_refused_the_curves_page(platform: Platform, screens: Screens) -> None:
    page = screens.page("curves-ops")
    login(page, platform, "demo-ops")
    answer = page.goto(f"{platform.url}/services/dashboards/curves")
    assert answer is not None and answer.status == 403
    assert page.title() == "Panel: Authorization Error"


def test_quant_builds_from_the_stored_henry_hub_settlements(platform: Platform, screens: Screens) -> None:
    page = screens.page("curve-builder")
    errors = _errors(page)
    client = admin_client(platform)
    runs_before = int(client.command("SELECT count() FROM curve_runs"))
    login(page, platform, "demo-quant")
    _open(page, platform, "curve-builder")
    screens.snap(page, "builder-open")
    page.get_by_role("button", name="Build curve").click()
    page.get_by_text("Per-contract report").wait_for()
    page.wait_for_function(BOKEH_IDLE)
    screens.snap(page, "builder-built")
    quotes = service.quoted_products(client).set_index("product").loc["NG"]
    assert page.get_by_text(f"{quotes['contracts']} of {quotes['contracts']} contracts reprice").count() == 1
    drawn = page.evaluate(SOURCES)
    assert len(drawn["contracts"]["y"]) == quotes["contracts"] == 156
    stored = service.curve_version(client, HENRY_HUB)  # the flow's build of the same settlements
    np.testing.assert_allclose(drawn["curve"]["y"][::2], stored.points["value"], atol=1e-9)
    # the demo quant's own store user is a writer: saving stores a new version as demo-quant
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Saved as version").wait_for()  # beside the button
    screens.snap(page, "builder-saved")
    assert int(client.command("SELECT count() FROM curve_runs")) == runs_before + 1
    client.command("SYSTEM FLUSH LOGS")
    inserts = client.command(
        "SELECT count() FROM system.query_log WHERE user = 'demo-quant' AND query_kind = 'insert'"
    )
    assert int(inserts) > 0  # written as the quant's own store user, not the service's
    assert errors == [], errors


def test_trader_is_refused_the_curve_builder(platform: Platform, screens: Screens) -> None:
    page = screens.page("builder-trader")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/services/dashboards/curve-builder")
    assert answer is not None and answer.status == 403
    assert page.title() == "Panel: Authorization Error"
