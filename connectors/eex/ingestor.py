"""EEX connector: EU ETS primary market auctions (EUA and EUAA), from EEX's yearly auction report workbooks.

One workbook per year, ``public.eex-group.com/eex/eua-auction-report/emission-spot-primary-market-auction-
report-<year>-data.xlsx``, updated after each auction; a pull asks for the workbook of each calendar year
the window touches. Two datasets read the same workbook: ``auction_prices`` (clearing prices, ``prices``)
and ``auction_results`` (volumes, bids, bidders, cover ratio, status, ``fundamentals``). Conventions and
their evidence are in :mod:`marketintel.connectors.eex.mapping`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.eex.mapping import TZ, parse_auction_prices, parse_auction_results
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

REPORT_URL = "https://public.eex-group.com/eex/eua-auction-report/emission-spot-primary-market-auction-report-{year}-data.xlsx"
#: EEX publishes no request limit for its public files; one request every 2 s is polite.
RATE_LIMIT_S = 2.0
_AFTER_AUCTION = "30 11 * * 1-5"  # the results are out by ~11:02 CET (EUA auctions close at 11:00)

DATASETS = (
    Dataset(
        "auction_prices",
        "prices",
        "EU ETS primary auctions on EEX (EUA and EUAA; CAP, Germany, Poland, Northern Ireland): auction"
        " clearing price [EUR/t] per auction day",
        "1D",
        TZ,
        verified=True,
        max_window="366D",
        lag="-12h",
        publication=_AFTER_AUCTION,
    ),
    Dataset(
        "auction_results",
        "fundamentals",
        "EU ETS primary auctions on EEX: auction volume, total bids, bids, bidders, cover ratio, bid price"
        " statistics, revenue and cancellation per auction",
        "1D",
        TZ,
        verified=True,
        max_window="366D",
        lag="-12h",
        publication=_AFTER_AUCTION,
    ),
)


class EEXIngestor(Ingestor):
    """European Energy Exchange: EU ETS primary market auctions."""

    source = "eex"
    commodity = "carbon"

    def discover(self) -> Catalog:
        """Return EEX's datasets."""
        return Catalog("eex", DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str, year: int) -> tuple[str, dict[str, str] | None]:
        """Return the URL of the auction report workbook of ``year`` (both datasets read it)."""
        self.discover().dataset(dataset)
        return REPORT_URL.format(year=int(year)), None

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the workbook of each calendar year (Europe/Berlin) that the window touches."""
        if self.http is None:
            raise ParseError("eex: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        first = request.start_utc.tz_convert(TZ).year
        last = (request.end_utc - pd.Timedelta(milliseconds=1)).tz_convert(TZ).year
        for year in range(first, last + 1):
            url, params = self.request(request.dataset, year)
            resp = self.http.get("eex", url, params, min_interval_s=RATE_LIMIT_S)
            now = pd.Timestamp.now(tz="UTC")
            year_start = pd.Timestamp(f"{year}-01-01", tz=TZ).tz_convert("UTC")
            year_end = pd.Timestamp(f"{year + 1}-01-01", tz=TZ).tz_convert("UTC")
            start = max(request.start_utc, year_start)
            end = min(request.end_utc, year_end, now.floor("D"))
            yield RawPayload(
                "eex", request.dataset, url, resp.body, now, resp.status, resp.content_type,
                start if end > start else None, end if end > start else None,
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one workbook to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "auction_prices":
            return parse_auction_prices(raw.body)
        return parse_auction_results(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Read an auction report workbook (told by its name, or an xlsx body) as ``auction_prices``."""
        name = filename.lower()
        if "primary-market-auction-report" in name or (name.endswith(".xlsx") and body.startswith(b"PK")):
            return "auction_prices"
        return super().detect_dataset(filename, body)
