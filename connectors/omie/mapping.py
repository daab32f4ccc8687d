"""OMIE day-ahead marginal price files (``INT_PBC_EV_H_1_DD_MM_YYYY_DD_MM_YYYY.TXT``) -> canonical rows.

Layout (recorded: the file of 2025-10-01, the first day of the 15-minute market time unit)
    Line 1: ``OMIE - Mercado de electricidad;Fecha Emisión :30/09/2025 - 13:51;;01/10/2025;Precio del
    mercado diario (EUR/MWh);;;;`` (the issue time and the delivery day), a blank line, a header row
    ``;H1Q1;H1Q2;...;H24Q4;`` and one row per series: ``Precio marginal en el sistema español (EUR/MWh)``,
    ``... portugués (EUR/MWh)``, the purchases and sales of each system, the Iberian total with and
    without bilateral contracts, and the Spain-Portugal interconnection (``Importación de España desde
    Portugal``, ``Exportación de España a Portugal``) [MW]; cells are right-aligned with spaces, decimal
    commas, ``;``-separated, each line ending with ``;``. The recording is UTF-8 (OMIE's site serves
    Windows-1252 in other copies, so that is accepted too).

    Before 2025-10-01 the same file had one column per hour, header ``;1;2;...;24;`` (pyomie and the
    published R/Python readers of the file read it so: ``skip=2``, columns ``1..24``). No recording of that
    layout is at hand: the hourly dataset is built from that description (``verified=False``) and tested on
    a hand-written payload.

Time
    The OMIE day is the Spanish local day (``Europe/Madrid``) for both Spain and Portugal (Portugal's
    clock is an hour behind, but MIBEL trades on Spanish time). Column ``HhQq`` is the q-th quarter of
    the h-th hour *of the day as it is lived*: the k-th column (0-based) starts ``15 * k`` minutes after
    local midnight in absolute time, so on the spring DST day the file has 23 hours (H1Q1..H23Q4, 92
    quarters) and on the autumn day 25 (100 quarters); hourly files 23 and 25 columns. The count must
    equal the local day's length, or the file is refused.

``published_at_utc``
    The file's ``Fecha Emisión`` (issue time, Spanish local time): the results of the SDAC auction
    (12:00 CET) are published by OMIE from about 13:00 CET the day before delivery (the recording: issued
    2025-09-30 13:51 CEST, the day the first 15-minute auction's results came late).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "Europe/Madrid"
SOURCE = "omie"
MARKET = "OMIE"
MARKET_15MIN = "OMIE_DAY_AHEAD_15MIN"
MARKET_HOURLY = "OMIE_DAY_AHEAD_HOURLY"
#: the system of a row label -> location
SYSTEMS = {"español": "ES", "portugués": "PT"}
#: fundamentals rows: label pattern -> (area, area_to, variable)
ENERGY_ROWS = (
    (re.compile(r"total de compra sistema español", re.I), ("ES", "", "purchases")),
    (re.compile(r"total de venta sistema español", re.I), ("ES", "", "sales")),
    (re.compile(r"total de compra sistema portugués", re.I), ("PT", "", "purchases")),
    (re.compile(r"total de venta sistema portugués", re.I), ("PT", "", "sales")),
    (
        re.compile(r"total con bilaterales del mercado ibérico", re.I),
        ("ES_PT", "", "matched_with_bilaterals"),
    ),
    (re.compile(r"total del mercado ibérico", re.I), ("ES_PT", "", "matched")),
    (re.compile(r"importación de españa desde portugal", re.I), ("PT", "ES", "scheduled_flow")),
    (re.compile(r"exportación de españa a portugal", re.I), ("ES", "PT", "scheduled_flow")),
)
_PRICE_ROW = re.compile(r"^Precio marginal en el sistema (español|portugués) \((EUR/MWh)\)$", re.I)
_UNIT = re.compile(r"\((MWh|MW)\)\s*$")
_ISSUED = re.compile(r"Fecha Emisi[óo]n\s*:\s*(\d{2}/\d{2}/\d{4})\s*-\s*(\d{1,2}:\d{2})")
_QUARTER = re.compile(r"^H(\d{1,2})Q([1-4])$")
_PRICE_ORDER = ["market", "location", "interval_start_utc", "published_at_utc"]
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]


def _text(body: bytes) -> str:
    if not body.strip():
        raise ParseError("empty body: OMIE has not published this day's file (or the request was wrong)")
    if body.lstrip()[:100].lower().startswith((b"<!doctype", b"<html")):
        raise ParseError("an HTML page instead of the OMIE marginal price file (missing file or error page)")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252")


def _number(cell: str, where: str) -> float:
    text = cell.strip().replace(",", ".")  # decimal commas; OMIE writes no thousands separator
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"{where}: non-numeric cell {cell.strip()!r}") from None


def layout(body: bytes) -> str:
    """Return ``"15min"`` or ``"hourly"`` from the header row of a marginal price file."""
    return _read(body)[2]


def _read(body: bytes) -> tuple[list[list[str]], list[str], str, pd.Timestamp, pd.Timestamp]:
    """Split the file: (series rows, column labels, layout, delivery day, issue time in UTC)."""
    lines = [line.rstrip("\r") for line in _text(body).split("\n")]
    head = lines[0].split(";")
    if not head[0].startswith("OMIE"):
        raise ParseError(f"not an OMIE file: the first line is {lines[0][:80]!r}")
    m = _ISSUED.search(lines[0])
    days = [c.strip() for c in head[1:] if re.fullmatch(r"\d{2}/\d{2}/\d{4}", c.strip())]
    if not m or not days:
        raise ParseError("the first line has no 'Fecha Emisión : DD/MM/YYYY - HH:MM' and delivery day")
    day = pd.Timestamp(pd.to_datetime(days[0], format="%d/%m/%Y"))
    issued_wall = pd.to_datetime(f"{m.group(1)} {m.group(2)}", format="%d/%m/%Y %H:%M")
    try:
        issued = local_to_utc(pd.DatetimeIndex([issued_wall]), TZ, [False])[0]
    except ValueError as exc:
        raise ParseError(f"issue time {m.group(0)!r} does not exist in {TZ}: {exc}") from None
    header_at = next((k for k, line in enumerate(lines) if line.startswith(";") and line.strip(";")), None)
    if header_at is None:
        raise ParseError("no header row (';H1Q1;H1Q2;...' or ';1;2;...')")
    labels = [c.strip() for c in lines[header_at].split(";")[1:]]
    while labels and not labels[-1]:
        labels.pop()
    if labels and _QUARTER.match(labels[0]):
        kind = "15min"
        expected = [f"H{h}Q{q}" for h in range(1, len(labels) // 4 + 1) for q in range(1, 5)]
    else:
        kind = "hourly"
        expected = [str(h) for h in range(1, len(labels) + 1)]
    if labels != expected:
        raise ParseError(f"header columns are not {expected[:2]}..{expected[-1:]} in order: {labels[:6]}...")
    rows = []
    for line in lines[header_at + 1 :]:
        cells = line.split(";")
        if not cells[0].strip():
            if any(c.strip() for c in cells):
                raise ParseError(f"a data row without a label: {line[:80]!r}")
            continue
        values = cells[1 : len(labels) + 1]
        if len(values) < len(labels) or any(c.strip() for c in cells[len(labels) + 1 :]):
            raise ParseError(f"row {cells[0].strip()!r} has {len(cells) - 1} cells for {len(labels)} columns")
        rows.append([cells[0].strip(), *values])
    if not rows:
        raise ParseError("no data rows after the header")
    return rows, labels, kind, day, issued


def parse_marginal_price_file(body: bytes, expect: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map a marginal price file to (``prices``, ``fundamentals``) rows.

    Prices: ES and PT [EUR/MWh], market ``OMIE_DAY_AHEAD_15MIN`` or ``_HOURLY`` by the header. Energy rows
    [MW, or MWh per hour in files that say so] become fundamentals of market ``OMIE``: ``purchases`` and
    ``sales`` per system, ``matched`` and ``matched_with_bilaterals`` of the Iberian market (area
    ``ES_PT``), and the day-ahead ``scheduled_flow`` ES -> PT and PT -> ES. ``expect`` (``"15min"`` or
    ``"hourly"``) refuses a file of the other layout.
    """
    rows, labels, kind, day, issued = _read(body)
    if expect is not None and kind != expect:
        raise ParseError(f"a {kind} file where the {expect} layout was asked for")
    step = pd.Timedelta(minutes=15 if kind == "15min" else 60)
    day_start = local_to_utc(pd.DatetimeIndex([day]), TZ)[0]
    day_end = local_to_utc(pd.DatetimeIndex([day + pd.Timedelta(days=1)]), TZ)[0]
    if (day_end - day_start) / step != len(labels):
        raise ParseError(
            f"{day:%Y-%m-%d} lasts {(day_end - day_start) / pd.Timedelta(hours=1):.0f} h in {TZ}, i.e."
            f" {int((day_end - day_start) / step)} columns; the file has {len(labels)}"
        )
    starts = pd.DatetimeIndex([day_start + k * step for k in range(len(labels))])
    stamps = pd.Series(starts).astype("datetime64[ms, UTC]")
    ends = (stamps + step).astype("datetime64[ms, UTC]")
    published = pd.Timestamp(issued).tz_convert("UTC")
    prices: list[pd.DataFrame] = []
    energy: list[pd.DataFrame] = []
    market = MARKET_15MIN if kind == "15min" else MARKET_HOURLY
    for label, *cells in rows:
        values = np.array([_number(c, f"{label} column {labels[k]}") for k, c in enumerate(cells)])
        price = _PRICE_ROW.match(label)
        if price:
            prices.append(
                _price_frame(stamps, ends, market, SYSTEMS[price.group(1).lower()], values, published)
            )
            continue
        spec = next((s for pattern, s in ENERGY_ROWS if pattern.search(label)), None)
        unit = _UNIT.search(label)
        if spec is None or unit is None:
            raise ParseError(
                f"unknown row {label!r}; known: the two marginal prices and {len(ENERGY_ROWS)} energy rows"
                " (purchases, sales, Iberian totals, ES-PT interconnection)"
            )
        area, area_to, variable = spec
        energy.append(
            fundamentals_frame(
                stamps,
                ends,
                market=MARKET,
                area=area,
                area_to=area_to,
                variable=variable,
                value=values,
                unit=unit.group(1),
                source=SOURCE,
                published=published,
            )
        )
    if len(prices) != 2:
        raise ParseError(f"{len(prices)} marginal price rows; expected Spain and Portugal")
    price_df = pd.concat(prices, ignore_index=True).sort_values(_PRICE_ORDER, ignore_index=True)
    if energy:
        fund_df = pd.concat(energy, ignore_index=True)
        fund_df["fidelity"] = "official"
        fund_df["published_at_utc"] = fund_df["published_at_utc"].astype("datetime64[ms, UTC]")
        fund_df = fund_df.sort_values(_FUND_ORDER, ignore_index=True)
    else:
        fund_df = fundamentals_frame(
            stamps[:0], ends[:0], market=MARKET, area="", variable="", value=np.array([], dtype=float),
            unit="MW", source=SOURCE, published=stamps[:0],
        )  # fmt: skip
    return price_df, fund_df


def _price_frame(
    starts: pd.Series, ends: pd.Series, market: str, location: str, values: Any, published: pd.Timestamp
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "interval_start_utc": starts,
            "interval_end_utc": ends,
            "market": market,
            "location": location,
            "location_type": "bidding_zone",
            "price": values.astype(float),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": "EUR",
            "unit": "EUR/MWh",
            "revision": "",
            "source": SOURCE,
            "fidelity": "official",
            "published_at_utc": pd.Series([published] * len(starts)).astype("datetime64[ms, UTC]"),
        }
    )
