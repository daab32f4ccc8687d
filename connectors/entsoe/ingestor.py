"""ENTSO-E Transparency Platform connector: the RESTful web API and the website's CSV exports.

The API (``https://web-api.tp.entsoe.eu/api``) answers GET queries with XML documents: ``documentType``
(A44 prices, A65 load, A75 generation, ...), ``processType`` (A16 realised, A01 day-ahead, ...), the
areas as EIC codes (``in_Domain`` / ``out_Domain`` / ``outBiddingZone_Domain``) and ``periodStart`` /
``periodEnd`` (``yyyymmddHHMM``, UTC). A security token is required, sent as the ``securityToken`` query
parameter, read from ``MI_ENTSOE_TOKEN``; :meth:`ENTSOEIngestor.request` returns the query *without* it.
A pull asks one Brussels (CET/CEST) day per request and zone; zones come from the ingestor's ``zones``
argument, or the defaults (:data:`marketintel.connectors.entsoe.zones.PRICE_ZONES` for area datasets,
:data:`~marketintel.connectors.entsoe.zones.BORDERS` for flows and capacities). Conventions and their
evidence are in :mod:`marketintel.connectors.entsoe.mapping`.

The website's "Export data" CSVs (``gui_*`` datasets) have no API: they are parsed from files
(``mi connectors parse``), not pulled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from urllib.parse import unquote

import pandas as pd

from marketintel.connectors.entsoe.mapping import (
    DOC_DATASETS,
    TZ,
    _Doc,
    ack_dataset,
    doc_dataset,
    gui_dataset,
    is_cassette,
    params_dataset,
    parse_document,
    parse_gui_hydro,
    parse_gui_load,
    parse_gui_prices,
    unwrap_cassette,
)
from marketintel.connectors.entsoe.zones import BORDERS, PRICE_ZONES, eic
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

API = "https://web-api.tp.entsoe.eu/api"
TOKEN_ENV = "MI_ENTSOE_TOKEN"
#: ENTSO-E allows 400 requests per minute per user (API guide, section 2); one every 0.2 s stays well under
RATE_LIMIT_S = 0.2

_CONTRACT = "contract_MarketAgreement.Type"  # the A25 / A61 spelling (A44 queries use ".type")
#: dataset -> (documentType, fixed query parameters, area parameters: "zone" / "load" / "border")
QUERIES: dict[str, tuple[str, dict[str, str], str]] = {
    "day_ahead_prices": ("A44", {"contract_MarketAgreement.type": "A01"}, "border_self"),
    "intraday_auction_prices": ("A44", {"contract_MarketAgreement.type": "A07"}, "border_self"),
    "load_actual": ("A65", {"processType": "A16"}, "load"),
    "load_forecast_day_ahead": ("A65", {"processType": "A01"}, "load"),
    "load_forecast_week_ahead": ("A65", {"processType": "A31"}, "load"),
    "load_forecast_month_ahead": ("A65", {"processType": "A32"}, "load"),
    "load_forecast_year_ahead": ("A65", {"processType": "A33"}, "load"),
    "generation_actual_per_type": ("A75", {"processType": "A16"}, "zone"),
    "installed_capacity_per_type": ("A68", {"processType": "A33"}, "zone"),
    "wind_solar_forecast_day_ahead": ("A69", {"processType": "A01"}, "zone"),
    "generation_forecast_day_ahead": ("A71", {"processType": "A01"}, "zone"),
    "physical_flows": ("A11", {}, "border"),
    "net_position_day_ahead": ("A25", {"businessType": "B09", _CONTRACT: "A01"}, "border_self"),
    "net_position_intraday": ("A25", {"businessType": "B09", _CONTRACT: "A07"}, "border_self"),
    "ntc_day_ahead": ("A61", {_CONTRACT: "A01"}, "border"),
}  # fmt: skip
GUI_PARSERS = {
    "gui_day_ahead_prices": parse_gui_prices,
    "gui_load": parse_gui_load,
    "gui_hydro_reservoirs": parse_gui_hydro,
}

_DA = "50 12 * * *"  # after the SDAC auction (~12:45 Brussels)


def _ds(name: str, table: str, description: str, cadence: str, **kw: object) -> Dataset:
    return Dataset(name, table, description, cadence, TZ, **kw)  # type: ignore[arg-type]


DATASETS = (
    _ds("day_ahead_prices", "prices", "Energy prices [12.1.D] A44, day-ahead (SDAC, position 1; other"
        " classification positions such as EXAA in their own market), 60/30/15-minute MTU", "1D",
        verified=True, max_window="365D", lag="-35h10min", publication=_DA),
    _ds("intraday_auction_prices", "prices", "Energy prices [12.1.D] A44 contract A07: SIDC intraday auctions"
        " IDA1..IDA3, 15-minute MTU", "1D", verified=True, max_window="365D", lag="0min",
        publication="30 15,22,10 * * *"),
    _ds("load_actual", "fundamentals", "Actual total load [6.1.A] A65/A16 per bidding zone", "15min",
        verified=True, max_window="365D", lag="1h", publication="*/15 * * * *"),
    _ds("load_forecast_day_ahead", "fundamentals", "Day-ahead total load forecast [6.1.B] A65/A01", "1D",
        verified=True, max_window="365D", lag="-38h", publication="0 10 * * *"),
    _ds("load_forecast_week_ahead", "fundamentals", "Week-ahead total load forecast [6.1.C] A65/A31"
        " (min/max)", "7D", verified=False, max_window="365D", lag="-3D", publication="0 10 * * 5"),
    _ds("load_forecast_month_ahead", "fundamentals", "Month-ahead total load forecast [6.1.D] A65/A32"
        " (min/max)", "1MS", verified=False, max_window="365D", lag="-7D", publication="0 0 * * *"),
    _ds("load_forecast_year_ahead", "fundamentals", "Year-ahead total load forecast [6.1.E] A65/A33"
        " (weekly min/max)", "365D", verified=True, max_window="365D", lag="-16D",
        publication="0 0 16 12 *"),
    _ds("generation_actual_per_type", "fundamentals", "Actual generation per production type [16.1.B&C]"
        " A75/A16 (generation_<type>, consumption_<type>)", "15min", verified=True, max_window="365D",
        lag="1h", publication="*/15 * * * *"),
    _ds("installed_capacity_per_type", "fundamentals", "Installed generation capacity aggregated [14.1.A]"
        " A68/A33", "365D", verified=True, max_window="365D", lag="0min", publication="0 0 1 1 *"),
    _ds("wind_solar_forecast_day_ahead", "fundamentals", "Day-ahead generation forecasts for wind and"
        " solar [14.1.D] A69/A01", "1D", verified=True, max_window="365D", lag="-30h",
        publication="0 18 * * *"),
    _ds("generation_forecast_day_ahead", "fundamentals", "Day-ahead aggregated generation forecast"
        " [14.1.C] A71/A01", "1D", verified=True, max_window="365D", lag="-30h", publication="0 18 * * *"),
    _ds("physical_flows", "fundamentals", "Cross-border physical flows [12.1.G] A11 (area = out_Domain,"
        " area_to = in_Domain)", "15min", verified=True, max_window="365D", lag="1h",
        publication="*/15 * * * *"),
    _ds("net_position_day_ahead", "fundamentals", "Implicit allocations, day-ahead net positions [12.1.E]"
        " A25/B09 contract A01", "1D", verified=False, max_window="365D", lag="-35h10min", publication=_DA),
    _ds("net_position_intraday", "fundamentals", "Implicit allocations, intraday net positions [12.1.E]"
        " A25/B09 contract A07", "15min", verified=True, max_window="365D", lag="1h",
        publication="*/15 * * * *"),
    _ds("ntc_day_ahead", "fundamentals", "Forecasted day-ahead transfer capacities (NTC) [11.1] A61",
        "1D", verified=True, max_window="365D", lag="-37h", publication="0 11 * * *"),
    _ds("gui_day_ahead_prices", "prices", "Website export 'Energy Prices' CSV (day-ahead, CET/CEST MTU);"
        " file only, no API", "1D", verified=True, max_window="365D", lag="-35h10min", publication=_DA),
    _ds("gui_load", "fundamentals", "Website export 'Total Load - Day Ahead / Actual' CSV; file only",
        "1h", verified=True, max_window="365D", lag="1h"),
    _ds("gui_hydro_reservoirs", "fundamentals", "Website export 'Water Reservoirs and Hydro Storage Plants'"
        " CSV (weekly stored energy); file only", "7D", verified=True, max_window="365D", lag="3D"),
)  # fmt: skip


def _stamp(t: pd.Timestamp) -> str:
    return f"{t.tz_convert('UTC'):%Y%m%d%H%M}"


class ENTSOEIngestor(Ingestor):
    """ENTSO-E Transparency Platform: the web API and the website's CSV exports.

    Parameters
    ----------
    http : HttpClient, optional
        The shared HTTP client.
    zones : sequence of str, optional
        Short zone codes to pull (``"DE_LU"``), or borders ``"FROM>TO"`` for flows and capacities; by
        default :data:`PRICE_ZONES` / :data:`BORDERS`.
    """

    source = "entsoe"

    def __init__(self, http: object = None, zones: Sequence[str] | None = None) -> None:
        super().__init__(http)
        self.zones = tuple(zones) if zones else None

    def discover(self) -> Catalog:
        """Return ENTSO-E's datasets."""
        return Catalog("entsoe", DATASETS, RATE_LIMIT_S)

    def zones_of(self, dataset: str) -> tuple[str, ...]:
        """Return the zones (or ``FROM>TO`` borders) a pull of ``dataset`` asks for."""
        kind = QUERIES[dataset][2]
        if self.zones:
            return self.zones
        return BORDERS if kind == "border" else PRICE_ZONES

    def request(self, dataset: str, zone: str, day: pd.Timestamp) -> tuple[str, dict[str, str]]:
        """Return the URL and query of ``dataset`` for ``zone`` and the Brussels day starting at ``day``.

        ``zone`` is a short code (``"NL"``), or ``"FROM>TO"`` for physical flows and capacities
        (``out_Domain`` FROM, ``in_Domain`` TO). ``day`` is a date or a local midnight; the period is that
        CET/CEST day (``periodStart``/``periodEnd`` in UTC, 23 or 25 hours on DST days). The ``securityToken``
        parameter is not included (it is added when fetching).
        """
        self.discover().dataset(dataset)
        if dataset not in QUERIES:
            raise ValueError(f"entsoe/{dataset} is a website export: it has no API request")
        doc_type, fixed, kind = QUERIES[dataset]
        local = pd.Timestamp(day)
        local = local.tz_localize(TZ) if local.tzinfo is None else local.tz_convert(TZ)
        start = local.normalize()
        end = (start.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(TZ)
        params: dict[str, str] = {"documentType": doc_type, **fixed}
        if kind == "load":
            params["outBiddingZone_Domain"] = eic(zone)
        elif kind == "zone":
            params["in_Domain"] = eic(zone)
        elif kind == "border_self":
            params["in_Domain"] = params["out_Domain"] = eic(zone)
        else:
            if ">" not in zone:
                raise ValueError(f"entsoe/{dataset} is asked per border 'FROM>TO', got {zone!r}")
            a, b = zone.split(">", 1)
            params["out_Domain"], params["in_Domain"] = eic(a), eic(b)
        params["periodStart"], params["periodEnd"] = _stamp(start), _stamp(end)
        return API, params

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one payload per Brussels day and zone of the request's window.

        The day's payloads carry the day's window on the last one only (the list's first zone, asked
        last), so the runner's watermark passes a day once every zone of it is stored.
        """
        if self.http is None:
            raise ParseError("entsoe: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        if request.dataset not in QUERIES:
            raise ParseError(
                f"entsoe/{request.dataset} is a website export: parse files, it cannot be pulled"
            )
        token = os.environ.get(TOKEN_ENV, "")
        replay = getattr(self.http, "mode", "live") == "replay"
        if not token and not replay:
            raise ParseError(f"entsoe: set {TOKEN_ENV} to the Transparency Platform security token")
        # The first zone of the list (DE_LU, DE_LU>FR) is asked last and carries the day's window: when it
        # has no rows yet, the day is not published and the runner stops there without a checkpoint; an
        # empty answer of another zone (a zone without that document) is archived and the run goes on.
        listed = self.zones_of(request.dataset)
        zones = [*listed[1:], listed[0]]
        secret = None if replay else {"securityToken": token}  # sent, never recorded
        for day in local_days(request.start_utc, request.end_utc, TZ):
            for k, zone in enumerate(zones):
                url, params = self.request(request.dataset, zone, day)
                resp = self.http.get("entsoe", url, params, min_interval_s=RATE_LIMIT_S, secret_params=secret)
                last = k == len(zones) - 1
                yield RawPayload(
                    "entsoe", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                    resp.content_type, day.tz_convert("UTC") if last else None,
                    (day + pd.DateOffset(days=1)).tz_convert("UTC") if last else None,
                    meta={**params, "zone": zone},
                )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload (an API document, a cassette of one, or a website CSV export) to canonical rows."""
        dataset = self.discover().dataset(raw.dataset)
        if raw.dataset in GUI_PARSERS:
            return GUI_PARSERS[raw.dataset](raw.body, unquote(raw.url))
        body = raw.body
        if is_cassette(body):
            body, _ = unwrap_cassette(body)
        return parse_document(body, dataset.table, raw.dataset)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the document (type, process, contract), a cassette's request or a CSV header.

        Acknowledgements (no data) name their dataset by the request (cassettes), the file name
        (``__A44__`` with ``intraday``) or the data item of their reason text (``[12.1.D]``).
        """
        params: dict[str, str] = {}
        if is_cassette(body):
            body, params = unwrap_cassette(body)
            found = params_dataset(params)
            if found:
                return found
        head = body.lstrip()[:1]
        if head == b"<":
            doc = _Doc(body)
            found = doc_dataset(doc)
            if found:
                return found
            if doc.kind == "Acknowledgement_MarketDocument":
                name = filename.lower()
                m = re.search(r"__(a\d\d)(?:_(a\d\d))?__", name)
                if m:
                    contract = "A07" if "intraday" in name else "A01"
                    key = (m.group(1).upper(), m.group(2).upper() if m.group(2) else contract)
                    if key in DOC_DATASETS:
                        return DOC_DATASETS[key]
                found = ack_dataset(doc.reason()[1])
                if found:
                    return found
        else:
            found = gui_dataset(body)
            if found:
                return found
        return super().detect_dataset(filename, body)
