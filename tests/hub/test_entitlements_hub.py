"""Entitlements and the audit trail through the hub, as people use them (issue 15's "done when").

The demo's pilot (``demo-pilot``, group ``customers-spp``: SPP trading hubs, no export) sees only SPP hubs in
the explorer, through their own store credentials and when a service acts for them; an admin sees the
pilot's refused attempts and a trader's export in the ``audit`` page; ``mi audit verify`` passes on the demo.
"""

from __future__ import annotations

from typing import Any

import clickhouse_connect
import pytest

from marketintel.services.access import export_rights
from tests.hub.browsing import BOKEH_IDLE, Screens, login, wait_until
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow

#: JS: the explorer's Market and Location choices
CHOICES = """() => {
  const out = {};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type.endsWith('Select') && (m.title === 'Market' || m.title === 'Location')) {
      out[m.title] = {value: m.value, options: m.options.map(o => Array.isArray(o) ? o[0] : o)};
    }
  }
  return out;
}"""


def own_client(platform: Platform, user: str) -> Any:
    """A clickhouse-connect client with ``user``'s own store credentials (what their notebook carries)."""
    password = (platform.data_dir / "hub" / "store" / user).read_text().strip()
    port = int(platform.env["MI_STORE_PORT"])
    return clickhouse_connect.get_client(host="127.0.0.1", port=port, username=user, password=password)


def test_the_pilot_sees_only_spp_hubs_in_sql_and_may_export_nothing(platform: Platform) -> None:
    pilot = own_client(platform, "demo-pilot")
    rows = pilot.query("SELECT DISTINCT market, location FROM prices").result_rows
    assert rows and all(m.startswith("SPP") and loc.endswith("_HUB") for m, loc in rows), rows
    admin = own_client(platform, "demo-admin")  # admins see everything
    every = admin.query("SELECT uniqExact(location) FROM prices WHERE market LIKE 'SPP%'").result_rows[0][0]
    assert every > 1000 > len({loc for _, loc in rows})
    assert export_rights(pilot) == frozenset()
    assert export_rights(own_client(platform, "demo-trader")) >= {"prices", "curves"}  # type: ignore[operator]
    with pytest.raises(Exception, match=r"ACCESS_DENIED|Not enough privileges"):
        pilot.query("SELECT command FROM system.mutations")  # refused: the audit page lists it


def test_the_pilot_sees_only_spp_hubs_in_the_explorer(platform: Platform, screens: Screens) -> None:
    page = screens.page("explorer")
    login(page, platform, "demo-pilot")
    page.click("#dashboard-explorer")
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("rows from").wait_for()
    screens.snap(page, "pilot-explorer")
    choices = page.evaluate(CHOICES)
    markets, locations = choices["Market"]["options"], choices["Location"]["options"]
    assert markets and all(m.startswith("SPP") for m in markets), markets
    assert locations and all(str(loc).endswith("_HUB") for loc in locations), locations
    assert page.locator(".mi-download-csv").count() == 0  # no export


def test_an_admin_sees_refusals_and_exports_in_the_audit_page(platform: Platform, screens: Screens) -> None:
    # a trader downloads a curve from the curves page (an audited export)
    page = screens.page("trader-curves")
    login(page, platform, "demo-trader")
    page.goto(f"{platform.url}/services/dashboards/curves")
    page.wait_for_function(BOKEH_IDLE)
    button = page.locator(".mi-download-csv button").first
    button.wait_for()
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename.endswith(".csv")
    own_client(platform, "demo-pilot").query("SELECT 1")  # and the pilot's refusal of the test above
    with pytest.raises(Exception, match="Not enough privileges"):
        own_client(platform, "demo-pilot").query("SELECT * FROM merge('default', '^prices$')")
    page = screens.page("audit")
    login(page, platform, "demo-admin")
    page.goto(f"{platform.url}/services/dashboards/audit")
    page.wait_for_function(BOKEH_IDLE)

    def shows(text: str) -> bool:
        page.reload()
        page.wait_for_function(BOKEH_IDLE)
        return page.get_by_text(text).count() > 0

    wait_until(lambda: shows("merge('default'"), "the pilot's refused merge() in the audit page")
    assert page.get_by_text("demo-trader").count() > 0  # the exports table
    screens.snap(page, "audit")
    page.get_by_text("Verify the chain now").click()
    page.get_by_text("Chain verified now").wait_for()
    screens.snap(page, "audit-verified")


def test_mi_audit_verify_passes_on_the_demo(platform: Platform) -> None:
    done = platform.mi("audit", "verify")
    assert done.returncode == 0 and "audit chain verified" in done.stdout, done.stdout + done.stderr


def test_an_admin_reads_the_rules_in_the_access_page(platform: Platform, screens: Screens) -> None:
    page = screens.page("access")
    login(page, platform, "demo-admin")
    page.goto(f"{platform.url}/services/dashboards/access")
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("Rules in force").wait_for()
    assert page.get_by_text("customers-spp").count() > 0  # the pilot's rule, in the table
    assert page.get_by_text("markets=SPP*; locations=*_HUB").count() > 0
    assert page.get_by_text("Grant", exact=True).count() > 0
    screens.snap(page, "access")
