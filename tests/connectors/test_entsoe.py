"""ENTSO-E on its recorded API documents (XML and BrokenRecord cassettes) and the website's CSV exports:
A44 60/15-minute MTU, curveType A03 expansion, classification positions, intraday auctions, load,
generation, flows, net positions, acknowledgements, GUI CSV DST days, requests and replay.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest
import yaml

from marketintel.config import shared_dir
from marketintel.connectors.entsoe.ingestor import API, ENTSOEIngestor
from marketintel.connectors.entsoe.mapping import gui_mtu
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

FIXTURES = shared_dir() / "fixtures"
ENTSOE = FIXTURES / "entsoe"
pytestmark = pytest.mark.skipif(not ENTSOE.is_dir(), reason=f"recorded ENTSO-E files not found at {ENTSOE}")
XML = ENTSOE / "xml"
MORE = ENTSOE / "xml_more"
GUI = ENTSOE / "gui_csv"
CASSETTES = ENTSOE / "cassettes"
AT_A44 = XML / "market121_d_energy_prices__A44__Energy_Prices_202407272200-202407282200.xml"
NL_A44 = XML / "market_121d_day_ahead_prices_NL__A44__Energy_Prices_202409012200-202409022200.xml"
ACK = XML / "market_121d_intraday_prices_DE_LU__A44__acknowledgement.xml"
GUI_PRICES = GUI / "NO1__GUI_ENERGY_PRICES_202412312300-202512312300.csv"
GUI_LOAD = GUI / "NO1__GUI_TOTAL_LOAD_DAYAHEAD_202412312300-202512312300.csv"
GUI_HYDRO = GUI / "NO1__GUI_WATER_RESERVOIRS_HYDRO_STORAGE_202412312300-202512312300.csv"

#: answers that hold no rows (the folder-wide test checks they parse to zero rows)
NO_DATA = {
    "entsoe/xml/market_121d_intraday_prices_DE_LU__A44__acknowledgement.xml": "Acknowledgement reason 999:"
    " no matching data for DE_LU intraday (A07) energy prices on 2024-09-02",
    "entsoe/cassettes/market_121d_intraday_prices_DE_LU.yml": "the same acknowledgement (reason 999),"
    " recorded as a cassette",
}
BAD_AS_SERVED: dict[str, str] = {}


def _files() -> list[Path]:
    return sorted(p for p in ENTSOE.rglob("*") if p.is_file()) if ENTSOE.is_dir() else []


def _parse(path: Path) -> pd.DataFrame:
    return parse_file("entsoe", path)[1]


def _map(dataset: str, body: bytes, url: str = "x") -> pd.DataFrame:
    return ENTSOEIngestor().map_to_schema(
        RawPayload("entsoe", dataset, url, body, pd.Timestamp.now(tz="UTC"))
    )


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


class TestENTSOEContract(ConnectorContract):
    source = "entsoe"
    files = _files()


def test_every_file_is_detected() -> None:
    ing = ENTSOEIngestor()
    expected = {
        AT_A44.name: "day_ahead_prices",
        ACK.name: "intraday_auction_prices",
        "market_121d_intraday_prices_DE_LU.yml": "intraday_auction_prices",
        "ES_A44_intraday_prices.xml": "intraday_auction_prices",
        "emaps__ES_FR_capacity_day_ahead_export.xml": "ntc_day_ahead",
        "market121_e_implicit_auction_net_positions.yml": "net_position_intraday",
        GUI_PRICES.name: "gui_day_ahead_prices",
        GUI_LOAD.name: "gui_load",
        GUI_HYDRO.name: "gui_hydro_reservoirs",
        "load61_e_year_ahead_total_load_forecast.yml": "load_forecast_year_ahead",
    }
    names = {d.name for d in ing.discover().datasets}
    for path in _files():
        dataset = ing.detect_dataset(path.name, path.read_bytes())
        assert dataset in names
        if path.name in expected:
            assert dataset == expected[path.name], path.name
    with pytest.raises(ParseError, match="day_ahead_prices"):
        ing.detect_dataset("x.csv", b"a,b\n1,2\n")


def test_day_ahead_prices_exact_values_and_publication() -> None:
    df = _parse(AT_A44)
    assert len(df) == 24 and set(df["market"]) == {"ENTSOE_DAY_AHEAD_HOURLY"}
    assert set(df["location"]) == {"AT"} and set(df["location_type"]) == {"bidding_zone"}
    assert (df["currency"] == "EUR").all() and (df["unit"] == "EUR/MWh").all()
    assert df["interval_start_utc"].iloc[0] == _utc("2024-07-27 22:00")
    assert df["interval_end_utc"].iloc[-1] == _utc("2024-07-28 22:00")
    assert (df["price"].iloc[0], df["price"].iloc[-1]) == (95.44, 81.23)
    # published at 12:45 Brussels (CEST) the day before delivery
    assert (df["published_at_utc"] == _utc("2024-07-27 10:45")).all()
    cassette = _parse(CASSETTES / "market121_d_energy_prices.yml")
    pd.testing.assert_frame_equal(cassette, df)


def test_mixed_60_and_15_minute_periods_go_to_two_markets() -> None:
    df = _parse(XML / "hassentsoe__BE_60M_15M_mix.xml")
    assert len(df) == 216
    assert df.groupby("market").size().to_dict() == {
        "ENTSOE_DAY_AHEAD_15MIN": 192,
        "ENTSOE_DAY_AHEAD_HOURLY": 24,
    }
    q = df[df["market"] == "ENTSOE_DAY_AHEAD_15MIN"]
    assert ((q["interval_end_utc"] - q["interval_start_utc"]) == pd.Timedelta(minutes=15)).all()
    # curveType A03: points at positions 1, 5, 9, ... repeat over the omitted quarters
    assert list(q["price"].iloc[:8]) == [55.35] * 4 + [44.22] * 4
    h = df[df["market"] == "ENTSOE_DAY_AHEAD_HOURLY"]
    assert h["interval_start_utc"].iloc[0] == _utc("2024-10-07 22:00")


def test_classification_position_2_is_its_own_market() -> None:
    df = _parse(XML / "hassentsoe__DE_60M_15M_overlap.xml")
    assert df.groupby("market").size().to_dict() == {
        "ENTSOE_DAY_AHEAD_EXAA_15MIN": 192,
        "ENTSOE_DAY_AHEAD_HOURLY": 48,
    }
    sdac = df[df["market"] == "ENTSOE_DAY_AHEAD_HOURLY"].set_index("interval_start_utc")["price"]
    exaa = df[df["market"] == "ENTSOE_DAY_AHEAD_EXAA_15MIN"].set_index("interval_start_utc")["price"]
    assert sdac[_utc("2024-10-05 22:00")] == 67.04 and exaa[_utc("2024-10-05 22:00")] == 98.1
    # A03: SDAC omits position 15 (12:00Z), EXAA position 23 (03:30Z): the previous value repeats
    assert sdac[_utc("2024-10-06 12:00")] == sdac[_utc("2024-10-06 11:00")] == -0.01
    assert exaa[_utc("2024-10-06 03:30")] == exaa[_utc("2024-10-06 03:15")] == 68.2
    assert set(df["location"]) == {"DE_LU"}


def test_intraday_auctions_ida1_to_ida3() -> None:
    df = _parse(MORE / "ES_A44_intraday_prices.xml")
    sizes = df.groupby("market").size().to_dict()
    assert sizes == {
        # A03: every Period is expanded to its 96 quarters, also where the last given position is 94
        "ENTSOE_INTRADAY_AUCTION_IDA1_15MIN": 4 * 96,
        "ENTSOE_INTRADAY_AUCTION_IDA2_15MIN": 4 * 96,
        "ENTSOE_INTRADAY_AUCTION_IDA3_15MIN": 3 * 48,
    }
    ida3 = df[df["market"] == "ENTSOE_INTRADAY_AUCTION_IDA3_15MIN"]
    assert ida3["interval_start_utc"].iloc[0] == _utc("2025-09-29 10:00")
    assert ida3["published_at_utc"].iloc[0] == _utc("2025-09-29 08:30")  # 10:30 CEST on the day
    ida1 = df[df["market"] == "ENTSOE_INTRADAY_AUCTION_IDA1_15MIN"]
    assert ida1["published_at_utc"].iloc[0] == _utc("2025-09-28 13:30")  # 15:30 CEST the day before


def test_load_forecasts_and_publication_rules() -> None:
    actual = _parse(XML / "tut_load_actual_BE_week__A65_A16__Actual_Total_Load_202401142300-202401212300.xml")
    assert len(actual) == 7 * 96 and set(actual["variable"]) == {"load"} and set(actual["area"]) == {"BE"}
    assert (actual["published_at_utc"] == actual["interval_end_utc"] + pd.Timedelta(hours=1)).all()
    fc = _parse(
        XML
        / "tut_load_forecast_BE_week__A65_A01__Day-ahead_Total_Load_Forecast_202401142300-202401212300.xml"
    )
    assert set(fc["variable"]) == {"load_forecast_day_ahead"}
    assert fc["published_at_utc"].iloc[0] == _utc("2024-01-14 09:00")  # 10:00 CET, D-1
    year = _parse(
        XML / "load61_e_year_ahead_total_load_forecast__A65_A33__Total_Load_Forecast_"
        "202301012300-202312312300.xml"
    )
    assert year.groupby("variable").size().to_dict() == {
        "load_forecast_year_ahead_max": 52,  # A03: position 3 omitted, repeated from 2
        "load_forecast_year_ahead_min": 52,
    }
    assert ((year["interval_end_utc"] - year["interval_start_utc"]) == pd.Timedelta(days=7)).all()
    assert (year["published_at_utc"] == _utc("2022-12-15 23:00")).all()


def test_generation_per_type_and_consumption_apart() -> None:
    df = _parse(
        XML / "generation_161bc_actual_per_psr_NL__A75_A16__Aggregated_Generation_per_Type_"
        "202409012200-202409022200.xml"
    )
    variables = set(df["variable"])
    assert len(df) == 20 * 96 and len(variables) == 20
    assert {
        "generation_fossil_hard_coal",
        "consumption_fossil_hard_coal",
        "generation_wind_offshore",
    } <= variables
    de = _parse(
        XML / "tut_renewables_DE_LU_2024_06_15__A75_A16__Aggregated_Generation_per_Type_"
        "202406142200-202406152200.xml"
    )
    assert {"consumption_hydro_pumped_storage", "generation_hydro_pumped_storage"} <= set(de["variable"])
    assert set(de["area"]) == {"DE_LU"} and set(de["unit"]) == {"MW"}


def test_flows_net_positions_and_capacity() -> None:
    flows = _parse(
        XML
        / "transmission121_g_cross_border_physical_flows__A11__Physical_Flows_202308232200-202308242200.xml"
    )
    assert set(zip(flows["area"], flows["area_to"], strict=True)) == {("DE_AMPRION", "BE")}
    assert set(flows["variable"]) == {"flow"} and len(flows) == 96
    dk = _parse(XML / "emaps__DK-DK1_GB_exchange_exports.xml")
    assert set(zip(dk["area"], dk["area_to"], strict=True)) == {("DK1", "GB")} and len(dk) == 39 + 2 + 3
    net = _parse(CASSETTES / "market121_e_implicit_auction_net_positions.yml")
    assert set(net["area"]) == {"BE"} and set(net["variable"]) == {"net_position_intraday"}
    assert net["value"].iloc[0] == 402.8  # out_Domain BE, in_Domain REGION: an export, positive
    ntc = _parse(XML / "emaps__ES_FR_capacity_day_ahead_export.xml")
    assert len(ntc) == 41 and set(zip(ntc["area"], ntc["area_to"], strict=True)) == {("FR", "ES")}


def test_acknowledgements() -> None:
    body = ACK.read_bytes()
    assert len(_map("intraday_auction_prices", body)) == 0
    assert len(_map("load_actual", body)) == 0
    refused = body.replace(b"<code>999</code>", b"<code>Z01</code>")
    with pytest.raises(ParseError, match=r"reason Z01.*No matching data found"):
        _map("intraday_auction_prices", refused)


def test_bad_payloads_are_refused() -> None:
    at = AT_A44.read_bytes()
    for dataset, body, reason in (
        ("day_ahead_prices", at[:1500], "malformed XML"),
        ("day_ahead_prices", b"", "empty body"),
        ("day_ahead_prices", b"<html><body>503</body></html>", "HTML page"),
        ("load_actual", at, "is day_ahead_prices"),
        ("day_ahead_prices", at.replace(b"10YAT-APG------L", b"10YXX-UNKNOWN--Z"), "unknown area EIC"),
        (
            "day_ahead_prices",
            at.replace(b"<position>1</position>", b"<position>2</position>", 1),
            "position repeated",
        ),
        (
            "day_ahead_prices",
            at.replace(b"<position>1</position>", b"<position>99</position>", 1),
            "outside 1..24",
        ),
        ("day_ahead_prices", at.replace(b">95.44<", b">n/a<"), "non-numeric"),
    ):
        with pytest.raises(ParseError, match=reason):
            _map(dataset, body)


def test_gui_prices_dst_days_and_15_minute_switch() -> None:
    start, _ = gui_mtu(GUI_PRICES.read_bytes())
    stamps = pd.DatetimeIndex(start).tz_localize("UTC")
    assert len(stamps) == 28_800 and stamps.is_monotonic_increasing and stamps.is_unique
    local_day = stamps.tz_convert("Europe/Brussels").date
    counts = pd.Series(local_day).value_counts()
    assert counts[pd.Timestamp("2025-03-30").date()] == 92
    assert counts[pd.Timestamp("2025-10-26").date()] == 100
    assert counts[pd.Timestamp("2025-01-15").date()] == 96
    df = _parse(GUI_PRICES)
    day = df["interval_start_utc"].dt.tz_convert("Europe/Brussels").dt.date
    spring = df[day == pd.Timestamp("2025-03-30").date()]
    autumn = df[day == pd.Timestamp("2025-10-26").date()]
    # before the 2025-10-01 go-live the repeated quarters are the hourly price: 23 hourly rows
    assert len(spring) == 23 and set(spring["market"]) == {"ENTSOE_DAY_AHEAD_HOURLY"}
    assert len(autumn) == 100 and set(autumn["market"]) == {"ENTSOE_DAY_AHEAD_15MIN"}
    assert autumn["interval_start_utc"].is_monotonic_increasing and autumn["interval_start_utc"].is_unique
    assert autumn["interval_start_utc"].iloc[0] == _utc("2025-10-25 22:00")
    assert autumn["interval_end_utc"].iloc[-1] == _utc("2025-10-26 23:00")
    hourly = df[df["market"] == "ENTSOE_DAY_AHEAD_HOURLY"]
    assert hourly["price"].iloc[0] == 22.14 and hourly["interval_end_utc"].iloc[0] == _utc("2025-01-01 00:00")
    assert hourly["interval_start_utc"].iloc[-1] == _utc("2025-09-30 21:00")
    assert set(df["location"]) == {"NO1"} and set(df["unit"]) == {"EUR/MWh"}
    assert len(df) == 6551 + 26 * 96 + 100


def test_gui_load_skips_unpublished_rows_and_hydro_weeks() -> None:
    df = _parse(GUI_LOAD)
    load = df[df["variable"] == "load"]
    assert load["interval_start_utc"].is_unique and len(load) < 8760
    text = GUI_LOAD.read_text().splitlines()[1:]
    # '-' after the export date (1,522 rows) and 38 empty cells are not published: no row, never a zero
    assert len(load) == sum(1 for line in text if line.split(",")[2] not in ("-", "")) == 7200
    first = load.iloc[0]
    assert (first["interval_start_utc"], first["value"]) == (_utc("2024-12-31 23:00"), 5053.18)
    spring = load[
        load["interval_start_utc"].dt.tz_convert("Europe/Brussels").dt.date
        == pd.Timestamp("2025-03-30").date()
    ]
    assert len(spring) == 23
    hydro = _parse(GUI_HYDRO)
    assert hydro["interval_start_utc"].iloc[0] == _utc("2024-12-29 23:00")
    assert hydro["value"].iloc[0] == 4308729.0 and set(hydro["unit"]) == {"MWh"}
    assert ((hydro["interval_end_utc"] - hydro["interval_start_utc"]) <= pd.Timedelta(days=7, hours=1)).all()


def _cassette_params(name: str) -> dict[str, str]:
    target = yaml.safe_load((CASSETTES / name).read_text())["responses"][0]["request"]["target"]
    return dict(parse_qsl(urlsplit(target).query))


def test_requests_equal_the_recorded_queries() -> None:
    ing = ENTSOEIngestor()
    url, params = ing.request("load_actual", "NL", pd.Timestamp("2024-09-02"))
    assert url == API == "https://web-api.tp.entsoe.eu/api"
    assert params == _cassette_params("load_61a_actual_total_load_NL.yml")
    _, params = ing.request("generation_actual_per_type", "NL", pd.Timestamp("2024-09-02"))
    assert params == _cassette_params("generation_161bc_actual_per_psr_NL.yml")
    _, params = ing.request("physical_flows", "DE_AMPRION>BE", pd.Timestamp("2023-08-24"))
    assert params == _cassette_params("transmission121_g_cross_border_physical_flows.yml")
    _, params = ing.request("day_ahead_prices", "NL", pd.Timestamp("2024-09-02"))
    assert params.items() >= _cassette_params("market_121d_day_ahead_prices_NL.yml").items()
    assert params["contract_MarketAgreement.type"] == "A01" and "securityToken" not in params
    _, spring = ing.request("day_ahead_prices", "DE_LU", pd.Timestamp("2025-03-30"))
    assert (spring["periodStart"], spring["periodEnd"]) == ("202503292300", "202503302200")
    with pytest.raises(ValueError, match="website export"):
        ing.request("gui_load", "NO1", pd.Timestamp("2025-01-01"))


def test_replay_pulls_one_request_per_day_and_zone(tmp_path: Path) -> None:
    ing = ENTSOEIngestor(zones=["NL"])
    url, params = ing.request("load_actual", "NL", pd.Timestamp("2024-09-02"))
    body = XML / "load_61a_actual_total_load_NL__A65_A16__Actual_Total_Load_202409012200-202409022200.xml"
    (tmp_path / "nl.xml").write_bytes(body.read_bytes())
    index = {request_key("GET", url, params): {"file": "nl.xml", "status": 200, "content_type": "text/xml"}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    ing = ENTSOEIngestor(http=HttpClient("replay", tmp_path), zones=["NL"])
    payloads = list(
        ing.pull_or_subscribe(PullRequest("load_actual", _utc("2024-09-01 22:00"), _utc("2024-09-02 22:00")))
    )
    assert len(payloads) == 1 and payloads[0].window_end_utc == _utc("2024-09-02 22:00")
    df = ing.map_to_schema(payloads[0])
    assert len(df) == 96 and set(df["area"]) == {"NL"}
    assert np.isclose(df["value"].sum(), _parse(body)["value"].sum())
