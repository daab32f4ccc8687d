"""Content negotiation and streaming: JSON, CSV, Parquet and Arrow IPC from Arrow record batches.

Every data endpoint produces an iterator of :class:`pyarrow.RecordBatch` (straight from the store's
``ArrowStream`` for series, from a frame for listings) and :func:`encode` turns it into the format the
client asked for, one batch at a time, so a large result is never built in memory:

=========  ===========================================  =================================================
format     media type                                   shape
=========  ===========================================  =================================================
json       ``application/json``                         ``{"meta": {...}, "data": [{...}, ...]}``; stamps
                                                        ISO-8601 UTC (``2024-06-01T00:00:00.000Z``)
csv        ``text/csv``                                 a header, then rows; stamps ISO-8601 UTC
parquet    ``application/vnd.apache.parquet``           one row group per batch (zstd)
arrow      ``application/vnd.apache.arrow.stream``      the Arrow IPC stream format
=========  ===========================================  =================================================

The format comes from ``?format=`` if given, else from the ``Accept`` header (``*/*`` and no header give
JSON); anything else is a 406 that lists the four.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from marketintel.api.problems import Problem

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}
#: media types accepted for each format (aliases clients send)
_ACCEPTED: dict[str, str] = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "application/x-arrow": "arrow",
}
EXTENSIONS = {"json": "json", "csv": "csv", "parquet": "parquet", "arrow": "arrows"}


def negotiate(accept: str | None, explicit: str | None = None) -> str:
    """Return the format of a response: ``explicit`` (``?format=``) or the best match of ``accept``.

    Raises
    ------
    Problem
        406 when nothing acceptable is offered (the detail lists the media types).
    """
    if explicit:
        if explicit not in MEDIA_TYPES:
            raise Problem(
                400, "Bad request", f"format must be one of {sorted(MEDIA_TYPES)}, got {explicit!r}",
                allowed=sorted(MEDIA_TYPES),
            )  # fmt: skip
        return explicit
    if not accept:
        return "json"
    offers: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        quality = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    quality = float(f[2:])
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if media in _ACCEPTED:
            offers.append((quality, -index, _ACCEPTED[media]))
        elif media in ("*/*", "application/*"):
            offers.append((quality, -index, "json"))
        elif media == "text/*":
            offers.append((quality, -index, "csv"))
    if not offers:
        raise Problem(
            406, "Not acceptable",
            f"cannot answer {accept!r}; this endpoint speaks {sorted(MEDIA_TYPES.values())}",
            allowed=sorted(MEDIA_TYPES.values()),
        )  # fmt: skip
    return max(offers)[2]


def frame_batches(df: pd.DataFrame) -> Iterator[pa.RecordBatch]:
    """Yield a frame as record batches (the schema even when it has no rows)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    batches = table.to_batches(max_chunksize=65_536)
    if not batches:
        yield pa.RecordBatch.from_pylist([], schema=table.schema)
    else:
        yield from batches


def iso_stamps(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Return the batch with every timestamp column as ISO-8601 UTC text (``...T...Z``)."""
    columns = []
    fields = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            stamp = column if field.type.tz else pc.assume_timezone(column, "UTC")
            text = pc.strftime(stamp, format="%Y-%m-%dT%H:%M:%S")
            text = pc.binary_join_element_wise(text, pa.scalar("Z"), "")
            columns.append(text)
            fields.append(pa.field(field.name, pa.string()))
        elif pa.types.is_date(field.type):
            columns.append(pc.cast(column, pa.string()))
            fields.append(pa.field(field.name, pa.string()))
        else:
            columns.append(column)
            fields.append(field)
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def _json_default(value: Any) -> Any:
    if isinstance(value, float):
        return None
    return str(value)


def rows_json(batch: pa.RecordBatch) -> str:
    """Return a batch's rows as comma-separated JSON objects (NaN and infinities as null)."""
    rows = iso_stamps(batch).to_pylist()
    parts = []
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):  # JSON has no NaN nor Infinity
                row[key] = None
        parts.append(json.dumps(row, separators=(",", ":"), default=_json_default, allow_nan=False))
    return ",".join(parts)


def encode(batches: Iterable[pa.RecordBatch], fmt: str, meta: Mapping[str, Any]) -> Iterator[bytes]:
    """Yield the bytes of ``batches`` in ``fmt`` (see the module's table), batch by batch.

    Parameters
    ----------
    batches : iterable of pyarrow.RecordBatch
        The result; all batches share one schema.
    fmt : {"json", "csv", "parquet", "arrow"}
        From :func:`negotiate`.
    meta : mapping
        JSON's ``meta`` member (units, the knowledge time, the next cursor, ...); in Arrow and Parquet the
        schema's metadata ``marketintel`` (JSON text); CSV has none (its headers carry it, see the API).
    """
    if fmt == "json":
        yield b'{"meta":' + json.dumps(meta, default=str).encode() + b',"data":['
        first = True
        for batch in batches:
            if batch.num_rows == 0:
                continue
            text = rows_json(batch)
            yield (text if first else "," + text).encode()
            first = False
        yield b"]}"
    elif fmt == "csv":
        header = True
        for batch in batches:
            buffer = io.BytesIO()
            pacsv.write_csv(iso_stamps(batch), buffer, pacsv.WriteOptions(include_header=header))
            header = False
            yield buffer.getvalue()
    elif fmt in ("arrow", "parquet"):
        sink = _Sink()
        writer: Any = None
        schema: pa.Schema | None = None
        for batch in batches:
            if writer is None:
                schema = batch.schema.with_metadata({"marketintel": json.dumps(meta, default=str)})
                writer = (
                    pa.ipc.new_stream(sink, schema)
                    if fmt == "arrow"
                    else pq.ParquetWriter(sink, schema, compression="zstd")
                )
            if batch.num_rows or fmt == "arrow":
                writer.write_batch(batch.replace_schema_metadata(schema.metadata))  # type: ignore[union-attr]
            yield sink.take()
        if writer is not None:
            writer.close()
        yield sink.take()
    else:  # negotiate() returns only the four
        raise ValueError(f"unknown format {fmt!r}")


class _Sink(io.RawIOBase):
    """A write-only file that hands out what was written since the last :meth:`take`."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out
