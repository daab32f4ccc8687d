"""aWATTar's republication of the EPEX SPOT day-ahead prices for DE-LU (hourly).

What it is
    aWATTar, a German retailer, serves the EPEX SPOT / SDAC day-ahead prices of the DE-LU zone at
    ``api.awattar.de/v1/marketdata`` (JSON, ``marketprice`` in ``Eur/MWh`` per ``start_timestamp`` /
    ``end_timestamp`` in epoch milliseconds). The recordings are a collector's daily snapshots of it
    (elgohr/EPEX-DE-History, ``derived_awattar_DE_<day>.yaml``), re-keyed as flat ``key: value`` lines in
    **Cent/kWh**: ``date_start: 2023-10-29 00:00:00``, ``date_now`` (the snapshot's local time),
    ``price_unit: Cent/kWh``, summary statistics (``price_low``, ``price_threshold_NN``, not stored),
    ``data_price_hour_rel_<+-NN>_amount`` (hours relative to the snapshot, duplicates, not read) and
    ``data_price_hour_abs_<HH>_amount`` (the price of the hour starting at local ``HH``). Rows carry
    ``fidelity = "third_party"`` and the market ``AWATTAR_EPEX_DAY_AHEAD_HOURLY``, location ``DE_LU``.

DST days
    The ``abs`` keys are local wall-clock hours in order. On 2023-10-29 (25 hours) ``abs_02`` appears
    twice: the first is 02:00 CEST, the second 02:00 CET. A YAML loader keeps only the last of repeated
    keys, so the lines are read in order by hand. On 2024-03-31 (23 hours) there is no ``abs_02``. The
    number of hours must equal the local day's length.

Unit
    Stored in ``EUR/MWh`` (1 Cent/kWh = 10 EUR/MWh exactly; the snapshots' five decimals are exact in
    EUR/MWh): the unit aWATTar's own API and EPEX publish, so live answers and the archive agree, and the
    rows line up with ENTSO-E's DE_LU series. The collector's Cent/kWh is a display unit.

Publication
    The SDAC results for day D are out at about 12:45 CET on D-1 and aWATTar serves D from the early
    afternoon; ``published_at_utc`` = D-1 14:00 Europe/Berlin, or the snapshot's ``date_now`` if that is
    earlier (it never is in the recordings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

from marketintel.connectors.thirdparty.common import third_party_prices, utc_ms
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_to_utc

TZ = "Europe/Berlin"
SOURCE = "awattar"
MARKET = "AWATTAR_EPEX_DAY_AHEAD_HOURLY"
LOCATION = "DE_LU"
API_URL = "https://api.awattar.de/v1/marketdata"
_ABS = re.compile(r"^data_price_hour_abs_(\d{2})_amount$")
_CENT_PER_KWH = 10.0  # EUR/MWh per Cent/kWh

DATASETS = (
    Dataset(
        "day_ahead_hourly",
        "prices",
        "aWATTar API marketdata: EPEX SPOT day-ahead prices DE-LU, hourly (EUR/MWh); no recording of the"
        " JSON answer",
        "1h",
        TZ,
        verified=False,
        max_window="7D",
        lag="-10h",
        publication="0 14 * * *",
    ),
    Dataset(
        "day_ahead_hourly_archive",
        "prices",
        "aWATTar day-ahead prices DE-LU as archived by elgohr/EPEX-DE-History (flat YAML, Cent/kWh), stored"
        " in EUR/MWh",
        "1D",
        TZ,
        verified=True,
        max_window="1D",
        lag="-10h",
        publication="0 14 * * *",
    ),
)


def _published(day: pd.Timestamp, snapshot: pd.Timestamp | None, n: int) -> pd.Series:
    usual = local_to_utc(pd.DatetimeIndex([day - pd.Timedelta(hours=10)]), TZ)[0]
    when = usual if snapshot is None else min(usual, snapshot)
    return utc_ms([when] * n)


def parse_archive_yaml(body: bytes) -> pd.DataFrame:
    """Map one day of the archived aWATTar YAML to ``prices`` rows [EUR/MWh], hours in their order."""
    if not body.strip():
        raise ParseError("empty body")
    fields: dict[str, str] = {}
    hours: list[tuple[int, float]] = []
    for n, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ParseError(f"line {n} is not 'key: value': {line!r}")
        key, value = key.strip(), value.strip()
        m = _ABS.match(key)
        if m:
            try:
                hours.append((int(m.group(1)), float(value)))
            except ValueError:
                raise ParseError(f"line {n}: non-numeric price {value!r}") from None
        else:
            fields.setdefault(key, value)
    unit = fields.get("price_unit", "")
    if unit != "Cent/kWh":
        raise ParseError(f"price_unit {unit!r}; expected 'Cent/kWh'")
    if "date_start" not in fields:
        raise ParseError("no date_start line")
    try:
        day = pd.Timestamp(fields["date_start"]).normalize()
        snapshot = pd.Timestamp(fields["date_now"]) if "date_now" in fields else None
    except ValueError as exc:
        raise ParseError(f"unreadable date_start or date_now: {exc}") from None
    if not hours:
        raise ParseError("no data_price_hour_abs_HH_amount lines")
    day_utc = local_to_utc(pd.DatetimeIndex([day, day + pd.Timedelta(days=1)]), TZ)
    expected = int((day_utc[1] - day_utc[0]) / pd.Timedelta(hours=1))
    if len(hours) != expected:
        raise ParseError(f"{len(hours)} hourly prices for {day:%Y-%m-%d}, a {expected}-hour day in {TZ}")
    wall = pd.DatetimeIndex([day + pd.Timedelta(hours=h) for h, _ in hours])
    is_dst = ~wall.duplicated(keep="first")  # a repeated 02:00: first CEST, then CET
    try:
        start = utc_ms(local_to_utc(wall, TZ, is_dst))
    except ValueError as exc:
        raise ParseError(f"an hour that does not exist on {day:%Y-%m-%d} in {TZ}: {exc}") from None
    if not (start.diff().dropna() == pd.Timedelta(hours=1)).all():
        raise ParseError("the hours are not consecutive")
    snapshot_utc = None if snapshot is None else local_to_utc(pd.DatetimeIndex([snapshot]), TZ, [False])[0]
    price = np.array([p for _, p in hours]) * _CENT_PER_KWH
    return third_party_prices(
        start, utc_ms(start + pd.Timedelta(hours=1)), market=MARKET, location=LOCATION,
        location_type="bidding_zone", price=price, currency="EUR", unit="EUR/MWh", source=SOURCE,
        published=_published(day, snapshot_utc, len(hours)),
    )  # fmt: skip


def parse_api_json(body: bytes) -> pd.DataFrame:
    """Map an ``api.awattar.de/v1/marketdata`` answer to ``prices`` rows (documented layout, not verified)."""
    try:
        doc = json.loads(body)
        records = pd.DataFrame.from_records(doc["data"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"not an aWATTar marketdata answer: {exc}") from None
    if records.empty:
        raise ParseError("the answer holds no prices")
    missing = [c for c in ("start_timestamp", "end_timestamp", "marketprice", "unit") if c not in records]
    if missing:
        raise ParseError(f"changed layout: missing {missing}")
    units = set(records["unit"].astype(str).str.lower())
    if units != {"eur/mwh"}:
        raise ParseError(f"unit {sorted(units)}; expected Eur/MWh")
    start = utc_ms(pd.to_datetime(records["start_timestamp"], unit="ms", utc=True))
    end = utc_ms(pd.to_datetime(records["end_timestamp"], unit="ms", utc=True))
    if not ((end - start) == pd.Timedelta(hours=1)).all():
        raise ParseError("a price block that is not one hour: this market holds hourly prices only")
    local_day = start.dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    published = utc_ms(local_to_utc(pd.DatetimeIndex(local_day - pd.Timedelta(hours=10)), TZ))
    return third_party_prices(
        start, end, market=MARKET, location=LOCATION, location_type="bidding_zone",
        price=records["marketprice"].astype(float).to_numpy(), currency="EUR", unit="EUR/MWh",
        source=SOURCE, published=published,
    )  # fmt: skip


class AWATTarIngestor(Ingestor):
    """aWATTar's republication of EPEX SPOT day-ahead prices, DE-LU (third party)."""

    source = "awattar"

    def discover(self) -> Catalog:
        """Return the datasets."""
        return Catalog("awattar", DATASETS, 2.0)

    def request(self, dataset: str, day: pd.Timestamp) -> tuple[str, dict[str, str] | None]:
        """Return the API query of the Europe/Berlin ``day`` (``start``/``end`` in epoch milliseconds)."""
        self.discover().dataset(dataset)
        local = day.tz_convert(TZ).normalize() if day.tzinfo else day.tz_localize(TZ)
        after = local + pd.DateOffset(days=1)
        return API_URL, {
            "start": str(int(local.timestamp() * 1000)),
            "end": str(int(after.timestamp() * 1000)),
        }

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Fetch one API answer per Europe/Berlin day (the archive dataset is read from files only)."""
        if request.dataset != "day_ahead_hourly":
            raise ParseError(
                "awattar/day_ahead_hourly_archive is a collector's archive; pull day_ahead_hourly"
            )
        yield from self.fetch_daily(
            request, TZ, lambda day: self.request(request.dataset, day), self.discover().rate_limit_s
        )

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows."""
        self.discover().dataset(raw.dataset)
        if raw.dataset == "day_ahead_hourly":
            return parse_api_json(raw.body)
        return parse_archive_yaml(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell the archive YAML (``data_price_hour_abs_`` keys) from an API answer (``marketprice``)."""
        if b"data_price_hour_abs_" in body:
            return "day_ahead_hourly_archive"
        if b'"marketprice"' in body:
            return "day_ahead_hourly"
        return super().detect_dataset(filename, body)
