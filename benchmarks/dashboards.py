"""Every dashboard page as people use it: first render with data and one typical interaction, 16 sessions.

A platform of its own (the whole ``mi demo`` on ``benchmarks/.work/dashboards-<time>/``, free ports: the store
with the demo's data, Prefect with the demo's flow runs, JupyterHub, configurable-http-proxy, the dashboards
service), driven by headless Chromium (Debian's, through Playwright's async API); ``mi stop`` at the end, also
on error. For each page of the registry, as a demo user allowed to open it:

1. ``--sessions`` (16) browser contexts log in through the Hub's form and, unless ``--cold``, open the
   dashboards' index once, so BokehJS and Panel's scripts are in their cache as for a returning user (not
   timed); then they open the page: all at
   once (a burst, the default) or each at a random moment within ``--arrival`` seconds (people arriving).
   **First render** is the time from ``page.goto`` until Bokeh is idle and the page shows data (its
   ``READY`` condition below), per session.
2. The same sessions then make ``--interactions`` (5) **typical interactions** each, pausing ``--think``
   (2-4 s) between them, all sessions at once: a change of one widget's Bokeh model (what a click or a pick
   does), timed in the page with ``performance.now()`` from the change until a data source of the page
   changed and a frame was painted (``requestAnimationFrame``).
3. **Live, row to screen** for the explorer (a new price) and the quality page (a new check result): one
   page live per session, a new row written to the store, the time until it is in each page's data
   (``Date.now()`` in the page minus the wall clock just before the write; same machine, same clock).
   The health page refreshes every 5 s by design (a reading of the store, Prefect and the Hub), so it is
   not timed here.

The machine is shared and has 2 cores: Chromium's 16 pages, the dashboards process, the Hub, the proxy and the
store all run on them, so these are end-to-end figures of one small machine, reported as p50/p95.

Results: ``benchmarks/results/dashboards.json`` (``--quick``: ``dashboards_quick.json``; ``--pages``,
``--sessions``, ``--arrival`` and ``--cold`` runs add ``_<pages>``, ``_sessions<n>``, ``_arrival<s>s`` and
``_cold`` to the name). Run:
``.venv/bin/python benchmarks/dashboards.py`` (about 10 min) or ``--quick`` (4 sessions, 2 interactions).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchcommon import WORK_DIR, CpuWatch, free_port, log, machine_info, write_results
from hub import CHROMIUM, CHROMIUM_ARGS, Platform, live_tail, summary

GOALS = {"first_render_p95_s": 1.5, "interaction_p95_ms": 300.0, "row_to_screen_p95_ms": 1000.0}
WAIT_MS = 90_000

#: JS: a signature of every data source of the page (ids, columns, lengths, first and last values)
SIGNATURE = """() => {
  let out = '';
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.type !== 'ColumnDataSource') continue;
    out += m.id + ':' + m.get_length();
    for (const [k, v] of Object.entries(m.data)) {
      const n = v.length;
      out += `|${k}=${n ? v[0] : ''}~${n ? v[n - 1] : ''}`;
    }
    out += ';';
  }
  // a page's "what was just done" line (the curve builder's report title says when it built): a rebuild
  // that gives the same curve changes no data source, but this line
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if ((m.css_classes || []).includes('mi-report-title')) out += '|' + m.text;
  }
  return out;
}"""
#: JS: Bokeh idle, at least ``minSources`` non-empty data sources, no error message shown
READY = """([minSources]) => {
  if (!(window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle))) return false;
  if (document.querySelector('.mi-message .alert-danger')) return 'error';
  let n = 0;
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.type === 'ColumnDataSource' && m.get_length() > 0) n += 1;
  }
  return n >= minSources;
}"""
#: JS: set one widget model's property; resolve with the ms until a data source changed and a frame painted
INTERACT = """async ([match, prop, value, timeoutMs]) => {
  const sig = () => { %SIGNATURE% };
  const find = () => {
    for (const doc of Bokeh.documents) for (const m of doc.all_models) {
      if (!m.type.endsWith(match.type)) continue;
      if (match.title !== undefined && m.title !== match.title && m.name !== match.title) continue;
      if (match.css !== undefined && !(m.css_classes || []).includes(match.css)) continue;
      return m;
    }
    return null;
  };
  const model = find();
  if (model === null) return -2;
  const before = sig();
  const t0 = performance.now();
  model[prop] = value;
  return await new Promise((resolve) => {
    const tick = () => {
      if (sig() !== before) { requestAnimationFrame(() => resolve(performance.now() - t0)); return; }
      if (performance.now() - t0 > timeoutMs) { resolve(-1); return; }
      setTimeout(tick, 2);
    };
    tick();
  });
}""".replace("%SIGNATURE%", SIGNATURE.strip()[7:-1])


@dataclass(frozen=True)
class PageCase:
    """One page of the benchmark: who opens it, when it counts as rendered, what a typical change is.

    ``interaction`` is ``(model match, property, values)``: the model is found by its Bokeh type's ending
    (``"RadioButtonGroup"``) and optionally its ``title`` or a CSS class; successive interactions cycle
    through ``values``.
    """

    name: str
    user: str
    min_sources: int
    interaction: tuple[dict[str, str], str, tuple[Any, ...]]
    #: a button clicked instead (by its label): the interaction of a page whose data a click makes
    click: str = ""


#: the zone choice (UTC / market local) is on every page but the explorer: it redraws every time axis
TZ = ({"type": "RadioButtonGroup", "css": "mi-tz"}, "active", (1, 0))
PAGES: tuple[PageCase, ...] = (
    PageCase("explorer", "demo-trader", 2, ({"type": "RadioButtonGroup"}, "active", (1, 2, 0))),
    PageCase("curves", "demo-trader", 2, TZ),
    # nothing is drawn before a build: rendered = idle with its choices; the typical action is a build
    PageCase("curve-builder", "demo-quant", 0, TZ, click="Build curve"),
    PageCase("accuracy", "demo-trader", 2, TZ),
    PageCase("quality", "demo-ops", 2, TZ),
    PageCase("health", "demo-ops", 2, TZ),
)


#: JS: wait until the checks table of the quality page has more rows; resolve with ``Date.now()`` (-1: none)
WAIT_CHECK = """async (timeoutMs) => {
  let src = null;
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.type === 'ColumnDataSource' && 'run_id' in m.data && 'check_name' in m.data) src = m;
  }
  if (src === null) return -2;
  const base = src.get_length();
  const t0 = performance.now();
  return await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (src.get_length() > base) { clearInterval(timer); resolve(Date.now()); }
      else if (performance.now() - t0 > timeoutMs) { clearInterval(timer); resolve(-1); }
    }, 2);
  });
}"""


class DemoPlatform(Platform):
    """The whole ``mi demo`` (every flow once, so every page has data) on free ports."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.env["MI_PREFECT_PORT"] = str(free_port())
        self.passwords: dict[str, str] = {}

    def start(self) -> None:
        """Run the demo; read the hub's address and the demo users' passwords."""
        import re

        out = self.mi("demo", timeout=900).stdout
        match = re.search(r"hub +(http://\S+) \(pid", out)
        if not match:
            raise RuntimeError(f"no hub address in the demo's output:\n{out}")
        self.url = match.group(1).rstrip("/")
        lines = (self.root / "mi-data" / "hub" / "demo-users.txt").read_text().splitlines()
        self.passwords = dict(line.split(" ", 1) for line in lines)
        self.password = self.passwords["demo-trader"]  # the explorer's live tail (hub.live_tail)


def service_pids(platform: DemoPlatform) -> dict[str, int]:
    """The pids of the platform's dashboards service and store (by command line and ``MI_DATA_DIR``)."""
    data_dir = platform.env["MI_DATA_DIR"].encode()
    found: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"MI_DATA_DIR=" + data_dir + b"\0" not in environ + b"\0":
            continue
        if b"marketintel.dashboards.serve" in cmdline:
            found["dashboards"] = int(proc.name)
        elif b"store\0serve" in cmdline:
            found["store"] = int(proc.name)
    return found


async def logged_in(browser: Any, platform: DemoPlatform, user: str, warm: bool = False) -> tuple[Any, Any]:
    """A browser context logged in to the Hub as ``user`` (through the login form), and its page.

    With ``warm`` the context then opens the dashboards' index page once (not timed), as a user who has
    used the dashboards before: the static JavaScript and CSS (5.7 MB: BokehJS, Panel, Tabulator,
    Bootstrap) are in the browser's cache. Without it every page's first render loads them too.
    """
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(f"{platform.url}/hub/login")
    await page.fill("#username_input", user)
    await page.fill("#password_input", platform.passwords[user])
    await page.click("#login_submit")
    await page.wait_for_load_state()
    if warm:
        await page.goto(f"{platform.url}/services/dashboards/")
        await page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", polling=50)
    return context, page


async def first_render(page: Any, url: str, case: PageCase, delay_s: float = 0.0) -> float:
    """After ``delay_s``, open ``url``; return the seconds until it is rendered with data (-1: an error)."""
    await asyncio.sleep(delay_s)
    t0 = time.perf_counter()
    try:
        await page.goto(url)
        state = await page.wait_for_function(READY, arg=[case.min_sources], polling=10, timeout=WAIT_MS)
    except Exception as exc:  # Playwright's TimeoutError: counted as failed, the run goes on
        log(f"{case.name}: no render within {WAIT_MS / 1000:.0f} s ({type(exc).__name__})")
        return -1.0
    if await state.json_value() == "error":
        return -1.0
    return time.perf_counter() - t0


async def session(page: Any, case: PageCase, n: int, seed: int, think: tuple[float, float]) -> list[float]:
    """``n`` interactions of ``case`` in one page; each one's latency [ms] (-1 timed out, -2 no widget)."""
    rng = random.Random(seed)
    match, prop, values = case.interaction
    out = []
    for i in range(n):
        await asyncio.sleep(rng.uniform(*think))
        if case.click:
            out.append(await clicked(page, case.click))
            continue
        value = values[i % len(values)]
        out.append(float(await page.evaluate(INTERACT, [match, prop, value, 30_000])))
    return out


async def clicked(page: Any, label: str) -> float:
    """Click the button ``label``; the ms until a data source changed (-1: none within 30 s)."""
    before = await page.evaluate(SIGNATURE)
    t0 = time.perf_counter()
    await page.get_by_role("button", name=label).click()
    try:
        await page.wait_for_function(
            f"(before) => ({SIGNATURE})() !== before", arg=before, polling=5, timeout=30_000
        )
    except Exception:  # Playwright's TimeoutError: counted as failed
        return -1.0
    return (time.perf_counter() - t0) * 1000


async def page_phase(
    browser: Any, platform: DemoPlatform, case: PageCase, args: argparse.Namespace
) -> dict[str, Any]:
    """First render and interactions of one page in ``args.sessions`` sessions at once."""
    opened = [await logged_in(browser, platform, case.user, not args.cold) for _ in range(args.sessions)]
    url = f"{platform.url}/services/dashboards/{case.name}"
    try:
        watch = CpuWatch(service_pids(platform))
        # arrivals: all at once (--arrival 0, a burst), or spread uniformly over --arrival seconds
        rng = random.Random(len(case.name))
        delays = [rng.uniform(0, args.arrival) for _ in opened]
        renders = await asyncio.gather(
            *(first_render(p, url, case, d) for (_, p), d in zip(opened, delays, strict=True))
        )
        think = (args.think[0], args.think[1])
        results = await asyncio.gather(
            *(session(p, case, args.interactions, i, think) for i, (_, p) in enumerate(opened))
        )
        cpu = watch.stop()
    finally:
        for context, _ in opened:
            await context.close()
    return {
        "user": case.user, "sessions": args.sessions, "arrival_s": args.arrival,
        "first_render": summary(list(renders), "s"),
        "interaction": {"what": f"{case.interaction[0]} .{case.interaction[1]}", **summary(
            [v for r in results for v in r], "ms")},
        "machine_cpu": cpu,
    }  # fmt: skip


def next_check(admin: Any, i: int) -> pd.DataFrame:
    """The newest stored data-quality result again, checked now, as run ``bench-live-<i>``."""
    last = admin.query_df("SELECT * FROM data_quality ORDER BY checked_at_utc DESC LIMIT 1")
    row = last.copy()
    for column in row.columns:  # a plain client answers naive UTC stamps; the insert path wants them aware
        if pd.api.types.is_datetime64_any_dtype(row[column]) and row[column].dt.tz is None:
            row[column] = row[column].dt.tz_localize("UTC")
    row["checked_at_utc"] = pd.Timestamp.now(tz="UTC").floor("ms")
    row["run_id"] = f"bench-live-{i}"
    return row


async def quality_live(
    browser: Any, platform: DemoPlatform, sessions: int, inserts: int, warm: bool
) -> dict[str, Any]:
    """Time new check results from their insert to each of ``sessions`` live quality pages.

    ``inserts`` results, each the newest stored one again (checked now), reach each page's checks table
    (the row in the browser's data source) through the page's live look every ``LIVE_S`` (0.5 s).
    """
    from marketintel.store import insert_df

    admin = platform.admin()
    case = next(c for c in PAGES if c.name == "quality")
    opened = [await logged_in(browser, platform, case.user, warm) for _ in range(sessions)]
    url = f"{platform.url}/services/dashboards/quality"
    try:
        for _, page in opened:
            await page.goto(url)
            await page.wait_for_function(READY, arg=[case.min_sources], polling=50, timeout=WAIT_MS)
        await asyncio.sleep(2.0)
        latencies: list[float] = []
        rng = random.Random(sessions)
        for i in range(inserts):
            row = next_check(admin, i)
            waits = [asyncio.create_task(page.evaluate(WAIT_CHECK, 10_000)) for _, page in opened]
            await asyncio.sleep(0.1)
            t0 = time.time()
            insert_df(admin, "data_quality", row)
            seen = await asyncio.gather(*waits)
            latencies.extend(float(v) - t0 * 1000 if v > 0 else -1.0 for v in seen)
            await asyncio.sleep(rng.uniform(0.3, 0.9))  # spread the inserts over the poll period
        return {"sessions": sessions, "inserts": inserts, "row_to_screen": summary(latencies, "ms")}
    finally:
        for context, _ in opened:
            await context.close()


async def browser_phases(platform: DemoPlatform, args: argparse.Namespace) -> dict[str, Any]:
    """Every page's phases in one headless Chromium."""
    from playwright.async_api import async_playwright

    out: dict[str, Any] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # one warm-up visit per page: the dashboards process imports each page's module once
            for case in PAGES:
                if args.pages and case.name not in args.pages:
                    continue
                context, page = await logged_in(browser, platform, case.user, not args.cold)
                warm = await first_render(page, f"{platform.url}/services/dashboards/{case.name}", case)
                await context.close()
                log(f"{case.name}: warm-up render {warm:.2f} s")
                result = await page_phase(browser, platform, case, args)
                result["warm_up_render_s"] = round(warm, 3)
                out[case.name] = result
                log(f"{case.name}: first render {result['first_render']['p50']} / "
                    f"{result['first_render']['p95']} s, interaction {result['interaction']['p50']} / "
                    f"{result['interaction']['p95']} ms (p50 / p95)")  # fmt: skip
            if not args.pages or "explorer" in args.pages:
                live = await live_tail(browser, platform, args.sessions, args.inserts)
                out["explorer"]["live_row_to_screen"] = live
                log(f"explorer live, {args.sessions} sessions: {live['row_to_screen']}")
            if not args.pages or "quality" in args.pages:
                live = await quality_live(browser, platform, args.sessions, args.inserts, not args.cold)
                out["quality"]["live_row_to_screen"] = live
                log(f"quality live, {args.sessions} sessions: {live['row_to_screen']}")
        finally:
            await browser.close()
    return out


def report(results: dict[str, Any]) -> None:
    """Print the figures beside the goals."""
    print(f"\n{'page':<14} {'first render p50/p95 [s]':<26} {'interaction p50/p95 [ms]':<26}")
    for name, r in results["pages"].items():
        fr, it = r["first_render"], r["interaction"]
        print(f"{name:<14} {fr['p50']:>6.2f} / {fr['p95']:<15.2f} {it['p50']:>6.0f} / {it['p95']:<15.0f}")
    print(f"goals: first render p95 <= {GOALS['first_render_p95_s']} s, "
          f"interaction p95 <= {GOALS['interaction_p95_ms']:.0f} ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="4 sessions, 2 interactions (dashboards_quick.json)"
    )
    parser.add_argument("--sessions", type=int, default=16, help="concurrent sessions per page [16]")
    parser.add_argument("--interactions", type=int, default=5, help="interactions per session [5]")
    parser.add_argument("--think", type=float, nargs=2, default=[2.0, 4.0], metavar=("MIN", "MAX"),
                        help="pause between a session's interactions [2 4 s]")  # fmt: skip
    parser.add_argument(
        "--arrival",
        type=float,
        default=0.0,
        help="spread the sessions' first visits over this many seconds [0: all at once]",
    )
    parser.add_argument("--inserts", type=int, default=10, help="rows written for the live phases [10]")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="first visits with an empty browser cache (default: each session has opened the dashboards' "
        "index once, so the static JavaScript is cached, as for a returning user)",
    )
    parser.add_argument("--pages", nargs="*", default=[], help="only these pages (default: all)")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.interactions = 4, 2
    root = WORK_DIR / f"dashboards-{time.strftime('%Y%m%d-%H%M%S')}"
    root.mkdir(parents=True)
    platform = DemoPlatform(root)
    try:
        t0 = time.perf_counter()
        platform.start()
        log(f"demo platform up in {time.perf_counter() - t0:.0f} s at {platform.url}")
        pages = asyncio.run(browser_phases(platform, args))
    finally:
        platform.mi("stop", timeout=300)
    results = {
        "machine": machine_info(), "goals": GOALS,
        "parameters": {k: v for k, v in vars(args).items()}, "pages": pages,
    }  # fmt: skip
    name = "dashboards_quick" if args.quick else "dashboards"
    name += f"_{'-'.join(args.pages)}" if args.pages else ""
    name += f"_sessions{args.sessions}" if args.sessions != 16 and not args.quick else ""
    name += f"_arrival{args.arrival:g}s" if args.arrival else ""
    write_results(name + ("_cold" if args.cold else ""), results)
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
