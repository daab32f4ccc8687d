"""Nord Pool on its recorded data portal answers (bodies, vcrpy cassettes, Home Assistant and Electricity
Maps recordings) and the website's xlsx export: exact values, 15/30/60-minute consistency, aggregates,
publication times, empty answers, bad payloads and request URLs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from marketintel.config import shared_dir
from marketintel.connectors.nordpool.ingestor import NordPoolIngestor
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

FIXTURES = shared_dir() / "fixtures"
NP = FIXTURES / "nordpool"
BODIES = NP / "bodies"
pytestmark = pytest.mark.skipif(not NP.is_dir(), reason=f"recorded Nord Pool files not found at {NP}")
IDX = (
    "2025__api_DayAheadPriceIndices_currency={cur}&market=DayAhead&date={day}&resolutionInMinutes={m}"
    "&indexNames={a}.json"
)
FI_15 = BODIES / IDX.format(cur="EUR", day="2025-05-07", m=15, a="FI")
FI_30 = BODIES / IDX.format(cur="EUR", day="2025-05-07", m=30, a="FI")
FI_60 = BODIES / IDX.format(cur="EUR", day="2025-05-07", m=60, a="FI")
SE_60 = BODIES / IDX.format(cur="EUR", day="2025-05-07", m=60, a="SE1_2CSE2_2CSE3_2CSE4")
SYS_60 = BODIES / IDX.format(cur="EUR", day="2025-05-07", m=60, a="SYSTEM")
SEK_60 = BODIES / IDX.format(cur="SEK", day="2025-05-07", m=60, a="SE1")
FI_EMPTY = BODIES / IDX.format(cur="EUR", day="2025-05-10", m=60, a="FI")
AGG = BODIES / "2025__api_AggregatePrices_currency=EUR&market=DayAhead&deliveryArea=FI&year=2025.json"
ANNUALS = BODIES / "2025__api_AggregatePrices_GetAnnuals_currency=EUR&market=DayAhead&deliveryArea=FI.json"
EXPORT = NP / "Market_data__Nord_Pool__website_export.xlsx"
FILES = sorted(p for p in NP.rglob("*") if p.is_file()) if NP.is_dir() else []

NO_DATA = {
    "nordpool/"
    + str(FI_EMPTY.relative_to(NP)): "2025-05-10 asked on 2025-05-07: not yet published (version 0,"
    " empty multiIndexEntries)",
    "nordpool/cassettes/2025_prices_not_available.yaml": "the same not-yet-published answer in a cassette",
}


def _map(dataset: str, body: bytes, url: str = "x", **meta: str) -> pd.DataFrame:
    raw = RawPayload("nordpool", dataset, url, body, pd.Timestamp.now(tz="UTC"), meta=dict(meta))
    return NordPoolIngestor().map_to_schema(raw)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


class TestNordPoolContract(ConnectorContract):
    source = "nordpool"
    files = FILES


def test_every_recorded_file_is_detected() -> None:
    found = {str(p.relative_to(NP)): parse_file("nordpool", p)[0] for p in FILES}
    assert found[str(FI_15.relative_to(NP))] == "day_ahead_15min"
    assert found[str(FI_30.relative_to(NP))] == "day_ahead_30min"
    assert found["cassettes/2025_single_area_15min.yaml"] == "day_ahead_15min"
    assert found["cassettes/2025_single_area_daily.yaml"] == "aggregate_prices"
    assert found["cassettes/2025_single_area_yearly.yaml"] == "annual_prices"
    assert found["ha_core/indices_15_SE3_2025-10-01.json"] == "day_ahead_15min"
    assert found["ha_core/delivery_period_SE3_SE4_2024-11-05.json"] == "day_ahead_prices"
    assert found["bodies/emaps__se_next_day_price.json"] == "day_ahead_prices"
    assert found["bodies/emaps__ger_target_day_capacity.json"] == "capacities"
    assert found["more/fi_se1_previous_day_exchange.json"] == "physical_flows"
    assert found["more/stats_ger_2026-05-09.json"] == "intraday_statistics"
    assert found[EXPORT.name] == "website_daily_export"
    assert len(found) == 28


def test_fi_price_indices_at_15_30_60_minutes() -> None:
    hourly = parse_file("nordpool", FI_60)[1]
    assert len(hourly) == 24 and set(hourly["market"]) == {"NORDPOOL_DAY_AHEAD_HOURLY"}
    assert hourly["interval_start_utc"].iloc[0] == _ts("2025-05-06 22:00")  # CEST midnight
    assert hourly["interval_end_utc"].iloc[-1] == _ts("2025-05-07 22:00")
    assert hourly["price"].iloc[0] == 22.34 and hourly["price"].iloc[-1] == 94.16
    assert set(hourly["location"]) == {"FI"} and set(hourly["unit"]) == {"EUR/MWh"}
    assert (hourly["published_at_utc"] == _ts("2025-05-06 11:22:12.483")).all()  # updatedAt
    quarter = parse_file("nordpool", FI_15)[1]
    half = parse_file("nordpool", FI_30)[1]
    assert len(quarter) == 96 and set(quarter["market"]) == {"NORDPOOL_DAY_AHEAD_15MIN"}
    assert len(half) == 48 and set(half["market"]) == {"NORDPOOL_DAY_AHEAD_30MIN"}
    # before the 15-minute MTU (2025-10-01) the finer indices repeat the hourly price: each hour is the
    # mean of its four quarters and of its two halves
    np.testing.assert_allclose(quarter["price"].to_numpy().reshape(24, 4).mean(axis=1), hourly["price"])
    np.testing.assert_allclose(half["price"].to_numpy().reshape(24, 2).mean(axis=1), hourly["price"])
    # and the portal's daily average is their mean, to its two decimals
    daily = parse_file("nordpool", AGG)[1]
    day = daily[(daily["market"] == "NORDPOOL_DAY_AHEAD_DAILY") & (daily["interval_start_utc"] == hourly[
        "interval_start_utc"].iloc[0])]  # fmt: skip
    assert day["price"].item() == 73.21 == round(hourly["price"].mean(), 2)


def test_fifteen_minute_switch_day_se3_in_sek() -> None:
    df = parse_file("nordpool", NP / "ha_core" / "indices_15_SE3_2025-10-01.json")[1]
    assert len(df) == 96 and df["interval_start_utc"].iloc[0] == _ts("2025-09-30 22:00")
    assert df["price"].iloc[0] == 556.68 and set(df["unit"]) == {"SEK/MWh"}
    assert df["published_at_utc"].iloc[0] == _ts("2025-09-30 12:08:18.489")
    assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta(minutes=15)).all()


def test_several_areas_system_price_and_currency() -> None:
    se = parse_file("nordpool", SE_60)[1]
    assert len(se) == 96 and sorted(se["location"].unique()) == ["SE1", "SE2", "SE3", "SE4"]
    first = se[se["interval_start_utc"] == _ts("2025-05-06 22:00")].set_index("location")["price"]
    assert first.to_dict() == {"SE1": 22.34, "SE2": 21.24, "SE3": 56.85, "SE4": 90.32}
    system = parse_file("nordpool", SYS_60)[1]
    assert set(system["location"]) == {"SYSTEM"} and set(system["location_type"]) == {"system"}
    assert system["price"].iloc[0] == 74.2 and system["price"].iloc[-1] == 86.46
    sek = parse_file("nordpool", SEK_60)[1]
    assert set(sek["currency"]) == {"SEK"} and set(sek["unit"]) == {"SEK/MWh"}
    assert sek["price"].iloc[0] == 243.58


def test_cassettes_equal_their_bodies() -> None:
    for cassette, body in (
        ("2025_single_area_hourly", FI_60),
        ("2025_multiple_area_hourly", SE_60),
        ("2025_single_area_daily", AGG),
        ("2025_single_area_yearly", ANNUALS),
    ):
        from_cassette = parse_file("nordpool", NP / "cassettes" / f"{cassette}.yaml")[1]
        pd.testing.assert_frame_equal(from_cassette, parse_file("nordpool", body)[1])


def test_older_day_ahead_prices_and_array_form() -> None:
    df = parse_file("nordpool", NP / "ha_core" / "delivery_period_SE3_SE4_2024-11-05.json")[1]
    assert len(df) == 48 and set(df["currency"]) == {"SEK"}
    assert df["interval_start_utc"].iloc[0] == _ts("2024-11-04 23:00")  # CET midnight
    assert df[df["location"] == "SE3"]["price"].iloc[0] == 250.73
    assert df[df["location"] == "SE4"]["price"].iloc[0] == 283.79
    em = parse_file("nordpool", BODIES / "emaps__se_next_day_price.json")[1]
    assert len(em) == 24 and set(em["location"]) == {"SE4"} and em["price"].iloc[0] == 27.46
    assert em["published_at_utc"].iloc[0] == _ts("2024-07-08 11:12:16.085")


def test_aggregates_periods_partial_rows_and_publication() -> None:
    df = parse_file("nordpool", AGG)[1]
    counts = df["market"].value_counts().to_dict()
    assert counts == {
        "NORDPOOL_DAY_AHEAD_DAILY": 127,
        "NORDPOOL_DAY_AHEAD_WEEKLY": 19,
        "NORDPOOL_DAY_AHEAD_MONTHLY": 5,
        "NORDPOOL_DAY_AHEAD_YEARLY": 1,
    }
    may = df[(df["market"] == "NORDPOOL_DAY_AHEAD_MONTHLY") & (df["revision"] == "partial")]
    assert may["price"].item() == 21.28
    assert may["interval_start_utc"].item() == _ts("2025-04-30 22:00")
    assert may["interval_end_utc"].item() == _ts("2025-05-07 22:00")  # covers 1..7 May only
    april = df[(df["market"] == "NORDPOOL_DAY_AHEAD_MONTHLY") & (df["price"] == 47.75)]
    assert april["revision"].item() == "" and april["interval_end_utc"].item() == _ts("2025-04-30 22:00")
    # April's average was knowable with 30 April's prices: 12:45 CEST on 29 April
    assert april["published_at_utc"].item() == _ts("2025-04-29 10:45")
    year = df[df["market"] == "NORDPOOL_DAY_AHEAD_YEARLY"]
    assert year["price"].item() == 47.37 and year["revision"].item() == "partial"
    assert year["interval_end_utc"].item() == _ts("2025-05-07 22:00")  # cut from the stated 12-31
    assert year["published_at_utc"].item() == _ts("2025-05-06 11:30:47.285")  # updatedAt, newest rows
    week1 = df[(df["market"] == "NORDPOOL_DAY_AHEAD_WEEKLY") & (df["price"] == 60.28)]
    assert week1["interval_start_utc"].item() == _ts("2024-12-29 23:00") and week1["revision"].item() == ""


def test_annuals_agree_with_the_year_to_date() -> None:
    df = parse_file("nordpool", ANNUALS)[1]
    assert len(df) == 6 and set(df["market"]) == {"NORDPOOL_DAY_AHEAD_YEARLY"}
    y2024 = df[df["interval_start_utc"] == _ts("2023-12-31 23:00")]
    assert y2024["price"].item() == 45.57 and y2024["revision"].item() == ""
    assert y2024["published_at_utc"].item() == _ts("2024-12-30 11:45")
    y2025 = df[df["interval_start_utc"] == _ts("2024-12-31 23:00")]
    assert y2025["price"].item() == 47.37 and y2025["revision"].item() == "partial"
    # updatedAt (2024-03-26) predates the rows: not used for them
    assert y2025["published_at_utc"].item() == _ts("2025-05-06 10:45")


def test_physical_flows_sum_to_the_net_import() -> None:
    df = parse_file("nordpool", NP / "more" / "fi_se1_previous_day_exchange.json")[1]
    first = df[df["interval_start_utc"] == _ts("2024-11-30 23:00")]
    flows = first[first["variable"] == "flow"].set_index("area_to")["value"].to_dict()
    assert flows == {"SE1": -907.0, "EE": 942.0, "RU": 0.0, "SE3": 393.0, "NO4": -12.0}
    net = first[first["variable"] == "net_import"]["value"].item()
    assert net == -416.0 == -sum(flows.values())
    assert len(df) == 96 * 6 and set(df["unit"]) == {"MW"}


def test_capacities_by_direction() -> None:
    df = parse_file("nordpool", BODIES / "emaps__ger_target_day_capacity.json")[1]
    first = df[df["interval_start_utc"] == _ts("2025-05-09 22:00")]
    got = {(r.area, r.area_to): r.value for r in first.itertuples()}
    assert got == {("DE_LU", "NO2_NK"): 1100.0, ("NO2_NK", "DE_LU"): 1444.0}
    assert set(df["variable"]) == {"transfer_capacity"}


def test_intraday_statistics_average_prices() -> None:
    df = parse_file("nordpool", NP / "more" / "stats_ger_2026-05-09.json")[1]
    assert set(df["location"]) == {"DE_LU"}
    qh = df[(df["market"] == "NORDPOOL_INTRADAY_15MIN")]
    assert len(qh) == 96 and qh["price"].iloc[0] == 128.6
    assert qh["published_at_utc"].iloc[0] == _ts("2026-05-08 21:55")  # contract close
    assert len(df) == 189  # every contract with an average price; untraded ones have none
    assert set(df["revision"]) == {""}  # all closed by updatedAt


def test_website_export() -> None:
    df = parse_file("nordpool", EXPORT)[1]
    assert set(df["market"]) == {"NORDPOOL_DAY_AHEAD_DAILY"} and set(df["unit"]) == {"EUR/MWh"}
    assert len(df) == 555 * 21  # 555 days x 22 columns, Tr.heim folded into Molde (NO3)
    sys_last = df[(df["location"] == "SYSTEM") & (df["interval_start_utc"] == _ts("2023-07-08 22:00"))]
    assert sys_last["price"].item() == 58.81
    assert sys_last["published_at_utc"].item() == _ts("2023-07-08 10:45")
    no3 = df[(df["location"] == "NO3") & (df["interval_start_utc"] == _ts("2023-07-08 22:00"))]
    assert no3["price"].item() == 41.01
    sys_first = df[(df["location"] == "SYSTEM") & (df["interval_start_utc"] == _ts("2021-12-31 23:00"))]
    assert sys_first["price"].item() == 76.24


def test_204_and_empty_answers_are_zero_rows() -> None:
    raw = RawPayload("nordpool", "day_ahead_hourly", "u", b"", pd.Timestamp.now(tz="UTC"), status=204)
    assert NordPoolIngestor().map_to_schema(raw).empty
    assert _map("day_ahead_prices", b"").empty
    cassette = yaml.safe_dump(
        {
            "interactions": [
                {
                    "request": {
                        "uri": "https://dataportal-api.nordpoolgroup.com/api/DayAheadPrices?date=2024-10-15"
                    },
                    "response": {"status": {"code": 204, "message": "No Content"}, "body": {"string": ""}},
                }
            ]
        }
    ).encode()
    ingestor = NordPoolIngestor()
    assert ingestor.detect_dataset("x.yaml", cassette) == "day_ahead_prices"
    raw = RawPayload("nordpool", "day_ahead_prices", "x.yaml", cassette, pd.Timestamp.now(tz="UTC"))
    assert ingestor.map_to_schema(raw).empty


def test_bad_payloads_are_refused() -> None:
    body = json.loads(FI_60.read_bytes())
    with pytest.raises(ParseError, match="not JSON"):
        _map("day_ahead_hourly", b"{not json")
    with pytest.raises(ParseError, match="HTML page"):
        _map("day_ahead_hourly", b"<!DOCTYPE html><html></html>")
    with pytest.raises(ParseError, match="15-minute prices were asked"):
        _map("day_ahead_15min", FI_60.read_bytes())
    bad = dict(body, multiIndexEntries=[dict(body["multiIndexEntries"][0], entryPerArea={"FI": "n/a"})])
    with pytest.raises(ParseError, match="non-numeric price"):
        _map("day_ahead_hourly", json.dumps(bad).encode())
    bad = dict(
        body, multiIndexEntries=[dict(body["multiIndexEntries"][0], deliveryEnd="2025-05-06T22:15:00Z")]
    )
    with pytest.raises(ParseError, match="15-minute interval in a 60-minute answer"):
        _map("day_ahead_hourly", json.dumps(bad).encode())
    with pytest.raises(ParseError, match="names no currency"):
        _map("aggregate_prices", AGG.read_bytes(), url="file:///agg.json")
    raw = RawPayload("nordpool", "day_ahead_hourly", "u", b"oops", pd.Timestamp.now(tz="UTC"), status=500)
    with pytest.raises(ParseError, match="HTTP 500"):
        NordPoolIngestor().map_to_schema(raw)
    with pytest.raises(ParseError, match="not a readable xlsx"):
        _map("website_daily_export", b"PK\x03\x04garbage")
    with pytest.raises(ParseError, match="day_ahead_15min"):
        NordPoolIngestor().detect_dataset("x.json", b'{"hello": 1}')


def test_request_urls_equal_the_recorded_requests() -> None:
    ing = NordPoolIngestor()
    day = pd.Timestamp("2025-05-07", tz="Europe/Oslo")
    for name in ("2025_single_area_15min", "2025_multiple_area_hourly", "2025_different_currency",
                 "2025_single_area_daily", "2025_single_area_yearly", "2025_system_hourly"):  # fmt: skip
        cassette = yaml.safe_load((NP / "cassettes" / f"{name}.yaml").read_text())
        uri = cassette["interactions"][0]["request"]["uri"]
        dataset = ing.detect_dataset(f"{name}.yaml", (NP / "cassettes" / f"{name}.yaml").read_bytes())
        query = dict(p.split("=", 1) for p in uri.split("?", 1)[1].split("&"))
        areas = tuple(query.get("indexNames", query.get("deliveryArea", "")).replace("%2C", ",").split(","))
        url, params = ing.request(dataset, day, areas, query["currency"])
        built = url + "?" + "&".join(f"{k}={v}" for k, v in params.items()).replace(",", "%2C")
        assert built == uri, name
    url, params = ing.request("day_ahead_hourly", day, ("DE_LU", "SYSTEM"))
    assert params["indexNames"] == "GER,SYSTEM"
    with pytest.raises(ValueError, match="recordings only"):
        ing.request("capacities", day)


def test_catalog_publication_and_lag() -> None:
    catalog = NordPoolIngestor().discover()
    hourly = catalog.dataset("day_ahead_hourly")
    assert hourly.publication == "50 12 * * *" and hourly.timezone == "Europe/Oslo"
    assert pd.Timedelta(hourly.lag) < pd.Timedelta(0)
