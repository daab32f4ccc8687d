"""JEPX spot summary CSV -> canonical rows. Pure: bytes in, frame out.

The file
--------
JEPX (Japan Electric Power Exchange, ``www.jepx.jp``) publishes the results of its day-ahead spot market
(スポット市場, "一日前市場") as one CSV per fiscal year (April to March):
``spot_summary_<FY>.csv``, encoded in Shift-JIS (read as ``cp932``, Microsoft's superset that JEPX's
Windows tooling writes), one row per delivery day (受渡日, ``YYYY/MM/DD``) and 30-minute slot
(時刻コード, 1..48). The file grows through the year: each day's auction adds that delivery day's
48 rows.

The columns this parser reads, by their exact header (the recorded FY2024 file, decoded)::

    受渡日, 時刻コード,
    売り入札量(kWh), 買い入札量(kWh), 約定総量(kWh),              sell bids, buy bids, contract volume
    システムプライス(円/kWh),                                     system price
    エリアプライス北海道(円/kWh) ... エリアプライス九州(円/kWh),     nine area prices
    売りブロック入札総量(kWh), 売りブロック約定総量(kWh),           block sell bids / block sell contracted
    買いブロック入札総量(kWh), 買いブロック約定総量(kWh)            block buy bids / block buy contracted

Later fiscal years add columns (spot/intraday average price, the alpha upper/lower values, avoidable
cost and FIP reference prices by area); those are not mapped and are ignored by name, so their presence
does not break the file. A missing required column raises :class:`ParseError` naming the missing and the
found columns.

Time
----
Slot ``k`` of delivery day ``D`` is the half hour ``[D + 30 min * (k - 1), D + 30 min * k)`` in Japan
Standard Time (``Asia/Tokyo``, UTC+09:00; Japan has no daylight saving time, so every day has 48 slots
and this parser rejects a day with a missing, repeated or out-of-range slot). Slot 1 is 00:00-00:30 JST =
15:00-15:30 UTC of the previous calendar day.

Publication (``published_at_utc``)
----------------------------------
The spot auction for delivery day ``D`` takes bids until 10:00 JST on ``D - 1``; JEPX publishes the
results shortly after (about 10:05 JST). Every row of delivery day ``D`` is published at
``D - 1 10:05 JST`` (``D 00:00 JST`` minus 13 h 55 min, i.e. ``D - 1 01:05 UTC``). This follows JEPX's
trading guide (gate closure 10:00 the day before delivery) and the usual result time; the ``search`` corpora
held no JEPX page stating the minute, so the 5 minutes are an assumption (the coordinator's brief gives
~10:05). The yearly file itself carries no issue time.

Mapping
-------
Prices (``prices``): market ``JEPX_SPOT_30MIN``; location ``SYSTEM`` (``location_type = "system"``, the
unconstrained national price) and ``HOKKAIDO``, ``TOHOKU``, ``TOKYO``, ``CHUBU``, ``HOKURIKU``,
``KANSAI``, ``CHUGOKU``, ``SHIKOKU``, ``KYUSHU`` (``location_type = "area"``, after market splitting);
currency ``JPY``, unit ``JPY/kWh`` as published (円/kWh).

Volumes (``fundamentals``): market ``JEPX``, area ``SYSTEM``, variables ``sell_bid_volume``,
``buy_bid_volume``, ``contract_volume``, ``sell_block_bid_volume``, ``sell_block_contract_volume``,
``buy_block_bid_volume``, ``buy_block_contract_volume``: energy over the 30-minute slot, published in kWh
and stored in ``MWh`` (divided by 1,000, exact: the platform's fundamentals are MW or MWh, and a slot's
sell bids, ~2e7 kWh, would otherwise exceed the contract's plausibility bound). Twice the MWh is the
slot's average MW.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "Asia/Tokyo"
SOURCE = "jepx"
PRICE_MARKET = "JEPX_SPOT_30MIN"
VOLUME_MARKET = "JEPX"
SLOTS_PER_DAY = 48
KWH_PER_MWH = 1000.0
#: delivery day D is published at D - 1 10:05 JST: D 00:00 JST minus this
PUBLISHED_BEFORE_DELIVERY = pd.Timedelta(hours=13, minutes=55)

DATE_COL = "受渡日"
SLOT_COL = "時刻コード"
#: price column -> (location, location_type)
PRICE_COLUMNS = {
    "システムプライス(円/kWh)": ("SYSTEM", "system"),
    "エリアプライス北海道(円/kWh)": ("HOKKAIDO", "area"),
    "エリアプライス東北(円/kWh)": ("TOHOKU", "area"),
    "エリアプライス東京(円/kWh)": ("TOKYO", "area"),
    "エリアプライス中部(円/kWh)": ("CHUBU", "area"),
    "エリアプライス北陸(円/kWh)": ("HOKURIKU", "area"),
    "エリアプライス関西(円/kWh)": ("KANSAI", "area"),
    "エリアプライス中国(円/kWh)": ("CHUGOKU", "area"),
    "エリアプライス四国(円/kWh)": ("SHIKOKU", "area"),
    "エリアプライス九州(円/kWh)": ("KYUSHU", "area"),
}
#: volume column -> variable [kWh per slot]
VOLUME_COLUMNS = {
    "売り入札量(kWh)": "sell_bid_volume",
    "買い入札量(kWh)": "buy_bid_volume",
    "約定総量(kWh)": "contract_volume",
    "売りブロック入札総量(kWh)": "sell_block_bid_volume",
    "売りブロック約定総量(kWh)": "sell_block_contract_volume",
    "買いブロック入札総量(kWh)": "buy_block_bid_volume",
    "買いブロック約定総量(kWh)": "buy_block_contract_volume",
}
#: the four block columns appeared in later files; older ones may lack them
OPTIONAL_VOLUME_COLUMNS = tuple(c for c in VOLUME_COLUMNS if "ブロック" in c)
REQUIRED_COLUMNS = (DATE_COL, SLOT_COL, *PRICE_COLUMNS, *(c for c in VOLUME_COLUMNS if "ブロック" not in c))

_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]


def decode(body: bytes) -> str:
    """Return the CSV text: Shift-JIS (``cp932``), or UTF-8 (with or without BOM) if re-saved that way."""
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of the spot summary CSV (download form error page?)")
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ParseError("neither Shift-JIS (cp932) nor UTF-8: not a JEPX CSV")


def read_summary(body: bytes) -> pd.DataFrame:
    """Return the spot summary as a frame of strings with ``interval_start_utc`` / ``interval_end_utc``.

    Raises
    ------
    ParseError
        On a missing column, an unreadable date, a slot outside 1..48, a repeated slot or a day whose
        slots are not exactly 1..48.
    """
    text = decode(body)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ParseError(f"unreadable CSV: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(raw.columns)}")
    if raw.empty:
        raise ParseError("the spot summary has a header but no rows")
    try:
        day = pd.to_datetime(raw[DATE_COL].str.strip(), format="%Y/%m/%d")
    except ValueError as exc:
        raise ParseError(f"unreadable {DATE_COL} (expected YYYY/MM/DD): {exc}") from None
    slot = pd.to_numeric(raw[SLOT_COL].str.strip(), errors="coerce")
    bad = slot.isna() | ~slot.between(1, SLOTS_PER_DAY) | (slot % 1 != 0)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(
            f"{SLOT_COL} {raw[SLOT_COL].iloc[first]!r} on {raw[DATE_COL].iloc[first]} is not 1..48"
        )
    slot = slot.astype(int)
    key = pd.DataFrame({"day": day, "slot": slot})
    if key.duplicated().any():
        dup = key[key.duplicated()].iloc[0]
        raise ParseError(f"slot {dup['slot']} of {dup['day']:%Y-%m-%d} is listed twice")
    counts = key.groupby("day").size()
    short = counts[counts != SLOTS_PER_DAY]
    if not short.empty:
        raise ParseError(
            f"{len(short)} delivery day(s) without all 48 slots (Japan has no DST): "
            + ", ".join(f"{d:%Y-%m-%d} has {n}" for d, n in short.head(5).items())
        )
    wall = pd.DatetimeIndex(day + pd.to_timedelta((slot - 1) * 30, unit="min"))
    start = local_to_utc(wall, TZ).as_unit("ms")
    raw["interval_start_utc"] = start
    raw["interval_end_utc"] = (start + pd.Timedelta(minutes=30)).as_unit("ms")
    published = local_to_utc(pd.DatetimeIndex(day), TZ) - PUBLISHED_BEFORE_DELIVERY
    raw["published_at_utc"] = published.as_unit("ms")
    return raw


def _numeric(raw: pd.DataFrame, col: str) -> pd.Series:
    values = raw[col].str.strip().str.replace(",", "", regex=False)
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(
            f"non-numeric {col!r} {raw[col].iloc[first]!r} on {raw[DATE_COL].iloc[first]}"
            f" slot {raw[SLOT_COL].iloc[first]} ({int(bad.sum())} such cell(s))"
        )
    return out.astype(float)


def parse_spot_prices(body: bytes) -> pd.DataFrame:
    """Map a spot summary CSV to ``prices`` rows: the system price and the nine area prices [JPY/kWh]."""
    raw = read_summary(body)
    frames = []
    for col, (location, location_type) in PRICE_COLUMNS.items():
        price = _numeric(raw, col)
        frames.append(
            pd.DataFrame(
                {
                    "interval_start_utc": raw["interval_start_utc"].array,
                    "interval_end_utc": raw["interval_end_utc"].array,
                    "market": PRICE_MARKET,
                    "location": location,
                    "location_type": location_type,
                    "price": price.to_numpy(),
                    "energy": np.nan,
                    "congestion": np.nan,
                    "loss": np.nan,
                    "currency": "JPY",
                    "unit": "JPY/kWh",
                    "revision": "",
                    "source": SOURCE,
                    "fidelity": "official",
                    "published_at_utc": raw["published_at_utc"].array,
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(_PRICE_ORDER, ignore_index=True)


def parse_spot_volumes(body: bytes) -> pd.DataFrame:
    """Map a spot summary CSV to ``fundamentals`` rows: bid and contract volumes [MWh per 30-min slot].

    JEPX publishes them in kWh; they are divided by 1,000.
    """
    raw = read_summary(body)
    frames = []
    for col, variable in VOLUME_COLUMNS.items():
        if col not in raw.columns and col in OPTIONAL_VOLUME_COLUMNS:
            continue
        mwh = _numeric(raw, col).to_numpy() / KWH_PER_MWH
        frames.append(
            fundamentals_frame(
                raw["interval_start_utc"].array, raw["interval_end_utc"].array,
                market=VOLUME_MARKET, area="SYSTEM", variable=variable, value=mwh,
                unit="MWh", source=SOURCE, published=raw["published_at_utc"].array,
            )
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True).sort_values(_FUND_ORDER, ignore_index=True)
