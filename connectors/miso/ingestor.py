"""MISO connector: day-ahead ex-ante LMP reports and the real-time Data Broker (forecasts, fuel mix)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.miso.mapping import (
    EST,
    parse_da_lmp,
    parse_df_al,
    parse_forecast,
    parse_fuel_mix,
    parse_rt_lmp,
)
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

REPORTS = "https://docs.misoenergy.org/marketreports"
BROKER = "https://api.misoenergy.org/MISORTWDDataBroker/DataBrokerServices.asmx"
#: MISO publishes no limit for its report pages; one request a second.
RATE_LIMIT_S = 1.0
#: Data Broker feeds answer with the current value only: no history can be asked for.
BROKER_MESSAGES = {
    "wind_forecast": "getWindForecast",
    "solar_forecast": "getSolarForecast",
    "fuel_mix_5min": "getfuelmix",
    "lmp_real_time_5min": "getLMPConsolidatedTable",
}
DATASETS = (
    Dataset(
        "lmp_day_ahead_exante_hourly",
        "prices",
        "Day-ahead ex-ante LMP report (da_exante_lmp)",
        "1D",
        EST,
        verified=True,
    ),
    Dataset(
        "wind_forecast", "fundamentals", "Data Broker wind forecast (current only)", "1h", EST, verified=True
    ),
    Dataset(
        "solar_forecast",
        "fundamentals",
        "Data Broker solar forecast (current only)",
        "1h",
        EST,
        verified=True,
    ),
    Dataset(
        "fuel_mix_5min",
        "fundamentals",
        "Data Broker fuel mix, 5-minute (current only)",
        "5min",
        EST,
        verified=True,
    ),
    Dataset(
        "lmp_real_time_5min",
        "prices",
        "Data Broker real-time 5-minute LMP by pricing node with MLC/MCC (getLMPConsolidatedTable, current"
        " only); no recording",
        "5min",
        EST,
        verified=False,
    ),
    Dataset(
        "load_forecast_actual_daily",
        "fundamentals",
        "Forecasted and actual load by local resource zone (df_al.xls)",
        "1D",
        EST,
        verified=True,
    ),
)


class MISOIngestor(Ingestor):
    """Midcontinent ISO."""

    source = "miso"

    def discover(self) -> Catalog:
        """Return MISO's datasets."""
        return Catalog("miso", DATASETS, RATE_LIMIT_S)

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one report per market day, or the Data Broker's current answer."""
        if self.http is None:
            raise ParseError("miso: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        if request.dataset in BROKER_MESSAGES:
            params = {"messageType": BROKER_MESSAGES[request.dataset], "returnType": "json"}
            resp = self.http.get("miso", BROKER, params, min_interval_s=RATE_LIMIT_S)
            yield RawPayload(
                "miso",
                request.dataset,
                BROKER,
                resp.body,
                pd.Timestamp.now(tz="UTC"),
                resp.status,
                resp.content_type,
                meta=params,
            )
            return
        report = "df_al.xls" if request.dataset == "load_forecast_actual_daily" else "da_exante_lmp.csv"
        yield from self.fetch_daily(
            request, EST, lambda day: (f"{REPORTS}/{day:%Y%m%d}_{report}", None), RATE_LIMIT_S
        )

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows."""
        if raw.dataset == "lmp_day_ahead_exante_hourly":
            return parse_da_lmp(raw.body)
        if raw.dataset == "load_forecast_actual_daily":
            return parse_df_al(raw.body)
        if raw.dataset == "fuel_mix_5min":
            return parse_fuel_mix(raw.body)
        if raw.dataset == "lmp_real_time_5min":
            return parse_rt_lmp(raw.body)
        if raw.dataset in ("wind_forecast", "solar_forecast"):
            return parse_forecast(raw.body, raw.dataset)
        self.discover().dataset(raw.dataset)
        raise AssertionError("unreachable")

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from MISO's report title or the Data Broker message in the file name."""
        lowered = filename.lower()
        if lowered.endswith("_df_al.xls"):
            return "load_forecast_actual_daily"
        if body.lstrip().startswith(b"Day Ahead Market ExAnte LMPs") or "da_exante_lmp" in lowered:
            return "lmp_day_ahead_exante_hourly"
        for dataset, message in BROKER_MESSAGES.items():
            if message.lower() in lowered:
                return dataset
        if b'"FiveMinLMP"' in body[:2000]:
            return "lmp_real_time_5min"
        if b'"Fuel"' in body[:200]:
            return "fuel_mix_5min"
        return super().detect_dataset(filename, body)
