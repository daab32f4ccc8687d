"""NYISO connector: MIS public CSV reports, daily files for recent days and monthly ZIPs for history.

NYISO keeps each report's daily CSV (``/public/csv/<folder>/YYYYMMDD<token>.csv``) online for recent days
only; history is served as one ZIP per month (``/public/csv/<folder>/YYYYMM01<token>_csv.zip``, one CSV
per day inside). A pull asks for one daily file per local day of the last :attr:`NYISOIngestor.recent_days`
days, and one monthly ZIP per month before that. Stamp conventions are in
:mod:`marketintel.connectors.nyiso.mapping`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pandas as pd

from marketintel.connectors.nyiso.mapping import REPORTS, TZ, members, parse
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

BASE = "http://mis.nyiso.com/public/csv"  # the scheme the recordings were made with; MIS also serves https
#: NYISO publishes no rate limit for its MIS CSV archive; one request a second is polite.
RATE_LIMIT_S = 1.0
#: how many past local days are fetched as daily CSVs (older days come from the monthly ZIPs)
RECENT_DAYS = 7

DATASETS = (
    Dataset(
        "load_actual_5min", "fundamentals",
        "Real-time actual load by zone per RTD interval (pal, P-58B), interval-beginning stamps",
        "5min", TZ, verified=True, max_window="1D",
    ),
    Dataset(
        "load_forecast_hourly", "fundamentals",
        "ISO load forecast by zone and NYISO total, hourly, D..D+5, issued daily (isolf, P-7)",
        "1D", TZ, verified=True, max_window="1D",
    ),
    Dataset(
        "fuel_mix_5min", "fundamentals",
        "Real-time generation by fuel category per RTD interval (rtfuelmix), interval-ending stamps",
        "5min", TZ, verified=True, max_window="1D",
    ),
    Dataset(
        "interface_flows_5min", "fundamentals",
        "Internal and external interface flows and limits per RTD interval (ExternalLimitsFlows)",
        "5min", TZ, verified=True, max_window="1D",
    ),
    Dataset(
        "lbmp_real_time_5min_zone", "prices",
        "Real-time (RTD) zonal LBMP with loss and congestion components (realtime_zone, P-24A)",
        "5min", TZ, verified=True, max_window="1D",
    ),
    Dataset(
        "lbmp_day_ahead_hourly_zone", "prices",
        "Day-ahead hourly zonal LBMP with components (damlbmp_zone, P-2A); documented layout, no recording",
        "1D", TZ, verified=False, max_window="1D",
    ),
)  # fmt: skip
_FILE = re.compile(r"(?:^|[/_])\d{8}(?P<token>[A-Za-z_]+?)(?:_csv\.zip|\.csv)$")


class NYISOIngestor(Ingestor):
    """New York ISO MIS public reports (CSV, monthly ZIP)."""

    source = "nyiso"
    recent_days: int = RECENT_DAYS

    def discover(self) -> Catalog:
        """Return NYISO's datasets."""
        return Catalog("nyiso", DATASETS, RATE_LIMIT_S)

    def daily_url(self, dataset: str, day: pd.Timestamp) -> str:
        """Return the URL of the daily CSV of local day ``day``."""
        report = REPORTS[dataset]
        return f"{BASE}/{report.folder}/{day:%Y%m%d}{report.token}.csv"

    def monthly_url(self, dataset: str, day: pd.Timestamp) -> str:
        """Return the URL of the monthly ZIP holding local day ``day``."""
        report = REPORTS[dataset]
        return f"{BASE}/{report.folder}/{day:%Y%m}01{report.token}_csv.zip"

    def split(
        self, request: PullRequest, today: pd.Timestamp | None = None
    ) -> tuple[list[pd.DatetimeIndex], PullRequest | None]:
        """Split a request into months fetched as ZIPs (their local days) and a recent part fetched daily.

        Parameters
        ----------
        request : PullRequest
            The window.
        today : pd.Timestamp, optional
            Local midnight of today (default: now in New York).
        """
        if today is None:
            today = pd.Timestamp.now(tz=TZ).normalize()
        cutoff = today - pd.DateOffset(days=self.recent_days)
        days = local_days(request.start_utc, request.end_utc, TZ)
        old = days[days < cutoff]
        month = old.strftime("%Y%m")
        months = [old[month == key] for key in pd.unique(month)]
        recent = days[days >= cutoff]
        daily = None
        if len(recent):
            daily = replace(request, start_utc=max(request.start_utc, recent[0].tz_convert("UTC")))
        return months, daily

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one monthly ZIP per month of history, then one daily CSV per recent local day."""
        self.discover().dataset(request.dataset)
        if self.http is None:
            raise ParseError("nyiso: no HTTP client given (HttpClient live, record or replay)")
        months, daily = self.split(request)
        for days in months:
            url = self.monthly_url(request.dataset, days[0])
            resp = self.http.get("nyiso", url, None, min_interval_s=RATE_LIMIT_S)
            yield RawPayload(
                "nyiso", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, days[0].tz_convert("UTC"),
                (days[-1] + pd.DateOffset(days=1)).tz_convert("UTC"),
            )  # fmt: skip
        if daily is not None:
            yield from self.fetch_daily(
                daily, TZ, lambda day: (self.daily_url(request.dataset, day), None), RATE_LIMIT_S
            )

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one daily CSV or monthly ZIP to canonical rows."""
        self.discover().dataset(raw.dataset)
        return parse(raw.body, raw.dataset)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the MIS file name (``YYYYMMDD<token>.csv`` / ``_csv.zip``) or the header."""
        by_token = {r.token.lower(): name for name, r in REPORTS.items()}
        m = _FILE.search(filename)
        if m and m.group("token").lower() in by_token:
            return by_token[m.group("token").lower()]
        try:
            docs = members(body)
        except ParseError:
            return super().detect_dataset(filename, body)
        for member, _ in docs:
            m = _FILE.search(member)
            if m and m.group("token").lower() in by_token:
                return by_token[m.group("token").lower()]
        lines = [ln for ln in docs[0][1].decode("utf-8-sig", errors="replace").splitlines() if ln.strip()]
        header = lines[0].replace('"', "") if lines else ""
        first = lines[1].replace('"', "").split(",")[0].strip() if len(lines) > 1 else ""
        if "Fuel Category" in header:
            return "fuel_mix_5min"
        if "Interface Name" in header:
            return "interface_flows_5min"
        if header.startswith("Time Stamp,Capitl"):
            return "load_forecast_hourly"
        if "Load" in header.split(",") and "Time Zone" in header:
            return "load_actual_5min"
        if "LBMP ($/MWHr)" in header:  # real-time stamps carry seconds, day-ahead ones do not
            return "lbmp_real_time_5min_zone" if first.count(":") == 2 else "lbmp_day_ahead_hourly_zone"
        return super().detect_dataset(filename, body)
