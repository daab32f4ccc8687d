"""NEM on its recorded NEMweb files: MMSDM archive in both naming eras, Reports/Current, listings, web API."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.nem.ingestor import NEMIngestor
from marketintel.connectors.nem.mms import read_mms
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

NEM = shared_dir() / "fixtures" / "aemo_nem"
pytestmark = pytest.mark.skipif(not NEM.is_dir(), reason=f"recorded NEM files not found at {NEM}")
FILES = sorted(p for p in NEM.rglob("*") if p.is_file()) if NEM.is_dir() else []
MMSDM = NEM / "mmsdm"
REPORTS = NEM / "reports_current"
UTC = "UTC"


def _parse(rel: str) -> pd.DataFrame:
    return parse_file("nem", NEM / rel)[1]


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return NEMIngestor().map_to_schema(RawPayload("nem", dataset, "x", body, pd.Timestamp.now(tz=UTC)))


class TestNEMContract(ConnectorContract):
    source = "nem"
    files = FILES


def test_every_recording_is_detected() -> None:
    found = {p.name: parse_file("nem", p)[0] for p in FILES}
    assert found["PUBLIC_DVD_DISPATCHPRICE_201804010000.zip"] == "dispatch_price"
    assert found["PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202501010000.zip"] == "dispatch_price"
    assert (
        found["PUBLIC_ARCHIVE%23DISPATCHREGIONSUM%23FILE01%23202412010000.zip"] == "dispatch_region_summary"
    )
    assert found["PUBLIC_DVD_TRADINGREGIONSUM_202104010000.zip"] == "trading_region_summary"
    assert found["PUBLIC_ARCHIVE%23BIDPEROFFER_D%23FILE01%23202408010000.zip"] == "bid_per_offer"
    assert found["PUBLIC_DISPATCHSCADA_202109021255_0000000348376188.zip"] == "unit_scada"
    assert found["aemo_5min_data.json"] == "web_5min_price"
    assert found["nemweb_dirlisting.html"] == "listing"
    # the same file name with a literal '#' (as the server's URL decodes it) is detected too
    assert NEMIngestor().detect_dataset("PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202408010000.zip", b"") == (
        "trading_price"
    )


def test_archive_urls_in_both_naming_eras() -> None:
    base = "https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM"
    assert NEMIngestor.archive_url("DISPATCHPRICE", "2024-07") == (
        f"{base}/2024/MMSDM_2024_07/MMSDM_Historical_Data_SQLLoader/DATA/PUBLIC_DVD_DISPATCHPRICE_202407010000.zip"
    )
    assert NEMIngestor.archive_url("DISPATCHPRICE", "2025-01") == (
        f"{base}/2025/MMSDM_2025_01/MMSDM_Historical_Data_SQLLoader/DATA/"
        "PUBLIC_ARCHIVE%2523DISPATCHPRICE%2523FILE01%2523202501010000.zip"
    )
    # the file names the server gives are the recorded ones
    for month, name in (
        ("2024-07", "PUBLIC_DVD_DISPATCHPRICE_202407010000.zip"),
        ("2025-01", "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202501010000.zip"),
    ):
        assert (MMSDM / name).is_file() and NEMIngestor.archive_file("DISPATCHPRICE", month) == name
    url, params = NEMIngestor().request("dispatch_price")
    assert (url, params) == ("https://nemweb.com.au/Reports/Current/DispatchIS_Reports/", None)


def test_dispatch_price_first_value_and_interval_ending_stamps() -> None:
    df = _parse("mmsdm/PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202501010000.zip")
    nsw = df[df["location"] == "NSW1"]
    # D,DISPATCH,PRICE,5,2025/01/01 00:05:00,1,NSW1,20241231241,0,138.0279,...: [00:00, 00:05) AEST
    first = nsw.iloc[0]
    assert first["price"] == 138.0279
    assert first["interval_start_utc"] == pd.Timestamp("2024-12-31 14:00", tz=UTC)
    assert first["interval_end_utc"] == pd.Timestamp("2024-12-31 14:05", tz=UTC)
    assert first["published_at_utc"] == first["interval_end_utc"]  # LASTCHANGED 00:00:03 is earlier
    assert (df["market"] == "NEM_DISPATCH_5MIN").all() and (df["currency"] == "AUD").all()
    assert set(df["location"]) == {"NSW1", "SA1"} and (df["location_type"] == "region").all()
    assert len(df) == 2880 and df["interval_end_utc"].max() == pd.Timestamp("2025-01-31 14:00", tz=UTC)


def test_dispatch_price_versions_and_intervention_runs() -> None:
    v1 = read_mms((MMSDM / "PUBLIC_DVD_DISPATCHPRICE_201804010000.zip").read_bytes())
    v4 = read_mms((MMSDM / "PUBLIC_DVD_DISPATCHPRICE_202407010000.zip").read_bytes())
    v5 = read_mms((MMSDM / "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202501010000.zip").read_bytes())
    versions = [m.tables[("DISPATCH", "PRICE")][0] for m in (v1, v4, v5)]
    assert versions == [1, 4, 5]
    assert "RAISE1SECRRP" in v5.tables[("DISPATCH", "PRICE")][1].column_names
    assert "RAISE1SECRRP" not in v4.tables[("DISPATCH", "PRICE")][1].column_names
    # 2018-04 holds 5,342 rows of which 2,462 are intervention runs: the pricing run (INTERVENTION 0) is kept
    df = _parse("mmsdm/PUBLIC_DVD_DISPATCHPRICE_201804010000.zip")
    assert len(df) == 2880
    nsw = df[df["location"] == "NSW1"].iloc[0]
    assert nsw["price"] == 67.58327  # not 68.30654, the INTERVENTION 1 row of the same interval


def test_trading_price_across_the_five_minute_switch() -> None:
    before = _parse("mmsdm/PUBLIC_DVD_TRADINGPRICE_202109010000.zip")
    after = _parse("mmsdm/PUBLIC_DVD_TRADINGPRICE_202110010000.zip")
    assert set(before["market"]) == {"NEM_TRADING_30MIN"} and set(after["market"]) == {"NEM_TRADING_5MIN"}
    assert ((before["interval_end_utc"] - before["interval_start_utc"]) == pd.Timedelta(minutes=30)).all()
    assert ((after["interval_end_utc"] - after["interval_start_utc"]) == pd.Timedelta(minutes=5)).all()

    def per_day(df: pd.DataFrame, day: str) -> int:
        local = df["interval_start_utc"].dt.tz_convert("Australia/Brisbane").dt.strftime("%Y-%m-%d")
        return int(((local == day) & (df["location"] == "NSW1")).sum())

    assert per_day(before, "2021-09-02") == 48 and per_day(after, "2021-10-02") == 288
    # 2021/09/02 09:00, PERIODID 18: NSW1 15.12 over 08:30-09:00 AEST
    row = before[
        (before["location"] == "NSW1")
        & (before["interval_end_utc"] == pd.Timestamp("2021-09-01 23:00", tz=UTC))
    ]
    assert row["price"].item() == 15.12
    assert row["interval_start_utc"].item() == pd.Timestamp("2021-09-01 22:30", tz=UTC)


def test_region_summary_values_and_interchange_sign() -> None:
    df = _parse("mmsdm/PUBLIC_ARCHIVE%23DISPATCHREGIONSUM%23FILE01%23202412010000.zip")
    first = df[(df["area"] == "NSW1") & (df["interval_end_utc"] == pd.Timestamp("2024-11-30 14:05", tz=UTC))]
    values = first.set_index("variable")["value"]
    assert values["demand"] == 7020.14 and values["available_generation"] == 10185.12786
    assert values["net_interchange"] == -190.08
    # TOTALDEMAND = DISPATCHABLEGENERATION - DISPATCHABLELOAD - NETINTERCHANGE: positive interchange = export
    assert np.isclose(
        values["dispatchable_generation"] - values["dispatchable_load"] - values["net_interchange"],
        values["demand"],
    )
    assert (df["market"] == "NEM").all() and (df["unit"] == "MW").all()
    trading = _parse("mmsdm/PUBLIC_DVD_TRADINGREGIONSUM_202104010000.zip")
    assert ((trading["interval_end_utc"] - trading["interval_start_utc"]) == pd.Timedelta(minutes=30)).all()


def test_unit_scada_archive_and_raw_report() -> None:
    df = _parse("mmsdm/PUBLIC_DVD_DISPATCH_UNIT_SCADA_201912010000.zip")
    row = df[(df["area"] == "HDWF2") & (df["interval_end_utc"] == pd.Timestamp("2019-11-30 14:05", tz=UTC))]
    assert row["value"].item() == 34.9 and row["variable"].item() == "generation"
    raw = _parse("reports_current/PUBLIC_DISPATCHSCADA_202109021255_0000000348376188.zip")
    # file created 12:50:16 AEST for SETTLEMENTDATE 12:55: the dispatch interval [12:50, 12:55) AEST
    assert len(raw) == 390 and raw["interval_end_utc"].unique().tolist() == [
        pd.Timestamp("2021-09-02 02:55", tz=UTC)
    ]
    assert raw[raw["area"] == "BARCSF1"]["value"].item() == 5.0
    mms = read_mms((REPORTS / "PUBLIC_DISPATCHSCADA_202109021255_0000000348376188.zip").read_bytes())
    assert mms.created == pd.Timestamp("2021-09-02 12:50:16")


def test_daily_report_covers_a_trading_day() -> None:
    df = _parse("reports_current/PUBLIC_DAILY_202605140000_20260515040504.zip")
    assert len(df) == 576  # 288 intervals x NSW1, SA1
    local_end = df["interval_end_utc"].dt.tz_convert("Australia/Brisbane")
    assert local_end.min() == pd.Timestamp("2026-05-14 04:05", tz="Australia/Brisbane")
    assert local_end.max() == pd.Timestamp("2026-05-15 04:00", tz="Australia/Brisbane")
    assert df.iloc[0]["price"] == 75.47365
    body = (REPORTS / "PUBLIC_DAILY_202605140000_20260515040504.zip").read_bytes()
    region = _map("daily_region_summary", body)
    assert region[(region["area"] == "NSW1") & (region["variable"] == "demand")]["value"].iloc[0] == 6673.31


def test_forecast_is_published_at_the_files_run_time() -> None:
    df = _parse("reports_current/PUBLIC_FORECAST_OPERATIONAL_DEMAND_HH_202504011800_20250401173353.zip")
    assert (df["published_at_utc"] == pd.Timestamp("2025-04-01 07:33:53", tz=UTC)).all()
    first = df[(df["area"] == "NSW1") & (df["interval_end_utc"] == pd.Timestamp("2025-04-01 08:00", tz=UTC))]
    assert first.set_index("variable")["value"].to_dict() == {
        "demand_forecast": 8407.0, "demand_forecast_poe10": 8525.0, "demand_forecast_poe90": 8290.0,
    }  # fmt: skip


def test_next_day_reports_are_published_when_issued() -> None:
    df = _parse("reports_current/PUBLIC_NEXT_DAY_INTERMITTENT_GEN_SCADA_20260514_0000000517721212.zip")
    assert (df["published_at_utc"] == pd.Timestamp("2026-05-14 18:10:47", tz=UTC)).all()
    assert set(df["unit"]) == {"count", "MW"}
    unit = _parse("reports_current/PUBLIC_NEXT_DAY_DISPATCH_20260514_0000000517721207.zip")
    assert set(unit["variable"]) == {"dispatch_target"}
    assert unit[unit["area"] == "HDWF2"]["value"].iloc[0] == 97.2543


def test_reference_and_rooftop_tables() -> None:
    caps = _parse("mmsdm/PUBLIC_DVD_MARKET_PRICE_THRESHOLDS_202104010000.zip")
    cap = caps[caps["variable"] == "market_price_cap"].iloc[-1]
    assert cap["value"] == 15000.0
    assert cap["interval_start_utc"] == pd.Timestamp("2020-06-30 14:00", tz=UTC)
    assert cap["interval_end_utc"] == pd.Timestamp("2021-06-30 14:00", tz=UTC)
    pv = _parse("mmsdm/PUBLIC_DVD_ROOFTOP_PV_ACTUAL_202104010000.zip")
    assert set(pv["variable"]) == {"generation_rooftop_pv_measurement", "generation_rooftop_pv_satellite"}
    assert (pv["published_at_utc"] >= pv["interval_end_utc"]).all()


def test_web_api_5min() -> None:
    df = _parse("aemo_web_api/aemo_5min_data.json")
    assert len(df) == 2880
    # first NSW1 row: SETTLEMENTDATE 2021-10-06T15:00:00 (AEST, interval-ending), RRP 0.0
    assert df.iloc[0]["interval_end_utc"] == pd.Timestamp("2021-10-06 05:00", tz=UTC)
    body = (NEM / "aemo_web_api/aemo_5min_data.json").read_bytes()
    region = _map("web_5min_region", body)
    assert region[(region["area"] == "NSW1") & (region["variable"] == "demand")]["value"].iloc[0] == 5941.25


def test_listings_with_urls() -> None:
    scada = _parse("nemweb_listing/Reports_CURRENT_Dispatch_SCADA_dirlisting.html")
    first = scada.iloc[0]
    assert first["name"] == "PUBLIC_DISPATCHSCADA_202108311255_0000000348260618.zip"
    assert first["url"] == (
        "https://nemweb.com.au/Reports/CURRENT/Dispatch_SCADA/PUBLIC_DISPATCHSCADA_202108311255_0000000348260618.zip"
    )
    assert first["published_at_utc"] == pd.Timestamp("2021-08-31 02:50", tz=UTC)  # 12:50 PM AEST
    assert first["covers_start_utc"] == pd.Timestamp("2021-08-31 02:50", tz=UTC)
    assert first["size_bytes"] == 3071
    dispatch = _parse("nemweb_listing/nemweb_dirlisting.html")
    assert len(dispatch) == 577 and dispatch["name"].str.startswith("PUBLIC_DISPATCHIS_").all()


def _zip(csv: bytes, name: str = "X.CSV") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(name, csv)
    return out.getvalue()


def test_malformed_input_is_refused() -> None:
    good = zipfile.ZipFile(MMSDM / "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202501010000.zip")
    csv = good.read(good.namelist()[0])
    for dataset, body, reason in (
        ("dispatch_price", b"", "empty body"),
        ("dispatch_price", b"<html><body>404</body></html>", "HTML page"),
        ("dispatch_price", b"PK\x03\x04broken", "broken zip"),
        ("dispatch_price", _zip(csv[: len(csv) // 2]), "truncated"),
        ("dispatch_price", _zip(b"a,b\n1,2\n"), "not an AEMO C/I/D CSV"),
        ("trading_price", _zip(csv), "no TRADING,PRICE table"),
        (
            "dispatch_price",
            _zip(
                csv.replace(
                    b"D,DISPATCH,PRICE,5,2025/01/01 00:05:00,1,NSW1,",
                    b"D,DISPATCH,PRICE,5,2025/01/01 00:05:00,1,",
                    1,
                )
            ),
            "do not fit",
        ),
        ("web_5min_price", b'{"5MIN": []}', "no rows"),
        ("listing", b"hello", "not a NEMweb directory listing"),
    ):
        with pytest.raises(ParseError, match=reason):
            _map(dataset, body)
    with pytest.raises(ParseError, match="dispatch_price"):
        NEMIngestor().detect_dataset("unknown.zip", b"PK")
