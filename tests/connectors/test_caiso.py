"""CAISO OASIS on its recorded reports (CSV and XML), the documented PRC_LMP layout, replay."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from marketintel.connectors.base import ParseError, PullRequest, RawPayload
from marketintel.connectors.caiso.ingestor import OASIS, CAISOIngestor
from marketintel.connectors.http import HttpClient, request_key
from marketintel.connectors.runner import ingest

from marketintel.config import shared_dir
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

CAISO = shared_dir() / "fixtures" / "caiso"
pytestmark = pytest.mark.skipif(not CAISO.is_dir(), reason=f"recorded CAISO files not found at {CAISO}")
FILES = (
    sorted([*CAISO.glob("oasis_*.zip"), *CAISO.glob("oasis_xml_zip/*.zip"),
            *(CAISO / "pyiso" / name for name in ("sld_forecast.xml", "sld_ren_forecast.xml"))])
    if CAISO.is_dir()
    else []
)  # fmt: skip


class TestCAISOContract(ConnectorContract):
    source = "caiso"
    files = FILES


def test_gmt_stamps_and_generation_time() -> None:
    dataset, df = parse_file("caiso", CAISO / "oasis_SLD_FCST_7DA_20250219_20250227.zip")
    assert dataset == "load_forecast_7da" and len(df) == 6432
    assert df["interval_start_utc"].min() == pd.Timestamp("2025-02-19 08:00", tz="UTC")  # 00:00 PST
    # the CSV was generated at 2025-02-21 01:09:58 Pacific: the conservative publication time
    assert (df["published_at_utc"] == pd.Timestamp("2025-02-21 09:09:58", tz="UTC")).all()
    _, rtm = parse_file("caiso", CAISO / "pyiso" / "sld_forecast.xml")
    lengths = set(rtm["interval_end_utc"] - rtm["interval_start_utc"])
    assert lengths <= {pd.Timedelta("5min"), pd.Timedelta("15min")}  # RTD and RTPD items in the reduced file


def test_malformed_or_error_reports_are_refused() -> None:
    with pytest.raises(ParseError, match="malformed XML"):
        parse_file("caiso", CAISO / "pyiso" / "ene_slrs.xml")  # a truncated recording
    error = (
        b'<?xml version="1.0"?><OASISReport xmlns="x"><MessagePayload><RTO><ERROR>'
        b"<ERR_CODE>1000</ERR_CODE><ERR_DESC>No data returned</ERR_DESC></ERROR>"
        b"</RTO></MessagePayload></OASISReport>"
    )
    for body, reason in (
        (error, "OASIS error report"),
        (b"PK\x03\x04junk", "corrupt ZIP"),
        (b"", "empty body"),
    ):
        with pytest.raises(ParseError, match=reason):
            CAISOIngestor().map_to_schema(
                RawPayload("caiso", "load_forecast_dam", "x", body, pd.Timestamp.now(tz="UTC"))
            )


def test_prc_lmp_from_the_documented_layout() -> None:
    """No PRC_LMP recording exists: the parser follows OASIS's documented CSV layout (not verified)."""
    assert not CAISOIngestor().discover().dataset("lmp_day_ahead_hourly").verified
    rows = ["INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,NODE_ID_XML,NODE_ID,NODE,MARKET_RUN_ID,"
            "LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,MW,GROUP"]  # fmt: skip
    for lmp_type, value in (("LMP", 41.5), ("MCE", 40.0), ("MCC", 1.0), ("MCL", 0.5), ("MGHG", 0.0)):
        node = "TH_NP15_GEN-APND"
        rows.append(
            f"2025-03-01T08:00:00-00:00,2025-03-01T09:00:00-00:00,2025-03-01,1,{node},{node},{node},DAM,"
            f"{lmp_type},LMP_PRC,x,ALL,1,{value},1"
        )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("20250301_20250302_PRC_LMP_DAM_20250302_10_00_00_v1.csv", "\n".join(rows) + "\n")
    df = CAISOIngestor().map_to_schema(
        RawPayload("caiso", "lmp_day_ahead_hourly", "x", buf.getvalue(), pd.Timestamp.now(tz="UTC"))
    )
    row = df.iloc[0]
    assert (row["price"], row["energy"], row["congestion"], row["loss"]) == (41.5, 40.0, 1.0, 0.5)
    assert row["location_type"] == "hub" and len(df) == 1


def test_replay_ingest_of_one_operating_day(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    ing = CAISOIngestor()
    day = pd.Timestamp("2016-05-19", tz="America/Los_Angeles")
    params = ing.request_params("renewable_forecast_dam", day)
    assert (params["startdatetime"], params["enddatetime"]) == ("20160519T07:00-0000", "20160520T07:00-0000")
    (tmp_path / "r.zip").write_bytes(
        (CAISO / "oasis_xml_zip" / "20160519_20160520_SLD_REN_FCST_DAM.zip").read_bytes()
    )
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("GET", OASIS, params): {"file": "r.zip", "status": 200}})
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    request = PullRequest(
        "renewable_forecast_dam", day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC")
    )
    report = ingest(CAISOIngestor(http=HttpClient("replay", tmp_path), store=client), request)
    assert (report.payloads, report.rows, report.quarantined) == (1, 120, [])
