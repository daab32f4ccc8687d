"""IESO connector: one public XML report per delivery day."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from marketintel.connectors.base import Catalog, Dataset, Ingestor, PullRequest, RawPayload
from marketintel.connectors.ieso.mapping import EST, parse_da_zonal_price, parse_vg_forecast

BASE = "https://reports-public.ieso.ca/public"
#: IESO's public report site has no stated limit; one request a second.
RATE_LIMIT_S = 1.0
REPORT_IDS = {
    "lmp_day_ahead_zonal_hourly": "DAHourlyOntarioZonalPrice",
    "vg_forecast_hourly": "VGForecastSummary",
}
DATASETS = (
    Dataset(
        "lmp_day_ahead_zonal_hourly", "prices", "Day-ahead hourly Ontario zonal energy price", "1D", EST, True
    ),
    Dataset(
        "vg_forecast_hourly",
        "fundamentals",
        "Variable generation (wind, solar) forecast summary",
        "1D",
        EST,
        True,
    ),
)


class IESOIngestor(Ingestor):
    """Ontario IESO public reports."""

    source = "ieso"

    def discover(self) -> Catalog:
        """Return IESO's datasets."""
        return Catalog("ieso", DATASETS, RATE_LIMIT_S)

    def report_url(self, dataset: str, day: pd.Timestamp) -> str:
        """Return the URL of one day's report."""
        report = REPORT_IDS[dataset]
        return f"{BASE}/{report}/PUB_{report}_{day:%Y%m%d}.xml"

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one report per (EST) delivery day."""
        self.discover().dataset(request.dataset)
        yield from self.fetch_daily(
            request, EST, lambda day: (self.report_url(request.dataset, day), None), RATE_LIMIT_S
        )

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one report to canonical rows."""
        if raw.dataset == "lmp_day_ahead_zonal_hourly":
            return parse_da_zonal_price(raw.body)
        if raw.dataset == "vg_forecast_hourly":
            return parse_vg_forecast(raw.body)
        self.discover().dataset(raw.dataset)
        raise AssertionError("unreachable")

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the report's docID."""
        head = body[:1000]
        for dataset, report in REPORT_IDS.items():
            if f'docID="{report}"'.encode() in head:
                return dataset
        return super().detect_dataset(filename, body)
