"""Ember's "European wholesale electricity price data" (daily): ENTSO-E day-ahead prices, averaged by Ember.

What it is
    Ember, a think tank, republishes day-ahead prices from the ENTSO-E Transparency Platform as daily
    (and monthly) averages per *country*: ``Country,ISO3 Code,Date,Price (EUR/MWhe)``, e.g.
    ``Austria,AUT,2015-01-01,35.86``; the recording has 83,396 rows, 29 countries, 2015-01-01 to 2023-05-31
    (North Macedonia from 2023-05-01). Rows carry ``fidelity = "third_party"`` and the market
    ``EMBER_DAY_AHEAD_DAILY``.

Locations
    ``location`` = the ISO 3166 alpha-3 code as Ember gives it (``AUT``, ``DEU``, ``POL``),
    ``location_type = "country"``. A country is not a bidding zone: where a country is one zone the
    series matches that zone's daily average (``AUT`` = ``AT``, ``FRA`` = ``FR``, ``POL`` = ``PL``, ...);
    ``DEU`` and ``LUX`` are both the one ``DE_LU`` zone (since 2018-10-01; ``DE_AT_LU`` before); for
    countries of several zones (``DNK``: DK1/DK2, ``ITA``, ``NOR``: NO1-NO5, ``SWE``: SE1-SE4) the value
    is Ember's country aggregate, which its public notes do not pin down (not checked here): never
    compare it with a zone's price. The codes are therefore kept as given, not mapped to zones.

Intervals and publication
    A row is the local calendar day of its country, ``[00:00, 24:00)`` in the country's IANA zone (23 or
    25 hours on DST days; Portugal and Ireland on WET/IST, Finland, the Baltics, Greece, Romania and
    Bulgaria on EET). Ember updates the file monthly; it carries no issue date, so ``published_at_utc`` is
    the end of the calendar month holding the day (local), the earliest an update could include the
    whole month: an approximation, not Ember's actual release.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pandas as pd

from marketintel.connectors.thirdparty.common import fetch_once, third_party_prices, utc_ms
from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

SOURCE = "ember"
MARKET = "EMBER_DAY_AHEAD_DAILY"
PAGE_URL = "https://ember-energy.org/data/european-wholesale-electricity-price-data/"
COLUMNS = ["Country", "ISO3 Code", "Date", "Price (EUR/MWhe)"]
#: ISO3 -> IANA zone of the country's market day
ZONES = {
    "AUT": "Europe/Vienna", "BEL": "Europe/Brussels", "BGR": "Europe/Sofia", "CHE": "Europe/Zurich",
    "CZE": "Europe/Prague", "DEU": "Europe/Berlin", "DNK": "Europe/Copenhagen", "ESP": "Europe/Madrid",
    "EST": "Europe/Tallinn", "FIN": "Europe/Helsinki", "FRA": "Europe/Paris", "GRC": "Europe/Athens",
    "HRV": "Europe/Zagreb", "HUN": "Europe/Budapest", "IRL": "Europe/Dublin", "ITA": "Europe/Rome",
    "LTU": "Europe/Vilnius", "LUX": "Europe/Luxembourg", "LVA": "Europe/Riga", "MKD": "Europe/Skopje",
    "MNE": "Europe/Podgorica", "NLD": "Europe/Amsterdam", "NOR": "Europe/Oslo", "POL": "Europe/Warsaw",
    "PRT": "Europe/Lisbon", "ROU": "Europe/Bucharest", "SRB": "Europe/Belgrade", "SVK": "Europe/Bratislava",
    "SVN": "Europe/Ljubljana", "SWE": "Europe/Stockholm", "GBR": "Europe/London", "BIH": "Europe/Sarajevo",
}  # fmt: skip

DATASETS = (
    Dataset(
        "day_ahead_daily",
        "prices",
        "Ember European wholesale electricity price data: daily average day-ahead price per country"
        " (EUR/MWh), derived from ENTSO-E",
        "1D",
        "Europe/Brussels",
        verified=True,
        max_window="36500D",
        lag="31D",
        publication="0 12 5 * *",
    ),
)


def parse_ember_daily(body: bytes) -> pd.DataFrame:
    """Map Ember's daily price CSV to ``prices`` rows (vectorised: one localisation per country)."""
    if not body.strip():
        raise ParseError("empty body")
    try:
        raw = pd.read_csv(io.BytesIO(body), dtype={"Country": str, "ISO3 Code": str, "Date": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ParseError(f"unreadable CSV: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ParseError(f"changed header: missing {missing}; found {list(raw.columns)}")
    if raw.empty:
        raise ParseError("the file has a header but no rows")
    code = raw["ISO3 Code"].str.strip()
    unknown = sorted(set(code) - set(ZONES))
    if unknown:
        raise ParseError(f"no time zone for country code(s) {unknown}; add them to ZONES")
    try:
        day = pd.to_datetime(raw["Date"].str.strip(), format="%Y-%m-%d")
    except ValueError as exc:
        raise ParseError(f"unreadable Date (expected YYYY-MM-DD): {exc}") from None
    try:
        price = pd.to_numeric(raw["Price (EUR/MWhe)"], errors="raise").astype(float)
    except ValueError as exc:
        raise ParseError(f"non-numeric price: {exc}") from None
    if price.isna().any():
        raise ParseError(f"{int(price.isna().sum())} blank price(s)")
    start = np.empty(len(raw), dtype="datetime64[ms]")
    end = np.empty(len(raw), dtype="datetime64[ms]")
    published = np.empty(len(raw), dtype="datetime64[ms]")
    month_end = day.dt.to_period("M").dt.end_time.dt.normalize() + pd.Timedelta(days=1)
    for iso, rows in code.groupby(code).groups.items():
        tz = ZONES[str(iso)]
        at = np.asarray(code.index.get_indexer(rows))
        local = pd.DatetimeIndex(day.iloc[at])
        start[at] = local.tz_localize(tz).tz_convert("UTC").tz_localize(None).as_unit("ms").to_numpy()
        end[at] = (
            (local + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC").tz_localize(None).as_unit("ms")
        ).to_numpy()
        published[at] = (
            pd.DatetimeIndex(month_end.iloc[at])
            .tz_localize(tz)
            .tz_convert("UTC")
            .tz_localize(None)
            .as_unit("ms")
        ).to_numpy()
    return third_party_prices(
        utc_ms(pd.DatetimeIndex(start).tz_localize("UTC")), utc_ms(pd.DatetimeIndex(end).tz_localize("UTC")),
        market=MARKET, location=code.to_numpy(), location_type="country", price=price.to_numpy(),
        currency="EUR", unit="EUR/MWh", source=SOURCE,
        published=utc_ms(pd.DatetimeIndex(published).tz_localize("UTC")),
    )  # fmt: skip


class EmberIngestor(Ingestor):
    """Ember's European wholesale electricity price data (third party)."""

    source = "ember"

    def discover(self) -> Catalog:
        """Return the dataset."""
        return Catalog("ember", DATASETS, 5.0)

    def request(self, dataset: str) -> tuple[str, dict[str, str] | None]:
        """Return the page Ember serves the whole-history file from (one file, no query)."""
        self.discover().dataset(dataset)
        return PAGE_URL, None

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Fetch the whole-history file once."""
        url, params = self.request(request.dataset)
        yield from fetch_once(self, request, url, params)

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows."""
        self.discover().dataset(raw.dataset)
        return parse_ember_daily(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell Ember's daily file by its header."""
        if body.lstrip(b"\xef\xbb\xbf").startswith(b"Country,ISO3 Code,Date,Price"):
            return "day_ahead_daily"
        return super().detect_dataset(filename, body)
