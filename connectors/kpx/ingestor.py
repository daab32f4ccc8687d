"""KPX connector: real-time supply and demand, and generation by source per day (new.kpx.or.kr pages).

The real-time page is a live document: each fetch gives today's readings so far (and last week's same day),
so a pull fetches it once and covers the part of the window that has passed. The historical page is a form:
``POST powerSource.es?mid=a10606030000&device=chart`` with ``view_sdate`` = ``view_edate`` = the KST day and
the session's CSRF token (``_csrf``, read from the same page fetched by GET first; left out of the
recorded request). Conventions and evidence are in :mod:`marketintel.connectors.kpx.mapping`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.kpx.mapping import TZ, parse_historical, parse_realtime
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

BASE = "https://new.kpx.or.kr"
REALTIME_URL = f"{BASE}/powerinfoSubmain.es"
HISTORICAL_URL = f"{BASE}/powerSource.es"
#: KPX publishes no request limit; a page every 10 s is polite for 5-minute data
RATE_LIMIT_S = 10.0
_CSRF = re.compile(r'name="_csrf"\s+value="([^"]+)"')

DATASETS = (
    Dataset(
        "realtime_supply_demand",
        "fundamentals",
        "실시간 전력수급현황: supply capacity and reserve, market and total demand (today and a"
        " week earlier), generation by source; 5-minute instantaneous readings [MW]",
        "5min",
        TZ,
        verified=True,
        max_window="1D",
        lag="0min",
        publication="*/5 * * * *",
    ),
    Dataset(
        "generation_by_source_5min",
        "fundamentals",
        "발전원별 전력수급현황 for one day (historical chart page): generation by source,"
        " 5-minute readings [MW]",
        "1D",
        TZ,
        verified=True,
        max_window="1D",
        lag="0min",
        publication="5 0 * * *",  # the finished day, just after KST midnight
    ),
)


class KPXIngestor(Ingestor):
    """Korea Power Exchange: real-time supply/demand and generation by source (mainland)."""

    source = "kpx"

    def discover(self) -> Catalog:
        """Return KPX's datasets."""
        return Catalog("kpx", DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str, day: pd.Timestamp | None = None) -> tuple[str, dict[str, str]]:
        """Return the URL and query (GET) or form (POST) of ``dataset``.

        ``realtime_supply_demand``: ``GET https://new.kpx.or.kr/powerinfoSubmain.es?mid=a10606030000``.
        ``generation_by_source_5min``: ``POST https://new.kpx.or.kr/powerSource.es`` with the form
        ``{"mid": "a10606030000", "device": "chart", "view_sdate": day, "view_edate": day}`` (``day`` as
        ``YYYY-MM-DD`` in KST), plus the session's ``_csrf`` token at fetch time.
        """
        self.discover().dataset(dataset)
        if dataset == "realtime_supply_demand":
            return REALTIME_URL, {"mid": "a10606030000"}
        if day is None:
            raise ValueError("kpx/generation_by_source_5min is asked by KST day; give the day")
        local = day.tz_convert(TZ) if day.tzinfo is not None else day
        date = f"{local:%Y-%m-%d}"
        return HISTORICAL_URL, {
            "mid": "a10606030000",
            "device": "chart",
            "view_sdate": date,
            "view_edate": date,
        }

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the real-time page once, or the historical page of each KST day of the window."""
        if self.http is None:
            raise ParseError("kpx: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        if request.dataset == "realtime_supply_demand":
            url, params = self.request(request.dataset)
            resp = self.http.get("kpx", url, params, min_interval_s=RATE_LIMIT_S)
            now = pd.Timestamp.now(tz="UTC")
            # the page holds today's readings (and a week-old day's): it covers the passed part of today
            start = max(request.start_utc, now.tz_convert(TZ).normalize().tz_convert("UTC"))
            end = min(request.end_utc, now)
            covered = end > start
            yield RawPayload(
                "kpx", request.dataset, url, resp.body, now, resp.status, resp.content_type,
                start if covered else None, end if covered else None, meta=params,
            )  # fmt: skip
            return
        page = self.http.get(
            "kpx", HISTORICAL_URL, {"mid": "a10606030000", "device": "chart"}, min_interval_s=RATE_LIMIT_S
        )
        m = _CSRF.search(page.body.decode("utf-8", errors="replace"))
        token = m.group(1) if m else ""
        for day in local_days(request.start_utc, request.end_utc, TZ):
            url, form = self.request(request.dataset, day)
            resp = self.http.post(
                "kpx", url, {**form, "_csrf": token}, min_interval_s=RATE_LIMIT_S, volatile=("_csrf",)
            )
            yield RawPayload(
                "kpx", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC"),
                meta=form,
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one page to ``fundamentals`` rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "realtime_supply_demand":
            return parse_realtime(raw.body)
        return parse_historical(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the page: the real-time one has the supply capacity cell, the historical one the day form."""
        if b'id="avil"' in body and b"var ictArr" in body:
            return "realtime_supply_demand"
        if b"var ictArr" in body and b'id="view_sdate"' in body:
            return "generation_by_source_5min"
        return super().detect_dataset(filename, body)
