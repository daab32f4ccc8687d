"""Exports through the download center, in the demo platform, through the Hub's login, in headless Chromium.

demo-trader clicks "download this view" (CSV) in the explorer: the dashboards start an export job in the
API acting for the trader; the exports page shows it finish, and its signed link downloads the file in the
browser (through the API, which checks the user) with the rows of the view. The pilot, without the export
right, sees the note instead of buttons. An admin's navigation (ten pages) fits a 1280 px window.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest

from marketintel.services import queries
from tests.hub.browsing import BOKEH_IDLE, EXPLORER_STATE, WAIT_MS, Screens, admin_client, login
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow

#: JS: the right edge of every navigation link and the window's width
NAV_EDGES = """() => {
  const out = {width: window.innerWidth, links: {}};
  for (const host of document.querySelectorAll('*')) {
    const root = host.shadowRoot;
    if (!root) continue;
    for (const a of root.querySelectorAll('.mi-nav a')) {
      const box = a.getBoundingClientRect();
      out.links[a.id] = {left: box.left, right: box.right, top: box.top, bottom: box.bottom};
    }
  }
  return out;
}"""


def test_a_trader_exports_the_explorers_view_and_downloads_it(platform: Platform, screens: Screens) -> None:
    page = screens.page("explorer")
    login(page, platform, "demo-trader")
    page.click("#dashboard-explorer")
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("rows from").wait_for()
    widgets = page.evaluate(EXPLORER_STATE)["widgets"]
    market, location = widgets["Market"], widgets["Location"]
    start, end = (pd.Timestamp(widgets[k], tz="UTC") for k in ("Start [UTC]", "End [UTC] (exclusive)"))

    page.locator(".mi-download-csv button").first.click()  # the prices of the view, as CSV
    started = page.locator(".mi-export-status").first
    started.get_by_text("Export started").wait_for()
    started.get_by_text(f"prices of {market} {location}, {start:%Y-%m-%d} to {end:%Y-%m-%d} UTC").wait_for()
    screens.snap(page, "export-started")

    started.get_by_role("link", name="your exports").click()
    page.wait_for_url(f"{platform.url}/services/dashboards/exports")
    page.wait_for_function(BOKEH_IDLE)
    link = page.locator("a.mi-export-link").first
    link.wait_for(timeout=WAIT_MS)  # the table is read again every 2 s until the job is done
    table = page.locator(".mi-exports")
    assert table.get_by_text("prices (CSV)").count() >= 1
    assert table.get_by_text(f"{market} / {location}").count() >= 1
    screens.snap(page, "exports")

    with page.expect_download() as download:
        link.click()  # the signed link: the API serves it to its owner only
    assert download.value.failure() is None
    assert download.value.suggested_filename.startswith("prices-")
    assert download.value.suggested_filename.endswith(".csv")
    rows = pd.read_csv(io.BytesIO(download.value.path().read_bytes()))
    expected = queries.price_series(admin_client(platform), market, location, start, end)
    assert len(rows) == len(expected) > 0
    assert set(rows["market"]) == {market} and set(rows["location"]) == {location}
    got = pd.to_datetime(rows["interval_start_utc"], utc=True).sort_values().reset_index(drop=True)
    want = pd.Series(pd.DatetimeIndex(expected["interval_start_utc"]).tz_convert("UTC"))
    assert (got.dt.as_unit("ms") == want.dt.as_unit("ms")).all()
    assert rows["price"].sum() == pytest.approx(float(expected["price"].sum()))
    assert page.url == f"{platform.url}/services/dashboards/exports"  # a download, the page stays
    assert table.get_by_text(f"{len(expected):,}", exact=True).count() >= 1
    page.mouse.move(600, 800)  # no hover highlight in the screenshot
    screens.snap(page, "downloaded")


def test_the_pilot_without_the_export_right_sees_the_note(platform: Platform, screens: Screens) -> None:
    page = screens.page("explorer")
    login(page, platform, "demo-pilot")
    page.click("#dashboard-explorer")
    page.wait_for_function(BOKEH_IDLE)
    notes = page.locator(".mi-no-export")
    notes.first.wait_for()
    assert notes.count() == 2
    for table in ("prices", "fundamentals"):
        page.get_by_text(f"Your entitlement does not include exports of {table}; ask an admin.").wait_for()
    assert page.locator(".mi-download-csv").count() == 0
    notes.first.scroll_into_view_if_needed()
    screens.snap(page, "explorer")
    page.goto(f"{platform.url}/services/dashboards/exports")
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("Your entitlement includes no export").wait_for()
    page.get_by_text("You have no exports yet.").wait_for()
    screens.snap(page, "exports")


def test_an_admins_ten_pages_fit_the_navigation_at_1280_px(platform: Platform, screens: Screens) -> None:
    page = screens.page("access")
    login(page, platform, "demo-admin")
    page.goto(f"{platform.url}/services/dashboards/access")  # a long title beside the links
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("Rules in force").wait_for()
    nav: dict[str, Any] = page.evaluate(NAV_EDGES)
    links = nav["links"]
    assert len(links) == 11, links  # ten pages (scenarios is the tenth) and Hub home
    assert all(box["left"] >= 0 and box["right"] <= nav["width"] for box in links.values()), links
    header = page.locator("#header").bounding_box()
    assert header is not None
    assert all(box["bottom"] <= header["y"] + header["height"] for box in links.values()), (links, header)
    screens.snap(page, "access")
