"""ISO-NE on its recorded web-service answers: loads and load forecasts, DST days, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from marketintel.connectors.base import ParseError, PullRequest, RawPayload
from marketintel.connectors.http import HttpClient, request_key
from marketintel.connectors.isone.ingestor import ISONEIngestor
from marketintel.connectors.isone.mapping import FEEDS
from marketintel.connectors.runner import ingest

from marketintel.config import shared_dir
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

ISONE = shared_dir() / "fixtures" / "isone" / "api_v1.1"
pytestmark = pytest.mark.skipif(not ISONE.is_dir(), reason=f"recorded ISO-NE files not found at {ISONE}")
ENDPOINTS = tuple(f.endpoint for f in FEEDS.values())
FILES = sorted(p for p in ISONE.iterdir() if p.name.startswith(ENDPOINTS)) if ISONE.is_dir() else []


def _parse(path: Path) -> tuple[str, pd.DataFrame]:
    return parse_file("isone", path)


class TestISONEContract(ConnectorContract):
    source = "isone"
    files = FILES


@pytest.mark.parametrize(
    ("day", "hours"), [("20240309", 24), ("20240310", 23), ("20241102", 24), ("20241103", 25)]
)
def test_dst_days_have_23_and_25_hours(day: str, hours: int) -> None:
    for family in ("dayaheadhourlydemand", "realtimehourlydemand"):
        _, df = _parse(ISONE / f"{family}_day_{day}_location_4001.json")
        assert df["interval_start_utc"].nunique() == hours
        assert (df["area"] == ".Z.MAINE").all()
        local = df["interval_start_utc"].dt.tz_convert("America/New_York")
        assert local.dt.date.nunique() == 1  # one local day, every hour of it


def test_forecasts_are_revisions_published_at_their_creation_time() -> None:
    _, df = _parse(ISONE / "hourlyloadforecast_all_day_20230501.json")
    assert df["published_at_utc"].nunique() > 1  # several vintages of the same hours
    first = json.loads((ISONE / "hourlyloadforecast_all_day_20230501.json").read_bytes())
    created = first["HourlyLoadForecasts"]["HourlyLoadForecast"][0]["CreationDate"]  # 03:36:01 EDT
    assert (
        pd.Timestamp(created) == pd.Timestamp("2023-04-29 07:36:01", tz="UTC") == df["published_at_utc"].min()
    )
    assert set(df["variable"]) == {"load_forecast", "net_load_forecast"}


def test_bad_payloads() -> None:
    for body, reason in (
        (b"", "empty body"),
        (b"<?xml version='1.0'?><x/>", "XML page"),
        (b'{"Foo": 1}', "no "),
    ):
        with pytest.raises(ParseError, match=reason):
            ISONEIngestor().map_to_schema(
                RawPayload("isone", "system_load_hourly", "x", body, pd.Timestamp.now(tz="UTC"))
            )


def test_replay_builds_the_recorded_requests(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    ing = ISONEIngestor()
    day = pd.Timestamp("2024-11-03", tz="America/New_York")
    (url,) = ing.urls("load_forecast_by_region_hourly", day)
    assert url == "https://webservices.iso-ne.com/api/v1.1/reliabilityregionloadforecast/day/20241103/all"
    (tmp_path / "f.json").write_bytes(
        (ISONE / "reliabilityregionloadforecast_day_20241103_all.json").read_bytes()
    )
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("GET", url, None): {"file": "f.json", "status": 200}})
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    request = PullRequest(
        "load_forecast_by_region_hourly",
        day.tz_convert("UTC"),
        (day + pd.DateOffset(days=1)).tz_convert("UTC"),
    )
    report = ingest(ISONEIngestor(http=HttpClient("replay", tmp_path), store=client), request)
    assert (report.payloads, report.rows, report.quarantined) == (1, 1264, [])
    assert client.command("SELECT count() FROM fundamentals FINAL WHERE source = 'isone'") == 1264
