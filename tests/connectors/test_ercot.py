"""ERCOT on its recorded documents: DSTFlag, hour ending, posting times, listing then download (replay)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from marketintel.connectors.base import ParseError, PullRequest, RawPayload
from marketintel.connectors.ercot.ingestor import DOWNLOAD_URL, LIST_URL, ERCOTIngestor, documents
from marketintel.connectors.http import HttpClient, request_key
from marketintel.connectors.runner import ingest

from marketintel.config import shared_dir
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

ERCOT = shared_dir() / "fixtures" / "ercot"
pytestmark = pytest.mark.skipif(not ERCOT.is_dir(), reason=f"recorded ERCOT files not found at {ERCOT}")
FILES = (
    sorted([*ERCOT.glob("mis/*.zip"), *ERCOT.glob("mis/*.csv"), *ERCOT.glob("inline_snippets/*.csv")])
    if ERCOT.is_dir()
    else []
)
UTC = "UTC"


class TestERCOTContract(ConnectorContract):
    source = "ercot"
    files = FILES


def test_dst_flag_resolves_the_repeated_hour() -> None:
    _, end = parse_file(
        "ercot", ERCOT / "inline_snippets" / "actual_load_15min_DST_end_2016-11-06_SNIPPET.csv"
    )
    # four 15-minute intervals in CDT (N), then four in the repeated hour in CST (Y): eight distinct instants
    assert end["interval_end_utc"].min() == pd.Timestamp("2016-11-06 01:00-05:00").tz_convert(UTC)
    assert end["interval_end_utc"].max() == pd.Timestamp("2016-11-06 02:00-06:00").tz_convert(UTC)
    assert end["interval_start_utc"].nunique() == 8
    _, start = parse_file(
        "ercot", ERCOT / "inline_snippets" / "actual_load_15min_DST_start_2016-03-13_SNIPPET.csv"
    )
    # 01:45 CST is followed by 03:00 CDT: the last interval is still 15 minutes long
    assert start["interval_start_utc"].max() == pd.Timestamp("2016-03-13 01:45-06:00").tz_convert(UTC)
    assert start["interval_end_utc"].max() == pd.Timestamp("2016-03-13 03:00-05:00").tz_convert(UTC)


def test_hour_ending_reports_and_their_posting_time() -> None:
    _, df = parse_file("ercot", ERCOT / "mis" / "LFCCONGESTNP3560_20250313.zip")
    assert df["interval_start_utc"].min() == pd.Timestamp("2025-03-13 00:00-05:00").tz_convert(UTC)  # HE 1
    assert df["interval_end_utc"].max() == pd.Timestamp("2025-03-21 00:00-05:00").tz_convert(UTC)  # HE 24:00
    assert (df["published_at_utc"] == pd.Timestamp("2025-03-13 12:30-05:00").tz_convert(UTC)).all()
    assert set(df["area"]) == {"ERCOT", "NORTH", "SOUTH", "WEST", "HOUSTON"}
    _, wind = parse_file("ercot", ERCOT / "mis" / "WPPHRLYAVGACTNP4732_20250313.zip")
    assert {"wind_generation", "wind_forecast_stwpf"} <= set(wind["variable"])
    future = wind[(wind["variable"] == "wind_generation")]["interval_end_utc"].max()
    assert future <= pd.Timestamp("2025-03-13 13:55-05:00").tz_convert(UTC)  # no actuals after posting


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"", "empty body"), (b"PK\x03\x04garbage", "corrupt ZIP"), (b"<html>MIS down</html>", "HTML page")],
)
def test_bad_documents(body: bytes, reason: str) -> None:
    raw = RawPayload("ercot", "solar_hourly_actual_forecast", "x", body, pd.Timestamp.now(tz="UTC"))
    with pytest.raises(ParseError, match=reason):
        ERCOTIngestor().map_to_schema(raw)


def test_listing_then_download_in_replay(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    listing = (ERCOT / "mis" / "IceDocListJsonWS_solar_hourly_actual_forecast.json").read_bytes()
    # the recorded listing ends at 12:55 CDT (it was recorded before the recorded document, posted at 13:55):
    # its last CSV document stands in for it
    posted = pd.Timestamp("2025-03-13 12:55:08-05:00").tz_convert(UTC)
    (doc_id,) = [d for d, when, name in documents(listing) if when == posted and name.endswith("_csv")]
    assert doc_id == "1085279262"
    (tmp_path / "list.json").write_bytes(listing)
    (tmp_path / "doc.zip").write_bytes((ERCOT / "mis" / "PVGRHRLYAVGACTNP4737_20250313.zip").read_bytes())
    index = {
        request_key("GET", LIST_URL, {"reportTypeId": "13483"}): {"file": "list.json", "status": 200},
        request_key("GET", DOWNLOAD_URL, {"doclookupId": doc_id}): {"file": "doc.zip", "status": 200},
    }
    (tmp_path / "index.json").write_text(json.dumps(index))
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    request = PullRequest("solar_hourly_actual_forecast", posted, posted + pd.Timedelta(minutes=1))
    report = ingest(ERCOTIngestor(http=HttpClient("replay", tmp_path), store=client), request)
    assert (report.payloads, report.rows, report.quarantined) == (1, 744, [])
