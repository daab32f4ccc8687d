"""CAISO on its recorded files: OASIS reports (CSV and XML), Today's Outlook, Renewables Watch; replay."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.caiso.ingestor import OASIS, CAISOIngestor
from marketintel.connectors.caiso.outlook import parse_outlook_7day, parse_renewables_watch
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

CAISO = shared_dir() / "fixtures" / "caiso"
pytestmark = pytest.mark.skipif(not CAISO.is_dir(), reason=f"recorded CAISO files not found at {CAISO}")
FILES = sorted(p for p in CAISO.rglob("*") if p.is_file()) if CAISO.is_dir() else []  # every recording
OUTLOOK = CAISO / "outlook_history_20260311_rtm_forecast_7day.csv"


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


def test_every_recorded_file_is_covered() -> None:
    assert len(FILES) == 13  # every file of the folder (the manifest header says 15; 13 are listed)


def test_damaged_xml_recording_is_recovered_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # pyiso's reduced ene_slrs.xml lost </REPORT_ITEM> (line 78 closes </RTO> instead): the document is
    # complete and all 6 REPORT_DATA elements are whole, so they are read, and the damage is logged
    with caplog.at_level(logging.WARNING, logger="marketintel.connectors.caiso.mapping"):
        dataset, df = parse_file("caiso", CAISO / "pyiso" / "ene_slrs.xml")
    assert dataset == "system_load_resource_schedules_dam" and len(df) == 6
    assert "malformed XML: mismatched tag: line 78" in caplog.text and "recovered all 6" in caplog.text
    row = df[
        (df["variable"] == "iso_tot_gen_mw")
        & (df["interval_start_utc"] == pd.Timestamp("2013-09-20", tz="UTC"))
    ]
    assert row["value"].item() == 27521.96 and row["area"].item() == "Caiso_Totals"
    assert (df["published_at_utc"] == pd.Timestamp("2014-02-24 20:25:40", tz="UTC")).all()


def test_malformed_or_error_reports_are_refused() -> None:
    damaged = (CAISO / "pyiso" / "ene_slrs.xml").read_bytes()
    cut = damaged[: damaged.index(b"</REPORT_DATA>", 1500)]  # a download cut inside an element
    broken_element = damaged.replace(b"<VALUE>704</VALUE>", b"<VALUE>704</VALU>")
    error = (
        b'<?xml version="1.0"?><OASISReport xmlns="x"><MessagePayload><RTO><ERROR>'
        b"<ERR_CODE>1000</ERR_CODE><ERR_DESC>No data returned</ERR_DESC></ERROR>"
        b"</RTO></MessagePayload></OASISReport>"
    )
    for body, reason in (
        (cut, "cut off"),
        (broken_element, "REPORT_DATA element is itself damaged|does not parse on its own"),
        (error, "OASIS error report"),
        (b"PK\x03\x04junk", "corrupt ZIP"),
        (b"", "empty body"),
    ):
        with pytest.raises(ParseError, match=reason):
            CAISOIngestor().map_to_schema(
                RawPayload(
                    "caiso", "system_load_resource_schedules_dam", "x", body, pd.Timestamp.now(tz="UTC")
                )
            )


def test_outlook_stamps_close_five_minute_intervals() -> None:
    dataset, df = parse_file("caiso", OUTLOOK)
    assert dataset == "outlook_7day" and len(df) == 14_697  # 6 forecasts x 2305 + 3 actuals x 289
    load = df[df["variable"] == "load"]
    # first row "03/11/2026 00:00" (PDT) closes the interval 23:55-00:00: its Demand is 21481 MW
    first = load.iloc[0]
    assert (first["interval_start_utc"], first["interval_end_utc"], first["value"]) == (
        pd.Timestamp("2026-03-11 06:55", tz="UTC"), pd.Timestamp("2026-03-11 07:00", tz="UTC"), 21481.0
    )  # fmt: skip
    assert len(load) == 289 and (load["published_at_utc"] == load["interval_end_utc"]).all()
    # the day-ahead forecast of hour ending 01:00 PDT (21677 MW) fills the 12 intervals ending 00:05..01:00
    da = df[df["variable"] == "load_forecast_day_ahead"].set_index("interval_end_utc")["value"]
    hour = da[pd.Timestamp("2026-03-11 07:05", tz="UTC") : pd.Timestamp("2026-03-11 08:00", tz="UTC")]
    assert len(hour) == 12 and (hour == 21677.0).all()
    # forecasts are stamped with the archive's snapshot: the end of the last actual (03/12 00:00 PDT)
    forecasts = df[df["variable"].str.contains("forecast|credits")]
    assert (forecasts["published_at_utc"] == pd.Timestamp("2026-03-12 07:00", tz="UTC")).all()
    assert df["interval_end_utc"].max() == pd.Timestamp("2026-03-19 07:00", tz="UTC")


def test_renewables_watch_on_the_spring_dst_day() -> None:
    dataset, df = parse_file("caiso", CAISO / "pyiso" / "20170312_DailyRenewablesWatch.txt")
    assert dataset == "renewables_watch_hourly"
    assert df["variable"].nunique() == 12 and (df.groupby("variable").size() == 23).all()  # 23 real hours
    wind = df[df["variable"] == "generation_wind"].set_index("interval_start_utc")["value"]
    # HE1 00:00 PST = 08:00 UTC, HE2 = 09:00 UTC; HE3 (02:00 PST) does not exist and holds an error text,
    # so the next row is HE4 = 03:00 PDT = 10:00 UTC, contiguous in UTC
    assert list(wind.index[:3]) == [pd.Timestamp(f"2017-03-12 {h}:00", tz="UTC") for h in ("08", "09", "10")]
    assert (wind.iloc[0], wind.iloc[1], wind.iloc[2]) == (1590.0, 1355.0, 1186.0)
    imports = df[df["variable"] == "imports"]
    assert imports["value"].iloc[0] == 6685.0
    assert (df["published_at_utc"] == pd.Timestamp("2017-03-13 07:00", tz="UTC")).all()  # end of the day


def test_renewables_watch_regular_days_and_the_old_outlook_csv() -> None:
    _, nov = parse_file("caiso", CAISO / "pyiso" / "20171106_DailyRenewablesWatch.txt")  # CRLF lines
    assert (nov.groupby("variable").size() == 24).all()
    assert nov["interval_start_utc"].min() == pd.Timestamp("2017-11-06 08:00", tz="UTC")  # PST again
    dataset, old = parse_file("caiso", CAISO / "pyiso" / "ren_report.csv")  # a 2014-03-12 Watch report
    assert dataset == "renewables_watch_hourly" and len(old) == 12 * 24
    solar = old[old["variable"] == "generation_solar_pv"].set_index("interval_start_utc")["value"]
    assert solar[pd.Timestamp("2014-03-12 19:00", tz="UTC")] == 3585.0  # HE13 PDT (DST began 03-09)


def test_renewables_watch_with_24_rows_on_the_autumn_dst_day_keeps_23_hours() -> None:
    """Not a recording of that day (none exists): the recorded 2017-11-04 file relabelled 11/05/17."""
    watch = (CAISO / "pyiso" / "20171104_DailyRenewablesWatch.txt").read_bytes()
    assert watch.startswith(b"11/04/17\t")
    df = parse_renewables_watch(b"11/05/17" + watch[len(b"11/04/17") :])
    assert (df.groupby("variable").size() == 23).all()  # the one hour that cannot be placed is left out
    wind = df[df["variable"] == "generation_wind"].set_index("interval_start_utc")["value"]
    # HE1 00:00 PDT = 07:00 UTC; HE2 (01:00, twice that day) left out; HE3 02:00 PST = 10:00 UTC;
    # HE24 23:00 PST = 07:00 UTC the next day
    assert wind.index[0] == pd.Timestamp("2017-11-05 07:00", tz="UTC")
    assert wind.index[1] == pd.Timestamp("2017-11-05 10:00", tz="UTC")
    assert wind.index[-1] == pd.Timestamp("2017-11-06 07:00", tz="UTC")
    original = parse_renewables_watch(watch)
    first = original[original["variable"] == "generation_wind"]["value"].tolist()
    assert wind.tolist() == first[:1] + first[2:]  # every other hour's value kept, in order
    assert "hour ending 2 of 2017-11-05 left out" in df.attrs["left_out"]


def test_bad_web_reports_are_refused() -> None:
    watch = (CAISO / "pyiso" / "20171104_DailyRenewablesWatch.txt").read_bytes()
    outlook = OUTLOOK.read_bytes()
    for parse, body, reason in (
        (parse_renewables_watch, watch.replace(b"\t912\t", b"\tn/a\t", 1), "non-numeric 'GEOTHERMAL'"),
        (
            parse_renewables_watch,
            watch.split(b"Hourly Breakdown of Total")[0],
            "not a Daily Renewables Watch",
        ),
        (parse_renewables_watch, b"<html>404</html>", "HTML page"),
        (parse_outlook_7day, outlook.replace(b"Net Demand,", b"Net Load,", 1), "missing \\['Net Demand'\\]"),
        (parse_outlook_7day, b"", "empty body"),
    ):
        with pytest.raises(ParseError, match=reason):
            parse(body)


def test_replay_builds_the_recorded_outlook_request(tmp_path: Path) -> None:
    url = "https://www.caiso.com/outlook/history/20260311/rtm_forecast_7day.csv"  # the manifest's request
    (tmp_path / "o.csv").write_bytes(OUTLOOK.read_bytes())
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("GET", url, None): {"file": "o.csv", "status": 200}})
    )
    day = pd.Timestamp("2026-03-11", tz="America/Los_Angeles")
    request = PullRequest(
        "outlook_7day", day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC")
    )
    ing = CAISOIngestor(http=HttpClient("replay", tmp_path))
    [payload] = list(ing.pull_or_subscribe(request))
    assert payload.url == url and len(ing.map_to_schema(payload)) == 14_697


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
    report = ingest(CAISOIngestor(http=HttpClient("replay", tmp_path)), request, client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 120, [])
