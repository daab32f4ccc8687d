"""Helpers shared by the ISO-NE parsers: UTC stamps from offset-carrying ISO 8601 text, vectorised."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from marketintel.ingest.sdk import ParseError

TZ = "America/New_York"
#: ISO-NE's name for the whole control area (``Location`` 32 of its load services)
SYSTEM_AREA = "NEPOOL AREA"


def utc_ms(text: Any, what: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Return ISO 8601 stamps that carry their UTC offset as milliseconds since the epoch (UTC).

    Parameters
    ----------
    text : pyarrow.Array or sequence of str
        Stamps such as ``2024-11-03T01:00:00.000-05:00``; one without an offset is refused (ISO-NE always
        writes one, and a local wall time alone is ambiguous on the day DST ends).
    what : str
        The field's name, for the error message.

    Raises
    ------
    ParseError
        On a missing, offset-less or unreadable stamp.
    """
    arr = text if isinstance(text, pa.Array) else pa.array(text, type=pa.string())
    if arr.null_count:
        raise ParseError(f"{arr.null_count} records without {what}")
    try:
        stamps = pc.cast(arr.cast(pa.string()), pa.timestamp("ms", "UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ParseError(f"unreadable {what} (ISO 8601 with a UTC offset expected): {exc}") from None
    return np.asarray(stamps.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def utc_index(ms: np.ndarray[Any, np.dtype[np.int64]]) -> pd.DatetimeIndex:
    """Return milliseconds since the epoch as a ``datetime64[ms, UTC]`` index."""
    return pd.DatetimeIndex(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")).tz_localize("UTC")


def arrow_records(
    body: bytes, wrapper: str, record: str, item: pa.StructType | None = None
) -> pa.StructArray:
    """Return the records of an ISO-NE answer as one Arrow struct array, decoded in C++ where possible.

    Accepted shapes: ``{wrapper: {record: [...]}}``, ``{wrapper: {record: {...}}}`` (the ``.../current``
    answers hold one record) and the same without the outer wrapper. pyarrow's JSON reader takes the
    one-line answers; anything it cannot take (pretty-printed bodies, mixed shapes) goes through
    ``json.loads``. ``item``, the fields the caller reads with their types, spares the reader its type
    inference (other fields are skipped; a declared field the answer lacks comes out null).

    Raises
    ------
    ParseError
        On an empty body, an HTML/XML page, a body that is not JSON or has no such records.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML or XML page instead of JSON (ask for application/json; error page?)")
    found = _arrow_read(body, wrapper, record, item)
    return found if found is not None else _python_read(body, wrapper, record)


def _arrow_read(body: bytes, wrapper: str, record: str, item: pa.StructType | None) -> pa.StructArray | None:
    parse_options = pa_json.ParseOptions()
    if item is not None:
        schema = pa.schema([(wrapper, pa.struct([(record, pa.list_(item))]))])
        parse_options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pa_json.read_json(
            io.BytesIO(body),
            read_options=pa_json.ReadOptions(block_size=len(body) + 1024, use_threads=False),
            parse_options=parse_options,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != 1:
        return None
    if wrapper in table.column_names:
        outer = table.column(wrapper).combine_chunks()
        if not pa.types.is_struct(outer.type) or outer.type.get_field_index(record) < 0 or outer.null_count:
            return None
        node = outer.field(record)
    elif record in table.column_names:
        node = table.column(record).combine_chunks()
    else:
        return None
    if node.null_count:
        return None
    if pa.types.is_list(node.type) and pa.types.is_struct(node.type.value_type):
        items = node.flatten()
    elif pa.types.is_struct(node.type):  # a single record
        items = node
    else:
        return None
    return items if isinstance(items, pa.StructArray) and len(items) else None


def _python_read(body: bytes, wrapper: str, record: str) -> pa.StructArray:
    try:
        doc: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    node = doc.get(wrapper, doc) if isinstance(doc, dict) else None
    found = node.get(record) if isinstance(node, dict) else None
    if found is None:
        keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ParseError(f"no {wrapper}.{record} in the answer (found {keys})")
    records = found if isinstance(found, list) else [found]
    if not records:
        raise ParseError(f"the answer holds no {record} records")
    try:
        items = pa.array(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ParseError(f"{record} records of mixed shapes: {exc}") from None
    if not isinstance(items, pa.StructArray):
        raise ParseError(f"{record} records are not objects ({items.type})")
    return items


def field_names(arr: pa.StructArray) -> list[str]:
    """Return the field names of struct records."""
    return [arr.type.field(i).name for i in range(arr.type.num_fields)]


def rank_codes(arr: pa.Array) -> tuple[np.ndarray[Any, np.dtype[np.int64]], list[str]]:
    """Return, for a string column, each value's rank among the sorted distinct values, and those values."""
    enc = arr.cast(pa.string()).dictionary_encode()
    labels = [str(v) for v in enc.dictionary.to_pylist()]
    order = np.argsort(np.array(labels, dtype=object), kind="stable")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return rank[codes], sorted(labels)
