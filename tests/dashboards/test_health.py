"""The platform health page: what it reads and draws, and how a live refresh reaches the browser."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from bokeh.document import Document
from bokeh.document.events import ColumnDataChangedEvent, ColumnsPatchedEvent, ColumnsStreamedEvent

from marketintel.dashboards import data
from marketintel.dashboards.health import LOCAL_TZ, Health, Snapshot
from marketintel.dashboards.page import LOCAL, frame_bytes
from marketintel.figures.health import source_of
from marketintel.services import health
from tests.storeproc import free_port


@pytest.fixture
def page(db_client: Any, sample: Any, monkeypatch: pytest.MonkeyPatch) -> Health:
    """The page on the sample store, with Prefect not running and no hub configured."""
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setattr(data, "_shared", {})
    return Health(client=db_client, prefect_api_url=f"http://127.0.0.1:{free_port()}/api")


def test_the_page_shows_the_store_and_says_which_sources_are_down(
    page: Health, db_client: Any, sample_db: str
) -> None:
    snap = page.snapshot
    assert snap is not None and snap.store.status.up and not snap.prefect.status.up and not snap.hub.status.up
    status = page._status.object
    assert "**store** | up: " in status and "**Prefect** | down: http://127.0.0.1:" in status
    assert "**hub** | down: not configured" in status and "**dashboards** | up: " in status
    assert page.message.startswith("**Some sources are down.**") and "Prefect down" in page.message
    assert "mi prefect up" in page._prefect_note.object and page._store_note.object == ""
    (prices,) = db_client.query(f"SELECT count() FROM {sample_db}.prices FINAL").result_rows[0]
    shown = page._tables_table.value
    row = shown[(shown["database"] == sample_db) & (shown["table"] == "prices")]
    assert len(row) == 1 and int(row["rows"].iloc[0]) >= prices > 0
    assert "last modified [UTC]" in shown.columns
    tables = source_of(page.tables_figure, "tables").data
    assert (
        f"{sample_db}.prices" in tables["table"]
        and page.tables_figure.xaxis.axis_label == "size on disk [MiB]"
    )
    assert page.tables_figure.y_range.factors == tables["table"]
    # the session store runs this code: its /metrics gives a latency reading, drawn in milliseconds
    latency = source_of(page.latency_figure, "latency").data
    assert len(latency["time"]) == 1 and 0 < latency["p50_ms"][0] <= latency["p99_ms"][0]
    assert page.latency_figure.yaxis.axis_label == "query latency [ms]"
    csv = frame_bytes(page._frame("tables"), "csv").decode()
    assert f"{sample_db},prices," in csv


def test_the_measure_and_the_zone_change_what_is_drawn(page: Health, sample_db: str) -> None:
    page.measure = "rows"
    data = source_of(page.tables_figure, "tables").data
    at = data["table"].index(f"{sample_db}.prices")
    tables = page.snapshot.store.tables  # type: ignore[union-attr]
    stored = tables[(tables["database"] == sample_db) & (tables["table"] == "prices")]["rows"].iloc[0]
    assert data["value"][at] == stored and page.tables_figure.xaxis.axis_label == "rows [rows]"
    assert data["table"] == sorted(data["table"], key=lambda t: data["value"][data["table"].index(t)])
    page.measure = "parts"
    assert page.tables_figure.xaxis.axis_label == "active parts [parts]"
    before = pd.Timestamp(source_of(page.latency_figure, "latency").data["time"][0])
    page.tz = LOCAL
    assert page.durations_figure.xaxis.axis_label == f"run start [{LOCAL_TZ}]"
    assert page.latency_figure.xaxis.axis_label == f"time [{LOCAL_TZ}]"
    after = pd.Timestamp(source_of(page.latency_figure, "latency").data["time"][0])
    offset = pd.Timestamp(before).tz_localize("UTC").tz_convert(LOCAL_TZ).utcoffset()
    assert after - before == offset
    assert f"last modified [{LOCAL_TZ}]" in page._tables_table.value.columns


def _runs(rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
    """Runs frame of (run id, state type, duration [s]) rows, one minute apart from 10:00 UTC."""
    start = pd.Timestamp("2026-12-07 10:00", tz="UTC")
    frame = pd.DataFrame({
        "run_id": [r[0] for r in rows], "flow": "ingest", "deployment": "d", "run_name": [r[0] for r in rows],
        "state_type": [r[1] for r in rows], "state_name": [r[1].title() for r in rows],
        "expected_start_utc": [start + pd.Timedelta(minutes=i) for i in range(len(rows))],
        "start_utc": [start + pd.Timedelta(minutes=i) for i in range(len(rows))],
        "end_utc": pd.NaT, "duration_s": [r[2] for r in rows], "message": "",
    })  # fmt: skip
    return frame.astype({"duration_s": float})


def _with_runs(snap: Snapshot, runs: pd.DataFrame) -> Snapshot:
    counts = runs["state_type"].value_counts()
    by_state = pd.DataFrame({"state_type": list(health.STATE_TYPES),
                             "runs": [int(counts.get(s, 0)) for s in health.STATE_TYPES]})  # fmt: skip
    status = health.SourceStatus("Prefect", True, "up: test", pd.Timestamp.now(tz="UTC"))
    prefect = health.PrefectHealth(
        status, by_state, runs, runs[runs["state_type"] == "FAILED"], runs.iloc[:0]
    )
    return Snapshot(snap.store, prefect, snap.hub, snap.dashboards, pd.Timestamp.now(tz="UTC"))


def test_a_refresh_streams_new_runs_and_patches_changed_ones(page: Health) -> None:
    assert page.snapshot is not None
    doc = Document()
    doc.add_root(page.durations_figure)
    doc.add_root(page.state_figure)
    page.apply(_with_runs(page.snapshot, _runs([("a", "COMPLETED", 5.0), ("b", "RUNNING", 1.0)])))
    events: list[Any] = []
    doc.on_change(events.append)
    page.apply(_with_runs(page.snapshot, _runs([("a", "COMPLETED", 5.0), ("b", "FAILED", 9.0),
                                                ("c", "RUNNING", 2.0)])))  # fmt: skip
    durations = source_of(page.durations_figure, "durations")
    assert durations.data["run_id"] == ["a", "b", "c"] and list(durations.data["state"]) == [
        "COMPLETED", "FAILED", "RUNNING"]  # fmt: skip
    assert list(durations.data["duration_s"]) == [5.0, 9.0, 2.0]
    streamed = [e for e in events if isinstance(e, ColumnsStreamedEvent)]
    patched = [e for e in events if isinstance(e, ColumnsPatchedEvent)]
    assert [len(e.data["run_id"]) for e in streamed if e.model is durations] == [1]  # only the new run
    assert any(e.model is durations and "state" in e.patches for e in patched)  # b: RUNNING -> FAILED
    states = source_of(page.state_figure, "runs")
    assert any(e.model is states for e in patched)  # the counts by state: patched, not replaced
    assert not [e for e in events if isinstance(e, ColumnDataChangedEvent) and e.model in (durations, states)]
    failures = page._failures_table.value
    assert list(failures["run"]) == ["b"] and "start [UTC]" in failures.columns
    # nothing changed: nothing is sent
    events.clear()
    page.apply(_with_runs(page.snapshot, _runs([("a", "COMPLETED", 5.0), ("b", "FAILED", 9.0),
                                                ("c", "RUNNING", 2.0)])))  # fmt: skip
    assert not [e for e in events if getattr(e, "model", None) in (durations, states)]


def test_the_live_switch_has_no_effect_outside_a_session(page: Health) -> None:
    assert page._callback is None  # no browser session: no periodic callback
    page.live = False
    page.refresh_s = 2.0
    assert page.refreshes == 1
    page.refresh()
    assert page.refreshes == 2
