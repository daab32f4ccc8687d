"""ERCOT connector: MIS report documents (listed by report type, downloaded by document id)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
from marketintel.connectors.base import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.connectors.ercot.mapping import (
    REPORTS,
    TZ,
    parse_actual_load_15min,
    parse_report,
    parse_sced_lmp,
    unzip_single_csv,
)

LIST_URL = "https://www.ercot.com/misapp/servlets/IceDocListJsonWS"
DOWNLOAD_URL = "https://www.ercot.com/misdownload/servlets/mirDownload"
#: ERCOT's MIS asks for no more than a request every couple of seconds from one client.
RATE_LIMIT_S = 2.0
SCED_REPORT_TYPE = "12300"

DATASETS = (
    Dataset(
        "solar_hourly_actual_forecast",
        "fundamentals",
        "Solar power production, hourly averaged actual and forecast values (NP4-737-CD)",
        "1h",
        TZ,
        True,
    ),
    Dataset(
        "wind_hourly_actual_forecast",
        "fundamentals",
        "Wind power production, hourly averaged actual and forecast values (NP4-732-CD)",
        "1h",
        TZ,
        True,
    ),
    Dataset(
        "load_forecast_7day_by_forecast_zone",
        "fundamentals",
        "Seven-day load forecast by forecast zone (NP3-560-CD)",
        "1h",
        TZ,
        True,
    ),
    Dataset(
        "lmp_real_time_sced",
        "prices",
        "LMPs by resource node, load zone and trading hub per SCED run (NP6-788-CD)",
        "5min",
        TZ,
        True,
    ),
    Dataset(
        "actual_load_15min",
        "fundamentals",
        "Actual system load, 15-minute (DeliveryDate, TimeEnding, Demand, DSTFlag); parse only",
        "15min",
        TZ,
        True,
    ),
)


def documents(listing: bytes) -> list[tuple[str, pd.Timestamp, str]]:
    """Return (document id, posting time [UTC], friendly name) from an MIS document listing."""
    try:
        docs = json.loads(listing)["ListDocsByRptTypeRes"]["DocumentList"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"not an MIS document listing: {exc}") from None
    out = []
    for entry in docs:
        doc = entry["Document"]
        out.append(
            (str(doc["DocID"]), pd.Timestamp(doc["PublishDate"]).tz_convert("UTC"), str(doc["FriendlyName"]))
        )
    return out


class ERCOTIngestor(Ingestor):
    """ERCOT market information system (MIS)."""

    source = "ercot"

    def discover(self) -> Catalog:
        """Return ERCOT's datasets."""
        return Catalog("ercot", DATASETS, RATE_LIMIT_S)

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield every CSV document of the report posted in the window, oldest first."""
        if self.http is None:
            raise ParseError("ercot: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        if request.dataset == "actual_load_15min":
            raise ParseError(
                "ercot/actual_load_15min has no document feed here yet: parse saved files instead"
            )
        type_id = (
            SCED_REPORT_TYPE
            if request.dataset == "lmp_real_time_sced"
            else REPORTS[request.dataset].report_type_id
        )
        listing = self.http.get("ercot", LIST_URL, {"reportTypeId": type_id}, min_interval_s=RATE_LIMIT_S)
        chosen = sorted(
            (posted, doc_id)
            for doc_id, posted, name in documents(listing.body)
            if name.endswith("_csv") and request.start_utc <= posted < request.end_utc
        )
        for k, (_posted, doc_id) in enumerate(chosen):
            params = {"doclookupId": doc_id}
            resp = self.http.get("ercot", DOWNLOAD_URL, params, min_interval_s=RATE_LIMIT_S)
            last = k == len(chosen) - 1
            yield RawPayload(
                "ercot", request.dataset, DOWNLOAD_URL, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, request.start_utc if last else None, request.end_utc if last else None,
                meta=params,
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one document to canonical rows."""
        if raw.dataset in REPORTS:
            return parse_report(raw.body, raw.dataset)
        body = unzip_single_csv(raw.body)[1] if raw.body[:2] == b"PK" else raw.body
        if raw.dataset == "lmp_real_time_sced":
            return parse_sced_lmp(body)
        if raw.dataset == "actual_load_15min":
            return parse_actual_load_15min(body)
        self.discover().dataset(raw.dataset)
        raise AssertionError("unreachable")

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the report token in the file name, or the CSV header."""
        for dataset, report in REPORTS.items():
            if report.token in filename:
                return dataset
        if "LMPSROSNODENP6788" in filename or body.startswith(b"SCEDTimestamp"):
            return "lmp_real_time_sced"
        if body.startswith(b"DeliveryDate,TimeEnding,Demand,DSTFlag"):
            return "actual_load_15min"
        return super().detect_dataset(filename, body)
