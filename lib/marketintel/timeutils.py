"""Every time zone, DST and interval helper of the platform; nothing else converts time zones.

Stamps are instants: tz-aware, stored as ``DateTime64(3, 'UTC')``. Local time exists only at the edges
(a publisher's local wall clock coming in, labels going out), and crosses them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from marketintel.exceptions import NaiveTimestampError, SchemaError

UTC = "UTC"


def to_instant(value: Any, what: str) -> pd.Timestamp:
    """Return ``value`` as a tz-aware timestamp.

    Parameters
    ----------
    value : pd.Timestamp, datetime or str
        An instant; strings need an offset, e.g. ``"2024-03-31T01:00Z"``.
    what : str
        What the value is, for the error message.

    Raises
    ------
    NaiveTimestampError
        If the value has no time zone (a naive timestamp is not an instant).
    SchemaError
        If the value is not a timestamp at all.
    """
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"{what} must be a tz-aware timestamp, got {value!r}: {exc}") from None
    if pd.isna(stamp):
        raise SchemaError(f"{what} must be a tz-aware timestamp, got NaT")
    if stamp.tzinfo is None:
        raise NaiveTimestampError(
            f"{what} must be tz-aware (an instant), got naive {stamp}; e.g. pd.Timestamp('{stamp}', tz='UTC')"
        )
    return stamp


def naive_timestamp_problem(name: str, series: pd.Series) -> str | None:
    """Return why a column of timestamps is not made of instants, or None if it is.

    Parameters
    ----------
    name : str
        The column's name, for the message.
    series : pd.Series
        Its values: a tz-aware datetime dtype, or Python datetimes that all carry an offset.
    """
    hint = "localize the source's local time (or declare it UTC) before writing"
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return None
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return f"column {name!r} holds naive timestamps (dtype {series.dtype}); {hint}"
    values = series.dropna()
    if not all(isinstance(v, datetime) for v in values):
        return f"column {name!r} must hold tz-aware timestamps, got dtype {series.dtype}"
    naive = [v for v in values if v.tzinfo is None or v.utcoffset() is None]
    if naive:
        return f"column {name!r} holds {len(naive)} naive timestamps (first {naive[0]}); {hint}"
    return None


def local_to_utc(
    wall: pd.DatetimeIndex | pd.Index, tz: str, is_dst: Sequence[bool] | np.ndarray[Any, Any] | None = None
) -> pd.DatetimeIndex:
    """Read naive local wall-clock times as instants in ``tz``; return them in UTC.

    Parameters
    ----------
    wall : pd.DatetimeIndex
        Naive local times, e.g. a publisher's "2024-03-31 01:00" in its market's time zone.
    tz : str
        IANA zone (``"Europe/Berlin"``) or fixed offset (``"Etc/GMT-1"`` is UTC+01:00).
    is_dst : sequence of bool, optional
        For each time, whether it is daylight time: how a publisher's flag (ERCOT's ``DSTFlag`` = "Y"
        marks the repeated, standard-time hour) resolves the hour that happens twice.

    Raises
    ------
    ValueError
        On a wall time that does not exist, or that is ambiguous in ``tz`` when ``is_dst`` is not given:
        the source must say which hour it means, and the connector passes that on explicitly.
    """
    index = pd.DatetimeIndex(wall)
    if index.tz is not None:
        raise ValueError(f"local_to_utc takes naive wall-clock times, got tz-aware ones ({index.tz})")
    ambiguous: Any = "raise" if is_dst is None else np.asarray(is_dst, dtype=bool)
    return index.tz_localize(tz, ambiguous=ambiguous, nonexistent="raise").tz_convert(UTC)


def local_day_start_utc(instants: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Return, for each instant, the start of its local calendar day in ``tz``, as a UTC instant."""
    local = pd.DatetimeIndex(instants).tz_convert(tz)
    return pd.DatetimeIndex(local.normalize()).tz_convert(UTC)


def local_days(start_utc: pd.Timestamp, end_utc: pd.Timestamp, tz: str) -> pd.DatetimeIndex:
    """Return the starts (local midnight, tz-aware) of the local days that overlap ``[start, end)``.

    A publisher's daily files are named after its local operating day; DST days are 23 or 25 hours long,
    which ``day + pd.DateOffset(days=1)`` respects.
    """
    return pd.date_range(
        start_utc.tz_convert(tz).normalize(), end_utc.tz_convert(tz), freq="D", inclusive="left"
    )
