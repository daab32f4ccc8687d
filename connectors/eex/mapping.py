"""EEX EU ETS primary market auction reports (yearly ``...-data.xlsx``) -> canonical rows. Pure.

Layout and its drift
    One sheet ``Primary Market Auction`` (2018-19 files add a ``Caption`` sheet of codes): a few banner
    rows ("More information", "EEX Emissions market / Primary Market Auction", group labels "Prices",
    "Volumes", ...), then the header row and one row per auction, newest first. The header row moves
    (row 3 in the 2013 file, row 6 in 2018+), so it is found by content: the first row holding both
    ``Date`` and ``Auction Name``. 2020+ files add a ``Status`` column (``successful`` / ``cancelled``);
    earlier files list successful auctions only (the German auction of 2018-09-21, cancelled because its
    clearing price was well under the secondary market, has no row in the 2018 file). Auction names
    drift (``Auction 3. Period CAP2-EU``, ``Auction 4. Period CAP3 EU``, ``... CAP3 PL``, ``... CAP3 NIR``,
    ``Auction 3. Period DE``, ``EUAA Auction CAP2-PL``); the ``Country`` column states the auctioneer in
    every year and is what is read (the name is cross-checked against it).

Locations
    ``location`` / ``area`` = the ``Country`` code: ``EU`` = the common auction platform (CAP2 / CAP3:
    the 25 participating member states, later also EEA-EFTA states and the Innovation / Modernisation
    funds), ``DE`` = Germany's opt-out platform, ``PL`` = Poland's auctions on the CAP, ``XI`` = the UK
    for Northern Ireland (``CAP3 NIR``). ``location_type = "auction"``.

Markets
    ``EEX_EUA_AUCTION`` for EU allowances (contract ``T3PA``), ``EEX_EUAA_AUCTION`` for EU aviation
    allowances (``EAA3``/``EAA2``): a different product, auctioned some days beside an EUA auction of
    the same auctioneer (2018-2021 each have such a day), so it cannot share the EUA market.

Intervals and publication
    The interval is the auction day, ``[00:00, 24:00)`` Europe/Berlin (EEX's CET/CEST). The bidding window
    is 09:00-11:00 CET for EUAs (EUAA auctions were 13:00-15:00 until 2021, 09:00-11:00 since), and
    results are announced right after it closes (the Auctioning Regulation allows 15 minutes). The
    ``Time`` column holds, to the second, when the result was fixed: 11:00:20-11:01:45 for EUA auctions,
    15:00:2x for the early EUAA ones, 11:40:55 for the cancelled CAP3 auction of 2022-02-01. It is read
    as Europe/Berlin wall time and is ``published_at_utc``; it must fall on the auction date.

Rows
    ``prices``: the auction clearing price [EUR/t] of each *successful* auction; a cancelled auction has
    no price (its price cells are blank) and gives no price row. ``fundamentals`` (the same market and
    area): ``auction_volume_t``, ``total_bid_volume_t`` [t], ``bids_submitted``, ``bids_successful``,
    ``bidders``, ``bidders_successful`` [count], ``cover_ratio`` [ratio], ``bid_price_min`` /
    ``_max`` / ``_mean`` / ``_median`` [EUR/t], ``revenue_eur`` [EUR], and ``auction_cancelled`` (1 or
    0 [flag]) for every auction, cancelled ones included (their volume, bids, bidders and cover ratio are
    facts: the 2022-02-01 CAP3 auction was cancelled at a cover ratio of 0.51). Cells that are blank
    give no row (a cancelled auction has no bid statistics of the winners). The revenue split by member
    state (one column each) is not stored.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "Europe/Berlin"
SOURCE = "eex"
EUA_MARKET = "EEX_EUA_AUCTION"
EUAA_MARKET = "EEX_EUAA_AUCTION"
SHEET = "Primary Market Auction"
PRICE_COLUMN = "Auction Price €/tCO2"
#: header -> (variable, unit)
FUNDAMENTALS = {
    "Auction Volume tCO2": ("auction_volume_t", "t"),
    "Total Amount of Bids": ("total_bid_volume_t", "t"),
    "Number of bids submitted": ("bids_submitted", "count"),
    "Number of successful bids": ("bids_successful", "count"),
    "Total Number of Bidders": ("bidders", "count"),
    "Number of Successful Bidders": ("bidders_successful", "count"),
    "Cover Ratio": ("cover_ratio", "ratio"),
    "Minimum Bid €/tCO2": ("bid_price_min", "EUR/t"),
    "Maximum Bid €/tCO2": ("bid_price_max", "EUR/t"),
    "Mean €/tCO2": ("bid_price_mean", "EUR/t"),
    "Median €/tCO2": ("bid_price_median", "EUR/t"),
    "Total Revenue €": ("revenue_eur", "EUR"),
}
REQUIRED = ["Date", "Time", "Auction Name", "Contract", "Country", PRICE_COLUMN, "Auction Volume tCO2"]
EUAA_CONTRACTS = {"EAA2", "EAA3"}
EUA_CONTRACTS = {"T2PA", "T3PA", "T4PA"}
#: name token -> Country code, to cross-check the auction name
_NAME_CODES = {"EU": "EU", "DE": "DE", "PL": "PL", "NIR": "XI"}
_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]


def _utc_ms(values: Any) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ms"))


def read_report(body: bytes) -> pd.DataFrame:
    """Return the auction rows of a report with its header row found by content (columns as named)."""
    if not body:
        raise ParseError("empty body")
    if not body.startswith(b"PK"):
        raise ParseError("not an xlsx workbook (no zip signature)")
    try:
        sheets = pd.read_excel(io.BytesIO(body), engine="calamine", sheet_name=None, header=None)
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        raise ParseError(f"unreadable workbook: {exc}") from None
    grid = sheets.get(SHEET)
    if grid is None:
        raise ParseError(f"no sheet {SHEET!r}; the workbook has {sorted(sheets)}")
    cells = grid.astype(str).apply(lambda col: col.str.strip())
    is_header = cells.eq("Date").any(axis=1) & cells.eq("Auction Name").any(axis=1)
    if not is_header.any():
        raise ParseError("no header row with 'Date' and 'Auction Name' in the sheet")
    at = int(np.flatnonzero(is_header.to_numpy())[0])
    names = [str(c).strip() if not pd.isna(c) else "" for c in grid.iloc[at]]
    body_rows = grid.iloc[at + 1 :].copy()
    body_rows.columns = names
    body_rows = body_rows.loc[:, [n != "" for n in names]]
    missing = [c for c in REQUIRED if c not in body_rows.columns]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(body_rows.columns)[:30]}")
    body_rows = body_rows[body_rows["Date"].notna() | body_rows["Auction Name"].notna()]
    if body_rows.empty:
        raise ParseError("the sheet has a header but no auctions")
    return body_rows.reset_index(drop=True)


def _stamps(raw: pd.DataFrame) -> tuple[pd.DatetimeIndex, pd.Series]:
    try:
        day = pd.DatetimeIndex(pd.to_datetime(raw["Date"], errors="raise")).normalize()
        fixed = pd.DatetimeIndex(pd.to_datetime(raw["Time"], errors="raise"))
    except (ValueError, TypeError) as exc:
        raise ParseError(f"unreadable Date or Time: {exc}") from None
    if day.isna().any() or fixed.isna().any():
        raise ParseError("an auction without Date or Time")
    if (fixed.normalize() != day).any():
        k = int(np.flatnonzero(fixed.normalize() != day)[0])
        raise ParseError(f"Time {fixed[k]} is not on the auction date {day[k]:%Y-%m-%d}")
    return day, _utc_ms(local_to_utc(fixed.round("ms"), TZ))


def _number(raw: pd.DataFrame, col: str) -> pd.Series:
    values = raw[col].map(lambda v: np.nan if v is None or str(v).strip() in ("", "-") else v)
    try:
        return pd.to_numeric(values, errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"non-numeric {col!r}: {exc}") from None


def _markets(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    contract = raw["Contract"].astype(str).str.strip()
    unknown = sorted(set(contract) - EUA_CONTRACTS - EUAA_CONTRACTS)
    if unknown:
        raise ParseError(f"unknown contract(s) {unknown}; known {sorted(EUA_CONTRACTS | EUAA_CONTRACTS)}")
    market = pd.Series(np.where(contract.isin(EUAA_CONTRACTS), EUAA_MARKET, EUA_MARKET), index=raw.index)
    country = raw["Country"].astype(str).str.strip()
    if (country.isin(["", "nan"])).any():
        raise ParseError("an auction without Country")
    token = raw["Auction Name"].astype(str).str.strip().str.split(r"[\s-]").str[-1].map(_NAME_CODES)
    clash = token.notna() & (token != country)
    if clash.any():
        k = int(np.flatnonzero(clash.to_numpy())[0])
        raise ParseError(
            f"auction {raw['Auction Name'].iloc[k]!r} is listed under Country {country.iloc[k]!r}"
        )
    return market, country


def parse_auction_prices(body: bytes) -> pd.DataFrame:
    """Map a yearly auction report to ``prices`` rows: the clearing price of each successful auction.

    Returns
    -------
    pd.DataFrame
        ``EEX_EUA_AUCTION`` / ``EEX_EUAA_AUCTION`` rows at the auctioneer (``EU``, ``DE``, ``PL``, ``XI``),
        over the auction day in Europe/Berlin, published at the result's ``Time`` [EUR/t].
    """
    raw = read_report(body)
    day, published = _stamps(raw)
    market, country = _markets(raw)
    price = _number(raw, PRICE_COLUMN)
    cancelled = _cancelled(raw)
    if (price.isna() & ~cancelled).any():
        k = int(np.flatnonzero((price.isna() & ~cancelled).to_numpy())[0])
        raise ParseError(
            f"auction of {day[k]:%Y-%m-%d} ({raw['Auction Name'].iloc[k]}) has no price nor status"
        )
    keep = (~cancelled & price.notna()).to_numpy()
    start = _utc_ms(local_to_utc(day, TZ))
    end = _utc_ms(local_to_utc(day + pd.Timedelta(days=1), TZ))
    out = pd.DataFrame(
        {
            "interval_start_utc": start[keep].to_numpy(),
            "interval_end_utc": end[keep].to_numpy(),
            "market": market[keep].to_numpy(),
            "location": country[keep].to_numpy(),
            "location_type": "auction",
            "price": price[keep].to_numpy(),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": "EUR",
            "unit": "EUR/t",
            "revision": "",
            "source": SOURCE,
            "fidelity": "official",
            "published_at_utc": published[keep].to_numpy(),
        }
    )
    if out.duplicated(["market", "location", "interval_start_utc"]).any():
        raise ParseError("two auctions of one product and auctioneer on the same day")
    return out.sort_values(_PRICE_ORDER, ignore_index=True)


def _cancelled(raw: pd.DataFrame) -> pd.Series:
    if "Status" not in raw:
        return pd.Series(False, index=raw.index)
    status = raw["Status"].astype(str).str.strip().str.lower()
    unknown = sorted(set(status) - {"successful", "cancelled", "canceled"})
    if unknown:
        raise ParseError(f"unknown Status {unknown}; known successful, cancelled")
    return status.isin(["cancelled", "canceled"])


def parse_auction_results(body: bytes) -> pd.DataFrame:
    """Map a yearly auction report to ``fundamentals`` rows: volumes, bids, bidders, cover ratio, status."""
    raw = read_report(body)
    day, published = _stamps(raw)
    market, country = _markets(raw)
    cancelled = _cancelled(raw)
    start = _utc_ms(local_to_utc(day, TZ))
    end = _utc_ms(local_to_utc(day + pd.Timedelta(days=1), TZ))
    frames = [
        fundamentals_frame(
            start, end, market=market, area=country, variable="auction_cancelled",
            value=cancelled.astype(float).to_numpy(), unit="flag", source=SOURCE, published=published,
        )
    ]  # fmt: skip
    for col, (variable, unit) in FUNDAMENTALS.items():
        if col not in raw:
            continue
        value = _number(raw, col)
        keep = value.notna().to_numpy()
        frames.append(
            fundamentals_frame(
                start[keep].to_numpy(), end[keep].to_numpy(), market=market[keep].to_numpy(),
                area=country[keep].to_numpy(), variable=variable, value=value[keep].to_numpy(), unit=unit,
                source=SOURCE, published=published[keep].to_numpy(),
            )
        )  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    out.insert(len(out.columns) - 1, "fidelity", "official")
    if out.duplicated(["market", "area", "variable", "interval_start_utc"]).any():
        raise ParseError("two auctions of one product and auctioneer on the same day")
    return out.sort_values(_FUND_ORDER, ignore_index=True)
