"""The hub as people use it: start to ready, login to a rendered explorer, 16 sessions, the live tail.

A platform of its own (``mi demo --no-pipeline`` on ``benchmarks/.work/hub-<time>/``, free ports: the store
with the Nord Pool sample, JupyterHub, configurable-http-proxy, the dashboards service), driven by headless
Chromium (Debian's, through Playwright's async API) as user ``demo-trader``; ``mi stop`` at the end, also on
error. Phases:

1. **hub start to ready**: ``mi hub down``, then the wall time of ``mi hub up`` (it returns once the Hub and
   the routed dashboards answer); ``--restarts`` times, median.
2. **login to rendered explorer**: a fresh browser context per login; from clicking the login form's submit,
   through the Hub home and its explorer link (the service's OAuth round trip), until Bokeh is idle and the
   price plot has rows. The first login after the start is reported apart (a cold dashboards process).
3. **interactions, N sessions at once**: ``--sessions`` pages (one browser, one context each) on the explorer,
   each making ``--interactions`` changes (the resolution buttons' ``active``, the start picker's ``value``:
   set on the widget's Bokeh model, which is what a click or a pick does) timed in the page with
   ``performance.now()`` from the change until the table's data source changed (the page sends the plot's
   and the table's data in one patch) and a frame was painted (``requestAnimationFrame``). Sessions pause
   ``--think`` seconds between changes (2-4 s: a person paging; 0.2 0.6 is a stress beyond one process).
4. **live tail, insert to screen**: with live on in M sessions, a new hourly price (the hour after the last
   stored one: the tail delivers intervals that start after the last it has seen, ``dashboards/tail.py``) is
   inserted as ``default`` with :func:`marketintel.store.insert_df`; each page polls its plot's data source
   every 2 ms and records ``Date.now()`` when the row arrives. Latency = that minus the wall clock just before
   the insert (same machine, same clock).

Results: ``benchmarks/results/hub.json`` (``--quick``: ``hub_quick.json``). Run:
``.venv/bin/python benchmarks/hub.py`` (about 4 min) or ``--quick`` (about 1.5 min).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchcommon import WORK_DIR, CpuWatch, free_port, log, machine_info, write_results

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]  # fmt: skip
USER = "demo-trader"
MARKET, LOCATION = "NORDPOOL_DA", "SYS"
GOALS = {
    "hub_ready_s": 10.0,
    "login_render_p95_s": 2.0,
    "interaction_p95_ms": 300.0,
    "row_to_screen_p95_ms": 1000.0,
}
WAIT_MS = 60_000
#: JS: the explorer has rendered and its price plot has rows
RENDERED = """() => {
  if (!(window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle))) return false;
  for (const m of Bokeh.documents[0].all_models) {
    const plot = m.type === 'ColumnDataSource' && 'price' in m.data && 'time' in m.data;
    if (plot && m.get_length() > 0) return true;
  }
  return false;
}"""
#: JS: change one widget's model; resolve with the ms until the new data arrived (one patch) + a frame
INTERACT = """async ([kind, value, timeoutMs]) => {
  const doc = Bokeh.documents[0];
  const sigs = () => {
    let plot = '', table = '';
    for (const m of doc.all_models) {
      if (m.type !== 'ColumnDataSource') continue;
      const keys = Object.keys(m.data);
      const col = m.data.interval_start_utc || m.data.time || [];
      const s = `${m.id}:${keys.join(',')}:${m.get_length()}:${col[0]}:${col[col.length - 1]};`;
      if (keys.includes('interval_start_utc')) table += s;
      else if (keys.includes('price') && keys.includes('time')) plot += s;
    }
    return [plot, table];
  };
  const [plot0, table0] = sigs();
  let model = null;
  for (const m of doc.all_models) {
    if (kind === 'resolution' && m.type.endsWith('RadioButtonGroup')) model = m;
    if (kind === 'start' && m.type.endsWith('DatetimePicker') && m.title === 'Start [UTC]') model = m;
  }
  const t0 = performance.now();
  if (kind === 'resolution') model.active = value; else model.value = value;
  return await new Promise((resolve) => {
    const tick = () => {
      const [plot, table] = sigs();
      // the page sends the plot's and the table's new data in one patch (pn.io.hold): the table's change
      // marks its arrival (the plot's may be equal, e.g. hourly buckets of hourly data)
      if (table !== table0) {
        requestAnimationFrame(() => resolve(performance.now() - t0));
        return;
      }
      if (performance.now() - t0 > timeoutMs) { resolve(-1); return; }
      setTimeout(tick, 2);
    };
    tick();
  });
}"""
#: JS: switch live on (the Switch model's ``active``)
LIVE_ON = """() => {
  const live = [...Bokeh.documents[0].all_models].find(m => m.type.endsWith('Switch'));
  if (live) live.active = true;
  return !!live;
}"""
#: JS: resolve with Date.now() when the price plot's source has grown past its length now (-1 on timeout)
WAIT_GROW = """async (timeoutMs) => {
  let src = null;
  for (const m of Bokeh.documents[0].all_models) {
    if (m.type === 'ColumnDataSource' && 'price' in m.data && 'time' in m.data) src = m;
  }
  const base = src.get_length();
  const t0 = performance.now();
  return await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (src.get_length() > base) { clearInterval(timer); resolve(Date.now()); }
      else if (performance.now() - t0 > timeoutMs) { clearInterval(timer); resolve(-1); }
    }, 2);
  });
}"""


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linear interpolation (numpy's default)."""
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summary(values: list[float], unit: str) -> dict[str, Any]:
    """n, p50, p95, max of a list (failed measurements, negative, are counted apart)."""
    ok = [v for v in values if v >= 0]
    return {
        "unit": unit, "n": len(ok), "failed": len(values) - len(ok),
        "p50": round(pct(ok, 0.5), 3), "p95": round(pct(ok, 0.95), 3),
        "max": round(max(ok), 3) if ok else None,
        "values": [round(v, 3) for v in values],
    }  # fmt: skip


class Platform:
    """``mi demo --no-pipeline`` on a fresh directory with free ports; ``mi`` commands against it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MI_", "PREFECT_"))}
        if os.environ.get("MI_SHARED_DIR"):
            env["MI_SHARED_DIR"] = os.environ["MI_SHARED_DIR"]
        ports = (
            "MI_STORE_PORT",
            "MI_HUB_PORT",
            "MI_HUB_API_PORT",
            "MI_HUB_PROXY_API_PORT",
            "MI_DASHBOARDS_PORT",
            "MI_API_PORT",
        )
        env.update({p: str(free_port()) for p in ports})
        env.update(MI_DATA_DIR=str(root / "mi-data"), MI_REPORTS_DIR=str(root / "reports"))
        self.env = env
        self.url = ""
        self.password = ""

    def mi(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``mi ARGS``; raise with its output if it fails."""
        done = subprocess.run(
            [sys.executable, "-m", "marketintel.cli", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"mi {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def start(self) -> None:
        """Start the demo platform and read the hub's address and the trader's password."""
        out = self.mi("demo", "--no-pipeline").stdout
        match = re.search(r"hub +(http://\S+) \(pid", out)
        if not match:
            raise RuntimeError(f"no hub address in the demo's output:\n{out}")
        self.url = match.group(1).rstrip("/")
        lines = (self.root / "mi-data" / "hub" / "demo-users.txt").read_text().splitlines()
        self.password = dict(line.split(" ", 1) for line in lines)[USER]

    def admin(self) -> Any:
        """A clickhouse-connect client on the store as ``default`` (admin, loopback only)."""
        import clickhouse_connect

        return clickhouse_connect.get_client(host="127.0.0.1", port=int(self.env["MI_STORE_PORT"]))


# ------------------------------------------------------------------------------------------------------------
def hub_restarts(platform: Platform, repeats: int) -> dict[str, Any]:
    """``mi hub down`` then the wall time of ``mi hub up``, ``repeats`` times."""
    times = []
    for i in range(repeats):
        platform.mi("hub", "down")
        t0 = time.perf_counter()
        platform.mi("hub", "up")
        times.append(time.perf_counter() - t0)
        log(f"hub up #{i + 1}: {times[-1]:.2f} s")
    return {"median_s": round(statistics.median(times), 3), "values_s": [round(t, 3) for t in times]}


async def login_and_render(browser: Any, platform: Platform) -> float:
    """One login in a fresh context to a rendered explorer [s], from the form's submit."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{platform.url}/hub/login")
        await page.fill("#username_input", USER)
        await page.fill("#password_input", platform.password)
        t0 = time.perf_counter()
        await page.click("#login_submit")
        await page.wait_for_selector("#dashboard-explorer")
        await page.click("#dashboard-explorer")
        await page.wait_for_function(RENDERED, polling=10)
        return time.perf_counter() - t0
    finally:
        await context.close()


async def open_explorer(browser: Any, platform: Platform) -> tuple[Any, Any]:
    """A logged-in context showing the explorer (rendered)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(f"{platform.url}/hub/login")
    await page.fill("#username_input", USER)
    await page.fill("#password_input", platform.password)
    await page.click("#login_submit")
    await page.wait_for_selector("#dashboard-explorer")
    await page.goto(f"{platform.url}/services/dashboards/explorer")
    await page.wait_for_function(RENDERED, polling=10)
    return context, page


def changes(n: int, end: pd.Timestamp) -> list[tuple[str, Any]]:
    """``n`` widget changes, each giving new data: resolution hourly/daily/native, start 14 or 7 days back."""
    out: list[tuple[str, Any]] = []
    resolution, start_days = 0, 7
    for i in range(n):
        if i % 2 == 0:
            resolution = (resolution + 1) % 3
            out.append(("resolution", resolution))
        else:
            start_days = 14 if start_days == 7 else 7
            out.append(("start", (end - pd.Timedelta(days=start_days)).strftime("%Y-%m-%d %H:%M:%S")))
    return out


async def session_interactions(
    page: Any, plan: list[tuple[str, Any]], seed: int, think: tuple[float, float] = (2.0, 4.0)
) -> list[float]:
    """Make the changes of ``plan`` in one page; return each one's latency [ms] (-1: timed out)."""
    rng = random.Random(seed)
    out = []
    for kind, value in plan:
        out.append(float(await page.evaluate(INTERACT, [kind, value, 30_000])))
        await asyncio.sleep(rng.uniform(*think))
    return out


async def interactions(
    browser: Any, platform: Platform, sessions: int, n: int, think: tuple[float, float] = (2.0, 4.0)
) -> dict[str, Any]:
    """``sessions`` explorer pages making ``n`` changes each, at once."""
    opened = [await open_explorer(browser, platform) for _ in range(sessions)]
    try:
        end = pd.Timestamp(await opened[0][1].evaluate(
            "() => [...Bokeh.documents[0].all_models].find(m => m.title === 'End [UTC] (exclusive)').value"
        ))  # fmt: skip
        plan = changes(n, end)
        watch = CpuWatch({})
        results = await asyncio.gather(
            *(session_interactions(p, plan, i, think) for i, (_, p) in enumerate(opened))
        )
        cpu = watch.stop()
    finally:
        for context, _ in opened:
            await context.close()
    flat = [v for r in results for v in r]
    by_kind = {
        k: [r[i] for r in results for i, (kk, _) in enumerate(plan) if kk == k]
        for k in ("resolution", "start")
    }
    return {
        "sessions": sessions, "interactions_per_session": n, "think_s": list(think),
        "all": summary(flat, "ms"),
        "by_kind": {k: summary(v, "ms") for k, v in by_kind.items()}, "machine_cpu": cpu,
    }  # fmt: skip


def next_row(admin: Any, price: float) -> pd.DataFrame:
    """The stored row of the last interval, moved one hour on, with ``price`` and published now."""
    last = admin.query_df(
        "SELECT * FROM prices FINAL WHERE market = {m:String} AND location = {l:String} "
        "ORDER BY interval_start_utc DESC LIMIT 1",
        parameters={"m": MARKET, "l": LOCATION},
    )
    row = last.copy()
    for column in row.columns:  # a plain client answers naive UTC stamps; the insert path wants them aware
        if pd.api.types.is_datetime64_any_dtype(row[column]) and row[column].dt.tz is None:
            row[column] = row[column].dt.tz_localize("UTC")
    hour = pd.Timedelta(hours=1)
    row["interval_start_utc"] = row["interval_start_utc"] + hour
    row["interval_end_utc"] = row["interval_end_utc"] + hour
    row["price"] = price
    row["published_at_utc"] = pd.Timestamp.now(tz="UTC").floor("ms")
    return row


async def live_tail(browser: Any, platform: Platform, sessions: int, inserts: int) -> dict[str, Any]:
    """Live on in ``sessions`` pages; ``inserts`` new rows, each timed from the insert to each page."""
    from marketintel.store import insert_df

    admin = platform.admin()
    opened = [await open_explorer(browser, platform) for _ in range(sessions)]
    try:
        for _, page in opened:
            assert await page.evaluate(LIVE_ON)
        await asyncio.sleep(2.0)  # the live reload and the poller's first reads
        latencies: list[float] = []
        insert_ms: list[float] = []
        rng = random.Random(sessions)
        for i in range(inserts):
            row = next_row(admin, 40.0 + i)
            waits = [asyncio.create_task(page.evaluate(WAIT_GROW, 10_000)) for _, page in opened]
            await asyncio.sleep(0.1)  # the pages' pollers are running
            t0 = time.time()
            try:
                insert_df(admin, "prices", row)
            except Exception:
                for wait in waits:
                    wait.cancel()
                raise
            insert_ms.append((time.time() - t0) * 1000)
            seen = await asyncio.gather(*waits)
            latencies.extend(float(s) - t0 * 1000 if s > 0 else -1.0 for s in seen)
            await asyncio.sleep(rng.uniform(0.3, 0.9))  # spread the inserts over the poll period
        return {"sessions": sessions, "inserts": inserts, "row_to_screen": summary(latencies, "ms"),
                "insert_call": summary(insert_ms, "ms")}  # fmt: skip
    finally:
        for context, _ in opened:
            await context.close()


async def browser_phases(platform: Platform, args: argparse.Namespace) -> dict[str, Any]:
    """Phases 2-4 in one headless Chromium."""
    from playwright.async_api import async_playwright

    out: dict[str, Any] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            first = await login_and_render(browser, platform)
            log(f"first login after the start: {first:.2f} s")
            logins = []
            for i in range(args.logins):
                logins.append(await login_and_render(browser, platform))
                log(f"login #{i + 1}: {logins[-1]:.2f} s")
            out["login_render"] = {"first_after_start_s": round(first, 3), **summary(logins, "s")}
            out["interactions"] = await interactions(
                browser, platform, args.sessions, args.interactions, (args.think[0], args.think[1])
            )
            log(f"interactions: {out['interactions']['all']}")
            out["live_tail"] = []
            for m in args.live_sessions:
                result = await live_tail(browser, platform, m, args.inserts)
                log(f"live tail, {m} sessions: {result['row_to_screen']}")
                out["live_tail"].append(result)
        finally:
            await browser.close()
    return out


def report(results: dict[str, Any]) -> None:
    """Print the figures beside the goals."""
    lr, it = results["login_render"], results["interactions"]
    rows = [
        ("hub start to ready, median", f"{results['hub_up']['median_s']:.2f} s",
         f"<= {GOALS['hub_ready_s']:.0f} s"),
        ("login to rendered explorer, p50 / p95", f"{lr['p50']:.2f} / {lr['p95']:.2f} s",
         f"p95 <= {GOALS['login_render_p95_s']:.0f} s"),
        ("  first login after the start", f"{lr['first_after_start_s']:.2f} s", ""),
        (f"interaction, {it['sessions']} sessions, p50 / p95",
         f"{it['all']['p50']:.0f} / {it['all']['p95']:.0f} ms",
         f"p95 <= {GOALS['interaction_p95_ms']:.0f} ms"),
    ]  # fmt: skip
    for lt in results["live_tail"]:
        r = lt["row_to_screen"]
        goal = f"p95 <= {GOALS['row_to_screen_p95_ms']:.0f} ms"
        what = f"row to screen, {lt['sessions']} live sessions, p50 / p95"
        rows.append((what, f"{r['p50']:.0f} / {r['p95']:.0f} ms", goal))
    print()
    for what, measured, goal in [("what", "measured", "goal"), *rows]:
        print(f"{what:<46} {measured:<18} {goal}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (results in hub_quick.json)")
    parser.add_argument("--restarts", type=int, default=3, help="hub down/up repeats [3]")
    parser.add_argument("--logins", type=int, default=20, help="logins to a rendered explorer [20]")
    parser.add_argument("--sessions", type=int, default=16, help="concurrent explorer sessions [16]")
    parser.add_argument("--interactions", type=int, default=10, help="changes per session [10]")
    parser.add_argument(
        "--think", type=float, nargs=2, default=[2.0, 4.0], metavar=("MIN", "MAX"),
        help="pause between one session's changes [s], uniform (a person paging: 2 4; a stress: 0.2 0.6)",
    )  # fmt: skip
    parser.add_argument("--live-sessions", type=int, nargs="+", default=[1, 16], help="live sessions [1 16]")
    parser.add_argument("--inserts", type=int, default=20, help="inserts per live measurement [20]")
    args = parser.parse_args()
    if args.quick:
        args.restarts, args.logins, args.sessions, args.interactions = 1, 3, 2, 4
        args.live_sessions, args.inserts = [1, 2], 4
    root = WORK_DIR / f"hub-{time.strftime('%Y%m%d-%H%M%S')}"
    root.mkdir(parents=True, exist_ok=True)
    platform = Platform(root)
    results: dict[str, Any] = {"benchmark": "hub", "machine": machine_info(), "parameters": vars(args),
                               "goals": GOALS}  # fmt: skip
    log(f"starting the demo platform in {root}")
    try:
        t0 = time.perf_counter()
        platform.start()
        results["demo_start_s"] = round(time.perf_counter() - t0, 2)
        log(f"platform up in {results['demo_start_s']} s at {platform.url}")
        watch = CpuWatch({})
        results["hub_up"] = hub_restarts(platform, args.restarts)
        results["hub_up"]["machine_cpu"] = watch.stop()
        results.update(asyncio.run(browser_phases(platform, args)))
    finally:
        log("mi stop")
        platform.mi("stop")
    write_results("hub_quick" if args.quick else "hub", results)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
