"""Health readers: a real private store, a real Prefect server, a Hub API stand-in; down is a result."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from marketintel.services import health
from marketintel.store import migrate
from tests.storeproc import StoreProcess, free_port, start_store


# ------------------------------------------------------------------------------------------------------------
# Store
# ------------------------------------------------------------------------------------------------------------
def test_store_health_lists_tables_and_reads_latency_from_the_endpoint(
    store: StoreProcess, ch_client: Any, ch_database: str
) -> None:
    migrate(ch_client, database=ch_database)
    client = store.client(database=ch_database, autogenerate_session_id=False)
    client.command("CREATE TABLE h_rows (x UInt64) ENGINE = MergeTree ORDER BY x")
    client.insert("h_rows", [[i] for i in range(2500)], column_names=["x"])
    for _ in range(5):
        client.query("SELECT count() FROM h_rows")
    got = health.store_health(client)
    assert got.status.up and got.status.detail.startswith("up: ") and got.metrics_detail == ""
    mine = got.tables[got.tables["database"] == ch_database].set_index("table")
    assert mine.loc["h_rows", "rows"] == 2500 and mine.loc["h_rows", "parts"] >= 1
    assert mine.loc["h_rows", "bytes_on_disk"] > 0 and mine.loc["h_rows", "engine"] == "MergeTree"
    assert mine.loc["prices", "rows"] == 0  # a migrated table without parts is listed with 0 rows
    assert got.tables["last_modified_utc"].dt.tz is not None
    assert not (got.tables["database"] == "system").any()
    # the latency window comes from the endpoint's /metrics (the session store runs this code)
    reads = got.latency[got.latency["kind"] == "read"].set_index("quantile")["seconds"]
    assert list(reads.index) == [0.5, 0.95, 0.99] and 0 < reads[0.5] <= reads[0.95] <= reads[0.99]
    assert got.latency["statements"].min() >= 1 and got.queries >= 6 and got.disk_free_bytes
    assert "p95" in got.status.detail


def test_a_store_that_stops_answering_is_down_with_why(tmp_path: Path) -> None:
    proc = start_store(tmp_path / "data", env={"MI_DATA_DIR": str(tmp_path)})
    client = proc.client(autogenerate_session_id=False)
    assert health.store_health(client).status.up
    assert proc.stop() == 0
    got = health.store_health(client, timeout_s=1)
    assert not got.status.up and got.status.detail.startswith("down: ")
    assert got.tables.empty and list(got.tables.columns)[:3] == ["database", "table", "engine"]
    assert got.latency.empty


# ------------------------------------------------------------------------------------------------------------
# Prefect
# ------------------------------------------------------------------------------------------------------------
def test_prefect_unreachable_is_down_with_the_address() -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    got = health.prefect_health(url, timeout_s=1)
    assert not got.status.up and got.status.detail.startswith(f"down: {url}: ")
    assert got.runs.empty and got.failures.empty and got.scheduled.empty
    assert list(got.by_state["state_type"]) == list(health.STATE_TYPES) and got.by_state["runs"].sum() == 0
    assert {"run_id", "flow", "duration_s", "message", "start_utc"} <= set(got.runs.columns)


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local Prefect server (SQLite in a temporary home) for this module."""
    from marketintel.flows import server

    home = tmp_path_factory.mktemp("prefect-health")
    running = server.up(port=free_port(), home=home, progress=False)
    yield running.api_url
    assert server.down(home)


@pytest.mark.slow
def test_prefect_health_counts_states_times_runs_and_lists_failures_and_schedules(prefect_api: str) -> None:
    with httpx.Client(base_url=prefect_api, timeout=10) as http:

        def post(path: str, body: dict[str, Any]) -> httpx.Response:
            # Prefect answers 503 while its SQLite is locked (a loaded machine): the write is retried
            for _ in range(20):
                response = http.post(path, json=body)
                if response.status_code != 503:
                    return response
                time.sleep(0.5)
            return response

        flow_id = post("/flows/", {"name": "health-probe"}).json()["id"]

        def run(name: str, state: dict[str, Any]) -> str:
            response = post("/flow_runs/", {"flow_id": flow_id, "name": name, "state": state})
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        run("ok-run", {"type": "COMPLETED", "name": "Completed"})
        boom = "Flow run encountered an exception: ValueError: boom\nTraceback ..."
        run("bad-run", {"type": "FAILED", "name": "Failed", "message": boom})
        run("later-run", {"type": "SCHEDULED", "name": "Scheduled",
                          "state_details": {"scheduled_time": "2031-01-01T00:00:00Z"}})  # fmt: skip
        timed = run("timed-run", {"type": "RUNNING", "name": "Running"})
        time.sleep(1.2)
        done = {"state": {"type": "COMPLETED", "name": "Completed"}, "force": True}
        response = post(f"/flow_runs/{timed}/set_state", done)
        assert response.status_code in (200, 201), response.text
    got = health.prefect_health(prefect_api, timeout_s=30)  # a loaded machine: a slow SQLite, not a down API
    assert got.status.up, got.status.detail
    counts = dict(zip(got.by_state["state_type"], got.by_state["runs"], strict=True))
    assert counts["COMPLETED"] == 2 and counts["FAILED"] == 1 and counts["SCHEDULED"] == 1
    assert "4 flow runs" in got.status.detail and "health-probe at 2031-01-01 00:00 UTC" in got.status.detail
    assert set(got.runs["run_name"]) == {"ok-run", "bad-run", "timed-run"} and set(got.runs["flow"]) == {
        "health-probe"
    }
    assert got.runs.loc[got.runs["run_name"] == "timed-run", "duration_s"].iloc[0] >= 1.0
    assert list(got.failures["run_name"]) == ["bad-run"]
    assert got.failures["message"].iloc[0].startswith("Flow run encountered an exception: ValueError: boom")
    assert list(got.scheduled["run_name"]) == ["later-run"]
    assert got.scheduled["expected_start_utc"].iloc[0] == pd.Timestamp("2031-01-01", tz="UTC")


# ------------------------------------------------------------------------------------------------------------
# Hub (a stand-in for the Hub's REST API: the real one is in tests/hub/test_page_health.py)
# ------------------------------------------------------------------------------------------------------------
class _HubStandIn(BaseHTTPRequestHandler):
    users: ClassVar[list[dict[str, Any]]] = []
    allowed = "good-token"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/hub/api":
            self._json(200, {"version": "5.5.4"})
        elif self.path.startswith("/hub/api/users"):
            if self.headers.get("Authorization") != f"token {self.allowed}":
                self._json(403, {"status": 403, "message": "Action is not authorized with current scopes"})
            else:
                self._json(200, self.users)
        else:
            self._json(404, {"message": "no"})


@pytest.fixture(scope="module")
def hub_api() -> Iterator[str]:
    now = pd.Timestamp.now(tz="UTC")
    _HubStandIn.users = [
        {"name": "demo-ops", "admin": False, "groups": ["ops"], "last_activity": now.isoformat(),
         "servers": {}},
        {"name": "demo-quant", "admin": False, "groups": ["quants"],
         "last_activity": (now - pd.Timedelta(minutes=5)).isoformat(),
         "servers": {"": {"ready": True, "started": now.isoformat()}}},
        {"name": "old-timer", "admin": True, "groups": [], "last_activity": "2020-01-01T00:00:00Z",
         "servers": {}},
        {"name": "never", "admin": False, "groups": [], "last_activity": None, "servers": {}},
    ]  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    server.shutdown()
    server.server_close()


def test_hub_health_counts_active_users_and_running_servers(hub_api: str) -> None:
    got = health.hub_health(hub_api, "good-token")
    assert got.status.up and got.version == "5.5.4"
    assert (len(got.users), got.active_users, got.servers_running) == (4, 2, 1)
    assert list(got.users["user"][:2]) == ["demo-ops", "demo-quant"]  # most recently active first
    assert got.users.set_index("user").loc["demo-quant", "groups"] == "quants"
    assert "4 users, 2 active in the last hour, 1 servers running" in got.status.detail


def test_hub_health_down_cases_say_why(hub_api: str) -> None:
    refused = health.hub_health(hub_api, "weak-token")
    assert not refused.status.up and "refused to list users" in refused.status.detail
    assert "list:users" in refused.status.detail and "current scopes" in refused.status.detail
    unset = health.hub_health(env={})
    assert not unset.status.up and "JUPYTERHUB_API_URL" in unset.status.detail
    gone = health.hub_health(f"http://127.0.0.1:{free_port()}/hub/api", "t", timeout_s=1)
    assert not gone.status.up and gone.status.detail.startswith("down: http://127.0.0.1:")
    assert gone.users.empty and "last_activity_utc" in gone.users.columns


# ------------------------------------------------------------------------------------------------------------
# The dashboards service's own registry
# ------------------------------------------------------------------------------------------------------------
def test_dashboards_health_reads_the_service_registry() -> None:
    registry = CollectorRegistry()
    opened = Counter(health.DASHBOARD_SESSIONS_OPENED, "o", ["page"], registry=registry)
    Counter(health.DASHBOARD_SESSIONS_CLOSED, "c", ["page"], registry=registry).labels("health").inc()
    Gauge(health.DASHBOARD_SESSIONS_ACTIVE, "a", registry=registry).set(2)
    renders = Histogram(health.DASHBOARD_RENDER_SECONDS, "r", ["page"], registry=registry)
    Counter(health.DASHBOARD_CALLBACK_ERRORS, "e", ["page"], registry=registry).labels("curves").inc(3)
    opened.labels("health").inc(2)
    opened.labels("explorer").inc()
    renders.labels("health").observe(1.0)
    renders.labels("health").observe(2.0)
    got = health.dashboards_health(registry)
    assert (got.sessions_opened, got.sessions_closed, got.sessions_active, got.callback_errors) == (
        3,
        1,
        2,
        3,
    )
    row = got.renders.set_index("page").loc["health"]
    assert row["renders"] == 2 and row["mean_render_s"] == pytest.approx(1.5)
    assert "2 sessions open" in got.status.detail
    bare = health.dashboards_health(CollectorRegistry())
    assert bare.status.up and "not installed" in bare.status.detail
