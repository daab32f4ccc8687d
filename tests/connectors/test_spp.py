"""SPP on its real recorded files: parsing, the contract, DST windows, replay into the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from marketintel.connectors.base import ParseError, PullRequest
from marketintel.connectors.http import HttpClient, RecordingMissingError, request_key
from marketintel.connectors.runner import ingest
from marketintel.connectors.spp.ingestor import SPPIngestor

from marketintel.config import shared_dir
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

SPP = shared_dir() / "fixtures" / "spp"
pytestmark = pytest.mark.skipif(
    not SPP.is_dir(), reason=f"recorded SPP files not found at {SPP} (MI_SHARED_DIR)"
)
LMP_FILES = sorted(p for p in SPP.glob("*LMP-SL-*.csv") if p.stat().st_size > 0) if SPP.is_dir() else []


def _parse(path: Path) -> tuple[str, pd.DataFrame]:
    return parse_file("spp", path)


class TestSPPContract(ConnectorContract):
    source = "spp"
    files = LMP_FILES


def test_day_ahead_file() -> None:
    dataset, df = _parse(SPP / "DA-LMP-SL-202503190100.csv")
    assert dataset == "lmp_day_ahead_hourly" and len(df) == 29_616
    assert df["location"].nunique() == 1234 and (df.groupby("location").size() == 24).all()
    assert df["interval_start_utc"].min() == pd.Timestamp("2025-03-19 05:00", tz="UTC")  # 00:00 CDT
    assert (df["published_at_utc"] == pd.Timestamp("2025-03-18 19:00", tz="UTC")).all()  # 14:00 CDT before
    np.testing.assert_allclose(df["energy"] + df["congestion"] + df["loss"], df["price"], atol=2e-4)
    assert set(df.loc[df["location_type"] == "hub", "location"]) == {"SPPNORTH_HUB", "SPPSOUTH_HUB"}


def test_real_time_files_and_the_empty_one() -> None:
    frames = [_parse(SPP / f"RTBM-LMP-SL-2025033108{m}.csv")[1] for m in ("40", "50", "55")]
    for df, end in zip(frames, ("13:40", "13:50", "13:55"), strict=True):
        assert (
            len(df) == 1234 and (df["interval_end_utc"] == pd.Timestamp(f"2025-03-31 {end}", tz="UTC")).all()
        )
        assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta("5min")).all()
    with pytest.raises(ParseError, match="empty file"):
        _parse(SPP / "RTBM-LMP-SL-202503310845.csv")


def test_windows_on_dst_days_count_23_and_25_hours() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.urls: list[str] = []

        def get(self, source: str, url: str, params: Any = None, *, min_interval_s: float = 1.0) -> Any:
            self.urls.append(url)
            return type("R", (), {"body": b"", "status": 200, "content_type": "text/csv"})()

    # On 2025-11-02 (25 h) the repeated 01:xx hour has the same local file names as the first: 24 h of
    # distinct files are fetched and the naming of the repeated hour's files stays unverified.
    for day, hours in (("2025-03-09", 23), ("2025-11-02", 24), ("2025-03-19", 24)):
        start = pd.Timestamp(day).tz_localize("America/Chicago").tz_convert("UTC")
        end = (pd.Timestamp(day) + pd.Timedelta(days=1)).tz_localize("America/Chicago").tz_convert("UTC")
        rt, da = Recorder(), Recorder()
        payloads = list(SPPIngestor(http=rt).pull_or_subscribe(PullRequest("lmp_real_time_5min", start, end)))
        assert len(payloads) == hours * 12 and len(set(rt.urls)) == hours * 12
        covered = sum((p.window_end_utc - p.window_start_utc for p in payloads), pd.Timedelta(0))
        assert covered == pd.Timedelta(hours=hours)
        list(SPPIngestor(http=da).pull_or_subscribe(PullRequest("lmp_day_ahead_hourly", start, end)))
        assert da.urls == [
            SPPIngestor().file_url("lmp_day_ahead_hourly", pd.Timestamp(day, tz="America/Chicago"))
        ]


def _recordings(tmp: Path) -> Path:
    """A replay folder of the recorded RTBM files, keyed by the requests the connector builds."""
    ing = SPPIngestor()
    index = {}
    for minute in ("40", "45", "50", "55"):
        local_end = pd.Timestamp(f"2025-03-31 08:{minute}", tz="America/Chicago")
        key = request_key("GET", ing.file_url("lmp_real_time_5min", local_end), None)
        name = f"RTBM-LMP-SL-2025033108{minute}.csv"
        (tmp / name).write_bytes((SPP / name).read_bytes())
        index[key] = {"file": name, "status": 200, "content_type": "text/csv"}
    (tmp / "index.json").write_text(json.dumps(index))
    return tmp


def test_replay_ingest_into_the_store(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    http = HttpClient("replay", _recordings(tmp_path))
    window = (pd.Timestamp("2025-03-31 13:35", tz="UTC"), pd.Timestamp("2025-03-31 13:55", tz="UTC"))
    report = ingest(SPPIngestor(http=http, store=client), PullRequest("lmp_real_time_5min", *window))
    assert (report.payloads, report.rows, len(report.quarantined)) == (4, 3 * 1234, 1)
    assert "empty file" in report.quarantined[0][1]
    assert client.command("SELECT count() FROM prices FINAL WHERE market = 'SPP_REAL_TIME_5MIN'") == 3 * 1234
    with pytest.raises(RecordingMissingError):  # one interval further was not recorded
        ingest(
            SPPIngestor(http=http, store=client),
            PullRequest("lmp_real_time_5min", window[0], window[1] + pd.Timedelta("5min")),
        )
