"""ISO-NE connector: ISO Express web services, one request per local day and location."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pandas as pd
from marketintel.connectors.base import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.connectors.isone.mapping import FEEDS, parse

from marketintel.timeutils import local_days

BASE = "https://webservices.iso-ne.com/api/v1.1"
TZ = "America/New_York"
#: ISO Express asks for moderate use; one request a second.
RATE_LIMIT_S = 1.0
USER_ENV, PASSWORD_ENV = "MI_ISONE_USER", "MI_ISONE_PASSWORD"  # ISO Express account (HTTP basic auth)

DATASETS = tuple(
    Dataset(name, "fundamentals", f"ISO-NE {feed.endpoint}", "1h", TZ, verified=True)
    for name, feed in FEEDS.items()
)
#: zone load feeds are asked per location; 4001..4008 are the eight load zones, 32 is the NEPOOL area
ZONE_FEEDS = {"load_day_ahead_cleared_hourly", "load_real_time_hourly"}
LOCATIONS = ("4001", "4002", "4003", "4004", "4005", "4006", "4007", "4008")


class ISONEIngestor(Ingestor):
    """ISO New England web services (JSON)."""

    source = "isone"

    def discover(self) -> Catalog:
        """Return ISO-NE's datasets."""
        return Catalog("isone", DATASETS, RATE_LIMIT_S)

    def urls(self, dataset: str, day: pd.Timestamp) -> list[str]:
        """Return the service URLs of one local day of ``dataset``."""
        endpoint = FEEDS[dataset].endpoint
        if dataset in ZONE_FEEDS:
            return [f"{BASE}/{endpoint}/day/{day:%Y%m%d}/location/{loc}" for loc in LOCATIONS]
        suffix = "/all" if dataset == "load_forecast_by_region_hourly" else ""
        prefix = "all/" if dataset == "load_forecast_hourly" else ""
        return [f"{BASE}/{endpoint}/{prefix}day/{day:%Y%m%d}{suffix}"]  # JSON through the Accept header

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the answers of each local day; the day's last answer closes its window."""
        if self.http is None:
            raise ParseError("isone: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        auth = os.environ.get(USER_ENV, ""), os.environ.get(PASSWORD_ENV, "")
        headers = {"Accept": "application/json"}
        if auth[0]:
            import base64

            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        days = local_days(request.start_utc, request.end_utc, TZ)
        for day in days:
            urls = self.urls(request.dataset, day)
            for k, url in enumerate(urls):
                resp = self.http.get("isone", url, min_interval_s=RATE_LIMIT_S, headers=headers)
                last = k == len(urls) - 1
                yield RawPayload(
                    "isone", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                    resp.content_type,
                    day.tz_convert("UTC") if last else None,
                    (day + pd.DateOffset(days=1)).tz_convert("UTC") if last else None,
                )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one answer to canonical rows."""
        self.discover().dataset(raw.dataset)
        return parse(raw.body, raw.dataset)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the service name that ISO-NE's answers and file names carry."""
        for name, feed in FEEDS.items():
            wrapper, record = feed.containers
            if (
                filename.startswith(feed.endpoint)
                or f'"{wrapper}"'.encode() in body[:200]
                or (f'"{record}"'.encode() in body[:200])
            ):
                return name
        return super().detect_dataset(filename, body)
