"""A vectorised reader of AEMO's multi-table "C/I/D" CSV (MMS Data Model files). Pure: bytes in, tables out.

Every NEMweb CSV, the MMSDM monthly archive as well as the ``/Reports/Current`` files, has one layout::

    C,SETP.WORLD,DVD_DISPATCHPRICE,AEMO,PUBLIC,2025/02/20,09:43:56,...      <- comment: file id, creation time
    I,DISPATCH,PRICE,5,SETTLEMENTDATE,RUNNO,REGIONID,...                     <- a table: category, name, vers.
    D,DISPATCH,PRICE,5,2025/01/01 00:05:00,1,NSW1,...                        <- its rows
    I,DISPATCH,REGIONSUM,8,...                                               <- next table (multi-table files)
    ...
    C,"END OF REPORT",44643                                                  <- footer: line count of the file

A table's columns depend on its version (``DISPATCH,PRICE`` v1 and v4 have 54 data columns, v5 66: the
1-second FCAS prices were added), so the columns are read from each ``I`` row, never assumed.

The reader classifies every line by its first byte in one numpy pass over the bytes (no Python loop over
rows), then hands each table's block of ``D`` lines to Arrow's CSV reader with the ``I`` row's names: the
file is read once and split by its ``I`` rows; a line of another record type is refused. Only the columns a
mapping asks for are converted. The stamp columns it names (``YYYY/MM/DD HH:MM:SS``, quoted or not) are read
as strings and converted by one Arrow ``strptime`` call each, to naive ``timestamp[ms]``: they are AEST wall
clock (see :mod:`marketintel.connectors.nem.mapping`). Letting the CSV reader try that format on every
column while inferring types cost more than the rest of the parse. Blocks under 8 MB are parsed on the
calling thread (the thread pool's start-up costs more than it saves on them).
Some republished files (NEMOSIS's filtered fixtures) name the sub-category of an ``I`` row ``Unnamed: 2``
while its ``D`` rows leave it blank; a ``D`` row belongs to the ``I`` row above it, so that is harmless, and
``Unnamed: N`` is read as an empty name.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from marketintel.ingest.sdk import ParseError

#: the MMS stamp format (AEST wall clock)
STAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
_UNNAMED = re.compile(r"^Unnamed: \d+$")


@dataclass(frozen=True)
class MMSFile:
    """A parsed C/I/D file: its header comment and its tables, keyed ``(CATEGORY, TABLE)``.

    Attributes
    ----------
    report : str
        The report name of the ``C`` header (``DVD_DISPATCHPRICE``, ``DAILY``, ``DISPATCHSCADA``).
    created : pd.Timestamp
        Creation time of the file (the ``C`` header's date and time), naive AEST wall clock.
    tables : dict
        ``(category, table) -> (version, pyarrow.Table)``; the columns are the ``I`` row's. When one table
        appears in two versions (``DREGION`` v2 and v3 in ``PUBLIC_DAILY``), the blocks are kept apart under
        ``(category, table, version)`` keys in :attr:`versions` and :attr:`tables` holds the one with rows.
    versions : dict
        ``(category, table, version) -> pyarrow.Table`` for every block.
    """

    report: str
    created: pd.Timestamp
    tables: dict[tuple[str, str], tuple[int, pa.Table]]
    versions: dict[tuple[str, str, int], pa.Table]


def unzip(body: bytes, what: str = "NEMweb file") -> bytes:
    """Return the CSV of a zip holding one CSV (or ``body`` itself when it is already a CSV).

    Raises
    ------
    ParseError
        On an empty body, an HTML page, a broken zip, or a zip without exactly one CSV.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body[:2] != b"PK":
        head = body.lstrip()[:100].lower()
        if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
            raise ParseError(f"an HTML page instead of the {what} (error or maintenance page?)")
        return body
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise ParseError(f"expected a zip holding one CSV, found {zf.namelist()}")
            return zf.read(names[0])
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ParseError(f"broken zip ({what}): {exc}") from None


def _header(line: bytes) -> list[str]:
    return [c.strip().strip('"') for c in line.decode("utf-8", errors="replace").rstrip("\r\n").split(",")]


#: a table block larger than this [bytes] is parsed by Arrow's thread pool; smaller ones (every monthly
#: archive table filtered to a few days, every Reports/Current file) parse faster on the calling thread
_THREADED_BYTES = 8 << 20


def parse_stamps(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Return ``YYYY/MM/DD HH:MM:SS`` strings as naive ``timestamp[ms]`` (AEST wall clock), nulls kept.

    One ``strptime`` kernel call on the column: letting the CSV reader try the format on every column while
    it infers types costs several times more. Returns ``None`` when a value is not such a stamp, so the
    caller keeps the strings and the mapping reports the value.
    """
    try:
        out: pa.ChunkedArray = pc.strptime(values, format=STAMP_FORMAT, unit="ms")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return out


def read_mms(body: bytes, columns: Collection[str] | None = None, stamps: Collection[str] = ()) -> MMSFile:
    """Read a C/I/D CSV (zipped or not) into its tables (only ``columns`` of each, when given).

    Converting only the columns a mapping uses is most of the reader's speed on wide tables (DISPATCH,
    REGIONSUM v8 has 125 columns, of which a dozen are stored). Columns named in ``stamps`` become naive
    ``timestamp[ms]`` (AEST wall clock) through :func:`parse_stamps`, or stay strings when a value is not a
    stamp; the others take the type Arrow infers.

    Raises
    ------
    ParseError
        When the body is not a C/I/D file, has no ``END OF REPORT`` footer (truncated), or a table's rows do
        not fit its ``I`` row.
    """
    text = unzip(body)
    if not text.startswith(b"C,"):
        raise ParseError(f"not an AEMO C/I/D CSV: it starts with {text[:40]!r}, not a 'C,' header line")
    first_end = text.find(b"\n")
    head = _header(text[: first_end if first_end >= 0 else len(text)])
    if len(head) < 7:
        raise ParseError(f"unreadable C header line: {head}")
    try:
        created = pd.Timestamp(datetime.strptime(f"{head[5]} {head[6]}", STAMP_FORMAT))
    except ValueError:
        raise ParseError(f"unreadable creation stamp in the C header: {head[5]!r} {head[6]!r}") from None
    if b"END OF REPORT" not in text[-200:]:
        raise ParseError('no C,"END OF REPORT" footer: the file is truncated')
    # every line start and its record type, in one vectorised pass (no Python loop over rows)
    raw = np.frombuffer(text, dtype=np.uint8)
    starts = np.flatnonzero(raw[:-1] == 10) + 1
    kinds = raw[starts]
    marks = starts[(kinds == ord("I")) | (kinds == ord("C"))]
    i_rows = [int(k) for k in marks if text[k] == ord("I")]
    if not i_rows:
        raise ParseError("no I (table header) row: not an MMS data file")
    bounds = [*(int(k) for k in marks), len(text)]
    nxt = dict(pairwise(bounds))
    others = starts[(kinds != ord("D")) & (kinds != ord("I")) & (kinds != ord("C"))]
    others = others[(raw[others] != 10) & (raw[others] != 13)]  # blank lines are skipped by the CSV reader
    versions: dict[tuple[str, str, int], pa.Table] = {}
    tables: dict[tuple[str, str], tuple[int, pa.Table]] = {}
    for start in i_rows:
        line_end = text.find(b"\n", start)
        line_end = len(text) if line_end < 0 else line_end
        cols = _header(text[start:line_end])
        if len(cols) < 5:
            raise ParseError(f"I row with no columns: {cols}")
        category, table = cols[1], "" if _UNNAMED.match(cols[2]) else cols[2]
        try:
            version = int(cols[3])
        except ValueError:
            raise ParseError(f"I row {cols[:4]}: version {cols[3]!r} is not a number") from None
        stop = nxt[start]
        odd = others[(others > line_end) & (others < stop)]
        if len(odd):
            records = sorted({"D", *(text[k : text.find(b",", k)].decode(errors="replace") for k in odd)})
            raise ParseError(f"table {category},{table} v{version}: unexpected record types {records}")
        block = memoryview(text)[line_end + 1 : stop]
        names = ["_record", "_category", "_table", "_version", *cols[4:]]
        if len(set(names)) != len(names):
            raise ParseError(f"table {category},{table} v{version}: repeated column names")
        keep = [n for n in names[4:] if columns is None or n in columns]
        if not bytes(block[:64]).strip():
            arr = pa.table({n: pa.array([], pa.string()) for n in keep})
        else:
            try:
                arr = pacsv.read_csv(
                    pa.py_buffer(block),
                    read_options=pacsv.ReadOptions(
                        column_names=names, block_size=1 << 24, use_threads=len(block) > _THREADED_BYTES
                    ),
                    parse_options=pacsv.ParseOptions(newlines_in_values=False),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=keep,
                        strings_can_be_null=True,
                        column_types={n: pa.string() for n in keep if n in stamps},
                    ),
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ParseError(
                    f"table {category},{table} v{version}: rows do not fit its I row: {exc}"
                ) from None
            for n in keep:
                if n in stamps:
                    parsed = parse_stamps(arr.column(n))
                    if parsed is not None:
                        arr = arr.set_column(arr.schema.get_field_index(n), n, parsed)
        versions[(category, table, version)] = arr
        known = tables.get((category, table))
        if known is None or (known[1].num_rows == 0 and arr.num_rows > 0):
            tables[(category, table)] = (version, arr)
        elif arr.num_rows > 0:
            raise ParseError(f"table {category},{table} has rows in two versions ({known[0]} and {version})")
    return MMSFile(head[2], created, tables, versions)
