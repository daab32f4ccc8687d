"""CME Group connector: NYMEX daily futures settlement file (``nymex_future.csv``) -> ``forward_quotes``.

CME publishes the settlements of every NYMEX futures contract once per trade date in one CSV,
``ftp://ftp.cmegroup.com/pub/settle/nymex_future.csv``, mirrored over HTTPS at :data:`URL` (the shared
HTTP client speaks HTTP only). The file is overwritten each trade date: **the endpoint holds only the
latest trade date, history is not available from it** (CME sells history through DataMine). A pull
therefore fetches the one current file; :meth:`CMEIngestor.map_to_schema` refuses it when it holds
another trade date than the one asked for, so a stale file is quarantined rather than filed under the
wrong day.

CME's web terms restrict automated access to its site, and its servers may refuse clients that do not
look like a browser (HTTP 403): the fetch is polite (one request per :data:`RATE_LIMIT_S`), but whether
the endpoint answers an unattended client was not verified.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from marketintel.connectors.cme.mapping import REQUIRED, SYMBOLS, TZ, header, parse_with_stats, trade_dates
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days

log = logging.getLogger(__name__)

URL = "https://www.cmegroup.com/ftp/pub/settle/nymex_future.csv"
#: One file per trade date, ~1.3 MB: one request a minute is plenty and polite.
RATE_LIMIT_S = 60.0
DATASET = "futures_settlements"
#: ``RawPayload.meta`` key of the trade date a fetch asked for (``YYYY-MM-DD``)
TRADE_DATE_META = "trade_date"

DATASETS = (
    Dataset(
        DATASET,
        "forward_quotes",
        "NYMEX futures daily settlements (nymex_future.csv): Henry Hub natural gas, PJM / MISO / NYISO / "
        "ERCOT power, NBP-Henry Hub basis, EUA",
        "1D",
        TZ,
        verified=True,
        max_window="1D",
    ),
)


class CMEIngestor(Ingestor):
    """CME Group / NYMEX daily settlement files."""

    source = "cme"

    def discover(self) -> Catalog:
        """Return the one dataset of the source and its rate limit."""
        return Catalog("cme", DATASETS, RATE_LIMIT_S)

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the current settlement file, as the payload of the window's last trade date.

        The endpoint serves only the latest trade date, so one request is made whatever the window; the
        payload covers the last local day (America/New_York) of the window and records that day as
        ``meta["trade_date"]``; earlier days of the window cannot be fetched (logged).

        Raises
        ------
        ParseError
            When no HTTP client was given.
        """
        self.discover().dataset(request.dataset)
        if self.http is None:
            raise ParseError("cme: no HTTP client given (HttpClient live, record or replay)")
        days = local_days(request.start_utc, request.end_utc, TZ)
        day = days[-1]
        if len(days) > 1:
            log.warning(
                "cme: %s holds only the latest trade date; %d earlier day(s) of the window are not "
                "available from it",
                URL,
                len(days) - 1,
            )
        resp = self.http.get("cme", URL, None, min_interval_s=RATE_LIMIT_S)
        yield RawPayload(
            "cme", request.dataset, URL, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
            resp.content_type, day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC"),
            meta={TRADE_DATE_META: f"{day:%Y-%m-%d}"},
        )  # fmt: skip

    def instruments(self, frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
        """Return the settled products as instruments, with their commodity (by unit) and NYMEX name."""
        out = super().instruments(frame, dataset)
        if out.empty:
            return out
        unit = out["unit"].str.lower()
        out["commodity"] = np.select(
            [unit.str.contains("mmbtu|therm"), unit.str.contains("co2")], ["gas", "carbon"], "power"
        )
        names = {(p.product, p.profile): p.description for p in SYMBOLS.values()}
        profiles = out["instrument_id"].str.rsplit(".", n=1).str[-1]  # MARKET.PRODUCT.PROFILE
        out["description"] = [names.get(k, "") for k in zip(out["product"], profiles, strict=True)]
        return out

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one settlement file to ``forward_quotes`` rows; log what was mapped and skipped.

        Raises
        ------
        ParseError
            On a bad payload (see :func:`marketintel.connectors.cme.mapping.parse_with_stats`), or when
            ``raw.meta["trade_date"]`` is set and the file holds another trade date.
        """
        self.discover().dataset(raw.dataset)
        frame, stats = parse_with_stats(raw.body)
        wanted = raw.meta.get(TRADE_DATE_META)
        if wanted:
            held = sorted({f"{d:%Y-%m-%d}" for d in trade_dates(raw.body)})
            if held != [wanted]:
                raise ParseError(
                    f"the file holds trade date(s) {held}, not {wanted}: {URL} has only the latest trade "
                    "date (no history)"
                )
        log.info(stats.summary())
        return frame

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Return ``futures_settlements`` for ``nymex_future*.csv`` files or a settlement CSV header."""
        name = filename.rsplit("/", 1)[-1].lower()
        if name.startswith("nymex_future") and name.endswith(".csv"):
            return DATASET
        try:
            names = header(body)
        except ParseError:
            return super().detect_dataset(filename, body)
        if all(column in names for column in REQUIRED):
            return DATASET
        return super().detect_dataset(filename, body)
