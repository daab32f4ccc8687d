"""The API under load (locust), and under faults: the store restarted, the hub restarted, a slow WebSocket.

A platform of its own: ``mi demo --no-pipeline`` on ``benchmarks/.work/api-<time>/`` with free ports (the
store, JupyterHub with configurable-http-proxy, the dashboards and the API as Hub-managed services), and in
its store the 10M-row benchmark data of ``store_entitlements.py``: 5-minute prices of ``--locations``
(1000) locations ``NODE_0000..`` in 5 markets ``MARKET_0..4`` from 2024-01-01 (10,000 intervals, 34.7
days), made server-side by ``store_queries.INSERT_CHUNK``'s generator into the platform's own ``prices``
table (USD/MWh, location type node), compacted (``OPTIMIZE ... FINAL``) and rolled up (``prices_hourly``,
as the platform's flows keep it). A small daily forward curve ``BENCH_DE_BASE_daily`` (7 contracts, built
and stored by ``services.curves.build_and_store_curve``) serves the curve requests.

Entitlements on: the ``traders`` group's default "every row" price rule is revoked and replaced by
``mi access grant traders prices --market 'MARKET_*' --export`` (a market rule, compiled to ``market IN
(...)`` in the store, as ``ent_m`` of ``store_entitlements.py``); ``--tokens`` (50) hub users
``bench-u00..`` in ``traders`` (``users.add``, what ``mi hub user add ... --group traders`` runs), one
``mi hub token`` each. Every request goes to the hub's public URL (proxy -> API -> store, as the caller).

Load: locust 2.47 (FastHttpUser) in a subprocess of this script (``--locust CONFIG``; gevent's
monkey-patching stays out of the process that drives the faults), users cycling over the tokens (a locust
user keeps one token; 200 users on 50 tokens is 4 per hub user), each waiting ``--think`` (1-3 s) between
requests. The mix (weights): a day of one location's 5-minute ticks (35), a week of one location hourly
(25), the latest prices of a market's 200 locations (20), the forward curve (15), an export of one day of
one location as CSV (5: ``POST /exports``, the job runs in the API's 2 export workers). Timeout 30 s.

Stages, scaled in time to fit one run (the issue's ramp / sustained / spike, minutes shortened to seconds):

=========  ========  ==========================================================================
stage      seconds   users
=========  ========  ==========================================================================
ramp       0-65      50 at once, then 50 -> 200 linearly over 60 s
sustained  65-185    200 (the SLO's load: p95 < 250 ms, errors < 1 %; aim p95 <= 100 ms)
spike      185-225   200 -> 500 in 10 s (30 users/s), 500 for 30 s
after      225-255   back to 200 (does it recover)
=========  ========  ==========================================================================

Each request is recorded (start, route, latency, status, Retry-After, exception); per stage: p50/p95/p99 of
all answers and of the 2xx ones, requests/s, error % (no answer, timeouts, 5xx, unexpected 4xx), 429s.

Fault runs (``--users-fault`` (100) users, the same mix):

a. **store restart**: ``mi store stop`` then ``mi store start`` mid-load: 503s with Retry-After, other
   errors, the longest request, time from the store back to the API answering 2xx again.
b. **hub restart**, two ways: (1) only the JupyterHub process is killed (SIGKILL; the proxy and the API
   keep running) for ``--hub-outage`` s, then ``mi hub down``/``mi hub up``: what the API answers while
   the Hub is gone (identities are cached ``MI_API_AUTH_CACHE_S``, 60 s); (2) ``mi hub down``/``mi hub up``
   (the whole process group: proxy, API, dashboards) mid-load.
c. **slow WebSocket client**: ``--ws-clients`` (8) normal clients each subscribed to 2 locations of
   MARKET_0, rows inserted every ``--ws-period`` s (the next 5-minute interval of all 200 MARKET_0
   locations), HTTP load of ``--ws-http-users`` (50) locust users throughout; row-to-client latency (client
   receipt minus the wall clock just before the insert) without, then with, one client subscribed to the
   whole market that never reads (4 KiB receive buffer). Target p95 <= 1 s.

Plots: matplotlib is not a dependency of the project; the figures are drawn with Bokeh (a dependency) and
photographed with headless Chromium (Debian's, through Playwright, as ``hub.py`` uses it) into
``benchmarks/results/api_load_*.png``. Results: ``benchmarks/results/api_load.json`` (``--quick``:
``api_load_quick.json``, 1M rows and stages a quarter as long).

Run: ``.venv/bin/python benchmarks/api_load.py`` (about 14 min: 4 to set up, 4.5 load, 5 faults).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchcommon import RESULTS_DIR, WORK_DIR, CpuWatch, log, machine_info, write_results
from hub import Platform
from store_queries import INSERT_CHUNK, START_MS, STEP_MS

GOALS = {"p95_ms_200_users": 250.0, "p95_ms_aim": 100.0, "error_pct": 1.0, "ws_row_to_client_p95_ms": 1000.0}
MARKETS = [f"MARKET_{i}" for i in range(5)]
CURVE = "BENCH_DE_BASE_daily"
#: the mix: task -> weight
MIX = {"ticks_day_raw": 35, "ticks_week_hourly": 25, "latest_market": 20, "curve_forward": 15, "export": 5}
PREFIX = "/services/api/v1"
#: (name, start [s], end [s]) of the main run; users per second in :func:`main_stages`
STAGES = [("ramp", 0, 65), ("sustained", 65, 185), ("spike", 185, 225), ("after", 225, 255)]

# the platform's prices, made by store_queries' generator (the SELECT of INSERT_CHUNK)
_GENERATOR = INSERT_CHUNK.strip().split("\n", 1)[1]
INSERT_PRICES = (
    "INSERT INTO prices (interval_start_utc, interval_end_utc, market, location, location_type, price, "
    "currency, unit, source, published_at_utc)\n"
    "SELECT interval_start_utc, interval_start_utc + toIntervalMinute(5), market, location, 'node', price, "
    "'USD', 'USD/MWh', 'bench', published_at_utc\nFROM (" + _GENERATOR + ")"
)
CURVE_QUOTES = """name,start,end,price
M-2026-01,,,92.4
M-2026-02,,,88.1
M-2026-03,,,79.6
Q-2026-Q2,,,66.2
Q-2026-Q3,,,71.8
Q-2026-Q4,,,84.9
Cal-2027,,,78.3
"""


# ------------------------------------------------------------------------------------------------------------
# the platform
# ------------------------------------------------------------------------------------------------------------
class ApiPlatform(Platform):
    """``mi demo --no-pipeline`` plus the benchmark data, entitlements, users and tokens."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.tokens: list[str] = []
        self.spare_token = ""

    def save(self) -> None:
        """Keep what a later ``--attach`` needs."""
        state = {"env": self.env, "url": self.url, "tokens": self.tokens, "spare": self.spare_token}
        (self.root / "platform.json").write_text(json.dumps(state))

    @classmethod
    def attach(cls, root: Path) -> ApiPlatform:
        """A platform a previous ``--keep`` run left running in ``root``."""
        state = json.loads((root / "platform.json").read_text())
        p = cls(root)
        p.env, p.url, p.tokens, p.spare_token = state["env"], state["url"], state["tokens"], state["spare"]
        return p

    def python(self, code: str, timeout: float = 600) -> str:
        """Run ``code`` in a Python of the platform's environment; return its standard output."""
        done = subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"helper failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def load(self, rows: int, locations: int) -> dict[str, Any]:
        """The benchmark prices, compacted and rolled up; the curve."""
        from marketintel.store.rollup import refresh_prices_hourly

        admin = self.admin()
        t0 = time.perf_counter()
        chunk = 2_000_000 // locations * locations
        for first in range(0, rows, chunk):
            count = min(chunk, rows - first)
            sql = INSERT_PRICES.format(start_ms=START_MS, step_ms=STEP_MS, locations=locations, markets=5,
                                       first=first, count=count)  # fmt: skip
            admin.command(sql, settings={"max_execution_time": 3600})
            log(f"load: {first + count:,} of {rows:,} rows")
        loaded = time.perf_counter() - t0
        admin.command("OPTIMIZE TABLE prices FINAL", settings={"max_execution_time": 3600})
        optimized = time.perf_counter() - t0
        report = refresh_prices_hourly(admin, full=True)
        log(f"load {loaded:.0f} s, optimize {optimized - loaded:.0f} s; {report.summary()}")
        stored = int(admin.command("SELECT count() FROM prices WHERE market LIKE 'MARKET_%'"))
        quotes = self.root / "bench_quotes.csv"
        quotes.write_text(CURVE_QUOTES)
        from marketintel.services.curves import build_and_store_curve

        curve = build_and_store_curve(quotes=quotes, calendar="EEX_DE", granularity="daily", curve_name=CURVE,
                                      client=admin)  # fmt: skip
        return {
            "rows": stored, "load_s": round(loaded, 1), "optimize_s": round(optimized - loaded, 1),
            "rollup": report.summary(), "curve": CURVE,
            "curve_points": curve.stored.rows if curve.stored else 0,
        }  # fmt: skip

    def entitle(self, n_tokens: int) -> dict[str, Any]:
        """Traders see the benchmark markets by a market rule; ``n_tokens`` traders, one token each."""
        from marketintel.access import rules

        admin = self.admin()
        revoked = []
        for rule in rules.rules_in_force(admin, ["traders"]):
            if rule.table == "prices" and not rule.restrictions():
                note = "api_load: a market rule instead"
                self.mi("access", "revoke", "traders", rule.rule_id, "--note", note)
                revoked.append(rule.rule_id)
        self.mi("access", "grant", "traders", "prices", "--market", "MARKET_*", "--export",
                "--note", "api_load benchmark")  # fmt: skip
        code = (
            "import json, secrets\nfrom marketintel.hub import users\nout = []\n"
            f"for i in range({n_tokens + 1}):\n"
            "    name = f'bench-u{i:02d}'\n"
            "    users.add(name, secrets.token_urlsafe(12), ['traders'])\n"
            "    out.append(users.create_token(name, note='api_load', expires_in_s=86400))\n"
            "print(json.dumps(out))\n"
        )
        tokens = json.loads(self.python(code).strip().splitlines()[-1])
        self.tokens, self.spare_token = tokens[:-1], tokens[-1]
        shown = self.mi("access", "show", "--user", "bench-u00").stdout
        return {"revoked_default_rules": revoked, "traders_rules": shown.strip().splitlines(),
                "users": n_tokens}  # fmt: skip

    def pids(self) -> dict[str, int]:
        """The platform's processes that serve the API: the store, the hub, the proxy, the API."""
        store = json.loads((self.root / "mi-data" / "store" / "mi-endpoint.json").read_text())
        out = {"store": int(store["pid"]), "hub": self.hub_pid()}
        children = hub_children(out["hub"])
        out.update({k: v for k, v in (("proxy", children.get("configurable-http-proxy")),
                                      ("api", children.get("api.serve"))) if v})  # fmt: skip
        return out

    def hub_pid(self) -> int:
        """The JupyterHub process of the platform."""
        state = json.loads((self.root / "mi-data" / "hub" / "hub.json").read_text())
        return int(state["pid"])


# ------------------------------------------------------------------------------------------------------------
# locust, in its own process (gevent patches everything it imports)
# ------------------------------------------------------------------------------------------------------------
def locust_main(config_path: Path) -> int:
    """Run one locust load from a JSON config; write every request to ``config['out']`` (CSV)."""
    import gevent
    from locust import FastHttpUser, LoadTestShape, between, task
    from locust.env import Environment
    from locust.runners import STATE_STOPPED

    cfg = json.loads(config_path.read_text())
    tokens: list[str] = cfg["tokens"]
    days = float(cfg["days"])
    first = START_MS / 1000
    records: list[tuple[float, str, float, int, int, str, str]] = []
    serial = iter(range(1_000_000))
    begun = time.time()

    def stamp(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    class ApiUser(FastHttpUser):
        host = cfg["host"]
        wait_time = between(*cfg["think_s"])
        network_timeout = float(cfg["timeout_s"])
        connection_timeout = float(cfg["timeout_s"])

        def on_start(self) -> None:
            n = next(serial)
            self.rng = random.Random(n)
            token = tokens[n % len(tokens)]
            self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if time.time() - begun < 2:  # the users started at once do not all ask in the same second
                gevent.sleep(self.rng.uniform(0, cfg["think_s"][1]))

        def _location(self) -> tuple[str, str]:
            i = self.rng.randrange(int(cfg["locations"]))
            return f"MARKET_{i % 5}", f"NODE_{i:04d}"

        def _get(self, name: str, path: str, params: dict[str, Any]) -> None:
            with self.client.get(PREFIX + path, params=params, headers=self.headers, name=name,
                                 catch_response=True) as r:  # fmt: skip
                if r.status_code == 200:
                    r.success()

        @task(MIX["ticks_day_raw"])
        def ticks_day_raw(self) -> None:
            market, location = self._location()
            day = first + 86400 * self.rng.randrange(max(1, int(days) - 1))
            self._get("ticks_day_raw", "/prices/ticks", {"market": market, "location": location,
                      "start": stamp(day), "end": stamp(day + 86400), "resolution": "raw"})  # fmt: skip

        @task(MIX["ticks_week_hourly"])
        def ticks_week_hourly(self) -> None:
            market, location = self._location()
            day = first + 86400 * self.rng.randrange(max(1, int(days) - 7))
            week = {"market": market, "location": location, "start": stamp(day),
                    "end": stamp(day + 7 * 86400), "resolution": "hourly"}  # fmt: skip
            self._get("ticks_week_hourly", "/prices/ticks", week)

        @task(MIX["latest_market"])
        def latest_market(self) -> None:
            self._get("latest_market", "/prices/latest", {"market": self.rng.choice(MARKETS)})

        @task(MIX["curve_forward"])
        def curve_forward(self) -> None:
            self._get("curve_forward", "/curves/forward", {"product": CURVE})

        @task(MIX["export"])
        def export(self) -> None:
            market, location = self._location()
            day = first + 86400 * self.rng.randrange(max(1, int(days) - 1))
            body = {"dataset": "prices", "start": stamp(day), "end": stamp(day + 86400), "markets": [market],
                    "locations": [location], "format": "csv"}  # fmt: skip
            with self.client.post(PREFIX + "/exports", json=body, headers=self.headers, name="export",
                                  catch_response=True) as r:  # fmt: skip
                if r.status_code == 202:
                    r.success()

    class Shape(LoadTestShape):
        def tick(self) -> tuple[int, float] | None:
            t = self.get_run_time()
            for end, users, rate in cfg["ticks"]:
                if t < end:
                    return int(users), float(rate)
            return None

    env = Environment(user_classes=[ApiUser], shape_class=Shape(), host=cfg["host"])

    def on_request(name: str, response_time: float, response: Any = None, exception: Any = None,
                   start_time: float = 0.0, **_kw: Any) -> None:  # fmt: skip
        status = int(getattr(response, "status_code", 0) or 0)
        retry = 0
        if response is not None and status in (429, 503):
            headers = getattr(response, "headers", None) or {}
            retry = 1 if headers.get("Retry-After") or headers.get("retry-after") else 0
        error = type(exception).__name__ if exception is not None and status in (0, None) else ""
        title = ""
        if response is not None and status not in (0, 200, 202):
            text = str(getattr(response, "text", "") or "")
            try:
                title = str(json.loads(text).get("title", ""))
            except (ValueError, AttributeError):
                found = re.search(r"<title>(.*?)</title>", text, re.S)
                title = ("html: " + found.group(1).strip()) if found else text[:60]
        records.append((start_time, name, response_time, status, retry, error, title))

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    Path(cfg["out"] + ".started").write_text(str(time.time()))
    runner.start_shape()
    gevent.sleep(1)
    while runner.state != STATE_STOPPED:
        gevent.sleep(0.5)
    runner.quit()
    with open(cfg["out"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "name", "ms", "status", "retry_after", "error", "title"])
        w.writerows(records)
    stats = env.stats.total
    summary = {"requests": stats.num_requests, "failures": stats.num_failures,
               "p50": stats.get_response_time_percentile(0.5),
               "p95": stats.get_response_time_percentile(0.95)}  # fmt: skip
    Path(cfg["out"] + ".locust.json").write_text(json.dumps(summary))
    return 0


#: the locust process: gevent patches the standard library before anything imports ssl or socket
_LOCUST_BOOT = (
    "from gevent import monkey; monkey.patch_all()\n"
    "import runpy, sys\n"
    "sys.argv = [sys.argv[1], '--locust', sys.argv[2]]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


class Load:
    """A locust subprocess running ``ticks`` ([(end_s, users, spawn_rate)]) against the platform."""

    def __init__(self, platform: ApiPlatform, name: str, ticks: list[tuple[float, int, float]],
                 args: argparse.Namespace) -> None:  # fmt: skip
        self.out = platform.root / f"locust-{name}.csv"
        cfg = {
            "host": platform.url, "tokens": platform.tokens, "ticks": ticks, "think_s": args.think,
            "timeout_s": args.timeout, "locations": args.locations, "days": args.rows / args.locations / 288,
            "out": str(self.out),
        }  # fmt: skip
        path = platform.root / f"locust-{name}.json"
        path.write_text(json.dumps(cfg))
        for p in (self.out, Path(str(self.out) + ".started")):
            p.unlink(missing_ok=True)
        logf = open(platform.root / f"locust-{name}.log", "w")  # noqa: SIM115  (closed in wait)
        self._log = logf
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LOCUST_BOOT, __file__, str(path)], stdout=logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        started = Path(str(self.out) + ".started")
        deadline = time.monotonic() + 60
        while not started.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"locust did not start: see {logf.name}")
            time.sleep(0.1)
        self.t0 = float(started.read_text())

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        """Wait for the load to end; return its requests (``t`` relative to its start)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
            raise
        finally:
            self._log.close()
        if self.proc.returncode != 0 or not self.out.exists():
            raise RuntimeError(f"locust exited {self.proc.returncode}; see {self._log.name}")
        with open(self.out) as fh:
            rows = list(csv.DictReader(fh))
        return [
            {"t": float(r["t"]) - self.t0, "name": r["name"], "ms": float(r["ms"]),
             "status": int(r["status"]), "retry_after": r["retry_after"] == "1",
             "error": r["error"], "title": r["title"]}
            for r in rows
        ]  # fmt: skip


def main_ticks(scale: float) -> list[tuple[float, int, float]]:
    """The main run's shape, one tick per second: ramp 50 -> 200, 200, spike to 500, back to 200."""
    out: list[tuple[float, int, float]] = []
    s = scale
    end = STAGES[-1][2] * s
    t = 1.0
    while t <= end + 1e-9:
        if t <= 5 * s:
            users, rate = 50, 50.0
        elif t <= 65 * s:
            users, rate = int(50 + 150 * (t - 5 * s) / (60 * s)), 100.0
        elif t <= 185 * s:
            users, rate = 200, 100.0
        elif t <= 225 * s:
            users, rate = 500, 30.0 / s
        else:
            users, rate = 200, 100.0
        out.append((t, users, rate))
        t += 1.0
    return out


def flat_ticks(users: int, seconds: float) -> list[tuple[float, int, float]]:
    """``users`` users (started at 50/s) for ``seconds``."""
    return [(seconds, users, 50.0)]


# ------------------------------------------------------------------------------------------------------------
# figures from the request records
# ------------------------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1), linear interpolation; None for no values."""
    s = sorted(values)
    if not s:
        return None
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 1)


def outcome(r: dict[str, Any]) -> str:
    """ok (2xx), 429, 503 (with Retry-After or not), 5xx, 4xx, none (no answer: refused, timed out)."""
    st = r["status"]
    if 200 <= st < 300:
        return "ok"
    if st == 429:
        return "429"
    if st == 503:
        return "503" if r["retry_after"] else "503_no_retry_after"
    if st >= 500:
        return "5xx"
    if st >= 400:
        return "4xx"
    return "none"


def summarise(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Counts by outcome, error %, requests/s and latency quantiles of ``rows``."""
    counts: dict[str, int] = {}
    why: dict[str, int] = {}
    for r in rows:
        k = outcome(r)
        counts[k] = counts.get(k, 0) + 1
        if k != "ok":
            what = f"{r['status']} {r['title'] or r['error']}".strip()
            why[what] = why.get(what, 0) + 1
    n = len(rows)
    errors = n - counts.get("ok", 0) - counts.get("429", 0)
    every = [r["ms"] for r in rows]
    ok = [r["ms"] for r in rows if outcome(r) == "ok"]
    return {
        "requests": n, "rps": round(n / seconds, 1) if seconds else None, "outcomes": counts,
        "errors": errors, "error_pct": round(100 * errors / n, 3) if n else None,
        "n429": counts.get("429", 0), "pct429": round(100 * counts.get("429", 0) / n, 2) if n else None,
        "timeouts_or_no_answer": counts.get("none", 0), "not_ok": why,
        "all_ms": {"p50": pct(every, 0.5), "p95": pct(every, 0.95), "p99": pct(every, 0.99),
                   "max": round(max(every), 1) if every else None},
        "ok_ms": {"p50": pct(ok, 0.5), "p95": pct(ok, 0.95), "p99": pct(ok, 0.99)},
    }  # fmt: skip


def per_route(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """:func:`summarise` per route."""
    return {name: summarise([r for r in rows if r["name"] == name], seconds) for name in MIX}


def timeline(rows: list[dict[str, Any]], bucket: float = 1.0) -> list[dict[str, Any]]:
    """Per ``bucket`` seconds (by request start): counts by outcome, p50/p95 of answers, max latency."""
    if not rows:
        return []
    end = int(max(r["t"] for r in rows) / bucket) + 1
    out = []
    for b in range(end):
        sel = [r for r in rows if b * bucket <= r["t"] < (b + 1) * bucket]
        counts: dict[str, int] = {}
        for r in sel:
            counts[outcome(r)] = counts.get(outcome(r), 0) + 1
        ms = [r["ms"] for r in sel]
        out.append({"t": b * bucket, "n": len(sel), **counts, "p50": pct(ms, 0.5), "p95": pct(ms, 0.95),
                    "max": round(max(ms), 1) if ms else None})  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------------------------
# the runs
# ------------------------------------------------------------------------------------------------------------
def main_run(platform: ApiPlatform, args: argparse.Namespace) -> dict[str, Any]:
    """Ramp, sustained, spike, after."""
    ticks = main_ticks(args.scale)
    load = Load(platform, "main", ticks, args)
    watch = CpuWatch(platform.pids())  # locust's own CPU is in others_cpu_s
    rows = load.wait(STAGES[-1][2] * args.scale + 120)
    cpu = watch.stop()
    stages = {}
    for name, begin, end in STAGES:
        a, b = begin * args.scale, end * args.scale
        sel = [r for r in rows if a <= r["t"] < b]
        stages[name] = {"from_s": a, "to_s": b, **summarise(sel, b - a), "routes": per_route(sel, b - a)}
        s = stages[name]
        log(f"{name:>9}: {s['requests']} requests, {s['rps']}/s, ok p50/p95/p99 {s['ok_ms']['p50']}/"
            f"{s['ok_ms']['p95']}/{s['ok_ms']['p99']} ms, errors {s['error_pct']} %, 429s {s['n429']}, "
            f"{s['outcomes']}")  # fmt: skip
    return {"ticks": ticks, "stages": stages, "timeline": timeline(rows), "machine_cpu": cpu}


def wait_ok(url: str, token: str, timeout: float) -> float | None:
    """Seconds until the API answers ``/me`` with 200 (polling every 0.2 s), None if not in ``timeout``."""
    import httpx

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            r = httpx.get(url + PREFIX + "/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            if r.status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return None


def recovery(rows: list[dict[str, Any]], back_at: float) -> float | None:
    """Seconds from ``back_at`` to the start of the last request that was not answered 2xx or 429."""
    bad = [r["t"] for r in rows if outcome(r) not in ("ok", "429")]
    if not bad:
        return 0.0
    return round(max(0.0, max(bad) - back_at), 2)


def fault_window(rows: list[dict[str, Any]], a: float, b: float) -> dict[str, Any]:
    sel = [r for r in rows if a <= r["t"] < b]
    return {"from_s": round(a, 2), "to_s": round(b, 2), **summarise(sel, b - a)}


def store_fault(platform: ApiPlatform, args: argparse.Namespace) -> dict[str, Any]:
    """``mi store stop`` / ``mi store start`` mid-load."""
    duration = args.fault_seconds
    load = Load(platform, "fault-store", flat_ticks(args.users_fault, duration), args)
    events: dict[str, float] = {}

    def now() -> float:
        return round(time.time() - load.t0, 2)

    time.sleep(max(0.0, load.t0 + duration * 0.3 - time.time()))
    events["stop_called"] = now()
    platform.mi("store", "stop")
    events["stopped"] = now()
    time.sleep(args.store_down)
    events["start_called"] = now()
    platform.mi("store", "start")
    events["started"] = now()
    rows = load.wait(duration + 120)
    out = {
        "events_s": events, "users": args.users_fault, "seconds": duration,
        "before": fault_window(rows, 0, events["stop_called"]),
        "outage": fault_window(rows, events["stop_called"], events["started"]),
        "after": fault_window(rows, events["started"], duration),
        "recovered_s_after_store_back": recovery(rows, events["started"]),
        "max_latency_ms": round(max(r["ms"] for r in rows), 1) if rows else None,
        "timeline": timeline(rows, 0.5),
    }  # fmt: skip
    o = out["outage"]
    log(
        f"store fault: outage {events['started'] - events['stop_called']:.1f} s: {o['outcomes']}; recovered "
        f"{out['recovered_s_after_store_back']} s after the store was back; max {out['max_latency_ms']} ms"
    )
    return out


def hub_kill_fault(platform: ApiPlatform, args: argparse.Namespace) -> dict[str, Any]:
    """SIGKILL the JupyterHub process alone (proxy and API live on), then ``mi hub down`` / ``mi hub up``."""
    duration = args.hub_outage + 45
    load = Load(platform, "fault-hub-kill", flat_ticks(args.users_fault, duration), args)
    events: dict[str, float] = {}

    def now() -> float:
        return round(time.time() - load.t0, 2)

    time.sleep(max(0.0, load.t0 + 15 - time.time()))
    pid = platform.hub_pid()
    children = hub_children(pid)
    events["hub_killed"] = now()
    os.kill(pid, signal.SIGKILL)
    # a token the API has not seen since the kill: it cannot be checked
    time.sleep(2)
    probe = fresh_token_probe(platform)
    events["spare_token_probe"] = now()
    time.sleep(max(0.0, load.t0 + 15 + args.hub_outage - time.time()))
    events["down_called"] = now()
    platform.mi("hub", "down")
    time.sleep(1.0)
    # JupyterHub starts its services in sessions of their own and stops them on its way out; killed, it
    # cannot: which of its children outlive `mi hub down`? (they would keep their ports from the next hub)
    survivors = {name: p for name, p in children.items() if alive(p)}
    for p in survivors.values():
        os.kill(p, signal.SIGTERM)
    for p in survivors.values():
        deadline = time.monotonic() + 15
        while alive(p) and time.monotonic() < deadline:
            time.sleep(0.1)
    events["up_called"] = now()
    platform.mi("hub", "up")
    events["up"] = now()
    rows = load.wait(duration + 180)
    kill = events["hub_killed"]
    buckets = timeline([r for r in rows if r["t"] >= kill], 5.0)
    first_503 = min((r["t"] for r in rows if r["t"] >= kill and outcome(r) == "503"), default=None)
    last_ok = max((r["t"] for r in rows if kill <= r["t"] < events["down_called"] and outcome(r) == "ok"),
                  default=None)  # fmt: skip
    out = {
        "events_s": events, "users": args.users_fault, "seconds": duration,
        "before": fault_window(rows, 0, kill),
        "hub_dead_api_alive": fault_window(rows, kill, events["down_called"]),
        "first_503_s_after_kill": None if first_503 is None else round(first_503 - kill, 2),
        "last_ok_s_after_kill": None if last_ok is None else round(last_ok - kill, 2),
        "unseen_token_while_hub_dead": probe,
        "hub_children": list(children), "outlived_mi_hub_down": sorted(survivors),
        "down_up": fault_window(rows, events["down_called"], events["up"]),
        "after": fault_window(rows, events["up"], duration),
        "recovered_s_after_up": recovery(rows, events["up"]),
        "max_latency_ms": round(max(r["ms"] for r in rows), 1) if rows else None,
        "timeline": timeline(rows, 0.5), "after_kill_5s": buckets,
    }  # fmt: skip
    h = out["hub_dead_api_alive"]
    log(
        f"hub killed: {h['outcomes']}; last 2xx {out['last_ok_s_after_kill']} s and first 503 "
        f"{out['first_503_s_after_kill']} s after the kill; an unseen token: {probe}"
    )
    return out


def hub_children(pid: int) -> dict[str, int]:
    """The hub's child processes by what they are (proxy, api, dashboards, ...)."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            args = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            name = next((k for k in ("configurable-http-proxy", "api.serve", "dashboards.serve", "culler")
                         if k in args), args[:40])  # fmt: skip
            out[name] = int(child)
    return out


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (and is no zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def fresh_token_probe(platform: ApiPlatform) -> dict[str, Any]:
    """What the API answers a valid token it has not identified before (the spare user's)."""
    import httpx

    t0 = time.perf_counter()
    try:
        auth = {"Authorization": f"Bearer {platform.spare_token}"}
        r = httpx.get(platform.url + PREFIX + "/me", headers=auth, timeout=30)
        body = r.json() if r.headers.get("content-type", "").endswith("json") else r.text[:200]
        return {"status": r.status_code, "retry_after": r.headers.get("retry-after"),
                "title": body.get("title") if isinstance(body, dict) else body,
                "ms": round((time.perf_counter() - t0) * 1000, 1)}  # fmt: skip
    except httpx.HTTPError as exc:
        return {"status": 0, "error": type(exc).__name__, "ms": round((time.perf_counter() - t0) * 1000, 1)}


def hub_restart_fault(platform: ApiPlatform, args: argparse.Namespace) -> dict[str, Any]:
    """``mi hub down`` / ``mi hub up`` mid-load (the proxy and the API go down with the hub)."""
    duration = args.fault_seconds
    load = Load(platform, "fault-hub-restart", flat_ticks(args.users_fault, duration), args)
    events: dict[str, float] = {}

    def now() -> float:
        return round(time.time() - load.t0, 2)

    time.sleep(max(0.0, load.t0 + duration * 0.3 - time.time()))
    events["down_called"] = now()
    platform.mi("hub", "down")
    events["down"] = now()
    events["up_called"] = now()
    platform.mi("hub", "up")
    events["up"] = now()
    rows = load.wait(duration + 180)
    out = {
        "events_s": events, "users": args.users_fault, "seconds": duration,
        "before": fault_window(rows, 0, events["down_called"]),
        "outage": fault_window(rows, events["down_called"], events["up"]),
        "after": fault_window(rows, events["up"], duration),
        "recovered_s_after_up": recovery(rows, events["up"]),
        "max_latency_ms": round(max(r["ms"] for r in rows), 1) if rows else None,
        "timeline": timeline(rows, 0.5),
    }  # fmt: skip
    log(
        f"hub down/up: outage {events['up'] - events['down_called']:.1f} s: {out['outage']['outcomes']}; "
        f"recovered {out['recovered_s_after_up']} s after up; max {out['max_latency_ms']} ms"
    )
    return out


# ------------------------------------------------------------------------------------------------------------
# the slow WebSocket client
# ------------------------------------------------------------------------------------------------------------
class WsClient(threading.Thread):
    """A reading client: records when each (location, interval) arrives."""

    def __init__(self, url: str, token: str, locations: list[str] | None) -> None:
        super().__init__(daemon=True)
        import websocket

        query = "market=MARKET_0" + "".join(f"&location={loc}" for loc in locations or [])
        self.ws = websocket.create_connection(
            f"{url.replace('http', 'ws', 1)}{PREFIX}/stream/prices?{query}",
            header=[f"Authorization: Bearer {token}"], timeout=10,
        )  # fmt: skip
        hello = json.loads(self.ws.recv())
        if hello.get("type") != "subscribed":
            raise RuntimeError(f"the stream refused: {hello}")
        self.arrivals: dict[tuple[str, str], float] = {}
        self.lagged = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import websocket

        self.ws.settimeout(0.5)
        while not self.stop.is_set():
            try:
                text = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            now = time.time()
            msg = json.loads(text)
            if msg.get("type") == "rows":
                for row in msg["data"]:
                    self.arrivals.setdefault((row["location"], row["interval_start_utc"][:19]), now)
            elif msg.get("type") == "lagged":
                self.lagged += int(msg.get("dropped_rows", 0))

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        self.ws.close()


def slow_client(url: str, token: str) -> Any:
    """A client of the whole MARKET_0 that never reads (4 KiB receive buffer)."""
    import websocket

    ws = websocket.create_connection(
        f"{url.replace('http', 'ws', 1)}{PREFIX}/stream/prices?market=MARKET_0",
        header=[f"Authorization: Bearer {token}"], timeout=10,
        sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),),
    )  # fmt: skip
    return ws


def ws_phase(platform: ApiPlatform, args: argparse.Namespace, next_interval: Callable[[], Any],
             slow: bool) -> dict[str, Any]:  # fmt: skip
    """Normal clients (and the slow one) while rows are inserted every ``--ws-period`` s."""
    import pandas as pd

    from marketintel.store import insert_df

    admin = platform.admin()
    rng = random.Random(7)
    picks = rng.sample(range(0, args.locations, 5), 2 * args.ws_clients)  # MARKET_0 is i % 5 == 0
    clients = []
    for i in range(args.ws_clients):
        locs = [f"NODE_{picks[2 * i]:04d}", f"NODE_{picks[2 * i + 1]:04d}"]
        c = WsClient(platform.url, platform.tokens[i % len(platform.tokens)], locs)
        c.start()
        clients.append((c, set(locs)))
    stalled = slow_client(platform.url, platform.tokens[-1]) if slow else None
    time.sleep(1.0)
    locations = [f"NODE_{i:04d}" for i in range(0, args.locations, 5)]
    inserted: dict[tuple[str, str], float] = {}
    insert_ms = []
    t_end = time.monotonic() + args.ws_seconds
    while time.monotonic() < t_end:
        starts = [next_interval() for _ in range(args.ws_intervals)]
        frame = pd.DataFrame({
            "interval_start_utc": [s for s in starts for _ in locations],
            "market": "MARKET_0", "location": locations * len(starts), "location_type": "node",
            "price": [50.0 + rng.random() for _ in range(len(starts) * len(locations))], "currency": "USD",
            "unit": "USD/MWh", "source": "bench", "published_at_utc": pd.Timestamp.now(tz="UTC").floor("ms"),
        })  # fmt: skip
        frame["interval_end_utc"] = frame["interval_start_utc"] + pd.Timedelta(minutes=5)
        t0 = time.time()
        insert_df(admin, "prices", frame)
        insert_ms.append((time.time() - t0) * 1000)
        for start in starts:
            key = start.strftime("%Y-%m-%dT%H:%M:%S")
            for loc in locations:
                inserted[(loc, key)] = t0
        time.sleep(max(0.0, args.ws_period - (time.time() - t0)))
    time.sleep(3.0)  # the last rows arrive
    latencies: list[float] = []
    missing = 0
    for c, locs in clients:
        for (loc, key), t0 in inserted.items():
            if loc in locs:
                got = c.arrivals.get((loc, key))
                if got is None:
                    missing += 1
                else:
                    latencies.append((got - t0) * 1000)
    lagged = sum(c.lagged for c, _ in clients)
    for c, _ in clients:
        c.close()
    slow_report: dict[str, Any] | None = None
    if stalled is not None:
        # now read what the server kept for the slow client: a bounded queue, the rest reported as lagged
        import websocket

        stalled.settimeout(2.0)
        got_rows, dropped, messages = 0, 0, 0
        closed_by = ""
        t_read = time.monotonic()
        while time.monotonic() - t_read < 10:
            try:
                text = stalled.recv()
            except (websocket.WebSocketException, OSError) as exc:
                closed_by = f"{type(exc).__name__}: {exc}"
                break
            if not text:  # the server closed the connection
                closed_by = f"server close, status {getattr(stalled, 'status', None)}"
                break
            msg = json.loads(text)
            messages += 1
            if msg.get("type") == "rows":
                got_rows += len(msg["data"])
            elif msg.get("type") == "lagged":
                dropped += int(msg.get("dropped_rows", 0))
        stalled.close()
        slow_report = {"rows_offered": len(inserted), "messages_read_after": messages,
                       "rows_read_after": got_rows, "dropped_rows_reported": dropped,
                       "connection_ended": closed_by}  # fmt: skip
    return {
        "slow_client": slow, "clients": args.ws_clients, "inserts": len(insert_ms),
        "rows_per_insert": len(locations) * args.ws_intervals, "period_s": args.ws_period,
        "row_to_client_ms": {"n": len(latencies), "missing": missing, "p50": pct(latencies, 0.5),
                             "p95": pct(latencies, 0.95), "p99": pct(latencies, 0.99),
                             "max": round(max(latencies), 1) if latencies else None},
        "normal_clients_lagged_rows": lagged,
        "insert_ms_p50": pct(insert_ms, 0.5), "slow": slow_report,
        "latencies_ms": [round(v, 1) for v in latencies],
    }  # fmt: skip


def ws_fault(platform: ApiPlatform, args: argparse.Namespace) -> dict[str, Any]:
    """Without, then with, the slow client, under HTTP load."""
    import pandas as pd

    last = pd.Timestamp(int(START_MS + STEP_MS * (args.rows // args.locations - 1)), unit="ms", tz="UTC")
    state = {"next": last}

    def next_interval() -> pd.Timestamp:
        state["next"] = state["next"] + pd.Timedelta(minutes=5)
        return state["next"]

    total = 2 * args.ws_seconds + 40
    load = Load(platform, "ws-http", flat_ticks(args.ws_http_users, total), args)
    time.sleep(max(0.0, load.t0 + 8 - time.time()))
    phases = {}
    for slow in (False, True):
        phase = ws_phase(platform, args, next_interval, slow)
        key = "with_slow_client" if slow else "without_slow_client"
        phases[key] = phase
        r = phase["row_to_client_ms"]
        log(f"ws {key}: row to client p50/p95/max {r['p50']}/{r['p95']}/{r['max']} ms (n {r['n']}, missing "
            f"{r['missing']}); slow client: {phase['slow']}")  # fmt: skip
    rows = load.wait(total + 120)
    phases["http_under_ws"] = summarise(rows, total)
    return phases


# ------------------------------------------------------------------------------------------------------------
# plots: Bokeh figures photographed by headless Chromium
# ------------------------------------------------------------------------------------------------------------
COLORS = {"ok": "#4c9a2a", "429": "#e0a800", "503": "#1f77b4", "503_no_retry_after": "#9467bd",
          "5xx": "#d62728", "4xx": "#8c564b", "none": "#111111"}  # fmt: skip


def outcome_figure(
    title: str,
    tl: list[dict[str, Any]],
    bucket: float,
    events: dict[str, float],
    users: list[tuple[float, int, float]] | None = None,
    width: int = 1100,
) -> Any:
    """Stacked answers per second by outcome, and p95/max latency on a log axis below."""
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, LinearAxis, Range1d, Span
    from bokeh.plotting import figure

    keys = [k for k in COLORS if any(b.get(k) for b in tl)]
    data: dict[str, list[Any]] = {"t": [b["t"] + bucket / 2 for b in tl]}
    for k in keys:
        data[k] = [b.get(k, 0) / bucket for b in tl]
    top = figure(title=title, width=width, height=300, x_axis_label="s", y_axis_label="answers/s (by start)")
    top.vbar_stack(keys, x="t", width=bucket * 0.95, source=ColumnDataSource(data),
                   color=[COLORS[k] for k in keys], legend_label=keys)  # fmt: skip
    top.legend.location = "top_left"
    if users:
        top.extra_y_ranges = {"users": Range1d(0, max(u for _, u, _ in users) * 1.1)}
        top.add_layout(LinearAxis(y_range_name="users", axis_label="locust users"), "right")
        top.line([t for t, _, _ in users], [u for _, u, _ in users], y_range_name="users", color="black",
                 line_dash="dashed", legend_label="users")  # fmt: skip
    low = figure(width=width, height=230, x_range=top.x_range, y_axis_type="log", x_axis_label="s",
                 y_axis_label="latency [ms]")  # fmt: skip
    pts = [(b["t"] + bucket / 2, b["p95"], b["max"]) for b in tl if b.get("p95")]
    low.line([p[0] for p in pts], [p[1] for p in pts], color="#d62728", legend_label="p95")
    low.scatter([p[0] for p in pts], [p[2] for p in pts], size=3, color="#555555", legend_label="max")
    low.legend.location = "top_left"
    for name, t in events.items():
        for f in (top, low):
            f.add_layout(Span(location=t, dimension="height", line_color="#888888", line_dash="dotted"))
        top.text([t], [0], text=[name], text_font_size="9px", angle=1.5708, text_color="#444444")
    return column(top, low)


def ws_figure(ws: dict[str, Any]) -> Any:
    """Histograms of row-to-client latency without and with the slow client."""
    import numpy as np
    from bokeh.plotting import figure

    f = figure(title="WebSocket: row to client latency of the normal clients", width=900, height=350,
               x_axis_label="ms", y_axis_label="rows")  # fmt: skip
    for key, color in (("without_slow_client", "#1f77b4"), ("with_slow_client", "#d62728")):
        lat = ws[key]["latencies_ms"]
        if not lat:
            continue
        hist, edges = np.histogram(lat, bins=40, range=(0, max(1500.0, *lat)))
        r = ws[key]["row_to_client_ms"]
        f.quad(top=hist, bottom=0, left=edges[:-1], right=edges[1:], fill_alpha=0.45, color=color,
               legend_label=f"{key.replace('_', ' ')}: p50 {r['p50']} / p95 {r['p95']} ms")  # fmt: skip
    f.legend.location = "top_right"
    return f


def render_png(model: Any, path: Path) -> None:
    """Write a Bokeh layout as a PNG through headless Chromium."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE
    from playwright.sync_api import sync_playwright

    from hub import CHROMIUM, CHROMIUM_ARGS

    html = file_html(model, INLINE, title=path.stem)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 600})
            page.set_content(html)
            page.wait_for_function(
                "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle)"
            )
            page.wait_for_timeout(300)
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()
    log(f"figure {path}")


def plots(results: dict[str, Any], suffix: str) -> list[str]:
    """The figures of the results; their paths."""
    from bokeh.layouts import column

    out = []
    if "main" in results and "failed" not in results["main"]:
        m = results["main"]
        events = {name: m["stages"][name]["from_s"] for name in m["stages"]}
        path = RESULTS_DIR / f"api_load{suffix}_main.png"
        render_png(outcome_figure("Main run: answers per second by outcome, users (dashed)", m["timeline"],
                                  1.0, events, m["ticks"]), path)  # fmt: skip
        out.append(str(path))
    faults = []
    titles = {"store_restart": "Store stop/start", "hub_kill": "JupyterHub killed, then hub down/up",
              "hub_restart": "mi hub down / mi hub up"}  # fmt: skip
    for key, title in titles.items():
        if key in results and "failed" not in results[key]:
            f = results[key]
            what = f"{title} under {f['users']} users"
            faults.append(outcome_figure(what, f["timeline"], 0.5, f["events_s"]))
    if faults:
        path = RESULTS_DIR / f"api_load{suffix}_faults.png"
        render_png(column(*faults), path)
        out.append(str(path))
    if "ws" in results and "failed" not in results["ws"]:
        path = RESULTS_DIR / f"api_load{suffix}_ws.png"
        render_png(ws_figure(results["ws"]), path)
        out.append(str(path))
    return out


# ------------------------------------------------------------------------------------------------------------
def report(results: dict[str, Any]) -> None:
    """Print the figures beside the goals."""
    print()
    if "main" in results and "failed" not in results["main"]:
        head = ("stage", "req/s", "p50", "p95", "p99", "err %", "429s")
        print(f"{head[0]:<10} " + " ".join(f"{h:>7}" for h in head[1:]) + "  (2xx ms)")
        for name, s in results["main"]["stages"].items():
            o = s["ok_ms"]
            print(f"{name:<10} {s['rps']:>7} {o['p50']!s:>7} {o['p95']!s:>7} {o['p99']!s:>7} "
                  f"{s['error_pct']!s:>7} {s['n429']:>7}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--locust", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="1M rows, stages a quarter as long, short faults")
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--locations", type=int, default=1000)
    p.add_argument("--tokens", type=int, default=50, help="hub users, one token each [50]")
    p.add_argument("--think", type=float, nargs=2, default=[10.0, 20.0], help="wait between requests [s]")
    p.add_argument("--timeout", type=float, default=30.0, help="locust's network timeout [s]")
    p.add_argument("--scale", type=float, default=1.0, help="stretch the main run's stages by this factor")
    p.add_argument("--users-fault", type=int, default=100)
    p.add_argument("--fault-seconds", type=float, default=50.0)
    p.add_argument("--store-down", type=float, default=5.0, help="seconds between store stop and start")
    p.add_argument("--hub-outage", type=float, default=75.0, help="seconds the Hub stays dead (API alive)")
    p.add_argument("--ws-clients", type=int, default=8)
    p.add_argument("--ws-period", type=float, default=0.25, help="seconds between inserts")
    p.add_argument("--ws-seconds", type=float, default=40.0)
    p.add_argument("--ws-intervals", type=int, default=2, help="5-minute intervals per insert (x 200 rows)")
    p.add_argument("--ws-http-users", type=int, default=50)
    p.add_argument("--only", nargs="+", default=["main", "store", "hub_kill", "hub", "ws"],
                   choices=["main", "store", "hub_kill", "hub", "ws"])  # fmt: skip
    p.add_argument("--keep", action="store_true", help="leave the platform running (for --attach)")
    p.add_argument("--attach", type=Path, help="use the platform a --keep run left in this directory")
    p.add_argument("--plots-only", type=Path, help="draw the figures of a results JSON and stop")
    args = p.parse_args(argv)
    if args.locust:
        return locust_main(args.locust)
    suffix = "_quick" if args.quick else ""
    if args.plots_only:
        plots(json.loads(args.plots_only.read_text()), suffix)
        return 0
    if args.quick:
        args.rows, args.scale, args.fault_seconds, args.hub_outage = 1_000_000, 0.25, 30, 70
        args.ws_seconds = 15
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results: dict[str, Any] = {"benchmark": "api_load", "machine": machine_info(), "parameters": params,
                               "goals": GOALS, "mix": MIX, "stages": STAGES}  # fmt: skip
    if args.attach:
        platform = ApiPlatform.attach(args.attach)
        log(f"attached to {platform.url}")
    else:
        root = WORK_DIR / f"api-{time.strftime('%Y%m%d-%H%M%S')}"
        root.mkdir(parents=True, exist_ok=True)
        platform = ApiPlatform(root)
        log(f"starting the demo platform in {root}")
    try:
        if not args.attach:
            t0 = time.perf_counter()
            platform.start()
            results["demo_start_s"] = round(time.perf_counter() - t0, 1)
            log(f"platform up in {results['demo_start_s']} s at {platform.url}")
            results["data"] = platform.load(args.rows, args.locations)
            results["entitlements"] = platform.entitle(args.tokens)
            platform.save()
            log(f"data {results['data']}; {len(platform.tokens)} tokens")
        runs: list[tuple[str, str, Callable[[ApiPlatform, argparse.Namespace], dict[str, Any]]]] = [
            ("main", "main", main_run), ("store", "store_restart", store_fault),
            ("hub_kill", "hub_kill", hub_kill_fault), ("hub", "hub_restart", hub_restart_fault),
            ("ws", "ws", ws_fault),
        ]  # fmt: skip
        for option, key, run in runs:
            if option in args.only:
                if wait_ok(platform.url, platform.tokens[0], 120) is None:
                    raise RuntimeError("the API does not answer before the run " + key)
                time.sleep(3)
                log(f"run {key}")
                try:
                    results[key] = run(platform, args)
                except Exception as exc:  # keep what the other runs measured
                    log(f"run {key} failed: {exc!r}")
                    results[key] = {"failed": repr(exc)}
                write_results(f"api_load{suffix}", results)
    finally:
        if not args.keep:
            log("mi stop")
            platform.mi("stop")
    out = write_results(f"api_load{suffix}", results)
    results["figures"] = plots(results, suffix)
    write_results(f"api_load{suffix}", results, out)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
