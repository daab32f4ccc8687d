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

The reader finds the ``I`` and ``C`` lines with ``bytes.find`` (a ``memchr`` scan, no Python loop over rows),
then hands each table's block of ``D`` lines to Arrow's multi-threaded CSV reader with the ``I`` row's names:
the file is read once and split by its ``I`` rows. Stamps ``YYYY/MM/DD HH:MM:SS`` (quoted or not) become
Arrow timestamps there, naive: they are AEST wall clock (see :mod:`marketintel.connectors.nem.mapping`).
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

import pandas as pd
import pyarrow as pa
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


def _line_starts(text: bytes, prefix: bytes) -> list[int]:
    """Return the offsets of the lines starting with ``prefix`` (a memchr scan through ``bytes.find``)."""
    out = [0] if text.startswith(prefix) else []
    needle = b"\n" + prefix
    at = text.find(needle)
    while at >= 0:
        out.append(at + 1)
        at = text.find(needle, at + 1)
    return out


def _header(line: bytes) -> list[str]:
    return [c.strip().strip('"') for c in line.decode("utf-8", errors="replace").rstrip("\r\n").split(",")]


def read_mms(body: bytes, columns: Collection[str] | None = None) -> MMSFile:
    """Read a C/I/D CSV (zipped or not) into its tables (only ``columns`` of each, when given).

    Converting only the columns a mapping uses is most of the reader's speed on wide tables (DISPATCH,
    REGIONSUM v8 has 125 columns, of which a dozen are stored).

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
        created = pd.Timestamp(pd.to_datetime(f"{head[5]} {head[6]}", format=STAMP_FORMAT))
    except ValueError:
        raise ParseError(f"unreadable creation stamp in the C header: {head[5]!r} {head[6]!r}") from None
    if b"END OF REPORT" not in text[-200:]:
        raise ParseError('no C,"END OF REPORT" footer: the file is truncated')
    i_rows = _line_starts(text, b"I,")
    c_rows = _line_starts(text, b"C,")
    if not i_rows:
        raise ParseError("no I (table header) row: not an MMS data file")
    bounds = [*sorted(i_rows + c_rows), len(text)]
    versions: dict[tuple[str, str, int], pa.Table] = {}
    tables: dict[tuple[str, str], tuple[int, pa.Table]] = {}
    nxt = {b: bounds[k + 1] for k, b in enumerate(bounds[:-1])}
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
        block = memoryview(text)[line_end + 1 : nxt[start]]
        names = ["_record", "_category", "_table", "_version", *cols[4:]]
        if len(set(names)) != len(names):
            raise ParseError(f"table {category},{table} v{version}: repeated column names")
        keep = names[:1] + [n for n in names[4:] if columns is None or n in columns]
        if not bytes(block[:64]).strip():
            arr = pa.table({n: pa.array([], pa.string()) for n in keep})
        else:
            try:
                arr = pacsv.read_csv(
                    pa.py_buffer(block),
                    read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
                    parse_options=pacsv.ParseOptions(newlines_in_values=False),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=None if columns is None else keep,
                        timestamp_parsers=[STAMP_FORMAT],
                        strings_can_be_null=True,
                        column_types={"_record": pa.string()},
                    ),
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ParseError(
                    f"table {category},{table} v{version}: rows do not fit its I row: {exc}"
                ) from None
        records = arr.column("_record").unique().to_pylist()
        if records and records != ["D"]:
            raise ParseError(f"table {category},{table} v{version}: unexpected record types {records}")
        versions[(category, table, version)] = arr
        known = tables.get((category, table))
        if known is None or (known[1].num_rows == 0 and arr.num_rows > 0):
            tables[(category, table)] = (version, arr)
        elif arr.num_rows > 0:
            raise ParseError(f"table {category},{table} has rows in two versions ({known[0]} and {version})")
    return MMSFile(head[2], created, tables, versions)
