"""ISO-NE connector: ISO Express web services (JSON) and www.iso-ne.com reports, one request per local day.

Datasets: the table-driven load feeds of :mod:`.mapping`, the fuel mix (:mod:`.fuelmix`), reserve,
regulation and LMP prices with their quantities (:mod:`.prices`), the locations (``instruments``), the
seven-day wind/solar CSVs, the web client's 5-minute load, the morning report and the seven-day forecast
(:mod:`.reports`). Each recorded file is told apart by its file name (the service name) or, failing that,
by the wrapper key at the top of its body.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import pandas as pd

from marketintel.connectors.isone.fuelmix import parse_fuel_mix
from marketintel.connectors.isone.mapping import FEEDS, parse
from marketintel.connectors.isone.prices import PRICE_FEEDS, QUANTITY_FEEDS, parse_prices, parse_quantities
from marketintel.connectors.isone.reports import (
    parse_locations,
    parse_morning_report,
    parse_seven_day_forecast,
    parse_seven_day_power_forecast,
    parse_wsclient_load,
)
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

BASE = "https://webservices.iso-ne.com/api/v1.1"
WWW = "https://www.iso-ne.com"
TZ = "America/New_York"
#: ISO Express asks for moderate use of its web services and www.iso-ne.com reports; one request a second.
RATE_LIMIT_S = 1.0
USER_ENV, PASSWORD_ENV = "MI_ISONE_USER", "MI_ISONE_PASSWORD"  # ISO Express account (HTTP basic auth)

#: zone load feeds are asked per location; 4001..4008 are the eight load zones, 32 is the NEPOOL area
ZONE_FEEDS = {"load_day_ahead_cleared_hourly", "load_real_time_hourly"}
LOCATIONS = ("4001", "4002", "4003", "4004", "4005", "4006", "4007", "4008")


def _day_url(endpoint: str, suffix: str = "") -> Callable[[pd.Timestamp], list[str]]:
    return lambda day: [f"{BASE}/{endpoint}/day/{day:%Y%m%d}{suffix}"]


def _hourly_urls(endpoint: str) -> Callable[[pd.Timestamp], list[str]]:
    """Five-minute LMPs are served one local hour at a time (``.../starthour/HH``)."""
    return lambda day: [f"{BASE}/{endpoint}/day/{day:%Y%m%d}/starthour/{h:02d}" for h in range(24)]


@dataclass(frozen=True)
class Extra:
    """A dataset beyond the table-driven load feeds: its table, parser, URLs and how its files look."""

    table: str
    description: str
    cadence: str
    parse: Callable[[bytes], pd.DataFrame]
    url: Callable[[pd.Timestamp], list[str]]
    prefixes: tuple[str, ...] = ()  # recorded file names start with one of these
    markers: tuple[bytes, ...] = ()  # ... or the body's first bytes hold one of these
    verified: bool = True
    daily: bool = True  # one request per local day (False: one request for the whole window)
    form: Callable[[pd.Timestamp], dict[str, str]] | None = None  # a form POSTed to the URL (None: GET)


#: the web client's cache-busting stamp: sent, but left out of the recorded request
WSCLIENT_VOLATILE = ("_nstmp_formDate",)


def wsclient_load_form(day: pd.Timestamp) -> dict[str, str]:
    """Return the form that asks ``www.iso-ne.com/ws/wsclient`` for one local day of system load.

    The web client answers a form POST only (the site's own load graph sends it): the local day as
    ``MM/DD/YYYY`` twice, ``requestType=systemload``, and the sending time [ms since the epoch] as a
    cache-busting stamp.
    """
    date = f"{day:%m/%d/%Y}"
    return {
        "_nstmp_formDate": str(int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)),
        "_nstmp_startDate": date,
        "_nstmp_endDate": date,
        "_nstmp_twodays": "false",
        "_nstmp_showtwodays": "false",
        "_nstmp_requestType": "systemload",
    }


def _price_extras() -> dict[str, Extra]:
    out: dict[str, Extra] = {}
    for name, feed in PRICE_FEEDS.items():
        lmp = feed.endpoint.startswith(("hourlylmp", "fiveminutelmp"))
        url = (
            _hourly_urls(feed.endpoint)
            if feed.endpoint.startswith("fiveminutelmp")
            else _day_url(feed.endpoint)
        )
        prefix = feed.endpoint.replace("/", "_")
        marker = (
            ()
            if lmp
            else (f'"{feed.path[1] if feed.path[0] == "isone_web_services" else feed.path[0]}"'.encode(),)
        )
        cadence = f"{feed.minutes}min" if feed.minutes < 60 else "1h"
        out[name] = Extra(
            "prices", f"ISO-NE {feed.endpoint} prices ({feed.market})", cadence,
            partial(parse_prices, dataset=name), url, (prefix,), marker, verified=not lmp,
        )  # fmt: skip
    for name, price_name in QUANTITY_FEEDS.items():
        feed = PRICE_FEEDS[price_name]
        out[name] = Extra(
            "fundamentals", f"ISO-NE {feed.endpoint} quantities (MW requirements, designations, inputs)",
            out[price_name].cadence, partial(parse_quantities, dataset=name), out[price_name].url,
        )  # fmt: skip  # same answers as the price dataset, which detection prefers; ask with --dataset
    return out


EXTRAS: dict[str, Extra] = {
    "fuel_mix": Extra(
        "fundamentals", "ISO-NE generation fuel mix, irregular ~5-minute updates (genfuelmix)", "5min",
        parse_fuel_mix, _day_url("genfuelmix"), ("genfuelmix",), (b'"GenFuelMixes"',),
    ),
    **_price_extras(),
    "locations": Extra(
        "instruments", "ISO-NE pricing and reserve locations (locations)", "1D", parse_locations,
        lambda day: [f"{BASE}/locations"], ("locations",), (b'"Locations"',), daily=False,
    ),
    "solar_forecast_7day": Extra(
        "fundamentals", "Seven-day solar power forecast, hourly (CSV report sphf)", "1D",
        partial(parse_seven_day_power_forecast, kind="solar"),
        lambda day: [f"{WWW}/transform/csv/sphf?start={day:%Y%m%d}"],
        ("seven_day_solar_power_forecast",), (b"Seven Day Solar Power Forecast",),
    ),
    "wind_forecast_7day": Extra(
        "fundamentals", "Seven-day wind power forecast, hourly (CSV report wphf)", "1D",
        partial(parse_seven_day_power_forecast, kind="wind"),
        lambda day: [f"{WWW}/transform/csv/wphf?start={day:%Y%m%d}"],
        ("seven_day_wind_power_forecast",), (b"Seven Day Wind Power Forecast",),
    ),
    "load_5min_wsclient": Extra(
        "fundamentals", "5-minute system load, hourly load forecasts and DA cleared demand (ws/wsclient)",
        "5min", parse_wsclient_load, lambda day: [f"{WWW}/ws/wsclient"], ("wsclient",),
        (b'"SystemLoadBtmPv"',), form=wsclient_load_form,
    ),
    "morning_report": Extra(
        "fundamentals", "Morning report: daily capacity, reserves, interchange, peak load (morningreport)",
        "1D", parse_morning_report, _day_url("morningreport", "/all"), ("morningreport",),
        (b'"MorningReports"',),
    ),
    "seven_day_forecast": Extra(
        "fundamentals", "Seven-day capacity and peak load forecast (sevendayforecast)", "1D",
        parse_seven_day_forecast, _day_url("sevendayforecast", "/all"), ("sevendayforecast",),
        (b'"SevenDayForecasts"',),
    ),
}  # fmt: skip

DATASETS = tuple(
    Dataset(name, "fundamentals", f"ISO-NE {feed.endpoint}", "1h", TZ, verified=True)
    for name, feed in FEEDS.items()
) + tuple(
    Dataset(name, x.table, x.description, x.cadence, TZ, verified=x.verified) for name, x in EXTRAS.items()
)


class ISONEIngestor(Ingestor):
    """ISO New England web services (JSON) and www.iso-ne.com reports."""

    source = "isone"

    def discover(self) -> Catalog:
        """Return ISO-NE's datasets."""
        return Catalog("isone", DATASETS, RATE_LIMIT_S)

    def urls(self, dataset: str, day: pd.Timestamp) -> list[str]:
        """Return the service URLs of one local day of ``dataset`` (``load_5min_wsclient``: a form POST)."""
        if dataset in EXTRAS:
            return EXTRAS[dataset].url(day)
        endpoint = FEEDS[dataset].endpoint
        if dataset in ZONE_FEEDS:
            return [f"{BASE}/{endpoint}/day/{day:%Y%m%d}/location/{loc}" for loc in LOCATIONS]
        suffix = "/all" if dataset == "load_forecast_by_region_hourly" else ""
        prefix = "all/" if dataset == "load_forecast_hourly" else ""
        return [f"{BASE}/{endpoint}/{prefix}day/{day:%Y%m%d}{suffix}"]  # JSON through the Accept header

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the answers of each local day; the day's last answer closes its window."""
        if self.http is None:
            raise ParseError("isone: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        auth = os.environ.get(USER_ENV, ""), os.environ.get(PASSWORD_ENV, "")
        api_headers = {"Accept": "application/json"}
        if auth[0]:
            api_headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            )
        extra = EXTRAS.get(request.dataset)
        if extra is not None and not extra.daily:  # reference data: one answer for the whole window
            days = pd.DatetimeIndex([request.start_utc])
        else:
            days = local_days(request.start_utc, request.end_utc, TZ)
        for day in days:
            urls = self.urls(request.dataset, day)
            for k, url in enumerate(urls):
                headers = api_headers if url.startswith(BASE) else None
                if extra is not None and extra.form is not None:
                    resp = self.http.post(
                        "isone", url, extra.form(day), min_interval_s=RATE_LIMIT_S, volatile=WSCLIENT_VOLATILE
                    )
                else:
                    resp = self.http.get("isone", url, min_interval_s=RATE_LIMIT_S, headers=headers)
                last = k == len(urls) - 1
                if extra is not None and not extra.daily:
                    window = (request.start_utc, request.end_utc)
                else:
                    window = (day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC"))
                yield RawPayload(
                    "isone", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                    resp.content_type, window[0] if last else None, window[1] if last else None,
                )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one answer to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset in EXTRAS:
            return EXTRAS[raw.dataset].parse(raw.body)
        return parse(raw.body, raw.dataset)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the service name that ISO-NE's answers and file names carry."""
        head = body[:300]
        for name, feed in FEEDS.items():
            wrapper, record = feed.containers
            if (
                filename.startswith(feed.endpoint)
                or f'"{wrapper}"'.encode() in head[:200]
                or (f'"{record}"'.encode() in head[:200])
            ):
                return name
        for name, extra in EXTRAS.items():
            if extra.prefixes and filename.startswith(extra.prefixes):
                return name
        for name, extra in EXTRAS.items():
            if any(marker in head for marker in extra.markers):
                return name
        return super().detect_dataset(filename, body)
