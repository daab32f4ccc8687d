"""Prometheus metrics of the endpoint, served at ``GET /metrics`` (text exposition format).

What is counted (one registry per endpoint, so that several endpoints in one process stay apart):

- ``mi_store_queries_total{user, kind, outcome}``: statements, by store user, kind (read, insert, session,
  write, ddl, unknown) and outcome (``ok``; ``error`` once it ran; ``refused`` before it ran);
- ``mi_store_query_duration_seconds{kind}``: histogram of the statements' wall time [s];
- ``mi_store_result_rows_total`` / ``mi_store_result_bytes_total{user}``: rows and bytes returned;
  ``mi_store_read_rows_total`` / ``mi_store_read_bytes_total{user}``: read from tables;
  ``mi_store_written_rows_total`` / ``mi_store_written_bytes_total{user}``: inserted;
- ``mi_store_errors_total{code}``: statements that ended with a ClickHouse error, by its name;
- at scrape time: ``mi_store_running_queries{kind}``, ``mi_store_requests_active``,
  ``mi_store_uptime_seconds``, ``mi_store_disk_free_bytes`` / ``mi_store_disk_total_bytes``, the tables'
  ``mi_store_table_rows`` / ``mi_store_table_parts`` / ``mi_store_table_bytes_on_disk{database, table}``
  (active parts, from the engine's ``system.parts``, read at most every :data:`TABLES_EVERY_S`), and the
  percentiles of the recent latency window ``mi_store_query_latency_recent_seconds{kind, quantile}`` with
  ``mi_store_query_latency_recent_count{kind}`` (statements of the last :data:`WINDOW_S` seconds, at most
  :data:`WINDOW_MAX` of them; ``kind="all"`` for every kind).

The histogram answers Prometheus's ``histogram_quantile`` over any range; the recent-window percentiles
are exact over a short window and let a reader without Prometheus (the health dashboard) read p50, p95
and p99 from one scrape.

Who may scrape
--------------
``/metrics`` takes the same credentials as a query (any store user, as ClickHouse's own ``/metrics``
handler does not: there it is open): on loopback with the default configuration that is the passwordless
``default`` user, and once the store listens beyond loopback every user has a password (the endpoint
refuses to start otherwise), so a scraper needs one (Prometheus ``basic_auth`` with a reader user).
The figures name store users and tables; they hold no query text and no data.

A Prometheus on the store's machine scrapes both the store and the dashboards service (whose own
``/metrics`` is described in ``marketintel.dashboards.metrics``)::

    scrape_configs:
      - job_name: mi-store
        static_configs: [{targets: ["127.0.0.1:18123"]}]     # MI_STORE_PORT
        basic_auth: {username: prometheus, password_file: /etc/prometheus/mi-store.pw}
      - job_name: mi-dashboards
        metrics_path: /services/dashboards/metrics
        static_configs: [{targets: ["127.0.0.1:8010"]}]     # MI_DASHBOARDS_PORT (direct, no token)
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

log = logging.getLogger("marketintel.store.endpoint")

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "QUANTILES",
    "TABLES_EVERY_S",
    "WINDOW_MAX",
    "WINDOW_S",
    "EndpointMetrics",
    "LatencyWindow",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: upper bounds of the latency histogram's buckets [s]
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0)  # fmt: skip
#: length of the recent-latency window [s]
WINDOW_S = 300.0
#: statements the recent-latency window keeps at most (the newest)
WINDOW_MAX = 20_000
#: the percentiles of the window, as Prometheus ``quantile`` labels
QUANTILES = (0.5, 0.95, 0.99)
#: the tables' sizes are read from the engine at most this often [s] (a scrape every second costs nothing)
TABLES_EVERY_S = 10.0
#: the tables' sizes: active parts by table (system databases left out)
TABLES_SQL = (
    "SELECT database, table, sum(rows), count(), sum(bytes_on_disk) FROM system.parts "
    "WHERE active AND database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') "
    "GROUP BY database, table ORDER BY database, table"
)


class LatencyWindow:
    """The wall times of the statements of the last ``window_s`` seconds, for exact percentiles.

    Parameters
    ----------
    window_s : float
        How far back the window reaches [s].
    max_items : int
        Statements kept at most (the oldest leave first).
    clock : callable
        Monotonic clock [s].
    """

    def __init__(
        self,
        window_s: float = WINDOW_S,
        max_items: int = WINDOW_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self._items: deque[tuple[float, str, float]] = deque(maxlen=max_items)
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, kind: str, seconds: float) -> None:
        """Record one statement of ``kind`` that took ``seconds`` [s]."""
        with self._lock:
            self._items.append((self._clock(), kind, seconds))

    def percentiles(
        self, quantiles: Iterable[float] = QUANTILES
    ) -> dict[str, tuple[int, dict[float, float]]]:
        """Return ``{kind: (count, {quantile: seconds})}`` over the window, with ``"all"`` for every kind.

        A percentile is the nearest-rank value (one of the recorded times) [s]; a kind with no statement in
        the window is absent.
        """
        cutoff = self._clock() - self.window_s
        with self._lock:
            while self._items and self._items[0][0] < cutoff:
                self._items.popleft()
            items = list(self._items)
        by_kind: dict[str, list[float]] = {"all": []}
        for _, kind, seconds in items:
            by_kind["all"].append(seconds)
            by_kind.setdefault(kind, []).append(seconds)
        wanted = tuple(quantiles)
        out: dict[str, tuple[int, dict[float, float]]] = {}
        for kind, values in by_kind.items():
            if values:
                values.sort()
                out[kind] = (len(values), {q: _nearest_rank(values, q) for q in wanted})
        return out


def _nearest_rank(sorted_values: list[float], q: float) -> float:
    """Return the nearest-rank ``q`` quantile of sorted values."""
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


class _Server(Protocol):
    """What the scrape-time collector reads of the endpoint server."""

    started: float
    running: Any
    engine: Any
    query_log: Any

    @property
    def active(self) -> int: ...


class EndpointMetrics:
    """The endpoint's metrics: counters kept as statements end, gauges read at scrape time.

    Parameters
    ----------
    server : EndpointServer
        The endpoint (running queries, engine, start time) read at scrape time.
    error_names : mapping of int to str, optional
        ClickHouse error code -> name, for the ``code`` label (default: the code's number).
    window_s : float
        Length of the recent-latency window [s].
    """

    def __init__(
        self, server: _Server, error_names: Mapping[int, str] | None = None, window_s: float = WINDOW_S
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._error_names = dict(error_names or {})
        r = self.registry
        self.queries = Counter("mi_store_queries", "Statements run, by store user, kind and outcome",
                               ["user", "kind", "outcome"], registry=r)  # fmt: skip
        self.duration = Histogram("mi_store_query_duration_seconds", "Wall time of statements [s]", ["kind"],
                                  buckets=DURATION_BUCKETS, registry=r)  # fmt: skip
        self.result_rows = Counter("mi_store_result_rows", "Rows returned to clients", ["user"], registry=r)
        self.result_bytes = Counter("mi_store_result_bytes", "Bytes returned to clients (before HTTP "
                                    "compression)", ["user"], registry=r)  # fmt: skip
        self.read_rows = Counter("mi_store_read_rows", "Rows read from tables", ["user"], registry=r)
        self.read_bytes = Counter("mi_store_read_bytes", "Bytes read from tables", ["user"], registry=r)
        self.written_rows = Counter("mi_store_written_rows", "Rows inserted", ["user"], registry=r)
        self.written_bytes = Counter("mi_store_written_bytes", "Bytes inserted", ["user"], registry=r)
        self.errors = Counter("mi_store_errors", "Statements that ended with a ClickHouse error, by its name",
                              ["code"], registry=r)  # fmt: skip
        self.recent = LatencyWindow(window_s)
        self.registry.register(_ScrapeCollector(server, self.recent))

    def observe(self, entry: Any) -> None:
        """Count one statement that ended (a :class:`~marketintel.store.endpoint.querylog.Entry`)."""
        seconds = max(0.0, (entry.ended - entry.started).total_seconds())
        kind, user = str(entry.query_kind or "unknown"), str(entry.user)
        outcome = {"QueryFinish": "ok", "ExceptionBeforeStart": "refused"}.get(entry.type, "error")
        self.queries.labels(user, kind, outcome).inc()
        if outcome != "refused":  # a refused statement never ran: its time says nothing of the engine
            self.duration.labels(kind).observe(seconds)
            self.recent.add(kind, seconds)
        for counter, value in (
            (self.result_rows, entry.result_rows), (self.result_bytes, entry.result_bytes),
            (self.read_rows, entry.read_rows), (self.read_bytes, entry.read_bytes),
            (self.written_rows, entry.written_rows), (self.written_bytes, entry.written_bytes),
        ):  # fmt: skip
            if value:
                counter.labels(user).inc(value)
        if entry.exception_code:
            code = int(entry.exception_code)
            self.errors.labels(self._error_names.get(code) or str(code)).inc()

    def exposition(self) -> bytes:
        """Return the metrics in Prometheus's text format."""
        return generate_latest(self.registry)


class _ScrapeCollector(Collector):
    """Gauges read when scraped: running queries, uptime, disk, tables, the recent-latency window."""

    def __init__(self, server: _Server, recent: LatencyWindow) -> None:
        self._server = server
        self._recent = recent
        self._tables: list[tuple[str, str, int, int, int]] = []
        self._tables_at = -float("inf")
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Any]:
        """Describe nothing up front: the families are made at scrape time (label values vary)."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the scrape-time gauges."""
        server = self._server
        running = GaugeMetricFamily("mi_store_running_queries", "Statements running now", labels=["kind"])
        counts: dict[str, int] = {}
        for run in server.running.snapshot():
            counts[run.kind] = counts.get(run.kind, 0) + 1
        for kind in sorted({"read", "insert", *counts}):
            running.add_metric([kind], counts.get(kind, 0))
        yield running
        yield GaugeMetricFamily("mi_store_requests_active", "HTTP requests being served now", server.active)
        yield GaugeMetricFamily("mi_store_uptime_seconds", "Time since the endpoint started [s]",
                                max(0.0, time.time() - server.started))  # fmt: skip
        try:
            disk = shutil.disk_usage(server.engine.path)
        except OSError:
            pass
        else:
            yield GaugeMetricFamily("mi_store_disk_free_bytes", "Free space of the store's disk [bytes]",
                                    disk.free)  # fmt: skip
            yield GaugeMetricFamily(
                "mi_store_disk_total_bytes", "Size of the store's disk [bytes]", disk.total
            )
        if server.query_log is not None:
            yield GaugeMetricFamily("mi_store_query_log_dropped", "Query-log rows that could not be written",
                                    server.query_log.dropped)  # fmt: skip
        yield from self._table_families()
        yield from self._latency_families()

    def _table_families(self) -> Iterator[GaugeMetricFamily]:
        tables = self._read_tables()
        rows = GaugeMetricFamily("mi_store_table_rows", "Rows in a table's active parts",
                                 labels=["database", "table"])  # fmt: skip
        parts = GaugeMetricFamily("mi_store_table_parts", "Active parts of a table (many: merges lag)",
                                  labels=["database", "table"])  # fmt: skip
        size = GaugeMetricFamily("mi_store_table_bytes_on_disk", "Size of a table's active parts [bytes]",
                                 labels=["database", "table"])  # fmt: skip
        for database, table, n_rows, n_parts, n_bytes in tables:
            rows.add_metric([database, table], n_rows)
            parts.add_metric([database, table], n_parts)
            size.add_metric([database, table], n_bytes)
        yield from (rows, parts, size)

    def _read_tables(self) -> list[tuple[str, str, int, int, int]]:
        """Return (database, table, rows, parts, bytes) per table, re-read at most every few seconds."""
        with self._lock:
            if time.monotonic() - self._tables_at < TABLES_EVERY_S:
                return self._tables
            try:
                with self._server.engine.connection("admin") as conn:
                    res = conn.raw.query(TABLES_SQL, "JSONCompactEachRow")
                    text = res.bytes().decode() if res is not None else ""
                self._tables = [
                    (str(d), str(t), int(r), int(p), int(b))
                    for d, t, r, p, b in (json.loads(line) for line in text.splitlines() if line)
                ]
            except Exception as exc:  # a scrape must answer even when the engine cannot
                log.warning("metrics: cannot read the tables' sizes: %s", exc)
            self._tables_at = time.monotonic()
            return self._tables

    def _latency_families(self) -> Iterator[GaugeMetricFamily]:
        window = self._recent.percentiles()
        quantiles = GaugeMetricFamily(
            "mi_store_query_latency_recent_seconds",
            f"Percentiles of the wall time of the statements of the last {self._recent.window_s:g} s [s]",
            labels=["kind", "quantile"],
        )
        count = GaugeMetricFamily("mi_store_query_latency_recent_count",
                                  "Statements in the recent-latency window", labels=["kind"])  # fmt: skip
        for kind in sorted(window):
            n, values = window[kind]
            count.add_metric([kind], n)
            for q in sorted(values):
                quantiles.add_metric([kind, f"{q:g}"], values[q])
        yield quantiles
        yield count
