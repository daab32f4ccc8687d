"""CAISO connector: OASIS SingleZip queries, one operating day per request."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from marketintel.connectors.base import Catalog, Dataset, Ingestor, PullRequest, RawPayload
from marketintel.connectors.caiso.mapping import TZ, parse_fundamentals, parse_prc_lmp

OASIS = "https://oasis.caiso.com/oasisapi/SingleZip"
#: OASIS answers one request at a time per client and throttles faster callers: one request per 5 s.
RATE_LIMIT_S = 5.0
#: dataset -> (OASIS queryname, market_run_id)
QUERIES = {
    "load_forecast_7da": ("SLD_FCST", "7DA"),
    "load_forecast_dam": ("SLD_FCST", "DAM"),
    "load_forecast_rtm_15min": ("SLD_FCST", "RTM"),
    "renewable_forecast_dam": ("SLD_REN_FCST", "DAM"),
    "system_load_resource_schedules_dam": ("ENE_SLRS", "DAM"),
    "lmp_day_ahead_hourly": ("PRC_LMP", "DAM"),
}
DATASETS = (
    Dataset(
        "load_forecast_7da",
        "fundamentals",
        "Seven-day-ahead load forecast by TAC area (SLD_FCST 7DA)",
        "1D",
        TZ,
        verified=True,
    ),
    Dataset(
        "load_forecast_dam", "fundamentals", "Day-ahead load forecast (SLD_FCST DAM)", "1D", TZ, verified=True
    ),
    Dataset(
        "load_forecast_rtm_15min",
        "fundamentals",
        "Real-time 15-minute load forecast (SLD_FCST RTM)",
        "1D",
        TZ,
        verified=True,
    ),
    Dataset(
        "renewable_forecast_dam",
        "fundamentals",
        "Day-ahead wind and solar forecast by hub (SLD_REN_FCST)",
        "1D",
        TZ,
        verified=True,
    ),
    Dataset(
        "system_load_resource_schedules_dam",
        "fundamentals",
        "System load and resource schedules (ENE_SLRS)",
        "1D",
        TZ,
        verified=True,
    ),
    Dataset(
        "lmp_day_ahead_hourly",
        "prices",
        "Day-ahead LMP by node with components (PRC_LMP); no recording",
        "1D",
        TZ,
        verified=False,
    ),
)


class CAISOIngestor(Ingestor):
    """California ISO OASIS."""

    source = "caiso"

    def discover(self) -> Catalog:
        """Return CAISO's datasets."""
        return Catalog("caiso", DATASETS, RATE_LIMIT_S)

    def request_params(self, dataset: str, day: pd.Timestamp) -> dict[str, str]:
        """Return the OASIS query of one local operating day (its bounds in GMT, as OASIS expects)."""
        query, run = QUERIES[dataset]
        start = day.tz_convert("UTC")
        end = (day + pd.DateOffset(days=1)).tz_convert("UTC")
        return {
            "queryname": query,
            "market_run_id": run,
            "startdatetime": f"{start:%Y%m%dT%H:%M}-0000",
            "enddatetime": f"{end:%Y%m%dT%H:%M}-0000",
            "version": "1",
            "resultformat": "6",
        }

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one OASIS ZIP per operating day."""
        self.discover().dataset(request.dataset)
        yield from self.fetch_daily(
            request, TZ, lambda day: (OASIS, self.request_params(request.dataset, day)), RATE_LIMIT_S
        )

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one OASIS report to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "lmp_day_ahead_hourly":
            return parse_prc_lmp(raw.body, "CAISO_DAY_AHEAD_HOURLY")
        return parse_fundamentals(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the OASIS query name and market in the file name or the XML header."""
        text = filename.upper() + " " + body[:2000].decode("latin-1", errors="replace").upper()
        for dataset, (query, run) in QUERIES.items():
            if f"{query}_{run}" in filename.upper() or (
                f"<REPORT>{query}</REPORT>" in text and f">{run}<" in text
            ):
                return dataset
        return super().detect_dataset(filename, body)
