"""The Ingestor SDK: what a connector is, what it hands over, and the errors it raises.

A connector is a package (``connectors/<source>/``) with an :class:`Ingestor` subclass registered as an
entry point in the ``marketintel.connectors`` group. The SDK runs it (:mod:`marketintel.ingest.runner`):
every payload is archived in ``raw_payloads`` before it is parsed, a payload that cannot be parsed is kept
as ``quarantined`` with its reason, and progress is checkpointed after each payload so that a run killed
in the middle resumes with no gap and no duplicate.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from marketintel.exceptions import MarketIntelError
from marketintel.timeutils import to_instant


class ParseError(MarketIntelError):
    """A payload cannot be mapped to canonical rows; the payload is quarantined with this reason."""


class UnknownDatasetError(MarketIntelError, KeyError):
    """A dataset name that the source does not publish."""


#: ``Dataset.table`` of a publisher's document index (ERCOT MIS listings, archive listings): its rows say
#: which documents exist, for the connector to fetch; they are not stored as facts.
LISTING = "listing"


@dataclass(frozen=True)
class Dataset:
    """One dataset of a source.

    Attributes
    ----------
    name : str
        Identifier, e.g. ``"lmp_day_ahead_hourly"``.
    table : str
        Store table the rows go to (``prices``, ``fundamentals``, ``instruments``, ``alerts``), or
        :data:`LISTING` for a document index that is parsed but not stored.
    description : str
        What it is, in the publisher's words where possible.
    cadence : str
        How often the publisher issues it, as a pandas offset (``"5min"``, ``"1D"``).
    timezone : str
        IANA zone of the publisher's stamps (``"Etc/GMT+5"`` for EST all year).
    verified : bool
        Whether the parser is tested on a real recorded response; False means it follows the
        publisher's documented format only.
    max_window : str
        Longest history window one request may ask for (pandas offset).
    lag : str
        Publication lag: how long after an interval's end the publisher has it (pandas offset; negative
        for data published ahead of delivery, e.g. day-ahead auction results). ``--follow`` asks for an
        interval at its end plus this lag.
    publication : str
        When the publisher issues it, as a cron in ``timezone`` (``"45 12 * * *"``: daily at 12:45
        local); the Prefect deployments run on it. Empty when the cadence says it all.
    """

    name: str
    table: str
    description: str
    cadence: str
    timezone: str
    verified: bool = False
    max_window: str = "1D"
    lag: str = "0min"
    publication: str = ""


@dataclass(frozen=True)
class Catalog:
    """What a source publishes."""

    source: str
    datasets: tuple[Dataset, ...]
    rate_limit_s: float = 1.0  # the publisher's politeness limit: at most one request per this many seconds

    def dataset(self, name: str) -> Dataset:
        """Return the dataset called ``name``.

        Raises
        ------
        UnknownDatasetError
            Listing the datasets the source has.
        """
        for ds in self.datasets:
            if ds.name == name:
                return ds
        known = ", ".join(d.name for d in self.datasets) or "(none)"
        raise UnknownDatasetError(f"{self.source} has no dataset {name!r}; it has: {known}")


@dataclass(frozen=True)
class RawPayload:
    """Bytes exactly as a publisher sent them, with where and when they came from.

    ``window_start_utc`` / ``window_end_utc`` is the delivery window the payload covers, which the
    runner checkpoints once its rows are stored.
    """

    source: str
    dataset: str
    url: str
    body: bytes
    fetched_at_utc: pd.Timestamp
    status: int = 200
    content_type: str = ""
    window_start_utc: pd.Timestamp | None = None
    window_end_utc: pd.Timestamp | None = None
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """The payload's sha256 (lower-case hex)."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class PullRequest:
    """A history window of one dataset (``follow``: keep going at the publication cadence)."""

    dataset: str
    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    follow: bool = False

    def __post_init__(self) -> None:
        start = to_instant(self.start_utc, "start")
        end = to_instant(self.end_utc, "end")
        if end <= start:
            raise ValueError(f"the window must end after it starts: {start} .. {end}")
        object.__setattr__(self, "start_utc", start.tz_convert("UTC"))
        object.__setattr__(self, "end_utc", end.tz_convert("UTC"))


class Ingestor(ABC):
    """Base class of every connector.

    Subclasses set :attr:`source` and implement :meth:`discover`, :meth:`pull_or_subscribe` and
    :meth:`map_to_schema`. Storing, archiving and checkpointing are the runner's
    (:func:`marketintel.ingest.runner.ingest`); a connector only fetches (through ``http``) and maps.

    Parameters
    ----------
    http : HttpClient, optional
        The shared HTTP client (live, record or replay); ``None`` for mapping saved payloads only.
    """

    source: ClassVar[str]
    #: what the source's price series trade: power, gas or carbon (``instruments.commodity``)
    commodity: ClassVar[str] = "power"

    def __init__(self, http: Any = None) -> None:
        self.http = http

    @abstractmethod
    def discover(self) -> Catalog:
        """Return the datasets, cadence, time zones and rate limit of the source."""

    @abstractmethod
    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield the payloads covering the request's window, chunked the way the publisher allows."""

    @abstractmethod
    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to canonical rows. Pure: bytes in, frame out; raise :class:`ParseError`."""

    def fetch_daily(
        self,
        request: PullRequest,
        tz: str,
        locate: Callable[[pd.Timestamp], tuple[str, dict[str, str] | None]],
        min_interval_s: float,
    ) -> Iterator[RawPayload]:
        """Fetch one payload per local day of the request's window (publishers' daily files and queries).

        ``locate(day)`` returns the URL and query parameters of the day starting at local midnight ``day``;
        each payload covers its day (23 or 25 hours on DST days), which the runner checkpoints.
        """
        from marketintel.timeutils import local_days

        if self.http is None:
            raise ParseError(f"{self.source}: no HTTP client given (HttpClient live, record or replay)")
        for day in local_days(request.start_utc, request.end_utc, tz):
            url, params = locate(day)
            resp = self.http.get(self.source, url, params, min_interval_s=min_interval_s)
            yield RawPayload(
                self.source, request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, day.tz_convert("UTC"), (day + pd.DateOffset(days=1)).tz_convert("UTC"),
                meta=params or {},
            )  # fmt: skip

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Return which dataset a saved payload belongs to (for ``mi connectors parse`` without --dataset).

        Raises
        ------
        ParseError
            When the file does not look like any dataset of the source; the message lists them.
        """
        known = ", ".join(d.name for d in self.discover().datasets)
        raise ParseError(
            f"{self.source}: cannot tell the dataset of {filename!r}; pass --dataset (one of {known})"
        )

    def instruments(self, frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
        """Return the instruments that canonical rows of ``dataset`` show (rows of ``instruments``).

        The runner registers the ones it has not seen before. The default: one instrument per market and
        location of ``prices`` rows (``MARKET.LOCATION``) and per market, product and profile of
        ``forward_quotes`` rows (``MARKET.PRODUCT.PROFILE``), valid from the first interval or trade date
        seen; other tables name no instruments. Override to add descriptions or other commodities.
        """
        from marketintel.ingest.canonical import instruments_frame

        return instruments_frame(frame, dataset.table, self.source, self.commodity, dataset.timezone)
