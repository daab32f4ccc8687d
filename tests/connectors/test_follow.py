"""Following a dataset: a recorded SPP real-time sequence played back at 600x through the real runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.spp.ingestor import SPPIngestor
from marketintel.ingest.follow import ReplayClock, follow
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import RunReport
from marketintel.store import migrate
from tests.storeproc import StoreProcess

SPP = shared_dir() / "fixtures" / "spp"
pytestmark = pytest.mark.skipif(
    not SPP.is_dir(), reason=f"recorded SPP files not found at {SPP} (MI_SHARED_DIR)"
)


def spp_rt_recordings(folder: Path) -> Path:
    """Replay folder of the four recorded RTBM files, keyed by the requests the SPP connector builds."""
    index = {}
    for minute in ("40", "45", "50", "55"):
        url = SPPIngestor().file_url(
            "lmp_real_time_5min", pd.Timestamp(f"2025-03-31 08:{minute}", tz="America/Chicago")
        )
        name = f"RTBM-LMP-SL-2025033108{minute}.csv"
        (folder / name).write_bytes((SPP / name).read_bytes())
        index[request_key("GET", url, None)] = {"file": name, "status": 200, "content_type": "text/csv"}
    (folder / "index.json").write_text(json.dumps(index))
    return folder


def test_follow_ingests_each_interval_once_after_it_ends(
    store: StoreProcess, ch_database: str, tmp_path: Path
) -> None:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    start = pd.Timestamp("2025-03-31 13:35", tz="UTC")
    clock = ReplayClock(start + pd.Timedelta(minutes=1), speed=600)  # 5 simulated minutes = 0.5 s
    seen: list[tuple[pd.Timestamp, Any]] = []

    def on_report(report: RunReport) -> None:
        seen.append((clock.now(), report.watermark_utc))

    ingestor = SPPIngestor(http=HttpClient("replay", spp_rt_recordings(tmp_path)))
    reports = follow(ingestor, "lmp_real_time_5min", start, client, clock=clock,
                     until_utc=pd.Timestamp("2025-03-31 13:56", tz="UTC"), on_report=on_report)  # fmt: skip
    assert sum(r.payloads for r in reports) == 4 and sum(r.rows for r in reports) == 3 * 1234
    assert [reason for r in reports for _, reason in r.quarantined] == [
        "ParseError: empty file (SPP serves 0-byte files for intervals not yet published)"
    ]
    assert all(now >= watermark for now, watermark in seen)  # nothing asked for before it ended
    assert len(seen) >= 3  # one window per interval, not one batch at the end
    ends = client.query("SELECT DISTINCT interval_end_utc FROM prices FINAL ORDER BY 1").result_rows
    assert [pd.Timestamp(e).strftime("%H:%M") for (e,) in ends] == ["13:40", "13:50", "13:55"]


def test_daily_intervals_follow_the_publishers_local_midnight() -> None:
    from marketintel.ingest.follow import floor_interval, next_interval

    day = pd.Timedelta(days=1)
    # a CET delivery day starts at 23:00 UTC in winter, 22:00 in summer; the autumn day has 25 hours
    at = pd.Timestamp("2025-10-26 12:00", tz="UTC")
    assert floor_interval(at, day, "Europe/Berlin") == pd.Timestamp("2025-10-25 22:00", tz="UTC")
    assert next_interval(pd.Timestamp("2025-10-25 22:00", tz="UTC"), day, "Europe/Berlin") == pd.Timestamp(
        "2025-10-26 23:00", tz="UTC"
    )
    # AEST days start at 14:00 UTC; five minutes stay on the UTC grid
    assert floor_interval(pd.Timestamp("2025-01-01 13:59", tz="UTC"), day, "Australia/Brisbane") == (
        pd.Timestamp("2024-12-31 14:00", tz="UTC")
    )
    five = pd.Timedelta(minutes=5)
    assert floor_interval(pd.Timestamp("2025-01-01 13:59", tz="UTC"), five, "Australia/Brisbane") == (
        pd.Timestamp("2025-01-01 13:55", tz="UTC")
    )


def test_day_ahead_data_is_asked_for_when_the_auction_has_published_it() -> None:
    """A negative lag (published before delivery): at 12:50 CET the next delivery day is available."""
    from marketintel.ingest.follow import floor_interval

    day = pd.Timedelta(days=1)
    lag = -pd.Timedelta(hours=35, minutes=10)  # day D ends at D+1 00:00; published at D-1 12:50
    before = pd.Timestamp("2025-01-14 12:49", tz="Europe/Berlin").tz_convert("UTC")
    after = pd.Timestamp("2025-01-14 12:51", tz="Europe/Berlin").tz_convert("UTC")
    assert floor_interval(before - lag, day, "Europe/Berlin") == pd.Timestamp("2025-01-14 23:00", tz="UTC")
    # after publication, the boundary moves to the end of the 15th: delivery day 2025-01-15 is due
    assert floor_interval(after - lag, day, "Europe/Berlin") == pd.Timestamp("2025-01-15 23:00", tz="UTC")
