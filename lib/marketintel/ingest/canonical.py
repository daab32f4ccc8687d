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


def instruments_frame(
    frame: pd.DataFrame, table: str, source: str, commodity: str, timezone: str
) -> pd.DataFrame:
    """Return the ``instruments`` rows that canonical rows of ``table`` name (empty for other tables).

    ``prices``: one per market and location, ``MARKET.LOCATION``. ``forward_quotes``: one per market,
    product and profile, ``MARKET.PRODUCT.PROFILE``. Each is valid from the first interval start (or trade
    date, as local midnight in ``timezone``) in ``frame``, which is also its ``published_at_utc``.
    """
    if frame.empty or table not in ("prices", "forward_quotes"):
        return pd.DataFrame()
    if table == "prices":
        first = frame.sort_values("interval_start_utc", kind="stable").drop_duplicates(["market", "location"])
        ids = first["market"] + "." + first["location"]
        valid_from = pd.DatetimeIndex(first["interval_start_utc"]).as_unit("ms")
        location: Any = first["location"].to_numpy()
        location_type: Any = first["location_type"].to_numpy()
        product: Any = ""
    else:
        first = frame.sort_values("trade_date", kind="stable").drop_duplicates(
            ["market", "product", "profile"]
        )
        ids = first["market"] + "." + first["product"] + "." + first["profile"]
        days = pd.DatetimeIndex(pd.to_datetime(first["trade_date"]))
        valid_from = days.tz_localize(timezone).tz_convert("UTC").as_unit("ms")
        location, location_type, product = "", "", first["product"].to_numpy()
    n = len(first)
    return pd.DataFrame(
        {
            "instrument_id": ids.to_numpy(),
            "commodity": commodity,
            "market": first["market"].to_numpy(),
            "location": location,
            "location_type": location_type,
            "product": product,
            "currency": first["currency"].to_numpy(),
            "unit": first["unit"].to_numpy(),
            "timezone": timezone,
            "description": "",
            "valid_from_utc": valid_from,
            "valid_to_utc": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ms, UTC]"),
            "source": source,
            "published_at_utc": valid_from,
            "ingested_at_utc": pd.Timestamp.now(tz="UTC"),
        }
    )
