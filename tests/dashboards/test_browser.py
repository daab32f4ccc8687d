"""The developer-mode server in a real browser: the explorer draws the stored prices, and the live tail
adds a row inserted into the store without a reload."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from marketintel.services import queries
from marketintel.services.sample import SampleSummary
from marketintel.store import insert_df
from tests.dashboards.rows import price_rows
from tests.storeproc import StoreProcess, free_port, wait_until

pytestmark = pytest.mark.slow

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]  # fmt: skip
IDLE = "window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle)"
#: the prices drawn by the page: the 'price' column of the newest plot's data source (a redraw adds one)
PRICES_JS = """() => {
  let found = null;
  for (const doc of Bokeh.documents) for (const m of doc.all_models)
    if (m.data && m.data.price && m.data.time) found = Array.from(m.data.price);
  return found;
}"""
#: where the screenshot is also copied for a person to look at
SCREENSHOT = Path("/tmp/dashboards-explorer.png")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture(scope="module")
def dev_server(
    store: StoreProcess, sample_db: str, sample: SampleSummary, tmp_path_factory: Any
) -> Iterator[str]:
    """``serve --no-auth --groups traders`` on the sample database; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("dashboards") / "serve.log"
    env = {**os.environ, "MI_CLICKHOUSE_URL": f"{store.url}/{sample_db}"}
    command = [sys.executable, "-m", "marketintel.dashboards.serve", "--no-auth", "--groups", "traders",
               "--port", str(port)]  # fmt: skip
    with open(log, "wb") as fh:
        proc = subprocess.Popen(command, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/services/dashboards"
    try:
        wait_until(lambda: proc.poll() is not None or _status(f"{base}/") == 200, "the server answers", 60)
        assert proc.poll() is None, log.read_text()
        yield base
    finally:
        started = time.monotonic()
        proc.terminate()
        proc.wait(20)
        assert time.monotonic() - started < 10, "the service took long to stop on SIGTERM"
        assert proc.returncode == 0, log.read_text()[-3000:]


def test_trader_is_refused_the_curve_builder_page(dev_server: str) -> None:
    assert _status(f"{dev_server}/explorer") == 200
    assert _status(f"{dev_server}/curve-builder") == 403
    with urllib.request.urlopen(f"{dev_server}/", timeout=10) as r:
        assert r.status == 200


def test_explorer_draws_prices_and_tails_a_new_row(
    dev_server: str, db_client: Any, sample: SampleSummary, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1250})
            page.goto(f"{dev_server}/explorer")
            page.wait_for_function(IDLE, timeout=30_000)
            drawn = page.evaluate(PRICES_JS)
            stored = queries.price_series(db_client, "NORDPOOL_DA", "SYS", "2018-12-18", "2018-12-25")
            assert drawn is not None and len(drawn) >= len(stored) == 167  # a week of hours (drawn as steps)
            assert set(drawn) == set(stored["price"]) and drawn[-1] == stored["price"].iloc[-1]
            page.get_by_text("No prices", exact=False).wait_for(state="detached", timeout=1_000)

            page.locator(".live-switch .bk-knob").first.click()
            page.wait_for_function(f"(() => {{ const p = ({PRICES_JS})(); return p && p.length >= 167; }})()")
            time.sleep(0.5)  # the page has subscribed to the tail
            last = pd.Timestamp("2018-12-24 23:00", tz="UTC")
            row = price_rows("NORDPOOL_DA", "SYS", pd.DatetimeIndex([last + pd.Timedelta(hours=1)]), [123.45],
                             pd.Timestamp.now(tz="UTC"))  # fmt: skip
            inserted = time.monotonic()
            insert_df(db_client, "prices", row)
            page.wait_for_function(
                f"(() => {{ const p = ({PRICES_JS})(); return p && p[p.length - 1] === 123.45; }})()",
                timeout=10_000,
            )
            latency = time.monotonic() - inserted
            assert set(page.evaluate(PRICES_JS)) == {*stored["price"], 123.45}
            assert latency < 5  # a bound on the wait on shared machines; typically ~0.5 s
            page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
            shutil.copy(tmp_path / "explorer.png", SCREENSHOT)
        finally:
            browser.close()
