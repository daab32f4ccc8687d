"""SPP on its real recorded files: LMPs, SPP West interchange, grid conditions, DST windows, replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.spp.grid_conditions import parse_grid_conditions
from marketintel.connectors.spp.ingestor import SPPIngestor
from marketintel.connectors.spp.interchange import parse_interchange
from marketintel.ingest.http import HttpClient, RecordingMissingError, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

SPP = shared_dir() / "fixtures" / "spp"
pytestmark = pytest.mark.skipif(
    not SPP.is_dir(), reason=f"recorded SPP files not found at {SPP} (MI_SHARED_DIR)"
)
LMP_FILES = sorted(p for p in SPP.glob("*LMP-SL-*.csv") if p.stat().st_size > 0) if SPP.is_dir() else []
#: every recording but the 0-byte RTBM file, which is a bad payload (tested on its own)
FILES = sorted(p for p in SPP.iterdir() if p.stat().st_size > 0) if SPP.is_dir() else []
TREND = SPP / "interchange-trend-swpw_asFile_recorded_2026-04-02.csv"


def _parse(path: Path) -> tuple[str, pd.DataFrame]:
    return parse_file("spp", path)


class TestSPPContract(ConnectorContract):
    source = "spp"
    files = FILES


def test_every_recorded_file_is_covered() -> None:
    assert len(FILES) == 10 and {p.name for p in SPP.iterdir()} - {p.name for p in FILES} == {
        "RTBM-LMP-SL-202503310845.csv"
    }


def test_empty_file_is_a_one_line_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    from marketintel.cli import main

    assert main(["connectors", "parse", "spp", str(SPP / "RTBM-LMP-SL-202503310845.csv")]) == 2
    err = capsys.readouterr().err
    assert err == "mi: error: empty file (SPP serves 0-byte files for intervals not yet published)\n"


def test_west_interchange_trend() -> None:
    dataset, df = _parse(TREND)
    assert dataset == "interchange_west_trend" and len(df) == 1440 * 9 + 2880
    at = df[df["interval_start_utc"] == pd.Timestamp("2026-04-01 17:20", tz="UTC")].set_index(
        ["variable", "area_to"]
    )
    assert at.loc[("net_actual_interchange", ""), "value"] == -94.16
    assert at.loc[("net_scheduled_interchange", ""), "value"] == -100.7
    assert at.loc[("tie_flow_actual", "PACE"), "value"] == 689.95 and (at["area"] == "SWPW").all()
    assert at.loc[("tie_flow_actual", "PACE"), "interval_end_utc"] == pd.Timestamp(
        "2026-04-01 17:21", tz="UTC"
    )
    # actuals stop at 2026-04-02 17:19Z (the serve time); NSI Future runs 24 h further, issued then
    future = df[df["variable"] == "net_scheduled_interchange_future"]
    assert len(future) == 2880 and future["interval_start_utc"].max() == pd.Timestamp(
        "2026-04-03 17:19", tz="UTC"
    )
    assert (future["published_at_utc"] == pd.Timestamp("2026-04-02 17:20", tz="UTC")).all()
    assert df.loc[df["variable"] == "tie_flow_actual", "interval_start_utc"].max() == pd.Timestamp(
        "2026-04-02 17:19", tz="UTC"
    )


def test_west_tie_flow_monthly_file() -> None:
    dataset, df = _parse(SPP / "TieFlows_SWPW_Mar2026.csv")
    assert dataset == "tie_flows_west_monthly" and len(df) == 8634 * 9
    assert set(df["area_to"]) == {"", "APS", "BHBA", "NWMT", "PACE", "PNM", "PSCO", "WALC"}
    # the archive of March 2026 (before the RTO West go-live of 2026-04-01) is all zeros as served
    assert (df["value"] == 0).all()
    assert df["interval_start_utc"].min() == pd.Timestamp("2026-03-25 05:00", tz="UTC")  # 00:00 CDT
    assert (df["published_at_utc"] == df["interval_end_utc"]).all()


def test_grid_conditions_pages_to_alerts() -> None:
    dataset, feb15 = _parse(SPP / "grid-conditions-20210215.html")
    assert dataset == "grid_conditions" and list(feb15["title"]) == ["EEA Level 2", "EEA Level 3"]
    current = feb15.iloc[1]  # "At 10:08 a.m. Central time on Feb. 15, SPP declared an ... EEA Level 3"
    assert (current["status"], current["severity"], current["raised_at_utc"]) == (
        "open", "critical", pd.Timestamp("2021-02-15 16:08", tz="UTC")
    )  # fmt: skip
    # "last updated Feb. 15 at 11:08 a.m." has no year: the Wayback capture stamp (2021) gives it
    assert (feb15["updated_at_utc"] == pd.Timestamp("2021-02-15 17:08", tz="UTC")).all()
    assert (feb15["category"] == "grid_condition").all() and (feb15["market"] == "SPP").all()
    _, feb17 = _parse(SPP / "grid-conditions-20210217.html")
    assert len(feb17) == 13 and list(feb17["status"]).count("open") == 1
    # the same EEA 3 declaration read two days later is the same alert, now ended
    again = feb17.set_index("alert_id").loc[current["alert_id"]]
    assert again["status"] == "resolved" and again["title"] == "EEA Level 3"
    first = feb17.iloc[0]  # "Feb. 9 at 00:00 a.m. ... SPP first declared a period of conservative operations"
    assert (first["title"], first["raised_at_utc"]) == (
        "Conservative Operations Advisory", pd.Timestamp("2021-02-09 06:00", tz="UTC")
    )  # fmt: skip
    _, oct10 = _parse(SPP / "grid-conditions-20221010.html")
    assert list(oct10[["title", "severity", "status"]].iloc[0]) == ["Normal Operations", "info", "open"]
    _, jan1 = _parse(SPP / "grid-conditions-20230101.html")
    note = jan1[jan1["title"] == "Weather Advisory"].iloc[0]  # "effective from 8:00 p.m. on ... Dec. 21"
    assert (
        note["raised_at_utc"] == pd.Timestamp("2022-12-22 02:00", tz="UTC") and note["status"] == "resolved"
    )


@pytest.mark.parametrize(
    ("parse", "body", "reason"),
    [
        (parse_interchange, b"", "empty file"),
        (parse_interchange, b"<html>Login</html>", "HTML page"),
        (parse_interchange, b"GMTTime,SWPW NAI\n2026-04-01T17:20:00Z,1\n", "missing \\['NSI'\\]"),
        (parse_interchange, b"GMTTime,SWPW NSI,SWPW NAI\n2026-04-01T17:20:00Z,x,1\n", "non-numeric 'NSI'"),
        (lambda b: parse_grid_conditions(b, pd.Timestamp.now(tz="UTC")), b"<html><h1>Oops</h1></html>",
         "no <h1>Current Grid Conditions"),
        (lambda b: parse_grid_conditions(b, pd.Timestamp.now(tz="UTC")),
         b"<h1>Current Grid Conditions</h1><p>SPP is in Normal Operations.</p>", "no 'last updated'"),
    ],
)  # fmt: skip
def test_bad_payloads(parse: Any, body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(body)


def test_replay_builds_the_recorded_interchange_requests(tmp_path: Path) -> None:
    monthly = (
        "https://portal.spp.org/file-browser-api/download/historical-tie-flow?path=/TieFlows_SWPW_Mar2026.csv"
    )
    trend = "https://portal.spp.org/chart-api/interchange-trend-swpw/asFile"  # the manifest's requests
    index = {}
    for url, path in ((monthly, SPP / "TieFlows_SWPW_Mar2026.csv"), (trend, TREND)):
        (tmp_path / path.name).write_bytes(path.read_bytes())
        index[request_key("GET", url, None)] = {"file": path.name, "status": 200}
    (tmp_path / "index.json").write_text(json.dumps(index))
    ing = SPPIngestor(http=HttpClient("replay", tmp_path))
    start, end = pd.Timestamp("2026-03-25 05:00", tz="UTC"), pd.Timestamp("2026-03-31 05:00", tz="UTC")
    [month] = list(ing.pull_or_subscribe(PullRequest("tie_flows_west_monthly", start, end)))
    assert month.url == monthly and month.window_start_utc == pd.Timestamp("2026-03-01 06:00", tz="UTC")
    assert month.window_end_utc == pd.Timestamp("2026-04-01 05:00", tz="UTC")  # the Central month
    [now] = list(ing.pull_or_subscribe(PullRequest("interchange_west_trend", start, end)))
    assert now.url == trend and len(ing.map_to_schema(now)) == 15_840


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
    report = ingest(SPPIngestor(http=http), PullRequest("lmp_real_time_5min", *window), client)
    assert (report.payloads, report.rows, len(report.quarantined)) == (4, 3 * 1234, 1)
    assert "empty file" in report.quarantined[0][1]
    assert client.command("SELECT count() FROM prices FINAL WHERE market = 'SPP_REAL_TIME_5MIN'") == 3 * 1234
    with pytest.raises(RecordingMissingError):  # one interval further was not recorded
        ingest(
            SPPIngestor(http=http),
            PullRequest("lmp_real_time_5min", window[0], window[1] + pd.Timedelta("5min")),
            client,
        )
