"""EEX EU ETS primary auction reports 2018-2022: header found by content across the layout drift, markets
and auctioneers, cancelled auctions, publication time, requests and bad workbooks.
"""

from __future__ import annotations

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.eex.ingestor import EEXIngestor
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

FIXTURES = shared_dir() / "fixtures"
EEX = FIXTURES / "eex_eua_auctions"
pytestmark = pytest.mark.skipif(not EEX.is_dir(), reason=f"recorded EEX files not found at {EEX}")
FILES = sorted(EEX.glob("*.xlsx")) if EEX.is_dir() else []
UTC = "UTC"


def _report(year: int) -> bytes:
    return (EEX / f"emission-spot-primary-market-auction-report-{year}-data.xlsx").read_bytes()


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return EEXIngestor().map_to_schema(RawPayload("eex", dataset, "x", body, pd.Timestamp.now(tz=UTC)))


class TestEEXContract(ConnectorContract):
    source = "eex"
    files = FILES


class TestEEXResultsContract(ConnectorContract):
    """The same workbooks read as ``auction_results`` (fundamentals)."""

    source = "eex"
    files = FILES

    def recorded_frames(self) -> list[tuple[str, str, pd.DataFrame]]:
        return [("auction_results", p.name, _map("auction_results", p.read_bytes())) for p in self.files]

    def test_plausible_values(self, frames: list[tuple[str, str, pd.DataFrame]]) -> None:
        """Bids reach 1e7 t and revenue 1e9 EUR, beyond the generic (MW-sized) bound: check by unit."""
        for _, name, df in frames:
            assert (df["value"] >= 0).all(), name
            assert df.loc[df["unit"] == "ratio", "value"].between(0, 50).all(), name
            assert df.loc[df["unit"] == "EUR/t", "value"].between(0, 500).all(), name
            assert df.loc[df["unit"] == "t", "value"].lt(1e8).all(), name


def test_every_recorded_file_is_detected() -> None:
    assert {p.name: parse_file("eex", p)[0] for p in FILES} == {p.name: "auction_prices" for p in FILES}
    assert len(FILES) == 5


@pytest.mark.parametrize(
    ("year", "rows", "eua", "euaa", "cancelled"),
    [(2018, 209, 203, 6, 0), (2019, 216, 208, 8, 0), (2020, 217, 209, 8, 1), (2021, 230, 223, 7, 0),
     (2022, 220, 213, 7, 2)],
)  # fmt: skip
def test_each_layout_year_is_parsed(year: int, rows: int, eua: int, euaa: int, cancelled: int) -> None:
    prices = _map("auction_prices", _report(year))
    assert len(prices) == rows
    assert (prices["market"] == "EEX_EUA_AUCTION").sum() == eua
    assert (prices["market"] == "EEX_EUAA_AUCTION").sum() == euaa
    results = _map("auction_results", _report(year))
    flags = results[results["variable"] == "auction_cancelled"]
    assert len(flags) == rows + cancelled and flags["value"].sum() == cancelled
    assert (prices["unit"] == "EUR/t").all() and (prices["location_type"] == "auction").all()


def test_first_and_last_auction_of_2018() -> None:
    prices = _map("auction_prices", _report(2018))
    eu = prices[(prices["market"] == "EEX_EUA_AUCTION") & (prices["location"] == "EU")]
    first, last = eu.iloc[0], eu.iloc[-1]
    # 2018-01-08, CAP2-EU, 7.83 EUR/t, result at 11:00:30 CET
    assert (first["interval_start_utc"], first["interval_end_utc"], first["price"]) == (
        pd.Timestamp("2018-01-07 23:00", tz=UTC), pd.Timestamp("2018-01-08 23:00", tz=UTC), 7.83,
    )  # fmt: skip
    assert first["published_at_utc"] == pd.Timestamp("2018-01-08 10:00:30", tz=UTC)
    # 2018-12-17, the first line of the file: 23.40 at 11:01:02 CET
    assert (last["interval_start_utc"], last["price"]) == (pd.Timestamp("2018-12-16 23:00", tz=UTC), 23.4)
    assert last["published_at_utc"] == pd.Timestamp("2018-12-17 10:01:02", tz=UTC)
    # the EUAA auction of 2018-11-21 (CAP2-EU, 13:00-15:00 CET window): its own market
    euaa = prices[(prices["market"] == "EEX_EUAA_AUCTION") & (prices["location"] == "EU")]
    row = euaa[euaa["interval_start_utc"] == pd.Timestamp("2018-11-20 23:00", tz=UTC)]
    assert row["price"].item() == 20.1
    assert row["published_at_utc"].item() == pd.Timestamp("2018-11-21 14:00:29", tz=UTC)


def test_summer_auction_day_is_cest() -> None:
    prices = _map("auction_prices", _report(2022))
    de = prices[(prices["location"] == "DE") & (prices["market"] == "EEX_EUA_AUCTION")]
    row = de[de["interval_start_utc"] == pd.Timestamp("2022-12-15 23:00", tz=UTC)]
    assert row["price"].item() == 83.41  # 2022-12-16, Auction 4. Period DE (CET)
    july = de[de["interval_start_utc"].dt.month == 7]
    assert (july["interval_start_utc"].dt.hour == 22).all()  # CEST days start 22:00 UTC


def test_cancelled_auctions_have_no_price_but_their_facts() -> None:
    prices = _map("auction_prices", _report(2022))
    results = _map("auction_results", _report(2022))
    day = pd.Timestamp("2022-01-31 23:00", tz=UTC)  # 2022-02-01, CAP3 EU, cancelled
    assert prices[(prices["location"] == "EU") & (prices["interval_start_utc"] == day)].empty
    facts = results[(results["area"] == "EU") & (results["interval_start_utc"] == day)]
    facts = facts[facts["market"] == "EEX_EUA_AUCTION"].set_index("variable")["value"]
    assert facts["auction_cancelled"] == 1.0 and facts["cover_ratio"] == 0.51
    assert facts["auction_volume_t"] == 2449000 and facts["total_bid_volume_t"] == 1242500
    assert facts["bidders"] == 9 and "bid_price_median" not in facts
    published = results[(results["area"] == "EU") & (results["interval_start_utc"] == day)][
        "published_at_utc"
    ]
    assert (published == pd.Timestamp("2022-02-01 10:40:55.066", tz=UTC)).all()
    pl = pd.Timestamp("2022-03-01 23:00", tz=UTC)  # 2022-03-02, CAP3 PL, cancelled
    assert prices[(prices["location"] == "PL") & (prices["interval_start_utc"] == pl)].empty
    # 2020-03-17 CAP2-EU, cancelled at cover 0.98
    flags = _map("auction_results", _report(2020))
    flag = flags[(flags["variable"] == "auction_cancelled") & (flags["value"] == 1.0)]
    assert flag[["area", "interval_start_utc"]].values.tolist() == [
        ["EU", pd.Timestamp("2020-03-16 23:00", tz=UTC)]
    ]


def test_northern_ireland_and_successful_statistics() -> None:
    prices = _map("auction_prices", _report(2022))
    assert (prices["location"] == "XI").sum() == 2  # "Auction 4. Period CAP3 NIR", Country XI
    results = _map("auction_results", _report(2022))
    day = pd.Timestamp("2022-12-18 23:00", tz=UTC)  # 2022-12-19 CAP3 EU: 84.10, cover 1.26, 16 bidders
    facts = results[(results["area"] == "EU") & (results["interval_start_utc"] == day)]
    facts = facts[facts["market"] == "EEX_EUA_AUCTION"].set_index("variable")["value"]
    assert facts["cover_ratio"] == 1.26 and facts["bidders"] == 16 and facts["auction_volume_t"] == 2568500
    assert facts["auction_cancelled"] == 0.0 and facts["revenue_eur"] == 216010850


def test_request_url() -> None:
    url, params = EEXIngestor().request("auction_prices", 2021)
    assert url == (
        "https://public.eex-group.com/eex/eua-auction-report/"
        "emission-spot-primary-market-auction-report-2021-data.xlsx"
    )
    assert params is None


def test_bad_workbooks_raise() -> None:
    with pytest.raises(ParseError, match="empty body"):
        _map("auction_prices", b"")
    with pytest.raises(ParseError, match="not an xlsx"):
        _map("auction_prices", b"<html>not found</html>")
    with pytest.raises(ParseError, match="unreadable workbook"):
        _map("auction_prices", b"PK\x03\x04broken")
    ttf = next((FIXTURES / "ttf").glob("*.xlsx"), None)
    if ttf is not None:
        with pytest.raises(ParseError, match="no sheet 'Primary Market Auction'"):
            _map("auction_prices", ttf.read_bytes())
    with pytest.raises(ParseError, match="auction_prices"):
        EEXIngestor().detect_dataset("x.csv", b"a,b")
