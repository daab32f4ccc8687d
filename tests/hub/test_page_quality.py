"""The data-quality page through the Hub, in headless Chromium, on the whole demo platform.

Ops opens Data quality and sees what the demo's flows stored: the failed completeness check of the SPP
real-time window (3 of 4 five-minute intervals, the fourth file was served empty) drawn per local day of
Chicago, and that empty file in quarantine with its reason and its (zero) raw bytes. Acknowledging the
completeness alert shows who and when in the page, and the store holds the acknowledgement by demo-ops.
A trader may not open the page.
"""

from __future__ import annotations

from typing import Any

import pytest

from marketintel.services import alerts as alert_service
from marketintel.services import queries
from tests.hub.browsing import BOKEH_IDLE, Screens, admin_client, login, wait_until
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow

#: JS: the columns of every data source of the page that has a given column
SOURCES_WITH = """(column) => {
  const out = [];
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type !== 'ColumnDataSource') continue;
    const data = m.data instanceof Map ? Object.fromEntries(m.data) : m.data;
    if (!(column in data)) continue;
    const cols = {};
    for (const [k, v] of Object.entries(data)) cols[k] = Array.from(v);
    out.push(cols);
  }
  return out;
}"""
#: JS: the labels of the page's axes
AXES = (
    """() => [...Bokeh.documents[0].all_models].filter(m => m.type.endsWith('Axis')).map(m => m.axis_label)"""
)
MARKET = "SPP_REAL_TIME_5MIN"


def _errors(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_ops_sees_the_failed_completeness_check_and_acknowledges_its_alert(
    platform: Platform, screens: Screens
) -> None:
    client = admin_client(platform)
    failed = queries.quality_results(client, checks="completeness", statuses="fail", market=MARKET)
    failed = failed[failed["observed"].notna()]
    assert len(failed) >= 1, "the demo stores a failed SPP completeness check"
    stored_pct = float(failed["observed"].iloc[0])
    quarantined = queries.quarantined_payloads(client, statuses="quarantined")
    assert len(quarantined) == 1 and int(quarantined["size_bytes"].iloc[0]) == 0

    page = screens.page("quality")
    errors = _errors(page)
    login(page, platform, "demo-ops")
    answer = page.goto(f"{platform.url}/services/dashboards/quality")
    assert answer is not None and answer.status == 200, answer and answer.status
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("Completeness per local day").first.wait_for()
    screens.snap(page, "quality-open")

    # the failed completeness check, per local day of Chicago: 3 of 4 intervals of 2025-03-31
    days = [d for d in page.evaluate(SOURCES_WITH, "pct") if "colour" in d]  # the figure's, not the table's
    assert len(days) == 1, days
    assert days[0]["day"] == ["2025-03-31"] and days[0]["pct"] == [pytest.approx(stored_pct)] == [75.0]
    assert (days[0]["expected"], days[0]["observed"]) == ([4], [3])
    assert "local day [America/Chicago]" in page.evaluate(AXES)
    assert page.get_by_text("1 of 4 expected 5min intervals missing").count() >= 1
    # the quarantined empty file, with its reason and its raw bytes (none)
    reason = str(quarantined["reason"].iloc[0])
    assert page.get_by_text(reason).count() >= 1
    assert page.get_by_text("(empty: 0 bytes)").count() >= 1

    # the interaction: acknowledge the completeness alert
    alerts = alert_service.alerts_with_acks(client)
    alert = alerts[alerts["title"].str.contains("completeness 75")].iloc[0]
    select = page.locator(".mi-alert-select select")
    label = next(o for o in select.locator("option").all_text_contents() if "completeness 75" in o)
    select.select_option(label=label)
    page.wait_for_function(BOKEH_IDLE)
    page.locator(".mi-ack button").click()
    page.get_by_text("Acknowledged by").wait_for()
    page.wait_for_function(BOKEH_IDLE)
    screens.snap(page, "quality-acknowledged")
    assert page.get_by_text("Acknowledged by demo-ops at").count() == 1

    def stored() -> bool:
        acks = alert_service.alert_acks(client, alert_ids=str(alert["alert_id"]))
        return bool(len(acks)) and acks["acknowledged_by"].iloc[0] == "demo-ops"

    wait_until(stored, "the acknowledgement by demo-ops in alert_acks")
    options = select.locator("option").all_text_contents()
    assert not any("completeness 75" in o for o in options), "an acknowledged alert is offered again"
    assert errors == [], errors


def test_trader_is_refused_the_quality_page(platform: Platform, screens: Screens) -> None:
    page = screens.page("quality-trader")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/services/dashboards/quality")
    assert answer is not None and answer.status == 403
    assert page.title() == "Panel: Authorization Error"


def test_ops_sees_the_routing_of_the_demos_spanish_day(platform: Platform, screens: Screens) -> None:
    """The demo reads its OMIE 15-minute day through the router: the page lists OMIE serving it, as stored."""
    from marketintel.services import routing

    state = routing.routing_state(admin_client(platform))
    spain = state[state["series"] == "ES_DA_15MIN"].set_index("source")
    assert bool(spain.loc["omie/marginal_price_15min", "chosen"]), spain
    page = screens.page("quality-routing")
    errors = _errors(page)
    login(page, platform, "demo-ops")
    answer = page.goto(f"{platform.url}/services/dashboards/quality")
    assert answer is not None and answer.status == 200, answer and answer.status
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("1 routed so far").wait_for()
    page.locator(".mi-routing-table").scroll_into_view_if_needed()
    screens.snap(page, "quality-routing")
    assert page.get_by_text("served by omie/marginal_price_15min (breaker closed, trust 1.00)").count() == 1
    table = next(t for t in page.evaluate(SOURCES_WITH, "serves now") if "last_reason" in t)
    assert table["series"][:2] == ["ES_DA_15MIN", "ES_DA_15MIN"]
    assert table["source"][:2] == ["omie/marginal_price_15min", "entsoe/day_ahead_prices"]
    assert table["serves now"][:2] == [True, False] and table["last_reason"][0] == "priority"
    assert table["score"][:2] == [pytest.approx(float(spain.loc[s, "score"])) for s in table["source"][:2]]
    assert errors == [], errors
