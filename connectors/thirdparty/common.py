"""What the third-party series share: every row is a republication (``fidelity = "third_party"``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from marketintel.ingest.sdk import ParseError, PullRequest, RawPayload

FIDELITY = "third_party"
PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]


def utc_ms(values: Any) -> pd.Series:
    """Return instants as a ``datetime64[ms, UTC]`` Series."""
    return pd.Series(pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ms"))


def third_party_prices(
    start: Any,
    end: Any,
    *,
    market: str,
    location: Any,
    location_type: str,
    price: Any,
    currency: str,
    unit: str,
    source: str,
    published: Any,
) -> pd.DataFrame:
    """Return ``prices`` rows of a third party's republication, sorted, with no duplicate interval."""
    out = pd.DataFrame(
        {
            "interval_start_utc": np.asarray(start),
            "interval_end_utc": np.asarray(end),
            "market": market,
            "location": location,
            "location_type": location_type,
            "price": np.asarray(price, dtype=float),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": currency,
            "unit": unit,
            "revision": "",
            "source": source,
            "fidelity": FIDELITY,
            "published_at_utc": np.asarray(published),
        }
    )
    if out.duplicated(["location", "interval_start_utc"]).any():
        raise ParseError(f"{market}: the same interval is listed twice")
    return out.sort_values(PRICE_ORDER, ignore_index=True)


def fetch_once(
    ingestor: Any, request: PullRequest, url: str, params: dict[str, str] | None
) -> Iterator[RawPayload]:
    """Fetch a whole-history file once; its window is the part of the request that has passed."""
    if ingestor.http is None:
        raise ParseError(f"{ingestor.source}: no HTTP client given (HttpClient live, record or replay)")
    resp = ingestor.http.get(ingestor.source, url, params, min_interval_s=ingestor.discover().rate_limit_s)
    now = pd.Timestamp.now(tz="UTC")
    end = min(request.end_utc, now)
    covered = end > request.start_utc
    yield RawPayload(
        ingestor.source, request.dataset, url, resp.body, now, resp.status, resp.content_type,
        request.start_utc if covered else None, end if covered else None, meta=params or {},
    )  # fmt: skip
