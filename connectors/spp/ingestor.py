"""SPP connector: LMPs by settlement location, SPP West interchange and tie flows, grid conditions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.spp.grid_conditions import parse_grid_conditions
from marketintel.connectors.spp.interchange import parse_interchange
from marketintel.connectors.spp.mapping import parse_lmp_csv
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_day_start_utc, local_days

BASE = "https://portal.spp.org/file-browser-api/download"
TREND_WEST = "https://portal.spp.org/chart-api/interchange-trend-swpw/asFile"
GRID_CONDITIONS = "https://www.spp.org/markets-operations/current-grid-conditions/"
TZ = "America/Chicago"  # SPP's "Central prevailing time"
#: SPP publishes no rate limit for the file browser, the chart API or www.spp.org; one request a second is
#: polite (the interchange trend and grid conditions pages change at most once a minute anyway).
RATE_LIMIT_S = 1.0
#: Day-ahead results are posted in the afternoon before the operating day; 14:00 Central is taken as
#: the publication time (an approximation: SPP gives no exact posting time per file).
DA_POSTED_BEFORE_DAY = pd.Timedelta(hours=10)

DATASETS = (
    Dataset(
        "lmp_day_ahead_hourly", "prices", "Day-ahead LMP by settlement location (DA-LMP-SL), hourly",
        "1D", TZ, verified=True, max_window="1D",
    ),
    Dataset(
        "lmp_real_time_5min", "prices", "Real-time balancing market LMP by settlement location (RTBM-LMP-SL)",
        "5min", TZ, verified=True, max_window="5min",
    ),
    Dataset(
        "interchange_west_trend", "fundamentals",
        "SPP West (SWPW) interchange trend: 1-minute NSI, NAI, tie flows by neighbour, NSI future (rolling"
        " 24 h back and ahead; current only)", "1min", TZ, verified=True, max_window="1D",
    ),
    Dataset(
        "tie_flows_west_monthly", "fundamentals",
        "SPP West (SWPW) historical tie flows, monthly file (TieFlows_SWPW_MonYYYY.csv), 1-minute",
        "MS", TZ, verified=True, max_window="31D",
    ),
    Dataset(
        "grid_conditions", "alerts",
        "Current Grid Conditions page: advisories and energy emergency alerts (current only)",
        "1h", TZ, verified=True, max_window="1D",
    ),
)  # fmt: skip
#: datasets answered by one current document, whatever the window asked
CURRENT = {"interchange_west_trend": TREND_WEST, "grid_conditions": GRID_CONDITIONS}
_FILE = {
    "lmp_day_ahead_hourly": re.compile(r"DA-LMP-SL-\d{12}\.csv$"),
    "lmp_real_time_5min": re.compile(r"RTBM-LMP-SL-\d{12}\.csv$"),
    "tie_flows_west_monthly": re.compile(r"TieFlows_SWPW_[A-Z][a-z]{2}\d{4}\.csv$"),
    "interchange_west_trend": re.compile(r"interchange-trend-swpw"),
    "grid_conditions": re.compile(r"grid-conditions"),
}
#: the first bytes of each CSV layout, for files saved under other names
_HEADERS = {b"GMTTIME,SPP_NSI,": "tie_flows_west_monthly", b"GMTTime,SWPW NSI,": "interchange_west_trend"}


def _da_published(end: pd.Series) -> pd.Series:
    start = pd.DatetimeIndex(end - pd.Timedelta(hours=1))
    return pd.Series(local_day_start_utc(start, TZ) - DA_POSTED_BEFORE_DAY, index=end.index)


class SPPIngestor(Ingestor):
    """Southwest Power Pool Marketplace files."""

    source = "spp"

    def discover(self) -> Catalog:
        """Return SPP's datasets."""
        return Catalog("spp", DATASETS, RATE_LIMIT_S)

    def file_url(self, dataset: str, interval_end_local: pd.Timestamp) -> str:
        """Return the file browser URL of one file (named after its local operating day or interval end)."""
        t = interval_end_local
        if dataset == "lmp_day_ahead_hourly":
            return f"{BASE}/da-lmp-by-location?path=/{t:%Y}/{t:%m}/By_Day/DA-LMP-SL-{t:%Y%m%d}0100.csv"
        folder = f"/{t:%Y}/{t:%m}/By_Interval/{t:%d}"
        return f"{BASE}/rtbm-lmp-by-location?path={folder}/RTBM-LMP-SL-{t:%Y%m%d%H%M}.csv"

    def tie_flow_url(self, month: pd.Timestamp) -> str:
        """Return the URL of the monthly SPP West tie-flow file of ``month`` (e.g. ``..._Mar2026.csv``)."""
        return f"{BASE}/historical-tie-flow?path=/TieFlows_SWPW_{month:%b%Y}.csv"

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one file per day (day-ahead), 5-minute interval (real time) or month (tie flows).

        The interchange trend and the grid conditions page only exist as their current version: one
        request, whatever the window (no checkpointed window).
        """
        if self.http is None:
            raise ParseError("spp: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        if request.dataset in CURRENT:
            url = CURRENT[request.dataset]
            resp = self.http.get("spp", url, min_interval_s=RATE_LIMIT_S)
            yield RawPayload(
                "spp", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type,
            )  # fmt: skip
            return
        if request.dataset == "tie_flows_west_monthly":
            first = request.start_utc.tz_convert(TZ).tz_localize(None).to_period("M").to_timestamp()
            for month in pd.date_range(first, request.end_utc.tz_convert(TZ).tz_localize(None), freq="MS"):
                url = self.tie_flow_url(month)
                resp = self.http.get("spp", url, min_interval_s=RATE_LIMIT_S)
                start = pd.Timestamp(month).tz_localize(TZ)
                yield RawPayload(
                    "spp", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                    resp.content_type, start.tz_convert("UTC"),
                    (start + pd.DateOffset(months=1)).tz_convert("UTC"),
                )  # fmt: skip
            return
        if request.dataset == "lmp_day_ahead_hourly":
            days = local_days(request.start_utc, request.end_utc, TZ)
            windows = [(d, d + pd.DateOffset(days=1), d) for d in days]
        else:
            ends = pd.date_range(
                request.start_utc.ceil("5min") + pd.Timedelta("5min"), request.end_utc, freq="5min"
            )
            windows = [(e - pd.Timedelta("5min"), e, e.tz_convert(TZ)) for e in ends]
        seen: set[str] = set()
        for start, end, label in windows:
            url = self.file_url(request.dataset, label)
            if url in seen:
                # The hour repeated when DST ends has the same local file names as the first one; how SPP
                # names the second hour's files is not in any recording, so it is not guessed.
                continue
            seen.add(url)
            resp = self.http.get("spp", url, min_interval_s=RATE_LIMIT_S)
            yield RawPayload(
                "spp", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC"),
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows (prices, fundamentals or alerts)."""
        if raw.dataset in ("interchange_west_trend", "tie_flows_west_monthly"):
            return parse_interchange(raw.body)
        if raw.dataset == "grid_conditions":
            return parse_grid_conditions(raw.body, raw.fetched_at_utc)
        if raw.dataset == "lmp_day_ahead_hourly":
            return parse_lmp_csv(raw.body, "SPP_DAY_AHEAD_HOURLY", pd.Timedelta(hours=1), _da_published)
        if raw.dataset == "lmp_real_time_5min":
            return parse_lmp_csv(raw.body, "SPP_REAL_TIME_5MIN", pd.Timedelta(minutes=5), None)
        self.discover().dataset(raw.dataset)  # raises, listing the datasets
        raise AssertionError("unreachable")

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from SPP's file name, else from the CSV header or the page heading."""
        for name, pattern in _FILE.items():
            if pattern.search(filename):
                return name
        head = body[:200].lstrip(b"\xef\xbb\xbf")
        for prefix, name in _HEADERS.items():
            if head.startswith(prefix):
                return name
        if b"<h1>Current Grid Conditions</h1>" in body:
            return "grid_conditions"
        return super().detect_dataset(filename, body)
