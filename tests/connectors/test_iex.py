"""IEX day-ahead area prices, hand-written payload (no recording, no documented endpoint; NOT verified)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from marketintel.connectors.iex.ingestor import AREAS, IEXIngestor, parse_dam
from marketintel.ingest.sdk import ParseError, PullRequest
from tests.connectors.contract import ConnectorContract, parse_file

PAYLOADS = Path(__file__).parent / "payloads" / "iex"
DAM = PAYLOADS / "GetTradeData_DAMPriceVolume_2024-01-15.json"


class TestIEXContract(ConnectorContract):
    source = "iex"
    files: ClassVar[list[Path]] = [DAM]  # hand-written from a vendor's published sample layout


def test_datasets_are_not_verified() -> None:
    assert not any(d.verified for d in IEXIngestor().discover().datasets)


def test_time_blocks_map_to_utc_quarter_hours() -> None:
    df = parse_dam(DAM.read_bytes())
    assert len(df) == 96 * 14 - 1  # N3's block 50 has a null price: no row
    india = df[df["location"] == "INDIA"]
    assert len(india) == 96 and set(india["location_type"]) == {"system"}
    # block 1 of 2024-01-15 = 00:00-00:15 IST (UTC+05:30) = 2024-01-14 18:30 UTC
    assert india["interval_start_utc"].iloc[0] == pd.Timestamp("2024-01-14 18:30", tz="UTC")
    assert india["price"].iloc[0] == 3010.25
    assert india["interval_end_utc"].iloc[-1] == pd.Timestamp("2024-01-15 18:30", tz="UTC")
    assert india["price"].iloc[-1] == 3960.25
    s1 = df[df["location"] == "S1"]
    assert s1["price"].iloc[0] == 3110.25 and set(s1["location_type"]) == {"bid_area"}
    assert set(df["location"]) == {*AREAS, "INDIA"}
    assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta(minutes=15)).all()
    assert (df["published_at_utc"] == pd.Timestamp("2024-01-14 18:30", tz="UTC")).all()
    assert set(df["market"]) == {"IEX_DAM_15MIN"} and set(df["unit"]) == {"INR/MWh"}


def test_missing_area_price() -> None:
    df = parse_dam(DAM.read_bytes())
    n3 = df[df["location"] == "N3"]
    assert len(n3) == 95
    assert pd.Timestamp("2024-01-15 06:45", tz="UTC") not in set(n3["interval_start_utc"])  # block 50


def test_detection() -> None:
    assert parse_file("iex", DAM)[0] == "dam_area_prices_15min"
    with pytest.raises(ParseError, match="cannot tell the dataset"):
        IEXIngestor().detect_dataset("x.json", b'{"a": 1}')


def test_no_documented_endpoint() -> None:
    ing = IEXIngestor()
    with pytest.raises(NotImplementedError, match="documents no public endpoint"):
        ing.request("dam_area_prices_15min")
    req = PullRequest(
        "dam_area_prices_15min", pd.Timestamp("2024-01-15", tz="UTC"), pd.Timestamp("2024-01-16", tz="UTC")
    )
    with pytest.raises(ParseError, match="documents no public endpoint"):
        list(ing.pull_or_subscribe(req))


def _doc() -> dict:
    return json.loads(DAM.read_text())


def _dropped_token() -> bytes:
    doc = _doc()
    doc["Delivery_Date_Details"][0]["Token_Wise"].pop()
    return json.dumps(doc).encode()


def _bad_area() -> bytes:
    doc = _doc()
    doc["Delivery_Date_Details"][0]["Token_Wise"][0]["Area_Details"][0]["Area_code"] = "X9"
    return json.dumps(doc).encode()


def _bad_price() -> bytes:
    doc = _doc()
    doc["Delivery_Date_Details"][0]["Token_Wise"][0]["All_India_DAM_GDAM_RTM"]["Clearing_Price"] = "n/a"
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"<html></html>", "HTML page"),
        (b"{nope", "not JSON"),
        (b'{"Delivery_Date_Details": []}', "no Delivery_Date_Details"),
        (b'{"Delivery_Date_Details": [{"DeliveryDate": "2024-01-15", "Token_Wise": []}]}', "DeliveryDate"),
        (_dropped_token(), "expected tokens 1..96"),
        (_bad_area(), "unknown area 'X9'"),
        (_bad_price(), "non-numeric Clearing_Price"),
    ],
)
def test_malformed_payloads_raise(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_dam(body)
