"""CAISO connector: OASIS SingleZip queries, Today's Outlook history files and the Daily Renewables Watch.

All are asked one Pacific operating day per request.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.caiso.mapping import TZ, parse_fundamentals, parse_prc_lmp
from marketintel.connectors.caiso.outlook import parse_outlook_7day, parse_renewables_watch
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, PullRequest, RawPayload

OASIS = "https://oasis.caiso.com/oasisapi/SingleZip"
OUTLOOK_HISTORY = "https://www.caiso.com/outlook/history"
RENEWABLES_WATCH = "http://content.caiso.com/green/renewrpt"
#: OASIS answers one request at a time per client and throttles faster callers: one request per 5 s.
#: The same limit is kept for caiso.com's static report files (CAISO publishes no separate rule).
RATE_LIMIT_S = 5.0
#: datasets read from caiso.com files: dataset -> URL template of one local day (``day``)
FILES = {
    "outlook_7day": OUTLOOK_HISTORY + "/{day:%Y%m%d}/rtm_forecast_7day.csv",
    "renewables_watch_hourly": RENEWABLES_WATCH + "/{day:%Y%m%d}_DailyRenewablesWatch.txt",
}
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
        "outlook_7day",
        "fundamentals",
        "Today's Outlook 7-day outlook archive: demand, net demand, day-ahead and RA forecasts, 5-minute",
        "1D",
        TZ,
        verified=True,
    ),
    Dataset(
        "renewables_watch_hourly",
        "fundamentals",
        "Daily Renewables Watch: hourly renewables by type and production by resource type",
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
        """Yield one OASIS ZIP or one caiso.com file per operating day."""
        self.discover().dataset(request.dataset)
        if request.dataset in FILES:
            template = FILES[request.dataset]
            yield from self.fetch_daily(
                request, TZ, lambda day: (template.format(day=day), None), RATE_LIMIT_S
            )
            return
        yield from self.fetch_daily(
            request, TZ, lambda day: (OASIS, self.request_params(request.dataset, day)), RATE_LIMIT_S
        )

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one OASIS report to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "lmp_day_ahead_hourly":
            return parse_prc_lmp(raw.body, "CAISO_DAY_AHEAD_HOURLY")
        if raw.dataset == "outlook_7day":
            return parse_outlook_7day(raw.body)
        if raw.dataset == "renewables_watch_hourly":
            return parse_renewables_watch(raw.body)
        return parse_fundamentals(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the OASIS query name and market in the file name or the XML header.

        caiso.com files are told by their content: the Today's Outlook 7-day header, or the Renewables
        Watch table title (pyiso's ``ren_report.csv`` is such a report, tab-separated, of 2014-03-12).
        """
        head = body[:400].lstrip(b"\xef\xbb\xbf")
        if head.startswith(b"Time,Demand,Net Demand,Day-ahead demand forecast"):
            return "outlook_7day"
        if b"Hourly Breakdown of Renewable Resources" in head:
            return "renewables_watch_hourly"
        text = filename.upper() + " " + body[:2000].decode("latin-1", errors="replace").upper()
        for dataset, (query, run) in QUERIES.items():
            if f"{query}_{run}" in filename.upper() or (
                f"<REPORT>{query}</REPORT>" in text and f">{run}<" in text
            ):
                return dataset
        return super().detect_dataset(filename, body)
