"""The browser of the hub's page tests: one headless Chromium per module, contexts and screenshots per test.

Import the fixtures into a test module (``from tests.hub.browsing import browser, screens``) with the
helpers it uses. Screenshots: on a failure, every page of the test is saved as a PNG under the test's
``tmp_path`` and the paths are printed; with ``MI_TEST_SCREENSHOTS=DIR`` every test also saves them, pass
or fail, into ``DIR`` (``<test>-<n>-<label>.png``) for a person to look at.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub.conftest import WAIT_S, Platform

try:
    import playwright.sync_api as playwright_sync
except ImportError:  # a clone without the dev dependencies: the browser fixture skips
    playwright_sync = None

#: screenshots kept in MI_TEST_SCREENSHOTS during the session (listed at its end by the conftest)
KEPT: list[Path] = []
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
    if playwright_sync is None:
        pytest.skip("playwright is not installed (make setup installs the dev dependencies)")
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
            kept = self.keep / f"{self.name}-{n:02d}-{label}.png"
            kept.write_bytes(target.read_bytes())
            KEPT.append(kept)

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
