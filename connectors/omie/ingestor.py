"""OMIE connector: the day-ahead market's daily marginal price file (Spain and Portugal).

One file per Spanish delivery day, ``INT_PBC_EV_H_1_DD_MM_YYYY_DD_MM_YYYY.TXT`` under
``https://www.omie.es/sites/default/files/dados/AGNO_YYYY/MES_MM/TXT/`` (the path pyomie, OMIEData and
other readers of the file use). From 2025-10-01 the file has 96 quarter-hour columns (``H1Q1..H24Q4``:
the 15-minute market time unit); before, 24 hour columns. Each file gives prices (ES, PT) and the market's
volumes (fundamentals): one dataset per table and layout. Conventions and their evidence are in
:mod:`marketintel.connectors.omie.mapping`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.omie.mapping import TZ, layout, parse_marginal_price_file
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

BASE = "https://www.omie.es/sites/default/files/dados"
#: OMIE publishes no request limit; a polite one request every 2 s
RATE_LIMIT_S = 2.0
#: the first delivery day of the 15-minute market time unit (SDAC go-live, auction of 2025-09-30)
MTU_15MIN_FROM = pd.Timestamp("2025-10-01")
#: results of the 12:00 CET SDAC auction are out at OMIE from about 13:00 CET the day before delivery
PUBLICATION = "5 13 * * *"
LAG = "-35h"  # the delivery day's end is ~35 h after the publication of the day before

DATASETS = (
    Dataset(
        "marginal_price_15min",
        "prices",
        "Day-ahead marginal prices of Spain and Portugal, 15 minutes (INT_PBC_EV_H, from 2025-10-01)",
        "1D",
        TZ,
        verified=True,
        lag=LAG,
        publication=PUBLICATION,
    ),
    Dataset(
        "marginal_price_hourly",
        "prices",
        "Day-ahead marginal prices of Spain and Portugal, hourly (INT_PBC_EV_H, to 2025-09-30); built from"
        " the documented layout, no recording",
        "1D",
        TZ,
        verified=False,
        lag=LAG,
        publication=PUBLICATION,
    ),
    Dataset(
        "market_volumes_15min",
        "fundamentals",
        "Day-ahead purchases and sales per system, Iberian totals and ES-PT scheduled flows, 15 minutes [MW]"
        " (INT_PBC_EV_H, from 2025-10-01)",
        "1D",
        TZ,
        verified=True,
        lag=LAG,
        publication=PUBLICATION,
    ),
    Dataset(
        "market_volumes_hourly",
        "fundamentals",
        "Day-ahead purchases and sales per system, Iberian totals and ES-PT scheduled flows, hourly"
        " (INT_PBC_EV_H, to 2025-09-30); documented layout, no recording",
        "1D",
        TZ,
        verified=False,
        lag=LAG,
        publication=PUBLICATION,
    ),
)
LAYOUT = {
    "marginal_price_15min": "15min",
    "marginal_price_hourly": "hourly",
    "market_volumes_15min": "15min",
    "market_volumes_hourly": "hourly",
}


class OMIEIngestor(Ingestor):
    """OMIE, the Iberian day-ahead market operator: marginal prices and volumes of Spain and Portugal."""

    source = "omie"

    def discover(self) -> Catalog:
        """Return OMIE's datasets."""
        return Catalog("omie", DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str, day: pd.Timestamp) -> tuple[str, dict[str, str] | None]:
        """Return the URL of the marginal price file of the Spanish delivery ``day`` (no query).

        E.g. 2025-10-01: ``.../dados/AGNO_2025/MES_10/TXT/INT_PBC_EV_H_1_01_10_2025_01_10_2025.TXT``. The
        same file serves the price and the volume datasets; a day before 2025-10-01 is hourly, from then on
        15-minute, and asking a dataset for a day of the other layout is an error.
        """
        self.discover().dataset(dataset)
        local = day.tz_convert(TZ) if day.tzinfo else day
        quarter = local.tz_localize(None).normalize() >= MTU_15MIN_FROM
        if quarter != (LAYOUT[dataset] == "15min"):
            raise ValueError(f"omie/{dataset} has no file for {local:%Y-%m-%d} (15-minute from 2025-10-01)")
        d = f"{local:%d_%m_%Y}"
        return f"{BASE}/AGNO_{local:%Y}/MES_{local:%m}/TXT/INT_PBC_EV_H_1_{d}_{d}.TXT", None

    @staticmethod
    def marginalpdbc_url(day: pd.Timestamp, portugal: bool = False) -> str:
        """Return OMIE's ``marginalpdbc`` (``marginalpdbcpt`` for Portugal) file URL of ``day``.

        The site's file-download form of the same prices (``YYYY;MM;DD;period;price PT;price ES;``);
        given for reference, not parsed by this connector.
        """
        name = "marginalpdbcpt" if portugal else "marginalpdbc"
        return f"https://www.omie.es/es/file-download?parents%5B0%5D={name}&filename={name}_{day:%Y%m%d}.1"

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one file per Spanish delivery day of the window that the dataset's layout covers."""
        if self.http is None:
            raise ParseError("omie: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        for day in local_days(request.start_utc, request.end_utc, TZ):
            try:
                url, params = self.request(request.dataset, day)
            except ValueError:
                continue  # the other layout's dataset has this day
            resp = self.http.get("omie", url, params, min_interval_s=RATE_LIMIT_S)
            yield RawPayload(
                "omie", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC"),
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one marginal price file to the dataset's rows (prices or volumes)."""
        self.discover().dataset(raw.dataset)
        if raw.status not in (0, 200):
            raise ParseError(f"HTTP {raw.status} answer: not a marginal price file")
        prices, volumes = parse_marginal_price_file(raw.body, LAYOUT[raw.dataset])
        return prices if raw.dataset.startswith("marginal_price") else volumes

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the price dataset of a marginal price file from its header (quarter-hour or hour columns)."""
        if filename.upper().startswith("INT_PBC_EV_H") or body.startswith(b"OMIE"):
            try:
                kind = layout(body)
            except ParseError:
                return super().detect_dataset(filename, body)
            return f"marginal_price_{kind}"
        return super().detect_dataset(filename, body)
