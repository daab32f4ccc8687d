"""A rendered backtest report opens with no network and draws its plots (Chromium, only file:// allowed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.backtest.report import render_report

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
#: the report's figures: MAE by hour, rolling MAE + rMAE (two plots), recent forecasts, DM, GW
PLOTS = 6


def _forecast_csv(path: Path, days: int = 35) -> Path:
    """Hourly actual and two models over ``days`` days (whole days from 00:00: every section computes)."""
    rng = np.random.default_rng(14)
    stamps = pd.date_range("2024-03-01", periods=days * 24, freq="h")
    hour = stamps.hour.to_numpy()
    actual = 40 + 15 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 3, len(stamps))
    frame = pd.DataFrame(
        {"Real price": actual, "good": actual + rng.normal(0, 1, len(stamps)),
         "bad": actual + rng.normal(2, 6, len(stamps))},
        index=pd.Index(stamps.strftime("%Y-%m-%d %H:%M:%S")),
    )  # fmt: skip
    frame.to_csv(path)
    return path


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("offline")
    csv = _forecast_csv(root / "forecasts.csv")
    return render_report(csv, root / "report.html", title="Offline report", market="TEST", recent_days=7)


def test_report_opens_offline_and_draws_its_plots(report_html: Path, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    page_text = report_html.read_text(encoding="utf-8")
    assert "<script src=" not in page_text.replace('<script src="data:', ""), "a script from elsewhere"
    refused: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report_html.as_uri())
            page.wait_for_function(
                "window.Bokeh && Bokeh.documents.length >= 5 && Bokeh.documents.every(d => d.is_idle)",
                timeout=30_000,
            )
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            documents = page.evaluate("Bokeh.documents.length")
            plots = page.evaluate(
                "Bokeh.documents.flatMap(d => [...d.all_models].filter(m => m.type === 'Figure')).length"
            )
            # the canvases the plots drew on (Playwright's locators pierce Bokeh's shadow roots)
            boxes = [c.bounding_box() for c in page.locator("canvas").all()]
            drawn = [b for b in boxes if b is not None and b["width"] > 100 and b["height"] > 100]
            # a drawn canvas holds dark pixels (lines, text, cells), not only its white background
            inked = page.locator("canvas").evaluate_all(
                """cs => cs.map(c => {
                         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                         let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] && d[i] < 200) n++;
                         return n; })"""
            )
        finally:
            browser.close()
    assert errors == [], errors
    assert refused == [], f"the report asked the network for {refused}"
    assert documents == 5, "one Bokeh document per embedded figure: hour, rolling, recent, DM, GW"
    assert plots >= PLOTS
    assert len(drawn) >= PLOTS, boxes
    assert sum(n > 500 for n in inked) >= PLOTS, f"plots left blank: inked pixels per canvas {inked}"
