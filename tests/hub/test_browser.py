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

import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from marketintel.services import queries
from tests.hub.conftest import WAIT_S, Platform

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]  # fmt: skip
#: JS: every Bokeh document of the page has finished its first render and has no pending change
BOKEH_IDLE = "window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle)"
#: JS: the explorer's state, read from its Bokeh models: widget values, the plot's rows, the table's page
EXPLORER_STATE = """() => {
  const out = {widgets: {}, plot_rows: -1, table: null};
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type.endsWith('Select') || m.type.endsWith('DatetimePicker')) out.widgets[m.title] = m.value;
    if (m.type !== 'ColumnDataSource') continue;
    const keys = Object.keys(m.data);
    if (keys.includes('interval_start_utc')) {
      out.table = {start_ms: Array.from(m.data.interval_start_utc), price: Array.from(m.data.price)};
    } else if (keys.includes('price') && keys.includes('time')) {
      out.plot_rows = m.get_length();
    }
  }
  return out;
}"""
#: JS: every code cell of the open notebook has run (its prompt shows an execution count)
ALL_CELLS_RAN = r"""() => {
  const panel = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt';
  const prompts = [...document.querySelectorAll(panel)].map(e => e.textContent.trim());
  return prompts.length > 0 && prompts.every(p => /^\[\d+\]:$/.test(p));
}"""
WAIT_MS = WAIT_S * 1000
NOTEBOOK = "getting_started.ipynb"


# ------------------------------------------------------------------------------------------------------------
# Browser, contexts and screenshots
# ------------------------------------------------------------------------------------------------------------
class _ReportStash:
    """Keeps each phase's report on the test item, so that a fixture's teardown sees a failure."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        item.stash.setdefault(_REPORTS, {})[report.when] = report
        return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One headless Chromium for this module (Debian's, as Playwright cannot download browsers here).

    Module scope: Playwright's sync API keeps an event loop running in the main thread until it stops, and
    later tests (``asyncio.run`` in the async clients' tests) need none running.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    manager = request.config.pluginmanager
    if not manager.has_plugin("mi-browser-reports"):
        manager.register(_ReportStash(), "mi-browser-reports")
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Screens:
    """The pages a test opened, and the screenshots taken of them."""

    def __init__(self, browser: Any, name: str, tmp_path: Path) -> None:
        self.browser = browser
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.tmp_path = tmp_path
        self.keep = Path(os.environ["MI_TEST_SCREENSHOTS"]) if os.environ.get("MI_TEST_SCREENSHOTS") else None
        self.pages: list[tuple[str, Any]] = []
        self.contexts: list[Any] = []
        self.saved: list[Path] = []

    def page(self, label: str) -> Any:
        """Return a page in a new browser context (no cookies), 1280x900, with a bounded default wait."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_MS)
        self.contexts.append(context)
        page = context.new_page()
        self.pages.append((label, page))
        return page

    def snap(self, page: Any, label: str) -> None:
        """Screenshot ``page`` now (kept in the test's folder, and in MI_TEST_SCREENSHOTS if set)."""
        n = len(self.saved) + 1
        target = self.tmp_path / f"{n:02d}-{label}.png"
        try:
            page.screenshot(path=str(target), full_page=True, timeout=10_000)
        except playwright_sync.Error as exc:  # a closed or crashed page: say so, keep the test's own error
            print(f"screenshot {label} failed: {exc}")
            return
        self.saved.append(target)
        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            (self.keep / f"{self.name}-{n:02d}-{label}.png").write_bytes(target.read_bytes())

    def close(self, failed: bool) -> None:
        """Screenshot every page as it is now, print where they are if the test failed, close the contexts."""
        if failed or self.keep is not None:
            for label, page in self.pages:
                if not page.is_closed():
                    self.snap(page, f"{label}-end")
        if failed:
            print("screenshots of the failed test:", *self.saved, sep="\n  ")
        for context in self.contexts:
            context.close()


@pytest.fixture
def screens(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Screens]:
    """New browser contexts for one test; screenshots of its pages on failure (and in MI_TEST_SCREENSHOTS)."""
    shots = Screens(browser, request.node.name, tmp_path)
    yield shots
    reports = request.node.stash.get(_REPORTS, {})
    shots.close(failed=any(r.failed for r in reports.values()))


# ------------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------------
def login(page: Any, platform: Platform, user: str, password: str | None = None) -> Any:
    """Log in through the Hub's form as a person does; return the answer of the form's POST."""
    page.goto(f"{platform.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", platform.password(user) if password is None else password)
    with page.expect_response(
        lambda r: r.url.startswith(f"{platform.url}/hub/login") and r.request.method == "POST"
    ) as answer:
        page.click("#login_submit")
    page.wait_for_load_state()
    return answer.value


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``check`` every 0.2 s until it is true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.2)


def admin_client(platform: Platform) -> Any:
    """A clickhouse-connect client on the platform's store as ``default`` (admin, loopback only)."""
    import clickhouse_connect

    return clickhouse_connect.get_client(host="127.0.0.1", port=int(platform.env["MI_STORE_PORT"]))


def queries_by(platform: Platform, user: str) -> int:
    """How many statements the store's query log holds from store user ``user`` (after a flush)."""
    client = admin_client(platform)
    client.command("SYSTEM FLUSH LOGS")
    return int(client.command("SELECT count() FROM system.query_log WHERE user = {u:String}", {"u": user}))


def dashboard_links(page: Any) -> list[str]:
    """The ids of the dashboard links of the Hub home page."""
    return [str(a.get_attribute("id")) for a in page.locator("#mi-dashboards a").all()]


def open_lab(page: Any, platform: Platform, user: str) -> None:
    """Log in as a quant or admin and wait for their JupyterLab (spawned by the login if not running)."""
    login(page, platform, user)
    page.wait_for_selector("#jp-main-dock-panel", timeout=WAIT_MS * 2)
    assert page.url.startswith(f"{platform.url}/user/{user}/lab"), page.url
    page.locator(".jp-DirListing-itemText", has_text=NOTEBOOK).wait_for()  # their copy, in the file browser


# ------------------------------------------------------------------------------------------------------------
# Logins
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("user", "links", "lab"),
    [
        ("demo-trader", ["dashboard-explorer"], False),
        ("demo-ops", [], False),
        ("demo-quant", ["dashboard-explorer", "dashboard-backtests"], True),
        ("demo-admin", ["dashboard-explorer", "dashboard-backtests"], True),
    ],
    ids=["traders", "ops", "quants", "admins"],
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


def test_trader_gets_panels_authorization_error_on_backtests(platform: Platform, screens: Screens) -> None:
    """A page of other groups answers with Panel's authorization error, not the page."""
    page = screens.page("backtests")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/services/dashboards/backtests")
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
    assert "day_utc" in str(daily.text_content()) and "EUR/MWh" in str(daily.text_content())
    assert "Connected to the store at http://demo-quant:***@" in str(cells.first.text_content())
    wait_until(
        lambda: queries_by(platform, "demo-quant") > before, "the store's query log shows demo-quant's reads"
    )


def test_voila_renders_getting_started(platform: Platform, screens: Screens) -> None:
    """Voila in the quant's server executes the notebook and serves its outputs (tables, plot document)."""
    page = screens.page("voila")
    open_lab(page, platform, "demo-quant")
    answer = page.goto(f"{platform.url}/user/demo-quant/voila/render/{NOTEBOOK}", timeout=WAIT_MS * 2)
    assert answer is not None and answer.status == 200
    html = answer.text()  # what the server executed and sent, whatever the page's JS does with it
    assert html.count('class="jp-OutputArea jp-Cell-outputArea"') == 5  # one per code cell
    assert html.count('class="jp-OutputArea-child"') >= 5
    assert re.search(r"Connected to the store at `?http://demo-quant:\*\*\*@", html) and "day_utc" in html
    assert "data-root-id=" in html  # the plot's Bokeh document (in the outputs' JSON)
    assert "application/vnd.jupyter.stderr" not in html and "Traceback" not in html
    page.get_by_text("Daily table").wait_for()
    screens.snap(page, "voila")
