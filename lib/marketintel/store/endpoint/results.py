"""Query results in ClickHouse's output formats, whole, for any result size.

chDB streams a result block by block, and renders each block as a complete document of the requested
format: every Arrow chunk is a whole IPC file, every JSON chunk a whole JSON object, every ``CSVWithNames``
chunk repeats the header. Glued together they are not what ClickHouse sends. This module decides, per
format, how a result reaches the client:

``stream``
    Formats whose blocks concatenate to exactly the one-document output (Native, RowBinary, TSV, CSV,
    JSONEachRow, Values, ...): chunks are sent as they come.
``header``
    Row formats with a header (``*WithNames``, ``*WithNamesAndTypes``): the header is sent once, and
    checked to be the same on every later chunk before it is cut off.
``arrowstream``
    ArrowStream: the schema message is sent once and the end-of-stream marker once, at the end; the
    record batches stream in between (byte-identical to chDB's one-shot output, tested).
``document``
    Everything else (JSON, JSONCompact, XML, Arrow, Parquet, ORC, Avro, Pretty, Markdown, ...): the engine
    renders the whole result as one document, which is then sent.

Native is also rewritten for the client's ``client_protocol_version`` (chDB renders revision 0): a
``BlockInfo`` before each block, time zones in top-level ``DateTime`` type names, and, from revision
54454, the custom-serialization byte after each type name. An empty result carries its header in every
format, as a one-document render gives it (for Native, a header block of 0 rows).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from marketintel.store.endpoint.errors import ClickHouseError

#: formats whose per-block renders concatenate to the one-document render (lower-case names)
STREAM_FORMATS = frozenset(
    {
        "native",
        "rowbinary",
        "tabseparated",
        "tsv",
        "tabseparatedraw",
        "tsvraw",
        "raw",
        "csv",
        "jsoneachrow",
        "jsonlines",
        "ndjson",
        "jsonstringseachrow",
        "jsoncompacteachrow",
        "jsoncompactstringseachrow",
        "values",
        "lineasstring",
        "rawblob",
        "msgpack",
        "bsoneachrow",
        "customseparated",
        "null",
    }
)
#: header formats -> number of header lines (text) or "binary"
HEADER_FORMATS: dict[str, int | str] = {
    "tabseparatedwithnames": 1,
    "tsvwithnames": 1,
    "tabseparatedrawwithnames": 1,
    "tsvrawwithnames": 1,
    "rawwithnames": 1,
    "csvwithnames": 1,
    "jsoncompacteachrowwithnames": 1,
    "jsoncompactstringseachrowwithnames": 1,
    "tabseparatedwithnamesandtypes": 2,
    "tsvwithnamesandtypes": 2,
    "tabseparatedrawwithnamesandtypes": 2,
    "tsvrawwithnamesandtypes": 2,
    "rawwithnamesandtypes": 2,
    "csvwithnamesandtypes": 2,
    "jsoncompacteachrowwithnamesandtypes": 2,
    "jsoncompactstringseachrowwithnamesandtypes": 2,
    "rowbinarywithnames": "names",
    "rowbinarywithnamesandtypes": "names_types",
}
ARROW_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"

#: Native protocol revisions (ClickHouse ``ProtocolDefines.h``)
REVISION_TZ_IN_DATETIME = 54337
REVISION_CUSTOM_SERIALIZATION = 54454
REVISION_AGGREGATE_FUNCTION_VERSION = 54452
REVISION_V2_DYNAMIC_JSON = 54473
BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"  # is_overflows=0, bucket_num=-1, end


def mode(fmt: str) -> str:
    """Return how a result in format ``fmt`` is sent: stream, header, arrowstream or document."""
    low = fmt.lower()
    if low in STREAM_FORMATS:
        return "stream"
    if low in HEADER_FORMATS:
        return "header"
    if low == "arrowstream":
        return "arrowstream"
    return "document"


# -- Native ---------------------------------------------------------------------------------------------


def _varuint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varuint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _read_string(buf: bytes | memoryview, pos: int) -> tuple[bytes, int]:
    size, pos = _read_varuint(buf, pos)
    return bytes(buf[pos : pos + size]), pos + size


def _string(text: bytes) -> bytes:
    return _varuint(len(text)) + text


def native_header(columns: list[tuple[str, str]], revision: int) -> bytes:
    """Return a Native block of 0 rows carrying the column names and types (an empty result's header)."""
    out = bytearray(BLOCK_INFO if revision > 0 else b"")
    out += _varuint(len(columns)) + _varuint(0)
    for name, type_name in columns:
        shown = type_name
        if revision < REVISION_TZ_IN_DATETIME and type_name.startswith("DateTime("):
            shown = "DateTime"
        out += _string(name.encode()) + _string(shown.encode())
        if revision >= REVISION_CUSTOM_SERIALIZATION:
            out += b"\x00"
    return bytes(out)


_FIXED = {
    "UInt8": 1, "Int8": 1, "Bool": 1, "Enum8": 1, "UInt16": 2, "Int16": 2, "Enum16": 2, "Date": 2,
    "BFloat16": 2, "UInt32": 4, "Int32": 4, "Float32": 4, "Date32": 4, "DateTime": 4, "IPv4": 4, "Time": 4,
    "UInt64": 8, "Int64": 8, "Float64": 8, "DateTime64": 8, "Time64": 8, "UInt128": 16, "Int128": 16,
    "UUID": 16, "IPv6": 16, "UInt256": 32, "Int256": 32, "Nothing": 1,
}  # fmt: skip


def _split_args(inner: str) -> list[str]:
    """Split a type's arguments at top-level commas, respecting parentheses and quotes."""
    parts: list[str] = []
    depth, start, quote = 0, 0, ""
    for i, ch in enumerate(inner):
        if quote:
            if ch == quote and inner[i - 1] != "\\":
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    return parts


def _parse_type(type_name: str) -> tuple[str, list[str]]:
    base, _, rest = type_name.partition("(")
    return base, (_split_args(rest[:-1]) if rest else [])


def _tuple_elements(args: list[str]) -> list[str]:
    """Element types of a Tuple's arguments, named (``a UInt8``) or not."""
    return [arg.split(" ", 1)[1] if re.match(r"^[A-Za-z_`][^ (]* [A-Z]", arg) else arg for arg in args]


def _skip_prefix(buf: bytes | memoryview, pos: int, type_name: str) -> int:
    """Skip a column's serialization prefix (LowCardinality's version, written before any data)."""
    base, args = _parse_type(type_name)
    if base == "LowCardinality":
        return pos + 8
    if base in ("Array", "Nullable", "SimpleAggregateFunction"):
        return _skip_prefix(buf, pos, args[-1])
    if base == "Map":
        return _skip_prefix(buf, _skip_prefix(buf, pos, args[0]), args[1])
    if base == "Tuple":
        for element in _tuple_elements(args):
            pos = _skip_prefix(buf, pos, element)
    return pos


def _skip_column(buf: bytes | memoryview, pos: int, type_name: str, rows: int) -> int:
    """Return the offset after ``rows`` values of ``type_name`` in revision-0 Native encoding.

    The column's prefix (see :func:`_skip_prefix`) is skipped by the caller, once per column.
    """
    if rows == 0:
        return pos
    base, args = _parse_type(type_name)
    if base in _FIXED:
        return pos + rows * _FIXED[base]
    if base == "Decimal":
        precision = int(args[0])
        width = 4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32
        return pos + rows * width
    if base in ("Decimal32", "Decimal64", "Decimal128", "Decimal256"):
        return pos + rows * {"32": 4, "64": 8, "128": 16, "256": 32}[base[7:]]
    if base == "FixedString":
        return pos + rows * int(args[0])
    if base == "String":
        for _ in range(rows):
            size, pos = _read_varuint(buf, pos)
            pos += size
        return pos
    if base == "Nullable":
        return _skip_column(buf, pos + rows, args[0], rows)
    if base in ("Array", "Map"):
        end = struct.unpack_from("<Q", buf, pos + 8 * (rows - 1))[0]
        pos += 8 * rows
        if base == "Array":
            return _skip_column(buf, pos, args[0], end)
        return _skip_column(buf, pos, f"Tuple({args[0]}, {args[1]})", end)
    if base == "Tuple":
        for element in _tuple_elements(args):
            pos = _skip_column(buf, pos, element, rows)
        return pos
    if base == "SimpleAggregateFunction":
        return _skip_column(buf, pos, args[-1], rows)
    if base == "LowCardinality":
        # index flags, then the block's dictionary (of the non-Nullable type), then one index per row
        flags = int(struct.unpack_from("<Q", buf, pos)[0])
        pos += 8
        if flags & (1 << 9):  # HasAdditionalKeys
            keys = struct.unpack_from("<Q", buf, pos)[0]
            inner = args[0][9:-1] if args[0].startswith("Nullable(") else args[0]
            pos = _skip_column(buf, pos + 8, inner, keys)
        count = int(struct.unpack_from("<Q", buf, pos)[0])
        return pos + 8 + count * (1 << (flags & 0xFF))
    raise ClickHouseError.named(
        "NOT_IMPLEMENTED",
        f"this endpoint cannot render a {type_name} column in Native at the requested "
        "client_protocol_version; ask for client_protocol_version=0 (or 54405 without such columns), "
        "or use another format",
    )


@dataclass
class NativeRewriter:
    """Rewrite chDB's revision-0 Native blocks (one per chunk) for a client's protocol revision.

    Parameters
    ----------
    revision : int
        The client's ``client_protocol_version``.
    types : dict[str, str] or None
        The result's real column types by name (from ``DESCRIBE``), needed only when a top-level
        ``DateTime(tz)`` column lost its time zone in the revision-0 render.
    """

    revision: int
    types: dict[str, str] | None = None

    @property
    def needed(self) -> bool:
        """Whether revision-0 output differs from this revision's."""
        return self.revision > 0

    def block(self, data: bytes | memoryview) -> bytes | memoryview:
        """Rewrite one block."""
        if self.revision <= 0:
            return data
        full_parse = self.revision >= REVISION_CUSTOM_SERIALIZATION or (
            self.revision >= REVISION_TZ_IN_DATETIME and self.types is not None
        )
        if not full_parse:
            return BLOCK_INFO + bytes(data)
        out, end = self._parse(data, 0)
        if end != len(data):
            raise ClickHouseError.named(
                "LOGICAL_ERROR", f"Native block is {len(data)} bytes but its columns end at {end}"
            )
        return out

    def blocks(self, data: bytes | memoryview) -> bytes:
        """Rewrite a buffer of any number of blocks (a one-piece result)."""
        if self.revision <= 0:
            return bytes(data)
        out = bytearray()
        pos = 0
        while pos < len(data):
            block, pos = self._parse(data, pos)
            out += block
        return bytes(out)

    def _parse(self, buf: bytes | memoryview, pos: int) -> tuple[bytes, int]:
        ncols, pos = _read_varuint(buf, pos)
        nrows, pos = _read_varuint(buf, pos)
        out = bytearray(BLOCK_INFO)
        out += _varuint(ncols) + _varuint(nrows)
        for _ in range(ncols):
            name, pos = _read_string(buf, pos)
            type_b, pos = _read_string(buf, pos)
            type_name = type_b.decode()
            if type_name == "DateTime" and self.types is not None:
                real = self.types.get(name.decode(errors="surrogateescape"), "DateTime")
                if real.startswith("DateTime("):
                    type_name = real
            if self.revision >= REVISION_AGGREGATE_FUNCTION_VERSION and type_name.startswith(
                "AggregateFunction("
            ):
                _skip_column(buf, pos, type_name, nrows)  # raises NOT_IMPLEMENTED
            out += _string(name) + _string(type_name.encode())
            if self.revision >= REVISION_CUSTOM_SERIALIZATION:
                out.append(0)
            start = pos
            if nrows:
                pos = _skip_column(buf, _skip_prefix(buf, pos, type_b.decode()), type_b.decode(), nrows)
            out += buf[start:pos]
        return bytes(out), pos


def has_bare_datetime(first_block: bytes | memoryview) -> bool:
    """Whether a revision-0 Native block may hold a top-level ``DateTime`` whose time zone was dropped."""
    return b"\x08DateTime" in bytes(first_block)


# -- framing of multi-chunk results ---------------------------------------------------------------------


def _text_header_length(data: bytes, lines: int) -> int:
    pos = 0
    for _ in range(lines):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return len(data)
        pos = nl + 1
    return pos


def _binary_header_length(data: bytes, kind: str) -> int:
    ncols, pos = _read_varuint(data, 0)
    for _ in range(ncols * (2 if kind == "names_types" else 1)):
        _, pos = _read_string(data, pos)
    return pos


def header_length(fmt: str, data: bytes) -> int:
    """Return the length of the header at the start of a chunk in a header format."""
    lines = HEADER_FORMATS[fmt.lower()]
    if isinstance(lines, int):
        return _text_header_length(data, lines)
    return _binary_header_length(data, lines)


def arrow_schema_length(data: bytes | memoryview) -> int:
    """Return the length of the schema message that opens an Arrow IPC stream."""
    if bytes(data[:4]) != b"\xff\xff\xff\xff":
        raise ClickHouseError.named("LOGICAL_ERROR", "ArrowStream chunk does not start with a message")
    return 8 + int(struct.unpack_from("<i", data, 4)[0])


class Framer:
    """Turn the engine's per-block chunks into one result in format ``fmt``.

    ``feed`` takes each chunk's bytes and returns what to send now; ``end`` returns what closes the
    result (ArrowStream's end-of-stream marker).
    """

    def __init__(self, fmt: str, native: NativeRewriter | None = None) -> None:
        self.fmt = fmt
        self.mode = mode(fmt)
        self.native = native
        self._header: bytes | None = None
        self._schema: bytes | None = None

    def feed(self, data: bytes | memoryview) -> bytes | memoryview:
        """Return the bytes of this chunk to send."""
        if self.mode == "stream":
            return self.native.block(data) if self.native is not None else data
        if self.mode == "header":
            raw = bytes(data)
            if self._header is None:
                self._header = raw[: header_length(self.fmt, raw)]
                return raw
            if not raw.startswith(self._header):
                raise ClickHouseError.named(
                    "LOGICAL_ERROR", f"{self.fmt}: a later block's header differs from the first one's"
                )
            return raw[len(self._header) :]
        if self.mode == "arrowstream":
            if bytes(data[-8:]) != ARROW_EOS:
                raise ClickHouseError.named("LOGICAL_ERROR", "ArrowStream chunk does not end the stream")
            start = 0
            if self._schema is None:
                self._schema = bytes(data[: arrow_schema_length(data)])
            else:
                start = arrow_schema_length(data)
                if bytes(data[:start]) != self._schema:
                    raise ClickHouseError.named("LOGICAL_ERROR", "ArrowStream: the schema changed mid-result")
            return memoryview(data)[start:-8]
        raise ValueError(f"{self.fmt} is sent as one document, not framed")

    def end(self) -> bytes:
        """Return what closes the result."""
        return ARROW_EOS if self.mode == "arrowstream" and self._schema is not None else b""


def empty_result_query(columns: list[tuple[str, str]], fmt: str) -> str:
    """Return a query with no rows and exactly these columns, in ``fmt`` (an empty result's render)."""
    parts = []
    for name, type_name in columns:
        quoted_type = type_name.replace("\\", "\\\\").replace("'", "\\'")
        quoted_name = name.replace("\\", "\\\\").replace("`", "\\`")
        parts.append(f"defaultValueOfTypeName('{quoted_type}') AS `{quoted_name}`")
    return f"SELECT {', '.join(parts)} FROM system.one WHERE 0 FORMAT {fmt}"


def iter_pieces(view: memoryview, size: int = 1 << 20) -> Iterator[memoryview]:
    """Split a large buffer into pieces for chunked transfer."""
    for start in range(0, len(view), size):
        yield view[start : start + size]
