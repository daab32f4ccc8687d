"""Nord Pool connector: the data portal's JSON API and the website's daily prices export.

The API is ``dataportal-api.nordpoolgroup.com/api``.
Day-ahead prices come from ``/api/DayAheadPriceIndices`` (one request per CET delivery day, with the
resolution, 15/30/60 minutes, and the areas as ``indexNames``) and from the older ``/api/DayAheadPrices``
(``deliveryArea``); averages from ``/api/AggregatePrices`` (one year of daily, weekly, monthly and yearly
averages per area) and ``/api/AggregatePrices/GetAnnuals``; physical flows from ``/api/PhysicalFlows``.
Capacities and intraday statistics are parsed from their recorded answers; their URLs were not recorded
and are not built here. Conventions and their evidence are in :mod:`marketintel.connectors.nordpool.mapping`.

Recorded answers can also be vcrpy cassettes (YAML: each interaction's request URI and response status and
body): :meth:`NordPoolIngestor.map_to_schema` reads every interaction of the cassette's dataset; a 204
(not yet published) is zero rows, and any other non-200 answer is a :class:`ParseError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import yaml  # type: ignore[import-untyped]

from marketintel.connectors.nordpool.mapping import (
    TZ,
    load_json,
    parse_aggregates,
    parse_annuals,
    parse_capacities,
    parse_day_ahead_prices,
    parse_intraday_statistics,
    parse_physical_flows,
    parse_price_indices,
    parse_website_export,
    portal_code,
)
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

API = "https://dataportal-api.nordpoolgroup.com/api"
#: Nord Pool publishes no request limit for the data portal; a polite one request a second
RATE_LIMIT_S = 1.0
#: the areas asked for by default (the Nordic and Baltic areas; the system price is asked on its own)
DEFAULT_AREAS = (
    "SE1", "SE2", "SE3", "SE4", "FI", "DK1", "DK2", "NO1", "NO2", "NO3", "NO4", "NO5", "EE", "LV", "LT",
)  # fmt: skip
DEFAULT_CURRENCY = "EUR"
INDEX_MINUTES = {"day_ahead_15min": 15, "day_ahead_30min": 30, "day_ahead_hourly": 60}
#: SDAC results are published from about 12:45 CET on the day before delivery
AUCTION_CRON = "50 12 * * *"
#: a delivery day's last interval ends about 35 h 15 min after the 12:45 publication of the day before
DAY_AHEAD_LAG = "-35h"

DATASETS = (
    *(
        Dataset(
            name,
            "prices",
            f"Day-ahead (SDAC) price indices at {m} minutes per area and the system price"
            " (/api/DayAheadPriceIndices)",
            "1D",
            TZ,
            verified=True,
            lag=DAY_AHEAD_LAG,
            publication=AUCTION_CRON,
        )
        for name, m in INDEX_MINUTES.items()
    ),
    Dataset(
        "day_ahead_prices",
        "prices",
        "Day-ahead prices per delivery area, older /api/DayAheadPrices answer (object form with"
        " multiAreaEntries, or the array of per-area prices); market by interval length",
        "1D",
        TZ,
        verified=True,
        lag=DAY_AHEAD_LAG,
        publication=AUCTION_CRON,
    ),
    Dataset(
        "aggregate_prices",
        "prices",
        "Daily, weekly, monthly and yearly average day-ahead prices of one year (/api/AggregatePrices)",
        "1D",
        TZ,
        verified=True,
        max_window="366D",
        lag="-11h",  # a day's average is published with its prices, 12:45 CET the day before
        publication="0 13 * * *",
    ),
    Dataset(
        "annual_prices",
        "prices",
        "Yearly average day-ahead prices, all years (/api/AggregatePrices/GetAnnuals)",
        "1D",
        TZ,
        verified=True,
        max_window="3660D",
        lag="-11h",
        publication="0 13 * * *",
    ),
    Dataset(
        "physical_flows",
        "fundamentals",
        "Physical flows per connection and net import of an area, 15 minutes (/api/PhysicalFlows) [MW]",
        "15min",
        TZ,
        verified=True,
        lag="1h",
    ),
    Dataset(
        "capacities",
        "fundamentals",
        "Day-ahead transfer capacities per connection and direction [MW] (recorded answer; URL not built)",
        "1D",
        TZ,
        verified=True,
        lag="-38h",
        publication="0 10 * * *",
    ),
    Dataset(
        "intraday_statistics",
        "prices",
        "Intraday (SIDC and local) contract statistics: average price of each traded QH/HH/PH contract"
        " (recorded answer; URL not built)",
        "1D",
        TZ,
        verified=True,
        lag="1h",
    ),
    Dataset(
        "website_daily_export",
        "prices",
        "nordpoolgroup.com Market data export (xlsx): daily system and area prices, EUR/MWh",
        "1D",
        TZ,
        verified=True,
        max_window="3660D",
    ),
)
#: URL path (after /api) -> dataset, for detection from a request URL or a recorded file name
PATHS = {
    "DayAheadPriceIndices": "day_ahead_price_indices",  # resolved by resolutionInMinutes
    "DayAheadPrices": "day_ahead_prices",
    "AggregatePrices/GetAnnuals": "annual_prices",
    "AggregatePrices": "aggregate_prices",
    "PhysicalFlows": "physical_flows",
}
_CURRENCY = re.compile(r"currency(?:=|%3D)([A-Z]{3})")


def _dataset_of_url(url: str) -> str | None:
    """Return the dataset a data portal URL asks for (``None`` if it is not one)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for suffix, dataset in PATHS.items():
        if path.endswith(f"/api/{suffix}"):
            if dataset != "day_ahead_price_indices":
                return dataset
            minutes = parse_qs(parts.query).get("resolutionInMinutes", ["60"])[0]
            return {"15": "day_ahead_15min", "30": "day_ahead_30min"}.get(minutes, "day_ahead_hourly")
    return None


def _dataset_of_json(doc: Any) -> str | None:
    if isinstance(doc, dict):
        if "multiIndexEntries" in doc:
            return {15: "day_ahead_15min", 30: "day_ahead_30min", 60: "day_ahead_hourly"}.get(
                doc.get("resolutionInMinutes")  # type: ignore[arg-type]
            )
        if "multiAreaEntries" in doc:
            return "day_ahead_prices"
        if "multiAreaDailyAggregates" in doc or "multiAreaYearlyAggregates" in doc:
            return "aggregate_prices"
        if isinstance(doc.get("prices"), list) and all("year" in p for p in doc["prices"]):
            return "annual_prices"
    if isinstance(doc, list) and doc and all(isinstance(a, dict) for a in doc):
        for key, dataset in (
            ("prices", "day_ahead_prices"),
            ("exchanges", "physical_flows"),
            ("capacities", "capacities"),
            ("contracts", "intraday_statistics"),
        ):
            if all(key in a for a in doc):
                return dataset
    return None


def _interactions(body: bytes) -> list[tuple[str, int, bytes]]:
    """Return the (request URI, status, body) of each interaction of a vcrpy cassette."""
    try:
        doc = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise ParseError(f"not a readable cassette (YAML): {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("interactions"), list):
        raise ParseError("not a vcrpy cassette (no 'interactions' list)")
    out = []
    for k, inter in enumerate(doc["interactions"]):
        try:
            uri = str(inter["request"]["uri"])
            response = inter["response"]
            status = int(response["status"]["code"])
            raw = response.get("body", {}).get("string", b"")
        except (KeyError, TypeError, ValueError):
            raise ParseError(f"cassette interaction {k} lacks request.uri or response.status.code") from None
        out.append((uri, status, raw.encode("utf-8") if isinstance(raw, str) else bytes(raw or b"")))
    return out


def _is_cassette(filename: str, body: bytes) -> bool:
    return filename.lower().endswith((".yaml", ".yml")) or body.lstrip()[:13] == b"interactions:"


class NordPoolIngestor(Ingestor):
    """Nord Pool: day-ahead prices, their averages, flows and capacities from the data portal."""

    source = "nordpool"

    def discover(self) -> Catalog:
        """Return Nord Pool's datasets."""
        return Catalog("nordpool", DATASETS, RATE_LIMIT_S)

    def request(
        self,
        dataset: str,
        day: pd.Timestamp,
        areas: tuple[str, ...] = DEFAULT_AREAS,
        currency: str = DEFAULT_CURRENCY,
    ) -> tuple[str, dict[str, str]]:
        """Return the URL and query of ``dataset`` for the CET delivery ``day`` and ``areas``.

        Parameters
        ----------
        dataset : str
            ``day_ahead_15min`` / ``_30min`` / ``_hourly`` (price indices), ``day_ahead_prices``,
            ``aggregate_prices`` (the year of ``day``), ``annual_prices`` (all years), ``physical_flows``
            (one area: ``areas[0]``).
        day : pd.Timestamp
            The delivery day (its CET/CEST date is used; a naive stamp is read as that date).
        areas : tuple of str
            The platform's location codes (``DE_LU``, ``SYSTEM``, ...), asked with the portal's codes.
        currency : str
            ``EUR``, ``SEK``, ``NOK``, ``DKK``, ... (the prices come back in it).

        The parameters are in the order the recorded requests have them, e.g.
        ``DayAheadPriceIndices?currency=EUR&market=DayAhead&date=2025-05-07&resolutionInMinutes=60&indexNames=FI``.
        """
        self.discover().dataset(dataset)
        date = f"{(day.tz_convert(TZ) if day.tzinfo else day):%Y-%m-%d}"
        codes = ",".join(portal_code(a) for a in areas)
        if dataset in INDEX_MINUTES:
            return f"{API}/DayAheadPriceIndices", {
                "currency": currency, "market": "DayAhead", "date": date,
                "resolutionInMinutes": str(INDEX_MINUTES[dataset]), "indexNames": codes,
            }  # fmt: skip
        if dataset == "day_ahead_prices":
            return f"{API}/DayAheadPrices", {
                "date": date, "market": "DayAhead", "deliveryArea": codes, "currency": currency,
            }  # fmt: skip
        if dataset == "aggregate_prices":
            return f"{API}/AggregatePrices", {
                "currency": currency, "market": "DayAhead", "deliveryArea": codes, "year": date[:4],
            }  # fmt: skip
        if dataset == "annual_prices":
            return f"{API}/AggregatePrices/GetAnnuals", {
                "currency": currency, "market": "DayAhead", "deliveryArea": codes,
            }  # fmt: skip
        if dataset == "physical_flows":
            return f"{API}/PhysicalFlows", {"date": date, "deliveryArea": portal_code(areas[0])}
        raise ValueError(f"nordpool/{dataset} is parsed from recordings only; no request URL is built for it")

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one answer per CET delivery day (per year for aggregates, once for annuals).

        Price indices ask the areas of :data:`DEFAULT_AREAS` in one request and the system price in a
        second; physical flows one request per area and day.
        """
        if self.http is None:
            raise ParseError("nordpool: no HTTP client given (HttpClient live, record or replay)")
        dataset = request.dataset
        self.discover().dataset(dataset)
        asks: list[tuple[str, ...]] = [DEFAULT_AREAS]
        if dataset in INDEX_MINUTES:
            asks.append(("SYSTEM",))
        elif dataset == "physical_flows":
            asks = [(a,) for a in DEFAULT_AREAS]
        if dataset == "annual_prices":
            days = local_days(request.end_utc - pd.Timedelta(seconds=1), request.end_utc, TZ)
        elif dataset == "aggregate_prices":
            all_days = local_days(request.start_utc, request.end_utc, TZ)
            days = pd.DatetimeIndex(sorted({d.replace(month=1, day=1) for d in all_days}))
        else:
            days = local_days(request.start_utc, request.end_utc, TZ)
        for day in days:
            for areas in asks:
                url, params = self.request(dataset, day, areas)
                if dataset == "aggregate_prices":
                    start, end = day, day + pd.DateOffset(years=1)
                elif dataset == "annual_prices":
                    start, end = request.start_utc.tz_convert(TZ), request.end_utc.tz_convert(TZ)
                else:
                    start, end = day, day + pd.DateOffset(days=1)
                resp = self.http.get("nordpool", url, params, min_interval_s=RATE_LIMIT_S)
                yield RawPayload(
                    "nordpool", dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                    resp.content_type, start.tz_convert("UTC"), end.tz_convert("UTC"), meta=params,
                )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one answer (or a recorded cassette of answers) to canonical rows."""
        self.discover().dataset(raw.dataset)
        if _is_cassette(raw.url, raw.body):
            return self._map_cassette(raw)
        if raw.status == 204:
            return self._parser(raw.dataset, raw.url, raw.meta)(b"")
        if raw.status not in (0, 200):
            raise ParseError(f"HTTP {raw.status} answer: not data")
        return self._parser(raw.dataset, raw.url, raw.meta)(raw.body)

    def _map_cassette(self, raw: RawPayload) -> pd.DataFrame:
        frames = []
        for uri, status, body in _interactions(raw.body):
            if _dataset_of_url(uri) != raw.dataset:
                continue
            if status not in (200, 204):
                raise ParseError(f"cassette answer HTTP {status} for {uri}: not data")
            frames.append(self._parser(raw.dataset, uri, {})(body if status == 200 else b""))
        if not frames:
            raise ParseError(f"the cassette holds no {raw.dataset} interaction")
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        return out.drop_duplicates(ignore_index=True)  # vcrpy records a repeated request twice

    def _parser(self, dataset: str, url: str, meta: dict[str, str]) -> Callable[[bytes], pd.DataFrame]:
        if dataset in INDEX_MINUTES:
            return lambda body: parse_price_indices(body, INDEX_MINUTES[dataset])
        if dataset in ("aggregate_prices", "annual_prices"):
            currency = meta.get("currency") or _currency_of_url(url)
            if currency is None:
                raise ParseError(
                    f"nordpool/{dataset}: the answer names no currency and the request URL {url!r} has no"
                    " currency=; pass it in the payload's meta"
                )
            if dataset == "aggregate_prices":
                return lambda body: parse_aggregates(body, currency)
            return lambda body: parse_annuals(body, currency)
        return {
            "day_ahead_prices": parse_day_ahead_prices,
            "physical_flows": parse_physical_flows,
            "capacities": parse_capacities,
            "intraday_statistics": parse_intraday_statistics,
            "website_daily_export": parse_website_export,
        }[dataset]

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from a cassette's request URI, an xlsx export, or the JSON answer's keys."""
        if body[:4] == b"PK\x03\x04" and filename.lower().endswith(".xlsx"):
            return "website_daily_export"
        if _is_cassette(filename, body):
            found = {_dataset_of_url(uri) for uri, _, _ in _interactions(body)} - {None}
            if len(found) == 1:
                return str(found.pop())
            return super().detect_dataset(filename, body)
        try:
            doc = load_json(body)
        except ParseError:
            doc = None
        dataset = _dataset_of_json(doc) if doc is not None else None
        return dataset or super().detect_dataset(filename, body)


def _currency_of_url(url: str) -> str | None:
    m = _CURRENCY.search(url)
    return m.group(1) if m else None
