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
