"""Third-party series: Yahoo TTF=F, Ember daily prices, aWATTar DE-LU day-ahead (DST days), all labelled
``third_party`` with the republisher in the market name.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.thirdparty.awattar import AWATTarIngestor
from marketintel.connectors.thirdparty.ember import EmberIngestor
from marketintel.connectors.thirdparty.ttf import TTFIngestor
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

FIXTURES = shared_dir() / "fixtures"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"recordings not found at {FIXTURES}")
TTF = sorted((FIXTURES / "ttf").glob("*")) if FIXTURES.is_dir() else []
EMBER = sorted((FIXTURES / "ember").glob("*")) if FIXTURES.is_dir() else []
EPEX = sorted((FIXTURES / "epex").glob("*")) if FIXTURES.is_dir() else []
UTC = "UTC"


class TestTTFContract(ConnectorContract):
    source = "ttf"
    files = TTF


class TestEmberContract(ConnectorContract):
    source = "ember"
    files = EMBER


class TestAWATTarContract(ConnectorContract):
    source = "awattar"
    files = EPEX


@pytest.mark.parametrize(("source", "files"), [("ttf", TTF), ("ember", EMBER), ("awattar", EPEX)])
def test_every_row_is_third_party(source: str, files: list) -> None:
    for path in files:
        _, df = parse_file(source, path)
        assert (df["fidelity"] == "third_party").all()
        assert not df["market"].str.startswith(("ICE", "EPEX", "ENTSOE")).any()


def test_ttf_first_and_last_close() -> None:
    dataset, df = parse_file("ttf", TTF[0])
    assert dataset == "front_month_daily" and len(df) == 1259
    assert (df["market"] == "YAHOO_TTF_FRONT_MONTH_DAILY").all() and (df["unit"] == "EUR/MWh").all()
    first, last = df.iloc[0], df.iloc[-1]
    # "Jul 09, 2018 ... 22.730" (CEST): 2018-07-08 22:00 UTC; "Jul 07, 2023 ... Close 33.478"
    assert (first["interval_start_utc"], first["price"]) == (pd.Timestamp("2018-07-08 22:00", tz=UTC), 22.73)
    assert (last["interval_start_utc"], last["interval_end_utc"], last["price"]) == (
        pd.Timestamp("2023-07-06 22:00", tz=UTC), pd.Timestamp("2023-07-07 22:00", tz=UTC), 33.478,
    )  # fmt: skip
    assert (df["published_at_utc"] == df["interval_end_utc"]).all()
    winter = df[df["interval_start_utc"] == pd.Timestamp("2023-01-02 23:00", tz=UTC)]
    assert len(winter) == 1  # 2023-01-03 is CET


def test_ember_countries_local_days_and_values() -> None:
    dataset, df = parse_file("ember", EMBER[0])
    assert dataset == "day_ahead_daily" and len(df) == 83396
    assert df["location"].nunique() == 29 and (df["location_type"] == "country").all()
    aut = df[df["location"] == "AUT"]
    assert (aut["interval_start_utc"].iloc[0], aut["price"].iloc[0]) == (
        pd.Timestamp("2014-12-31 23:00", tz=UTC), 35.86,
    )  # fmt: skip
    swe = df[df["location"] == "SWE"]
    assert (swe["interval_start_utc"].iloc[-1], swe["price"].iloc[-1]) == (
        pd.Timestamp("2023-05-30 22:00", tz=UTC), 26.59,
    )  # fmt: skip
    pol = df[df["location"] == "POL"].set_index("interval_start_utc")
    spring = pol.loc[pd.Timestamp("2022-03-26 23:00", tz=UTC)]  # 2022-03-27, 23 hours
    assert spring["interval_end_utc"] - pd.Timestamp("2022-03-26 23:00", tz=UTC) == pd.Timedelta(hours=23)
    autumn = pol.loc[pd.Timestamp("2022-10-29 22:00", tz=UTC)]  # 2022-10-30, 25 hours
    assert autumn["interval_end_utc"] - pd.Timestamp("2022-10-29 22:00", tz=UTC) == pd.Timedelta(hours=25)
    fin = df[df["location"] == "FIN"]  # EET: a winter day starts 22:00 UTC
    assert fin["interval_start_utc"].iloc[0] == pd.Timestamp("2014-12-31 22:00", tz=UTC)
    prt = df[df["location"] == "PRT"]  # WET: 00:00 UTC
    assert prt["interval_start_utc"].iloc[0] == pd.Timestamp("2015-01-01 00:00", tz=UTC)


def test_awattar_25_hour_day_keeps_both_0200_hours() -> None:
    dataset, df = parse_file("awattar", FIXTURES / "epex" / "derived_awattar_DE_2023-10-29.yaml")
    assert dataset == "day_ahead_hourly_archive" and len(df) == 25
    assert (df["market"] == "AWATTAR_EPEX_DAY_AHEAD_HOURLY").all() and (df["location"] == "DE_LU").all()
    # abs_02 twice: 0.00100 Cent/kWh at 02:00 CEST (00:00 UTC), 0.00200 at 02:00 CET (01:00 UTC)
    by_start = df.set_index("interval_start_utc")["price"]
    assert by_start[pd.Timestamp("2023-10-29 00:00", tz=UTC)] == pytest.approx(0.01)
    assert by_start[pd.Timestamp("2023-10-29 01:00", tz=UTC)] == pytest.approx(0.02)
    assert df["interval_start_utc"].iloc[0] == pd.Timestamp("2023-10-28 22:00", tz=UTC)
    assert df["price"].iloc[0] == pytest.approx(14.05)  # abs_00 1.40500 Cent/kWh
    assert df["interval_end_utc"].iloc[-1] == pd.Timestamp("2023-10-29 23:00", tz=UTC)
    assert df["price"].iloc[-1] == pytest.approx(38.41)  # abs_23 3.84100
    assert (df["published_at_utc"] == pd.Timestamp("2023-10-28 12:00", tz=UTC)).all()  # D-1 14:00 CEST


def test_awattar_23_hour_day_and_normal_day() -> None:
    _, df = parse_file("awattar", FIXTURES / "epex" / "derived_awattar_DE_2024-03-31.yaml")
    assert len(df) == 23
    assert df["interval_start_utc"].iloc[0] == pd.Timestamp("2024-03-30 23:00", tz=UTC)
    assert df["price"].iloc[0] == pytest.approx(75.70)  # abs_00 7.57000
    # abs_01 (01:00 CET = 00:00 UTC), then abs_03 (03:00 CEST = 01:00 UTC): no gap in UTC
    assert df["interval_start_utc"].iloc[2] == pd.Timestamp("2024-03-31 01:00", tz=UTC)
    assert df["price"].iloc[2] == pytest.approx(64.98)
    assert df["interval_end_utc"].iloc[-1] == pd.Timestamp("2024-03-31 22:00", tz=UTC)
    _, normal = parse_file("awattar", FIXTURES / "epex" / "derived_awattar_DE_2024-01-15.yaml")
    assert len(normal) == 24 and normal["price"].iloc[0] == pytest.approx(67.90)


def test_awattar_api_answer_and_request() -> None:
    body = json.dumps(
        {"object": "list", "data": [
            {"start_timestamp": 1705273200000, "end_timestamp": 1705276800000, "marketprice": 67.9,
             "unit": "Eur/MWh"}]}
    ).encode()  # fmt: skip
    aw = AWATTarIngestor()
    assert aw.detect_dataset("x.json", body) == "day_ahead_hourly"
    df = aw.map_to_schema(RawPayload("awattar", "day_ahead_hourly", "x", body, pd.Timestamp.now(tz=UTC)))
    assert df[["interval_start_utc", "price"]].values.tolist() == [
        [pd.Timestamp("2024-01-14 23:00", tz=UTC), 67.9]
    ]
    url, params = aw.request("day_ahead_hourly", pd.Timestamp("2024-01-15", tz="Europe/Berlin"))
    assert url == "https://api.awattar.de/v1/marketdata"
    assert params == {"start": "1705273200000", "end": "1705359600000"}


def _map(ingestor: object, dataset: str, body: bytes) -> pd.DataFrame:
    raw = RawPayload(ingestor.source, dataset, "x", body, pd.Timestamp.now(tz=UTC))  # type: ignore[attr-defined]
    return ingestor.map_to_schema(raw)  # type: ignore[attr-defined]


def test_bad_payloads_raise() -> None:
    yaml = (FIXTURES / "epex" / "derived_awattar_DE_2024-01-15.yaml").read_bytes()
    dropped = b"\n".join(line for line in yaml.splitlines() if not line.startswith(b"data_price_hour_abs_05"))
    with pytest.raises(ParseError, match=r"23 hourly prices .* a 24-hour day"):
        _map(AWATTarIngestor(), "day_ahead_hourly_archive", dropped)
    with pytest.raises(ParseError, match="price_unit"):
        _map(AWATTarIngestor(), "day_ahead_hourly_archive", yaml.replace(b"Cent/kWh", b"EUR/MWh"))
    with pytest.raises(ParseError, match="not 'key: value'"):
        _map(AWATTarIngestor(), "day_ahead_hourly_archive", b"date_start 2024-01-15\n")
    with pytest.raises(ParseError, match="changed header"):
        _map(EmberIngestor(), "day_ahead_daily", b"Country,Date,Price\nAustria,2015-01-01,1\n")
    with pytest.raises(ParseError, match="no time zone"):
        _map(
            EmberIngestor(),
            "day_ahead_daily",
            b"Country,ISO3 Code,Date,Price (EUR/MWhe)\nX,XXX,2015-01-01,1\n",
        )
    with pytest.raises(ParseError, match="non-numeric"):
        _map(
            EmberIngestor(),
            "day_ahead_daily",
            b"Country,ISO3 Code,Date,Price (EUR/MWhe)\nA,AUT,2015-01-01,x\n",
        )
    with pytest.raises(ParseError, match="no header row"):
        _map(TTFIngestor(), "front_month_daily", b"a,b\n1,2\n")
    with pytest.raises(ParseError, match="unreadable Date"):
        _map(TTFIngestor(), "front_month_daily", b"Date,Open,High,Low,Close_\n2023-07-07,1,1,1,1\n")
    for ingestor in (TTFIngestor(), EmberIngestor(), AWATTarIngestor()):
        with pytest.raises(ParseError, match="cannot tell the dataset"):
            ingestor.detect_dataset("x.bin", b"\x00\x01")
