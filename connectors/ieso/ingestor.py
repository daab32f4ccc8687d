"""IESO connector: public XML reports at reports-public.ieso.ca, one file per delivery day, hour or year.

File naming (the recorded files carry the same date parts): daily reports are
``<Report>/PUB_<Report>_YYYYMMDD.xml`` for an EST delivery day; hourly reports (Realtime Constrained
Totals, Real-Time Ontario Zonal Price) ``PUB_<Report>_YYYYMMDDHH.xml`` where ``HH`` is the hour *ending*
01..24 (``full_RealtimeConstTotals_2017070101.xml`` holds ``DeliveryHour`` 1 of 2017-07-01); the Generator
Output by Fuel Type Hourly report is one file per year, ``PUB_GenOutputbyFuelHourly_YYYY.xml``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd

from marketintel.connectors.ieso import reports
from marketintel.connectors.ieso.mapping import (
    EST,
    TITLES,
    parse_da_zonal_price,
    parse_rt_zonal_price,
    parse_vg_forecast,
)
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

BASE = "https://reports-public.ieso.ca/public"
#: IESO's public report site states no request limit; we keep to one request a second.
RATE_LIMIT_S = 1.0
#: dataset -> IESO report id (the ``docID`` of the XML root and the report's folder on the site)
REPORT_IDS = {
    "lmp_day_ahead_zonal_hourly": "DAHourlyOntarioZonalPrice",
    "lmp_real_time_zonal_5min": "RealtimeOntarioZonalPrice",
    "vg_forecast_hourly": "VGForecastSummary",
    "adequacy_forecast_hourly": "Adequacy2",
    "generator_output_capability_hourly": "GenOutputCapability",
    "generation_by_fuel_hourly": "GenOutputbyFuelHourly",
    "intertie_schedule_flow": "IntertieScheduleFlow",
    "constrained_totals_predispatch_hourly": "PredispConstTotals",
    "constrained_totals_real_time_5min": "RealtimeConstTotals",
}
HOURLY_FILES = {"lmp_real_time_zonal_5min", "constrained_totals_real_time_5min"}
YEARLY_FILES = {"generation_by_fuel_hourly"}
PARSERS: dict[str, Callable[[bytes], pd.DataFrame]] = {
    "lmp_day_ahead_zonal_hourly": parse_da_zonal_price,
    "lmp_real_time_zonal_5min": parse_rt_zonal_price,
    "vg_forecast_hourly": parse_vg_forecast,
    "adequacy_forecast_hourly": reports.parse_adequacy,
    "generator_output_capability_hourly": reports.parse_gen_output_capability,
    "generation_by_fuel_hourly": reports.parse_gen_output_by_fuel,
    "intertie_schedule_flow": reports.parse_intertie_flow,
    "constrained_totals_predispatch_hourly": reports.parse_predispatch_totals,
    "constrained_totals_real_time_5min": reports.parse_realtime_totals,
}
#: file-name fragments of saved reports whose body does not name the report (lower case)
FILE_NAMES = {
    "gen_output_capability": "generator_output_capability_hourly",
    "genoutputcapability": "generator_output_capability_hourly",
    "adequacy": "adequacy_forecast_hourly",
}
DATASETS = (
    Dataset(
        "lmp_day_ahead_zonal_hourly", "prices", "Day-ahead hourly Ontario zonal energy price", "1D", EST, True
    ),
    Dataset(
        "lmp_real_time_zonal_5min",
        "prices",
        "Real-time 5-minute Ontario zonal energy price (one file per delivery hour; documented format)",
        "5min",
        EST,
        False,
    ),
    Dataset(
        "vg_forecast_hourly",
        "fundamentals",
        "Variable generation (wind, solar) forecast summary",
        "1D",
        EST,
        True,
    ),
    Dataset(
        "adequacy_forecast_hourly",
        "fundamentals",
        "Adequacy report: forecast demand, supply by fuel, imports/exports, reserves per delivery hour",
        "1h",
        EST,
        True,
    ),
    Dataset(
        "generator_output_capability_hourly",
        "fundamentals",
        "Generators output and capability: hourly output, capability, available capacity per generator",
        "1h",
        EST,
        True,
    ),
    Dataset(
        "generation_by_fuel_hourly",
        "fundamentals",
        "Generator output by fuel type, hourly (one file per year)",
        "1D",
        EST,
        True,
        max_window="366D",
    ),
    Dataset(
        "intertie_schedule_flow",
        "fundamentals",
        "Intertie schedules (hourly) and actual flows (5-minute) per intertie zone",
        "1h",
        EST,
        True,
    ),
    Dataset(
        "constrained_totals_predispatch_hourly",
        "fundamentals",
        "Predispatch constrained totals: hourly energy, load, losses, reserves forecast",
        "1h",
        EST,
        True,
    ),
    Dataset(
        "constrained_totals_real_time_5min",
        "fundamentals",
        "Realtime constrained totals: 5-minute Ontario demand, energy, load, losses, reserves",
        "1h",
        EST,
        True,
    ),
)


class IESOIngestor(Ingestor):
    """Ontario IESO public reports."""

    source = "ieso"

    def discover(self) -> Catalog:
        """Return IESO's datasets."""
        return Catalog("ieso", DATASETS, RATE_LIMIT_S)

    def report_url(self, dataset: str, day: pd.Timestamp) -> str:
        """Return the URL of the report of ``dataset`` covering the EST period starting at ``day``.

        ``day`` is an EST day start for daily reports, the start of an EST hour for hourly reports (the
        file is named after its hour *ending*: 00:00-01:00 EST is ``...01``, 23:00-24:00 is ``...24``) and
        any time in the year for the yearly report.
        """
        report = REPORT_IDS[dataset]
        if dataset in HOURLY_FILES:
            return f"{BASE}/{report}/PUB_{report}_{day:%Y%m%d}{day.hour + 1:02d}.xml"
        if dataset in YEARLY_FILES:
            return f"{BASE}/{report}/PUB_{report}_{day:%Y}.xml"
        return f"{BASE}/{report}/PUB_{report}_{day:%Y%m%d}.xml"

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one report per EST delivery day (hour for hourly reports, year for the yearly one)."""
        self.discover().dataset(request.dataset)
        if request.dataset not in HOURLY_FILES | YEARLY_FILES:
            yield from self.fetch_daily(
                request, EST, lambda day: (self.report_url(request.dataset, day), None), RATE_LIMIT_S
            )
            return
        if self.http is None:
            raise ParseError("ieso: no HTTP client given (HttpClient live, record or replay)")
        start, end = request.start_utc.tz_convert(EST), request.end_utc.tz_convert(EST)
        if request.dataset in HOURLY_FILES:
            periods = pd.date_range(start.floor("h"), end, freq="h", inclusive="left")
            step = pd.DateOffset(hours=1)
        else:
            first = pd.Timestamp(year=start.year, month=1, day=1, tz=EST)
            periods = pd.date_range(first, end, freq="YS", inclusive="left")
            step = pd.DateOffset(years=1)
        for period in periods:
            url = self.report_url(request.dataset, period)
            resp = self.http.get(self.source, url, None, min_interval_s=RATE_LIMIT_S)
            yield RawPayload(
                self.source, request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, period.tz_convert("UTC"), (period + step).tz_convert("UTC"),
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one report to canonical rows."""
        self.discover().dataset(raw.dataset)
        return PARSERS[raw.dataset](raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the dataset from the root's ``docID``, else the ``DocTitle``, else the file name.

        The root element and namespace differ between reports (``Document`` in ``ieso.ca/schema``,
        ``IMODocument`` in ``theIMO.com/schema``) but every one names itself in ``docID``; a reduced copy
        without it still carries its ``DocTitle``.
        """
        head = body[:2000]
        for dataset, report in REPORT_IDS.items():
            if f'docID="{report}"'.encode() in head:
                return dataset
        by_report = {report: dataset for dataset, report in REPORT_IDS.items()}
        for title, report in TITLES.items():
            if f"<DocTitle>{title}</DocTitle>".encode() in head or f":DocTitle>{title}<".encode() in head:
                return by_report[report]
        name = filename.lower()
        for fragment, dataset in FILE_NAMES.items():
            if fragment in name:
                return dataset
        return super().detect_dataset(filename, body)
