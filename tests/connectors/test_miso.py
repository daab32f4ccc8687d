"""MISO on its recorded files: EST all year, hour-ending reports, Data Broker forecasts and fuel mix."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.miso.ingestor import REPORTS, MISOIngestor
from marketintel.connectors.miso.mapping import parse_df_al
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

MISO = shared_dir() / "fixtures" / "miso"
pytestmark = pytest.mark.skipif(not MISO.is_dir(), reason=f"recorded MISO files not found at {MISO}")
FILES = sorted(MISO.iterdir()) if MISO.is_dir() else []


class TestMISOContract(ConnectorContract):
    source = "miso"
    files = FILES


def test_reports_are_hour_ending_est_all_year() -> None:
    _, df = parse_file("miso", MISO / "da_exante_lmp_20251202_EXCERPT.csv")
    assert (df.groupby("location").size() == 24).all()
    assert df["interval_start_utc"].min() == pd.Timestamp(
        "2025-12-02 05:00", tz="UTC"
    )  # HE 1 = 00:00-01:00 EST
    assert set(df["location_type"]) == {"interface", "loadzone"}
    # 2025-03-10 is in US daylight time, but MISO stays on EST: midnight is still 05:00 UTC
    _, solar = parse_file("miso", MISO / "DataBroker_getSolarForecast.json")
    assert (
        solar["interval_start_utc"].min() == pd.Timestamp("2025-03-10 05:00", tz="UTC") and len(solar) == 48
    )
    assert (solar["published_at_utc"] == pd.Timestamp("2025-03-10 11:00", tz="UTC")).all()  # RefId 06:00 EST


def test_fuel_mix_interval_ends_at_its_stamp() -> None:
    _, df = parse_file("miso", MISO / "DataBroker_getfuelmix_2018-01-25.json")
    assert (df["interval_end_utc"] == pd.Timestamp("2018-01-25 09:30", tz="UTC")).all()
    assert df.loc[df["variable"] == "generation_coal", "value"].item() == 40384


@pytest.mark.parametrize(
    ("dataset", "body", "reason"),
    [
        ("lmp_day_ahead_exante_hourly", b"", "empty body"),
        ("lmp_day_ahead_exante_hourly", b"<html>maintenance</html>", "HTML page"),
        (
            "lmp_day_ahead_exante_hourly",
            b"Day Ahead Market ExAnte LMPs\n12/02/2025\nNode,Type\n",
            "no market date",
        ),
        ("wind_forecast", b'{"MktDay": "03-10-2025"}', "no Forecast list"),
        ("fuel_mix_5min", b"[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_payloads(dataset: str, body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        MISOIngestor().map_to_schema(RawPayload("miso", dataset, "x", body, pd.Timestamp.now(tz="UTC")))


def test_replay_ingest_of_a_report(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    url = f"{REPORTS}/20251202_da_exante_lmp.csv"
    (tmp_path / "r.csv").write_bytes((MISO / "da_exante_lmp_20251202_EXCERPT.csv").read_bytes())
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("GET", url, None): {"file": "r.csv", "status": 200}})
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    day = pd.Timestamp("2025-12-02 05:00", tz="UTC")  # the EST market day
    report = ingest(
        MISOIngestor(http=HttpClient("replay", tmp_path)),
        PullRequest("lmp_day_ahead_exante_hourly", day, day + pd.Timedelta(days=1)),
        client,
    )
    assert (report.payloads, report.rows, report.quarantined) == (1, 72, [])


def test_load_workbook_est_actuals_and_publication() -> None:
    dataset, df = parse_file("miso", MISO / "20250310_df_al.xls")
    assert dataset == "load_forecast_actual_daily"
    assert set(df["area"]) == {"LRZ1", "LRZ2_7", "LRZ3_5", "LRZ4", "LRZ6", "LRZ8_9_10", "MISO"}
    actual = df[(df["variable"] == "load") & (df["area"] == "MISO")]
    # 2025-03-09 is a US DST day, but MISO's EST clock gives it 24 hours, from 05:00 UTC
    assert len(actual) == 24 and actual["interval_start_utc"].min() == pd.Timestamp(
        "2025-03-09 05:00", tz="UTC"
    )
    assert actual["value"].iloc[0] == 65773.06
    assert (
        df["published_at_utc"] == pd.Timestamp("2025-03-11 05:00", tz="UTC")
    ).all()  # end of 2025-03-10 EST
    with pytest.raises(ParseError, match="not an XLS workbook"):
        parse_df_al(b"<html>Not found</html>")


def test_real_time_lmp_from_the_documented_layout() -> None:
    """HAND-WRITTEN payload, not a recording: getLMPConsolidatedTable's documented JSON shape (unverified)."""
    assert not MISOIngestor().discover().dataset("lmp_real_time_5min").verified
    body = json.dumps(
        {
            "LMPData": {
                "RefId": "10-Jul-2025 - Interval 14:25 EST",
                "FiveMinLMP": {
                    "HourAndMin": "14:25",
                    "PricingNode": [
                        {"name": "MINN.HUB", "LMP": "31.25", "MLC": "-0.75", "MCC": "2.00"},
                        {"name": "ALTW.ALTW", "LMP": "28.10", "MLC": "0.40", "MCC": "-1.30"},
                    ],
                },
            }
        }
    ).encode()
    assert (
        MISOIngestor().detect_dataset("DataBroker_getLMPConsolidatedTable.json", body) == "lmp_real_time_5min"
    )
    assert MISOIngestor().detect_dataset("rt.json", body) == "lmp_real_time_5min"
    df = MISOIngestor().map_to_schema(
        RawPayload("miso", "lmp_real_time_5min", "x", body, pd.Timestamp.now(tz="UTC"))
    )
    hub = df.set_index("location").loc["MINN.HUB"]
    # 14:25 EST (no DST even in July) = 19:25 UTC closes the interval 19:20-19:25
    assert (hub["interval_start_utc"], hub["interval_end_utc"]) == (
        pd.Timestamp("2025-07-10 19:20", tz="UTC"),
        pd.Timestamp("2025-07-10 19:25", tz="UTC"),
    )
    assert (hub["price"], hub["congestion"], hub["loss"], hub["location_type"]) == (31.25, 2.0, -0.75, "hub")
    assert hub["energy"] == pytest.approx(30.0)  # MEC = LMP - MCC - MLC
    assert df["market"].unique().tolist() == ["MISO_REAL_TIME_5MIN"] and list(df["location"]) == [
        "ALTW.ALTW",
        "MINN.HUB",
    ]
    from marketintel.store import get_table, validate_frame

    validate_frame(get_table("prices"), df)
    for bad, reason in ((b'{"LMPData": {"RefId": "x"}}', "no LMPData.FiveMinLMP"), (b"<html/>", "HTML page")):
        with pytest.raises(ParseError, match=reason):
            MISOIngestor().map_to_schema(
                RawPayload("miso", "lmp_real_time_5min", "x", bad, pd.Timestamp.now(tz="UTC"))
            )
