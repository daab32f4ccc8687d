"""ISO-NE generation fuel mix (``genfuelmix``) -> canonical ``fundamentals`` rows, vectorised.

Layout (recorded answers ``genfuelmix_day_2024*.json``, ``genfuelmix_current.json``)::

    {"GenFuelMixes": {"GenFuelMix": [{"BeginDate": "2024-03-10T00:02:39.000-05:00", "GenMw": 1049,
      "FuelCategoryRollup": "Hydro", "FuelCategory": "Hydro", "MarginalFlag": "N"}, ...]}}

Conventions, with the evidence from the recordings:

- ISO-NE posts a *snapshot* of the whole mix at irregular instants (``BeginDate`` with seconds, about every
  5 minutes: 239..267 updates a day, gaps of 0:00:14..0:17:29); each update lists one record per fuel that
  is running (Solar disappears at night, Coal and Oil appear only when committed). The ``current`` answer
  holds the latest update only.
- Interval: an update holds from its ``BeginDate`` until the *next update* (of any fuel) in the same
  answer; the last update of an answer holds for the nominal 5-minute cadence, cut at the next local
  midnight (a ``day`` answer covers its local day; the next update is in the next day's answer). Every
  fuel of an update shares the update's interval, so the intervals of a variable never overlap. A fuel
  absent from an update has no row for that interval (it was not reported; no zero is invented).
- Because the last update's end is provisional, re-reading a day that was still in progress can give that
  update a later end (a second row with the same start); its ``published_at_utc`` is later, so the latest
  publication per start wins.
- ``BeginDate`` carries its UTC offset (``-05:00`` / ``-04:00``), so the DST days need no guessing: on
  2024-03-10 the stamps jump from ``01:5x-05:00`` to ``03:0x-04:00`` (23 hours), on 2024-11-03 the hour
  01:00-02:00 occurs twice, once with each offset (25 hours).
- ``published_at_utc`` is the interval end (an actual). ``MarginalFlag`` is not mapped (it is a flag of the
  update, not a quantity).
- Variables: ``generation_<fuel>`` (``FuelCategory`` slugged: ``generation_natural_gas``,
  ``generation_landfill_gas``) [MW], area ``NEPOOL AREA`` (ISO-NE's name for the whole control area).

Speed: the body is decoded by pyarrow's JSON reader in C++ (a plain ``json.loads`` fallback handles the
other shapes); timestamps and fuel names are parsed once per distinct value (about 270 and 10 of 2,400
records) and spread back with numpy ``take``; no Python work per record.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from marketintel.connectors.isone.common import SYSTEM_AREA, TZ, utc_index, utc_ms
from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_day_start_utc

#: nominal update cadence of the fuel mix: the hold of an answer's last update (see the module docstring)
NOMINAL_UPDATE = pd.Timedelta(minutes=5)
_REQUIRED = ("BeginDate", "GenMw", "FuelCategory")


_ITEM = pa.struct([("BeginDate", pa.string()), ("GenMw", pa.float64()), ("FuelCategory", pa.string())])
_SCHEMA = pa.schema([("GenFuelMixes", pa.struct([("GenFuelMix", pa.list_(_ITEM))]))])


def _items_arrow(body: bytes) -> pa.StructArray | None:
    """Return the records as one Arrow struct array via pyarrow's JSON reader, or None for other shapes.

    The reader takes the one-line answer as a one-row table with the declared schema (fields it does not
    name are ignored, fields it names but the answer lacks come out null and are refused later); a single
    record instead of a list, or a pretty-printed body, fails here and goes the ``json.loads`` way.
    """
    try:
        table = pa_json.read_json(
            io.BytesIO(body),
            read_options=pa_json.ReadOptions(block_size=len(body) + 1024, use_threads=False),
            parse_options=pa_json.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != 1:
        return None
    column = table.column("GenFuelMixes").combine_chunks()
    if column.null_count:
        return None
    inner = column.field("GenFuelMix")
    if inner.null_count:
        return None
    items = inner.flatten()
    assert isinstance(items, pa.StructArray)
    return items


def _items_python(body: bytes) -> pa.StructArray:
    """Return the records of any accepted shape (single record, no wrapper, pretty-printed)."""
    try:
        doc: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    node = doc.get("GenFuelMixes", doc) if isinstance(doc, dict) else None
    found = node.get("GenFuelMix") if isinstance(node, dict) else None
    if found is None:
        keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ParseError(f"no GenFuelMixes.GenFuelMix in the answer (found {keys})")
    records = found if isinstance(found, list) else [found]
    if not records:
        raise ParseError("the answer holds no fuel mix records")
    try:
        items = pa.array(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ParseError(f"fuel mix records of mixed shapes: {exc}") from None
    if not isinstance(items, pa.StructArray):
        raise ParseError(f"fuel mix records are not objects ({items.type})")
    return items


def parse_fuel_mix(body: bytes) -> pd.DataFrame:
    """Map one ``genfuelmix`` answer to ``fundamentals`` rows (``generation_<fuel>`` [MW]).

    Parameters
    ----------
    body : bytes
        The JSON answer of ``genfuelmix/day/YYYYMMDD`` or ``genfuelmix/current``.

    Returns
    -------
    pd.DataFrame
        One row per fuel and update, sorted by variable and interval start.

    Raises
    ------
    ParseError
        On an empty, HTML/XML or non-JSON body, a missing field, a missing value or a fuel listed twice
        in one update.
    """
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("an HTML or XML page instead of JSON (ask for application/json; error page?)")
    items = _items_arrow(body)
    if items is None:
        items = _items_python(body)
    names = [items.type.field(i).name for i in range(items.type.num_fields)]
    missing = [f for f in _REQUIRED if f not in names]
    if missing:
        raise ParseError(f"fuel mix records without {missing}; found {sorted(names)}")
    if len(items) == 0:
        raise ParseError("the answer holds no fuel mix records")
    begin = items.field("BeginDate").dictionary_encode()
    fuel = items.field("FuelCategory").cast(pa.string()).dictionary_encode()
    gen = items.field("GenMw")
    for name, column in (("BeginDate", begin), ("FuelCategory", fuel), ("GenMw", gen)):
        if column.null_count:
            raise ParseError(f"{column.null_count} fuel mix records without {name}")
    stamps = utc_ms(begin.dictionary, "BeginDate")  # ms since the epoch, one per distinct BeginDate
    try:
        values = gen.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ParseError(f"non-numeric GenMw: {exc}") from None
    update = begin.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    fuel_code = fuel.indices.to_numpy(zero_copy_only=False).astype(np.int64)

    # one interval per update: [this update, next update); the last one holds 5 min, cut at local midnight
    order = np.argsort(stamps, kind="stable")
    if (np.diff(stamps[order]) == 0).any():
        raise ParseError("two BeginDate spellings denote the same instant")
    ends = np.empty_like(stamps)
    ends[order[:-1]] = stamps[order[1:]]
    last = pd.Timestamp(int(stamps[order[-1]]), unit="ms", tz="UTC")
    days = local_day_start_utc(pd.DatetimeIndex([last, last + NOMINAL_UPDATE]), TZ)
    ends[order[-1]] = (days[1] if days[1] != days[0] else last + NOMINAL_UPDATE).value // 1_000_000

    variables = np.array(["generation_" + slug(str(f)) for f in fuel.dictionary.to_pylist()], dtype=object)
    rank = np.argsort(np.argsort(variables, kind="stable"), kind="stable")  # lexical rank of each fuel
    row_start = stamps[update]
    row_rank = rank[fuel_code]
    rows = np.lexsort((row_start, row_rank))
    start_ms = row_start[rows]
    sorted_rank = row_rank[rows]
    if ((np.diff(start_ms) == 0) & (np.diff(sorted_rank) == 0)).any():
        raise ParseError("a fuel is listed twice in one fuel mix update")
    end_ms = ends[update][rows]
    start, end = utc_index(start_ms), utc_index(end_ms)
    return fundamentals_frame(
        start,
        end,
        market="ISONE",
        area=SYSTEM_AREA,
        variable=variables[fuel_code[rows]],
        value=values[rows],
        unit="MW",
        source="isone",
        published=end,
    )
