"""The platform health page in the demo platform, through the Hub's login, in headless Chromium.

demo-ops opens it and sees the demo's flow runs as Prefect has them, the store's tables, the hub's users
and latency readings that arrive without a reload; changing the tables plot's measure redraws it; a trader
is refused. ``/metrics`` of the dashboards service (through the proxy with a Hub token of ops, and straight
on loopback) and of the store are scraped in the same platform.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from marketintel.services import health
from tests.hub.browsing import BOKEH_IDLE, WAIT_MS, Screens, admin_client, login, wait_until
from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow

#: JS: what the health page draws, read from its Bokeh models
HEALTH_STATE = """() => {
  const out = {tables: null, listed: null, states: null, runs: null, latency: -1, labels: []};
  out.documents = Bokeh.documents.length;
  for (const m of Bokeh.documents.flatMap(d => Array.from(d.all_models))) {
    if (m.type === 'ColumnDataSource') {
      const keys = Object.keys(m.data);
      if (keys.includes('table') && keys.includes('value')) {
        out.tables = {table: Array.from(m.data.table), value: Array.from(m.data.value)};
      } else if (keys.includes('state') && keys.includes('runs') && !keys.includes('run_id')) {
        out.states = {state: Array.from(m.data.state), runs: Array.from(m.data.runs)};
      } else if (keys.includes('run_id') && keys.includes('duration_s')) {
        out.runs = Array.from(m.data.run_id);
      } else if (keys.includes('active parts') && keys.includes('rows')) {
        out.listed = {database: Array.from(m.data.database), table: Array.from(m.data.table),
                      rows: Array.from(m.data.rows)};
      } else if (keys.includes('p95_ms')) {
        out.latency = m.get_length();
      }
    }
    if (typeof m.axis_label === 'string' && m.axis_label) out.labels.push(m.axis_label);
  }
  return out;
}"""


def _prefect_url(platform: Platform) -> str:
    return f"http://127.0.0.1:{platform.env['MI_PREFECT_PORT']}/api"


def _prices_rows(platform: Platform) -> int:
    rows = (
        admin_client(platform)
        .query(
            "SELECT sum(rows) FROM system.parts WHERE active AND database = 'default' AND table = 'prices'"
        )
        .result_rows
    )
    return int(rows[0][0])


def test_ops_sees_the_demos_flow_runs_and_a_measure_change_redraws(
    platform: Platform, screens: Screens
) -> None:
    prefect = health.prefect_health(_prefect_url(platform))
    assert prefect.status.up, prefect.status.detail
    finished = set(prefect.runs.loc[prefect.runs["start_utc"].notna(), "run_id"])
    assert finished, "the demo ran no flow"
    page = screens.page("health")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, platform, "demo-ops")
    page.click("#dashboard-health")
    page.wait_for_function(BOKEH_IDLE, timeout=WAIT_MS)
    assert page.url == f"{platform.url}/services/dashboards/health"

    def state() -> dict[str, Any]:
        got: dict[str, Any] = page.evaluate(HEALTH_STATE)
        return got

    last: dict[str, Any] = {}

    def drawn_once() -> bool:
        last.update(state())
        return bool(last["runs"]) and last["tables"] is not None

    try:
        wait_until(drawn_once, "the first reading drawn")
    except BaseException:
        print("what the page drew:", dict(last))
        raise
    screens.snap(page, "health")
    drawn = state()
    # every run Prefect had finished before the page opened is on the durations plot; counts as Prefect's
    assert finished <= set(drawn["runs"])
    counts = dict(zip(drawn["states"]["state"], drawn["states"]["runs"], strict=True))
    assert counts["COMPLETED"] >= int(prefect.by_state.set_index("state_type").loc["COMPLETED", "runs"])
    assert {"flow runs [runs]", "duration [s]", "run start [UTC]", "size on disk [MiB]",
            "query latency [ms]"} <= set(drawn["labels"])  # fmt: skip
    # the demo's failed runs (its SPP completeness check fails) are listed by name
    for run_name in prefect.failures["run_name"].head(3):
        page.get_by_text(str(run_name)).first.wait_for()
    # the hub answers the service's own token (role dashboards-health): users and servers
    page.get_by_text("up: JupyterHub").first.wait_for()
    assert page.get_by_text("demo-quant").count() >= 1
    # live: latency readings arrive without a reload
    first = drawn["latency"]
    wait_until(lambda: state()["latency"] >= first + 1, "a new latency reading streamed", timeout_s=30)

    # one interaction: the tables plot shows rows instead of the size on disk
    page.locator(".mi-measure select").select_option(label="rows")
    wait_until(lambda: "rows [rows]" in state()["labels"], "the tables plot relabelled")
    now = state()
    value = now["tables"]["value"][now["tables"]["table"].index("default.prices")]
    listed = now["listed"]
    at = next(i for i, (d, t) in enumerate(zip(listed["database"], listed["table"], strict=True))
              if (d, t) == ("default", "prices"))  # fmt: skip
    assert value == listed["rows"][at]  # the bar is the table's row count as the page lists it
    assert value == pytest.approx(_prices_rows(platform), rel=0.1)  # and the store's (merges may move it)
    assert "size on disk [MiB]" not in state()["labels"]
    screens.snap(page, "health-rows")
    assert not errors, errors


def test_a_trader_is_refused_the_health_page(platform: Platform, screens: Screens) -> None:
    page = screens.page("refused")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/services/dashboards/health")
    assert answer is not None and answer.status == 403
    assert page.title() == "Panel: Authorization Error"
    screens.snap(page, "refused")


def _token(platform: Platform, user: str) -> str:
    """A Hub API token of ``user``, made with the mi-admin service's token."""
    admin = (platform.data_dir / "hub" / "secrets" / "mi-admin.token").read_text().strip()
    response = httpx.post(
        f"{platform.url}/hub/api/users/{user}/tokens", headers={"Authorization": f"token {admin}"},
        json={"note": "metrics test", "expires_in": 600}, timeout=30,
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text
    return str(response.json()["token"])


def test_metrics_of_the_dashboards_service_and_the_store(platform: Platform) -> None:
    url = f"{platform.url}/services/dashboards/metrics"
    assert httpx.get(url, timeout=30).status_code == 401  # through the proxy: a token is needed
    trader = _token(platform, "demo-trader")
    assert httpx.get(url, headers={"Authorization": f"token {trader}"}, timeout=30).status_code == 403
    ops = _token(platform, "demo-ops")
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {ops}"}, timeout=30)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    samples = health.parse_metrics(scraped.text)
    opened = {dict(labels)["page"]: v for (name, labels), v in samples.items()
              if name == "mi_dashboards_sessions_opened_total"}  # fmt: skip
    assert opened.get("health", 0) >= 1  # the page tests above opened it
    assert any(name == "mi_dashboards_render_seconds_count" for name, _ in samples)
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)
    # straight to the service's port from loopback (a Prometheus on this machine): no token
    direct = f"http://127.0.0.1:{platform.env['MI_DASHBOARDS_PORT']}/services/dashboards/metrics"
    assert httpx.get(direct, timeout=30).status_code == 200
    # the store: its query counters name the dashboards service's store user, which the pages used
    time.sleep(0.5)
    store = httpx.get(f"http://127.0.0.1:{platform.env['MI_STORE_PORT']}/metrics", timeout=30)
    assert store.status_code == 200
    got = health.parse_metrics(store.text)
    by_user = {dict(labels)["user"] for (name, labels), _ in got.items() if name == "mi_store_queries_total"}
    assert "dashboards" in by_user
    assert got[("mi_store_table_rows", (("database", "default"), ("table", "prices")))] > 0
