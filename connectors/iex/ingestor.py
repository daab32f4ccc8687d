"""IEX connector: Indian Energy Exchange day-ahead market (DAM) area prices, 15-minute time blocks.

**NOT verified, and parse-only.** IEX publishes its market data on web pages (``iexindia.com``, "Market
Data" > "Day-Ahead Market": market snapshot and area prices) and documents **no public API and no file
format**. What we could find with the search tool:

- the JSON layout behind IEX's "trade data" view, known only from a sample answer that a data vendor
  (OpenDataDSL, documentation repository, ``IEXGetTradeData_DAMPriceVolume_18Oct.json``) publishes for
  its IEX DAM feed: ``{"Delivery_Date_Details": [{"DeliveryDate": "18/10/2022", "Token_Wise": [{"Token_NO":
  1, "All_India_DAM_GDAM_RTM": {"Clearing_Price": 3739.42, "Cleared_Volume": ..., "Buy_Volume": ...,
  "Sell_Volume": ...}, "Area_Details": [{"Area_code": "A1", "Area_Codes": {"Area_Price": 3739.42,
  "Buy_Volume": ..., "Sell_Volume": ...}}, ...]}, ...]}]}`` - 96 tokens (15-minute time blocks) a day,
  13 bid areas ``A1 A2 E1 E2 N1 N2 N3 S1 S2 S3 W1 W2 W3``, prices in Rs/MWh;
- the older HTML area-price page (``/marketdata/areaprice.aspx``, read by a public scraper: time blocks
  ``HH:MM - HH:MM`` from 00:00 IST, the same 13 areas plus the MCP in Rs/MWh), retired with IEX's site
  redesign.

The URL that serves the JSON is **not documented** anywhere we could read, so this connector cannot fetch:
:meth:`IEXIngestor.pull_or_subscribe` and :meth:`IEXIngestor.request` raise, and saved answers are mapped
with ``mi connectors parse iex <file>``. The emerging-markets catalogue (``connectors/emerging.py``)
says so.

Conventions: ``Token_NO`` ``k`` (1..96) is the time block ``[00:00 + 15 (k-1) min, 00:00 + 15 k min)`` of
``DeliveryDate`` in India Standard Time (``Asia/Kolkata``, UTC+05:30 all year: India has no daylight time,
so every day has exactly 96 blocks - another count is a ParseError). Rows: market ``IEX_DAM_15MIN``,
location the bid area (``location_type = "bid_area"``) or ``INDIA`` for the all-India market clearing price
(``location_type = "system"``), ``INR``, ``INR/MWh``. Volumes (MW) are not stored. ``published_at_utc`` = the
start of the delivery day (00:00 IST): the DAM auction clears the day before delivery, so this is never
earlier than the real publication (its exact time is not documented to us).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd

from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_to_utc

SOURCE = "iex"
TZ = "Asia/Kolkata"
MARKET = "IEX_DAM_15MIN"
DATASET = "dam_area_prices_15min"
AREAS = ("A1", "A2", "E1", "E2", "N1", "N2", "N3", "S1", "S2", "S3", "W1", "W2", "W3")
SYSTEM = "INDIA"
BLOCKS = 96
#: the public page the figures are shown on (a web page, not the JSON's endpoint)
PUBLIC_PAGE = "https://www.iexindia.com/market-data/day-ahead-market/market-snapshot"
RATE_LIMIT_S = 5.0
NO_ENDPOINT = (
    "iex: IEX documents no public endpoint for its market data (only web pages), so this connector does "
    f"not fetch; map saved answers with `mi connectors parse iex <file>` (public page: {PUBLIC_PAGE})"
)

DATASETS = (
    Dataset(
        DATASET,
        "prices",
        "Day-Ahead Market area prices and all-India MCP by 15-minute time block [INR/MWh]; parse-only, the"
        " JSON layout is known from a vendor's sample (documented format, no recording)",
        "1D",
        TZ,
        verified=False,
        max_window="1D",
        lag="-1D",
    ),
)


def _price(value: object, what: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return float("nan")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParseError(f"non-numeric {what}: {value!r}") from None


def parse_dam(body: bytes) -> pd.DataFrame:
    """Map a DAM trade-data answer (``Delivery_Date_Details``) to ``prices`` rows.

    Parameters
    ----------
    body : bytes
        The JSON answer.

    Returns
    -------
    pd.DataFrame
        Per delivery day, 96 blocks x (13 areas + ``INDIA``) [INR/MWh]; a null price gives no row.

    Raises
    ------
    ParseError
        On anything outside the layout, a day without exactly 96 distinct tokens, or an unknown area.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page instead of JSON")
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    days = doc.get("Delivery_Date_Details") if isinstance(doc, dict) else None
    if not isinstance(days, list) or not days:
        keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ParseError(f"no Delivery_Date_Details list in the answer (found {keys})")
    rows: list[tuple[pd.Timestamp, int, str, str, float]] = []
    for day in days:
        if not isinstance(day, dict) or "DeliveryDate" not in day or "Token_Wise" not in day:
            raise ParseError("a Delivery_Date_Details entry without DeliveryDate or Token_Wise")
        try:
            date = pd.to_datetime(str(day["DeliveryDate"]), format="%d/%m/%Y")
        except ValueError as exc:
            raise ParseError(f"unreadable DeliveryDate: {exc}") from None
        tokens = day["Token_Wise"]
        if not isinstance(tokens, list):
            raise ParseError(f"{date:%Y-%m-%d}: Token_Wise is not a list")
        numbers = [t.get("Token_NO") if isinstance(t, dict) else None for t in tokens]
        if sorted(n for n in numbers if isinstance(n, int)) != list(range(1, BLOCKS + 1)):
            raise ParseError(
                f"{date:%Y-%m-%d}: expected tokens 1..{BLOCKS} once each, got {len(tokens)} entries"
            )
        for tok in tokens:
            k = int(tok["Token_NO"])
            india = tok.get("All_India_DAM_GDAM_RTM")
            if not isinstance(india, dict) or "Clearing_Price" not in india:
                raise ParseError(f"{date:%Y-%m-%d} token {k}: no All_India_DAM_GDAM_RTM.Clearing_Price")
            rows.append((date, k, SYSTEM, "system", _price(india["Clearing_Price"], "Clearing_Price")))
            areas = tok.get("Area_Details")
            if not isinstance(areas, list):
                raise ParseError(f"{date:%Y-%m-%d} token {k}: no Area_Details list")
            for area in areas:
                code = str(area.get("Area_code", "")).strip() if isinstance(area, dict) else ""
                if code not in AREAS:
                    raise ParseError(f"{date:%Y-%m-%d} token {k}: unknown area {code!r}; known {AREAS}")
                price = (area.get("Area_Codes") or {}).get("Area_Price")
                rows.append((date, k, code, "bid_area", _price(price, f"{code} Area_Price")))
    raw = pd.DataFrame(rows, columns=["date", "token", "location", "location_type", "price"])
    day_start = local_to_utc(pd.DatetimeIndex(raw["date"]), TZ)  # India: no DST, never ambiguous
    start = pd.Series(day_start + pd.to_timedelta((raw["token"] - 1) * 15, unit="min")).astype(
        "datetime64[ms, UTC]"
    )
    keep = raw["price"].notna().to_numpy()
    out = pd.DataFrame(
        {
            "interval_start_utc": start[keep].to_numpy(),
            "interval_end_utc": (start[keep] + pd.Timedelta(minutes=15)).to_numpy(),
            "market": MARKET,
            "location": raw["location"][keep].to_numpy(),
            "location_type": raw["location_type"][keep].to_numpy(),
            "price": raw["price"][keep].to_numpy(),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": "INR",
            "unit": "INR/MWh",
            "revision": "",
            "source": SOURCE,
            "published_at_utc": pd.Series(day_start[keep]).astype("datetime64[ms, UTC]").to_numpy(),
        }
    )
    if out.empty:
        raise ParseError("no time block has a price")
    if out.duplicated(["location", "interval_start_utc"]).any():
        raise ParseError("the same area and time block are listed twice")
    return out.sort_values(
        ["market", "location", "interval_start_utc", "published_at_utc"], ignore_index=True
    )


class IEXIngestor(Ingestor):
    """Indian Energy Exchange, day-ahead market: parse-only (no documented endpoint), not verified."""

    source = SOURCE

    def discover(self) -> Catalog:
        """Return IEX's datasets."""
        return Catalog(SOURCE, DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str, day: pd.Timestamp | None = None) -> tuple[str, dict[str, str] | None]:
        """No documented request exists: raise, naming the public page instead.

        Raises
        ------
        NotImplementedError
            Always (see the module docstring).
        """
        self.discover().dataset(dataset)
        raise NotImplementedError(NO_ENDPOINT)

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Refuse: there is no documented endpoint to fetch from (ParseError with the reason)."""
        self.discover().dataset(request.dataset)
        raise ParseError(NO_ENDPOINT)

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one saved answer to ``prices`` rows."""
        self.discover().dataset(raw.dataset)
        return parse_dam(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """DAM trade-data answers start with ``Delivery_Date_Details``."""
        if b'"Delivery_Date_Details"' in body[:200]:
            return DATASET
        return super().detect_dataset(filename, body)
