"""NYMEX daily settlement CSV (``nymex_future.csv``) -> ``forward_quotes`` rows. Pure and table-driven.

The file has one row per listed contract of every NYMEX futures product (12,275 rows on 12/29/2014)::

    PRODUCT SYMBOL,CONTRACT MONTH,CONTRACT YEAR,CONTRACT DAY,CONTRACT,PRODUCT DESCRIPTION,OPEN,HIGH,...,
    SETTLE,PT CHG,EST. VOL,PRIOR SETTLE,PRIOR VOL,PRIOR INT,TRADEDATE
    NG,02,2015,,NGG15,Henry Hub Natural Gas Futures,3.084,3.211,,...,3.199,+.166,91107,...,12/29/2014

Monthly contracts leave ``CONTRACT DAY`` empty and deliver over the calendar month; daily (calendar-day)
contracts carry it (``JDF15 D30``) and deliver on that single day. ``PRODUCT DESCRIPTION`` is cut at 50
characters by the exchange, and daily contracts describe themselves only as ``"Dec 14 Pjm Wstrn Hub 5mw"``.

Only the symbols of :data:`SYMBOLS` are mapped; every other row is skipped and counted (never guessed).
Where the exchange lists several contract sizes of one settlement index (PJM Western Hub real-time peak:
``L1`` 5 MW, ``JM`` 2.5 MW, ``4SN`` 50 MW), one symbol is mapped per (product, profile): the sizes would
otherwise collide on the natural key, and their settlements may differ in the delivery month (``L1Z14``
38.38 vs ``JMZ14`` 42.08). The aliases left out are listed in :data:`ALIASES_NOT_MAPPED`.

Contract labels follow the platform's names (:mod:`marketintel.calendars.contracts`): ``M-2015-02`` for
a month, ``D-2015-01-30`` for a day, so that a product's contracts sort chronologically; the exchange
code (``NGG15``) is not kept (``forward_quotes`` has no column for it).

``published_at_utc`` is the trade date at 14:30 America/New_York, an approximation: NYMEX Henry Hub (NG)
futures settle on the CME Globex trades of the 14:28-14:30 ET settlement period (CME, "Natural Gas (NG)
Futures Daily Settlement Procedure"), so 14:30 ET is the earliest instant the day's settlements can be
known; the file itself is posted later in the evening and carries no posting time. The other products
(power, basis, EUA) are stamped the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from marketintel.connectors.columnar import UTC_MS, per_distinct, to_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/New_York"
MARKET = "NYMEX"
SOURCE = "cme"
#: settlement instant of NYMEX NG futures (end of the 14:28-14:30 ET settlement period), local time
SETTLEMENT_TIME = dt.time(14, 30)

#: columns of ``forward_quotes`` in table order (the store adds ``ingested_at_utc``)
QUOTE_COLUMNS = (
    "trade_date",
    "market",
    "product",
    "contract",
    "delivery_start",
    "delivery_end",
    "profile",
    "settle",
    "bid",
    "ask",
    "currency",
    "unit",
    "source",
    "published_at_utc",
)
SYMBOL, MONTH, YEAR, DAY, SETTLE, TRADEDATE = (
    "PRODUCT SYMBOL",
    "CONTRACT MONTH",
    "CONTRACT YEAR",
    "CONTRACT DAY",
    "SETTLE",
    "TRADEDATE",
)
#: columns the parser reads; a file without any of them is refused, naming the missing ones
REQUIRED = (SYMBOL, MONTH, YEAR, DAY, SETTLE, TRADEDATE)


class Product(NamedTuple):
    """How one NYMEX product symbol maps to ``forward_quotes``.

    Attributes
    ----------
    product : str
        ``forward_quotes.product``: the settlement index (hub or zone, and real-time / day-ahead).
    profile : str
        Delivery profile: ``"base"`` (every day / hour), ``"peak"`` (5x16) or ``"offpeak"`` (2x16 + 7x8).
    unit : str
        Price unit.
    calendar : str
        Market calendar (:func:`marketintel.calendars.get_calendar`) whose local dates and peak hours the
        contract delivers in; ``""`` where none applies (emission allowances).
    description : str
        ``PRODUCT DESCRIPTION`` as seen in the 12/29/2014 file (cut at 50 characters by the exchange).
    currency : str
        ISO 4217 code of the price.
    """

    product: str
    profile: str
    unit: str
    calendar: str
    description: str
    currency: str = "USD"


_GAS, _POWER = "USD/MMBtu", "USD/MWh"


def _pjm(product: str, profile: str, description: str) -> Product:
    return Product(product, profile, _POWER, "PJM", description)


def _miso(product: str, profile: str, description: str) -> Product:
    return Product(product, profile, _POWER, "MISO", description)


def _nyiso(product: str, profile: str, description: str) -> Product:
    return Product(product, profile, _POWER, "NYISO", description)


def _ercot(product: str, profile: str, description: str) -> Product:
    return Product(product, profile, _POWER, "ERCOT", description)


#: NYMEX product symbol -> mapping. Descriptions are the file's; "(daily)" marks calendar-day contracts
#: (``CONTRACT DAY`` set), whose description names no profile: peak daily contracts list weekdays only and
#: their January 2015 settlements equal the monthly peak contract's (57.75 for PJM Western Hub), off-peak
#: ones ("Rt Op") list every day; real-time vs day-ahead follows the description ("Da" = day-ahead, none =
#: real-time, as the monthly 5 MW contracts) and is inferred for ``JD``, ``VD`` and ``PTD``.
SYMBOLS: dict[str, Product] = {
    # --- Henry Hub natural gas, basis, emissions ------------------------------------------------------
    "NG": Product("NG", "base", _GAS, "HENRY_HUB", "Henry Hub Natural Gas Futures"),
    "E2": Product("NBP_HH_BASIS", "base", _GAS, "NBP", "National Balancing Point (nbp) Henry Hub Basis Fut"),
    "6T": Product("EUA", "base", "EUR/tCO2", "", "In Delivery Month European Union Allowance (eua) F", "EUR"),
    # --- PJM: Western Hub ---------------------------------------------------------------------------
    "L1": _pjm("PJM_WESTERN_HUB_RT", "peak", "Pjm Western Hub Peak Calendar-month Real-time Lmp"),
    "N9": _pjm("PJM_WESTERN_HUB_RT", "offpeak", "Pjm Western Hub Real-time Off-peak Calendar-month"),
    "JD": _pjm("PJM_WESTERN_HUB_RT", "peak", "Dec 14 Pjm Wstrn Hub 5mw (daily)"),
    "WOR": _pjm("PJM_WESTERN_HUB_RT", "offpeak", "Dec 14 Pjm Wst Hb Rt Op 2.5 (daily)"),
    "J4": _pjm("PJM_WESTERN_HUB_DA", "peak", "Pjm Western Hub Day-ahead Peak Calendar-month 5 Mw"),
    "E4": _pjm("PJM_WESTERN_HUB_DA", "offpeak", "Pjm Western Hub Day-ahead Off-peak Calendar-month"),
    "PWP": _pjm("PJM_WESTERN_HUB_DA", "peak", "Dec 14 Pjm Wstrn Hub Da 2.5 (daily)"),
    # --- PJM: Northern Illinois and AEP-Dayton hubs --------------------------------------------------
    "UM": _pjm("PJM_NI_HUB_RT", "peak", "Pjm Northern Illinois Hub Real-time Peak Calendar-"),
    "B6": _pjm("PJM_NI_HUB_RT", "offpeak", "Pjm Northern Illinois Hub Real-time Off-peak Calen"),
    "N3": _pjm("PJM_NI_HUB_DA", "peak", "Pjm Northern Illinois Hub Day-ahead Lmp Peak Calen"),
    "L3": _pjm("PJM_NI_HUB_DA", "offpeak", "Pjm Northern Illinois Hub Day-ahead Off-peak Calen"),
    "Z9": _pjm("PJM_AEP_DAYTON_HUB_RT", "peak", "Pjm Aep Dayton Hub 5mw Peak Calendar-month Real-ti"),
    "V3": _pjm("PJM_AEP_DAYTON_HUB_RT", "offpeak", "Pjm Aep Dayton Hub Real-time Off-peak Calendar-mon"),
    "VD": _pjm("PJM_AEP_DAYTON_HUB_RT", "peak", "Dec 14 Pjm Aep Dayton 5mw (daily)"),
    "D7": _pjm("PJM_AEP_DAYTON_HUB_DA", "peak", "Pjm Aep Dayton Hub Day-ahead Lmp Peak Calendar-mon"),
    "R7": _pjm("PJM_AEP_DAYTON_HUB_DA", "offpeak", "Pjm Aep Dayton Hub Day-ahead Off-peak Calendar-mon"),
    # --- PJM: zones, day-ahead -----------------------------------------------------------------------
    "Y1": _pjm("PJM_AECO_ZONE_DA", "peak", "Pjm Aeco Zone Peak Calendar-month Day-ahead Lmp Fu"),
    "X1": _pjm("PJM_AECO_ZONE_DA", "offpeak", "Pjm Aeco Zone Off-peak Calendar-month Day-ahead Lm"),
    "S4": _pjm("PJM_APS_ZONE_DA", "peak", "Pjm Aps Zone Peak Calendar-month Day-ahead Lmp Fut"),
    "W4": _pjm("PJM_APS_ZONE_DA", "offpeak", "Pjm Aps Zone Off-peak Calendar-month Day-ahead Lmp"),
    "E3": _pjm("PJM_BGE_ZONE_DA", "peak", "Pjm Bge Zone Peak Calendar-month Day-ahead Lmp Fut"),
    "R3": _pjm("PJM_BGE_ZONE_DA", "offpeak", "Pjm Bge Zone Off-peak Calendar-month Day-ahead Lmp"),
    "D8": _pjm("PJM_COMED_ZONE_DA", "peak", "Pjm Comed Zone 5 Mw Peak Calendar-month Day-ahead"),
    "D9": _pjm("PJM_COMED_ZONE_DA", "offpeak", "Pjm Comed Zone 5 Mw Off-peak Calendar-month Day-ah"),
    "D5": _pjm("PJM_DUQUESNE_ZONE_DA", "peak", "Pjm Duquesne Zone 5 Mw Peak Calendar-month Day-ahe"),
    "D6": _pjm("PJM_DUQUESNE_ZONE_DA", "offpeak", "Pjm Duquesne Zone 5 Mw Off-peak Calendar-month Day"),
    "J2": _pjm("PJM_JCPL_ZONE_DA", "peak", "Pjm Jcpl Zone Peak Calendar-month Day-ahead Lmp Fu"),
    "F2": _pjm("PJM_JCPL_ZONE_DA", "offpeak", "Pjm Jcpl Zone Off-peak Calendar-month Day-ahead Lm"),
    "47": _pjm("PJM_METED_ZONE_DA", "peak", "Pjm Meted Zone Peak Calendar-month Day-ahead Lmp F"),
    "46": _pjm("PJM_METED_ZONE_DA", "offpeak", "Pjm Meted Zone Off-peak Calendar-month Day-ahead L"),
    "4N": _pjm("PJM_PECO_ZONE_DA", "peak", "Pjm Peco Zone 5 Mw Peak Calendar-month Day-ahead L"),
    "4P": _pjm("PJM_PECO_ZONE_DA", "offpeak", "Pjm Peco Zone 5 Mw Off-peak Calendar-month Day-ahe"),
    "L5": _pjm("PJM_PPL_ZONE_DA", "peak", "Pjm Ppl Zone Peak Calendar-month Day-ahead Lmp Fut"),
    "F5": _pjm("PJM_PPL_ZONE_DA", "offpeak", "Pjm Ppl Zone Off-peak Calendar-month Day-ahead Lmp"),
    "L6": _pjm("PJM_PSEG_ZONE_DA", "peak", "Pjm Pseg Zone Peak Calendar-month Day-ahead Lmp 5"),
    "W6": _pjm("PJM_PSEG_ZONE_DA", "offpeak", "Pjm Pseg Zone Off-peak Calendar-month Day-ahead Lm"),
    # --- ERCOT (the description names no real-time / day-ahead index) --------------------------------
    "I5": _ercot("ERCOT_NORTH_HUB", "peak", "Ercot North 345 Kv Hub 5 Mw Peak Futures"),
    "I6": _ercot("ERCOT_NORTH_HUB", "offpeak", "Ercot North 345 Kv Hub 5 Mw Off-peak Futures"),
    "N1": _ercot("ERCOT_WEST_HUB", "peak", "Ercot West 345 Kv Hub 5 Mw Peak Futures"),
    "O1": _ercot("ERCOT_WEST_HUB", "offpeak", "Ercot West 345 Kv Hub 5 Mw Off-peak Futures"),
    # --- MISO -----------------------------------------------------------------------------------------
    "EM": _miso("MISO_INDIANA_HUB_RT", "peak", "Miso Indiana Hub(formerly Cinergy Hub)real-time Pe"),
    "H4": _miso("MISO_INDIANA_HUB_RT", "offpeak", "Miso Indiana Hub(formerly Cinergy Hub) Real-time O"),
    "PTD": _miso("MISO_INDIANA_HUB_RT", "peak", "Dec 14 Miso Indiana Hub 5mw (daily)"),
    "H5": _miso("MISO_INDIANA_HUB_DA", "peak", "Miso Indiana Hub(formerly Cinergy Hub) Day-ahead P"),
    "K2": _miso("MISO_INDIANA_HUB_DA", "offpeak", "Miso Indiana Hub(formerly Cinergy Hub)day-ahead Of"),
    "HM": _miso("MISO_MICHIGAN_HUB_RT", "peak", "Miso Michigan Hub Real-time Peak Calendar-month 5"),
    "HJ": _miso("MISO_MICHIGAN_HUB_RT", "offpeak", "Miso Michigan Hub Real-time Off-peak Calendar-mont"),
    "HMW": _miso("MISO_MICHIGAN_HUB_DA", "peak", "Miso Michigan Hub 5 Mw Peak Calendar-month Day-ahe"),
    "HMO": _miso("MISO_MICHIGAN_HUB_DA", "offpeak", "Miso Michigan Hub 5 Mw Off-peak Calendar-month Day"),
    # --- NYISO zones, day-ahead -----------------------------------------------------------------------
    "K3": _nyiso("NYISO_ZONE_A_DA", "peak", "Nyiso Zone A Day-ahead Peak Calendar-month 5 Mw Fu"),
    "K4": _nyiso("NYISO_ZONE_A_DA", "offpeak", "Nyiso Zone A Day-ahead Off-peak Calendar-month 5 M"),
    "Q5": _nyiso("NYISO_ZONE_C_DA", "peak", "Nyiso Zone C 5 Mw Peak Calendar-month Day-ahead Lb"),
    "A3": _nyiso("NYISO_ZONE_C_DA", "offpeak", "Nyiso Zone C 5 Mw Off-peak Calendar-month Day-ahea"),
    "55": _nyiso("NYISO_ZONE_E_DA", "peak", "Nyiso Zone E 5 Mw Peak Calendar-month Day-ahead Lb"),
    "58": _nyiso("NYISO_ZONE_E_DA", "offpeak", "Nyiso Zone E 5 Mw Off-peak Calendar-month Day-ahea"),
    "4L": _nyiso("NYISO_ZONE_F_DA", "peak", "Nyiso Zone F 5 Mw Peak Calendar-month Day-ahead Lb"),
    "4M": _nyiso("NYISO_ZONE_F_DA", "offpeak", "Nyiso Zone F 5 Mw Off-peak Calendar-month Day-ahea"),
    "T3": _nyiso("NYISO_ZONE_G_DA", "peak", "Nyiso Zone G Day-ahead Peak Calendar-month 5 Mw Fu"),
    "D2": _nyiso("NYISO_ZONE_G_DA", "offpeak", "Nyiso Zone G Day-ahead Off-peak Calendar-month 5 M"),
    "D3": _nyiso("NYISO_ZONE_J_DA", "peak", "Nyiso Zone J Day-ahead Peak Calendar-month 5 Mw Fu"),
    "D4": _nyiso("NYISO_ZONE_J_DA", "offpeak", "Nyiso Zone J Day-ahead Off-peak Calendar-month 5 M"),
}

#: Symbols of the same settlement index as a mapped one (another contract size, or a second listing),
#: left out so that the natural key stays unique: symbol -> the mapped symbol it duplicates.
ALIASES_NOT_MAPPED: dict[str, str] = {
    "JM": "L1",  # Pjm Western Hub Real-time Peak Calendar-month 2.5 (MW)
    "4SN": "L1",  # Pjm Western Hub 50 Mw Peak Calendar-month Real-tim
    "VM": "Z9",  # Pjm Aep Dayton Hub Real-time Peak Calendar-month 2 (.5 MW)
    "PTM": "EM",  # Miso Indiana Hub Real-time Peak Calendar-month 5 M
    "FTM": "H4",  # Miso Indiana Hub Real-time Off-peak Calendar-month
    "PDM": "H5",  # Miso Indiana Hub Day-ahead Peak Calendar-month 5 M
    "FDM": "K2",  # Miso Indiana Hub Day-ahead Off-peak Calendar-month
    "KA": "K3",  # Nyiso Zone A Peak Lbmp Futures (index not named; settles as K3 here)
    "KB": "K4",  # Nyiso Zone A Off-peak Lbmp Futures
    "KG": "T3",  # Nyiso Zone G Peak Lbmp Futures
    "KH": "D2",  # Nyiso Zone G Off-peak Lbmp Futures
    "KJ": "D3",  # Nyiso Zone J Peak Lbmp Futures
    "KK": "D4",  # Nyiso Zone J Off-peak Lbmp Futures
}


@dataclass(frozen=True)
class ParseStats:
    """What a parse kept and skipped.

    Attributes
    ----------
    rows : int
        Data rows in the file.
    mapped : int
        Rows written (mapped symbol with a settlement).
    no_settle : int
        Rows of mapped symbols without a settlement (empty ``SETTLE``), dropped.
    skipped : int
        Rows of symbols not in :data:`SYMBOLS`, dropped.
    unknown_symbols : tuple of str
        Those symbols, sorted.
    per_symbol : dict
        Rows written per mapped symbol.
    """

    rows: int
    mapped: int
    no_settle: int
    skipped: int
    unknown_symbols: tuple[str, ...]
    per_symbol: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """Return the one-line log message of the parse."""
        return (
            f"cme: {self.rows} rows: {self.mapped} mapped ({len(self.per_symbol)} symbols), "
            f"{self.no_settle} without settlement, {self.skipped} skipped "
            f"({len(self.unknown_symbols)} unmapped symbols)"
        )


def header(body: bytes) -> list[str]:
    """Return the column names of a settlement CSV (the first line), refusing non-CSV bodies.

    Raises
    ------
    ParseError
        On an empty body or an HTML/XML page (error, login or maintenance page).
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page (or XML) instead of the settlement CSV: an error or login page?")
    first = body.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip("\r")
    return [name.strip() for name in next(csv.reader([first]))]


def read_table(body: bytes) -> pa.Table:
    """Return the :data:`REQUIRED` columns of a settlement CSV as strings (``""`` where empty).

    Raises
    ------
    ParseError
        On a body that is not the settlement CSV, a changed header (naming the missing columns and the
        ones found), a malformed CSV, or a file with a header only.
    """
    names = header(body)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ParseError(f"changed header: missing column(s) {missing}; found {names}")
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(REQUIRED),
                column_types=dict.fromkeys(REQUIRED, pa.string()),
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        raise ParseError(f"malformed settlement CSV: {exc}") from None
    if table.num_rows == 0:
        raise ParseError("the settlement file holds a header but no contracts")
    return table


def _integers(column: pa.ChunkedArray, what: str, low: int, high: int) -> np.ndarray:
    """Return a column of small integers (``"02"``) as an int64 array, checking the range."""
    try:
        values: np.ndarray = np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ParseError(f"non-integer {what}: {exc}") from None
    if len(values) and (values.min() < low or values.max() > high):
        bad = values[(values < low) | (values > high)][0]
        raise ParseError(f"{what} {bad} outside {low}..{high}")
    return values


def _trade_dates(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Return ``TRADEDATE`` (``MM/DD/YYYY``) as dates."""
    try:
        stamps = pc.strptime(column, format="%m/%d/%Y", unit="s", error_is_null=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ParseError(f"unreadable TRADEDATE (expected MM/DD/YYYY): {exc}") from None
    return pc.cast(stamps, pa.date32())


def _published(trade_dates: pd.Series) -> pd.DatetimeIndex:
    """Return the settlement instant of each trade date: 14:30 America/New_York, in UTC."""
    local = pd.DatetimeIndex(pd.to_datetime(trade_dates)) + pd.Timedelta(
        hours=SETTLEMENT_TIME.hour, minutes=SETTLEMENT_TIME.minute
    )
    return local_to_utc(local, TZ)


def parse_with_stats(body: bytes) -> tuple[pd.DataFrame, ParseStats]:
    """Map a NYMEX settlement CSV to ``forward_quotes`` rows, with counts of what was kept and skipped.

    Parameters
    ----------
    body : bytes
        The file as CME serves it.

    Returns
    -------
    frame : pd.DataFrame
        :data:`QUOTE_COLUMNS`, sorted by market, product, profile, trade date and contract; dates are
        ``datetime.date`` objects, ``published_at_utc`` is ``datetime64[ms, UTC]``.
    stats : ParseStats
        Rows mapped, skipped (unknown symbols) and without settlement.

    Raises
    ------
    ParseError
        On an empty body, an HTML page, a changed header, a non-numeric settlement or an impossible
        contract month / day of a mapped symbol; the message says which.
    """
    raw = read_table(body)
    n_rows = raw.num_rows
    symbols = pc.utf8_trim_whitespace(raw[SYMBOL])
    known = pa.array(list(SYMBOLS), pa.string())
    is_known = pc.is_in(symbols, value_set=known)
    unknown = pc.unique(pc.filter(symbols, pc.invert(is_known))).to_pylist()
    table = raw.filter(is_known).set_column(0, SYMBOL, pc.filter(symbols, is_known))
    has_settle = pc.not_equal(pc.utf8_trim_whitespace(table[SETTLE]), "")
    no_settle = table.num_rows - pc.sum(has_settle).as_py() if table.num_rows else 0
    table = table.filter(has_settle)
    try:
        settle = pc.cast(pc.utf8_trim_whitespace(table[SETTLE]), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ParseError(f"non-numeric SETTLE: {exc}") from None
    if table.num_rows and not pc.all(pc.is_finite(settle)).as_py():
        raise ParseError("non-finite SETTLE (nan or inf)")

    year = _integers(table[YEAR], YEAR, 1900, 2200)
    month = _integers(table[MONTH], MONTH, 1, 12)
    day_text = pc.utf8_trim_whitespace(table[DAY])
    daily = pc.not_equal(day_text, "").to_numpy(zero_copy_only=False)
    day = _integers(pc.if_else(pc.equal(day_text, ""), "1", day_text), DAY, 1, 31)
    month_start = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    next_month = (month_start + 1).astype("datetime64[D]")
    start = month_start.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    if (start >= next_month).any():
        first = int(np.argmax(start >= next_month))
        raise ParseError(
            f"{table[SYMBOL][first]}: contract day {day[first]} does not exist in "
            f"{year[first]}-{month[first]:02d}"
        )
    end = np.where(daily, start + np.timedelta64(1, "D"), next_month)
    start_ts = pa.array(start.astype("datetime64[s]"))
    contract = pc.if_else(
        pa.array(daily),
        pc.binary_join_element_wise("D-", pc.strftime(start_ts, format="%Y-%m-%d"), ""),
        pc.binary_join_element_wise("M-", pc.strftime(start_ts, format="%Y-%m"), ""),
    )

    trade_date = _trade_dates(table[TRADEDATE])
    index = pc.index_in(table[SYMBOL], value_set=known)
    specs = list(SYMBOLS.values())

    def column(values: list[str]) -> pa.Array:
        return pc.take(pa.array(values, pa.string()), index)

    cols: dict[str, object] = {
        "trade_date": trade_date,
        "product": column([p.product for p in specs]),
        "contract": contract,
        "delivery_start": pa.array(start, pa.date32()),
        "delivery_end": pa.array(end.astype("datetime64[D]"), pa.date32()),
        "profile": column([p.profile for p in specs]),
        "settle": settle,
        "bid": pa.nulls(table.num_rows, pa.float64()),
        "ask": pa.nulls(table.num_rows, pa.float64()),
        "currency": column([p.currency for p in specs]),
        "unit": column([p.unit for p in specs]),
        "published_at_utc": per_distinct(trade_date, _published, UTC_MS),
        "market": MARKET,
        "source": SOURCE,
    }
    frame = to_frame(cols, QUOTE_COLUMNS, ["product", "profile", "trade_date", "contract"])
    per_symbol = pc.value_counts(table[SYMBOL]).to_pylist()
    stats = ParseStats(
        rows=n_rows,
        mapped=len(frame),
        no_settle=int(no_settle),
        skipped=n_rows - table.num_rows - int(no_settle),
        unknown_symbols=tuple(sorted(unknown)),
        per_symbol={d["values"]: d["counts"] for d in sorted(per_symbol, key=lambda d: d["values"])},
    )
    return frame, stats


def parse(body: bytes) -> pd.DataFrame:
    """Map a NYMEX settlement CSV to ``forward_quotes`` rows (see :func:`parse_with_stats`)."""
    return parse_with_stats(body)[0]


def trade_dates(body: bytes) -> list[dt.date]:
    """Return the distinct trade dates of a settlement CSV, sorted.

    Raises
    ------
    ParseError
        As :func:`read_table`, or on an unreadable ``TRADEDATE``.
    """
    return sorted(set(_trade_dates(read_table(body)[TRADEDATE]).to_pylist()))
