"""CCEE connector: Brazil's hourly PLD (Preço de Liquidação das Diferenças) from CCEE's open-data portal.

**NOT verified**: there is no recording of a CCEE answer in the fixtures. The parser follows the layout of the
``pld_horario`` dataset of CCEE's open-data portal (``https://dadosabertos.ccee.org.br/dataset/pld_horario``,
a CKAN site: one resource per year since 2021) as it is described by the portal's column list and read by
public open-source clients (e.g. the column set ``MES_REFERENCIA``, ``SUBMERCADO``,
``PERIODO_COMERCIALIZACAO``, ``DIA``, ``HORA``, ``PLD_HORA``). What could and could not be confirmed:

- confirmed from several independent public clients: the columns above; ``MES_REFERENCIA`` is ``AAAAMM``;
  ``DIA`` is the day of the month (one client also meets full ``DD/MM/AAAA`` dates, both are accepted);
  ``HORA`` runs 0..23 (the hour's *beginning*, local civil time); ``SUBMERCADO`` is ``SUDESTE``, ``SUL``,
  ``NORDESTE`` or ``NORTE``; the yearly CSV is ``;``-separated with a decimal comma; values in BRL/MWh.
- CKAN's own documentation gives the ``datastore_search`` envelope (``{"success": true, "result":
  {"records": [...], "total": n}}``); the per-year resource ids in :data:`RESOURCE_IDS` come from a public
  client, not from CCEE's documentation, and must be re-read from the portal when a new year opens.
- not confirmed: when CCEE writes a day into the open-data resource (the PLD itself is set the day before
  delivery from ONS's DESSEM run, but the portal may lag).

Time zone: ``America/Sao_Paulo`` (Brasília time, UTC-03:00). Brazil abolished daylight saving time in 2019
(decree 9.772/2019), and hourly PLD starts in 2021, so every day has 24 hours; :func:`local_to_utc` would
still refuse a non-existent or ambiguous hour.

Rows: market ``CCEE_PLD_HOURLY``, location the submarket (``SE_CO`` for Sudeste/Centro-Oeste, ``S``,
``NE``, ``N``; ``location_type = "submarket"``), ``[hour, hour + 1 h)``, currency ``BRL``, unit ``BRL/MWh``.
``published_at_utc`` = the start of the delivery day (local midnight): the PLD is known before delivery,
so this is never earlier than the real publication (conservative for as-of reads); the exact publication
time is not documented in what we could read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd

from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_to_utc

SOURCE = "ccee"
TZ = "America/Sao_Paulo"
MARKET = "CCEE_PLD_HOURLY"
DATASET = "pld_hourly"
API = "https://dadosabertos.ccee.org.br/api/3/action/datastore_search"
#: CKAN resource id of each year's ``pld_horario`` resource (from a public client; re-check on the portal)
RESOURCE_IDS = {
    2021: "51922462-16b4-4c64-8327-4e14d6ee8c6c",
    2022: "723cf7e6-6c29-4da6-aa39-e4c8804baf65",
    2023: "5fc317af-7191-4f8a-94e7-f77c56c747b3",
    2024: "1b5b6946-8036-4622-a7a3-b21f33fc52b7",
    2025: "2a180a6b-f092-43eb-9f82-a48798b803dc",
    2026: "3f279d6b-1069-42f7-9b0a-217b084729c4",
}
#: one month of one resource: 4 submarkets x 744 hours at most
PAGE_LIMIT = 3000
#: CCEE documents no request limit; a polite one request every 2 s
RATE_LIMIT_S = 2.0
SUBMARKETS = {"SUDESTE": "SE_CO", "SUDESTE/CENTRO-OESTE": "SE_CO", "SE/CO": "SE_CO", "SUL": "S",
              "NORDESTE": "NE", "NORTE": "N"}  # fmt: skip
COLUMNS = ("MES_REFERENCIA", "SUBMERCADO", "DIA", "HORA", "PLD_HORA")

DATASETS = (
    Dataset(
        DATASET,
        "prices",
        "PLD horário: hourly settlement price per submarket (SE/CO, S, NE, N) [BRL/MWh]"
        " (documented format, no recording)",
        "1D",
        TZ,
        verified=False,
        max_window="31D",
        lag="-1D",
    ),
)


def _frame_from_json(body: bytes) -> pd.DataFrame:
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a CKAN answer object, got {type(doc).__name__}")
    if doc.get("success") is False:
        raise ParseError(f"CKAN error: {doc.get('error')}")
    result = doc.get("result")
    records = result.get("records") if isinstance(result, dict) else None
    if not isinstance(records, list):
        raise ParseError(f"no result.records in the CKAN answer (keys {sorted(doc)})")
    if not records:
        raise ParseError("the CKAN answer holds no records")
    return pd.DataFrame.from_records(records).astype(str)


def _frame_from_csv(text: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ParseError(f"unreadable CSV: {exc}") from None


def _number(values: pd.Series, col: str) -> pd.Series:
    text = values.str.strip()
    # the CSV writes a decimal comma (no thousands separator); JSON numbers arrive as "61.07"
    text = text.where(~text.str.contains(",", regex=False), text.str.replace(",", ".", regex=False))
    try:
        return pd.Series(
            pd.to_numeric(text.mask(text.isin(["", "None", "nan"])), errors="raise"), dtype=float
        )
    except ValueError as exc:
        raise ParseError(f"non-numeric {col}: {exc}") from None


def parse_pld(body: bytes) -> pd.DataFrame:
    """Map a ``pld_horario`` answer (CKAN ``datastore_search`` JSON or the yearly CSV) to ``prices`` rows.

    Parameters
    ----------
    body : bytes
        The answer as served.

    Returns
    -------
    pd.DataFrame
        One row per submarket and hour, [BRL/MWh]; a blank ``PLD_HORA`` gives no row.

    Raises
    ------
    ParseError
        On anything that is not the documented layout.
    """
    if not body.strip():
        raise ParseError("empty body")
    text = body.decode("utf-8-sig", errors="replace")
    if text.lstrip()[:1] == "<":
        raise ParseError("an HTML page instead of data (the portal answers 403 pages to some clients)")
    raw = _frame_from_json(body) if text.lstrip()[:1] == "{" else _frame_from_csv(text)
    raw.columns = [str(c).strip().upper() for c in raw.columns]
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ParseError(f"changed layout: missing {missing}; found {list(raw.columns)}")
    if raw.empty:
        raise ParseError("the file has a header but no rows")
    sub = raw["SUBMERCADO"].str.strip().str.upper()
    unknown = sorted(set(sub) - set(SUBMARKETS))
    if unknown:
        raise ParseError(f"unknown SUBMERCADO {unknown}; known {sorted(SUBMARKETS)}")
    month = raw["MES_REFERENCIA"].str.strip().str.replace(r"[-/]", "", regex=True)
    day = raw["DIA"].str.strip()
    full = day.str.contains("/", regex=False)
    ymd = (month.str[:4] + "-" + month.str[4:6] + "-" + day.str.zfill(2)).where(~full, "")
    try:
        dates = pd.to_datetime(ymd.where(~full), format="%Y-%m-%d", errors="raise")
        if full.any():
            dates = dates.where(~full, pd.to_datetime(day.where(full), format="%d/%m/%Y", errors="raise"))
    except ValueError as exc:
        raise ParseError(f"unreadable MES_REFERENCIA/DIA: {exc}") from None
    if full.any() and (dates[full].dt.strftime("%Y%m") != month[full]).any():
        raise ParseError("a DIA date outside its MES_REFERENCIA")
    try:
        hour = pd.to_numeric(raw["HORA"].str.strip(), errors="raise").astype(int)
    except ValueError as exc:
        raise ParseError(f"non-numeric HORA: {exc}") from None
    if not hour.between(0, 23).all():
        raise ParseError(f"HORA outside 0..23: {sorted(set(hour[~hour.between(0, 23)]))}")
    price = _number(raw["PLD_HORA"], "PLD_HORA")
    wall = pd.DatetimeIndex(dates + pd.to_timedelta(hour, unit="h"))
    try:
        start = local_to_utc(wall, TZ)
        day_start = local_to_utc(pd.DatetimeIndex(dates), TZ)
    except ValueError as exc:
        raise ParseError(f"local hour that does not exist once in {TZ}: {exc}") from None
    keep = price.notna().to_numpy()
    start_s = pd.Series(start[keep]).astype("datetime64[ms, UTC]")
    out = pd.DataFrame(
        {
            "interval_start_utc": start_s.to_numpy(),
            "interval_end_utc": (start_s + pd.Timedelta(hours=1)).to_numpy(),
            "market": MARKET,
            "location": sub[keep].map(SUBMARKETS).to_numpy(),
            "location_type": "submarket",
            "price": price[keep].to_numpy(),
            "energy": np.nan,
            "congestion": np.nan,
            "loss": np.nan,
            "currency": "BRL",
            "unit": "BRL/MWh",
            "revision": "",
            "source": SOURCE,
            "published_at_utc": pd.Series(day_start[keep]).astype("datetime64[ms, UTC]").to_numpy(),
        }
    )
    if out.empty:
        raise ParseError("no hour has a PLD_HORA")
    if out.duplicated(["location", "interval_start_utc"]).any():
        raise ParseError("the same submarket and hour are listed twice")
    return out.sort_values(
        ["market", "location", "interval_start_utc", "published_at_utc"], ignore_index=True
    )


class CCEEIngestor(Ingestor):
    """Câmara de Comercialização de Energia Elétrica: hourly PLD from the open-data portal (not verified)."""

    source = SOURCE

    def discover(self) -> Catalog:
        """Return CCEE's datasets."""
        return Catalog(SOURCE, DATASETS, RATE_LIMIT_S)

    def request(self, dataset: str, month: pd.Timestamp) -> tuple[str, dict[str, str]]:
        """Return the CKAN ``datastore_search`` URL and query for ``dataset`` in the calendar ``month``.

        One request per reference month: ``filters={"MES_REFERENCIA": "AAAAMM"}`` on the year's resource,
        at most :data:`PAGE_LIMIT` records (a month has at most 2976).

        Raises
        ------
        ValueError
            For a year whose resource id is not in :data:`RESOURCE_IDS`.
        """
        self.discover().dataset(dataset)
        local = month.tz_convert(TZ) if month.tzinfo is not None else month
        if local.year not in RESOURCE_IDS:
            raise ValueError(
                f"ccee: no pld_horario resource id known for {local.year}; add it to RESOURCE_IDS"
            )
        filters = json.dumps({"MES_REFERENCIA": f"{local:%Y%m}"})
        return API, {"resource_id": RESOURCE_IDS[local.year], "filters": filters, "limit": str(PAGE_LIMIT)}

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one CKAN answer per local calendar month of the window."""
        if self.http is None:
            raise ParseError("ccee: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        first = request.start_utc.tz_convert(TZ).normalize().replace(day=1)
        for month in pd.date_range(first, request.end_utc.tz_convert(TZ), freq="MS", inclusive="left"):
            url, params = self.request(request.dataset, month)
            resp = self.http.get(SOURCE, url, params, min_interval_s=RATE_LIMIT_S)
            end = (month + pd.DateOffset(months=1)).tz_convert("UTC")
            yield RawPayload(
                SOURCE, request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                resp.content_type, month.tz_convert("UTC"), end, meta=params,
            )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to ``prices`` rows."""
        self.discover().dataset(raw.dataset)
        return parse_pld(raw.body)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """``pld_horario`` files and answers carry the ``PLD_HORA`` column."""
        if b"PLD_HORA" in body[:4000].upper() or "pld_horario" in filename.lower():
            return DATASET
        return super().detect_dataset(filename, body)
