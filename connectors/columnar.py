"""Columnar building blocks for parsers of JSON record lists (Data Miner, ISO Express, dashboards).

Parsing a publisher's answer is dominated by per-call overhead, not by arithmetic: a few thousand records
go through ``json.loads`` once, become one Arrow table (``pa.Table.from_pylist``, in C++), and every stamp
conversion, numeric cast, unpivot and sort then runs in Arrow compute; pandas is met once, at the end. This
is what makes the JSON connectors several times faster than building a DataFrame from the records and
converting columns in pandas (``benchmarks/parse_throughput.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketintel.ingest.sdk import ParseError

UTC_MS = pa.timestamp("ms", tz="UTC")
#: the columns a connector hands over, in table order (the store adds ``revision`` and ``ingested_at_utc``)
PRICE_COLUMNS = (
    "interval_start_utc",
    "interval_end_utc",
    "market",
    "location",
    "location_type",
    "price",
    "energy",
    "congestion",
    "loss",
    "currency",
    "unit",
    "source",
    "published_at_utc",
)
FUNDAMENTAL_COLUMNS = (
    "interval_start_utc",
    "interval_end_utc",
    "market",
    "area",
    "area_to",
    "variable",
    "value",
    "unit",
    "source",
    "published_at_utc",
)


def load_json(body: bytes) -> Any:
    """Decode a JSON answer, refusing the usual wrong bodies with a clear reason.

    Raises
    ------
    ParseError
        On an empty body, an HTML or XML page (error, login or maintenance page), or malformed JSON.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML page (or XML) instead of JSON: an error, login or maintenance page?")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"not JSON (truncated?): {exc}") from None


def records_table(records: Sequence[dict[str, Any]], required: Sequence[str] = ()) -> pa.Table:
    """Return a list of flat JSON records as one Arrow table, checking that ``required`` fields exist.

    Raises
    ------
    ParseError
        When there are no records, they are not objects, or a required field is missing (the message
        names the missing fields and the ones found, so a changed publisher format is obvious).
    """
    if not records:
        raise ParseError("the answer holds no records")
    try:
        table = pa.Table.from_pylist(list(records))
    except (pa.ArrowInvalid, pa.ArrowTypeError, AttributeError, TypeError) as exc:
        raise ParseError(f"records are not flat objects: {exc}") from None
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise ParseError(f"missing field(s) {missing}; found {sorted(table.column_names)}")
    return table


def utc(column: pa.ChunkedArray | pa.Array, what: str) -> pa.ChunkedArray | pa.Array:
    """Return ISO 8601 stamps as ``timestamp[ms, UTC]``.

    Stamps with an offset (``2024-11-03T01:00:00.000-05:00``, ``...Z``) are converted to UTC; stamps
    without one must already be UTC (``*_utc`` fields).

    Raises
    ------
    ParseError
        On an empty or unreadable stamp.
    """
    if column.null_count:
        raise ParseError(f"{what}: {column.null_count} empty stamp(s)")
    if pa.types.is_timestamp(column.type):
        return (
            column.cast(UTC_MS) if column.type.tz else pc.assume_timezone(column.cast("timestamp[ms]"), "UTC")
        )
    try:
        return pc.assume_timezone(column.cast(pa.timestamp("ms")), "UTC")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # the stamps carry offsets
    try:
        return column.cast(UTC_MS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ParseError(f"unreadable {what}: {exc}") from None


def numbers(column: pa.ChunkedArray | pa.Array, what: str) -> pa.ChunkedArray | pa.Array:
    """Return a column as float64 (numbers sent as strings are read; empty stays missing).

    Raises
    ------
    ParseError
        When a value is not a number.
    """
    try:
        return column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ParseError(f"non-numeric {what}: {exc}") from None


def strings(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Return a column as strings (numbers become their text, missing becomes ``""``)."""
    return pc.fill_null(column.cast(pa.string()), "")


def per_distinct(
    column: pa.ChunkedArray | pa.Array, func: Callable[[pd.Series], Any], type_: pa.DataType
) -> pa.Array:
    """Apply a pandas function to the distinct values of a column only, and spread the results back.

    Used for per-interval rules (a day-ahead posting time per operating day) and label mapping (fuel names
    to variable names), which touch a handful of distinct values however many rows there are.
    """
    distinct = pc.unique(column)
    mapped = pa.array(func(pd.Series(distinct.to_pandas())), type=type_)
    return pc.take(mapped, pc.index_in(column, value_set=distinct))


def sort_indices(table: pa.Table, keys: Sequence[str]) -> pa.Array:
    """Return the row order that sorts ``table`` by ``keys`` (ascending), fast for repetitive strings.

    String keys are dictionary-encoded and replaced by the rank of their distinct value, so the sort
    compares integers; the order equals a plain sort of the strings (UTF-8 byte order, which is code-point
    order, the same as Python's and pandas').
    """
    sort_table = {}
    for key in keys:
        column = table[key]
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            encoded = pc.dictionary_encode(column).combine_chunks()
            ranks = pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="dense")
            column = pc.take(ranks, encoded.indices)
        sort_table[key] = column
    return pc.sort_indices(pa.table(sort_table), sort_keys=[(k, "ascending") for k in keys])


def constant(value: object, length: int) -> pa.Array:
    """Return a column repeating one value (built in Arrow: cheaper than broadcasting in pandas)."""
    if isinstance(value, float):
        return pa.repeat(pa.scalar(value, pa.float64()), length)
    return pa.repeat(pa.scalar(value), length)


def to_frame(
    columns: dict[str, Any],
    order: Sequence[str],
    sort_keys: Sequence[str],
) -> pd.DataFrame:
    """Build the canonical frame: Arrow columns and constants, sorted by ``sort_keys``, columns in ``order``.

    ``columns`` maps names to Arrow arrays (all of one length) or scalars (repeated); constants do not
    change the order, so they are added after the sort. pandas is met once, in ``to_pandas``.
    """
    arrays = {k: v for k, v in columns.items() if isinstance(v, pa.Array | pa.ChunkedArray)}
    table = pa.table(arrays)
    keys = [k for k in sort_keys if k in arrays]
    if keys:
        table = table.take(sort_indices(table, keys))
    n = table.num_rows
    full = {name: table[name] if name in arrays else constant(columns[name], n) for name in order}
    frame: pd.DataFrame = pa.table(full).to_pandas(split_blocks=True)
    return frame
