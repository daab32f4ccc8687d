"""PJM on its real recorded Data Miner answers: every file, the contract, DST, bad payloads, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.pjm.ingestor import BASE, PJMIngestor
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

PJM = shared_dir() / "fixtures" / "pjm" / "dataminer_api"
pytestmark = pytest.mark.skipif(
    not PJM.is_dir(), reason=f"recorded PJM files not found at {PJM} (MI_SHARED_DIR)"
)
FILES = sorted(PJM.iterdir()) if PJM.is_dir() else []


def _parse(path: Path) -> tuple[str, pd.DataFrame]:
    return parse_file("pjm", path)


class TestPJMContract(ConnectorContract):
    source = "pjm"
    files = FILES


def test_every_recorded_file_is_detected_and_parsed() -> None:
    got = {p.name: _parse(p) for p in FILES}
    assert {name: (ds, len(df)) for name, (ds, df) in got.items()} == {
        "da_hrl_lmps_zones_2026-06-09.json": ("lmp_day_ahead_hourly", 552),
        "da_marginal_value_2023-11-05_2023-11-06.json": ("constraint_shadow_price_da", 387),
        "da_transconstraints_2023-11-05_2023-11-06.json": ("binding_constraints_da", 82),
        "five_min_solar_power_forecast_response_small.json": ("solar_forecast_5min", 4),
        "gen_by_fuel.json": ("generation_by_fuel", 220),
        "hourly_solar_power_forecast_response.json": ("solar_forecast_hourly", 2304),
        "load_frcstd_7_day_2025-03-19.json.gz": ("load_forecast_7day", 168),
        "rt_marginal_value_2023-11-05_2023-11-06.json": ("constraint_shadow_price_rt_5min", 875),
        "rt_unverified_fivemin_lmps_2026-06-10.json": ("lmp_real_time_5min_unverified", 154),
    }


def test_day_ahead_lmp_stamps_and_publication() -> None:
    _, df = _parse(PJM / "da_hrl_lmps_zones_2026-06-09.json")
    assert df["location"].nunique() == 23 and (df.groupby("location").size() == 24).all()
    assert df["interval_start_utc"].min() == pd.Timestamp("2026-06-09 04:00", tz="UTC")  # 00:00 EDT
    assert (
        df["published_at_utc"] == pd.Timestamp("2026-06-08 17:30", tz="UTC")
    ).all()  # 13:30 EDT the day before
    assert set(df["location_type"]) == {"zone"} and df["energy"].isna().all()  # components were not requested


def test_dst_end_day_has_25_hours() -> None:
    _, df = _parse(PJM / "da_marginal_value_2023-11-05_2023-11-06.json")
    local_day = (
        df["interval_start_utc"].dt.tz_convert("America/New_York").dt.date
        == pd.Timestamp("2023-11-05").date()
    )
    assert df.loc[local_day, "interval_start_utc"].nunique() == 25


def test_forecasts_are_revisions_published_at_their_evaluation_time() -> None:
    _, df = _parse(PJM / "load_frcstd_7_day_2025-03-19.json.gz")
    assert (df["published_at_utc"] == pd.Timestamp("2025-03-19 09:17:53", tz="UTC")).all()
    assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta("1h")).all()
    _, solar = _parse(PJM / "hourly_solar_power_forecast_response.json")
    assert (
        set(solar["variable"]) == {"solar_forecast", "solar_forecast_btm"} and (solar["unit"] == "MWh").all()
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"<html><title>Service Unavailable</title></html>", "HTML page"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab", "corrupt gzip"),
        (b'{"errors": ["quota"]}', "no 'items' list"),
        (
            b'{"items": [{"datetime_beginning_utc": "2026-06-09T04:00:00", "pnode_name": "X"}]}',
            "missing price",
        ),
    ],
)
def test_bad_payloads_raise_with_a_reason(body: bytes, reason: str) -> None:
    raw = RawPayload("pjm", "lmp_day_ahead_hourly", "x", body, pd.Timestamp.now(tz="UTC"))
    with pytest.raises(ParseError, match=reason):
        PJMIngestor().map_to_schema(raw)


def test_replay_ingest_into_the_store(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    day = pd.Timestamp("2026-06-09", tz="America/New_York")
    params = PJMIngestor().request_params("lmp_day_ahead_hourly", day, 1)
    body = (PJM / "da_hrl_lmps_zones_2026-06-09.json").read_bytes()
    (tmp_path / "da.json").write_bytes(body)
    index = {request_key("GET", f"{BASE}/da_hrl_lmps", params): {"file": "da.json", "status": 200}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    request = PullRequest(
        "lmp_day_ahead_hourly", day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC")
    )
    report = ingest(PJMIngestor(http=HttpClient("replay", tmp_path)), request, client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 552, [])
    assert client.command("SELECT count() FROM prices FINAL WHERE market = 'PJM_DAY_AHEAD_HOURLY'") == 552
