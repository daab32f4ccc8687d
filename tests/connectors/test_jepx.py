"""JEPX on its recorded FY2024 spot summary (Shift-JIS CSV, 2024-04-01..12-02), bad payloads, requests."""

from __future__ import annotations

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.jepx.ingestor import DOWNLOAD_URL, JEPXIngestor, fiscal_year
from marketintel.connectors.jepx.mapping import PRICE_COLUMNS, REQUIRED_COLUMNS
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

JEPX = shared_dir() / "fixtures" / "jepx"
pytestmark = pytest.mark.skipif(not JEPX.is_dir(), reason=f"recorded JEPX files not found at {JEPX}")
SPOT = JEPX / "spot_summary_2024.csv"
FILES = [SPOT] if JEPX.is_dir() else []
UTC = "UTC"


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return JEPXIngestor().map_to_schema(RawPayload("jepx", dataset, "x", body, pd.Timestamp.now(tz=UTC)))


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return _map("spot_prices_30min", SPOT.read_bytes())


@pytest.fixture(scope="module")
def volumes() -> pd.DataFrame:
    return _map("spot_volumes_30min", SPOT.read_bytes())


class TestJEPXContract(ConnectorContract):
    source = "jepx"
    files = FILES


class TestJEPXVolumesContract(ConnectorContract):
    """The same file read as volumes (detection gives the prices)."""

    source = "jepx"
    files = FILES

    def recorded_frames(self) -> list[tuple[str, str, pd.DataFrame]]:
        return [
            ("spot_volumes_30min", p.name, _map("spot_volumes_30min", p.read_bytes())) for p in self.files
        ]


def test_the_shift_jis_header_is_read() -> None:
    header = SPOT.read_bytes().split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    assert header.startswith(b"\x8e\xf3\x93n\x93\xfa,")  # 受渡日 in Shift-JIS
    columns = header.decode("cp932").strip().split(",")
    assert columns[:6] == ["受渡日", "時刻コード", "売り入札量(kWh)", "買い入札量(kWh)", "約定総量(kWh)",
                           "システムプライス(円/kWh)"]  # fmt: skip
    assert columns[6] == "エリアプライス北海道(円/kWh)" and columns[14] == "エリアプライス九州(円/kWh)"
    assert len(columns) == 19 and set(REQUIRED_COLUMNS) <= set(columns)


def test_detected_as_spot_prices() -> None:
    assert parse_file("jepx", SPOT)[0] == "spot_prices_30min"


def test_rows_days_and_slots(prices: pd.DataFrame) -> None:
    assert len(prices) == 11_808 * 10  # 246 days x 48 slots x (system + 9 areas)
    system = prices[prices["location"] == "SYSTEM"]
    local_day = system["interval_start_utc"].dt.tz_convert("Asia/Tokyo").dt.date
    per_day = system.groupby(local_day).size()
    assert len(per_day) == 246 and (per_day == 48).all()  # no DST in Japan: every day 48 slots
    assert (system["interval_end_utc"] - system["interval_start_utc"] == pd.Timedelta(minutes=30)).all()
    assert set(prices["location"]) == {loc for loc, _ in PRICE_COLUMNS.values()}
    assert set(prices.loc[prices["location"] == "SYSTEM", "location_type"]) == {"system"}
    assert set(prices.loc[prices["location"] != "SYSTEM", "location_type"]) == {"area"}
    assert set(prices["currency"]) == {"JPY"} and set(prices["unit"]) == {"JPY/kWh"}


def test_first_and_last_prices_with_their_utc_intervals(prices: pd.DataFrame) -> None:
    system = prices[prices["location"] == "SYSTEM"].set_index("interval_start_utc")
    # "2024/04/01,1,...,8.57,9.02,9.02,9.02,9.02,7.15,..."
    # slot 1 = 00:00-00:30 JST = 15:00-15:30 UTC the day before
    first = pd.Timestamp("2024-03-31 15:00", tz=UTC)
    assert system.index.min() == first and system.loc[first, "price"] == 8.57
    assert system.loc[first, "interval_end_utc"] == pd.Timestamp("2024-03-31 15:30", tz=UTC)
    # "2024/12/02,48,...,10.14,10.39,10.39,10.39,10.39,10.00,10.00,10.00,3.00,10.00,..." 23:30-24:00 JST
    last = pd.Timestamp("2024-12-02 14:30", tz=UTC)
    assert system.index.max() == last and system.loc[last, "price"] == 10.14
    at_last = prices[prices["interval_start_utc"] == last].set_index("location")["price"].to_dict()
    assert at_last == {"SYSTEM": 10.14, "HOKKAIDO": 10.39, "TOHOKU": 10.39, "TOKYO": 10.39,
                       "CHUBU": 10.39, "HOKURIKU": 10.0, "KANSAI": 10.0, "CHUGOKU": 10.0, "SHIKOKU": 3.0,
                       "KYUSHU": 10.0}  # fmt: skip
    at_first = prices[prices["interval_start_utc"] == first].set_index("location")["price"]
    assert at_first["HOKKAIDO"] == 9.02 and at_first["HOKURIKU"] == 7.15 and at_first["KYUSHU"] == 7.15


def test_stamps_are_millisecond_utc() -> None:
    df = _map("spot_prices_30min", SPOT.read_bytes())
    for col in ("interval_start_utc", "interval_end_utc", "published_at_utc"):
        assert str(df[col].dtype) == "datetime64[ms, UTC]", col


def test_published_the_day_before_delivery_at_10_05_jst(prices: pd.DataFrame) -> None:
    # delivery day 2024-04-01: auction closes 2024-03-31 10:00 JST, results ~10:05 JST = 01:05 UTC
    first_day = prices[prices["interval_start_utc"] < pd.Timestamp("2024-04-01 15:00", tz=UTC)]
    assert (first_day["published_at_utc"] == pd.Timestamp("2024-03-31 01:05", tz=UTC)).all()
    assert (prices["published_at_utc"] < prices["interval_start_utc"]).all()
    lead = prices["interval_start_utc"] - prices["published_at_utc"]
    assert lead.min() == pd.Timedelta(hours=13, minutes=55) and lead.max() == pd.Timedelta(
        hours=37, minutes=25
    )


def test_volumes_in_mwh(volumes: pd.DataFrame) -> None:
    assert len(volumes) == 11_808 * 7 and set(volumes["unit"]) == {"MWh"}
    first = volumes[volumes["interval_start_utc"] == pd.Timestamp("2024-03-31 15:00", tz=UTC)]
    # "2024/04/01,1,19499550,13094050,10474250,...,6026600,413850,1120800,1120800" (kWh)
    assert first.set_index("variable")["value"].to_dict() == {
        "sell_bid_volume": 19499.55,
        "buy_bid_volume": 13094.05,
        "contract_volume": 10474.25,
        "sell_block_bid_volume": 6026.6,
        "sell_block_contract_volume": 413.85,
        "buy_block_bid_volume": 1120.8,
        "buy_block_contract_volume": 1120.8,
    }
    assert (first["area"] == "SYSTEM").all() and (first["market"] == "JEPX").all()


def test_extra_columns_of_later_years_are_ignored() -> None:
    text = SPOT.read_bytes().decode("cp932")
    lines = text.splitlines()[:49]
    lines = [lines[0] + ",回避可能原価全国値(円/kWh)"] + [line + ",9.99" for line in lines[1:]]
    df = _map("spot_prices_30min", "\r\n".join(lines).encode("cp932"))
    assert len(df) == 48 * 10 and not (df["price"] == 9.99).any()


def _cut(rows: int) -> list[str]:
    return SPOT.read_bytes().decode("cp932").splitlines()[: rows + 1]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"<html><body>error</body></html>", "HTML page"),
        ("\n".join(_cut(47)).encode("cp932"), r"without all 48 slots.*2024-04-01 has 47"),
        ("\n".join([*_cut(48), _cut(48)[-1]]).encode("cp932"), "slot 48 of 2024-04-01 is listed twice"),
        ("\n".join(_cut(48)).replace(",48,", ",49,").encode("cp932"), "is not 1..48"),
        ("\n".join(_cut(48)).replace("2024/04/01,1,", "01.04.2024,1,").encode("cp932"), "unreadable 受渡日"),
        ("\n".join(_cut(48)).replace(",8.57,", ",-,").encode("cp932"), "non-numeric 'システムプライス"),
        ("\n".join(_cut(48)).replace("システムプライス", "SP").encode("cp932"), "changed header: missing"),
        (_cut(0)[0].encode("cp932"), "header but no rows"),
    ],
    ids=["empty", "html", "missing-slot", "repeated-slot", "slot-49", "date", "price", "header", "no-rows"],
)
def test_bad_payloads_raise_parse_error(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        _map("spot_prices_30min", body)


def test_unknown_file_is_not_detected() -> None:
    with pytest.raises(ParseError, match="spot_prices_30min, spot_volumes_30min"):
        JEPXIngestor().detect_dataset("x.csv", b"a,b\n1,2\n")


def test_request_of_a_fiscal_year() -> None:
    ing = JEPXIngestor()
    url, form = ing.request("spot_prices_30min", pd.Timestamp("2024-12-02", tz="Asia/Tokyo"))
    assert url == DOWNLOAD_URL and form == {"dir": "spot_summary", "file": "spot_summary_2024.csv"}
    # 2025-03-31 JST is FY2024, 2025-04-01 JST (= 2025-03-31 15:00 UTC) is FY2025
    assert fiscal_year(pd.Timestamp("2025-03-31 14:59", tz=UTC)) == 2024
    assert fiscal_year(pd.Timestamp("2025-03-31 15:00", tz=UTC)) == 2025
    ds = ing.discover().dataset("spot_prices_30min")
    assert ds.verified and ds.timezone == "Asia/Tokyo" and ds.publication == "10 10 * * *"
    # a delivery day D ends at D+1 00:00 JST and was published at D-1 10:05: lag = -(37 h 55 min)
    assert pd.Timedelta(ds.lag) == -pd.Timedelta(hours=37, minutes=55)
