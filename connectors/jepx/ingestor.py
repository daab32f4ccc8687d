"""JEPX connector: the day-ahead spot market's yearly summary CSV (prices and volumes).

JEPX serves ``spot_summary_<FY>.csv`` through its download form: ``POST https://www.jepx.jp/_download.php``
with the form ``dir=spot_summary&file=spot_summary_<FY>.csv`` and the spot page as ``Referer`` (what the
"CSV download" button of ``https://www.jepx.jp/electricpower/market-data/spot/`` submits; the older
``/market/excel/spot_<FY>.csv`` links are gone). ``<FY>`` is the fiscal year, starting 1 April: 2024-03-31 is
in FY2023's file, 2024-04-01 in FY2024's. One file holds the whole year so far, so a pull asks once per
fiscal year that overlaps the window. Both datasets read the same file; conventions and their evidence are
in :mod:`marketintel.connectors.jepx.mapping`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from marketintel.connectors.jepx.mapping import (
    DATE_COL,
    SLOT_COL,
    TZ,
    parse_spot_prices,
    parse_spot_volumes,
)
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

DOWNLOAD_URL = "https://www.jepx.jp/_download.php"
SPOT_PAGE = "https://www.jepx.jp/electricpower/market-data/spot/"
#: JEPX publishes no request limit; one yearly file per request, so a polite 5 s costs nothing
RATE_LIMIT_S = 5.0

#: results of delivery day D at D-1 10:05 JST: its first slot (ending D 00:30) 14 h 25 min before its end,
#: every later slot earlier still
LAG = "-37h55min"  # published 10:05 JST the day before: 37 h 55 min before the day ends
PUBLICATION = "10 10 * * *"  # daily at 10:10 JST, five minutes after the results
DATASETS = (
    Dataset(
        "spot_prices_30min",
        "prices",
        "Day-ahead spot market (スポット市場) results: system price and nine area prices per 30-minute slot"
        " [JPY/kWh], from the yearly spot summary CSV",
        "1D",
        TZ,
        verified=True,
        max_window="366D",
        lag=LAG,
        publication=PUBLICATION,
    ),
    Dataset(
        "spot_volumes_30min",
        "fundamentals",
        "Day-ahead spot market volumes per 30-minute slot: sell and buy bids, contract volume, block bids and"
        " block contracts [MWh; published in kWh], from the yearly spot summary CSV",
        "1D",
        TZ,
        verified=True,
        max_window="366D",
        lag=LAG,
        publication=PUBLICATION,
    ),
)


def fiscal_year(day: pd.Timestamp) -> int:
    """Return the Japanese fiscal year (April to March) of a delivery day (tz-aware or naive JST)."""
    local = day.tz_convert(TZ) if day.tzinfo is not None else day
    return local.year if local.month >= 4 else local.year - 1


def fiscal_year_window(fy: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return ``[1 April fy, 1 April fy+1)`` in JST as UTC instants."""
    start = pd.Timestamp(f"{fy}-04-01", tz=TZ).tz_convert("UTC")
    return start, pd.Timestamp(f"{fy + 1}-04-01", tz=TZ).tz_convert("UTC")


class JEPXIngestor(Ingestor):
    """Japan Electric Power Exchange: day-ahead spot market results."""

    source = "jepx"

    def discover(self) -> Catalog:
        """Return JEPX's datasets."""
        return Catalog("jepx", DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str, day: pd.Timestamp) -> tuple[str, dict[str, str]]:
        """Return the URL and the POST form of the file holding delivery ``day`` of ``dataset``.

        Parameters
        ----------
        dataset : str
            ``spot_prices_30min`` or ``spot_volumes_30min`` (the same file).
        day : pd.Timestamp
            A delivery day (tz-aware, or naive JST); it selects the fiscal year's file.

        Returns
        -------
        tuple of (str, dict)
            ``("https://www.jepx.jp/_download.php", {"dir": "spot_summary", "file":
            "spot_summary_<FY>.csv"})``, to be POSTed with ``Referer: https://www.jepx.jp/electricpower/
            market-data/spot/``.
        """
        self.discover().dataset(dataset)
        return DOWNLOAD_URL, {"dir": "spot_summary", "file": f"spot_summary_{fiscal_year(day)}.csv"}

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one payload per fiscal year overlapping the window.

        The payload covers the part of the fiscal year inside the window and no later than the end of the
        next JST day (the latest delivery day an auction can have settled).
        """
        if self.http is None:
            raise ParseError("jepx: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        now = pd.Timestamp.now(tz="UTC")
        horizon = (now.tz_convert(TZ).normalize() + pd.DateOffset(days=2)).tz_convert("UTC")
        first, last = fiscal_year(request.start_utc), fiscal_year(request.end_utc - pd.Timedelta(1, "ms"))
        for fy in range(first, last + 1):
            fy_start, fy_end = fiscal_year_window(fy)
            url, form = self.request(request.dataset, fy_start)
            resp = self.http.post(
                "jepx", url, form, min_interval_s=RATE_LIMIT_S, headers={"Referer": SPOT_PAGE}
            )
            start = max(request.start_utc, fy_start)
            end = min(request.end_utc, fy_end, horizon)
            covered = end > start
            yield RawPayload(
                "jepx", request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, start if covered else None, end if covered else None, meta=form,
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one yearly spot summary to prices or volumes, by the payload's dataset."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "spot_prices_30min":
            return parse_spot_prices(raw.body)
        return parse_spot_volumes(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell a spot summary by its Shift-JIS header (受渡日, 時刻コード); its prices are the default.

        The same file also gives ``spot_volumes_30min`` (pass ``--dataset``).
        """
        head = body[:4000]
        first_line = max(
            (
                head.decode(enc, errors="ignore").lstrip("\ufeff").split("\n", 1)[0]
                for enc in ("cp932", "utf-8")
            ),
            key=lambda line: (DATE_COL in line) + (SLOT_COL in line),
        )
        if DATE_COL in first_line and SLOT_COL in first_line:
            return "spot_prices_30min"
        return super().detect_dataset(filename, body)
