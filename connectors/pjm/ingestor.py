"""PJM connector: Data Miner 2 feeds, one request per local day, paged by ``startRow``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.pjm.mapping import FEEDS, TZ, items, parse
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

BASE = "https://api.pjm.com/api/v1"
#: Data Miner 2 allows 6 requests a minute for non-members: one request per 10 s.
RATE_LIMIT_S = 10.0
ROWS_PER_PAGE = 50_000
API_KEY_ENV = "MI_PJM_API_KEY"  # the Ocp-Apim-Subscription-Key of a (free) PJM account

_DESCRIPTIONS = {
    "lmp_day_ahead_hourly": ("Day-ahead hourly LMP by pricing node (da_hrl_lmps)", "1D"),
    "lmp_real_time_5min_unverified": (
        "Real-time 5-minute unverified LMP (rt_unverified_fivemin_lmps)",
        "5min",
    ),
    "generation_by_fuel": ("Generation by fuel type, hourly (gen_by_fuel)", "1h"),
    "load_forecast_7day": ("Seven-day load forecast by area (load_frcstd_7_day)", "1h"),
    "solar_forecast_hourly": ("Hourly solar power forecast (hourly_solar_power_forecast)", "1h"),
    "solar_forecast_5min": ("Five-minute solar power forecast (five_min_solar_power_forecast)", "5min"),
    "constraint_shadow_price_da": ("Day-ahead constraint shadow prices (da_marginal_value)", "1D"),
    "constraint_shadow_price_rt_5min": (
        "Real-time 5-minute constraint shadow prices (rt_marginal_value)",
        "5min",
    ),
    "binding_constraints_da": ("Day-ahead binding transmission constraints (da_transconstraints)", "1D"),
}
#: Feeds whose window filter is on the evaluation (issue) time rather than the delivery time
_FILTER_FIELD = {
    "load_forecast_7day": "evaluated_at_datetime_ept",
    "solar_forecast_hourly": "evaluated_at_ept",
    "solar_forecast_5min": "evaluated_at_ept",
}
DATASETS = tuple(
    Dataset(name, FEEDS[name].table, desc, cadence, TZ, verified=True)
    for name, (desc, cadence) in _DESCRIPTIONS.items()
)


class PJMIngestor(Ingestor):
    """PJM Data Miner 2."""

    source = "pjm"

    def discover(self) -> Catalog:
        """Return PJM's datasets."""
        return Catalog("pjm", DATASETS, RATE_LIMIT_S)

    def request_params(self, dataset: str, day: pd.Timestamp, start_row: int) -> dict[str, str]:
        """Return the Data Miner query of one local day (EPT) of ``dataset``, one page."""
        field = _FILTER_FIELD.get(dataset, "datetime_beginning_ept")
        return {
            "rowCount": str(ROWS_PER_PAGE),
            "startRow": str(start_row),
            "order": "Asc",
            field: f"{day:%Y-%m-%d}T00:00to{day:%Y-%m-%d}T23:59",
        }

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the pages of each local day in the window; the day's last page closes its window."""
        if self.http is None:
            raise ParseError("pjm: no HTTP client given (HttpClient live, record or replay)")
        feed = FEEDS[self.discover().dataset(request.dataset).name]
        url = f"{BASE}/{feed.endpoint}"
        headers = (
            {"Ocp-Apim-Subscription-Key": os.environ[API_KEY_ENV]} if API_KEY_ENV in os.environ else None
        )
        days = local_days(request.start_utc, request.end_utc, TZ)
        for day in days:
            start_row, total = 1, None
            while True:
                params = self.request_params(request.dataset, day, start_row)
                resp = self.http.get("pjm", url, params, min_interval_s=RATE_LIMIT_S, headers=headers)
                try:
                    doc = json.loads(resp.body)
                    total = int(doc.get("totalRows", 0)) if isinstance(doc, dict) else None
                except (ValueError, AttributeError):
                    total = None  # not JSON: the runner quarantines it
                last = total is None or start_row + ROWS_PER_PAGE > total
                yield RawPayload(
                    "pjm", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                    resp.content_type,
                    day.tz_convert("UTC") if last else None,
                    (day + pd.DateOffset(days=1)).tz_convert("UTC") if last else None,
                    meta=params,
                )  # fmt: skip
                if last:
                    break
                start_row += ROWS_PER_PAGE

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one Data Miner answer to canonical rows."""
        self.discover().dataset(raw.dataset)
        return parse(raw.body, raw.dataset)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the records' fields (Data Miner answers carry no feed name)."""
        try:
            first = items(body)[0]
        except (ParseError, IndexError):
            return super().detect_dataset(filename, body)
        for field, name in _SIGNATURES:
            if field in first:
                if name == "solar_forecast_hourly":
                    length = pd.Timestamp(str(first["datetime_ending_utc"])) - pd.Timestamp(
                        str(first["datetime_beginning_utc"])
                    )
                    return "solar_forecast_5min" if length == pd.Timedelta("5min") else name
                return name
        return super().detect_dataset(filename, body)


#: a field only one feed has -> that feed
_SIGNATURES = (
    ("day_ahead_congestion_event", "binding_constraints_da"),
    ("transmission_constraint_penalty_factor", "constraint_shadow_price_rt_5min"),
    ("shadow_price", "constraint_shadow_price_da"),
    ("total_lmp_da", "lmp_day_ahead_hourly"),
    ("total_lmp_rt", "lmp_real_time_5min_unverified"),
    ("fuel_type", "generation_by_fuel"),
    ("forecast_load_mw", "load_forecast_7day"),
    ("solar_forecast_mwh", "solar_forecast_hourly"),
)
