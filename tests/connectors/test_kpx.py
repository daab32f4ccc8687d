"""KPX on its recorded pages: the real-time supply and demand page (2025-01-05 23:10 KST) and the historical
generation-by-source page (2023-09-01); bad pages; requests.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.kpx.ingestor import HISTORICAL_URL, REALTIME_URL, KPXIngestor
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

KPX = shared_dir() / "fixtures" / "kpx"
pytestmark = pytest.mark.skipif(not KPX.is_dir(), reason=f"recorded KPX pages not found at {KPX}")
REALTIME = KPX / "realtime.html"
HISTORICAL = KPX / "historical.html"
FILES = [HISTORICAL, REALTIME] if KPX.is_dir() else []
UTC = "UTC"


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return KPXIngestor().map_to_schema(RawPayload("kpx", dataset, "x", body, pd.Timestamp.now(tz=UTC)))


def _at(df: pd.DataFrame, end: str) -> dict[str, float]:
    rows = df[df["interval_end_utc"] == pd.Timestamp(end, tz=UTC)]
    return dict(zip(rows["variable"], rows["value"], strict=True))


class TestKPXContract(ConnectorContract):
    source = "kpx"
    files = FILES


def test_every_recorded_page_is_detected() -> None:
    assert {p.name: parse_file("kpx", p)[0] for p in FILES} == {
        REALTIME.name: "realtime_supply_demand",
        HISTORICAL.name: "generation_by_source_5min",
    }


def test_realtime_summary_at_the_page_stamp() -> None:
    _, df = parse_file("kpx", REALTIME)
    # "2025.01.05(일) 23:10" KST = 14:10 UTC; 공급능력 102,553 MW, 현재수요 64,918 MW, 공급예비력 37,635 MW
    at = _at(df, "2025-01-05 14:10")
    assert at["supply_capacity"] == 102_553.0 and at["supply_reserve"] == 37_635.0
    assert at["load"] == 64_918.0 == at["supply_capacity"] - at["supply_reserve"]
    assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta(minutes=5)).all()
    assert (df["published_at_utc"] == df["interval_end_utc"]).all()
    assert set(df["unit"]) == {"MW"} and set(df["area"]) == {"KR"} and set(df["market"]) == {"KPX"}


def test_realtime_demand_chart_today_and_a_week_earlier() -> None:
    _, df = parse_file("kpx", REALTIME)
    load = df[df["variable"] == "load"].set_index("interval_end_utc")["value"]
    total = df[df["variable"] == "load_total_estimated"].set_index("interval_end_utc")["value"]
    assert len(load) == len(total) == 279 + 288  # today 00:00..23:10, 2024-12-29 00:00..23:55
    # x[0] = 64798 at 2025-01-05 00:00 KST (= 2025-01-04 15:00 UTC), the five minutes ending then
    assert load[pd.Timestamp("2025-01-04 15:00", tz=UTC)] == 64_798.0
    assert load.index.max() == pd.Timestamp("2025-01-05 14:10", tz=UTC)
    # y[0] = 63807 at 2024-12-29 00:00 KST; w[-1] = 61180 and y[-1] = 61181 at 23:55 KST
    assert load[pd.Timestamp("2024-12-28 15:00", tz=UTC)] == 63_807.0
    assert total[pd.Timestamp("2024-12-29 14:55", tz=UTC)] == 61_180.0
    assert load[pd.Timestamp("2024-12-29 14:55", tz=UTC)] == 61_181.0
    week_ago = load.index < pd.Timestamp("2025-01-01", tz=UTC)
    assert week_ago.sum() == 288


def test_realtime_generation_by_source_skips_the_placeholder_slots() -> None:
    _, df = parse_file("kpx", REALTIME)
    nuclear = df[df["variable"] == "generation_nuclear"]
    assert len(nuclear) == 288 - 9  # 23:15..23:55 are placeholders (regDate "0")
    first = _at(df, "2025-01-04 15:00")  # regDate "2025-01-05 00:00"
    assert first["generation_nuclear"] == 24132.1 and first["generation_gas"] == 21242.1
    assert first["generation_coal"] == 13998.2 and first["generation_domestic_coal"] == 192.875
    assert first["generation_wind"] == 440.859 and first["generation_pumped_storage"] == 1168.98
    assert first["generation_other_renewables"] == 3212.03 and first["generation_solar"] == 0.0
    # newRenewablePlusWindPower "3652.89" is not stored: it is 신재생 + 풍력
    assert abs(first["generation_other_renewables"] + first["generation_wind"] - 3652.89) < 0.01
    last = _at(df, "2025-01-05 14:10")  # regDate "2025-01-05 23:10"
    assert last["generation_nuclear"] == 24174.8 and last["generation_coal"] == 15089.4
    pumped = df[df["variable"] == "generation_pumped_storage"]["value"]
    assert pumped.min() == -3423.24  # negative while pumping
    assert df[df["variable"] == "generation_solar_btm_estimated"]["value"].max() == 859.388


def test_stamps_are_millisecond_utc() -> None:
    df = parse_file("kpx", HISTORICAL)[1]
    for col in ("interval_start_utc", "interval_end_utc", "published_at_utc"):
        assert str(df[col].dtype) == "datetime64[ms, UTC]", col


def test_historical_day_before_the_wind_split() -> None:
    _, df = parse_file("kpx", HISTORICAL)
    assert len(df) == 288 * 9 and "generation_wind" not in set(df["variable"])
    assert df["interval_end_utc"].min() == pd.Timestamp("2023-08-31 15:00", tz=UTC)  # 2023-09-01 00:00 KST
    assert df["interval_end_utc"].max() == pd.Timestamp("2023-09-01 14:55", tz=UTC)  # 23:55 KST
    first = _at(df, "2023-08-31 15:00")
    assert first["generation_coal"] == 22535.0 and first["generation_nuclear"] == 21038.2
    assert _at(df, "2023-09-01 14:55")["generation_gas"] == 14224.4


def _swap_ict(records: object) -> bytes:
    text = HISTORICAL.read_text()
    return re.sub(r"var ictArr = \[.*?\];", lambda _: f"var ictArr = {json.dumps(records)};", text, count=1,
                  flags=re.S).encode()  # fmt: skip


def _ict() -> list[dict[str, object]]:
    m = re.search(r"var ictArr = (\[.*?\]);", HISTORICAL.read_text(), re.S)
    assert m is not None
    records: list[dict[str, object]] = json.loads(m.group(1))
    return records


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: b"", "empty body"),
        (lambda: b"<html><body>maintenance</body></html>", "no 'var ictArr"),
        (lambda: _swap_ict([{**_ict()[0], "hydrogen": "5"}]), r"unknown field\(s\) \['hydrogen'\]"),
        (lambda: _swap_ict([{**_ict()[0], "gas": "n/a"}]), "non-numeric ictArr"),
        (lambda: _swap_ict([{**_ict()[0], "regDate": "01.09.2023"}]), "unreadable regDate"),
        (lambda: _swap_ict([{**_ict()[0], "once": "20230901000500"}]), "disagree"),
        (lambda: _swap_ict([_ict()[0], _ict()[0]]), "same regDate twice"),
        (lambda: _swap_ict([{**_ict()[0], "regDate": "0"}]), "no regDate but non-zero values"),
    ],
    ids=["empty", "no-array", "unknown-field", "value", "stamp", "once", "repeat", "placeholder"],
)
def test_bad_historical_pages_raise_parse_error(make: object, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        _map("generation_by_source_5min", make())  # type: ignore[operator]


def test_realtime_page_without_summary_or_chart() -> None:
    text = REALTIME.read_text()
    with pytest.raises(ParseError, match="no <td id='avil'>"):
        _map("realtime_supply_demand", text.replace('id="avil"', 'id="x"').encode())
    with pytest.raises(ParseError, match="x has 278 values for 279 stamps"):
        _map("realtime_supply_demand", text.replace("var x = [ 64798,", "var x = [", 1).encode())
    with pytest.raises(ParseError, match="no stamp"):
        _map("realtime_supply_demand", text.replace("2025.01.05(일) 23:10", "", 1).encode())


def test_unknown_page_is_not_detected() -> None:
    with pytest.raises(ParseError, match="realtime_supply_demand, generation_by_source_5min"):
        KPXIngestor().detect_dataset("x.html", b"<html></html>")


def test_requests() -> None:
    ing = KPXIngestor()
    assert ing.request("realtime_supply_demand") == (REALTIME_URL, {"mid": "a10606030000"})
    url, form = ing.request("generation_by_source_5min", pd.Timestamp("2023-08-31 15:00", tz=UTC))
    assert url == HISTORICAL_URL
    assert form == {
        "mid": "a10606030000",
        "device": "chart",
        "view_sdate": "2023-09-01",
        "view_edate": "2023-09-01",
    }
    ds = ing.discover().dataset("realtime_supply_demand")
    assert ds.timezone == "Asia/Seoul" and ds.publication == "*/5 * * * *" and ds.verified
