"""NYISO MIS reports on their recorded files (daily CSVs and a monthly ZIP), DST handling, the documented
day-ahead layout, bad payloads, and replay of the recorded requests."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.nyiso.ingestor import NYISOIngestor
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

FIXTURES = shared_dir() / "fixtures"
NYISO = FIXTURES / "nyiso"
pytestmark = pytest.mark.skipif(not NYISO.is_dir(), reason=f"recorded NYISO files not found at {NYISO}")
NAMES = (
    "em/20250219isolf.csv", "pyiso/20160119rtfuelmix.csv", "pyiso/20160401rtfuelmix_csv.zip",
    "pyiso/20171122ExternalLimitsFlows.csv", "pyiso/20171122isolf.csv", "pyiso/20171122pal.csv",
    "pyiso/20171122rtfuelmix.csv", "pyiso/genmix.csv", "pyiso/lmp.csv", "pyiso/load.csv",
    "pyiso/load_forecast.csv", "pyiso/trade.csv",
)  # fmt: skip
FILES = [NYISO / name for name in NAMES] if NYISO.is_dir() else []
UTC = "UTC"


def _parse(name: str) -> tuple[str, pd.DataFrame]:
    return parse_file("nyiso", NYISO / name)


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return NYISOIngestor().map_to_schema(RawPayload("nyiso", dataset, "x", body, pd.Timestamp.now(tz=UTC)))


def _at(utc: str) -> pd.Timestamp:
    return pd.Timestamp(utc, tz=UTC)


def _manifest_endpoint(name: str) -> str:
    """Return the recorded endpoint (Endpoint column) of ``nyiso/<name>`` in the fixtures manifest."""
    text = (FIXTURES / "MANIFEST-north-america.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| `nyiso/{name}` |"))
    return row.split(" | ")[6].strip()


class TestNYISOContract(ConnectorContract):
    source = "nyiso"
    files = FILES


def test_every_recorded_file_is_detected_with_its_row_count() -> None:
    expected = {
        "em/20250219isolf.csv": ("load_forecast_hourly", 144 * 12),  # 144 hours x (11 zones + NYISO)
        "pyiso/20160119rtfuelmix.csv": ("fuel_mix_5min", 2030),
        "pyiso/20160401rtfuelmix_csv.zip": ("fuel_mix_5min", 61033),  # the 30 members' rows, none dropped
        "pyiso/20171122ExternalLimitsFlows.csv": ("interface_flows_5min", 5202 + 4913 + 3179),
        "pyiso/20171122isolf.csv": ("load_forecast_hourly", 1728),
        "pyiso/20171122pal.csv": ("load_actual_5min", 3190),
        "pyiso/20171122rtfuelmix.csv": ("fuel_mix_5min", 2023),
        "pyiso/genmix.csv": ("fuel_mix_5min", 21),
        "pyiso/lmp.csv": ("lbmp_real_time_5min_zone", 45),
        "pyiso/load.csv": ("load_actual_5min", 55 - 11),  # the last stamp (19:35) is blank: not measured yet
        "pyiso/load_forecast.csv": ("load_forecast_hourly", 1728),
        "pyiso/trade.csv": ("interface_flows_5min", 172),
    }
    assert set(expected) == set(NAMES)
    for name, (dataset, rows) in expected.items():
        got_dataset, df = _parse(name)
        assert (got_dataset, len(df)) == (dataset, rows), name


def test_monthly_zip_parses_every_member() -> None:
    with zipfile.ZipFile(NYISO / "pyiso" / "20160401rtfuelmix_csv.zip") as zf:
        members = sorted(zf.namelist())
        rows = sum(len(pd.read_csv(zf.open(m))) for m in members)
    assert len(members) == 30 and rows == 61033
    _, df = _parse("pyiso/20160401rtfuelmix_csv.zip")
    local_end = df["interval_end_utc"].dt.tz_convert("America/New_York")
    # members run 00:05 .. 24:00 of their day; the 04/30 member stops at 23:55 (its 24:00 is missing)
    assert (local_end.min(), local_end.max()) == (
        pd.Timestamp("2016-04-01 00:05", tz="America/New_York"),
        pd.Timestamp("2016-04-30 23:55", tz="America/New_York"),
    )
    # 04/06 starts with an off-grid RTD-CAM stamp 00:03:37 EDT: a short interval, then 00:03:37..00:05
    nuclear = df[df["variable"] == "generation_nuclear"].set_index("interval_end_utc")
    assert nuclear.loc[_at("2016-04-06 04:05"), "interval_start_utc"] == _at("2016-04-06 04:03:37")
    assert len(nuclear) == len(df) / 7


def test_fuel_mix_stamps_are_interval_ends() -> None:
    """The 2016-01-19 daily file runs 00:05 .. 01/20 00:00 EST: each stamp ends its interval."""
    _, df = _parse("pyiso/20160119rtfuelmix.csv")
    wind = df[df["variable"] == "generation_wind"]
    first, last = wind.iloc[0], wind.iloc[-1]
    assert (first["interval_start_utc"], first["interval_end_utc"]) == (
        _at("2016-01-19 05:00"),
        _at("2016-01-19 05:05"),
    )
    assert (
        last["interval_end_utc"] == _at("2016-01-20 05:00") and last["value"] == 1232.0
    )  # 01/20/2016 00:00 EST
    assert (df["published_at_utc"] == df["interval_end_utc"]).all()
    assert set(df["unit"]) == {"MW"} and set(df["area"]) == {"NYISO"}
    _, dual = _parse("pyiso/genmix.csv")
    row = dual[(dual["variable"] == "generation_dual_fuel")].iloc[0]
    assert (row["interval_end_utc"], row["value"]) == (
        _at("2016-01-19 05:05"),
        2678.0,
    )  # 00:05 EST, "Gen MWh"


def test_pal_stamps_are_interval_beginnings_with_off_grid_rtd_intervals() -> None:
    """pal's day file runs 00:00:00 .. 23:55:00; RTD-CAM adds 00:07:34 and 00:09:40 on 2017-11-22."""
    _, df = _parse("pyiso/20171122pal.csv")
    capitl = df[df["area"] == "CAPITL"].reset_index(drop=True)
    assert len(capitl) == 290 and df["area"].nunique() == 11
    assert (capitl.loc[0, "interval_start_utc"], capitl.loc[0, "value"]) == (_at("2017-11-22 05:00"), 1140.5)
    spans = [(capitl.loc[k, "interval_start_utc"], capitl.loc[k, "interval_end_utc"]) for k in (1, 2, 3)]
    assert spans == [
        (_at("2017-11-22 05:05"), _at("2017-11-22 05:07:34")),
        (_at("2017-11-22 05:07:34"), _at("2017-11-22 05:09:40")),
        (_at("2017-11-22 05:09:40"), _at("2017-11-22 05:10")),
    ]
    assert capitl["interval_end_utc"].iloc[-1] == _at("2017-11-23 05:00")  # 23:55 EST + 5 min
    # the intervals tile the day: each starts where the previous ended
    assert (
        capitl["interval_start_utc"].iloc[1:].to_numpy() == capitl["interval_end_utc"].iloc[:-1].to_numpy()
    ).all()
    _, edt = _parse("pyiso/load.csv")
    assert edt["interval_start_utc"].min() == _at("2014-09-10 04:00")  # 00:00 EDT
    assert edt["interval_start_utc"].max() == _at("2014-09-10 04:15")  # the blank 19:35 row gave nothing


def test_isolf_is_hour_beginning_and_issued_at_the_first_day() -> None:
    _, df = _parse("em/20250219isolf.csv")
    assert df["area"].nunique() == 12 and "HUD VL" in set(df["area"]) and "NYISO" in set(df["area"])
    capitl = df[df["area"] == "CAPITL"].iloc[0]
    assert (capitl["interval_start_utc"], capitl["interval_end_utc"], capitl["value"]) == (
        _at("2025-02-19 05:00"), _at("2025-02-19 06:00"), 1492.0,
    )  # fmt: skip
    total = df[(df["area"] == "NYISO") & (df["interval_start_utc"] == _at("2025-02-25 04:00"))]
    assert total["value"].tolist() == [16465.0]  # "02/24/2025 23:00" EST, the last hour of the file
    assert (df["published_at_utc"] == _at("2025-02-19 05:00")).all()  # 2025-02-19 00:00 EST
    assert df.groupby("area").size().eq(144).all()


def test_isolf_monthly_zip_keeps_each_issue_as_a_revision() -> None:
    """A month ZIP holds one isolf per issue day: the same hour recurs once per issue, with its issue time.
    The second member is made from the recorded 11/22 file's rows for 11/23 onwards (a 5-day issue)."""
    recorded = (NYISO / "pyiso" / "20171122isolf.csv").read_bytes()
    lines = recorded.splitlines()
    later = [lines[0]] + [ln for ln in lines[1:] if not ln.startswith(b'"11/22/2017')]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("20171122isolf.csv", recorded)
        zf.writestr("20171123isolf.csv", b"\n".join(later) + b"\n")
    assert NYISOIngestor().detect_dataset("20171101isolf_csv.zip", buf.getvalue()) == "load_forecast_hourly"
    df = _map("load_forecast_hourly", buf.getvalue())
    assert len(df) == 1728 + 120 * 12
    hour = df[(df["area"] == "NYISO") & (df["interval_start_utc"] == _at("2017-11-23 05:00"))]
    assert hour["published_at_utc"].tolist() == [_at("2017-11-22 05:00"), _at("2017-11-23 05:00")]
    with pytest.raises(ParseError, match="blank forecast"):  # a file cut mid-line
        _map("load_forecast_hourly", recorded[:3000])


def test_interface_flows_and_limits() -> None:
    _, df = _parse("pyiso/20171122ExternalLimitsFlows.csv")
    first = df[(df["area"] == "CENTRAL EAST - VC") & (df["interval_start_utc"] == _at("2017-11-22 05:00"))]
    assert dict(zip(first["variable"], first["value"], strict=True)) == {
        "interface_flow": 2054.26,
        "interface_limit_positive": 2175.0,
    }  # the negative limit is -9999: no limit, no row
    assert df["area"].nunique() == 18 and not df["value"].abs().eq(9999).any()
    hq = df[(df["area"] == "SCH - HQ - NY") & (df["interval_start_utc"] == _at("2017-11-22 05:00"))]
    assert sorted(hq["value"]) == [-500.0, 1200.0, 1200.0]


def test_real_time_lbmp_components_and_sign() -> None:
    """lmp.csv (2016-02-18, congestion 0.00 everywhere): energy = LBMP - loss, one value for all zones."""
    dataset, df = _parse("pyiso/lmp.csv")
    assert dataset == "lbmp_real_time_5min_zone" and set(df["market"]) == {"NYISO_REAL_TIME_5MIN"}
    capitl = df[df["location"] == "CAPITL"].iloc[0]
    assert (capitl["interval_start_utc"], capitl["interval_end_utc"]) == (
        _at("2016-02-18 05:10"),
        _at("2016-02-18 05:15"),
    )
    assert (capitl["price"], capitl["loss"], capitl["congestion"]) == (21.53, 1.69, 0.0)
    assert capitl["energy"] == pytest.approx(19.84)
    first = df[df["interval_end_utc"] == _at("2016-02-18 05:15")]
    assert first["energy"].between(19.835, 19.855).all() and len(first) == 15
    assert set(df.loc[df["location"].isin(["H Q", "NPX", "O H", "PJM"]), "location_type"]) == {
        "external_zone"
    }
    assert (df["price"] - df["energy"] - df["loss"] - df["congestion"]).abs().max() < 1e-9


def test_congestion_sign_on_nyiso_published_components() -> None:
    """Hand-written in the realtime_zone layout from NYISO report P-4A (2000-06-30, 07:00): the published
    congestion is (energy + loss - LBMP); negated, both zones share one reference-bus energy (12.29)."""
    body = (
        b'"Time Stamp","Name","PTID","LBMP ($/MWHr)","Marginal Cost Losses ($/MWHr)",'
        b'"Marginal Cost Congestion ($/MWHr)"\n'
        b'"06/30/2000 07:05:00","CENTRL",61754,14.50,-0.35,-2.56\n'
        b'"06/30/2000 07:05:00","DUNWOD",61760,44.19,1.17,-30.73\n'
    )
    df = _map("lbmp_real_time_5min_zone", body).set_index("location")
    assert df.loc["DUNWOD", "congestion"] == 30.73 and df.loc["CENTRL", "congestion"] == 2.56
    assert df["energy"].round(2).tolist() == [12.29, 12.29]


def test_day_ahead_lbmp_from_the_documented_layout() -> None:
    """No damlbmp_zone recording exists: this hand-written payload follows the documented P-2A layout
    (unquoted, MM/DD/YYYY HH:MM, hour-beginning, no Time Zone column; the fall-back day lists 01:00
    twice, first EDT). Not verified on a real file."""
    assert not NYISOIngestor().discover().dataset("lbmp_day_ahead_hourly_zone").verified
    header = (
        "Time Stamp,Name,PTID,LBMP ($/MWHr),Marginal Cost Losses ($/MWHr),Marginal Cost Congestion ($/MWHr)"
    )
    rows = [header]
    for hour, lbmp in (("00:00", 30.0), ("01:00", 28.0), ("01:00", 27.5), ("02:00", 26.0)):
        rows.append(f"11/05/2017 {hour},N.Y.C.,61761,{lbmp},1.50,-3.25")
    body = ("\n".join(rows) + "\n").encode()
    assert NYISOIngestor().detect_dataset("20171105damlbmp_zone.csv", body) == "lbmp_day_ahead_hourly_zone"
    assert NYISOIngestor().detect_dataset("x.csv", body) == "lbmp_day_ahead_hourly_zone"  # no seconds
    df = _map("lbmp_day_ahead_hourly_zone", body)
    assert df["interval_start_utc"].tolist() == [
        _at("2017-11-05 04:00"), _at("2017-11-05 05:00"), _at("2017-11-05 06:00"), _at("2017-11-05 07:00"),
    ]  # 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST  # fmt: skip
    assert df["price"].tolist() == [30.0, 28.0, 27.5, 26.0]
    assert (df["congestion"] == 3.25).all() and (df["energy"] == df["price"] - 1.5 - 3.25).all()
    assert set(df["market"]) == {"NYISO_DAY_AHEAD_HOURLY"}
    assert (df["published_at_utc"] == _at("2017-11-04 15:00")).all()  # 11:00 EDT on the day before


def test_dst_end_uses_time_zone_labels_and_row_order() -> None:
    """Hand-written fall-back day (2017-11-05): pal labels the repeated 01:xx EDT then EST; the flow file
    has no label and lists them in time order."""
    pal = ['"Time Stamp","Time Zone","Name","PTID","Load"']
    flows = ["Timestamp,Interface Name,Point ID,Flow (MWH),Positive Limit (MWH),Negative Limit (MWH)"]
    for zone in ("EDT", "EST"):
        for minute in ("00", "30", "55"):
            pal.append(f'"11/05/2017 01:{minute}:00","{zone}","WEST",61752,1500')
            flows.append(f"11/05/2017 01:{minute},TOTAL EAST,23314,100,200,-9999")
    load = _map("load_actual_5min", ("\n".join(pal) + "\n").encode())
    flow = _map("interface_flows_5min", ("\n".join(flows) + "\n").encode())
    expected = [_at(f"2017-11-05 {h}:{m}") for h in ("05", "06") for m in ("00", "30", "55")]
    assert load["interval_start_utc"].tolist() == expected
    assert flow.loc[flow["variable"] == "interface_flow", "interval_start_utc"].tolist() == expected
    assert load["interval_end_utc"].iloc[2] == _at("2017-11-05 06:00")  # 01:55 EDT + 5 min = 01:00 EST


def test_dst_days_of_the_hourly_forecast() -> None:
    """Hand-written isolf layouts: 23 hours on the spring day (no 02:00), 25 on the fall day."""

    def isolf(day: str, hours: list[str]) -> bytes:
        rows = ['"Time Stamp","Capitl","NYISO"'] + [f'"{day} {h}",1000,15000' for h in hours]
        return ("\n".join(rows) + "\n").encode()

    spring = [f"{h:02d}:00" for h in range(24) if h != 2]
    fall = [f"{h:02d}:00" for h in range(24)]
    fall.insert(2, "01:00")
    short = _map("load_forecast_hourly", isolf("03/12/2017", spring))
    long = _map("load_forecast_hourly", isolf("11/05/2017", fall))
    assert short.groupby("area").size().eq(23).all() and long.groupby("area").size().eq(25).all()
    assert (
        long.loc[long["area"] == "NYISO", "interval_start_utc"].diff().dropna().eq(pd.Timedelta("1h")).all()
    )
    with pytest.raises(ParseError, match="do not fit Eastern time"):  # 02:00 does not exist on 2017-03-12
        _map("load_forecast_hourly", isolf("03/12/2017", [f"{h:02d}:00" for h in range(24)]))


def test_bad_payloads() -> None:
    good = (NYISO / "pyiso" / "20171122pal.csv").read_bytes()
    zipped = (NYISO / "pyiso" / "20160401rtfuelmix_csv.zip").read_bytes()
    cases = (
        ("load_actual_5min", b"", "empty body"),
        ("load_actual_5min", b"<html><body>404 Not Found</body></html>", "HTML page"),
        ("fuel_mix_5min", zipped[: len(zipped) // 2], "truncated or corrupt ZIP"),
        ("load_actual_5min", good.replace(b'"Load"', b'"Actual Load"', 1), r"missing \['Load'\]"),
        ("load_actual_5min", good.replace(b"1140.5", b"n/a", 1), "non-numeric Load"),
        ("load_actual_5min", good.replace(b'"EST"', b'"EDT"', 1), "contradicts the calendar"),
        ("load_actual_5min", good.splitlines()[0] + b"\n", "no data rows"),
        (
            "lbmp_real_time_5min_zone",
            b'"Time Stamp","Name"\n"02/18/2016 00:15:00","WEST"\n',
            "changed layout",
        ),
    )
    for dataset, body, reason in cases:
        with pytest.raises(ParseError, match=reason):
            _map(dataset, body)


def test_split_fetches_history_by_month_and_recent_days_daily() -> None:
    ing = NYISOIngestor()
    tz = "America/New_York"
    start, end = pd.Timestamp("2025-01-30", tz=tz), pd.Timestamp("2025-03-08", tz=tz)
    months, daily = ing.split(
        PullRequest("load_actual_5min", start, end), today=pd.Timestamp("2025-03-05", tz=tz)
    )
    assert [(m[0].strftime("%Y-%m-%d"), len(m)) for m in months] == [("2025-01-30", 2), ("2025-02-01", 25)]
    assert [ing.monthly_url("load_actual_5min", m[0]) for m in months] == [
        "http://mis.nyiso.com/public/csv/pal/20250101pal_csv.zip",
        "http://mis.nyiso.com/public/csv/pal/20250201pal_csv.zip",
    ]
    assert daily is not None and daily.start_utc == pd.Timestamp("2025-02-26", tz=tz)  # 7 days before today
    assert ing.daily_url("lbmp_real_time_5min_zone", pd.Timestamp("2025-03-01", tz=tz)) == (
        "http://mis.nyiso.com/public/csv/realtime/20250301realtime_zone.csv"
    )


def _replay(tmp_path: Path, url: str, fixture: str) -> HttpClient:
    (tmp_path / "r.bin").write_bytes((NYISO / fixture).read_bytes())
    index = {request_key("GET", url, None): {"file": "r.bin", "status": 200}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    return HttpClient("replay", tmp_path)


def test_replay_builds_the_recorded_monthly_zip_request(
    store: StoreProcess, ch_database: str, tmp_path: Path
) -> None:
    month = pd.Timestamp("2016-04-01", tz="America/New_York")
    url = NYISOIngestor().monthly_url("fuel_mix_5min", month)
    assert url == "http://" + _manifest_endpoint("pyiso/20160401rtfuelmix_csv.zip")
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    request = PullRequest("fuel_mix_5min", month, month + pd.DateOffset(months=1))
    ing = NYISOIngestor(http=_replay(tmp_path, url, "pyiso/20160401rtfuelmix_csv.zip"))
    report = ingest(ing, request, client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 61033, [])
    assert report.watermark_utc == _at("2016-05-01 04:00")
    assert client.command("SELECT count() FROM fundamentals FINAL WHERE source = 'nyiso'") == 61033


def test_replay_builds_the_recorded_daily_request(
    store: StoreProcess, ch_database: str, tmp_path: Path
) -> None:
    day = pd.Timestamp("2025-02-19", tz="America/New_York")
    url = NYISOIngestor().daily_url("load_forecast_hourly", day)
    assert url == "http://" + _manifest_endpoint("em/20250219isolf.csv")
    assert re.fullmatch(r"http://mis\.nyiso\.com/public/csv/isolf/20250219isolf\.csv", url)
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    ing = NYISOIngestor(http=_replay(tmp_path, url, "em/20250219isolf.csv"))
    ing.recent_days = 100_000  # treat 2025-02-19 as recent: the daily CSV, not the month's ZIP
    report = ingest(ing, PullRequest("load_forecast_hourly", day, day + pd.DateOffset(days=1)), client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 1728, [])
