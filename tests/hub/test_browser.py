"""What a person sees: the demo platform through the Hub's real login form, in headless Chromium.

One `mi demo --no-pipeline` platform (the session fixture ``platform`` of ``conftest.py``) and one browser
serve every test; each test has its own browser context (its own cookies). The pages are driven as a user
would (form fields, links, JupyterLab's menu), and what they show is checked against the store read
directly with an admin client.

Screenshots: on a failure, every page of the test is saved as a PNG under the test's ``tmp_path`` and the
paths are printed (shown with the failure). With ``MI_TEST_SCREENSHOTS=DIR`` every test also saves them,
pass or fail, into ``DIR`` (``<test>-<n>-<label>.png``) for a person to look at.

Found while writing these (2026-12-07): the getting-started plot stayed blank offline, because
``hv.extension("bokeh")`` in a notebook loads BokehJS and Panel's JS from a CDN; the notebook now asks for
``inline=True`` (the plot draws in JupyterLab: seen in the screenshots). The tests check what is served (the
embedded Bokeh document of the plot, the tables, no error output), not the drawn canvas.
"""

from __future__ import annotations

import re
import secrets
import time

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.services import queries
from tests.hub.browsing import (
    ALL_CELLS_RAN,
    BOKEH_IDLE,
    EXPLORER_STATE,
    NOTEBOOK,
    WAIT_MS,
    Screens,
    admin_client,
    dashboard_links,
    login,
    open_lab,
    queries_by,
    wait_until,
)
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------------------------
# Logins
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "links", "lab"),
    [
        (
            "demo-trader",
            ["dashboard-explorer", "dashboard-exports", "dashboard-curves", "dashboard-accuracy"],
            False,
        ),
        ("demo-ops", ["dashboard-quality", "dashboard-health"], False),
        (
            "demo-quant",
            [
                "dashboard-explorer",
                "dashboard-exports",
                "dashboard-curves",
                "dashboard-curve-builder",
                "dashboard-scenarios",
                "dashboard-accuracy",
                "dashboard-quality",
            ],
            True,
        ),
        (
            "demo-admin",
            [
                "dashboard-explorer",
                "dashboard-exports",
                "dashboard-curves",
                "dashboard-curve-builder",
                "dashboard-scenarios",
                "dashboard-accuracy",
                "dashboard-quality",
                "dashboard-access",
                "dashboard-audit",
                "dashboard-health",
            ],
            True,
        ),
        ("demo-pilot", ["dashboard-explorer", "dashboard-exports"], False),
    ],
    ids=["traders", "ops", "quants", "admins", "pilot"],
)
def test_each_group_lands_where_expected(
    platform: Platform, screens: Screens, user: str, links: list[str], lab: bool
) -> None:
    """Traders and ops land on the Hub home with their dashboards only; quants and admins in JupyterLab."""
    page = screens.page("login")
    if lab:
        open_lab(page, platform, user)
        screens.snap(page, "lab")
        page.goto(f"{platform.url}/hub/home")
        assert page.locator("#start").is_visible()
    else:
        login(page, platform, user)
        assert page.url == f"{platform.url}/hub/home"
        assert page.locator("#start").count() == 0
    assert page.locator("#mi-home strong").first.inner_text() == user
    assert sorted(dashboard_links(page)) == sorted(links)
    if not links:
        assert page.locator("#mi-no-dashboards").is_visible()
    screens.snap(page, "home")


def test_wrong_password_is_refused(platform: Platform, screens: Screens) -> None:
    """A wrong password: the login page again with an error, and no Hub login cookie."""
    page = screens.page("login")
    answer = login(page, platform, "demo-trader", password="not-" + platform.password("demo-trader"))
    assert answer.status == 200  # the form again, not a redirect
    assert page.url.startswith(f"{platform.url}/hub/login")
    assert "Invalid username or password" in page.locator(".login_error").inner_text()
    screens.snap(page, "refused")
    assert not [c for c in page.context.cookies() if c["name"] == "jupyterhub-hub-login"]
    page.goto(f"{platform.url}/hub/home")
    assert page.url.startswith(f"{platform.url}/hub/login")


# ------------------------------------------------------------------------------------------------------------
# Dashboards
# ------------------------------------------------------------------------------------------------------------
def test_trader_opens_the_explorer_with_the_stores_prices(platform: Platform, screens: Screens) -> None:
    """From the home page link to a rendered explorer whose plot and table hold the store's prices."""
    page = screens.page("explorer")
    login(page, platform, "demo-trader")
    page.click("#dashboard-explorer")
    page.wait_for_function(BOKEH_IDLE)
    assert page.url == f"{platform.url}/services/dashboards/explorer"
    page.get_by_text("rows from").wait_for()
    screens.snap(page, "explorer")
    state = page.evaluate(EXPLORER_STATE)
    widgets = state["widgets"]
    assert widgets["Market"] == "NORDPOOL_DA" and widgets["Location"] == "SYS", widgets
    assert state["plot_rows"] > 0
    start, end = (pd.Timestamp(widgets[k], tz="UTC") for k in ("Start [UTC]", "End [UTC] (exclusive)"))
    expected = queries.price_series(
        admin_client(platform), widgets["Market"], widgets["Location"], start, end
    )
    table = state["table"]
    shown = pd.DataFrame(
        {"start": pd.to_datetime(table["start_ms"], unit="ms", utc=True), "price": table["price"]}
    )
    assert len(shown) > 0
    want = expected.set_index("interval_start_utc")["price"].astype(float)
    for start, price in zip(shown["start"], shown["price"], strict=True):
        assert price == pytest.approx(want.loc[start], abs=1e-9), start
    assert f"{len(expected):,} rows from" in page.get_by_text("rows from").inner_text()


@pytest.mark.parametrize(
    ("market", "location", "step_min"),
    [("OMIE_DAY_AHEAD_15MIN", "ES", 15), ("NEM_DISPATCH_5MIN", "NSW1", 5)],
)
def test_explorer_shows_the_demos_european_and_australian_prices(
    platform: Platform, screens: Screens, market: str, location: str, step_min: int
) -> None:
    """The demo's OMIE day (15-minute MTU) and NEM dispatch prices, opened by link, equal the store's."""
    if not (shared_dir() / "fixtures").is_dir():
        pytest.skip("the demo ran without its pipeline (no ../shared): no European or Australian ingest")
    page = screens.page(f"explorer-{market}")
    login(page, platform, "demo-trader")
    page.goto(f"{platform.url}/services/dashboards/explorer?market={market}&location={location}")
    page.wait_for_function(BOKEH_IDLE)
    page.get_by_text("rows from").wait_for()
    screens.snap(page, f"explorer-{market}")
    state = page.evaluate(EXPLORER_STATE)
    widgets = state["widgets"]
    assert (widgets["Market"], widgets["Location"]) == (market, location), widgets
    assert state["plot_rows"] > 0
    start, end = (pd.Timestamp(widgets[k], tz="UTC") for k in ("Start [UTC]", "End [UTC] (exclusive)"))
    expected = queries.price_series(admin_client(platform), market, location, start, end)
    assert len(expected) > 0
    steps = expected["interval_start_utc"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(minutes=step_min)]  # the market's own interval, not hours
    table = state["table"]
    want = expected.set_index("interval_start_utc")["price"].astype(float)
    for start_ms, price in zip(table["start_ms"], table["price"], strict=True):
        assert price == pytest.approx(want.loc[pd.Timestamp(start_ms, unit="ms", tz="UTC")], abs=1e-9)


def test_trader_gets_panels_authorization_error_on_quality(platform: Platform, screens: Screens) -> None:
    """A page of other groups answers with Panel's authorization error, not the page."""
    page = screens.page("quality")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/services/dashboards/quality")
    assert answer is not None and answer.status == 403
    assert page.title() == "Panel: Authorization Error"
    assert not page.evaluate("!!(window.Bokeh && Bokeh.documents.length)")


def test_user_in_no_group_is_refused_the_service_by_the_hub(platform: Platform, screens: Screens) -> None:
    """A user in no group logs in, but the Hub refuses the dashboards service at OAuth's authorize step."""
    user, password = f"nogroup-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    added = platform.mi("hub", "user", "add", user, "--password-stdin", stdin=password + "\n")
    assert added.returncode == 0, added.stdout + added.stderr
    platform.extra_users[user] = password
    page = screens.page("no-group")
    login(page, platform, user)
    assert page.url == f"{platform.url}/hub/home"
    assert dashboard_links(page) == []
    answer = page.goto(f"{platform.url}/services/dashboards/explorer")
    assert answer is not None and answer.status == 403
    assert page.url.startswith(f"{platform.url}/hub/api/oauth2/authorize"), page.url
    assert not page.evaluate("!!(window.Bokeh && Bokeh.documents.length)")


def test_trader_cannot_start_a_server(platform: Platform, screens: Screens) -> None:
    """Neither the spawn page nor the REST API starts a server for a trader."""
    page = screens.page("spawn")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/hub/spawn")
    assert answer is not None and answer.status == 403
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    api = page.request.post(f"{platform.url}/hub/api/users/demo-trader/server", headers={"X-XSRFToken": xsrf})
    assert api.status == 403, api.text()
    assert "servers" in api.json()["message"]


def test_logout_ends_dashboard_access(platform: Platform, screens: Screens) -> None:
    """After the Hub logout and the service's re-check interval, reloading the explorer leads to the login."""
    page = screens.page("logout")
    login(page, platform, "demo-trader")
    page.goto(f"{platform.url}/services/dashboards/explorer")
    page.wait_for_function(BOKEH_IDLE)
    page.goto(f"{platform.url}/hub/logout")
    assert page.url.startswith(f"{platform.url}/hub/login")
    time.sleep(float(platform.env["MI_DASHBOARDS_RECHECK_S"]) + 1.5)
    page.goto(f"{platform.url}/services/dashboards/explorer")
    assert page.url.startswith(f"{platform.url}/hub/login"), page.url
    assert not page.evaluate("!!(window.Bokeh && Bokeh.documents.length)")


# ------------------------------------------------------------------------------------------------------------
# The quants' JupyterLab and Voila
# ------------------------------------------------------------------------------------------------------------
def test_quant_runs_getting_started_in_jupyterlab_as_themself(platform: Platform, screens: Screens) -> None:
    """The notebook runs all its cells in the quant's kernel, reading the store as store user demo-quant."""
    page = screens.page("lab")
    open_lab(page, platform, "demo-quant")
    item = page.locator(".jp-DirListing-itemText", has_text=NOTEBOOK)
    before = queries_by(platform, "demo-quant")
    item.dblclick()
    page.get_by_text("| Idle").wait_for()  # the kernel has started
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    page.wait_for_function(ALL_CELLS_RAN, timeout=WAIT_MS * 2)
    screens.snap(page, "ran")
    page.locator(".jp-NotebookPanel .jp-CodeCell", has_text="display(plot)").scroll_into_view_if_needed()
    screens.snap(page, "plot-cell")
    cells = page.locator(".jp-NotebookPanel .jp-CodeCell")
    errors = cells.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.all_text_contents()
    plot = cells.filter(has_text="display(plot)").locator(".jp-OutputArea-output")
    assert plot.count() == 1
    assert 'data-root-id="' in plot.inner_html()  # HoloViews' Bokeh document (drawn only with the CDN: above)
    daily = cells.filter(has_text="display(table)").locator(".jp-OutputArea-output table")
    unit = queries.latest_prices(admin_client(platform))["unit"].iloc[0]  # the first series' unit
    assert "day_utc" in str(daily.text_content()) and unit in str(daily.text_content())
    assert "Connected to the store at http://demo-quant:***@" in str(cells.first.text_content())
    wait_until(
        lambda: queries_by(platform, "demo-quant") > before, "the store's query log shows demo-quant's reads"
    )


def test_voila_renders_getting_started(platform: Platform, screens: Screens) -> None:
    """Voila in the quant's server executes the notebook and serves its outputs (tables, plot document), and
    the notebook's API cell reads through the API with the server's own token."""
    page = screens.page("voila")
    open_lab(page, platform, "demo-quant")
    answer = page.goto(f"{platform.url}/user/demo-quant/voila/render/{NOTEBOOK}", timeout=WAIT_MS * 2)
    assert answer is not None and answer.status == 200
    html = answer.text()  # what the server executed and sent, whatever the page's JS does with it
    assert html.count('class="jp-OutputArea jp-Cell-outputArea"') == 6  # one per code cell
    assert html.count('class="jp-OutputArea-child"') >= 6
    # the server's own token opens the API (server_token_scopes, MI_API_URL): the same hourly rows via the API
    same = re.search(r"hourly rows through the API .*the same as the store\S{1,6}s: \*\*True\*\*", html)
    assert same, html[-3000:]
    assert re.search(r"Connected to the store at `?http://demo-quant:\*\*\*@", html) and "day_utc" in html
    assert "data-root-id=" in html  # the plot's Bokeh document (in the outputs' JSON)
    assert "application/vnd.jupyter.stderr" not in html and "Traceback" not in html
    page.get_by_text("Daily table").wait_for()
    screens.snap(page, "voila")
