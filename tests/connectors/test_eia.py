"""EIA on its recordings (dnav Henry Hub daily and weekly CSV exports, API v2 electricity/rto answers), the
API v2 natural-gas price layout on a hand-written payload, the release rule, requests and bad payloads.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.eia.ingestor import EIAIngestor
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

FIXTURES = shared_dir() / "fixtures"
EIA = FIXTURES / "eia"
pytestmark = pytest.mark.skipif(not EIA.is_dir(), reason=f"recorded EIA files not found at {EIA}")
DAILY = EIA / "dnav_csv" / "Henry_Hub_Natural_Gas_Spot_Price__daily_to_20200113.csv"
WEEKLY = EIA / "dnav_csv" / "Henry_Hub_Natural_Gas_Spot_Price__weekly_to_20260109.csv"
EXCHANGE = EIA / "v2_electricity_rto" / "US-FLA-FPC_US-FLA-FPL_exchange.json"
PGE = EIA / "v2_electricity_rto" / "US-NW-PGE-with-nulls.json"
BPAT = EIA / "v2_electricity_rto" / "US_NW_BPAT-wind.json"
HH = b"Henry Hub Natural Gas Spot Price Dollars per Million Btu"
NG_DESC = "Henry Hub Natural Gas Spot Price (Dollars per Million Btu)"
FILES = sorted(p for p in EIA.rglob("*") if p.is_file()) if EIA.is_dir() else []
UTC = "UTC"


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return EIAIngestor().map_to_schema(RawPayload("eia", dataset, "x", body, pd.Timestamp.now(tz=UTC)))


class TestEIAContract(ConnectorContract):
    source = "eia"
    files = FILES


def test_every_recorded_file_is_detected() -> None:
    found = {p.name: parse_file("eia", p)[0] for p in FILES}
    assert found == {
        DAILY.name: "henry_hub_spot_daily",
        WEEKLY.name: "henry_hub_spot_weekly",
        EXCHANGE.name: "rto_interchange_hourly",
        PGE.name: "rto_fuel_type_hourly",
        BPAT.name: "rto_fuel_type_hourly",
    }


def test_daily_henry_hub_trade_days_in_central_time() -> None:
    _, df = parse_file("eia", DAILY)
    # 5,788 dated lines, one blank ("01/5/2018,": EIA's NA) -> no row for it
    assert len(df) == 5787
    assert pd.Timestamp("2018-01-05 06:00", tz=UTC) not in set(df["interval_start_utc"])
    assert (df["market"] == "EIA_HENRY_HUB_SPOT_DAILY").all() and (df["location"] == "HENRY_HUB").all()
    assert (df["unit"] == "USD/MMBtu").all() and (df["currency"] == "USD").all()
    first, last = df.iloc[0], df.iloc[-1]
    # 01/7/1997 (CST, UTC-6), oldest; 01/13/2020, newest (first line of the file)
    assert (first["interval_start_utc"], first["interval_end_utc"], first["price"]) == (
        pd.Timestamp("1997-01-07 06:00", tz=UTC), pd.Timestamp("1997-01-08 06:00", tz=UTC), 3.82,
    )  # fmt: skip
    assert (last["interval_start_utc"], last["price"]) == (pd.Timestamp("2020-01-13 06:00", tz=UTC), 2.03)
    # trade days only: never a weekend
    assert not df["interval_start_utc"].dt.tz_convert("America/Chicago").dt.day_of_week.isin([5, 6]).any()
    # a summer day is CDT: 2019-07-01 starts 05:00 UTC and lasts 24 h
    july = df[df["interval_start_utc"] == pd.Timestamp("2019-07-01 05:00", tz=UTC)]
    assert len(july) == 1
    # Monday 2020-01-13 is released on Wednesday 2020-01-15, taken at its end (ET) = 01-16 05:00 UTC
    assert last["published_at_utc"] == pd.Timestamp("2020-01-16 05:00", tz=UTC)
    # Tuesday 1997-01-07: the first Wednesday at least two days later is 1997-01-15
    assert first["published_at_utc"] == pd.Timestamp("1997-01-16 05:00", tz=UTC)
    assert (df["published_at_utc"] > df["interval_end_utc"]).all()


def test_weekly_is_monday_to_friday_and_averages_the_daily_prices() -> None:
    _, weekly = parse_file("eia", WEEKLY)
    _, daily = parse_file("eia", DAILY)
    assert len(weekly) == 1513 and (weekly["market"] == "EIA_HENRY_HUB_SPOT_WEEKLY").all()
    first, last = weekly.iloc[0], weekly.iloc[-1]
    # "01/10/1997,3.79": Monday 1997-01-06 00:00 CST .. Saturday 1997-01-11 00:00 CST
    assert (first["interval_start_utc"], first["interval_end_utc"], first["price"]) == (
        pd.Timestamp("1997-01-06 06:00", tz=UTC), pd.Timestamp("1997-01-11 06:00", tz=UTC), 3.79,
    )  # fmt: skip
    # "01/9/2026,2.91" (unpadded day): published with the Wednesday release after, 2026-01-14
    assert (last["interval_start_utc"], last["price"]) == (pd.Timestamp("2026-01-05 06:00", tz=UTC), 2.91)
    assert last["published_at_utc"] == pd.Timestamp("2026-01-15 05:00", tz=UTC)
    # the week 2020-01-06..10 averages the five daily prices 2.10 2.17 2.09 2.09 2.05 -> 2.10 (EIA: 2.09)
    week = weekly[weekly["interval_start_utc"] == pd.Timestamp("2020-01-06 06:00", tz=UTC)]
    days = daily[
        (daily["interval_start_utc"] >= week["interval_start_utc"].item())
        & (daily["interval_end_utc"] <= week["interval_end_utc"].item())
    ]
    assert len(days) == 5
    assert days["price"].mean() == pytest.approx(week["price"].item(), abs=0.011)


def test_rto_interchange_hour_ending_utc_and_sign() -> None:
    _, df = parse_file("eia", EXCHANGE)
    assert len(df) == 25 and (df["variable"] == "flow").all()
    assert (df["area"] == "FPC").all() and (df["area_to"] == "FPL").all() and (df["unit"] == "MWh").all()
    # "2020-01-06T06" is the hour ending 06:00 UTC
    assert df["interval_start_utc"].iloc[0] == pd.Timestamp("2020-01-06 05:00", tz=UTC)
    assert df["value"].iloc[0] == -329.0  # FPC imports 329 MWh from FPL
    assert df["interval_start_utc"].iloc[-1] == pd.Timestamp("2020-01-07 05:00", tz=UTC)
    assert df["value"].iloc[-1] == -368.0
    assert (df["published_at_utc"] == df["interval_end_utc"] + pd.Timedelta(hours=1)).all()


def test_rto_fuel_type_nulls_give_no_row() -> None:
    _, pge = parse_file("eia", PGE)
    assert pge[["area", "variable", "value"]].values.tolist() == [["PGE", "generation_natural_gas", 400.0]]
    assert pge["interval_start_utc"].item() == pd.Timestamp("2022-10-31 11:00", tz=UTC)
    _, bpat = parse_file("eia", BPAT)
    assert bpat["value"].tolist() == [20.0, 40.0] and (bpat["variable"] == "generation_wind").all()


def test_local_hourly_stamps_carry_their_offset() -> None:
    doc = json.loads(BPAT.read_bytes())
    doc["response"]["frequency"] = "local-hourly"
    doc["response"]["dateFormat"] = 'YYYY-MM-DD"T"HH24TZH'
    doc["response"]["data"][0]["period"] = "2022-10-31T04-07"  # = 11:00 UTC, hour ending
    doc["response"]["data"][1]["period"] = "2022-10-31T05-07"
    df = _map("rto_fuel_type_hourly", json.dumps(doc).encode())
    assert df["interval_start_utc"].tolist() == [
        pd.Timestamp("2022-10-31 10:00", tz=UTC),
        pd.Timestamp("2022-10-31 11:00", tz=UTC),
    ]


def test_region_data_variables() -> None:
    rows = [
        {"period": "2024-03-10T08", "respondent": "PJM", "type": t, "type-name": n, "value": v,
         "value-units": "megawatthours"}
        for t, n, v in [("D", "Demand", 80000), ("DF", "Day-ahead demand forecast", 81000),
                        ("NG", "Net generation", 79000), ("TI", "Total interchange", -1000)]
    ]  # fmt: skip
    body = json.dumps({"response": {"frequency": "hourly", "total": 4, "data": rows}}).encode()
    assert EIAIngestor().detect_dataset("x.json", body) == "rto_region_hourly"
    df = _map("rto_region_hourly", body).set_index("variable")
    assert df["value"].to_dict() == {
        "generation_total_net": 79000.0, "load": 80000.0, "load_forecast": 81000.0,
        "net_interchange": -1000.0,
    }  # fmt: skip
    assert df.loc["load_forecast", "published_at_utc"] == pd.Timestamp("2024-03-10 07:00", tz=UTC)
    assert df.loc["load", "published_at_utc"] == pd.Timestamp("2024-03-10 09:00", tz=UTC)


NG_SPOT = {
    "response": {
        "total": 2,
        "dateFormat": "YYYY-MM-DD",
        "frequency": "daily",
        "data": [
            {"period": "2024-01-02", "duoarea": "RGC", "area-name": "NA", "product": "EPG0",
             "product-name": "Natural Gas", "process": "PS0", "process-name": "Spot Price",
             "series": "RNGWHHD", "series-description": NG_DESC,
             "value": 2.58, "units": "$/MMBTU"},
            {"period": "2024-01-03", "duoarea": "RGC", "area-name": "NA", "product": "EPG0",
             "product-name": "Natural Gas", "process": "PS0", "process-name": "Spot Price",
             "series": "RNGWHHD", "series-description": NG_DESC,
             "value": "2.72", "units": "$/MMBTU"},
        ],
    },
    "apiVersion": "2.1.8",
}  # fmt: skip


def test_natural_gas_v2_spot_on_a_documented_payload() -> None:
    body = json.dumps(NG_SPOT).encode()
    assert EIAIngestor().detect_dataset("ng.json", body) == "henry_hub_spot_daily_api"
    df = _map("henry_hub_spot_daily_api", body)
    assert df["price"].tolist() == [2.58, 2.72] and (df["market"] == "EIA_HENRY_HUB_SPOT_DAILY").all()
    assert df["interval_start_utc"].iloc[0] == pd.Timestamp("2024-01-02 06:00", tz=UTC)
    futures = json.loads(body)
    futures["response"]["data"][1]["series"] = "RNGC1"
    with pytest.raises(ParseError, match="RNGC1"):
        _map("henry_hub_spot_daily_api", json.dumps(futures).encode())
    weekly = json.loads(body)
    weekly["response"]["frequency"] = "weekly"
    with pytest.raises(ParseError, match="not a Friday"):
        _map("henry_hub_spot_weekly_api", json.dumps(weekly).encode())


def test_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MI_EIA_API_KEY", "k")
    eia = EIAIngestor()
    assert eia.request("henry_hub_spot_daily") == ("https://www.eia.gov/dnav/ng/hist/rngwhhdD.htm", None)
    start, end = pd.Timestamp("2020-01-06 05:00", tz=UTC), pd.Timestamp("2020-01-07 06:00", tz=UTC)
    url, params = eia.request("rto_interchange_hourly", start, end, facets={"facets[fromba][]": "FPC"})
    assert url == "https://api.eia.gov/v2/electricity/rto/interchange-data/data/"
    assert params is not None
    assert (params["start"], params["end"], params["api_key"]) == ("2020-01-06T06", "2020-01-07T06", "k")
    assert params["frequency"] == "hourly" and params["facets[fromba][]"] == "FPC"
    day = pd.Timestamp("2024-01-02", tz="America/Chicago")
    url, params = eia.request("henry_hub_spot_daily_api", day, day + pd.Timedelta(days=2))
    assert url == "https://api.eia.gov/v2/natural-gas/pri/fut/data/"
    assert params is not None and params["facets[series][]"] == "RNGWHHD"
    assert (params["start"], params["end"]) == ("2024-01-02", "2024-01-03")


@pytest.mark.parametrize(
    ("dataset", "body", "match"),
    [
        ("henry_hub_spot_daily", b"", "empty body"),
        ("henry_hub_spot_daily", b"Week of," + HH + b"\n", "weekly"),
        ("henry_hub_spot_daily", b"Day,Brent Spot Price Dollars per Barrel\n01/2/2020,66\n",
         "unexpected series"),
        ("henry_hub_spot_daily", b"Day," + HH + b"\n13/45/2020,2\n",
         "unreadable date"),
        ("henry_hub_spot_daily", b"Day," + HH + b"\n01/2/2020,x\n",
         "non-numeric"),
        ("henry_hub_spot_weekly", b"Week of," + HH + b"\n01/8/2026,3\n",
         "not a Friday"),
        ("rto_interchange_hourly", b"<html>busy</html>", "HTML"),
        ("rto_interchange_hourly", b'{"error": "invalid api_key", "code": 403}', "invalid api_key"),
        ("rto_fuel_type_hourly", EXCHANGE.read_bytes() if EXCHANGE.exists() else b"{}", "interchange data"),
    ],
)  # fmt: skip
def test_bad_payloads_raise(dataset: str, body: bytes, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        _map(dataset, body)


def test_unknown_file_is_refused() -> None:
    with pytest.raises(ParseError, match="henry_hub_spot_daily"):
        EIAIngestor().detect_dataset("x.txt", b"hello")
