"""ERCOT connector: MIS report documents, public-API archive documents and the public dashboards.

* MIS reports are listed by report type (``IceDocListJsonWS?reportTypeId=NNNNN``, parsed by
  :func:`~marketintel.connectors.ercot.listings.parse_mis_listing`) and downloaded by document id
  (``mirDownload?doclookupId=<DocID>``); a window asks for the CSV documents *posted* in it.
* The 2-Day Ancillary Service Reports (NP3-911-ER) come from the public API's archive: the report of
  operating day D is posted on D + 2 (recorded: 2024-11-05 03:16 for 2024-11-03, 2024-10-18 for
  2024-10-16), so each local day of the window asks the archive listing for the documents posted two days
  later, then downloads each through the listing's own link. The public API wants a subscription key and
  an ID token (headers, never recorded): ``MI_ERCOT_SUBSCRIPTION_KEY`` and ``MI_ERCOT_ID_TOKEN``.
* The dashboards are snapshots of the previous and current day, fetched once per request.

Rate limits: ERCOT's MIS asks for no more than a request every couple of seconds from one client, and the
public API allows 30 requests a minute per subscription; one request every 2 s honours both.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterator

import pandas as pd

from marketintel.connectors.ercot.as_reports import parse_as_reports
from marketintel.connectors.ercot.dashboards import (
    parse_energy_storage,
    parse_fuel_mix,
    parse_load_forecast_vs_actual,
)
from marketintel.connectors.ercot.listings import MIS_DOWNLOAD_URL, parse_archive_listing, parse_mis_listing
from marketintel.connectors.ercot.mapping import (
    REPORTS,
    SPP_DAM_TOKEN,
    SPP_RT_TOKEN,
    TZ,
    parse_actual_load_15min,
    parse_report,
    parse_sced_lmp,
    parse_spp_day_ahead,
    parse_spp_real_time,
    unzip_single_csv,
)
from marketintel.ingest.sdk import (
    LISTING,
    Catalog,
    Dataset,
    Ingestor,
    ParseError,
    PullRequest,
    RawPayload,
)
from marketintel.timeutils import local_days

LIST_URL = "https://www.ercot.com/misapp/servlets/IceDocListJsonWS"
DOWNLOAD_URL = MIS_DOWNLOAD_URL
ARCHIVE_URL = "https://api.ercot.com/api/public-reports/archive"
DASHBOARD_URL = "https://www.ercot.com/api/1/services/read/dashboards"
#: one request every 2 s: MIS asks for a request every couple of seconds, the public API 30 a minute
RATE_LIMIT_S = 2.0
SCED_REPORT_TYPE = "12300"
SPP_DAM_REPORT_TYPE = "12331"  # NP4-190-CD DAM Settlement Point Prices
SPP_RT_REPORT_TYPE = "12301"  # NP6-905-CD Settlement Point Prices at Resource Nodes, Hubs and Load Zones
AS_REPORTS_EMIL = "np3-911-er"
AS_REPORTS_POSTING_LAG = pd.DateOffset(days=2)
KEY_ENV, TOKEN_ENV = "MI_ERCOT_SUBSCRIPTION_KEY", "MI_ERCOT_ID_TOKEN"

DASHBOARDS = {
    "energy_storage_dashboard": "energy-storage-resources.json",
    "fuel_mix_dashboard": "fuel-mix.json",
    "load_forecast_vs_actual_dashboard": "loadForecastVsActual.json",
}

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
    Dataset(
        "spp_day_ahead_hourly",
        "prices",
        "DAM Settlement Point Prices (NP4-190-CD), hourly; from the documented layout",
        "1D",
        TZ,
        False,
    ),
    Dataset(
        "spp_real_time_15min",
        "prices",
        "Settlement Point Prices at resource nodes, hubs and load zones (NP6-905-CD), 15-minute; "
        "from the documented layout",
        "15min",
        TZ,
        False,
    ),
    Dataset(
        "as_reports_2day",
        "fundamentals",
        "2-Day Ancillary Service Reports (NP3-911-ER): self-arranged and DAM-cleared AS by service, "
        "aggregated AS offer curves (cumulative MW at each price point)",
        "1D",
        TZ,
        True,
    ),
    Dataset(
        "energy_storage_dashboard",
        "fundamentals",
        "Dashboard: energy storage resources, total charging / discharging / net output, 5-minute",
        "5min",
        TZ,
        True,
    ),
    Dataset(
        "fuel_mix_dashboard",
        "fundamentals",
        "Dashboard: generation by fuel (with HSL and seasonal / monthly capacity), 5-minute",
        "5min",
        TZ,
        True,
    ),
    Dataset(
        "load_forecast_vs_actual_dashboard",
        "fundamentals",
        "Dashboard: hourly system load, current and day-ahead load forecast, HSL",
        "1h",
        TZ,
        True,
    ),
    Dataset(
        "mis_document_listing",
        LISTING,
        "MIS document listing of one report type (IceDocListJsonWS), read to find documents",
        "5min",
        TZ,
        True,
    ),
    Dataset(
        "public_api_archive_listing",
        LISTING,
        "Public API archive listing of one report (archives[]), read to find documents",
        "1D",
        TZ,
        True,
    ),
)

MIS_REPORT_TYPES = {
    **{name: report.report_type_id for name, report in REPORTS.items()},
    "lmp_real_time_sced": SCED_REPORT_TYPE,
    "spp_day_ahead_hourly": SPP_DAM_REPORT_TYPE,
    "spp_real_time_15min": SPP_RT_REPORT_TYPE,
}


def documents(listing: bytes) -> list[tuple[str, pd.Timestamp, str]]:
    """Return (document id, posting time [UTC], friendly name) from an MIS document listing."""
    frame = parse_mis_listing(listing)
    return list(zip(frame["document_id"], frame["published_at_utc"], frame["name"], strict=True))


def _zip_names(body: bytes) -> list[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile):
        return []


def _mis_document(body: bytes, parse: Callable[[bytes], pd.DataFrame]) -> pd.DataFrame:
    return parse(unzip_single_csv(body)[1] if body[:2] == b"PK" else body)


PARSERS: dict[str, Callable[[bytes], pd.DataFrame]] = {
    "lmp_real_time_sced": lambda body: _mis_document(body, parse_sced_lmp),
    "actual_load_15min": lambda body: _mis_document(body, parse_actual_load_15min),
    "spp_day_ahead_hourly": parse_spp_day_ahead,
    "spp_real_time_15min": parse_spp_real_time,
    "as_reports_2day": parse_as_reports,
    "energy_storage_dashboard": parse_energy_storage,
    "fuel_mix_dashboard": parse_fuel_mix,
    "load_forecast_vs_actual_dashboard": parse_load_forecast_vs_actual,
    "mis_document_listing": parse_mis_listing,
    "public_api_archive_listing": parse_archive_listing,
}


class ERCOTIngestor(Ingestor):
    """ERCOT: market information system (MIS), public API archive and public dashboards."""

    source = "ercot"

    def discover(self) -> Catalog:
        """Return ERCOT's datasets."""
        return Catalog("ercot", DATASETS, RATE_LIMIT_S)

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the payloads of the window (documents posted in it, AS reports of its days, a snapshot)."""
        if self.http is None:
            raise ParseError("ercot: no HTTP client given (HttpClient live, record or replay)")
        dataset = self.discover().dataset(request.dataset)
        if dataset.table == LISTING:
            raise ParseError(f"ercot/{dataset.name} is a document listing: the connector reads it itself")
        if request.dataset == "actual_load_15min":
            raise ParseError(
                "ercot/actual_load_15min has no document feed here yet: parse saved files instead"
            )
        if request.dataset == "as_reports_2day":
            yield from self._as_reports(request)
        elif request.dataset in DASHBOARDS:
            yield from self._dashboard(request)
        else:
            yield from self._mis(request)

    def mis_listing(self, dataset: str) -> pd.DataFrame:
        """Fetch and parse the MIS document listing of ``dataset``'s report type."""
        assert self.http is not None
        params = {"reportTypeId": MIS_REPORT_TYPES[dataset]}
        listing = self.http.get("ercot", LIST_URL, params, min_interval_s=RATE_LIMIT_S)
        return parse_mis_listing(listing.body)

    def _mis(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield every CSV document of the report posted in the window, oldest first."""
        assert self.http is not None
        listing = self.mis_listing(request.dataset)
        posted = listing["published_at_utc"]
        chosen = listing[
            listing["name"].str.endswith("_csv") & (posted >= request.start_utc) & (posted < request.end_utc)
        ]
        for k, doc in enumerate(chosen.itertuples(index=False)):
            params = {"doclookupId": str(doc.document_id)}
            resp = self.http.get("ercot", DOWNLOAD_URL, params, min_interval_s=RATE_LIMIT_S)
            last = k == len(chosen) - 1
            yield RawPayload(
                "ercot", request.dataset, DOWNLOAD_URL, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, request.start_utc if last else None, request.end_utc if last else None,
                meta=params,
            )  # fmt: skip

    @staticmethod
    def archive_listing_params(day: pd.Timestamp) -> dict[str, str]:
        """Return the archive-listing query of the AS reports of operating day ``day`` (local midnight)."""
        posted = (day + AS_REPORTS_POSTING_LAG).tz_localize(None)
        return {
            "postDatetimeFrom": f"{posted:%Y-%m-%dT%H:%M:%S}",
            "postDatetimeTo": f"{posted + pd.Timedelta(days=1):%Y-%m-%dT%H:%M:%S}",
            "size": "1000",
            "page": "1",
        }

    def _as_reports(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the NP3-911-ER documents of each local operating day of the window."""
        assert self.http is not None
        headers = {}
        if os.environ.get(KEY_ENV):
            headers["Ocp-Apim-Subscription-Key"] = os.environ[KEY_ENV]
        if os.environ.get(TOKEN_ENV):
            headers["Authorization"] = "Bearer " + os.environ[TOKEN_ENV]
        url = f"{ARCHIVE_URL}/{AS_REPORTS_EMIL}"
        for day in local_days(request.start_utc, request.end_utc, TZ):
            params = self.archive_listing_params(day)
            listing = self.http.get("ercot", url, params, min_interval_s=RATE_LIMIT_S, headers=headers)
            docs = parse_archive_listing(listing.body)
            for k, doc in enumerate(docs.itertuples(index=False)):
                resp = self.http.get(
                    "ercot", str(doc.url), None, min_interval_s=RATE_LIMIT_S, headers=headers
                )
                last = k == len(docs) - 1
                end = (day + pd.DateOffset(days=1)).tz_convert("UTC")
                yield RawPayload(
                    "ercot", request.dataset, str(doc.url), resp.body, pd.Timestamp.now(tz="UTC"),
                    resp.status, resp.content_type, day.tz_convert("UTC") if last else None,
                    end if last else None,
                    meta={"docId": str(doc.document_id), "posted_utc": str(doc.published_at_utc)},
                )  # fmt: skip

    def _dashboard(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the dashboard's current snapshot (it holds the previous and the current day only)."""
        assert self.http is not None
        if request.end_utc < pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=2):
            raise ParseError(
                f"ercot/{request.dataset} is a snapshot of the previous and current day; "
                "it has no history to fetch for an older window"
            )
        url = f"{DASHBOARD_URL}/{DASHBOARDS[request.dataset]}"
        resp = self.http.get("ercot", url, None, min_interval_s=RATE_LIMIT_S)
        yield RawPayload(
            "ercot",
            request.dataset,
            url,
            resp.body,
            pd.Timestamp.now(tz="UTC"),
            resp.status,
            resp.content_type,
        )  # no window: a snapshot moves no watermark

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows (listings: to a document index)."""
        if raw.dataset in REPORTS:
            return parse_report(raw.body, raw.dataset)
        if raw.dataset in PARSERS:
            return PARSERS[raw.dataset](raw.body)
        self.discover().dataset(raw.dataset)  # raises, listing the datasets
        raise AssertionError("unreachable")

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the file name (report tokens, dashboard names) or the body."""
        head = body[:400]
        if b"ListDocsByRptTypeRes" in head:
            return "mis_document_listing"
        if b'"archives"' in body[:4000] and b'"_links"' in body[:4000]:
            return "public_api_archive_listing"
        for dataset, report in REPORTS.items():
            if report.token in filename:
                return dataset
        if "LMPSROSNODENP6788" in filename or body.startswith(b"SCEDTimestamp"):
            return "lmp_real_time_sced"
        if body.startswith(b"DeliveryDate,TimeEnding,Demand,DSTFlag"):
            return "actual_load_15min"
        if SPP_DAM_TOKEN in filename or body.startswith(b"DeliveryDate,HourEnding,SettlementPoint,"):
            return "spp_day_ahead_hourly"
        if SPP_RT_TOKEN in filename or body.startswith(b"DeliveryDate,DeliveryHour,DeliveryInterval,"):
            return "spp_real_time_15min"
        if "np3-911-er" in filename.lower() or (
            body[:2] == b"PK" and any(n.startswith("2d_") for n in _zip_names(body))
        ):
            return "as_reports_2day"
        if "energy-storage-resources" in filename or b'"totalCharging"' in body[:4000]:
            return "energy_storage_dashboard"
        if "loadForecastVsActual" in filename or b'"currentLoadForecast"' in body[:4000]:
            return "load_forecast_vs_actual_dashboard"
        if "fuel-mix" in filename or (b'"types"' in body[:4000] and b'"gen"' in body[:4000]):
            return "fuel_mix_dashboard"
        return super().detect_dataset(filename, body)
