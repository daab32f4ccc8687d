"""The SDK runner: archive every payload, quarantine bad ones, emit idempotently, resume after a kill."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from marketintel.ingest.runner import ingest, read_watermark
from marketintel.ingest.sdk import PullRequest, RawPayload
from marketintel.store import migrate
from tests.connectors.toy import ToyIngestor
from tests.storeproc import StoreProcess

JAN = (pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-11", tz="UTC"))


@pytest.fixture
def db_client(store: StoreProcess, ch_database: str) -> Iterator[Any]:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    yield client
    client.close()


def _prices(client: Any) -> tuple[int, int]:
    return client.query("SELECT count(), uniqExact(interval_start_utc) FROM prices FINAL").result_rows[0]


def test_ingest_archives_emits_and_checkpoints(db_client: Any) -> None:
    report = ingest(ToyIngestor(), PullRequest("daily", *JAN), db_client)
    assert (report.payloads, report.rows, report.quarantined) == (10, 240, [])
    assert _prices(db_client) == (240, 240)
    statuses = db_client.query("SELECT status, count() FROM raw_payloads FINAL GROUP BY status").result_rows
    assert statuses == [("ok", 10)]
    assert read_watermark(db_client, "toy", "daily") == JAN[1]
    again = ingest(ToyIngestor(), PullRequest("daily", *JAN), db_client)  # nothing left to do
    assert again.payloads == 0 and again.resumed_from_utc == JAN[1]
    assert _prices(db_client) == (240, 240)


def test_bad_payloads_are_quarantined_with_reasons_and_the_run_goes_on(db_client: Any) -> None:
    bad = {
        "2024-01-02": b"<html><body>Service unavailable</body></html>",
        "2024-01-03": b"",
        "2024-01-04": b"start,price_eur\n2024-01-04T00:00:00Z,1\n",
        "2024-01-05": b"interval_start_utc,price\nnot-a-time,1\n",
    }
    report = ingest(ToyIngestor(overrides=bad), PullRequest("daily", *JAN), db_client)
    reasons = dict(report.quarantined)
    assert report.payloads == 10 and len(reasons) == 4
    assert "HTML page" in reasons["toy://2024-01-02.csv"]
    assert "empty body" in reasons["toy://2024-01-03.csv"]
    assert "changed header" in reasons["toy://2024-01-04.csv"]
    assert "not-a-time" in reasons["toy://2024-01-05.csv"]
    assert _prices(db_client) == (6 * 24, 6 * 24)
    kept = db_client.query(
        "SELECT url, status, reason != '', size_bytes FROM raw_payloads FINAL "
        "WHERE status = 'quarantined' ORDER BY url"
    ).result_rows
    assert [(u, s, r) for u, s, r, _ in kept] == [(u, "quarantined", True) for u in sorted(reasons)]
    assert [n for *_, n in kept] == [len(bad[u[6:16]]) for u in sorted(reasons)]  # every byte kept


def test_a_run_killed_in_the_middle_resumes_without_gap_or_duplicate(
    store: StoreProcess, db_client: Any, ch_database: str
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "tests.connectors.toy",
        str(store.port),
        ch_database,
        "2024-01-01",
        "2024-01-21",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    done = 0
    for line in proc.stdout:  # wait for a few payloads, then kill -9 mid-run
        done += "rows" in line
        if done == 5:
            break
    time.sleep(0.15)
    proc.kill()
    proc.wait(30)
    proc.stdout.close()
    watermark = read_watermark(db_client, "toy", "daily")
    assert watermark is not None and pd.Timestamp("2024-01-06", tz="UTC") <= watermark < pd.Timestamp(
        "2024-01-21", tz="UTC"
    )
    report = ingest(
        ToyIngestor(),
        PullRequest("daily", pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-21", tz="UTC")),
        db_client,
    )
    assert report.resumed_from_utc == watermark
    assert _prices(db_client) == (20 * 24, 20 * 24)  # every hour once: no gap, no duplicate
    hours = db_client.query(
        "SELECT min(interval_start_utc), max(interval_start_utc) FROM prices FINAL"
    ).result_rows[0]
    assert pd.Timestamp(hours[1]) - pd.Timestamp(hours[0]) == pd.Timedelta(hours=20 * 24 - 1)


def test_a_payload_the_mapping_could_place_only_in_part_is_kept_as_partial(db_client: Any) -> None:
    class OneHourUnplaceable(ToyIngestor):
        def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
            frame = super().map_to_schema(raw)
            if raw.url.endswith("2024-01-02.csv"):  # as a publisher's file on a DST day can be
                frame = frame.iloc[1:].reset_index(drop=True)
                frame.attrs["left_out"] = "hour ending 1 left out: it cannot be placed"
            return frame

    report = ingest(OneHourUnplaceable(), PullRequest("daily", *JAN), db_client)
    assert report.rows == 239 and report.quarantined == []
    assert report.partial == [("toy://2024-01-02.csv", "hour ending 1 left out: it cannot be placed")]
    assert "partial toy://2024-01-02.csv" in str(report)
    rows = db_client.query("SELECT url, reason FROM raw_payloads FINAL WHERE status = 'partial'").result_rows
    assert rows == [("toy://2024-01-02.csv", "hour ending 1 left out: it cannot be placed")]


def test_an_answer_with_no_rows_yet_is_not_checkpointed_and_asked_again(db_client: Any) -> None:
    """A day the publisher has not published (a valid answer with no rows) stops the run before it."""
    not_yet = {"2024-01-04": b"interval_start_utc,price\n"}  # the header alone: nothing published yet
    lines: list[str] = []
    report = ingest(
        ToyIngestor(overrides=not_yet), PullRequest("daily", *JAN), db_client, progress=lines.append
    )
    assert (report.payloads, report.rows, report.quarantined) == (4, 3 * 24, [])
    assert report.watermark_utc == pd.Timestamp("2024-01-04", tz="UTC")
    assert report.waiting_for == ("toy://2024-01-04.csv", pd.Timestamp("2024-01-04", tz="UTC"))
    assert "not checkpointed" in str(report) and "no rows yet" in lines[-1]
    assert read_watermark(db_client, "toy", "daily") == pd.Timestamp("2024-01-04", tz="UTC")
    status = db_client.query("SELECT status FROM raw_payloads FINAL WHERE url = 'toy://2024-01-04.csv'")
    assert status.result_rows == [("no_data",)]
    later = ingest(ToyIngestor(), PullRequest("daily", *JAN), db_client)  # now published: no gap
    assert later.resumed_from_utc == pd.Timestamp("2024-01-04", tz="UTC") and later.rows == 7 * 24
    assert _prices(db_client) == (240, 240)


def test_an_empty_answer_without_a_window_is_archived_and_the_run_goes_on(db_client: Any) -> None:
    """One zone of several without rows (its window rides on the day's last payload) does not stop a run."""

    class Zones(ToyIngestor):
        def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
            for raw in super().pull_or_subscribe(request):
                yield RawPayload("toy", raw.dataset, raw.url + "#other-zone", b"interval_start_utc,price\n",
                                 raw.fetched_at_utc)  # fmt: skip
                yield raw

    report = ingest(Zones(), PullRequest("daily", *JAN), db_client)
    assert (report.payloads, report.rows, report.waiting_for) == (20, 240, None)
    assert read_watermark(db_client, "toy", "daily") == JAN[1]
    status = db_client.query("SELECT status, count() FROM raw_payloads FINAL GROUP BY status ORDER BY 1")
    assert status.result_rows == [("no_data", 1), ("ok", 10)]  # the ten empty bodies are one payload
