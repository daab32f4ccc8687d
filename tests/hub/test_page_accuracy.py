"""The accuracy page through the Hub, in headless Chromium, on the whole demo platform.

A trader opens Forecast accuracy and sees the demo's LEAR backtest (Nord Pool, 7 days) with the metrics the
store holds for it; choosing "month" instead of "hour of day" redraws the bars by month; the run's link opens
the HTML report the backtest flow rendered, with its Bokeh plots drawn. Ops may neither open the page nor
read the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from marketintel.services import backtest as service
from marketintel.services import queries
from tests.hub.browsing import BOKEH_IDLE, Screens, admin_client, login, wait_until
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow

#: JS: the named data sources of the page's figures and the runs table's data: columns as arrays
SOURCES = """() => {
  const out = {};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== 'ColumnDataSource') continue;
    const entries = m.data.entries ? [...m.data.entries()] : Object.entries(m.data);
    const keys = entries.map(([k]) => k);
    const name = m.name || (keys.includes('run_id') && keys.includes('MAE') ? 'runs' : null);
    if (!name) continue;
    const cols = {};
    for (const [k, v] of entries) cols[k] = Array.from(v);
    out[name] = cols;
  }
  return out;
}"""
LEAR = "LEAR 1456"


def _errors(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _demo_run(platform: Platform) -> Any:
    runs = service.accuracy_runs(admin_client(platform))
    lear = runs[(runs["model"] == LEAR) & (runs["market"] == "NP")]
    assert len(lear) >= 1, runs
    return lear.iloc[0]


def test_trader_sees_the_demo_backtest_and_opens_its_report(platform: Platform, screens: Screens) -> None:
    page = screens.page("accuracy")
    errors = _errors(page)
    login(page, platform, "demo-trader")
    page.click("#dashboard-accuracy")
    page.wait_for_function(BOKEH_IDLE)
    assert page.url == f"{platform.url}/services/dashboards/accuracy"
    page.locator("a.mi-report-link").wait_for()
    page.wait_for_function(BOKEH_IDLE)
    screens.snap(page, "accuracy-hour")

    # the runs table holds the stored overall metrics of the demo's LEAR backtest
    run = _demo_run(platform)
    drawn = page.evaluate(SOURCES)
    assert {"runs", "metric_by_group", "forecast_vs_actual", "p_values"} <= set(drawn), list(drawn)
    table = drawn["runs"]
    row = table["run_id"].index(run["run_id"])
    stored = queries.backtest_metrics(admin_client(platform), run["run_id"], group_by="all")
    mae = stored[(stored["metric"] == "MAE") & (stored["model"] == LEAR)]["value"].iloc[0]
    assert table["MAE"][row] == pytest.approx(mae, abs=1e-9)
    # the bars: MAE by hour of day of the shown run, from its stored forecasts and actuals
    frame = service.run_frame(admin_client(platform), run["run_id"])
    expected = service.grouped_metrics(frame, "hour", tz="UTC")
    bars = drawn["metric_by_group"]
    assert bars["group"] == [str(h) for h in range(24)]
    np.testing.assert_allclose(bars["m0"], expected[LEAR].to_numpy(), atol=1e-9)
    assert len(drawn["forecast_vs_actual"]["time"]) == 7 * 24  # the demo's week

    page.get_by_role("button", name="month").click()  # the interaction: the same run by month
    wait_until(
        lambda: page.evaluate(SOURCES)["metric_by_group"]["group"] == ["2016-12", "2017-01"],
        "the bars redrawn by month",
    )
    page.wait_for_function(BOKEH_IDLE)
    screens.snap(page, "accuracy-month")
    by_month = service.grouped_metrics(frame, "month", tz="UTC")
    np.testing.assert_allclose(page.evaluate(SOURCES)["metric_by_group"]["m0"], by_month[LEAR].to_numpy())

    # the run's HTML report, as the backtest flow rendered it: Bokeh plots drawn in the browser
    with page.context.expect_page() as opened:
        page.click("a.mi-report-link")
    report = opened.value
    report_errors = _errors(report)
    report.wait_for_load_state()
    assert report.url == f"{platform.url}/services/dashboards/reports/{run['run_id']}"
    report.wait_for_function(
        "window.Bokeh && Bokeh.documents.length >= 2 && Bokeh.documents.every(d => d.is_idle)"
    )
    assert report.get_by_text("Forecast backtest").count() >= 1
    boxes = [c.bounding_box() for c in report.locator("canvas").all()]
    assert sum(1 for b in boxes if b and b["width"] > 100 and b["height"] > 100) >= 2, boxes
    screens.snap(report, "report")
    assert errors == [], errors
    assert report_errors == [], report_errors


def test_ops_is_refused_the_accuracy_page_and_the_reports(platform: Platform, screens: Screens) -> None:
    run = _demo_run(platform)
    page = screens.page("accuracy-ops")
    login(page, platform, "demo-ops")
    answer = page.goto(f"{platform.url}/services/dashboards/accuracy")
    assert answer is not None and answer.status == 403
    assert page.title() == "Panel: Authorization Error"
    answer = page.goto(f"{platform.url}/services/dashboards/reports/{run['run_id']}")
    assert answer is not None and answer.status == 403
    assert "Forecast backtest" not in page.content()
