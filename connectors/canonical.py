"""Canonical rows, built in one place: the column set and stamp types every connector hands to the store."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Return a publisher's label as a variable name part: ``"Other Renewables"`` -> ``other_renewables``."""
    return _SLUG.sub("_", text.lower()).strip("_")


def fundamentals_frame(
    start: Any,
    end: Any,
    *,
    market: Any,
    area: Any,
    variable: Any,
    value: Any,
    unit: Any,
    source: str,
    published: Any,
    area_to: Any = "",
) -> pd.DataFrame:
    """Return rows of the ``fundamentals`` table, columns in the table's order.

    Every argument is a scalar or a Series aligned with ``start``.
    """
    return pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": end,
            "market": market,
            "area": area,
            "area_to": area_to,
            "variable": variable,
            "value": value,
            "unit": unit,
            "source": source,
            "published_at_utc": published,
        }
    )


#: columns of a parsed document listing (``Dataset.table == LISTING``), in order
LISTING_COLUMNS = ("document_id", "name", "url", "published_at_utc", "covers_start_utc", "size_bytes")


def listing_frame(
    document_id: Any,
    name: Any,
    url: Any,
    published: Any,
    covers_start: Any = pd.NaT,
    size_bytes: Any = pd.NA,
) -> pd.DataFrame:
    """Return a document index: one row per document a publisher lists, newest last.

    ``published`` and ``covers_start`` are UTC instants (the posting time, and the start of the operating
    day or interval the document covers when the listing says it); ``size_bytes`` may be missing.
    """
    frame = pd.DataFrame(
        {
            "document_id": document_id,
            "name": name,
            "url": url,
            "published_at_utc": published,
            "covers_start_utc": covers_start,
            "size_bytes": size_bytes,
        }
    )
    frame["document_id"] = frame["document_id"].astype(str)
    frame["size_bytes"] = frame["size_bytes"].astype("Int64")
    for col in ("published_at_utc", "covers_start_utc"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[ms, UTC]")
    return frame.sort_values(["published_at_utc", "document_id"], ignore_index=True)
