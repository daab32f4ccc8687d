"""AESO connector: ETS report CSVs (current supply and demand, wind and solar forecasts) and the APIM API.

The ETS reports (``ets.aeso.ca``) are live documents with no history: each request returns the current
version, so a pull fetches the report once and covers the part of the window that has passed. The pool
price and system marginal price come from AESO's API gateway (``apimgw.aeso.ca``; the older
``api.aeso.ca/report/v1.1/...`` Swagger gateway was retired on 2025-03-31), one request per Mountain
prevailing day, with an API key (``API-KEY`` header) read from ``MI_AESO_API_KEY``; those two datasets are
built from AESO's documented format and have no recording yet (``verified=False``). Conventions and their
evidence are in :mod:`marketintel.connectors.aeso.mapping`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.aeso.mapping import TZ, parse_csd, parse_pool_price, parse_smp, parse_vg_forecast
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

ETS = "http://ets.aeso.ca"
CSD_URL = f"{ETS}/ets_web/ip/Market/Reports/CSDReportServlet"
VG_URL = (
    f"{ETS}/Market/Reports/Manual/Operations/prodweb_reports/wind_solar_forecast/{{fuel}}_rpt_longterm.csv"
)
API = "https://apimgw.aeso.ca/public"
POOL_PRICE_URL = f"{API}/poolprice-api/v1.1/price/poolPrice"
SMP_URL = f"{API}/systemmarginalprice-api/v1.1/price/systemMarginalPrice"
API_KEY_ENV = "MI_AESO_API_KEY"
#: AESO publishes no request limit for ETS or the APIM gateway (its API documentation, the gateway's
#: product record and its answers carry no quota or rate-limit header); we keep to a polite one request
#: every 2 s.
RATE_LIMIT_S = 2.0

SNAPSHOTS = {  # dataset -> (URL, query)
    "current_supply_demand": (CSD_URL, {"contentType": "csv"}),
    "wind_forecast_7day": (VG_URL.format(fuel="wind"), None),
    "solar_forecast_7day": (VG_URL.format(fuel="solar"), None),
}
API_REPORTS = {"pool_price_hourly": POOL_PRICE_URL, "system_marginal_price": SMP_URL}

DATASETS = (
    Dataset(
        "current_supply_demand",
        "fundamentals",
        "Current Supply Demand report: AIL, net generation, interchange, generation by fuel and asset"
        " (MC/TNG/DCR), flows by intertie; a snapshot at its Last Update minute",
        "1min",
        TZ,
        verified=True,
    ),
    Dataset(
        "wind_forecast_7day",
        "fundamentals",
        "Wind power forecast, 7 days (min / most likely / max, MCR) with 48 hours of actuals",
        "1h",
        TZ,
        verified=True,
    ),
    Dataset(
        "solar_forecast_7day",
        "fundamentals",
        "Solar power forecast, 7 days (min / most likely / max, MCR) with 48 hours of actuals",
        "1h",
        TZ,
        verified=True,
    ),
    Dataset(
        "pool_price_hourly",
        "prices",
        "Pool Price Report (hourly pool price and forecast pool price, API v1.1); no recording",
        "1h",
        TZ,
        verified=False,
    ),
    Dataset(
        "system_marginal_price",
        "prices",
        "System Marginal Price Report (SMP blocks, API v1.1); no recording",
        "1min",
        TZ,
        verified=False,
    ),
)


class AESOIngestor(Ingestor):
    """Alberta Electric System Operator: ETS reports and the public API."""

    source = "aeso"

    def discover(self) -> Catalog:
        """Return AESO's datasets."""
        return Catalog("aeso", DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str, day: pd.Timestamp | None = None) -> tuple[str, dict[str, str] | None]:
        """Return the URL and query of ``dataset`` (the local ``day`` for the API reports).

        The API reports are asked one Mountain prevailing day at a time: ``startDate`` alone returns that
        day's hours (``endDate`` must be after ``startDate``).
        """
        self.discover().dataset(dataset)
        if dataset in SNAPSHOTS:
            return SNAPSHOTS[dataset]
        if day is None:
            raise ValueError(f"aeso/{dataset} is asked by local day; give the day")
        return API_REPORTS[dataset], {"startDate": f"{day.tz_convert(TZ):%Y-%m-%d}"}

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the payloads of the request's window.

        ETS reports: the current version, once (they keep no history); its window is the part of the
        request that has passed. API reports: one answer per local day; a day still in progress covers only
        its completed hours, so the next run asks for it again.
        """
        if self.http is None:
            raise ParseError("aeso: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        if request.dataset in SNAPSHOTS:
            url, params = self.request(request.dataset)
            resp = self.http.get("aeso", url, params, min_interval_s=RATE_LIMIT_S)
            now = pd.Timestamp.now(tz="UTC")
            end = min(request.end_utc, now)
            yield RawPayload(
                "aeso", request.dataset, url, resp.body, now, resp.status, resp.content_type,
                request.start_utc if end > request.start_utc else None,
                end if end > request.start_utc else None, meta=params or {},
            )  # fmt: skip
            return
        key = os.environ.get(API_KEY_ENV, "")
        headers = {"API-KEY": key, "Cache-Control": "no-cache"} if key else {"Cache-Control": "no-cache"}
        for day in local_days(request.start_utc, request.end_utc, TZ):
            url, params = self.request(request.dataset, day)
            resp = self.http.get("aeso", url, params, min_interval_s=RATE_LIMIT_S, headers=headers)
            now = pd.Timestamp.now(tz="UTC")
            day_end = (day + pd.DateOffset(days=1)).tz_convert("UTC")
            yield RawPayload(
                "aeso", request.dataset, url, resp.body, now, resp.status, resp.content_type,
                day.tz_convert("UTC"), min(day_end, now.floor("h")), meta=params or {},
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "current_supply_demand":
            return parse_csd(raw.body)
        if raw.dataset == "wind_forecast_7day":
            return parse_vg_forecast(raw.body, "wind")
        if raw.dataset == "solar_forecast_7day":
            return parse_vg_forecast(raw.body, "solar")
        if raw.dataset == "pool_price_hourly":
            return parse_pool_price(raw.body)
        return parse_smp(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the report's file name, title or JSON report name."""
        name = filename.lower()
        head = body[:2000]
        if "csdreport" in name or head.lstrip(b"\xef\xbb\xbf \r\n").startswith(b"Current Supply Demand"):
            return "current_supply_demand"
        if name.startswith("wind_rpt"):
            return "wind_forecast_7day"
        if name.startswith("solar_rpt"):
            return "solar_forecast_7day"
        if b'"Pool Price Report"' in head:
            return "pool_price_hourly"
        if b'"System Marginal Price Report"' in head:
            return "system_marginal_price"
        return super().detect_dataset(filename, body)
