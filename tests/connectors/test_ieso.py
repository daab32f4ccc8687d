"""IESO on its recorded XML reports: EST all year, hour ending, forecasts by zone, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from marketintel.connectors.base import ParseError, PullRequest, RawPayload
from marketintel.connectors.http import HttpClient, request_key
from marketintel.connectors.ieso.ingestor import IESOIngestor
from marketintel.connectors.runner import ingest

from marketintel.config import shared_dir
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

IESO = shared_dir() / "fixtures" / "ieso"
pytestmark = pytest.mark.skipif(not IESO.is_dir(), reason=f"recorded IESO files not found at {IESO}")
FILES = (
    [
        IESO / "da_hourly_ontario_zonal_price_report_20260528.xml",
        IESO / "var_gen_forecast_summary_report_20250228.xml",
    ]
    if IESO.is_dir()
    else []
)


class TestIESOContract(ConnectorContract):
    source = "ieso"
    files = FILES


def test_day_ahead_zonal_price_is_hour_ending_est() -> None:
    _, df = parse_file("ieso", FILES[0])
    assert len(df) == 24 and df["interval_start_utc"].min() == pd.Timestamp("2026-05-28 05:00", tz="UTC")
    assert (df["published_at_utc"] == pd.Timestamp("2026-05-27 17:31:16", tz="UTC")).all()  # CreatedAt, EST
    first = df.iloc[0]
    assert (first["price"], first["loss"], first["congestion"], first["energy"]) == (17.76, 0.02, -0.26, 18.0)


def test_forecast_summary_by_zone_and_organisation() -> None:
    _, df = parse_file("ieso", FILES[1])
    assert {"solar_forecast_market_participant", "wind_forecast_embedded"} <= set(df["variable"])
    assert "OntarioTotal" in set(df["area"])
    assert (df["published_at_utc"] == pd.Timestamp("2025-02-28 13:34:08", tz="UTC")).all()  # 08:34:08 EST


def test_bad_reports() -> None:
    for body, reason in ((b"", "empty"), (b"<html><body>404</body>", "malformed XML|docID"),
                         (b'<Document docID="Other"/>', "expected an IESO")):  # fmt: skip
        with pytest.raises(ParseError, match=reason):
            IESOIngestor().map_to_schema(
                RawPayload("ieso", "lmp_day_ahead_zonal_hourly", "x", body, pd.Timestamp.now(tz="UTC"))
            )


def test_replay_ingest(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    day = pd.Timestamp("2026-05-28 05:00", tz="UTC")
    url = IESOIngestor().report_url("lmp_day_ahead_zonal_hourly", day.tz_convert("Etc/GMT+5"))
    assert url.endswith("/DAHourlyOntarioZonalPrice/PUB_DAHourlyOntarioZonalPrice_20260528.xml")
    (tmp_path / "r.xml").write_bytes(FILES[0].read_bytes())
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("GET", url, None): {"file": "r.xml", "status": 200}})
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    report = ingest(
        IESOIngestor(http=HttpClient("replay", tmp_path), store=client),
        PullRequest("lmp_day_ahead_zonal_hourly", day, day + pd.Timedelta(days=1)),
    )
    assert (report.payloads, report.rows, report.quarantined) == (1, 24, [])
