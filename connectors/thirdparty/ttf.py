"""Yahoo Finance ``TTF=F``: the Dutch TTF natural gas front-month future, as Yahoo continues it.

What it is
    Yahoo's ``TTF=F`` is a *continuation* of the ICE Endex Dutch TTF front-month future: each day's bar is
    the then-nearest contract, rolling at expiry. It is not an exchange settlement (ICE Endex publishes
    those, behind a licence) and not a spot (day-ahead) price: a third party's republication, so every row
    carries ``fidelity = "third_party"`` and the market ``YAHOO_TTF_FRONT_MONTH_DAILY``, never an ICE name.

Layout (the recording is a saved export, ``yahoo__Dutch_TTF_Natural_Gas_Calendar_(TTF=F).xlsx``)
    One sheet, header ``Date, Open, High, Low, Close_, AdjClose__, Volume``, all cells text, newest first:
    ``Jul 07, 2023 | 33.300 | 33.585 | 32.705 | 33.478 | 33.478 | 1,410``; prices [EUR/MWh]. The header
    is found by content (the row whose first cell is ``Date``); the close column is the one whose name
    starts with ``Close`` (``Close_`` / ``Close*``), the first of them.

Rows
    ``price`` = Close [EUR/MWh], location ``TTF`` (``hub``). Open, high, low, adjusted close (equal to
    close for a future) and volume are not stored: a continuation's intraday range mixes nothing useful
    into a daily price series, and no table has a place for a bar. The interval is the trade day,
    ``[00:00, 24:00)`` Europe/Amsterdam (ICE Endex trades TTF on Amsterdam time, 08:00-18:00 CET).
    ``published_at_utc`` = the end of that trade day: the close is known after 18:00 local.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.thirdparty.common import fetch_once, third_party_prices, utc_ms
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_to_utc

TZ = "Europe/Amsterdam"
SOURCE = "ttf"
MARKET = "YAHOO_TTF_FRONT_MONTH_DAILY"
CHART_URL = "https://query1.finance.yahoo.com/v8/finance/chart/TTF=F"

DATASETS = (
    Dataset(
        "front_month_daily",
        "prices",
        "Yahoo Finance TTF=F: continuation of the ICE Endex Dutch TTF front-month future (daily close,"
        " EUR/MWh); not a settlement, not a spot price",
        "1D",
        TZ,
        verified=True,
        max_window="3650D",
        lag="6h",
        publication="30 19 * * 1-5",
    ),
)


def parse_yahoo_export(body: bytes) -> pd.DataFrame:
    """Map Yahoo's saved daily history of ``TTF=F`` (xlsx, or the same columns as CSV) to ``prices`` rows."""
    if not body:
        raise ParseError("empty body")
    try:
        if body.startswith(b"PK"):
            grid = pd.read_excel(io.BytesIO(body), engine="calamine", header=None, dtype=str)
        else:
            grid = pd.read_csv(io.BytesIO(body), header=None, dtype=str)
    except Exception as exc:  # calamine and the CSV reader raise their own error types
        raise ParseError(f"unreadable file: {exc}") from None
    first = grid.iloc[:, 0].astype(str).str.strip()
    at = first[first == "Date"].index
    if len(at) == 0:
        raise ParseError("no header row starting 'Date' (Date, Open, High, Low, Close, ...)")
    names = [str(c).strip() for c in grid.iloc[at[0]]]
    close = next((k for k, n in enumerate(names) if n.lower().startswith("close")), None)
    if close is None:
        raise ParseError(f"no Close column; found {names}")
    rows = grid.iloc[at[0] + 1 :, [0, close]].dropna(how="all")
    if rows.empty:
        raise ParseError("the file has a header but no rows")
    try:
        days = pd.DatetimeIndex(pd.to_datetime(rows.iloc[:, 0].str.strip(), format="%b %d, %Y"))
    except ValueError as exc:
        raise ParseError(f"unreadable Date (expected 'Jul 07, 2023'): {exc}") from None
    try:
        price = pd.to_numeric(rows.iloc[:, 1].str.replace(",", "").str.strip(), errors="raise").astype(float)
    except ValueError as exc:
        raise ParseError(f"non-numeric Close: {exc}") from None
    if price.isna().any():
        raise ParseError(f"{int(price.isna().sum())} day(s) without a Close")
    start = utc_ms(local_to_utc(days, TZ))
    end = utc_ms(local_to_utc(days + pd.Timedelta(days=1), TZ))
    return third_party_prices(
        start, end, market=MARKET, location="TTF", location_type="hub", price=price.to_numpy(),
        currency="EUR", unit="EUR/MWh", source=SOURCE, published=end,
    )  # fmt: skip


class TTFIngestor(Ingestor):
    """Yahoo Finance's TTF=F front-month continuation (third party)."""

    source = "ttf"
    commodity = "gas"

    def discover(self) -> Catalog:
        """Return the dataset."""
        return Catalog("ttf", DATASETS, 5.0)

    def request(
        self, dataset: str, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[str, dict[str, str] | None]:
        """Return Yahoo's chart query for ``[start, end)`` (``period1``/``period2`` in epoch seconds)."""
        self.discover().dataset(dataset)
        return CHART_URL, {
            "period1": str(int(start.timestamp())),
            "period2": str(int(end.timestamp())),
            "interval": "1d",
        }

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Fetch the window's daily bars once (the parser reads the saved export's columns)."""
        url, params = self.request(request.dataset, request.start_utc, request.end_utc)
        yield from fetch_once(self, request, url, params)

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows."""
        self.discover().dataset(raw.dataset)
        return parse_yahoo_export(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell Yahoo's TTF=F export by its name."""
        if "ttf=f" in filename.lower():
            return "front_month_daily"
        return super().detect_dataset(filename, body)
