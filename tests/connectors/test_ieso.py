"""IESO on its recorded XML reports: EST all year, hour ending, 5-min intervals, both namespaces, replay.

Every UTC stamp below follows from EST = UTC-05:00 all year: hour ending ``h`` of day ``D`` starts at
``D (h-1):00`` EST = ``D (h+4):00`` UTC, and interval ``i`` of it ``5(i-1)`` minutes later.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.ieso.ingestor import IESOIngestor
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import get_table, migrate, validate_frame
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

IESO = shared_dir() / "fixtures" / "ieso"
pytestmark = pytest.mark.skipif(not IESO.is_dir(), reason=f"recorded IESO files not found at {IESO}")
NAMES = (
    "da_hourly_ontario_zonal_price_report_20260528.xml",
    "var_gen_forecast_summary_report_20250228.xml",
    "adequacy_report_20250228.xml",
    "gen_output_capability_20250228.xml",
    "pyiso/full_Adequacy2_20170618.xml",
    "pyiso/full_IntertieScheduleFlow_20170630.xml",
    "pyiso/full_PredispConstTotals_20170708.xml",
    "pyiso/full_RealtimeConstTotals_2017070101.xml",
    "pyiso/reduced_GenOutputCapability_20160429.xml",
    "pyiso/reduced_GenOutputbyFuelHourly_2016.xml",
)
FILES = [IESO / n for n in NAMES] if IESO.is_dir() else []


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def one(df: pd.DataFrame, **match: object) -> pd.Series:
    """Return the single row of ``df`` matching every column=value of ``match``."""
    mask = pd.Series(True, index=df.index)
    for col, value in match.items():
        mask &= df[col] == value
    rows = df[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {match}"
    return rows.iloc[0]


class TestIESOContract(ConnectorContract):
    source = "ieso"
    files = FILES


def test_every_recorded_file_is_detected() -> None:
    expected = {
        "da_hourly_ontario_zonal_price_report_20260528.xml": ("lmp_day_ahead_zonal_hourly", 24),
        "var_gen_forecast_summary_report_20250228.xml": ("vg_forecast_hourly", 1008),
        "adequacy_report_20250228.xml": ("adequacy_forecast_hourly", 2088),  # 2112 hours less 24 RampStatus
        "gen_output_capability_20250228.xml": ("generator_output_capability_hourly", 7),
        "full_Adequacy2_20170618.xml": ("adequacy_forecast_hourly", 2088),
        "full_IntertieScheduleFlow_20170630.xml": ("intertie_schedule_flow", 15 * 24 * 2 + 15 * 288),
        "full_PredispConstTotals_20170708.xml": ("constrained_totals_predispatch_hourly", 168),
        "full_RealtimeConstTotals_2017070101.xml": ("constrained_totals_real_time_5min", 96),
        "reduced_GenOutputCapability_20160429.xml": ("generator_output_capability_hourly", 4 * 3 * 24),
        "reduced_GenOutputbyFuelHourly_2016.xml": ("generation_by_fuel_hourly", 7 * 24 * 6),
    }
    for path in FILES:
        dataset, df = parse_file("ieso", path)
        assert (dataset, len(df)) == expected[path.name], path.name


def test_day_ahead_zonal_price_is_hour_ending_est() -> None:
    _, df = parse_file("ieso", IESO / NAMES[0])
    assert len(df) == 24 and df["interval_start_utc"].min() == utc("2026-05-28 05:00")
    assert (df["published_at_utc"] == utc("2026-05-27 17:31:16")).all()  # CreatedAt, EST
    first = df.iloc[0]
    assert (first["price"], first["loss"], first["congestion"], first["energy"]) == (17.76, 0.02, -0.26, 18.0)


def test_forecast_summary_by_zone_and_organisation() -> None:
    _, df = parse_file("ieso", IESO / NAMES[1])
    assert {"solar_forecast_market_participant", "wind_forecast_embedded"} <= set(df["variable"])
    assert "OntarioTotal" in set(df["area"])
    assert (df["published_at_utc"] == utc("2025-02-28 13:34:08")).all()  # 08:34:08 EST


def test_adequacy_2025_prefixed_namespace() -> None:
    _, df = parse_file("ieso", IESO / "adequacy_report_20250228.xml")
    assert (df["published_at_utc"] == utc("2025-02-28 09:22:51")).all()  # CreatedAt 04:22:51 EST
    # ForecastOntDemand HE1 = 15660, HE24 = 16298: HE24 ends at midnight EST = 05:00 UTC next day
    assert one(df, variable="load_forecast", interval_start_utc=utc("2025-02-28 05:00"))["value"] == 15660
    he24 = one(df, variable="load_forecast", interval_end_utc=utc("2025-03-01 05:00"))
    assert he24["value"] == 16298 and he24["interval_start_utc"] == utc("2025-03-01 04:00")
    # supply by fuel: Wind <Forecasts> HE1 = 2708, Nuclear <Capacities> = 13206
    h1 = df[df["interval_start_utc"] == utc("2025-02-28 05:00")]
    assert one(h1, variable="generation_wind_forecast")["value"] == 2708
    assert one(h1, variable="capacity_nuclear_forecast")["value"] == 13206
    # exports: TotalExports/Schedules HE1 is written -2875; stored as +2875 MW Ontario -> interties
    exp = one(h1, variable="export_scheduled_forecast", area="ONTARIO", area_to="ALL_INTERTIES")
    assert exp["value"] == 2875
    imp = one(h1, variable="import_scheduled_forecast", area="Manitoba", area_to="ONTARIO")
    assert imp["value"] == 146 and imp["unit"] == "MW"
    energy = one(h1, variable="supply_energy_forecast")  # EnergyMWhr
    assert (energy["value"], energy["unit"]) == (23608, "MWh")
    assert not df["variable"].str.contains("ramp").any()  # RampStatus Y/N flags are not quantities


def test_adequacy_2017_default_namespace() -> None:
    _, df = parse_file("ieso", IESO / "pyiso/full_Adequacy2_20170618.xml")
    assert (df["published_at_utc"] == utc("2017-06-19 04:49:39")).all()  # 2017-06-18T23:49:39 EST
    row = one(df, variable="load_forecast", interval_start_utc=utc("2017-06-18 05:00"))
    assert row["value"] == 13266  # a June HE1 covers 05:00-06:00 UTC: no daylight time at IESO


def test_adequacy_several_days_in_one_file() -> None:
    body = (IESO / "pyiso/full_Adequacy2_20170618.xml").read_bytes()
    header_start, body_end = body.index(b"<DocHeader>"), body.index(b"</DocBody>") + len(b"</DocBody>")
    second = body[header_start:body_end].replace(b"2017-06-18", b"2017-06-19")
    two_days = body[:body_end] + second + body[body_end:]
    df = IESOIngestor().map_to_schema(
        RawPayload("ieso", "adequacy_forecast_hourly", "x", two_days, pd.Timestamp.now(tz="UTC"))
    )
    assert len(df) == 2 * 2088
    load = df[df["variable"] == "load_forecast"]
    assert load["interval_start_utc"].min() == utc("2017-06-18 05:00")
    assert load["interval_end_utc"].max() == utc("2017-06-20 05:00")
    second_day = load[load["interval_start_utc"] >= utc("2017-06-19 05:00")]
    assert (second_day["published_at_utc"] == utc("2017-06-20 04:49:39")).all()  # its own DocHeader


def test_generator_output_capability_old_schema() -> None:
    _, df = parse_file("ieso", IESO / "pyiso/reduced_GenOutputCapability_20160429.xml")
    assert (df["published_at_utc"] == utc("2016-04-30 05:18:01")).all()  # CreatedAt 00:18:01 EST
    h1 = df[(df["area"] == "BRUCEA-G1") & (df["interval_start_utc"] == utc("2016-04-29 05:00"))]
    values = dict(zip(h1["variable"], h1["value"], strict=True))
    assert values == {"generation_nuclear": 774, "capability_nuclear": 781, "available_capacity_nuclear": 781}
    assert set(df["area"]) == {"BRUCEA-G1", "BRUCEA-G4", "WOLFE ISLAND", "TBAYBOWATER CTS"}
    assert "generation_wind" in set(df.loc[df["area"] == "WOLFE ISLAND", "variable"])


def test_generator_output_reduced_copy_without_doc_id() -> None:
    dataset, df = parse_file("ieso", IESO / "gen_output_capability_20250228.xml")
    assert dataset == "generator_output_capability_hourly"  # told from DocTitle: the root has no docID
    row = one(df, area="BRUCEA-G1")
    assert (row["variable"], row["value"]) == ("generation_nuclear", 826)
    assert row["interval_start_utc"] == utc("2025-02-28 05:00")
    # no CreatedAt in this copy: actuals are published at the end of their hour
    assert (df["published_at_utc"] == df["interval_end_utc"]).all()
    assert one(df, area="ONEIDA ENERGY STORAGE")["variable"] == "generation_other"


def test_intertie_schedules_hourly_flows_five_minute() -> None:
    _, df = parse_file("ieso", IESO / "pyiso/full_IntertieScheduleFlow_20170630.xml")
    assert (df["published_at_utc"] == utc("2017-07-01 05:30:42")).all()  # CreatedAt 00:30:42 EST
    sched = df[df["variable"].str.endswith("_scheduled")]
    flows = df[df["variable"] == "flow_actual"]
    assert ((sched["interval_end_utc"] - sched["interval_start_utc"]) == pd.Timedelta(hours=1)).all()
    assert ((flows["interval_end_utc"] - flows["interval_start_utc"]) == pd.Timedelta(minutes=5)).all()
    # MANITOBA HE1 interval 1: Flow -12.5 (into Ontario), 00:00-00:05 EST
    first = one(flows, area_to="MANITOBA", interval_start_utc=utc("2017-06-30 05:00"))
    assert (first["area"], first["value"]) == ("ONTARIO", -12.5)
    # Totals HE1: Import 51, Export 2450, first Flow 2269.4 (net out of Ontario)
    h1 = df[df["interval_start_utc"] == utc("2017-06-30 05:00")]
    assert one(h1, variable="import_scheduled", area="ALL_INTERTIES", area_to="ONTARIO")["value"] == 51
    assert one(h1, variable="export_scheduled", area="ONTARIO", area_to="ALL_INTERTIES")["value"] == 2450
    assert one(h1, variable="flow_actual", area_to="ALL_INTERTIES")["value"] == 2269.4
    # MICHIGAN HE12 (16:00-17:00 UTC) exports 800 MW and flows out of Ontario (+) all hour
    mich = df[(df["area_to"] == "MICHIGAN") & (df["interval_start_utc"] >= utc("2017-06-30 16:00"))]
    mich = mich[mich["interval_start_utc"] < utc("2017-06-30 17:00")]
    assert one(mich, variable="export_scheduled")["value"] == 800
    assert (mich.loc[mich["variable"] == "flow_actual", "value"] > 0).all()
    assert flows["interval_end_utc"].max() == utc("2017-07-01 05:00")  # HE24 interval 12


def test_intertie_running_day_drops_unmetered_flows() -> None:
    body = (IESO / "pyiso/full_IntertieScheduleFlow_20170630.xml").read_bytes()
    running = body.replace(b"<CreatedAt>2017-07-01T00:30:42", b"<CreatedAt>2017-06-30T12:30:00")
    df = IESOIngestor().map_to_schema(
        RawPayload("ieso", "intertie_schedule_flow", "x", running, pd.Timestamp.now(tz="UTC"))
    )
    flows = df[df["variable"] == "flow_actual"]
    assert flows["interval_end_utc"].max() == utc("2017-06-30 17:30")  # created 12:30 EST
    assert len(flows) == 15 * (12 * 12 + 6)  # HE1..HE12 and six intervals of HE13, per zone and total
    assert len(df[df["variable"] != "flow_actual"]) == 15 * 24 * 2  # schedules are all kept


def test_predispatch_constrained_totals() -> None:
    _, df = parse_file("ieso", IESO / "pyiso/full_PredispConstTotals_20170708.xml")
    assert (df["published_at_utc"] == utc("2017-07-09 03:15:11")).all()  # 2017-07-08T22:15:11 EST
    assert set(df["variable"]) == {
        "total_energy_forecast", "total_loss_forecast", "total_load_forecast", "total_dispatch_load_forecast",
        "total_10s_forecast", "total_10n_forecast", "total_30r_forecast",
    }  # fmt: skip
    assert (
        one(df, variable="total_energy_forecast", interval_start_utc=utc("2017-07-08 05:00"))["value"]
        == 15776.7
    )
    he24 = one(df, variable="total_energy_forecast", interval_end_utc=utc("2017-07-09 05:00"))
    assert he24["value"] == 15842.6


def test_realtime_constrained_totals_five_minute_of_he1() -> None:
    _, df = parse_file("ieso", IESO / "pyiso/full_RealtimeConstTotals_2017070101.xml")
    assert (df["published_at_utc"] == utc("2017-07-01 05:52:36")).all()  # CreatedAt 00:52:36 EST
    demand = df[df["variable"] == "ontario_demand"]
    assert len(demand) == 12
    # July HE1 2017-07-01 covers 05:00-06:00 UTC; interval 1 = 05:00-05:05, interval 12 = 05:55-06:00
    assert (
        demand.iloc[0]["interval_start_utc"] == utc("2017-07-01 05:00") and demand.iloc[0]["value"] == 13531.9
    )
    assert (
        demand.iloc[-1]["interval_end_utc"] == utc("2017-07-01 06:00") and demand.iloc[-1]["value"] == 12971.7
    )
    assert one(df, variable="total_energy", interval_start_utc=utc("2017-07-01 05:00"))["value"] == 16106.2


def test_generation_by_fuel_yearly_file() -> None:
    _, df = parse_file("ieso", IESO / "pyiso/reduced_GenOutputbyFuelHourly_2016.xml")
    assert (df["published_at_utc"] == utc("2016-05-13 11:50:25")).all()  # CreatedAt 06:50:25 EST
    nuclear = df[df["variable"] == "generation_nuclear"]
    assert (
        nuclear.iloc[0]["interval_start_utc"] == utc("2016-01-01 05:00") and nuclear.iloc[0]["value"] == 11188
    )
    assert (
        nuclear.iloc[-1]["interval_end_utc"] == utc("2016-01-08 05:00") and nuclear.iloc[-1]["value"] == 11345
    )
    # OutputQuality -2 (2016-01-05 HE17 GAS): the value is kept as published
    assert one(df, variable="generation_gas", interval_start_utc=utc("2016-01-05 21:00"))["value"] == 2765


# ---- hand-written payloads in the documented layout (NOT recordings) -----------------------------------
#: Real-Time 5-Min Ontario Zonal Price, hand-written after the documented RealtimeOntarioZonalPrice_r2
#: layout (Document/DocBody: DeliveryDate, DeliveryHour, ZonalPrice{Interval, Flag, LmpCap, LossPriceCap,
#: CongPriceCap}, AveragePrice). The numbers are invented; interval 3 is not cleared yet (empty prices).
RT_PRICE_HANDWRITTEN = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document docID="RealtimeOntarioZonalPrice" xmlns="http://www.ieso.ca/schema">
<DocHeader><DocTitle>Real-Time 5-Min Ontario Zonal Energy Price Report</DocTitle><DocRevision>1</DocRevision>
<CreatedAt>2025-07-01T00:12:30</CreatedAt></DocHeader>
<DocBody><DeliveryDate>2025-07-01</DeliveryDate><DeliveryHour>1</DeliveryHour>
<ZonalPrice><Interval>1</Interval><Flag>A</Flag><LmpCap>31.50</LmpCap><LossPriceCap>0.40</LossPriceCap>
<CongPriceCap>-0.10</CongPriceCap></ZonalPrice>
<ZonalPrice><Interval>2</Interval><Flag>A</Flag><LmpCap>29.00</LmpCap><LossPriceCap>0.35</LossPriceCap>
<CongPriceCap>0.00</CongPriceCap></ZonalPrice>
<ZonalPrice><Interval>3</Interval><Flag/><LmpCap/><LossPriceCap/><CongPriceCap/></ZonalPrice>
<AveragePrice><LmpCap>30.25</LmpCap><LossPriceCap>0.38</LossPriceCap><CongPriceCap>-0.05</CongPriceCap></AveragePrice>
</DocBody></Document>"""


def test_real_time_zonal_price_handwritten_documented_layout() -> None:
    ing = IESOIngestor()
    assert ing.detect_dataset("PUB_RealtimeOntarioZonalPrice_2025070101.xml", RT_PRICE_HANDWRITTEN) == (
        "lmp_real_time_zonal_5min"
    )
    assert not ing.discover().dataset("lmp_real_time_zonal_5min").verified
    df = ing.map_to_schema(
        RawPayload("ieso", "lmp_real_time_zonal_5min", "x", RT_PRICE_HANDWRITTEN, pd.Timestamp.now(tz="UTC"))
    )
    validate_frame(get_table("prices"), df)
    assert len(df) == 2  # interval 3 has no price yet; AveragePrice is not an interval
    assert list(df["interval_start_utc"]) == [utc("2025-07-01 05:00"), utc("2025-07-01 05:05")]
    first = df.iloc[0]
    assert (first["market"], first["price"], first["loss"], first["congestion"]) == (
        "IESO_REAL_TIME_5MIN", 31.5, 0.4, -0.1,
    )  # fmt: skip
    assert first["energy"] == 31.2 and first["published_at_utc"] == utc("2025-07-01 05:12:30")


def test_report_urls() -> None:
    ing = IESOIngestor()
    he1 = pd.Timestamp("2017-07-01 00:00", tz="Etc/GMT+5")
    assert ing.report_url("constrained_totals_real_time_5min", he1).endswith(
        "/RealtimeConstTotals/PUB_RealtimeConstTotals_2017070101.xml"
    )  # the recorded file's date-hour: HE01
    he24 = pd.Timestamp("2025-07-01 23:00", tz="Etc/GMT+5")
    assert ing.report_url("lmp_real_time_zonal_5min", he24) == (
        "https://reports-public.ieso.ca/public/RealtimeOntarioZonalPrice/PUB_RealtimeOntarioZonalPrice_2025070124.xml"
    )
    assert ing.report_url("generation_by_fuel_hourly", he1).endswith("/PUB_GenOutputbyFuelHourly_2017.xml")
    day = pd.Timestamp("2017-06-30", tz="Etc/GMT+5")
    assert ing.report_url("intertie_schedule_flow", day).endswith(
        "/IntertieScheduleFlow/PUB_IntertieScheduleFlow_20170630.xml"
    )
    assert ing.report_url("adequacy_forecast_hourly", day).endswith("/Adequacy2/PUB_Adequacy2_20170630.xml")


def test_bad_reports() -> None:
    cases = (
        ("lmp_day_ahead_zonal_hourly", b"", "empty"),
        ("lmp_day_ahead_zonal_hourly", b"<html><body>404</body>", "malformed XML|docID"),
        ("lmp_day_ahead_zonal_hourly", b'<Document docID="Other"/>', "expected an IESO"),
        ("adequacy_forecast_hourly", b'<Document docID="Adequacy2"/>', "no DocBody"),
        ("intertie_schedule_flow", (IESO / NAMES[5]).read_bytes()[:5000], "malformed XML"),  # truncated
        ("constrained_totals_real_time_5min",
         (IESO / NAMES[7]).read_bytes().replace(b"<Interval>1<", b"<Interval>13<"), "interval must be"),
        ("constrained_totals_predispatch_hourly",
         (IESO / NAMES[6]).read_bytes().replace(b"15776.7", b"n/a"), "non-numeric"),
        ("constrained_totals_predispatch_hourly",
         (IESO / NAMES[6]).read_bytes().replace(b"<CreatedAt>2017-07-08T22:15:11</CreatedAt>", b""),
         "CreatedAt"),
        ("lmp_real_time_zonal_5min", RT_PRICE_HANDWRITTEN.replace(b"<Interval>2<", b"<Interval>1<"), "twice"),
    )  # fmt: skip
    for dataset, body, reason in cases:
        with pytest.raises(ParseError, match=reason):
            IESOIngestor().map_to_schema(RawPayload("ieso", dataset, "x", body, pd.Timestamp.now(tz="UTC")))
    with pytest.raises(ParseError, match="cannot tell the dataset"):
        IESOIngestor().detect_dataset("x.xml", b'<Document docID="Unknown"/>')


def test_missing_values_yield_no_row() -> None:
    body = (IESO / "pyiso/reduced_GenOutputbyFuelHourly_2016.xml").read_bytes()
    body = body.replace(b"<Output>11188</Output>", b"", 1)  # pyiso: some FuelTotal lack an Output
    df = IESOIngestor().map_to_schema(
        RawPayload("ieso", "generation_by_fuel_hourly", "x", body, pd.Timestamp.now(tz="UTC"))
    )
    assert len(df) == 7 * 24 * 6 - 1
    nuclear = df[df["variable"] == "generation_nuclear"]
    assert nuclear.iloc[0]["interval_start_utc"] == utc("2016-01-01 06:00")


def test_replay_ingest(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    day = pd.Timestamp("2026-05-28 05:00", tz="UTC")
    url = IESOIngestor().report_url("lmp_day_ahead_zonal_hourly", day.tz_convert("Etc/GMT+5"))
    assert url.endswith("/DAHourlyOntarioZonalPrice/PUB_DAHourlyOntarioZonalPrice_20260528.xml")
    (tmp_path / "r.xml").write_bytes(FILES[0].read_bytes())
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("GET", url, None): {"file": "r.xml", "status": 200}})
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    report = ingest(
        IESOIngestor(http=HttpClient("replay", tmp_path)),
        PullRequest("lmp_day_ahead_zonal_hourly", day, day + pd.Timedelta(days=1)),
        client,
    )
    assert (report.payloads, report.rows, report.quarantined) == (1, 24, [])


def test_replay_hourly_report(tmp_path: Path) -> None:
    """A one-hour window asks for exactly the recorded hourly file (HE01 of 2017-07-01)."""
    url = "https://reports-public.ieso.ca/public/RealtimeConstTotals/PUB_RealtimeConstTotals_2017070101.xml"
    (tmp_path / "r.xml").write_bytes((IESO / NAMES[7]).read_bytes())
    (tmp_path / "index.json").write_text(
        json.dumps({request_key("GET", url, None): {"file": "r.xml", "status": 200}})
    )
    ing = IESOIngestor(http=HttpClient("replay", tmp_path))
    start = utc("2017-07-01 05:00")
    (payload,) = ing.pull_or_subscribe(
        PullRequest("constrained_totals_real_time_5min", start, start + pd.Timedelta(hours=1))
    )
    assert payload.url == url
    assert (payload.window_start_utc, payload.window_end_utc) == (start, utc("2017-07-01 06:00"))
    assert len(ing.map_to_schema(payload)) == 96
