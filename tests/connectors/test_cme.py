"""CME / NYMEX settlement file on its real recording: values, delivery periods, bad payloads, curve builds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from marketintel.calendars import contracts_from_quotes, get_calendar
from marketintel.config import shared_dir
from marketintel.connectors.cme.ingestor import DATASET, URL, CMEIngestor
from marketintel.connectors.cme.mapping import (
    ALIASES_NOT_MAPPED,
    QUOTE_COLUMNS,
    SYMBOLS,
    parse_with_stats,
)
from marketintel.curves.build import build_curve
from marketintel.ingest import registry
from marketintel.ingest.http import HttpClient, request_key
from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload
from marketintel.store import get_table, validate_frame
from tests.connectors.contract import ConnectorContract

FILE = shared_dir() / "fixtures" / "cme" / "nymex_future__tradedate_20141229.csv"
pytestmark = pytest.mark.skipif(not FILE.is_file(), reason=f"recorded CME file not found at {FILE}")
TRADE_DATE = dt.date(2014, 12, 29)
KEY = ["market", "product", "profile", "trade_date", "contract"]


def _registered() -> bool:
    try:
        registry.load("cme")
    except registry.UnknownSourceError:
        return False
    return True


NOT_REGISTERED = "the 'cme' entry point is not in pyproject.toml yet (the lead adds it): registry tests skip"


@pytest.fixture(scope="module")
def body() -> bytes:
    return FILE.read_bytes()


@pytest.fixture(scope="module")
def quotes(body: bytes) -> pd.DataFrame:
    raw = RawPayload("cme", DATASET, FILE.as_uri(), body, pd.Timestamp.now(tz="UTC"))
    return CMEIngestor().map_to_schema(raw)


def _quote(df: pd.DataFrame, product: str, profile: str, contract: str) -> pd.Series:
    rows = df[(df["product"] == product) & (df["profile"] == profile) & (df["contract"] == contract)]
    assert len(rows) == 1, (product, profile, contract, len(rows))
    return rows.iloc[0]


# ----------------------------------------------------------------------------------------------------
# Registration (works once the lead adds the entry point)
# ----------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not _registered(), reason=NOT_REGISTERED)
class TestCMEContract(ConnectorContract):
    source = "cme"
    files: ClassVar[list[Path]] = [FILE]


@pytest.mark.skipif(not _registered(), reason=NOT_REGISTERED)
def test_entry_point_names_the_ingestor() -> None:
    assert registry.load("cme") is CMEIngestor


# ----------------------------------------------------------------------------------------------------
# The recording
# ----------------------------------------------------------------------------------------------------
def test_catalog_and_dataset_detection(body: bytes) -> None:
    catalog = CMEIngestor().discover()
    ds = catalog.dataset(DATASET)
    assert (catalog.source, ds.table, ds.cadence, ds.timezone, ds.verified) == (
        "cme",
        "forward_quotes",
        "1D",
        "America/New_York",
        True,
    )
    assert catalog.rate_limit_s >= 60
    ingestor = CMEIngestor()
    assert ingestor.detect_dataset(FILE.name, body) == DATASET
    assert ingestor.detect_dataset("nymex_future.csv", b"") == DATASET
    assert ingestor.detect_dataset("settle.csv", body) == DATASET  # from the header
    with pytest.raises(ParseError, match="cannot tell the dataset"):
        ingestor.detect_dataset("other.csv", b"a,b\n1,2\n")


def test_counts_per_product_and_skipped_symbols(body: bytes) -> None:
    df, stats = parse_with_stats(body)
    assert (stats.rows, stats.mapped, stats.no_settle, stats.skipped) == (12275, 1831, 1, 10443)
    assert len(stats.unknown_symbols) == 533 and {"CL", "HO", "RB", "JM", "KA"} <= set(stats.unknown_symbols)
    assert set(stats.per_symbol) == set(SYMBOLS)
    counts = df.groupby(["product", "profile"]).size()
    assert counts["NG", "base"] == 156  # Jan 2015 .. Dec 2027
    assert counts["PJM_WESTERN_HUB_RT", "peak"] == 61 + 25  # L1 Dec 2014 .. Dec 2019, JD daily
    assert counts["PJM_WESTERN_HUB_RT", "offpeak"] == 61 + 13  # N9, WOR daily
    assert counts["PJM_WESTERN_HUB_DA", "peak"] == 49 + 28  # J4, PWP daily
    assert counts["ERCOT_NORTH_HUB", "peak"] == counts["ERCOT_NORTH_HUB", "offpeak"] == 25
    assert counts["MISO_INDIANA_HUB_RT", "peak"] == 37 + 1  # EM, PTD daily
    assert counts["NYISO_ZONE_J_DA", "peak"] == counts["NYISO_ZONE_G_DA", "offpeak"] == 25
    assert counts["EUA", "base"] == 10 and counts["NBP_HH_BASIS", "base"] == 18
    assert "VD" in stats.per_symbol and stats.per_symbol["VD"] == 24  # VDZ14 D31 has no settlement


def test_settlements_read_from_the_file(quotes: pd.DataFrame) -> None:
    expected = {  # (product, profile, contract): settle, as in the file (symbol and contract code noted)
        ("NG", "base", "M-2015-01"): 3.189,  # NGF15
        ("NG", "base", "M-2015-02"): 3.199,  # NGG15
        ("NG", "base", "M-2027-12"): 5.378,  # NGZ27
        ("PJM_WESTERN_HUB_RT", "peak", "M-2014-12"): 38.38,  # L1Z14
        ("PJM_WESTERN_HUB_RT", "peak", "M-2015-01"): 57.75,  # L1F15
        ("PJM_WESTERN_HUB_RT", "offpeak", "M-2015-01"): 47.16,  # N9F15
        ("PJM_WESTERN_HUB_DA", "peak", "M-2014-12"): 37.97,  # J4Z14
        ("PJM_WESTERN_HUB_DA", "offpeak", "M-2015-01"): 47.21,  # E4F15
        ("PJM_WESTERN_HUB_RT", "peak", "D-2014-12-26"): 23.59,  # JDZ14 D26
        ("PJM_WESTERN_HUB_RT", "offpeak", "D-2014-12-20"): 42.35,  # WORZ14 D20 (a Saturday)
        ("ERCOT_NORTH_HUB", "peak", "M-2015-01"): 32.97,  # I5F15
        ("MISO_INDIANA_HUB_RT", "peak", "M-2015-01"): 45.38,  # EMF15
        ("MISO_INDIANA_HUB_RT", "peak", "D-2014-12-29"): 42.50,  # PTDZ14 D29
        ("NYISO_ZONE_J_DA", "peak", "M-2015-01"): 89.13,  # D3F15
        ("NYISO_ZONE_G_DA", "offpeak", "M-2015-02"): 57.00,  # D2G15
        ("NBP_HH_BASIS", "base", "M-2015-01"): 4.946,  # E2F15
        ("EUA", "base", "M-2015-02"): 7.26,  # 6TG15
    }
    got = {key: _quote(quotes, *key)["settle"] for key in expected}
    assert got == pytest.approx(expected, abs=1e-12)
    eua = _quote(quotes, "EUA", "base", "M-2015-02")
    assert (eua["currency"], eua["unit"]) == ("EUR", "EUR/tCO2")
    ng = quotes[quotes["product"] == "NG"]
    assert set(ng["unit"]) == {"USD/MMBtu"} and set(ng["currency"]) == {"USD"}


def test_delivery_periods_monthly_and_daily(quotes: pd.DataFrame) -> None:
    ng = _quote(quotes, "NG", "base", "M-2015-02")
    assert (ng["delivery_start"], ng["delivery_end"]) == (dt.date(2015, 2, 1), dt.date(2015, 3, 1))
    dec = _quote(quotes, "PJM_WESTERN_HUB_RT", "peak", "M-2014-12")
    assert (dec["delivery_start"], dec["delivery_end"]) == (dt.date(2014, 12, 1), dt.date(2015, 1, 1))
    day = _quote(quotes, "PJM_WESTERN_HUB_RT", "peak", "D-2015-01-30")
    assert (day["delivery_start"], day["delivery_end"], day["settle"]) == (
        dt.date(2015, 1, 30),
        dt.date(2015, 1, 31),
        57.75,
    )
    daily = quotes[quotes["contract"].str.startswith("D-")]
    assert (daily["delivery_end"] - daily["delivery_start"] == dt.timedelta(days=1)).all()


def test_daily_peak_contracts_list_exactly_the_peak_days(quotes: pd.DataFrame) -> None:
    """JD (PJM Western Hub daily) has no profile in its description: its January days are the 5x16 days."""
    pjm = get_calendar("PJM")
    jd = quotes[
        (quotes["product"] == "PJM_WESTERN_HUB_RT")
        & (quotes["profile"] == "peak")
        & quotes["contract"].str.startswith("D-2015-01")
    ]
    days = pd.date_range("2015-01-01", "2015-01-31").date
    peak_days = {d for d in days if pjm.profile_hours(d, d, "peak") > 0}
    assert set(jd["delivery_start"]) == peak_days and len(peak_days) == 21  # no Jan 1 (NERC holiday)
    assert (jd["settle"] == _quote(quotes, "PJM_WESTERN_HUB_RT", "peak", "M-2015-01")["settle"]).all()


def test_canonical_frame_fits_the_table(quotes: pd.DataFrame) -> None:
    assert tuple(quotes.columns) == QUOTE_COLUMNS
    validate_frame(get_table("forward_quotes"), quotes)
    assert not quotes.duplicated(KEY).any()
    assert quotes.equals(quotes.sort_values(KEY, ignore_index=True))
    assert set(quotes["trade_date"]) == {TRADE_DATE}
    assert set(quotes["market"]) == {"NYMEX"} and set(quotes["source"]) == {"cme"}
    assert quotes["bid"].isna().all() and quotes["ask"].isna().all() and quotes["settle"].notna().all()
    # 14:30 EST on the trade date (the NG settlement period ends 14:30 ET)
    assert set(quotes["published_at_utc"]) == {pd.Timestamp("2014-12-29 19:30", tz="UTC")}
    assert set(quotes["profile"]) == {"base", "peak", "offpeak"}


def test_symbol_table_is_consistent() -> None:
    for symbol, spec in SYMBOLS.items():
        assert spec.profile in {"base", "peak", "offpeak"}, symbol
        assert spec.unit.startswith(spec.currency + "/"), symbol
        if spec.calendar:
            get_calendar(spec.calendar)  # raises on an unknown calendar
    assert not set(ALIASES_NOT_MAPPED) & set(SYMBOLS)
    assert set(ALIASES_NOT_MAPPED.values()) <= set(SYMBOLS)


def test_aliases_left_out_settle_like_the_mapped_symbol_outside_the_delivery_month() -> None:
    raw = pd.read_csv(FILE, dtype=str, keep_default_na=False)
    symbols = set(ALIASES_NOT_MAPPED) | set(ALIASES_NOT_MAPPED.values())
    raw = raw[(raw["CONTRACT DAY"] == "") & (raw["SETTLE"] != "") & raw["PRODUCT SYMBOL"].isin(symbols)]
    raw = raw.assign(ym=raw["CONTRACT YEAR"] + raw["CONTRACT MONTH"])
    settle = raw.set_index(["PRODUCT SYMBOL", "ym"])["SETTLE"].astype(float)
    for alias, mapped in ALIASES_NOT_MAPPED.items():
        both = pd.concat([settle[alias], settle[mapped]], axis=1, join="inner", keys=["a", "m"])
        differ = both[both["a"] != both["m"]]
        assert len(both) and set(differ.index) <= {"201412"}, (alias, mapped, differ)  # Dec 2014 delivers now


# ----------------------------------------------------------------------------------------------------
# Bad payloads
# ----------------------------------------------------------------------------------------------------
HEADER = (
    "PRODUCT SYMBOL,CONTRACT MONTH,CONTRACT YEAR,CONTRACT DAY,CONTRACT,PRODUCT DESCRIPTION,OPEN,HIGH,"
    "HIGH AB INDICATOR,LOW,LOW AB INDICATOR,LAST,LAST AB INDICATOR,SETTLE,PT CHG,EST. VOL,PRIOR SETTLE,"
    "PRIOR VOL,PRIOR INT,TRADEDATE"
)
NG_ROW = "NG,02,2015,,NGG15,Henry Hub Natural Gas Futures,,,,,,,,{settle},+.166,0,3.033,,,12/29/2014"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"<!DOCTYPE html><html><title>Access Denied</title></html>", "HTML page"),
        (
            HEADER.replace(",SETTLE,", ",SETTLEMENT,").encode() + b"\n",
            r"changed header: missing column\(s\) \['SETTLE'\]",
        ),
        (b"a,b,c\n1,2,3\n", r"missing column\(s\) \['PRODUCT SYMBOL', 'CONTRACT MONTH'"),
        ((HEADER + "\n").encode(), "header but no contracts"),
        ((HEADER + "\n" + NG_ROW.format(settle="3.19x")).encode(), "non-numeric SETTLE"),
        (
            (HEADER + "\n" + NG_ROW.format(settle="3.199").replace(",02,", ",13,")).encode(),
            "CONTRACT MONTH 13",
        ),
        (
            (HEADER + "\n" + NG_ROW.format(settle="3.199").replace("2015,,", "2015,30,")).encode(),
            "contract day 30 does not exist in 2015-02",
        ),
        (
            (HEADER + "\n" + NG_ROW.format(settle="3.199").replace("12/29/2014", "2014-12-29")).encode(),
            "TRADEDATE",
        ),
    ],
)
def test_bad_payloads_raise_with_a_reason(body: bytes, reason: str) -> None:
    raw = RawPayload("cme", DATASET, "x", body, pd.Timestamp.now(tz="UTC"))
    with pytest.raises(ParseError, match=reason):
        CMEIngestor().map_to_schema(raw)


def test_unknown_symbols_are_skipped_not_guessed() -> None:
    body = (
        HEADER
        + "\n"
        + NG_ROW.format(settle="3.199")
        + "\nZZZ,02,2015,,ZZZG15,Mystery,,,,,,,,1,,,,,,12/29/2014"
    )
    df, stats = parse_with_stats(body.encode())
    assert list(df["product"]) == ["NG"] and stats.unknown_symbols == ("ZZZ",) and stats.skipped == 1


def test_a_file_of_another_trade_date_is_refused(body: bytes) -> None:
    raw = RawPayload("cme", DATASET, URL, body, pd.Timestamp.now(tz="UTC"), meta={"trade_date": "2014-12-30"})
    with pytest.raises(ParseError, match="only the latest trade date"):
        CMEIngestor().map_to_schema(raw)


# ----------------------------------------------------------------------------------------------------
# Fetching (replayed) and curve builds
# ----------------------------------------------------------------------------------------------------
def test_pull_fetches_the_latest_file_once(body: bytes, tmp_path: Path) -> None:
    (tmp_path / "settle.csv").write_bytes(body)
    index = {request_key("GET", URL, None): {"file": "settle.csv", "status": 200}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    http = HttpClient("replay", tmp_path)
    day = pd.Timestamp("2014-12-29", tz="America/New_York")
    request = PullRequest(
        DATASET, (day - pd.Timedelta(days=2)).tz_convert("UTC"), (day + pd.Timedelta(days=1))
    )
    ingestor = CMEIngestor(http=http)
    payloads = list(ingestor.pull_or_subscribe(request))
    assert len(payloads) == 1 and http.requests == 1
    (raw,) = payloads
    assert raw.meta == {"trade_date": "2014-12-29"}
    assert (raw.window_start_utc, raw.window_end_utc) == (
        pd.Timestamp("2014-12-29 05:00", tz="UTC"),
        pd.Timestamp("2014-12-30 05:00", tz="UTC"),
    )
    assert len(ingestor.map_to_schema(raw)) == 1831
    with pytest.raises(ParseError, match="no HTTP client"):
        next(CMEIngestor().pull_or_subscribe(request))


def test_henry_hub_daily_curve_reprices_the_first_24_months(quotes: pd.DataFrame) -> None:
    ng = quotes[quotes["product"] == "NG"].head(24)
    assert (ng["contract"].iloc[0], ng["contract"].iloc[-1]) == ("M-2015-01", "M-2016-12")
    build = build_curve(
        contracts_from_quotes(ng),
        get_calendar("HENRY_HUB"),
        dt.date(2015, 1, 1),
        dt.date(2016, 12, 31),
        weights="days",
    )
    assert build.max_reprice_error < 1e-8
    assert len(build.daily) == 731


def test_pjm_peak_offpeak_hourly_curve_reprices_monthly_and_daily_contracts(quotes: pd.DataFrame) -> None:
    west = quotes[quotes["product"] == "PJM_WESTERN_HUB_RT"]
    months = west[west["contract"].between("M-2015-01", "M-2015-12")]
    assert months.groupby("profile").size().to_dict() == {"offpeak": 12, "peak": 12}
    january_days = west[west["contract"].str.startswith("D-2015-01")]  # overlap the January peak month
    contracts = contracts_from_quotes(pd.concat([months, january_days]))
    build = build_curve(
        contracts, get_calendar("PJM"), dt.date(2015, 1, 1), dt.date(2015, 12, 31), granularity="hourly"
    )
    assert build.max_reprice_error < 1e-8 and len(build.fits) == 24 + 21
    assert build.hourly is not None and len(build.hourly) == 8760
