"""AESO on its recorded ETS reports (CSD snapshot, wind and solar 7-day forecasts), the documented API
price layouts (pool price, SMP) on hand-written payloads, DST days in America/Edmonton, bad payloads, replay.
"""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.aeso.ingestor import CSD_URL, POOL_PRICE_URL, AESOIngestor
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import get_table, migrate, validate_frame
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

FIXTURES = shared_dir() / "fixtures"
AESO = FIXTURES / "aeso"
pytestmark = pytest.mark.skipif(not AESO.is_dir(), reason=f"recorded AESO files not found at {AESO}")
CSD = AESO / "pyiso_CSDReport_2017-07-13.csv"
WIND = AESO / "wind_rpt_longterm.csv"
SOLAR = AESO / "solar_rpt_longterm.csv"
FILES = [CSD, SOLAR, WIND] if AESO.is_dir() else []


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return AESOIngestor().map_to_schema(RawPayload("aeso", dataset, "x", body, pd.Timestamp.now(tz="UTC")))


def _manifest_endpoint(name: str) -> str:
    """Return the Endpoint column of the manifest's row for ``aeso/<name>``."""
    for line in (FIXTURES / "MANIFEST-north-america.md").read_text().splitlines():
        if line.startswith(f"| `aeso/{name}` |"):
            return line.split("|")[7].strip()
    raise AssertionError(f"aeso/{name} is not in the manifest")


class TestAESOContract(ConnectorContract):
    source = "aeso"
    files = FILES


def test_every_recorded_file_is_detected() -> None:
    found = {p.name: parse_file("aeso", p)[0] for p in FILES}
    assert found == {
        CSD.name: "current_supply_demand",
        WIND.name: "wind_forecast_7day",
        SOLAR.name: "solar_forecast_7day",
    }


# ------------------------------------------------------------------------------------------------------
# Current Supply and Demand report (recorded 2017-07-13 19:26 MDT)
# ------------------------------------------------------------------------------------------------------
def test_csd_snapshot_values_and_stamp() -> None:
    _, df = parse_file("aeso", CSD)
    # 10 summary lines + 6 fuel lines x 3 measures + 4 interchange lines + 123 assets x 3 measures
    assert len(df) == 10 + 18 + 4 + 123 * 3 == 401
    # "Last Update : Jul 13, 2017 19:26" is MDT (UTC-6): the readings sit in the minute ending 01:26 UTC
    assert (df["published_at_utc"] == pd.Timestamp("2017-07-14 01:26", tz="UTC")).all()
    assert (df["interval_end_utc"] == pd.Timestamp("2017-07-14 01:26", tz="UTC")).all()
    assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta(minutes=1)).all()
    system = df[(df["area"] == "ALBERTA") & (df["area_to"] == "")].set_index("variable")["value"]
    assert system["load"] == 10270.0
    assert system["generation_total_net"] == 10054.0
    assert system["net_interchange"] == -216.0
    assert system["load"] == system["generation_total_net"] - system["net_interchange"]  # exports positive
    assert (
        system["capability_coal"],
        system["generation_coal"],
        system["dispatched_contingency_reserve_coal"],
    ) == (
        6283.0,
        4504.0,
        0.0,
    )
    assert system["generation_wind"] == 542.0 and system["dispatched_contingency_reserve_hydro"] == 264.0
    assert system["dispatched_contingency_reserve_from_other"] == 18.0
    flows = df[df["variable"] == "flow"].set_index("area_to")["value"].to_dict()
    assert flows == {"BRITISH_COLUMBIA": -216.0, "MONTANA": 0.0, "SASKATCHEWAN": 0.0, "TOTAL": -216.0}
    gn1 = (
        df[df["area"] == "GN1"].set_index("variable")["value"].to_dict()
    )  # "Genesee #1 (GN1)","400","399","0"
    assert gn1 == {
        "asset_capability": 400.0,
        "asset_dispatched_contingency_reserve": 0.0,
        "asset_generation": 399.0,
    }
    # asterisked asset names and the gas sub-headers are read: "Syncrude #1 (SCL1)*","510","291","0"
    assert df[(df["area"] == "SCL1") & (df["variable"] == "asset_generation")]["value"].item() == 291.0
    assert not df["area"].str.contains("<|ASSET|\\*", regex=True).any()


def test_csd_last_update_in_winter_is_mst() -> None:
    body = CSD.read_bytes().replace(b"Jul 13, 2017 19:26", b"Jan 13, 2017 19:26")
    df = _map("current_supply_demand", body)
    assert (df["published_at_utc"] == pd.Timestamp("2017-01-14 02:26", tz="UTC")).all()  # MST, UTC-7


# ------------------------------------------------------------------------------------------------------
# Wind and solar 7-day forecasts (recorded around 2025-03-20 04:00 MDT)
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [WIND, SOLAR], ids=["wind", "solar"])
def test_forecast_stamps_are_hour_beginning_mpt_and_issue_time(path: Path) -> None:
    fuel = path.name.split("_")[0]
    _, df = parse_file("aeso", path)
    assert len(df) == 4 * 216 + 48 == 912  # 4 forecast variables x 216 hours + 48 metered hours
    fc = df[df["variable"] == f"{fuel}_forecast"]
    # first row "2025-03-18 04:00" is the hour starting 04:00 MDT (UTC-6) = 10:00 UTC
    assert fc["interval_start_utc"].iloc[0] == pd.Timestamp("2025-03-18 10:00", tz="UTC")
    assert fc["interval_start_utc"].iloc[-1] == pd.Timestamp("2025-03-27 09:00", tz="UTC")  # 03:00 MDT
    # last Actual is the hour 2025-03-20 03:00-04:00 MDT: issued during 04:00-05:00, stamped at 05:00 MDT
    assert (fc["published_at_utc"] == pd.Timestamp("2025-03-20 11:00", tz="UTC")).all()
    actual = df[df["variable"] == f"{fuel}_generation"]
    assert len(actual) == 48 and actual["interval_start_utc"].max() == pd.Timestamp(
        "2025-03-20 09:00", tz="UTC"
    )
    assert (actual["published_at_utc"] == actual["interval_end_utc"]).all()


def test_forecast_values_read_from_the_files() -> None:
    _, wind = parse_file("aeso", WIND)
    hour = wind[wind["interval_start_utc"] == pd.Timestamp("2025-03-18 10:00", tz="UTC")]
    values = hour.set_index("variable")["value"].to_dict()
    # "2025-03-18 04:00,1308.25,2075.84,2906.81,2210.66,5688,..."
    assert values == {
        "wind_capacity": 5688.0,
        "wind_forecast": 2075.84,
        "wind_forecast_max": 2906.81,
        "wind_forecast_min": 1308.25,
        "wind_generation": 2210.66,
    }
    _, solar = parse_file("aeso", SOLAR)
    gen = solar[solar["variable"] == "solar_generation"].set_index("interval_start_utc")["value"]
    assert gen[pd.Timestamp("2025-03-18 13:00", tz="UTC")] == 0.44  # 07:00-08:00 MDT: sunrise ~07:30
    assert gen[pd.Timestamp("2025-03-19 01:00", tz="UTC")] == 34.87  # 19:00-20:00 MDT: sunset ~19:40
    assert gen[pd.Timestamp("2025-03-19 02:00", tz="UTC")] == 0.0  # 20:00-21:00 MDT: dark


def test_solar_profile_centres_on_solar_noon_when_read_hour_beginning() -> None:
    """Evidence for the stamp convention: the day's output is centred near solar noon (~13:35 MDT)."""
    _, solar = parse_file("aeso", SOLAR)
    fc = solar[solar["variable"] == "solar_forecast"]
    mid = (fc["interval_start_utc"] + pd.Timedelta(minutes=30)).dt.tz_convert("America/Edmonton")
    hours = mid.dt.hour + mid.dt.minute / 60
    centre = (hours * fc["value"]).groupby(mid.dt.date).sum() / fc["value"].groupby(mid.dt.date).sum()
    centre = centre.dropna()
    assert len(centre) == 9 and centre.between(12.9, 14.6).all()  # read hour-ending: ~1 h earlier


def test_forecast_dst_end_day_from_a_hand_written_report() -> None:
    """HAND-WRITTEN, in the recorded layout: 2024-11-03, when Edmonton's 01:00 happens twice."""
    header = "Forecast Transaction Date,Min,Most Likely,Max,Actual,MCR,Pct Min,Pct Most Likely,Pct Max\n"
    rows = ["2024-11-03 00:00,1,10,20,11", "2024-11-03 01:00,1,11,20,12", "2024-11-03 01:00,1,12,20,",
            "2024-11-03 02:00,1,13,20,"]  # fmt: skip
    body = (header + "".join(f"{r},5688,0,0,0\n" for r in rows)).encode()
    df = _map("wind_forecast_7day", body)
    fc = df[df["variable"] == "wind_forecast"].set_index("interval_start_utc")["value"]
    assert fc.to_dict() == {
        pd.Timestamp("2024-11-03 06:00", tz="UTC"): 10.0,  # 00:00 MDT
        pd.Timestamp("2024-11-03 07:00", tz="UTC"): 11.0,  # 01:00 MDT
        pd.Timestamp("2024-11-03 08:00", tz="UTC"): 12.0,  # 01:00 MST (the repeated hour)
        pd.Timestamp("2024-11-03 09:00", tz="UTC"): 13.0,  # 02:00 MST
    }
    # last actual: the hour starting 07:00 UTC; issued during the next hour, stamped at its end (09:00 UTC)
    assert (
        df[df["variable"] == "wind_forecast"]["published_at_utc"]
        == pd.Timestamp("2024-11-03 09:00", tz="UTC")
    ).all()


# ------------------------------------------------------------------------------------------------------
# Pool price and SMP: no recording; HAND-WRITTEN payloads in AESO's documented API layout
# ------------------------------------------------------------------------------------------------------
def _pool_payload(day: str, utc_start: str, mpt_hours: list[int], timestamp: str | None) -> bytes:
    """A HAND-WRITTEN Pool Price Report answer (documented layout), one record per settlement hour."""
    utc = pd.date_range(pd.Timestamp(utc_start), periods=len(mpt_hours), freq="h")
    records = [
        {
            "begin_datetime_utc": f"{u:%Y-%m-%d %H:%M}",
            "begin_datetime_mpt": f"{day} {h:02d}:00",
            "pool_price": f"{30 + k:.2f}",
            "forecast_pool_price": f"{31 + k:.2f}",
            "rolling_30day_avg": "66.02",
        }
        for k, (u, h) in enumerate(zip(utc, mpt_hours, strict=True))
    ]
    doc: dict[str, object] = {"return": {"Pool Price Report": records}}
    if timestamp:
        doc = {"timestamp": timestamp, "responseCode": "200", **doc}
    return json.dumps(doc).encode()


def test_pool_price_dst_days_in_edmonton() -> None:
    """HAND-WRITTEN payloads: 2024-03-10 (02:00 MST -> 03:00 MDT, 23 h) and 2024-11-03 (01:00 twice, 25 h)."""
    ing = AESOIngestor()
    assert not ing.discover().dataset("pool_price_hourly").verified
    spring = _map(
        "pool_price_hourly", _pool_payload("2024-03-10", "2024-03-10 07:00", [0, 1, *range(3, 24)], None)
    )
    autumn = _map(
        "pool_price_hourly", _pool_payload("2024-11-03", "2024-11-03 06:00", [0, 1, *range(1, 24)], None)
    )
    for df, hours, first, last in (
        (spring, 23, "2024-03-10 07:00", "2024-03-11 05:00"),  # 00:00 MST .. 23:00 MDT
        (autumn, 25, "2024-11-03 06:00", "2024-11-04 06:00"),  # 00:00 MDT .. 23:00 MST
    ):
        pool = df[df["market"] == "AESO_POOL_PRICE_HOURLY"]
        assert len(pool) == hours and pool["interval_start_utc"].is_unique
        assert pool["interval_start_utc"].iloc[0] == pd.Timestamp(first, tz="UTC")
        assert pool["interval_start_utc"].iloc[-1] == pd.Timestamp(last, tz="UTC")
        assert (pool["published_at_utc"] == pool["interval_end_utc"]).all()
        local = pool["interval_start_utc"].dt.tz_convert("America/Edmonton")
        assert local.dt.date.nunique() == 1
        validate_frame(get_table("prices"), df)
    repeated = autumn[(autumn["market"] == "AESO_POOL_PRICE_HOURLY")].iloc[1:3]
    assert list(repeated["price"]) == [31.0, 32.0]  # 01:00 MDT then 01:00 MST, both kept


def test_pool_price_forecast_publication_and_unsettled_hours() -> None:
    """HAND-WRITTEN: an answer written at 2024-04-14 07:30 UTC; the 07:00 hour is not settled yet."""
    body = _pool_payload("2024-04-14", "2024-04-14 06:00", [0, 1], "2024-04-14 07:30:00.000+0000")
    doc = json.loads(body)
    doc["return"]["Pool Price Report"][1]["pool_price"] = ""
    df = _map("pool_price_hourly", json.dumps(doc).encode())
    pool = df[df["market"] == "AESO_POOL_PRICE_HOURLY"]
    assert list(pool["price"]) == [30.0]
    fc = df[df["market"] == "AESO_POOL_PRICE_FORECAST_HOURLY"].set_index("interval_start_utc")[
        "published_at_utc"
    ]
    assert fc[pd.Timestamp("2024-04-14 06:00", tz="UTC")] == pd.Timestamp(
        "2024-04-14 07:00", tz="UTC"
    )  # hour end
    assert fc[pd.Timestamp("2024-04-14 07:00", tz="UTC")] == pd.Timestamp(
        "2024-04-14 07:30", tz="UTC"
    )  # answer time
    assert (df["currency"] == "CAD").all() and (df["location"] == "ALBERTA").all()


def test_pool_price_mpt_stamps_must_match_utc() -> None:
    body = _pool_payload("2024-11-03", "2024-11-03 06:00", [0, 2], None)  # 07:00 UTC is 01:00 MDT, not 02:00
    with pytest.raises(ParseError, match="begin_datetime_mpt"):
        _map("pool_price_hourly", body)


def test_smp_from_the_documented_layout() -> None:
    """HAND-WRITTEN System Marginal Price Report answer (documented layout); the last block is active."""
    records = [
        ("2024-04-16 05:33", "2024-04-16 06:00", "2024-04-15 23:33", "2024-04-16 00:00", 30.41),
        ("2024-04-16 06:00", "2024-04-16 06:12", "2024-04-16 00:00", "2024-04-16 00:12", 28.5),
        ("2024-04-16 06:12", "2024-04-17 05:59", "2024-04-16 00:12", "2024-04-16 23:59", 29.0),
    ]
    doc = {
        "timestamp": "2024-04-16 06:20:00.000+0000",
        "responseCode": "200",
        "return": {
            "System Marginal Price Report": [
                {"begin_datetime_utc": b, "end_datetime_utc": e, "begin_datetime_mpt": bm,
                 "end_datetime_mpt": em, "system_marginal_price": p, "volume": "50"}
                for b, e, bm, em, p in records
            ]
        },
    }  # fmt: skip
    assert AESOIngestor().detect_dataset("smp.json", json.dumps(doc).encode()) == "system_marginal_price"
    df = _map("system_marginal_price", json.dumps(doc).encode())
    assert list(df["price"]) == [30.41, 28.5]  # the active block (placeholder end 23:59) waits for its end
    assert df["interval_start_utc"].iloc[1] == pd.Timestamp("2024-04-16 06:00", tz="UTC")
    assert df["interval_end_utc"].iloc[1] == pd.Timestamp("2024-04-16 06:12", tz="UTC")
    validate_frame(get_table("prices"), df)


# ------------------------------------------------------------------------------------------------------
# bad payloads
# ------------------------------------------------------------------------------------------------------
def test_bad_payloads_are_refused() -> None:
    csd = CSD.read_bytes()
    wind = WIND.read_bytes()
    for dataset, body, reason in (
        ("current_supply_demand", b"", "empty body"),
        (
            "current_supply_demand",
            b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
            "HTML page",
        ),
        ("current_supply_demand", csd.replace(b"Last Update", b"Updated"), "Last Update"),
        (
            "current_supply_demand",
            csd.replace(b"Alberta Internal Load (AIL)", b"AIL"),
            "Alberta Internal Load",
        ),
        ("current_supply_demand", csd[: csd.index(b'"COAL"')], "generation-by-fuel"),  # cut after the summary
        ("current_supply_demand", csd[:900], "asset line with 1 field"),  # truncated mid-line in the assets
        ("current_supply_demand", csd.replace(b'"GAS","7348"', b'"GAS","n/a"'), "non-numeric"),
        ("wind_forecast_7day", wind.replace(b"Most Likely,", b"Likely,", 1), "missing \\['Most Likely'\\]"),
        ("wind_forecast_7day", wind.splitlines()[0] + b"\n", "no rows"),
        ("wind_forecast_7day", b"<html><head><title>404</title></head></html>", "HTML page"),
        ("pool_price_hourly", b"", "empty body"),
        ("pool_price_hourly", b'{"statusCode": 401, "message": "Access denied"}', "API error 401"),
        (
            "pool_price_hourly",
            b'{"return": {"Pool Price Report": [{"pool_price": "1"}]}}',
            "begin_datetime_utc",
        ),
        ("pool_price_hourly", b'{"return": {"Pool Price Report": [', "not JSON"),
        ("system_marginal_price", b'{"return": {"Pool Price Report": []}}', "System Marginal Price Report"),
    ):
        with pytest.raises(ParseError, match=reason):
            _map(dataset, body)


def test_unrecognised_file_names_the_datasets() -> None:
    with pytest.raises(ParseError, match="current_supply_demand"):
        AESOIngestor().detect_dataset("x.csv", WIND.read_bytes())  # wind and solar share a header


# ------------------------------------------------------------------------------------------------------
# requests and replay
# ------------------------------------------------------------------------------------------------------
def test_request_urls_equal_the_recorded_endpoints() -> None:
    ing = AESOIngestor()
    for dataset, path in (
        ("current_supply_demand", CSD),
        ("wind_forecast_7day", WIND),
        ("solar_forecast_7day", SOLAR),
    ):
        url, params = ing.request(dataset)
        key = request_key("GET", url, params).removeprefix("GET http://")
        assert fnmatch(key, _manifest_endpoint(path.name).replace("...", "*")), (key, path.name)
    assert request_key("GET", *ing.request("current_supply_demand")) == (
        "GET http://ets.aeso.ca/ets_web/ip/Market/Reports/CSDReportServlet?contentType=csv"
    )
    url, params = ing.request("pool_price_hourly", pd.Timestamp("2024-11-03", tz="America/Edmonton"))
    assert (url, params) == (POOL_PRICE_URL, {"startDate": "2024-11-03"})


def test_replay_builds_the_recorded_requests(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    index = {}
    for dataset, path in (("current_supply_demand", CSD), ("wind_forecast_7day", WIND)):
        url, params = AESOIngestor().request(dataset)
        (tmp_path / path.name).write_bytes(path.read_bytes())
        index[request_key("GET", url, params)] = {
            "file": path.name,
            "status": 200,
            "content_type": "text/csv",
        }
    (tmp_path / "index.json").write_text(json.dumps(index))
    assert CSD_URL in next(iter(index))
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    http = HttpClient("replay", tmp_path)
    ing = AESOIngestor(http=http)
    start = pd.Timestamp("2025-03-20 10:00", tz="UTC")
    report = ingest(ing, PullRequest("current_supply_demand", start, start + pd.Timedelta(hours=1)), client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 401, [])
    report = ingest(ing, PullRequest("wind_forecast_7day", start, start + pd.Timedelta(hours=1)), client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 912, [])
    assert http.requests == 2
    n = client.command("SELECT count() FROM fundamentals FINAL WHERE source = 'aeso' AND variable = 'load'")
    assert n == 1
