"""EMC Singapore connector: USEP, LCP, demand and curtailed load per half-hour period.

The price information page (``https://www.emcsg.com/marketdata/priceinformation``) offers a CSV download of
the current day's periods (``?downloadRealtime=true``) and a monthly export on the same page (the
recording, ``03_USEP_Jan-2023.csv``). The real-time download is fetched as a snapshot (no history; each
fetch covers the part of the window that has passed). Its layout is taken from third-party readers of it
(``Date``, ``Period``, ``USEP($/MWh)``, ..., matched with spaces ignored); only the monthly export is
recorded. A third party reports (2026) that EMC now puts the page behind a single sign-on, in which case the
answer is an HTML login form and is quarantined with that reason. Two datasets read the same file
(prices, fundamentals); conventions and evidence are in :mod:`marketintel.connectors.emcsg.mapping`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.emcsg.mapping import TZ, parse_demand, parse_prices
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

PRICE_INFO_URL = "https://www.emcsg.com/marketdata/priceinformation"
#: EMC states no request limit; the page changes every half hour, so one request a minute is plenty
RATE_LIMIT_S = 60.0
PUBLICATION = "*/30 * * * *"  # every half hour, Asia/Singapore

DATASETS = (
    Dataset(
        "usep_30min",
        "prices",
        "Uniform Singapore Energy Price (USEP) and Load Curtailment Price (LCP) per half-hour period"
        " [SGD/MWh]",
        "30min",
        TZ,
        verified=True,
        max_window="1D",
        lag="0min",
        publication=PUBLICATION,
    ),
    Dataset(
        "demand_30min",
        "fundamentals",
        "System demand and total curtailed load (TCL) per half-hour period [MW], from the same download",
        "30min",
        TZ,
        verified=True,
        max_window="1D",
        lag="0min",
        publication=PUBLICATION,
    ),
)


class EMCSGIngestor(Ingestor):
    """Energy Market Company, Singapore: the NEMS price information download."""

    source = "emcsg"

    def discover(self) -> Catalog:
        """Return EMC's datasets."""
        return Catalog("emcsg", DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str) -> tuple[str, dict[str, str]]:
        """Return the URL and query of ``dataset``: the price information page's real-time CSV download.

        Both datasets read it; it holds the current Singapore day's periods, so there is no day argument.
        """
        self.discover().dataset(dataset)
        return PRICE_INFO_URL, {"downloadRealtime": "true"}

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the current download once.

        It holds the current Singapore day only, so its window is the part of the request within today that
        has passed (none when the request lies before today: history is not served by this download).
        """
        if self.http is None:
            raise ParseError("emcsg: no HTTP client given (HttpClient live, record or replay)")
        url, params = self.request(request.dataset)
        resp = self.http.get("emcsg", url, params, min_interval_s=RATE_LIMIT_S)
        now = pd.Timestamp.now(tz="UTC")
        start = max(request.start_utc, now.tz_convert(TZ).normalize().tz_convert("UTC"))
        end = min(request.end_utc, now.floor("30min"))
        covered = end > start
        yield RawPayload(
            "emcsg", request.dataset, url, resp.body, now, resp.status, resp.content_type,
            start if covered else None, end if covered else None, meta=params,
        )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one download to prices or fundamentals, by the payload's dataset."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "usep_30min":
            return parse_prices(raw.body)
        return parse_demand(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell a price information CSV by its header (a USEP column and PERIOD); prices by default.

        The same file also gives ``demand_30min`` (pass ``--dataset``).
        """
        header = "".join(body[:400].decode("utf-8", errors="ignore").split("\n", 1)[0].split()).upper()
        if "USEP($/MWH)" in header and "PERIOD" in header:
            return "usep_30min"
        return super().detect_dataset(filename, body)
