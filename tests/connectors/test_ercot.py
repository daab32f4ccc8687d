"""ERCOT on its recorded documents: DSTFlag, hour ending, posting times, listing then download (replay).

Also the public dashboards (JSON snapshots), the document listings (MIS and public-API archive), the
2-Day AS reports of the 25-hour 2024-11-03, and the settlement point price reports NP4-190 / NP6-905,
which have no recording: those are tested on small HAND-WRITTEN payloads in the documented layout.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.ercot.ingestor import (
    ARCHIVE_URL,
    DOWNLOAD_URL,
    LIST_URL,
    ERCOTIngestor,
    documents,
)
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.runner import ingest
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import migrate
from tests.connectors.contract import ConnectorContract, parse_file
from tests.storeproc import StoreProcess

ERCOT = shared_dir() / "fixtures" / "ercot"
pytestmark = pytest.mark.skipif(not ERCOT.is_dir(), reason=f"recorded ERCOT files not found at {ERCOT}")
FILES = sorted(p for p in ERCOT.glob("*/*") if p.is_file()) if ERCOT.is_dir() else []
UTC = "UTC"


class TestERCOTContract(ConnectorContract):
    source = "ercot"
    files = FILES


def test_dst_flag_resolves_the_repeated_hour() -> None:
    _, end = parse_file(
        "ercot", ERCOT / "inline_snippets" / "actual_load_15min_DST_end_2016-11-06_SNIPPET.csv"
    )
    # four 15-minute intervals in CDT (N), then four in the repeated hour in CST (Y): eight distinct instants
    assert end["interval_end_utc"].min() == pd.Timestamp("2016-11-06 01:00-05:00").tz_convert(UTC)
    assert end["interval_end_utc"].max() == pd.Timestamp("2016-11-06 02:00-06:00").tz_convert(UTC)
    assert end["interval_start_utc"].nunique() == 8
    _, start = parse_file(
        "ercot", ERCOT / "inline_snippets" / "actual_load_15min_DST_start_2016-03-13_SNIPPET.csv"
    )
    # 01:45 CST is followed by 03:00 CDT: the last interval is still 15 minutes long
    assert start["interval_start_utc"].max() == pd.Timestamp("2016-03-13 01:45-06:00").tz_convert(UTC)
    assert start["interval_end_utc"].max() == pd.Timestamp("2016-03-13 03:00-05:00").tz_convert(UTC)


def test_hour_ending_reports_and_their_posting_time() -> None:
    _, df = parse_file("ercot", ERCOT / "mis" / "LFCCONGESTNP3560_20250313.zip")
    assert df["interval_start_utc"].min() == pd.Timestamp("2025-03-13 00:00-05:00").tz_convert(UTC)  # HE 1
    assert df["interval_end_utc"].max() == pd.Timestamp("2025-03-21 00:00-05:00").tz_convert(UTC)  # HE 24:00
    assert (df["published_at_utc"] == pd.Timestamp("2025-03-13 12:30-05:00").tz_convert(UTC)).all()
    assert set(df["area"]) == {"ERCOT", "NORTH", "SOUTH", "WEST", "HOUSTON"}
    _, wind = parse_file("ercot", ERCOT / "mis" / "WPPHRLYAVGACTNP4732_20250313.zip")
    assert {"wind_generation", "wind_forecast_stwpf"} <= set(wind["variable"])
    future = wind[(wind["variable"] == "wind_generation")]["interval_end_utc"].max()
    assert future <= pd.Timestamp("2025-03-13 13:55-05:00").tz_convert(UTC)  # no actuals after posting


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"", "empty body"), (b"PK\x03\x04garbage", "corrupt ZIP"), (b"<html>MIS down</html>", "HTML page")],
)
def test_bad_documents(body: bytes, reason: str) -> None:
    raw = RawPayload("ercot", "solar_hourly_actual_forecast", "x", body, pd.Timestamp.now(tz="UTC"))
    with pytest.raises(ParseError, match=reason):
        ERCOTIngestor().map_to_schema(raw)


def test_listing_then_download_in_replay(store: StoreProcess, ch_database: str, tmp_path: Path) -> None:
    listing = (ERCOT / "mis" / "IceDocListJsonWS_solar_hourly_actual_forecast.json").read_bytes()
    # the recorded listing ends at 12:55 CDT (it was recorded before the recorded document, posted at 13:55):
    # its last CSV document stands in for it
    posted = pd.Timestamp("2025-03-13 12:55:08-05:00").tz_convert(UTC)
    (doc_id,) = [d for d, when, name in documents(listing) if when == posted and name.endswith("_csv")]
    assert doc_id == "1085279262"
    (tmp_path / "list.json").write_bytes(listing)
    (tmp_path / "doc.zip").write_bytes((ERCOT / "mis" / "PVGRHRLYAVGACTNP4737_20250313.zip").read_bytes())
    index = {
        request_key("GET", LIST_URL, {"reportTypeId": "13483"}): {"file": "list.json", "status": 200},
        request_key("GET", DOWNLOAD_URL, {"doclookupId": doc_id}): {"file": "doc.zip", "status": 200},
    }
    (tmp_path / "index.json").write_text(json.dumps(index))
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    request = PullRequest("solar_hourly_actual_forecast", posted, posted + pd.Timedelta(minutes=1))
    report = ingest(ERCOTIngestor(http=HttpClient("replay", tmp_path)), request, client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 744, [])


def test_every_recorded_file_is_covered() -> None:
    # the manifest's ERCOT table lists 16 files (its heading says 17): every one is in the contract
    assert len(FILES) == 16
    datasets = {p.name: parse_file("ercot", p)[0] for p in FILES}
    assert datasets["np3-911-er_download_1049861718.zip"] == "as_reports_2day"
    assert datasets["fuel-mix_generation.json"] == "fuel_mix_dashboard"
    assert datasets["IceDocListJsonWS_wind_hourly_actual_forecast.json"] == "mis_document_listing"
    assert datasets["np3-911-er_archive_listing_posted_2024-10-18.json"] == "public_api_archive_listing"


# --- dashboards --------------------------------------------------------------------------------------


def _series(df: pd.DataFrame, variable: str) -> pd.DataFrame:
    return df[df["variable"] == variable].reset_index(drop=True)


def test_energy_storage_dashboard() -> None:
    _, df = parse_file("ercot", ERCOT / "dashboard" / "energy-storage-resources.json")
    charging = _series(df, "storage_charging")
    # 288 records of 2025-10-08 (00:00..23:55) and 81 of 2025-10-09 (00:00..06:40): stamps begin intervals
    assert len(charging) == 369 and set(df["variable"]) == {
        "storage_charging", "storage_discharging", "storage_net_output",
    }  # fmt: skip
    first = charging.iloc[0]
    assert first["interval_start_utc"] == pd.Timestamp("2025-10-08 00:00-05:00")  # epoch 1759899600000
    assert first["interval_end_utc"] == pd.Timestamp("2025-10-08 00:05-05:00")
    assert first["value"] == -439.009  # charging is negative, as published
    assert _series(df, "storage_discharging").iloc[0]["value"] == 58.723
    last = _series(df, "storage_net_output").iloc[-1]
    assert last["interval_start_utc"] == pd.Timestamp("2025-10-09 06:40-05:00") and last["value"] == 493.635
    # published at the interval end, but not after the snapshot's lastUpdated (06:41)
    assert last["published_at_utc"] == pd.Timestamp("2025-10-09 06:41-05:00")
    assert first["published_at_utc"] == pd.Timestamp("2025-10-08 00:05-05:00")


def test_fuel_mix_dashboard() -> None:
    _, old = parse_file("ercot", ERCOT / "dashboard" / "fuel-mix_2024-11-24.json")
    wind = _series(old, "generation_wind")
    # "2024-11-23 00:04:57-0600" ends the first 5-minute interval of the day: 00:00-00:05 CST
    assert wind.iloc[0]["interval_start_utc"] == pd.Timestamp("2024-11-23 00:00-06:00")
    assert wind.iloc[0]["value"] == 22092.3
    day = wind[wind["interval_start_utc"] < pd.Timestamp("2024-11-24 00:00-06:00")]
    assert len(day) == 288  # the operating day, exactly
    assert wind.iloc[-1]["interval_end_utc"] == pd.Timestamp("2024-11-24 08:10-06:00")
    assert wind.iloc[-1]["published_at_utc"] == pd.Timestamp("2024-11-24 08:09:57-06:00")  # lastUpdated
    assert _series(old, "hsl_wind").iloc[-1]["value"] == 25360.9
    assert _series(old, "capacity_seasonal_natural_gas").iloc[0]["value"] == 68234
    assert {v.split("_", 1)[1] for v in old["variable"] if v.startswith("generation_")} == {
        "coal_and_lignite", "hydro", "natural_gas", "nuclear", "other", "power_storage", "solar", "wind",
    }  # fmt: skip
    _, new = parse_file("ercot", ERCOT / "dashboard" / "fuel-mix_generation.json")
    assert _series(new, "generation_wind").iloc[0]["value"] == pytest.approx(9569.0673828125)
    monthly = _series(new, "capacity_monthly_power_storage")
    assert len(monthly) == 1 and monthly.iloc[0]["value"] == 14077
    assert monthly.iloc[0]["interval_start_utc"] == pd.Timestamp("2025-10-01 00:00-05:00")
    assert monthly.iloc[0]["interval_end_utc"] == pd.Timestamp("2025-11-01 00:00-05:00")


def test_load_forecast_vs_actual_dashboard() -> None:
    _, df = parse_file("ercot", ERCOT / "dashboard" / "supply-demand_or_loadForecastVsActual_2024-11-25.json")
    load = _series(df, "load")
    # HE 1 of 2024-11-24 is stamped "2024-11-24 01:00:00-0600": the hour 00:00-01:00 CST
    assert load.iloc[0]["interval_start_utc"] == pd.Timestamp("2024-11-24 00:00-06:00")
    assert load.iloc[0]["value"] == 42015.44
    # actuals stop at HE 2 of 2024-11-25: the snapshot was updated at 02:15
    assert load["interval_end_utc"].max() == pd.Timestamp("2024-11-25 02:00-06:00") and len(load) == 26
    forecast = _series(df, "load_forecast_current")
    assert len(forecast) == 72 and forecast.iloc[-1]["value"] == 43721.5094
    assert (forecast["published_at_utc"] == pd.Timestamp("2024-11-25 02:15:02-06:00")).all()
    assert _series(df, "load_forecast_day_ahead").iloc[0]["value"] == 41533.0104


def _storage_doc(records: list[dict[str, object]]) -> bytes:
    return json.dumps(
        {
            "lastUpdated": "2024-11-03 03:00:00-0600",
            "previousDay": {"data": []},
            "currentDay": {"data": records},
        }
    ).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"<!DOCTYPE html><html>Access Denied</html>", "HTML page"),
        (b'{"lastUpdated": "2024-11-03 03:00:00-0600"}', "none of"),
        (b'{"lastUpdated": "2024-11-03 03:00:00-0600", "currentDay": {"data": [{"x": 1}]}}', "missing"),
        (  # gridstatus #469: on 2024-11-03 ERCOT stamped two records 02:00 CST and none for 01:00 CST
            _storage_doc(
                [
                    {
                        "timestamp": "2024-11-03 02:00:00-0600",
                        "epoch": 1730620800000,
                        "dstFlag": "N",
                        "totalCharging": -1.0,
                        "totalDischarging": 1.0,
                        "netOutput": 0.0,
                    },
                    {
                        "timestamp": "2024-11-03 02:00:00-0600",
                        "epoch": 1730620800000,
                        "dstFlag": "Y",
                        "totalCharging": -2.0,
                        "totalDischarging": 2.0,
                        "netOutput": 0.0,
                    },
                ]
            ),
            "published twice",
        ),
        (
            _storage_doc(
                [
                    {
                        "timestamp": "2024-11-03 02:00:00-0600",
                        "epoch": 1730617200000,
                        "dstFlag": "N",
                        "totalCharging": -1.0,
                        "totalDischarging": 1.0,
                        "netOutput": 0.0,
                    }
                ]
            ),
            "disagree",
        ),
    ],
)
def test_bad_dashboards(body: bytes, reason: str) -> None:
    raw = RawPayload("ercot", "energy_storage_dashboard", "x", body, pd.Timestamp.now(tz="UTC"))
    with pytest.raises(ParseError, match=reason):
        ERCOTIngestor().map_to_schema(raw)


def test_dashboards_detected_from_the_body() -> None:
    ing = ERCOTIngestor()
    for name, dataset in [
        ("energy-storage-resources.json", "energy_storage_dashboard"),
        ("fuel-mix_2024-11-24.json", "fuel_mix_dashboard"),
        ("supply-demand_or_loadForecastVsActual_2024-11-25.json", "load_forecast_vs_actual_dashboard"),
    ]:
        assert ing.detect_dataset("saved.json", (ERCOT / "dashboard" / name).read_bytes()) == dataset


# --- 2-Day AS reports (NP3-911-ER), operating day 2024-11-03: 25 hours ---------------------------------


def test_as_reports_on_the_25_hour_day() -> None:
    _, df = parse_file("ercot", ERCOT / "public_api" / "np3-911-er_download_1049861718.zip")
    regdn = _series(df, "as_self_arranged_regdn")
    # Hour Ending 1..25, no DST flag: hour k ends k hours after local midnight (00:00 CDT = 05:00 UTC)
    assert regdn["interval_start_utc"].nunique() == 25 and (regdn["value"] == 10).all()
    assert regdn["interval_start_utc"].min() == pd.Timestamp("2024-11-03 00:00-05:00")
    assert regdn["interval_end_utc"].max() == pd.Timestamp("2024-11-04 00:00-06:00")
    regup = _series(df, "as_cleared_dam_regup").set_index("interval_start_utc")["value"]
    assert regup[pd.Timestamp("2024-11-03 01:00-05:00")] == 219  # HE 2: 01:00-02:00 CDT
    assert regup[pd.Timestamp("2024-11-03 01:00-06:00")] == 224  # HE 3: the repeated 01:00-02:00 CST
    assert regup[pd.Timestamp("2024-11-03 15:00-06:00")] == 917.1  # HE 17
    # every series of the document has 25 distinct hours
    assert (df.groupby("variable")["interval_start_utc"].nunique() == 25).all()
    assert {"as_self_arranged_nspnm", "as_cleared_dam_ecrss", "as_offer_offns_mw"} <= set(df["variable"])
    assert (df["published_at_utc"] == pd.Timestamp("2024-11-06 00:00-06:00")).all()  # end of posting day


def test_as_offer_curves_keep_every_price_point() -> None:
    _, df = parse_file("ercot", ERCOT / "public_api" / "np3-911-er_download_1049861718.zip")
    he1 = pd.Timestamp("2024-11-03 00:00-05:00")
    regup = _series(df, "as_offer_regup_mw")
    curve = regup[regup["interval_start_utc"] == he1].set_index("area_to")["value"]
    assert (curve["p=0.00"], curve["p=0.01"], curve["p=0.64"], curve["p=1.29"]) == (41.5, 51.5, 59.0, 599.8)
    ffr = _series(df, "as_offer_rrsffr_mw")  # its rows are not in price order in the file
    assert len(ffr) == 128  # 2d_Agg_AS_Offers_RRSFFR: 128 data lines, none dropped
    for _, hour in ffr.groupby("interval_start_utc"):
        by_price = hour.assign(p=hour["area_to"].str[2:].astype(float)).sort_values("p")
        assert by_price["value"].is_monotonic_increasing  # cumulative MW at each price point
    ufr = _series(df, "as_offer_rrsufr_mw")
    assert ufr.iloc[-1]["area_to"] == "p=0.00" and ufr.iloc[-1]["value"] == 852  # HE 25


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b'{"fault": "401 unauthorized"}', "JSON error"),
        (b"PK\x03\x04garbage", "corrupt ZIP"),
        (_zip({"2d_Surprise_AS_REGUP-05-NOV-24.csv": "a,b\n"}), "unknown member"),
        (
            _zip({"2d_Self_Arranged_AS_REGUP-05-NOV-24.csv": "Date,HE,Total\n11/03/2024,1,0\n"}),
            "changed header",
        ),
        (  # a 24-hour day cannot have HE 25
            _zip(
                {"2d_Self_Arranged_AS_REGUP-05-NOV-24.csv": "Delivery Date,Hour Ending,T\n11/04/2024,25,0\n"}
            ),
            "outside 1..hours",
        ),
        (
            _zip(
                {"2d_Self_Arranged_AS_REGUP-05-NOV-24.csv": "Delivery Date,Hour Ending,T\n11/03/2024,02*,0\n"}
            ),
            "unreadable",
        ),
    ],
)
def test_bad_as_reports(body: bytes, reason: str) -> None:
    raw = RawPayload("ercot", "as_reports_2day", "x", body, pd.Timestamp.now(tz="UTC"))
    with pytest.raises(ParseError, match=reason):
        ERCOTIngestor().map_to_schema(raw)


# --- listings ----------------------------------------------------------------------------------------


def test_listings() -> None:
    _, mis = parse_file(
        "ercot", ERCOT / "mis" / "IceDocListJsonWS_seven_day_load_forecast_by_forecast_zone.json"
    )
    assert len(mis) == 360 and mis["document_id"].is_unique
    doc = mis.set_index("document_id").loc["1085273815"]
    assert doc["name"] == "LFCCONGESTNP3560_csv" and doc["size_bytes"] == 10563
    assert doc["url"] == "https://www.ercot.com/misdownload/servlets/mirDownload?doclookupId=1085273815"
    assert doc["published_at_utc"] == pd.Timestamp("2025-03-13 12:30:00-05:00")
    assert mis["covers_start_utc"].isna().all()  # the listing does not say what a document covers
    _, archive = parse_file(
        "ercot", ERCOT / "public_api" / "np3-911-er_archive_listing_posted_2024-11-05.json"
    )
    (row,) = archive.to_dict("records")
    assert row["url"] == "https://api.ercot.com/api/public-reports/archive/np3-911-er?download=1049861718"
    # postDatetime "2024-11-05T03:16:10.000" has no offset: Central time, CST on that day
    assert row["published_at_utc"] == pd.Timestamp("2024-11-05 03:16:10-06:00")
    with pytest.raises(ParseError, match="not an MIS document listing"):
        ERCOTIngestor().map_to_schema(
            RawPayload("ercot", "mis_document_listing", "x", b'{"a": 1}', pd.Timestamp.now(tz="UTC"))
        )
    with pytest.raises(ParseError, match="no 'archives' list"):
        ERCOTIngestor().map_to_schema(
            RawPayload("ercot", "public_api_archive_listing", "x", b'{"a": 1}', pd.Timestamp.now(tz="UTC"))
        )


def _replay(tmp_path: Path, responses: dict[str, tuple[str, bytes]]) -> HttpClient:
    index = {}
    for key, (name, body) in responses.items():
        (tmp_path / name).write_bytes(body)
        index[key] = {"file": name, "status": 200}
    (tmp_path / "index.json").write_text(json.dumps(index))
    return HttpClient("replay", tmp_path)


def test_listing_then_download_of_the_load_forecast(
    store: StoreProcess, ch_database: str, tmp_path: Path
) -> None:
    # the recorded zip is the listing's document 1085273815 (posted 12:30 CDT, 10563 bytes, both match)
    http = _replay(
        tmp_path,
        {
            request_key("GET", LIST_URL, {"reportTypeId": "12311"}): (
                "list.json",
                (
                    ERCOT / "mis" / "IceDocListJsonWS_seven_day_load_forecast_by_forecast_zone.json"
                ).read_bytes(),
            ),
            request_key("GET", DOWNLOAD_URL, {"doclookupId": "1085273815"}): (
                "doc.zip",
                (ERCOT / "mis" / "LFCCONGESTNP3560_20250313.zip").read_bytes(),
            ),
        },
    )
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    posted = pd.Timestamp("2025-03-13 12:30-05:00").tz_convert(UTC)
    request = PullRequest("load_forecast_7day_by_forecast_zone", posted, posted + pd.Timedelta(minutes=1))
    report = ingest(ERCOTIngestor(http=http), request, client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 960, [])


def test_as_reports_archive_listing_then_download_in_replay(
    store: StoreProcess, ch_database: str, tmp_path: Path
) -> None:
    # the manifest's recorded requests (gridstatus cassette test_get_as_reports_dst_end_2024_11_03)
    recorded_listing = (
        "https://api.ercot.com/api/public-reports/archive/np3-911-er?postDatetimeFrom=2024-11-05T00%3A00%3A00"
        "&postDatetimeTo=2024-11-06T00%3A00%3A00&size=1000&page=1"
    )
    recorded_download = "https://api.ercot.com/api/public-reports/archive/np3-911-er?download=1049861718"
    day = pd.Timestamp("2024-11-03", tz="America/Chicago")
    url = f"{ARCHIVE_URL}/np3-911-er"
    built = request_key("GET", url, ERCOTIngestor.archive_listing_params(day))
    parts = urlsplit(recorded_listing)
    assert built == request_key(
        "GET", f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))
    )
    http = _replay(
        tmp_path,
        {
            built: ("list.json", (ERCOT / "public_api" / LISTING_1105).read_bytes()),
            request_key("GET", recorded_download, None): (
                "doc.zip",
                (ERCOT / "public_api" / "np3-911-er_download_1049861718.zip").read_bytes(),
            ),
        },
    )  # fmt: skip
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    request = PullRequest(
        "as_reports_2day", day.tz_convert(UTC), (day + pd.DateOffset(days=1)).tz_convert(UTC)
    )
    report = ingest(ERCOTIngestor(http=http), request, client)
    assert (report.payloads, report.rows, report.quarantined) == (1, 13018, [])
    assert report.watermark_utc == pd.Timestamp("2024-11-04 00:00-06:00")  # the 25-hour day's end
    hours = client.command(
        "SELECT uniqExact(interval_start_utc) FROM fundamentals FINAL "
        "WHERE source = 'ercot' AND variable = 'as_self_arranged_regup'"
    )
    assert hours == 25


def test_listings_and_dashboards_are_not_ingested_as_history(tmp_path: Path) -> None:
    ing = ERCOTIngestor(http=HttpClient("replay", tmp_path))
    start = pd.Timestamp("2020-01-01", tz=UTC)
    with pytest.raises(ParseError, match="document listing"):
        next(ing.pull_or_subscribe(PullRequest("mis_document_listing", start, start + pd.Timedelta(days=1))))
    with pytest.raises(ParseError, match="snapshot"):
        next(ing.pull_or_subscribe(PullRequest("fuel_mix_dashboard", start, start + pd.Timedelta(days=1))))


# --- settlement point prices: HAND-WRITTEN payloads in the documented layout (no recording exists) -------


def _spp(dataset: str, member: str, csv: str) -> pd.DataFrame:
    raw = RawPayload("ercot", dataset, "x", _zip({member: csv}), pd.Timestamp.now(tz="UTC"))
    return ERCOTIngestor().map_to_schema(raw)


LISTING_1105 = "np3-911-er_archive_listing_posted_2024-11-05.json"
DAM_MEMBER = "cdr.00012331.0000000000000000.20241102.131022.DAMSPNP4190.csv"
RT_MEMBER = "cdr.00012301.0000000000000000.20241103.021502.SPPHLZNP6905_20241103_0215.csv"


def test_dam_spp_hand_written_dst_end() -> None:
    # HAND-WRITTEN, documented NP4-190-CD layout; 2024-11-03 has HourEnding 02:00 twice (DSTFlag N, Y)
    csv = (
        "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag\n"
        "11/03/2024,01:00,HB_NORTH,20.10,N\n"
        "11/03/2024,02:00,HB_NORTH,19.50,N\n"
        "11/03/2024,02:00,HB_NORTH,18.25,Y\n"
        "11/03/2024,03:00,HB_NORTH,17.00,N\n"
        "11/03/2024,24:00,LZ_HOUSTON,25.00,N\n"
        "11/03/2024,01:00,AMISTAD_ALL,-3.5,N\n"
    )
    df = _spp("spp_day_ahead_hourly", DAM_MEMBER, csv)
    north = df[df["location"] == "HB_NORTH"].set_index("interval_start_utc")["price"]
    assert north.to_dict() == {
        pd.Timestamp("2024-11-03 00:00-05:00"): 20.10,
        pd.Timestamp("2024-11-03 01:00-05:00"): 19.50,  # 02:00 N: 01:00-02:00 CDT
        pd.Timestamp("2024-11-03 01:00-06:00"): 18.25,  # 02:00 Y: the repeated 01:00-02:00 CST
        pd.Timestamp("2024-11-03 02:00-06:00"): 17.00,
    }
    houston = df[df["location"] == "LZ_HOUSTON"].iloc[0]
    assert houston["interval_end_utc"] == pd.Timestamp("2024-11-04 00:00-06:00")  # 24:00
    assert dict(zip(df["location"], df["location_type"], strict=True)) == {
        "HB_NORTH": "hub", "LZ_HOUSTON": "load_zone", "AMISTAD_ALL": "resource_node",
    }  # fmt: skip
    assert set(df["market"]) == {"ERCOT_DAY_AHEAD_HOURLY"}
    assert (df["published_at_utc"] == pd.Timestamp("2024-11-02 13:10:22-05:00")).all()  # from the name


@pytest.mark.parametrize("labels", [("01:00", "03:00", "04:00"), ("01:00", "02:00", "04:00")])
def test_dam_spp_hand_written_dst_start(labels: tuple[str, str, str]) -> None:
    # HAND-WRITTEN: 2024-03-10 has 23 hours; either way of skipping a label gives the same three hours
    csv = "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag\n" + "".join(
        f"03/10/2024,{he},HB_WEST,{k},N\n" for k, he in enumerate(labels)
    )
    df = _spp("spp_day_ahead_hourly", DAM_MEMBER.replace("20241102", "20240309"), csv)
    assert list(df["interval_start_utc"]) == [
        pd.Timestamp("2024-03-10 00:00-06:00"),
        pd.Timestamp("2024-03-10 01:00-06:00"),  # the hour that ends when clocks jump to 03:00 CDT
        pd.Timestamp("2024-03-10 03:00-05:00"),
    ]


def test_rt_spp_hand_written_dst_end() -> None:
    # HAND-WRITTEN, documented NP6-905-CD layout; hour ending 2 happens twice, told apart by DSTFlag
    csv = (
        "DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointName,SettlementPointType,"
        "SettlementPointPrice,DSTFlag\n"
        "11/03/2024,2,1,HB_NORTH,HU,21.00,N\n"
        "11/03/2024,2,4,HB_NORTH,HU,22.00,N\n"
        "11/03/2024,2,1,HB_NORTH,HU,23.00,Y\n"
        "11/03/2024,2,4,HB_NORTH,HU,24.00,Y\n"
        "11/03/2024,2,1,LZ_HOUSTON,LZ,30.00,Y\n"
        "11/03/2024,2,1,LZ_HOUSTON,LZEW,31.00,Y\n"
        "11/03/2024,24,4,ALVIN_RN,RN,5.00,N\n"
    )
    df = _spp("spp_real_time_15min", RT_MEMBER, csv)
    north = df[df["location"] == "HB_NORTH"].set_index("interval_start_utc")["price"]
    assert north.to_dict() == {
        pd.Timestamp("2024-11-03 01:00-05:00"): 21.0,
        pd.Timestamp("2024-11-03 01:45-05:00"): 22.0,
        pd.Timestamp("2024-11-03 01:00-06:00"): 23.0,
        pd.Timestamp("2024-11-03 01:45-06:00"): 24.0,
    }
    zones = df[df["location"].str.startswith("LZ_")].set_index("location")
    assert zones.loc["LZ_HOUSTON", "price"] == 30.0 and zones.loc["LZ_HOUSTON_EW", "price"] == 31.0
    assert zones.loc["LZ_HOUSTON_EW", "location_type"] == "load_zone_energy_weighted"
    last = df[df["location"] == "ALVIN_RN"].iloc[0]
    assert last["interval_end_utc"] == pd.Timestamp("2024-11-04 00:00-06:00")
    assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta(minutes=15)).all()
    assert (df["published_at_utc"] == pd.Timestamp("2024-11-03 02:15:02-06:00")).all()
    assert set(df["market"]) == {"ERCOT_REAL_TIME_15_MIN"}


@pytest.mark.parametrize(
    ("dataset", "member", "csv", "reason"),
    [
        ("spp_day_ahead_hourly", DAM_MEMBER, "DeliveryDate,HourEnding,BusName,LMP,DSTFlag\n1,2,3,4,N\n",
         "changed header"),
        ("spp_day_ahead_hourly", RT_MEMBER, "a\n1\n", "not a DAMSPNP4190"),
        ("spp_day_ahead_hourly", DAM_MEMBER,
         "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag\n11/03/2024,02:00,HB_X,1,N\n"
         "11/03/2024,02:00,HB_X,2,N\n", "appear twice"),
        ("spp_real_time_15min", RT_MEMBER,
         "DeliveryDate,DeliveryHour,DeliveryInterval,SettlementPointName,SettlementPointType,"
         "SettlementPointPrice,DSTFlag\n11/04/2024,1,5,HB_X,HU,1,N\n", "DeliveryInterval outside"),
    ],
)  # fmt: skip
def test_bad_spp_documents(dataset: str, member: str, csv: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        _spp(dataset, member, csv)
