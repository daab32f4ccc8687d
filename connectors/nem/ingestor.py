"""AEMO NEM connector: NEMweb MMSDM monthly archive, ``/Reports/Current`` files, the aemo.com.au 5-minute API.

History comes from the MMSDM monthly archive, one zip per table and month::

    https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/<yyyy>/MMSDM_<yyyy>_<mm>/
        MMSDM_Historical_Data_SQLLoader/DATA/<file>

in two naming eras: ``PUBLIC_DVD_<TABLE>_<yyyymm>010000.zip`` up to 2024-07 and
``PUBLIC_ARCHIVE#<TABLE>#FILE01#<yyyymm>010000.zip`` from 2024-08 (the ``#`` is ``%23`` in the file's
name as saved and ``%2523`` in the URL, since the server's file name itself holds ``%23``); see
:meth:`NEMIngestor.archive_url`. A month's archive appears about 5-6 weeks after the month ends.

Recent data comes from ``https://nemweb.com.au/Reports/Current/<folder>/``: the directory listing is
fetched (:meth:`NEMIngestor.listing_url`, parsed by :mod:`marketintel.connectors.nem.listings`), then the
files whose interval falls in the window (:meth:`NEMIngestor.pull_or_subscribe`). DispatchIS and TradingIS
files are issued every 5 minutes, about a minute after the dispatch run (``publication "*/5 * * * *"``,
``lag "1min"``). Conventions and their evidence: :mod:`marketintel.connectors.nem.mapping`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.nem.listings import parse_listing
from marketintel.connectors.nem.mapping import MMS_MAPPERS, TZ, parse_mms, parse_web_price, parse_web_region
from marketintel.ingest.sdk import LISTING, Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

NEMWEB = "https://nemweb.com.au"
ARCHIVE = f"{NEMWEB}/Data_Archive/Wholesale_Electricity/MMSDM"
CURRENT = f"{NEMWEB}/Reports/Current"
WEB_API = "https://visualisations.aemo.com.au/aemo/apps/api/report/5MIN"
#: first month named ``PUBLIC_ARCHIVE#<TABLE>#FILE01#...``
ARCHIVE_ERA = pd.Period("2024-08", "M")
#: AEMO publishes no request limit for NEMweb; one request a second is polite
RATE_LIMIT_S = 1.0
FIVE = pd.Timedelta(minutes=5)
#: how long after a month ends its MMSDM archive is expected [days]
ARCHIVE_DELAY_DAYS = 45

#: dataset -> (MMSDM archive table or "", /Reports/Current folder or "")
LOCATIONS: dict[str, tuple[str, str]] = {
    "dispatch_price": ("DISPATCHPRICE", "DispatchIS_Reports"),
    "trading_price": ("TRADINGPRICE", "TradingIS_Reports"),
    "dispatch_region_summary": ("DISPATCHREGIONSUM", "DispatchIS_Reports"),
    "trading_region_summary": ("TRADINGREGIONSUM", "TradingIS_Reports"),
    "unit_scada": ("DISPATCH_UNIT_SCADA", "Dispatch_SCADA"),
    "rooftop_pv_actual": ("ROOFTOP_PV_ACTUAL", "ROOFTOP_PV/ACTUAL"),
    "market_price_thresholds": ("MARKET_PRICE_THRESHOLDS", ""),
    "bid_per_offer": ("BIDPEROFFER_D", ""),
    "daily_dispatch_price": ("", "Daily_Reports"),
    "daily_region_summary": ("", "Daily_Reports"),
    "next_day_unit_solution": ("", "Next_Day_Dispatch"),
    "next_day_intermittent_gen_scada": ("", "Next_Day_Intermittent_Gen_Scada"),
    "operational_demand_forecast": ("", "Operational_Demand/FORECAST_HH"),
}
#: /Reports/Current file-name prefixes per dataset (the listing holds only them, but DUPLICATE etc. exist)
CURRENT_PREFIX = {
    "DispatchIS_Reports": "PUBLIC_DISPATCHIS_",
    "TradingIS_Reports": "PUBLIC_TRADINGIS_",
    "Dispatch_SCADA": "PUBLIC_DISPATCHSCADA_",
    "ROOFTOP_PV/ACTUAL": "PUBLIC_ROOFTOP_PV_ACTUAL_",
    "Daily_Reports": "PUBLIC_DAILY_",
    "Next_Day_Dispatch": "PUBLIC_NEXT_DAY_DISPATCH_",
    "Next_Day_Intermittent_Gen_Scada": "PUBLIC_NEXT_DAY_INTERMITTENT_GEN_SCADA_",
    "Operational_Demand/FORECAST_HH": "PUBLIC_FORECAST_OPERATIONAL_DEMAND_HH_",
}


def _ds(name: str, table: str, description: str, cadence: str, verified: bool = True, **kw: str) -> Dataset:
    return Dataset(name, table, description, cadence, TZ, verified=verified, **kw)


DATASETS = (
    _ds("dispatch_price", "prices", "Dispatch price (DISPATCHPRICE RRP, pricing run) per region, 5-minute:"
        " MMSDM archive and DispatchIS reports", "5min", max_window="31D", lag="1min",
        publication="*/5 * * * *"),
    _ds("trading_price", "prices", "Trading price (TRADINGPRICE RRP) per region: 30-minute to 2021-09,"
        " 5-minute from 2021-10-01 (5MS)", "5min", max_window="31D", lag="1min", publication="*/5 * * * *"),
    _ds("dispatch_region_summary", "fundamentals", "DISPATCHREGIONSUM: total demand, available and"
        " dispatchable generation, net interchange per region, 5-minute", "5min", max_window="31D",
        lag="1min", publication="*/5 * * * *"),
    _ds("trading_region_summary", "fundamentals", "TRADINGREGIONSUM: regional demand and generation per"
        " trading interval", "5min", max_window="31D", lag="1min", publication="*/5 * * * *"),
    _ds("unit_scada", "fundamentals", "DISPATCH_UNIT_SCADA: each unit's (DUID) SCADA MW at the start of the"
        " dispatch interval; archive and Dispatch_SCADA reports", "5min", max_window="31D", lag="0min",
        publication="*/5 * * * *"),
    _ds("rooftop_pv_actual", "fundamentals", "ROOFTOP_PV_ACTUAL: estimated rooftop PV per region"
        " (measurement and satellite), 30-minute", "30min", max_window="31D", lag="20min",
        publication="*/30 * * * *"),
    _ds("market_price_thresholds", "fundamentals", "MARKET_PRICE_THRESHOLDS: market price cap (VOLL),"
        " floor and cumulative price threshold over their effective intervals", "1D", max_window="31D"),
    _ds("bid_per_offer", "fundamentals", "BIDPEROFFER_D: each unit's offered maximum availability per bid"
        " type and 5-minute interval (bids public the next day)", "1D", max_window="31D", lag="1D"),
    _ds("daily_dispatch_price", "prices", "PUBLIC_DAILY report: DREGION dispatch prices of the trading day"
        " (04:05..04:00)", "1D", max_window="1D", lag="5min", publication="5 4 * * *"),
    _ds("daily_region_summary", "fundamentals", "PUBLIC_DAILY report: DREGION demand, generation and"
        " interchange of the trading day", "1D", max_window="1D", lag="5min", publication="5 4 * * *"),
    _ds("next_day_unit_solution", "fundamentals", "NEXT_DAY_DISPATCH: each unit's dispatch target"
        " (TOTALCLEARED) of the previous trading day", "1D", max_window="1D", lag="10min",
        publication="10 4 * * *"),
    _ds("next_day_intermittent_gen_scada", "fundamentals", "NEXT_DAY_INTERMITTENT_GEN_SCADA: semi-scheduled"
        " units' elements available and local limits", "1D", max_window="1D", lag="11min",
        publication="11 4 * * *"),
    _ds("operational_demand_forecast", "fundamentals", "FORECAST_OPERATIONAL_DEMAND_HH: half-hourly"
        " operational demand forecast POE10/50/90 per region, about 9 days ahead", "30min",
        max_window="1D", lag="-9D", publication="*/30 * * * *"),
    _ds("web_5min_price", "prices", "aemo.com.au visualisation API 5MIN: regional dispatch price (ACTUAL"
        " rows) of the last ~2 days", "5min", max_window="2D", lag="1min", publication="*/5 * * * *"),
    _ds("web_5min_region", "fundamentals", "aemo.com.au visualisation API 5MIN: regional demand,"
        " interchange and generation (ACTUAL rows)", "5min", max_window="2D", lag="1min",
        publication="*/5 * * * *"),
    _ds("listing", LISTING, "NEMweb /Reports/Current directory listing (which files exist)", "5min",
        max_window="2D"),
)  # fmt: skip

#: archive table name -> dataset (for detection by file name)
_BY_TABLE = {table: name for name, (table, _) in LOCATIONS.items() if table}
_ARCHIVE_NAME = re.compile(
    r"^PUBLIC_(?:DVD_(?P<dvd>[A-Z0-9_]+?)|ARCHIVE(?:%23|#)(?P<arc>[A-Z0-9_]+?)(?:%23|#)FILE\d+(?:%23|#))_?(?P<month>\d{6})010000",
    re.IGNORECASE,
)
#: /Reports/Current file-name prefix -> dataset
_BY_PREFIX = (
    ("PUBLIC_DAILY_", "daily_dispatch_price"),
    ("PUBLIC_NEXT_DAY_DISPATCH_", "next_day_unit_solution"),
    ("PUBLIC_NEXT_DAY_INTERMITTENT_GEN_SCADA_", "next_day_intermittent_gen_scada"),
    ("PUBLIC_FORECAST_OPERATIONAL_DEMAND_HH_", "operational_demand_forecast"),
    ("PUBLIC_DISPATCHSCADA_", "unit_scada"),
    ("PUBLIC_DISPATCHIS_", "dispatch_price"),
    ("PUBLIC_TRADINGIS_", "trading_price"),
    ("PUBLIC_ROOFTOP_PV_ACTUAL_", "rooftop_pv_actual"),
)


class NEMIngestor(Ingestor):
    """Australian Energy Market Operator, National Electricity Market (NEMweb and aemo.com.au)."""

    source = "nem"

    def discover(self) -> Catalog:
        """Return the NEM's datasets."""
        return Catalog("nem", DATASETS, RATE_LIMIT_S)

    # -- requests ------------------------------------------------------------------------------------
    @staticmethod
    def archive_file(table: str, month: pd.Period | str) -> str:
        """Return the MMSDM archive file name of ``table`` and ``month`` as the server names it.

        ``PUBLIC_DVD_DISPATCHPRICE_202407010000.zip`` up to 2024-07,
        ``PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202408010000.zip`` from 2024-08 (the ``%23`` is part
        of the file's name).
        """
        m = pd.Period(month, "M")
        if m >= ARCHIVE_ERA:
            return f"PUBLIC_ARCHIVE%23{table}%23FILE01%23{m:%Y%m}010000.zip"
        return f"PUBLIC_DVD_{table}_{m:%Y%m}010000.zip"

    @classmethod
    def archive_url(cls, table: str, month: pd.Period | str) -> str:
        """Return the URL of the MMSDM monthly archive of ``table`` (``"DISPATCHPRICE"``) for ``month``.

        The ``%23`` of the file name is escaped again in the URL (``%2523``).
        """
        m = pd.Period(month, "M")
        name = cls.archive_file(table, m).replace("%", "%25")
        return f"{ARCHIVE}/{m:%Y}/MMSDM_{m:%Y}_{m:%m}/MMSDM_Historical_Data_SQLLoader/DATA/{name}"

    @staticmethod
    def listing_url(dataset: str) -> str:
        """Return the ``/Reports/Current`` directory listing URL that holds ``dataset``'s live files."""
        folder = LOCATIONS.get(dataset, ("", ""))[1]
        if not folder:
            raise ValueError(f"nem/{dataset} has no /Reports/Current folder (archive only)")
        return f"{CURRENT}/{folder}/"

    def request(
        self, dataset: str, month: pd.Period | str | None = None
    ) -> tuple[str, dict[str, str] | None]:
        """Return the URL (no query) of ``dataset``: its MMSDM archive for ``month``, else the live one.

        Without ``month`` the answer is the live source: the ``/Reports/Current`` listing of the dataset's
        folder (its files are then fetched by the URLs the listing gives), or the visualisation API.
        """
        self.discover().dataset(dataset)
        if dataset.startswith("web_5min"):
            return WEB_API, None
        if dataset == "listing":
            return self.listing_url("dispatch_price"), None
        table = LOCATIONS[dataset][0]
        if month is not None:
            if not table:
                raise ValueError(f"nem/{dataset} is a /Reports/Current report with no MMSDM archive")
            return self.archive_url(table, month), None
        return self.listing_url(dataset), None

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the payloads of the request's window.

        Archive tables: one monthly zip per AEST month whose archive should exist (the month ended more
        than :data:`ARCHIVE_DELAY_DAYS` ago); the rest of the window, and the Reports-only datasets, from
        the ``/Reports/Current`` listing: the listing is fetched, then every file of the dataset's prefix
        whose interval (or publication, for daily reports) falls in the window.
        """
        if self.http is None:
            raise ParseError("nem: no HTTP client given (HttpClient live, record or replay)")
        ds = self.discover().dataset(request.dataset)
        if ds.name.startswith("web_5min") or ds.name == "listing":
            url, _ = self.request(ds.name)
            resp = self.http.get("nem", url, None, min_interval_s=RATE_LIMIT_S)
            now = pd.Timestamp.now(tz="UTC")
            end = min(request.end_utc, now)
            yield RawPayload("nem", ds.name, url, resp.body, now, resp.status, resp.content_type,
                             request.start_utc, max(end, request.start_utc + FIVE))  # fmt: skip
            return
        table, folder = LOCATIONS[ds.name]
        now = pd.Timestamp.now(tz="UTC")
        live_from = request.start_utc
        if table:
            local = pd.date_range(request.start_utc.tz_convert(TZ).floor("D"), request.end_utc.tz_convert(TZ),
                                  freq="D")  # fmt: skip
            for month in sorted({pd.Period(d.strftime("%Y-%m"), "M") for d in local}):
                m_start = pd.Timestamp(month.start_time).tz_localize(TZ).tz_convert("UTC")
                m_end = pd.Timestamp((month + 1).start_time).tz_localize(TZ).tz_convert("UTC")
                if m_end + pd.Timedelta(days=ARCHIVE_DELAY_DAYS) > now:
                    break
                url = self.archive_url(table, month)
                resp = self.http.get("nem", url, None, min_interval_s=RATE_LIMIT_S)
                yield RawPayload("nem", ds.name, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                                 resp.content_type, max(m_start, request.start_utc),
                                 min(m_end, request.end_utc))  # fmt: skip
                live_from = min(m_end, request.end_utc)
        if live_from >= request.end_utc or not folder:
            return
        listing_url = self.listing_url(ds.name)
        resp = self.http.get("nem", listing_url, None, min_interval_s=RATE_LIMIT_S)
        files = parse_listing(resp.body)
        files = files[files["name"].str.upper().str.startswith(CURRENT_PREFIX[folder])]
        stamp = files["covers_start_utc"].fillna(files["published_at_utc"])
        files = files[(stamp >= live_from) & (stamp < request.end_utc)]
        for url, covers in zip(files["url"], stamp[files.index], strict=True):
            got = self.http.get("nem", str(url), None, min_interval_s=RATE_LIMIT_S)
            start = pd.Timestamp(covers)
            yield RawPayload("nem", ds.name, str(url), got.body, pd.Timestamp.now(tz="UTC"), got.status,
                             got.content_type, start, start + FIVE)  # fmt: skip

    # -- parsing -------------------------------------------------------------------------------------
    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "listing":
            return parse_listing(raw.body)
        if raw.dataset == "web_5min_price":
            return parse_web_price(raw.body)
        if raw.dataset == "web_5min_region":
            return parse_web_region(raw.body)
        return parse_mms(raw.dataset, raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the file name (archive table, report prefix) or the content."""
        name = filename.rsplit("/", 1)[-1].upper()
        m = _ARCHIVE_NAME.match(name)
        if m:
            table = (m.group("dvd") or m.group("arc")).upper()
            if table in _BY_TABLE:
                return _BY_TABLE[table]
        for prefix, dataset in _BY_PREFIX:
            if name.startswith(prefix):
                return dataset
        head = body.lstrip()[:3000]
        if head.startswith(b"{") and b'"5MIN"' in head:
            return "web_5min_price"
        if b"[To Parent Directory]" in head or (b"<pre>" in head.lower() and b"nemweb" in head.lower()):
            return "listing"
        return super().detect_dataset(filename, body)


__all__ = ["MMS_MAPPERS", "NEMIngestor"]
