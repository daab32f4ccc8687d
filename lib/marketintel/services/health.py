"""Platform health: the store, Prefect, the hub and the dashboards service, each read as one typed result.

Every reader returns a result whose :class:`SourceStatus` says ``up`` or ``down: why`` (the store does not
answer, Prefect's API is unreachable, the hub's token lacks a scope, ...): a source that is down is a
result to show, never an exception. Nothing here caches; the health page polls every few seconds.

- :func:`store_health`: tables (rows, active parts, bytes on disk) from ``system.parts``/``system.tables``
  through the store client; disk, running queries, query counts and the recent-latency percentiles from
  the endpoint's ``/metrics`` (:mod:`marketintel.store.endpoint.metrics`), read with the client's own
  address and credentials.
- :func:`prefect_health`: flow runs from Prefect's REST API (``MI_PREFECT_API_URL``): counts by state,
  recent runs with durations, failures with their messages, the next scheduled runs.
- :func:`hub_health`: users, activity and running servers from the Hub's REST API (the dashboards
  service's ``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_API_TOKEN``; its role grants ``list:users``,
  ``read:users:name``, ``read:users:groups``, ``read:users:activity`` and ``read:servers``, see
  :mod:`marketintel.hub.access`).
- :func:`dashboards_health`: the dashboards service's own Prometheus registry (sessions, renders, callback
  errors, memory, uptime), whose metric names are the constants below.
"""

from __future__ import annotations

import functools
import os
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from marketintel import config

__all__ = [
    "DASHBOARD_CALLBACK_ERRORS",
    "DASHBOARD_RENDER_SECONDS",
    "DASHBOARD_SESSIONS_ACTIVE",
    "DASHBOARD_SESSIONS_CLOSED",
    "DASHBOARD_SESSIONS_OPENED",
    "FAILED_STATES",
    "HUB_ACTIVE_WITHIN",
    "STATE_TYPES",
    "DashboardsHealth",
    "HubHealth",
    "PrefectHealth",
    "SourceStatus",
    "StoreHealth",
    "dashboards_health",
    "hub_health",
    "prefect_health",
    "scrape_store_metrics",
    "store_health",
]

#: how long one source may take to answer before it counts as down [s]
TIMEOUT_S = 3.0
#: Prefect's state types, in the order the page draws them
STATE_TYPES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING", "COMPLETED", "FAILED", "CRASHED",
               "CANCELLED")  # fmt: skip
#: the state types that count as failures
FAILED_STATES = ("FAILED", "CRASHED")
#: a hub user counts as active when the Hub saw them within this time
HUB_ACTIVE_WITHIN = pd.Timedelta(hours=1)

#: the dashboards service's metric names (prometheus-client adds ``_total`` to counters' samples)
DASHBOARD_SESSIONS_OPENED = "mi_dashboards_sessions_opened"
DASHBOARD_SESSIONS_CLOSED = "mi_dashboards_sessions_closed"
DASHBOARD_SESSIONS_ACTIVE = "mi_dashboards_sessions_active"
DASHBOARD_RENDER_SECONDS = "mi_dashboards_render_seconds"
DASHBOARD_CALLBACK_ERRORS = "mi_dashboards_callback_errors"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@functools.cache
def _tls() -> ssl.SSLContext:
    """Return the TLS context of every request here (loading the CA bundle once: it costs ~70 ms)."""
    return ssl.create_default_context()


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@dataclass(frozen=True)
class SourceStatus:
    """Whether one source answered, and what it said or why not.

    Attributes
    ----------
    source : str
        ``store``, ``Prefect``, ``hub`` or ``dashboards``.
    up : bool
        Whether it answered.
    detail : str
        One line: what it is (``up: 1,234 rows in 12 tables``) or why it is down (``down: ...``).
    checked_at_utc : pd.Timestamp
        When it was read [UTC].
    elapsed_s : float
        How long reading it took [s].
    """

    source: str
    up: bool
    detail: str
    checked_at_utc: pd.Timestamp
    elapsed_s: float = 0.0

    @property
    def text(self) -> str:
        """``"<source> up: ..."`` or ``"<source> down: why"``."""
        return f"{self.source} {self.detail}"


def _status(source: str, up: bool, detail: str, started: float) -> SourceStatus:
    prefix = "up" if up else "down"
    return SourceStatus(source, up, f"{prefix}: {detail}", _now(), time.perf_counter() - started)


def _why(exc: BaseException) -> str:
    """Return an exception as one short line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


# ------------------------------------------------------------------------------------------------------------
# Store
# ------------------------------------------------------------------------------------------------------------
_TABLE_COLUMNS = {"database": "string", "table": "string", "engine": "string", "rows": "int64",
                  "parts": "int64", "bytes_on_disk": "int64"}  # fmt: skip


@dataclass(frozen=True)
class StoreHealth:
    """The store: its tables, its disk and its recent query latency.

    Attributes
    ----------
    status : SourceStatus
        Up (with a summary) or down (why).
    tables : pd.DataFrame
        One row per table: ``database``, ``table``, ``engine``, ``rows`` [rows], ``parts`` (active parts),
        ``bytes_on_disk`` [bytes], ``last_modified_utc``; largest first. Empty when down.
    latency : pd.DataFrame
        Percentiles of the statements of the endpoint's recent window: ``kind`` (``all``, ``read``,
        ``insert``, ...), ``quantile`` (0.5, 0.95, 0.99), ``seconds`` [s], ``statements`` (in the window).
        Empty when the endpoint's metrics cannot be read (``metrics_detail`` says why) or no statement ran.
    metrics_detail : str
        ``""`` when the endpoint's metrics were read, else why not.
    disk_free_bytes, disk_total_bytes : float or None
        The store's disk [bytes] (None without metrics).
    running_queries : int
        Statements running now (0 without metrics).
    queries : float
        Statements run since the endpoint started (any outcome); ``errors``: those that failed.
    """

    status: SourceStatus
    tables: pd.DataFrame
    latency: pd.DataFrame
    metrics_detail: str = ""
    disk_free_bytes: float | None = None
    disk_total_bytes: float | None = None
    running_queries: int = 0
    queries: float = 0.0
    errors: float = 0.0


def _empty_tables() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _TABLE_COLUMNS.items()})
    frame["last_modified_utc"] = pd.Series([], dtype="datetime64[us, UTC]")
    return frame


def _empty_latency() -> pd.DataFrame:
    return pd.DataFrame({"kind": pd.Series([], dtype="string"), "quantile": pd.Series([], dtype=float),
                         "seconds": pd.Series([], dtype=float),
                         "statements": pd.Series([], dtype="int64")})  # fmt: skip


#: tables with their active parts; system databases left out (a table without parts has 0 rows)
_TABLES_SQL = """
SELECT t.database AS database, t.name AS table, t.engine AS engine,
       ifNull(p.rows, 0) AS rows, ifNull(p.parts, 0) AS parts, ifNull(p.bytes, 0) AS bytes_on_disk,
       p.modified AS last_modified_utc
FROM system.tables AS t
LEFT JOIN (
    SELECT database, table, sum(rows) AS rows, count() AS parts, sum(bytes_on_disk) AS bytes,
           toTimeZone(max(modification_time), 'UTC') AS modified
    FROM system.parts WHERE active GROUP BY database, table
) AS p ON p.database = t.database AND p.table = t.name
WHERE t.database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') AND NOT t.is_temporary
ORDER BY bytes_on_disk DESC, database, table
"""


def scrape_store_metrics(client: Any, timeout_s: float = TIMEOUT_S) -> Samples:
    """Return the store endpoint's ``/metrics`` as ``{(sample name, sorted labels): value}``.

    Read at the client's own address with its own credentials (the endpoint asks for the credentials of a
    query).

    Raises
    ------
    httpx.HTTPError
        When the endpoint does not answer, or refuses (the status is in the message).
    ValueError
        When the answer is not Prometheus text.
    """
    headers = {
        k: v for k, v in dict(getattr(client, "headers", {}) or {}).items() if k.lower() == "authorization"
    }
    response = httpx.get(
        f"{str(client.url).rstrip('/')}/metrics", headers=headers, timeout=timeout_s, verify=_tls()
    )
    if response.status_code != 200:
        first = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        raise httpx.HTTPStatusError(
            f"the store's /metrics answered {response.status_code} {first}".strip(),
            request=response.request, response=response,
        )  # fmt: skip
    return parse_metrics(response.text)


def parse_metrics(text: str) -> Samples:
    """Return Prometheus text as ``{(sample name, sorted labels): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _sum(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def _one(samples: Samples, name: str) -> float | None:
    return next((v for (n, labels), v in samples.items() if n == name and not labels), None)


def latency_frame(samples: Samples) -> pd.DataFrame:
    """Return the recent-latency percentiles of a store scrape (see :class:`StoreHealth.latency`)."""
    counts = {
        dict(lb)["kind"]: int(v)
        for (n, lb), v in samples.items()
        if n == "mi_store_query_latency_recent_count"
    }
    rows = [
        {"kind": dict(lb)["kind"], "quantile": float(dict(lb)["quantile"]), "seconds": v,
         "statements": counts.get(dict(lb)["kind"], 0)}
        for (n, lb), v in samples.items()
        if n == "mi_store_query_latency_recent_seconds"
    ]  # fmt: skip
    if not rows:
        return _empty_latency()
    frame = pd.DataFrame(rows).sort_values(["kind", "quantile"], ignore_index=True)
    return frame.astype({"kind": "string", "statements": "int64"})


def store_health(client: Any, *, timeout_s: float = TIMEOUT_S) -> StoreHealth:
    """Read the store's health: tables through ``client``, the rest from the endpoint's ``/metrics``.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store (a reader is enough).
    timeout_s : float
        How long the metrics may take [s].

    Returns
    -------
    StoreHealth
        Down (``status.up`` False, with why) when the store does not answer the tables' query.
    """
    started = time.perf_counter()
    try:
        tables = client.query_df(_TABLES_SQL)
    except Exception as exc:  # any failure of the store is a "down" to show
        return StoreHealth(_status("store", False, _why(exc), started), _empty_tables(), _empty_latency())
    tables = _tidy_tables(tables)
    try:
        samples = scrape_store_metrics(client, timeout_s)
        metrics_detail = ""
    except (httpx.HTTPError, ValueError, OSError) as exc:
        samples, metrics_detail = {}, f"metrics unavailable: {_why(exc)}"
    latency = latency_frame(samples)
    running = int(_sum(samples, "mi_store_running_queries"))
    detail = (
        f"{int(tables['rows'].sum()):,} rows in {len(tables)} tables, {_size(tables['bytes_on_disk'].sum())}"
    )
    free = _one(samples, "mi_store_disk_free_bytes")
    if free is not None:
        detail += f", {_size(free)} free"
    p95 = latency[(latency["kind"] == "all") & (latency["quantile"] == 0.95)]["seconds"]
    if len(p95):
        detail += f", p95 {float(p95.iloc[0]) * 1000:.1f} ms"
    if metrics_detail:
        detail += f" ({metrics_detail})"
    return StoreHealth(
        status=_status("store", True, detail, started), tables=tables, latency=latency,
        metrics_detail=metrics_detail, disk_free_bytes=free,
        disk_total_bytes=_one(samples, "mi_store_disk_total_bytes"), running_queries=running,
        queries=_sum(samples, "mi_store_queries_total"), errors=_sum(samples, "mi_store_errors_total"),
    )  # fmt: skip


def _tidy_tables(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return _empty_tables()
    out = raw.astype(_TABLE_COLUMNS)
    modified = pd.to_datetime(out["last_modified_utc"], utc=True)
    out["last_modified_utc"] = modified.where(modified > pd.Timestamp("1971-01-01", tz="UTC"))
    return out.reset_index(drop=True)


def _size(n_bytes: float) -> str:
    """Return a byte count as B/KiB/MiB/GiB text."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TiB"  # pragma: no cover


# ------------------------------------------------------------------------------------------------------------
# Prefect
# ------------------------------------------------------------------------------------------------------------
_RUN_COLUMNS = {"run_id": "string", "flow": "string", "deployment": "string", "run_name": "string",
                "state_type": "string", "state_name": "string"}  # fmt: skip
_RUN_TIMES = ("expected_start_utc", "start_utc", "end_utc")


@dataclass(frozen=True)
class PrefectHealth:
    """Prefect's flow runs.

    Attributes
    ----------
    status : SourceStatus
        Up (with a summary) or down (why).
    by_state : pd.DataFrame
        ``state_type`` (every one of :data:`STATE_TYPES`) and ``runs`` [runs]: all flow runs Prefect
        holds, by the type of their current state.
    runs : pd.DataFrame
        The latest runs that are not merely scheduled, newest first: ``run_id``, ``flow``, ``deployment``,
        ``run_name``, ``state_type``, ``state_name``, ``expected_start_utc``, ``start_utc``, ``end_utc``,
        ``duration_s`` [s] (run time so far for a running one), ``message`` (the state's message).
    failures : pd.DataFrame
        The rows of ``runs`` in a failed or crashed state, with their messages.
    scheduled : pd.DataFrame
        The next scheduled runs, soonest first (same columns as ``runs``).
    """

    status: SourceStatus
    by_state: pd.DataFrame
    runs: pd.DataFrame
    failures: pd.DataFrame
    scheduled: pd.DataFrame


def _empty_runs() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _RUN_COLUMNS.items()})
    for column in _RUN_TIMES:
        frame[column] = pd.Series([], dtype="datetime64[us, UTC]")
    frame["duration_s"] = pd.Series([], dtype=float)
    frame["message"] = pd.Series([], dtype="string")
    return frame


def _empty_by_state() -> pd.DataFrame:
    return pd.DataFrame(
        {"state_type": pd.Series(STATE_TYPES, dtype="string"), "runs": [0] * len(STATE_TYPES)}
    )


def prefect_health(
    api_url: str | None = None, *, limit: int = 200, scheduled: int = 20, timeout_s: float = TIMEOUT_S
) -> PrefectHealth:
    """Read flow runs from Prefect's REST API.

    Parameters
    ----------
    api_url : str, optional
        Prefect's API (``http://host:port/api``); default :func:`marketintel.config.prefect_api_url`.
    limit : int
        Latest runs read (not counting scheduled ones) [runs].
    scheduled : int
        Next scheduled runs read [runs].
    timeout_s : float
        How long each request may take [s].

    Returns
    -------
    PrefectHealth
        Down (with why) when the API does not answer or answers an error.
    """
    started = time.perf_counter()
    url = (api_url or config.prefect_api_url()).rstrip("/")
    try:
        # the counts and both lists are independent requests: sent at once, a reading costs one round trip
        with (
            httpx.Client(base_url=url, timeout=timeout_s, verify=_tls()) as http,
            ThreadPoolExecutor(12) as pool,
        ):
            counted = {state: pool.submit(_count_runs, http, state) for state in STATE_TYPES}
            recent_f = pool.submit(_post, http, "/flow_runs/filter", {
                "flow_runs": {"state": {"type": {"not_any_": ["SCHEDULED"]}}},
                "sort": "EXPECTED_START_TIME_DESC", "limit": int(limit),
            })  # fmt: skip
            upcoming_f = pool.submit(_post, http, "/flow_runs/filter", {
                "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                "sort": "EXPECTED_START_TIME_ASC", "limit": int(scheduled),
            })  # fmt: skip
            recent, upcoming = recent_f.result(), upcoming_f.result()
            counts = {state: future.result() for state, future in counted.items()}
            rows = [*recent, *upcoming]
            flows_f = pool.submit(_names, http, "/flows/filter", "flows",
                                  {r["flow_id"] for r in rows if r.get("flow_id")})  # fmt: skip
            deployment_ids = {r["deployment_id"] for r in rows if r.get("deployment_id")}
            deployments_f = pool.submit(_names, http, "/deployments/filter", "deployments", deployment_ids)
            flows, deployments = flows_f.result(), deployments_f.result()
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        down = _status("Prefect", False, f"{url}: {_why(exc)}", started)
        return PrefectHealth(down, _empty_by_state(), _empty_runs(), _empty_runs(), _empty_runs())
    by_state = pd.DataFrame({"state_type": pd.Series(STATE_TYPES, dtype="string"),
                             "runs": [counts[s] for s in STATE_TYPES]})  # fmt: skip
    runs = _run_frame(recent, flows, deployments)
    failures = runs[runs["state_type"].isin(FAILED_STATES)].reset_index(drop=True)
    upcoming_frame = _run_frame(upcoming, flows, deployments)
    total = sum(counts.values())
    detail = (
        f"{total:,} flow runs ({counts['COMPLETED']:,} completed, {counts['FAILED'] + counts['CRASHED']:,} "
        f"failed, {counts['RUNNING']:,} running, {counts['SCHEDULED']:,} scheduled)"
    )
    if len(upcoming_frame):
        first = upcoming_frame.iloc[0]
        detail += f"; next: {first['flow']} at {first['expected_start_utc']:%Y-%m-%d %H:%M} UTC"
    return PrefectHealth(_status("Prefect", True, detail, started), by_state, runs, failures, upcoming_frame)


def _post(http: httpx.Client, path: str, body: Mapping[str, Any]) -> Any:
    response = http.post(path, json=body)
    if response.status_code >= 400:
        raise httpx.HTTPStatusError(
            f"POST {path} answered {response.status_code}: {response.text[:200]}",
            request=response.request, response=response,
        )  # fmt: skip
    return response.json()


def _count_runs(http: httpx.Client, state: str) -> int:
    return int(_post(http, "/flow_runs/count", {"flow_runs": {"state": {"type": {"any_": [state]}}}}))


def _names(http: httpx.Client, path: str, key: str, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    rows = _post(http, path, {key: {"id": {"any_": wanted}}, "limit": len(wanted)})
    return {str(r["id"]): str(r["name"]) for r in rows}


def _run_frame(
    rows: list[dict[str, Any]], flows: Mapping[str, str], deployments: Mapping[str, str]
) -> pd.DataFrame:
    if not rows:
        return _empty_runs()
    now = _now()
    records = []
    for r in rows:
        state = r.get("state") or {}
        start = _stamp(r.get("start_time"))
        end = _stamp(r.get("end_time"))
        if start is not None and end is not None:
            duration: float | None = (end - start).total_seconds()
        elif start is not None and (r.get("state_type") == "RUNNING"):
            duration = (now - start).total_seconds()
        else:
            duration = float(r.get("total_run_time") or 0.0) or None
        records.append({
            "run_id": str(r["id"]), "flow": flows.get(str(r.get("flow_id")), "?"),
            "deployment": deployments.get(str(r.get("deployment_id")), ""),
            "run_name": str(r.get("name", "")),
            "state_type": str(r.get("state_type") or state.get("type") or ""),
            "state_name": str(r.get("state_name") or state.get("name") or ""),
            "expected_start_utc": _stamp(r.get("expected_start_time")), "start_utc": start, "end_utc": end,
            "duration_s": duration, "message": str(state.get("message") or ""),
        })  # fmt: skip
    frame = pd.DataFrame.from_records(records)
    for column in _RUN_TIMES:
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    frame["duration_s"] = frame["duration_s"].astype(float)
    return frame.astype({**_RUN_COLUMNS, "message": "string"})[list(_empty_runs().columns)]


def _stamp(value: Any) -> pd.Timestamp | None:
    if not value:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")


# ------------------------------------------------------------------------------------------------------------
# Hub
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubHealth:
    """The hub's users and servers.

    Attributes
    ----------
    status : SourceStatus
        Up (with a summary) or down (why: unreachable, not configured, a missing scope).
    users : pd.DataFrame
        ``user``, ``groups`` (comma-separated), ``admin``, ``last_activity_utc``, ``active`` (seen within
        :data:`HUB_ACTIVE_WITHIN`), ``servers_running`` [servers]; most recently active first.
    active_users : int
        Users seen within :data:`HUB_ACTIVE_WITHIN`.
    servers_running : int
        Single-user servers running (JupyterLab) [servers].
    version : str
        The Hub's version ("" when down).
    """

    status: SourceStatus
    users: pd.DataFrame
    active_users: int = 0
    servers_running: int = 0
    version: str = ""


def _empty_users() -> pd.DataFrame:
    return pd.DataFrame({
        "user": pd.Series([], dtype="string"), "groups": pd.Series([], dtype="string"),
        "admin": pd.Series([], dtype=bool), "last_activity_utc": pd.Series([], dtype="datetime64[us, UTC]"),
        "active": pd.Series([], dtype=bool), "servers_running": pd.Series([], dtype="int64"),
    })  # fmt: skip


def hub_health(
    api_url: str | None = None,
    token: str | None = None,
    *,
    timeout_s: float = TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> HubHealth:
    """Read the hub's users, their activity and running servers from the Hub's REST API.

    Parameters
    ----------
    api_url, token : str, optional
        The Hub's API (``http://host:port/hub/api``) and a token allowed to list users; default
        ``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_API_TOKEN`` (what the Hub gives the dashboards service).
    timeout_s : float
        How long each request may take [s].
    env : mapping, optional
        Where to read the defaults (default :data:`os.environ`).

    Returns
    -------
    HubHealth
        Down (with why) when unconfigured, unreachable, or when the token may not list users.
    """
    started = time.perf_counter()
    env = os.environ if env is None else env
    api_url = (api_url or env.get("JUPYTERHUB_API_URL", "")).rstrip("/")
    token = token or env.get("JUPYTERHUB_API_TOKEN", "")
    if not api_url or not token:
        why = ("not configured: JUPYTERHUB_API_URL and JUPYTERHUB_API_TOKEN are not set (the dashboards run "
               "outside the hub; start it with `mi hub up`)")  # fmt: skip
        return HubHealth(_status("hub", False, why, started), _empty_users())
    try:
        with httpx.Client(base_url=api_url, timeout=timeout_s, verify=_tls(),
                          headers={"Authorization": f"token {token}"}) as http:  # fmt: skip
            info = http.get("/")
            info.raise_for_status()
            version = str(info.json().get("version", ""))
            response = http.get("/users", params={"limit": 1000})
            if response.status_code == 403:
                said = _hub_message(response)
                return HubHealth(_status("hub", False, (
                    f"the hub refused to list users (403: {said}); the dashboards service's role "
                    "needs list:users, read:users:name, read:users:groups, read:users:activity and "
                    "read:servers (marketintel.hub.access)"), started),
                    _empty_users(), version=version)  # fmt: skip
            response.raise_for_status()
            models = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return HubHealth(_status("hub", False, f"{api_url}: {_why(exc)}", started), _empty_users())
    if isinstance(models, dict):  # the paginated form
        models = models.get("items", [])
    users = _user_frame(models)
    active = int(users["active"].sum())
    running = int(users["servers_running"].sum())
    detail = (
        f"JupyterHub {version}: {len(users)} users, {active} active in the last hour, "
        f"{running} servers running"
    )
    return HubHealth(_status("hub", True, detail, started), users, active, running, version)


def _hub_message(response: httpx.Response) -> str:
    """Return the Hub's error message of a response (its JSON ``message``, else the text's start)."""
    try:
        return str(response.json().get("message", ""))[:200]
    except ValueError:
        return response.text[:200]


def _user_frame(models: list[dict[str, Any]]) -> pd.DataFrame:
    if not models:
        return _empty_users()
    now = _now()
    rows = []
    for m in models:
        last = _stamp(m.get("last_activity"))
        servers = m.get("servers") or {}
        running = sum(1 for s in servers.values() if (s or {}).get("ready") or (s or {}).get("started"))
        if not servers and m.get("server"):
            running = 1
        rows.append({
            "user": str(m.get("name", "")), "groups": ", ".join(sorted(m.get("groups") or [])),
            "admin": bool(m.get("admin")), "last_activity_utc": last,
            "active": bool(last is not None and now - last <= HUB_ACTIVE_WITHIN), "servers_running": running,
        })  # fmt: skip
    frame = pd.DataFrame.from_records(rows)
    frame["last_activity_utc"] = pd.to_datetime(frame["last_activity_utc"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    frame = frame.astype({"user": "string", "groups": "string", "admin": bool, "active": bool,
                          "servers_running": "int64"})  # fmt: skip
    return frame.sort_values("last_activity_utc", ascending=False, na_position="last", ignore_index=True)


# ------------------------------------------------------------------------------------------------------------
# The dashboards service
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DashboardsHealth:
    """The dashboards service itself, from its Prometheus registry.

    Attributes
    ----------
    status : SourceStatus
        Up (the service answers: it is this process) with a summary.
    sessions_active, sessions_opened, sessions_closed : int
        Browser sessions open now, opened and closed since the service started [sessions].
    callback_errors : int
        Errors raised in the pages' callbacks since start.
    renders : pd.DataFrame
        By page: ``page``, ``renders`` (sessions whose page was drawn), ``mean_render_s`` [s] from the
        session's start to the browser's "document ready".
    rss_bytes : float or None
        Resident memory of the process [bytes].
    uptime_s : float or None
        Time since the process started [s].
    """

    status: SourceStatus
    sessions_active: int = 0
    sessions_opened: int = 0
    sessions_closed: int = 0
    callback_errors: int = 0
    renders: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["page", "renders", "mean_render_s"])
    )
    rss_bytes: float | None = None
    uptime_s: float | None = None


def dashboards_health(
    registry: CollectorRegistry = REGISTRY, clock: Callable[[], float] = time.time
) -> DashboardsHealth:
    """Read the dashboards service's own metrics (the process's registry; the service is this process).

    Parameters
    ----------
    registry : prometheus_client.CollectorRegistry
        Where the service's metrics are registered (default: prometheus-client's global registry, with
        the process collector).
    clock : callable
        Current time [s since the epoch] (for the uptime).
    """
    started = time.perf_counter()
    samples: Samples = {}
    for family in registry.collect():
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    opened = int(_sum(samples, f"{DASHBOARD_SESSIONS_OPENED}_total"))
    closed = int(_sum(samples, f"{DASHBOARD_SESSIONS_CLOSED}_total"))
    active = int(_sum(samples, DASHBOARD_SESSIONS_ACTIVE))
    errors = int(_sum(samples, f"{DASHBOARD_CALLBACK_ERRORS}_total"))
    counts = {
        dict(lb).get("page", ""): v
        for (n, lb), v in samples.items()
        if n == f"{DASHBOARD_RENDER_SECONDS}_count"
    }
    sums = {
        dict(lb).get("page", ""): v
        for (n, lb), v in samples.items()
        if n == f"{DASHBOARD_RENDER_SECONDS}_sum"
    }
    renders = pd.DataFrame(
        [{"page": p, "renders": int(n), "mean_render_s": sums.get(p, 0.0) / n if n else float("nan")}
         for p, n in sorted(counts.items())],
        columns=["page", "renders", "mean_render_s"],
    )  # fmt: skip
    rss = _one(samples, "process_resident_memory_bytes")
    start = _one(samples, "process_start_time_seconds")
    uptime = clock() - start if start is not None else None
    if not any(n.startswith("mi_dashboards_") for n, _ in samples):
        detail = "this process answers, but its metrics are not installed (marketintel.dashboards.metrics)"
    else:
        detail = f"{active} sessions open, {opened} opened since start, {errors} callback errors"
        if rss is not None:
            detail += f", {_size(rss)} resident"
    return DashboardsHealth(_status("dashboards", True, detail, started), active, opened, closed, errors,
                            renders, rss, uptime)  # fmt: skip
