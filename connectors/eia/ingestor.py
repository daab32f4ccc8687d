"""EIA connector: the Henry Hub spot price (dnav downloads and API v2) and the EIA-930 hourly grid data.

Datasets and their requests:

- ``henry_hub_spot_daily`` / ``henry_hub_spot_weekly``: the dnav pages ``ng/hist/rngwhhdD.htm`` and
  ``rngwhhdW.htm``. Their CSV is the page chart's "Download Data (CSV)" export, generated in the browser
  (the preamble's third line is the browser's clock); the recordings are such exports. :meth:`request`
  gives the page URL; a live pull of these series goes through the API datasets below, which hold the
  same series (``RNGWHHD``) and map it to the same markets.
- ``henry_hub_spot_daily_api`` / ``henry_hub_spot_weekly_api``: ``api.eia.gov/v2/natural-gas/pri/fut/data/``
  (no recording; built from EIA's API documentation, ``verified=False``).
- ``rto_interchange_hourly``, ``rto_fuel_type_hourly``, ``rto_region_hourly``:
  ``api.eia.gov/v2/electricity/rto/{interchange,fuel-type,region}-data/data/`` (Form EIA-930).

The API key is read from ``MI_EIA_API_KEY`` and sent as the ``api_key`` query parameter (EIA v2 takes it
only there). Answers hold at most 5,000 rows; a pull pages with ``offset`` until ``response.total`` is
reached. Conventions and their evidence are in :mod:`marketintel.connectors.eia.mapping`.

``commodity`` is ``gas``: the only ``prices`` rows are Henry Hub gas prices; the power datasets go to
``fundamentals``, which name no instruments, so :meth:`Ingestor.instruments` needs no override.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.eia.mapping import TZ, parse_dnav_csv, parse_ng_spot, parse_rto, v2_route
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

DNAV = "https://www.eia.gov/dnav/ng/hist"
API = "https://api.eia.gov/v2"
API_KEY_ENV = "MI_EIA_API_KEY"
PAGE_ROWS = 5000  # EIA v2 returns at most 5,000 rows per request
#: EIA documents no numeric limit for keyed v2 requests; it throttles bursts. One request a second.
RATE_LIMIT_S = 1.0

DNAV_PAGES = {
    "henry_hub_spot_daily": f"{DNAV}/rngwhhdD.htm",
    "henry_hub_spot_weekly": f"{DNAV}/rngwhhdW.htm",
}
#: dataset -> (route, frequency, facets)
API_ROUTES: dict[str, tuple[str, str, dict[str, str]]] = {
    "henry_hub_spot_daily_api": ("natural-gas/pri/fut", "daily", {"facets[series][]": "RNGWHHD"}),
    "henry_hub_spot_weekly_api": ("natural-gas/pri/fut", "weekly", {"facets[series][]": "RNGWHHD"}),
    "rto_interchange_hourly": ("electricity/rto/interchange-data", "hourly", {}),
    "rto_fuel_type_hourly": ("electricity/rto/fuel-type-data", "hourly", {}),
    "rto_region_hourly": ("electricity/rto/region-data", "hourly", {}),
}
RTO_DATASETS = {
    "rto_interchange_hourly": "interchange",
    "rto_fuel_type_hourly": "fuel_type",
    "rto_region_hourly": "region",
}
_WEEKLY_RELEASE = "0 0 * * 4"  # EIA's Wednesday release, taken at its day's end (Thursday 00:00 ET)

DATASETS = (
    Dataset(
        "henry_hub_spot_daily",
        "prices",
        "Henry Hub Natural Gas Spot Price, daily (dnav rngwhhdD CSV export), by trade day, USD/MMBtu",
        "1D",
        TZ,
        verified=True,
        max_window="36500D",
        lag="7D",
        publication=_WEEKLY_RELEASE,
    ),
    Dataset(
        "henry_hub_spot_weekly",
        "prices",
        "Henry Hub Natural Gas Spot Price, weekly average of the Monday-Friday daily prices (dnav rngwhhdW"
        " CSV export), USD/MMBtu",
        "7D",
        TZ,
        verified=True,
        max_window="36500D",
        lag="5D",
        publication=_WEEKLY_RELEASE,
    ),
    Dataset(
        "henry_hub_spot_daily_api",
        "prices",
        "Henry Hub Natural Gas Spot Price, daily (API v2 natural-gas/pri/fut, series RNGWHHD); no recording",
        "1D",
        TZ,
        verified=False,
        max_window="3650D",
        lag="7D",
        publication=_WEEKLY_RELEASE,
    ),
    Dataset(
        "henry_hub_spot_weekly_api",
        "prices",
        "Henry Hub Natural Gas Spot Price, weekly (API v2 natural-gas/pri/fut, series RNGWHHD); no recording",
        "7D",
        TZ,
        verified=False,
        max_window="3650D",
        lag="5D",
        publication=_WEEKLY_RELEASE,
    ),
    Dataset(
        "rto_interchange_hourly",
        "fundamentals",
        "EIA-930 hourly interchange between neighbouring balancing authorities [MWh], API v2",
        "1h",
        "UTC",
        verified=True,
        max_window="7D",
        lag="1h",
        publication="15 * * * *",
    ),
    Dataset(
        "rto_fuel_type_hourly",
        "fundamentals",
        "EIA-930 hourly net generation by balancing authority and energy source [MWh], API v2",
        "1h",
        "UTC",
        verified=True,
        max_window="7D",
        lag="1h",
        publication="15 * * * *",
    ),
    Dataset(
        "rto_region_hourly",
        "fundamentals",
        "EIA-930 hourly demand, day-ahead demand forecast, net generation and total interchange by"
        " balancing authority [MWh], API v2; no recording",
        "1h",
        "UTC",
        verified=False,
        max_window="7D",
        lag="1h",
        publication="15 * * * *",
    ),
)


class EIAIngestor(Ingestor):
    """U.S. Energy Information Administration: Henry Hub spot price and EIA-930 grid data."""

    source = "eia"
    commodity = "gas"

    def discover(self) -> Catalog:
        """Return EIA's datasets."""
        return Catalog("eia", DATASETS, RATE_LIMIT_S)

    def request(
        self,
        dataset: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        *,
        offset: int = 0,
        facets: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> tuple[str, dict[str, str] | None]:
        """Return the URL and query of ``dataset`` for the window ``[start, end)``.

        Parameters
        ----------
        dataset : str
            A dataset of :meth:`discover`.
        start, end : pd.Timestamp, optional
            The window (tz-aware). Hourly routes are asked in UTC hours (``YYYY-MM-DDTHH``, the hour-ending
            stamps of the first and last hour); daily and weekly ones by date (``YYYY-MM-DD``, local).
            Not used by the dnav pages, which always hold the whole history.
        offset : int
            First row of the page (API answers hold at most 5,000 rows).
        facets : dict, optional
            Extra facets, e.g. ``{"facets[respondent][]": "PJM"}`` or ``{"facets[fromba][]": "FPC"}``.
        api_key : str, optional
            The key; by default ``MI_EIA_API_KEY``; left out of the query when empty.

        Returns
        -------
        tuple
            URL and query parameters (``None`` for the dnav pages).
        """
        self.discover().dataset(dataset)
        if dataset in DNAV_PAGES:
            return DNAV_PAGES[dataset], None
        if start is None or end is None:
            raise ValueError(f"eia/{dataset} is asked for a window; give start and end")
        route, frequency, fixed = API_ROUTES[dataset]
        params: dict[str, str] = {
            "frequency": frequency,
            "data[0]": "value",
            "sort[0][column]": "period",
            "sort[0][direction]": "asc",
            "offset": str(offset),
            "length": str(PAGE_ROWS),
            **fixed,
            **(facets or {}),
        }
        if frequency == "hourly":  # hour-ending UTC stamps: the window's first hour ends at start + 1h
            params["start"] = f"{(start.tz_convert('UTC') + pd.Timedelta(hours=1)):%Y-%m-%dT%H}"
            params["end"] = f"{end.tz_convert('UTC'):%Y-%m-%dT%H}"
        else:
            params["start"] = f"{start.tz_convert(TZ):%Y-%m-%d}"
            params["end"] = f"{(end.tz_convert(TZ) - pd.Timedelta(days=1)):%Y-%m-%d}"
        key = os.environ.get(API_KEY_ENV, "") if api_key is None else api_key
        if key:
            params["api_key"] = key
        return f"{API}/{route}/data/", params

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the API answers covering the request's window, page by page (5,000 rows each).

        The dnav datasets are browser exports of whole histories and cannot be pulled; pull
        ``henry_hub_spot_daily_api`` / ``henry_hub_spot_weekly_api`` (the same series and markets).
        """
        if self.http is None:
            raise ParseError("eia: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        if request.dataset in DNAV_PAGES:
            raise ParseError(
                f"eia/{request.dataset} is a browser export of {DNAV_PAGES[request.dataset]}; pull"
                f" {request.dataset}_api instead (same series, same market)"
            )
        offset = 0
        while True:
            url, params = self.request(request.dataset, request.start_utc, request.end_utc, offset=offset)
            shown = {k: v for k, v in (params or {}).items() if k != "api_key"}
            secret = {"api_key": params["api_key"]} if params and "api_key" in params else None
            # the key is sent, never recorded: recordings replay without it
            resp = self.http.get("eia", url, shown, min_interval_s=RATE_LIMIT_S, secret_params=secret)
            now = pd.Timestamp.now(tz="UTC")
            try:
                answer = json.loads(resp.body).get("response", {})
                total, rows = int(answer.get("total", 0)), len(answer.get("data", []))
            except (ValueError, AttributeError, TypeError):
                total, rows = 0, 0  # not an answer: map_to_schema will say why
            offset += rows
            last = rows == 0 or offset >= total
            yield RawPayload(
                "eia", request.dataset, url, resp.body, now, resp.status, resp.content_type,
                request.start_utc if last else None, min(request.end_utc, now) if last else None,
                meta=shown,
            )  # fmt: skip
            if last:
                return

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "henry_hub_spot_daily":
            return parse_dnav_csv(raw.body, weekly=False)
        if raw.dataset == "henry_hub_spot_weekly":
            return parse_dnav_csv(raw.body, weekly=True)
        if raw.dataset == "henry_hub_spot_daily_api":
            return parse_ng_spot(raw.body, weekly=False)
        if raw.dataset == "henry_hub_spot_weekly_api":
            return parse_ng_spot(raw.body, weekly=True)
        return parse_rto(raw.body, RTO_DATASETS[raw.dataset])

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the CSV's first column header or the JSON records' fields."""
        head = body[:4000].decode("utf-8-sig", errors="replace")
        first_fields = [line.split(",")[0].strip().lower() for line in head.splitlines()[:20]]
        if "day" in first_fields and "Henry Hub" in head:
            return "henry_hub_spot_daily"
        if "week of" in first_fields and "Henry Hub" in head:
            return "henry_hub_spot_weekly"
        if head.lstrip().startswith("{"):
            try:
                doc = json.loads(body)
                response = doc["response"]
                records = pd.DataFrame.from_records(response["data"][:5])
            except (ValueError, KeyError, TypeError):
                return super().detect_dataset(filename, body)
            route = v2_route(records)
            if route == "ng_price":
                weekly = str(response.get("frequency", "")) == "weekly"
                return "henry_hub_spot_weekly_api" if weekly else "henry_hub_spot_daily_api"
            for dataset, name in RTO_DATASETS.items():
                if route == name:
                    return dataset
        return super().detect_dataset(filename, body)
