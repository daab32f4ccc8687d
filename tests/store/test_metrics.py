"""GET /metrics of the store endpoint: counters move with the queries run, credentials as for a query."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from marketintel.store.endpoint.metrics import LatencyWindow
from tests.storeproc import StoreProcess, start_store


def scrape(
    url: str, auth: tuple[str, str] | None = None
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return ``{(sample name, sorted labels): value}`` of one scrape."""
    request = urllib.request.Request(f"{url}/metrics")
    if auth is not None:
        request.add_header("Authorization", "Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """Return one sample's value (0 when it is absent: a counter that never moved)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    """A private store with a users file: an admin and a reader, both with passwords."""
    root = tmp_path_factory.mktemp("metrics-store")
    users = root / "users.toml"
    digest = {name: hashlib.sha256(name.encode() + b"-pw").hexdigest() for name in ("boss", "viewer")}
    users.write_text(
        f'[users.boss]\nrole = "admin"\npassword_sha256_hex = "{digest["boss"]}"\n\n'
        f'[users.viewer]\nrole = "reader"\npassword_sha256_hex = "{digest["viewer"]}"\n'
    )
    proc = start_store(root / "data", env={"MI_DATA_DIR": str(root), "MI_STORE_USERS_FILE": str(users)})
    yield proc
    assert proc.stop() == 0, proc.log_text()[-3000:]


def test_queries_move_the_counters_and_the_latency_histogram(secured: StoreProcess) -> None:
    boss = ("boss", "boss-pw")
    admin = secured.client(username="boss", password="boss-pw")
    viewer = secured.client(username="viewer", password="viewer-pw")
    admin.command("CREATE TABLE IF NOT EXISTS m_rows (x UInt64) ENGINE = MergeTree ORDER BY x")
    admin.insert("m_rows", [[i] for i in range(1000)], column_names=["x"])
    admin.insert("m_rows", [[i] for i in range(1000, 1500)], column_names=["x"])
    before = scrape(secured.url, boss)

    for _ in range(5):
        assert viewer.query("SELECT count() FROM m_rows").result_rows == [(1500,)]
    rows = viewer.query("SELECT x FROM m_rows ORDER BY x LIMIT 100").result_rows
    assert len(rows) == 100
    with pytest.raises(Exception, match=r"READONLY|readonly"):
        viewer.command("INSERT INTO m_rows VALUES (1)")
    with pytest.raises(Exception, match=r"UNKNOWN_TABLE|does not exist"):
        viewer.query("SELECT * FROM no_such_table")
    after = scrape(secured.url, boss)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # clickhouse-connect also runs a query of its own per client (version, settings): at least ours count
    assert moved("mi_store_queries_total", user="viewer", kind="read", outcome="ok") >= 6
    assert moved("mi_store_queries_total", user="viewer", kind="insert", outcome="refused") == 1
    assert moved("mi_store_queries_total", user="viewer", kind="read", outcome="error") == 1
    assert moved("mi_store_errors_total", code="UNKNOWN_TABLE") == 1
    assert moved("mi_store_errors_total", code="READONLY") == 1
    # the last query returned 100 rows of UInt64; the five counts one row each
    assert moved("mi_store_result_rows_total", user="viewer") >= 105
    assert moved("mi_store_result_bytes_total", user="viewer") >= 800
    assert moved("mi_store_read_rows_total", user="viewer") >= 100
    # every statement that ran is one observation of the histogram; the refused one is not
    ran = moved("mi_store_queries_total", user="viewer", kind="read", outcome="ok") + 1
    assert moved("mi_store_query_duration_seconds_count", kind="read") >= ran
    inf = moved("mi_store_query_duration_seconds_bucket", kind="read", le="+Inf")
    assert inf == moved("mi_store_query_duration_seconds_count", kind="read")
    assert moved("mi_store_query_duration_seconds_sum", kind="read") > 0
    # the tables' sizes and the recent-latency percentiles (ordered), read at scrape time
    assert value(after, "mi_store_table_rows", database="default", table="m_rows") == 1500
    assert value(after, "mi_store_table_parts", database="default", table="m_rows") >= 1
    assert value(after, "mi_store_table_bytes_on_disk", database="default", table="m_rows") > 0
    p50 = value(after, "mi_store_query_latency_recent_seconds", kind="read", quantile="0.5")
    p99 = value(after, "mi_store_query_latency_recent_seconds", kind="read", quantile="0.99")
    assert 0 < p50 <= p99
    assert value(after, "mi_store_query_latency_recent_count", kind="read") >= ran
    assert value(after, "mi_store_disk_free_bytes") > 0
    assert value(after, "mi_store_uptime_seconds") > 0
    assert value(after, "mi_store_running_queries", kind="read") == 0


def test_metrics_take_the_credentials_of_a_query(secured: StoreProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(secured.url)  # the default user is not in this users file
    refused.value.close()
    assert refused.value.code in (401, 403)
    with pytest.raises(urllib.error.HTTPError) as wrong:
        scrape(secured.url, ("viewer", "not-the-password"))
    wrong.value.close()
    assert wrong.value.code == 403
    assert value(scrape(secured.url, ("viewer", "viewer-pw")), "mi_store_requests_active") >= 0


def test_the_open_default_store_answers_metrics_on_loopback(store: StoreProcess) -> None:
    samples = scrape(store.url)
    assert any(name == "mi_store_uptime_seconds" for name, _ in samples)


def test_a_running_query_is_counted_while_it_runs(secured: StoreProcess) -> None:
    import threading

    admin = secured.client(username="boss", password="boss-pw", autogenerate_session_id=False)
    done = threading.Event()

    def slow() -> None:
        try:
            admin.query("SELECT sleep(1), sleep(1)")
        finally:
            done.set()

    threading.Thread(target=slow, daemon=True).start()
    deadline = time.monotonic() + 10
    seen = 0.0
    while not done.is_set() and time.monotonic() < deadline:
        seen = max(
            seen, value(scrape(secured.url, ("boss", "boss-pw")), "mi_store_running_queries", kind="read")
        )
        if seen:
            break
        time.sleep(0.05)
    assert seen == 1
    done.wait(10)


def test_the_latency_window_forgets_old_statements_and_ranks_exactly() -> None:
    now = [0.0]
    window = LatencyWindow(window_s=60, max_items=1000, clock=lambda: now[0])
    for ms in range(1, 101):  # 1 ms .. 100 ms
        window.add("read", ms / 1000)
    window.add("insert", 2.0)
    result = window.percentiles()
    count, values = result["read"]
    assert count == 100 and values == {0.5: 0.05, 0.95: 0.095, 0.99: 0.099}
    assert result["all"][0] == 101 and result["all"][1][0.99] == 0.1
    now[0] = 61.0
    assert window.percentiles() == {}
