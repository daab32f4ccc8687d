"""ISO-NE on its recorded answers: loads, forecasts, fuel mix, reserve prices, reports; DST days; replay.

Every recorded ISO-NE file (``fixtures/isone/{api_v1.1,em,pyiso_2016}``) goes through the contract; the
tests below assert values read from the files by hand, and the LMP tests use hand-written payloads in the
documented layout (no LMP answer is recorded).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.isone.ingestor import (
    EXTRAS,
    WSCLIENT_VOLATILE,
    ISONEIngestor,
    wsclient_load_form,
)
from marketintel.ingest.http import HttpClient, RecordingMissingError, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import get_table, migrate, validate_frame
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

ROOT = shared_dir() / "fixtures" / "isone"
ISONE = ROOT / "api_v1.1"
pytestmark = pytest.mark.skipif(not ISONE.is_dir(), reason=f"recorded ISO-NE files not found at {ISONE}")
#: every recorded ISO-NE file: the web services, the www.iso-ne.com CSVs / web client, the 2016 reports
FILES = sorted(p for p in ROOT.rglob("*") if p.is_file()) if ROOT.is_dir() else []
NY = "America/New_York"


def _parse(path: Path) -> tuple[str, pd.DataFrame]:
    return parse_file("isone", path)


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return ISONEIngestor().map_to_schema(RawPayload("isone", dataset, "x", body, pd.Timestamp.now(tz="UTC")))


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


class TestISONEContract(ConnectorContract):
    source = "isone"
    files = FILES


def test_every_recorded_file_is_covered() -> None:
    assert len(FILES) == 50  # the 50 `isone/...` rows of MANIFEST-north-america.md
    datasets = {_parse(p)[0] for p in FILES}
    assert {"fuel_mix", "locations", "morning_report", "load_5min_wsclient"} <= datasets


# ------------------------------------------------------------------------------------------------------
# loads and load forecasts (table-driven feeds)
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "hours"), [("20240309", 24), ("20240310", 23), ("20241102", 24), ("20241103", 25)]
)
def test_dst_days_have_23_and_25_hours(day: str, hours: int) -> None:
    for family in ("dayaheadhourlydemand", "realtimehourlydemand"):
        _, df = _parse(ISONE / f"{family}_day_{day}_location_4001.json")
        assert df["interval_start_utc"].nunique() == hours
        assert (df["area"] == ".Z.MAINE").all()
        local = df["interval_start_utc"].dt.tz_convert(NY)
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


# ------------------------------------------------------------------------------------------------------
# fuel mix
# ------------------------------------------------------------------------------------------------------
def test_fuel_mix_updates_hold_until_the_next_update() -> None:
    dataset, df = _parse(ISONE / "genfuelmix_day_20240101.json")
    assert dataset == "fuel_mix" and len(df) == 2043  # one row per record
    gas = df[df["variable"] == "generation_natural_gas"]
    # first update 2024-01-01T00:00:14-05:00; every fuel of it holds until the next update
    first = gas.iloc[0]
    assert first["interval_start_utc"] == _utc("2024-01-01 05:00:14")
    assert first["interval_end_utc"] == gas.iloc[1]["interval_start_utc"]
    assert (
        gas["interval_start_utc"].iloc[1:].to_numpy() == gas["interval_end_utc"].iloc[:-1].to_numpy()
    ).all()
    # the last update (23:59:57 EST) holds 5 min, cut at the next local midnight
    assert df["interval_end_utc"].max() == _utc("2024-01-02 05:00")
    assert (df["published_at_utc"] == df["interval_end_utc"]).all()
    # Coal runs in 10 updates only: 10 rows, no zeros invented for the others
    assert (df["variable"] == "generation_coal").sum() == 10
    assert set(df["unit"]) == {"MW"} and set(df["area"]) == {"NEPOOL AREA"}


def test_fuel_mix_dst_start_2024_03_10() -> None:
    _, df = _parse(ISONE / "genfuelmix_day_20240310.json")
    assert len(df) == 2394 and df["interval_start_utc"].nunique() == 267
    gas = df[df["variable"] == "generation_natural_gas"]
    local = gas["interval_start_utc"].dt.tz_convert(NY)
    assert (local.dt.hour == 2).sum() == 0  # 02:00-03:00 does not exist that day
    # 01:57:05 EST is followed by 03:00:02 EDT: 2 min 57 s later, not an hour
    row = gas[gas["interval_start_utc"] == _utc("2024-03-10 06:57:05")].iloc[0]
    assert row["value"] == 4825.0 and row["interval_end_utc"] == _utc("2024-03-10 07:00:02")
    # the 23-hour day: first update 00:02:39 EST .. last update 23:54:41 EDT + 5 min
    assert gas["interval_start_utc"].min() == _utc("2024-03-10 05:02:39")
    assert gas["interval_end_utc"].max() == _utc("2024-03-11 03:59:41")
    assert (gas["interval_end_utc"] - gas["interval_start_utc"]).sum() == pd.Timedelta("22:57:02")


def test_fuel_mix_dst_end_2024_11_03() -> None:
    _, df = _parse(ISONE / "genfuelmix_day_20241103.json")
    assert len(df) == 2154 and df["interval_start_utc"].nunique() == 249
    gas = df[df["variable"] == "generation_natural_gas"]
    one_am = gas[gas["interval_start_utc"].dt.tz_convert(NY).dt.hour == 1]
    offsets = set(one_am["interval_start_utc"].dt.tz_convert(NY).map(lambda t: t.utcoffset()))
    assert offsets == {pd.Timedelta(hours=-4), pd.Timedelta(hours=-5)}  # the hour happens twice
    assert len(one_am) == 14
    first = gas[gas["interval_start_utc"] == _utc("2024-11-03 05:08:00")].iloc[0]  # 01:08:00 EDT
    assert first["value"] == 6883.0
    assert _utc("2024-11-03 06:01:16") in set(gas["interval_start_utc"])  # 01:01:16 EST, the second 1 am
    # 25-hour day: 00:08:35 EDT .. midnight EST (the last update 23:58:37 + 5 min is cut there)
    assert gas["interval_end_utc"].max() == _utc("2024-11-04 05:00")
    assert (gas["interval_end_utc"] - gas["interval_start_utc"]).sum() == pd.Timedelta("1 days 00:51:25")


def test_fuel_mix_current_holds_one_update() -> None:
    _, df = _parse(ISONE / "genfuelmix_current.json")
    assert len(df) == 9 and df["interval_start_utc"].nunique() == 1
    oil = df[df["variable"] == "generation_oil"].iloc[0]
    assert oil["value"] == 22.0 and oil["interval_start_utc"] == _utc("2024-11-25 21:07:59")
    assert oil["interval_end_utc"] == _utc("2024-11-25 21:12:59")  # the nominal 5-minute cadence


@pytest.mark.parametrize(
    ("dataset", "name"),
    [("fuel_mix", "genfuelmix_day_20241103.json"), ("system_load_hourly", "hourlysysload_day_20240310.json")],
)
def test_other_shapes_of_an_answer_parse_the_same(dataset: str, name: str) -> None:
    body = (ISONE / name).read_bytes()
    doc = json.loads(body)
    wrapper = next(iter(doc))
    expected = _map(dataset, body)
    # indented JSON, and the record list without its outer wrapper (pyarrow reader)
    pd.testing.assert_frame_equal(expected, _map(dataset, json.dumps(doc, indent=2).encode()))
    pd.testing.assert_frame_equal(expected, _map(dataset, json.dumps(doc[wrapper]).encode()))
    # one record not in a list, as the .../current answers send it (json.loads fallback)
    (record,) = doc[wrapper]
    first = {wrapper: {record: doc[wrapper][record][0]}}
    one = _map(dataset, json.dumps(first).encode())
    assert len(one) == (1 if dataset == "fuel_mix" else 3)  # one fuel / the three load variables
    first_rows = expected[expected["interval_start_utc"] == expected["interval_start_utc"].min()]
    assert set(one["value"]) <= set(first_rows["value"])
    assert set(one["interval_start_utc"]) == set(first_rows["interval_start_utc"])


# ------------------------------------------------------------------------------------------------------
# reserves, regulation, strike prices
# ------------------------------------------------------------------------------------------------------
def test_day_ahead_reserve_prices_and_quantities() -> None:
    dataset, df = _parse(ISONE / "daasreservedata_day_20251001.json")
    assert dataset == "reserve_prices_day_ahead_hourly" and len(df) == 96  # 24 hours x 4 products
    assert set(df["location"]) == {"TMSR", "TMNSR", "TMOR", "FER"}
    # hour ending 01 (market_hour.local_day 00:00 EDT): 5.58 $/MWh for every product
    first = df[df["interval_start_utc"] == _utc("2025-10-01 04:00")]
    assert set(first["price"]) == {5.58} and set(first["market"]) == {"ISONE_DA_ANCILLARY_HOURLY"}
    assert (df["published_at_utc"] == _utc("2025-09-30 17:30")).all()  # 13:30 EDT the day before
    assert set(df["unit"]) == {"USD/MWh"} and set(df["currency"]) == {"USD"}
    body = (ISONE / "daasreservedata_day_20251001.json").read_bytes()
    q = _map("reserve_prices_day_ahead_hourly_quantities", body)
    validate_frame(get_table("fundamentals"), q)
    assert len(q) == 24 * 8
    row = q[
        (q["variable"] == "reserve_designation_eir") & (q["interval_start_utc"] == _utc("2025-10-01 05:00"))
    ]
    assert row["value"].tolist() == [433.4] and row["area"].tolist() == ["NEPOOL AREA"]


def test_strike_prices_are_published_at_their_timestamp() -> None:
    dataset, df = _parse(ISONE / "daasstrikeprices_day_20251001.json")
    assert dataset == "strike_prices_day_ahead_hourly" and len(df) == 72
    strike = df[df["location"] == "STRIKE_PRICE"].iloc[0]
    assert strike["price"] == 37.49 and strike["interval_start_utc"] == _utc("2025-10-01 04:00")
    assert strike["published_at_utc"] == _utc("2025-09-30 14:30:36")  # 10:30:36 EDT the day before
    q = _map(
        "strike_prices_day_ahead_hourly_quantities",
        (ISONE / "daasstrikeprices_day_20251001.json").read_bytes(),
    )
    row = q[(q["variable"] == "rt_hub_lmp_expected") & (q["interval_start_utc"] == _utc("2025-10-01 05:00"))]
    assert row["value"].tolist() == [25.65] and row["unit"].tolist() == ["USD/MWh"]


def test_real_time_reserve_prices_preliminary_then_final() -> None:
    _, prelim = _parse(ISONE / "hourlyprelimreserveprice_day_20251001.json")
    dataset, final = _parse(ISONE / "hourlyfinalreserveprice_day_20251001.json")
    assert dataset == "reserve_prices_real_time_hourly_final" and len(final) == len(prelim) == 24 * 4 * 3
    key = (final["location"] == "CT:TMSR") & (final["interval_start_utc"] == _utc("2025-10-01 22:00"))
    assert final[key]["price"].tolist() == [0.11]  # 18:00 EDT, zone CT, ten-minute spinning reserve
    assert set(final["revision"]) == {"final"} and set(prelim["revision"]) == {"preliminary"}
    assert set(final["market"]) == {"ISONE_RT_RESERVE_HOURLY"}
    # a final price is a later revision of the preliminary one
    assert (final["published_at_utc"].to_numpy() > prelim["published_at_utc"].to_numpy()).all()
    _, zone = _parse(ISONE / "hourlyfinalreserveprice_day_20251001_reserveZone_7000.json")
    assert set(zone["location"]) == {"ROS:TMSR", "ROS:TMNSR", "ROS:TMOR"} and len(zone) == 72
    q = _map(
        "reserve_prices_real_time_hourly_final_quantities",
        (ISONE / "hourlyfinalreserveprice_day_20251001_reserveZone_7000.json").read_bytes(),
    )
    first = q[
        (q["variable"] == "reserve_designation_tmsr") & (q["interval_start_utc"] == _utc("2025-10-01 04:00"))
    ]
    assert first["value"].tolist() == [711.783] and first["area"].tolist() == ["ROS"]


def test_regulation_prices_snap_to_the_five_minute_grid() -> None:
    dataset, df = _parse(ISONE / "fiveminutercp_day_20251003.json")
    assert dataset == "regulation_prices_real_time_5min" and len(df) == 2 * 288
    cap = df[df["location"] == "REG_CAPACITY"]
    assert cap["interval_start_utc"].nunique() == 288
    # BeginDate 00:05:02 EDT -> the interval 00:05-00:10 EDT
    row = cap[cap["interval_start_utc"] == _utc("2025-10-03 04:05")].iloc[0]
    assert row["price"] == 10.0 and row["interval_end_utc"] == _utc("2025-10-03 04:10")
    assert set(df[df["location"] == "REG_SERVICE"]["unit"]) == {"USD/MW"}


# ------------------------------------------------------------------------------------------------------
# LMP: hand-written payloads in the documented layout (NOT recorded answers)
# ------------------------------------------------------------------------------------------------------
#: HAND-WRITTEN, in the layout of webservices.iso-ne.com/api/v1.1/hourlylmp/da/final/day/YYYYMMDD as
#: documented by gridstatus (isone_api.py::_handle_lmp_real_time) and danieljmehler/iso-newengland's README
HAND_WRITTEN_DA_LMP = {
    "HourlyLmps": {
        "HourlyLmp": [
            {
                "BeginDate": "2024-11-03T01:00:00.000-04:00",
                "Location": {"@LocId": "4000", "@LocType": "HUB", "$": ".H.INTERNAL_HUB"},
                "LmpTotal": 30.5,
                "EnergyComponent": 30.0,
                "CongestionComponent": 0.25,
                "LossComponent": 0.25,
            },
            {
                "BeginDate": "2024-11-03T01:00:00.000-05:00",
                "Location": {"@LocId": "4000", "@LocType": "HUB", "$": ".H.INTERNAL_HUB"},
                "LmpTotal": 28.0,
                "EnergyComponent": 28.1,
                "CongestionComponent": 0.0,
                "LossComponent": -0.1,
            },
            {
                "BeginDate": "2024-11-03T01:00:00.000-04:00",
                "Location": {"@LocId": "4001", "@LocType": "LOAD ZONE", "$": ".Z.MAINE"},
                "LmpTotal": 29.0,
                "EnergyComponent": 30.0,
                "CongestionComponent": 0.0,
                "LossComponent": -1.0,
            },
        ]
    }
}


def test_lmp_day_ahead_from_the_documented_layout() -> None:
    df = _map("lmp_day_ahead_hourly", json.dumps(HAND_WRITTEN_DA_LMP).encode())
    validate_frame(get_table("prices"), df)
    assert len(df) == 3 and set(df["market"]) == {"ISONE_DAY_AHEAD_HOURLY"}
    hub = df[df["location"] == ".H.INTERNAL_HUB"]
    # the repeated 1 am of 2024-11-03: two distinct UTC hours
    assert hub["interval_start_utc"].tolist() == [_utc("2024-11-03 05:00"), _utc("2024-11-03 06:00")]
    assert hub.iloc[0][["price", "energy", "congestion", "loss"]].tolist() == [30.5, 30.0, 0.25, 0.25]
    assert set(df["location_type"]) == {"hub", "load_zone"}
    assert (df["published_at_utc"] == _utc("2024-11-02 17:30")).all()  # 13:30 EDT the day before (rule)
    assert not ISONEIngestor().discover().dataset("lmp_day_ahead_hourly").verified


def test_lmp_real_time_five_minute_from_the_documented_layout() -> None:
    # HAND-WRITTEN, layout of fiveminutelmp/{prelim,final}/day/YYYYMMDD/starthour/HH (FiveMinLmps.FiveMinLmp)
    body = json.dumps(
        {
            "FiveMinLmps": {
                "FiveMinLmp": {  # a single record, as ISO-NE sends when there is one
                    "BeginDate": "2025-03-01T10:05:00.000-05:00",
                    "Location": {"@LocId": "4000", "@LocType": "HUB", "$": ".H.INTERNAL_HUB"},
                    "LmpTotal": 41.2,
                    "EnergyComponent": 41.0,
                    "CongestionComponent": 0.1,
                    "LossComponent": 0.1,
                }
            }
        }
    ).encode()
    prelim = _map("lmp_real_time_5min_prelim", body)
    final = _map("lmp_real_time_5min_final", body)
    assert prelim["interval_start_utc"].tolist() == [_utc("2025-03-01 15:05")]
    assert (
        prelim["interval_end_utc"].tolist()
        == prelim["published_at_utc"].tolist()
        == [_utc("2025-03-01 15:10")]
    )
    assert final["revision"].tolist() == ["final"] and final["published_at_utc"].tolist() == [
        _utc("2025-03-03 05:00")
    ]
    urls = ISONEIngestor().urls("lmp_real_time_5min_prelim", pd.Timestamp("2025-03-01", tz=NY))
    assert len(urls) == 24
    assert (
        urls[10] == "https://webservices.iso-ne.com/api/v1.1/fiveminutelmp/prelim/day/20250301/starthour/10"
    )


# ------------------------------------------------------------------------------------------------------
# locations, CSV forecasts, web client, morning report, seven-day forecast
# ------------------------------------------------------------------------------------------------------
def test_locations_become_instruments() -> None:
    dataset, df = _parse(ISONE / "locations.json")
    assert dataset == "locations" and len(df) == 19
    hub = df[df["instrument_id"] == "ISONE:4000"].iloc[0]
    assert (hub["location"], hub["location_type"], hub["unit"], hub["timezone"]) == (
        ".H.INTERNAL_HUB", "hub", "USD/MWh", NY,
    )  # fmt: skip
    assert df.set_index("instrument_id").loc["ISONE:7001", "location_type"] == "reserve_zone"
    assert (df["valid_from_utc"] == _utc("2003-03-01 05:00")).all() and df["valid_to_utc"].isna().all()


@pytest.mark.parametrize(
    ("kind", "published", "first", "last"),
    [
        ("solar", "2025-02-25 15:02:35", 661.0, 439.0),  # generated 10:02:35 EST; HE11 of day 1
        ("wind", "2025-02-25 15:08:14", 234.0, 525.0),
    ],
)
def test_seven_day_power_forecast_csv(kind: str, published: str, first: float, last: float) -> None:
    dataset, df = _parse(ROOT / "em" / f"seven_day_{kind}_power_forecast_20250225.csv")
    assert dataset == f"{kind}_forecast_7day" and len(df) == 7 * 24  # empty cells give no row
    assert (df["published_at_utc"] == _utc(published)).all()
    assert set(df["variable"]) == {f"{kind}_forecast"}
    # hour ending 11 of 02/25 = 10:00-11:00 EST; hour ending 10 of 03/04 = 09:00-10:00 EST (last value)
    assert df.iloc[0][["interval_start_utc", "value"]].tolist() == [_utc("2025-02-25 15:00"), first]
    assert df.iloc[-1][["interval_start_utc", "value"]].tolist() == [_utc("2025-03-04 14:00"), last]


def test_web_client_load_actuals_forecasts_and_cleared_demand() -> None:
    dataset, df = _parse(ROOT / "em" / "wsclient_5min_system_load_actual_forecast_20250317.json")
    assert dataset == "load_5min_wsclient" and len(df) == 823
    load = df[df["variable"] == "load"]
    assert len(load) == 131 and load.iloc[0]["value"] == 10427.106
    assert load.iloc[0]["interval_end_utc"] - load.iloc[0]["interval_start_utc"] == pd.Timedelta(minutes=5)
    # two issues of the forecast of 00:00 EDT 03-17: priorDay (03-16 09:23:32), forecast (03-17 09:05:32)
    fc = df[(df["variable"] == "load_forecast") & (df["interval_start_utc"] == _utc("2025-03-17 04:00"))]
    assert fc["published_at_utc"].tolist() == [_utc("2025-03-16 13:23:32"), _utc("2025-03-17 13:05:32")]
    assert len(df[df["variable"] == "load_forecast"]) == 72  # 48 + 24, the shared issue of 03-18 kept once
    assert len(df[df["variable"] == "load_day_ahead_cleared"]) == 24


def test_morning_report() -> None:
    dataset, df = _parse(ROOT / "pyiso_2016" / "morningreport_20160101.json")
    assert dataset == "morning_report" and len(df) == 50
    assert (df["published_at_utc"] == _utc("2016-01-01 13:14:51.097")).all()
    surplus = df[df["variable"] == "surplus_deficiency"].iloc[0]
    assert surplus["value"] == 2008.0
    assert (surplus["interval_start_utc"], surplus["interval_end_utc"]) == (
        _utc("2016-01-01 05:00"),
        _utc("2016-01-02 05:00"),
    )
    nb = df[(df["area_to"] == "NB") & (df["variable"] == "tie_import_limit")]
    assert nb["value"].tolist() == [-1000.0]  # negative = into New England
    peak = df[df["variable"] == "peak_load_forecast"].iloc[0]
    assert peak["value"] == 15770.0 and peak["interval_start_utc"] == _utc("2016-01-01 23:00")  # 18:00 EST


def test_seven_day_forecast() -> None:
    dataset, df = _parse(ROOT / "pyiso_2016" / "sevendayforecast_20160101.json")
    assert dataset == "seven_day_forecast" and len(df) == 150
    peak = df[df["variable"] == "peak_load_forecast_daily"]
    assert len(peak) == 6 and peak.iloc[0]["value"] == 16040.0
    assert peak.iloc[0]["interval_start_utc"] == _utc("2016-01-02 05:00")
    assert (df["published_at_utc"] == _utc("2016-01-01 14:45:12.343")).all()
    flags = df[df["unit"] == "flag"]
    assert set(flags["value"]) == {0.0} and "power_watch" in set(flags["variable"])


# ------------------------------------------------------------------------------------------------------
# bad payloads
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dataset",
    [
        "system_load_hourly",
        "fuel_mix",
        "reserve_prices_real_time_hourly_final",
        "locations",
        "morning_report",
    ],
)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"<?xml version='1.0'?><x/>", "XML page"),
        (b"<html><body>Service unavailable</body></html>", "HTML"),
        (b'{"Foo": 1}', "no "),
        (b'{"GenFuelMixes": {"GenFuelMix": [{"BeginDate": "2024', "not JSON"),
    ],
)
def test_bad_payloads(dataset: str, body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        _map(dataset, body)


def test_fuel_mix_with_a_changed_field_or_a_repeated_fuel_is_refused() -> None:
    renamed = (
        b'{"GenFuelMixes":{"GenFuelMix":[{"BeginDate":"2024-01-01T00:00:14.000-05:00","Mw":1,'
        b'"FuelCategory":"Hydro"}]}}'
    )
    with pytest.raises(ParseError, match="GenMw"):
        _map("fuel_mix", renamed)
    rec = '{"BeginDate":"2024-01-01T00:00:14.000-05:00","GenMw":1,"FuelCategory":"Hydro"}'
    with pytest.raises(ParseError, match="listed twice"):
        _map("fuel_mix", f'{{"GenFuelMixes":{{"GenFuelMix":[{rec},{rec}]}}}}'.encode())
    naive = (
        b'{"GenFuelMixes":{"GenFuelMix":[{"BeginDate":"2024-01-01T00:00:14","GenMw":1,"FuelCategory":"X"}]}}'
    )
    with pytest.raises(ParseError, match="UTC offset"):
        _map("fuel_mix", naive)


def test_reserve_answer_without_a_price_field_is_refused() -> None:
    doc = json.loads((ISONE / "hourlyfinalreserveprice_current.json").read_bytes())
    for rec in doc["FinalHourlyReservePrices"]["FinalHourlyReservePrice"]:
        del rec["TmsrClearingPrice"]
    with pytest.raises(ParseError, match="TmsrClearingPrice"):
        _map("reserve_prices_real_time_hourly_final", json.dumps(doc).encode())


def test_csv_report_without_its_issue_time_or_as_an_html_page_is_refused() -> None:
    text = (ROOT / "em" / "seven_day_wind_power_forecast_20250225.csv").read_text()
    with pytest.raises(ParseError, match="issue time"):
        _map("wind_forecast_7day", text.replace("Report generated", "Report made").encode())
    with pytest.raises(ParseError, match="HTML"):
        _map("wind_forecast_7day", b"<!DOCTYPE html><html>maintenance</html>")
    with pytest.raises(ParseError, match="not a seven-day wind"):
        _map("wind_forecast_7day", (ROOT / "em" / "seven_day_solar_power_forecast_20250225.csv").read_bytes())


# ------------------------------------------------------------------------------------------------------
# requests and replay
# ------------------------------------------------------------------------------------------------------
def test_urls_match_the_recorded_requests() -> None:
    ing = ISONEIngestor()
    day = pd.Timestamp("2024-03-10", tz=NY)
    assert ing.urls("fuel_mix", day) == ["https://webservices.iso-ne.com/api/v1.1/genfuelmix/day/20240310"]
    oct1 = pd.Timestamp("2025-10-01", tz=NY)
    assert ing.urls("reserve_prices_real_time_hourly_final", oct1) == [
        "https://webservices.iso-ne.com/api/v1.1/hourlyfinalreserveprice/day/20251001"
    ]
    assert ing.urls("reserve_prices_day_ahead_hourly_quantities", oct1) == [
        "https://webservices.iso-ne.com/api/v1.1/daasreservedata/day/20251001"
    ]
    assert ing.urls("locations", day) == ["https://webservices.iso-ne.com/api/v1.1/locations"]
    assert ing.urls("wind_forecast_7day", pd.Timestamp("2025-02-25", tz=NY)) == [
        "https://www.iso-ne.com/transform/csv/wphf?start=20250225"
    ]
    assert ing.urls("morning_report", pd.Timestamp("2016-01-01", tz=NY)) == [
        "https://webservices.iso-ne.com/api/v1.1/morningreport/day/20160101/all"
    ]
    assert ing.urls("load_5min_wsclient", day) == ["https://www.iso-ne.com/ws/wsclient"]
    form = wsclient_load_form(day)
    assert (form["_nstmp_startDate"], form["_nstmp_endDate"]) == ("03/10/2024", "03/10/2024")
    assert form["_nstmp_requestType"] == "systemload" and set(WSCLIENT_VOLATILE) < set(form)
    assert [name for name, x in EXTRAS.items() if x.form is not None] == ["load_5min_wsclient"]


def test_replay_builds_the_recorded_requests(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    ing = ISONEIngestor()
    day = pd.Timestamp("2024-11-03", tz="America/New_York")
    (url,) = ing.urls("load_forecast_by_region_hourly", day)
    assert url == "https://webservices.iso-ne.com/api/v1.1/reliabilityregionloadforecast/day/20241103/all"
    (fuel_url,) = ing.urls("fuel_mix", day)
    (tmp_path / "f.json").write_bytes(
        (ISONE / "reliabilityregionloadforecast_day_20241103_all.json").read_bytes()
    )
    (tmp_path / "g.json").write_bytes((ISONE / "genfuelmix_day_20241103.json").read_bytes())
    (tmp_path / "index.json").write_text(
        json.dumps(
            {
                request_key("GET", url, None): {"file": "f.json", "status": 200},
                request_key("GET", fuel_url, None): {"file": "g.json", "status": 200},
            }
        )
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    window = (day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC"))
    http = HttpClient("replay", tmp_path)
    report = ingest(ISONEIngestor(http=http), PullRequest("load_forecast_by_region_hourly", *window), client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 1264, [])
    report = ingest(ISONEIngestor(http=http), PullRequest("fuel_mix", *window), client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 2154, [])
    assert client.command("SELECT count() FROM fundamentals FINAL WHERE source = 'isone'") == 1264 + 2154


def test_web_client_load_replays_its_form_post(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    """The web client's load is a form POST; its recording replays whatever the cache-busting stamp."""
    day = pd.Timestamp("2025-03-17", tz=NY)
    (url,) = ISONEIngestor().urls("load_5min_wsclient", day)
    form = {k: v for k, v in wsclient_load_form(day).items() if k not in WSCLIENT_VOLATILE}
    (tmp_path / "w.json").write_bytes(
        (ROOT / "em" / "wsclient_5min_system_load_actual_forecast_20250317.json").read_bytes()
    )
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("POST", url, form): {"file": "w.json", "status": 200}})
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    window = (day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC"))
    ing = ISONEIngestor(http=HttpClient("replay", tmp_path))
    report = ingest(ing, PullRequest("load_5min_wsclient", *window), client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 823, [])
    assert (
        client.command("SELECT count() FROM fundamentals FINAL WHERE source = 'isone' AND variable = 'load'")
        == 131
    )
    next_day = PullRequest("load_5min_wsclient", window[1], window[1] + pd.Timedelta(days=1))
    with pytest.raises(RecordingMissingError, match="POST"):  # a day not recorded: the replay says so
        ingest(ISONEIngestor(http=HttpClient("replay", tmp_path)), next_day, client)
