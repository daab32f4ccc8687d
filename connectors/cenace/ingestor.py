"""CENACE connector: Mexico's local marginal prices (PML) from CENACE's SW-PML web service.

**NOT verified**: there is no recording of a CENACE answer in the fixtures. The request and the layout
follow CENACE's "Manual Técnico: Uso de Servicio Web para descarga de Precios Marginales Locales" (SW-PML)
as it is applied by several public clients:

``https://ws01.cenace.gob.mx:8082/SWPML/SIM/{sistema}/{proceso}/{nodos}/{año}/{mes}/{día}/{año}/{mes}/{día}/JSON``

with ``sistema`` ``SIN`` / ``BCA`` / ``BCS``, ``proceso`` ``MDA`` (day-ahead) or ``MTR`` (real time),
``nodos`` comma-separated NodoP keys (clients keep to at most 20 per request) and a window of at most
7 days (CENACE answers ``{"Message": "No se pueden mostrar datos con un lapso mayor a 7 dias"}`` otherwise).
The JSON answer: ``{"nombre": "PML", "proceso": "MDA", "sistema": "SIN", "area": ..., "status": "OK",
"Resultados": [{"clv_nodo": "01PLO-115", "Valores": [{"fecha": "2024-01-15", "hora": "1", "pml": "...",
"pml_ene": "...", "pml_per": "...", "pml_cng": "..."}]}]}``; every value is a string, a blank ``pml`` is
a missing price. Prices in MXN/MWh: ``pml = pml_ene + pml_per + pml_cng`` (energy, losses, congestion).

What could not be confirmed from the manual itself (we read it through clients, not directly):

- ``hora``: CENACE numbers the hours of an operating day sequentially, ``1..N``; hour ``h`` is the
  ``h``-th hour of the day, ``[00:00 + (h-1) h, 00:00 + h h)`` counted in *elapsed* time from local
  midnight (hour-ending numbering). A public client written against real answers states that a
  spring-forward day has 23 records and a fall-back day 25; the mapping below follows that, so ``hora``
  25 is the second 01:00 hour of a fall-back day. An ``hora`` beyond the day's length is a ParseError.
- time zone: ``SIN`` stamps are central Mexico time, ``America/Mexico_City`` (CST, UTC-06:00; daylight
  time was abolished from 2022-10-30, so 23/25-hour days occur only up to 2022). For ``BCA`` (Baja
  California, which keeps US daylight time) and ``BCS`` we could not confirm which clock CENACE uses, so
  answers for those systems are refused with a ParseError rather than mapped on a guess.
- publication times. ``published_at_utc``: MDA prices at the start of the delivery day (the day-ahead
  market clears the day before; conservative); MTR prices 8 days after the start of the operating day
  (a public client waits 8 days for MTR results; CENACE's exact schedule is not documented to us).

Rows: market ``CENACE_MDA_HOURLY`` / ``CENACE_MTR_HOURLY``, location the NodoP key (``location_type =
"node"``), ``price`` = ``pml``, ``energy`` / ``loss`` / ``congestion`` the components, ``MXN``,
``MXN/MWh``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.timeutils import local_days, local_to_utc

SOURCE = "cenace"
TZ = "America/Mexico_City"
BASE = "https://ws01.cenace.gob.mx:8082/SWPML/SIM"
#: dataset -> (proceso, market)
PROCESSES = {"pml_mda_hourly": ("MDA", "CENACE_MDA_HOURLY"), "pml_mtr_hourly": ("MTR", "CENACE_MTR_HOURLY")}
#: systems whose stamps we can place in time (see the module docstring)
SYSTEM_TZ = {"SIN": TZ}
MAX_DAYS = 7
MAX_NODES = 20
#: NodoP keys asked when none are given (``MI_CENACE_NODES``, comma-separated, overrides)
DEFAULT_NODES = ("01PLO-115",)
NODES_ENV = "MI_CENACE_NODES"
#: CENACE publishes no request limit; a polite one request every 2 s
RATE_LIMIT_S = 2.0
MTR_PUBLICATION_DELAY = pd.Timedelta(days=8)
PRICE_FIELDS = ("pml", "pml_ene", "pml_per", "pml_cng")

DATASETS = (
    Dataset(
        "pml_mda_hourly",
        "prices",
        "Precios Marginales Locales, Mercado del Día en Adelanto (MDA), SIN, per NodoP [MXN/MWh]"
        " (documented format, no recording)",
        "1D",
        TZ,
        verified=False,
        max_window="7D",
        lag="-1D",
    ),
    Dataset(
        "pml_mtr_hourly",
        "prices",
        "Precios Marginales Locales, Mercado de Tiempo Real (MTR), SIN, per NodoP [MXN/MWh]"
        " (documented format, no recording)",
        "1D",
        TZ,
        verified=False,
        max_window="7D",
        lag="7D",
    ),
)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def parse_pml(body: bytes, dataset: str) -> pd.DataFrame:
    """Map an SW-PML JSON answer to ``prices`` rows.

    Parameters
    ----------
    body : bytes
        The answer as served.
    dataset : str
        ``pml_mda_hourly`` or ``pml_mtr_hourly``; the answer's ``proceso`` must match it.

    Returns
    -------
    pd.DataFrame
        One row per node and hour with a ``pml`` [MXN/MWh]; hours with a blank ``pml`` give no row.

    Raises
    ------
    ParseError
        On an error message, another service's answer (SW-PEND), a system we cannot place in time, or
        anything outside the documented layout.
    """
    proceso, market = PROCESSES[dataset]
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError("XML or HTML instead of JSON (ask for the JSON format)")
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    if "Resultados" not in doc:
        if "Message" in doc:
            raise ParseError(f"CENACE message: {doc['Message']}")
        raise ParseError(f"no Resultados in the answer (keys {sorted(doc)})")
    if _text(doc.get("status", "OK")).upper() != "OK":
        raise ParseError(f"status {doc.get('status')!r}")
    nombre = _text(doc.get("nombre", "PML")).upper()
    if nombre != "PML":
        raise ParseError(f"an answer of {nombre!r}, not PML (only SW-PML is mapped)")
    got = _text(doc.get("proceso", proceso)).upper()
    if got != proceso:
        raise ParseError(f"an answer for proceso {got!r}; dataset {dataset} is {proceso}")
    sistema = _text(doc.get("sistema", "SIN")).upper()
    if sistema not in SYSTEM_TZ:
        raise ParseError(
            f"sistema {sistema!r}: the time zone of its stamps is not confirmed (only SIN is mapped)"
        )
    tz = SYSTEM_TZ[sistema]
    results = doc["Resultados"]
    if not isinstance(results, list) or not results:
        raise ParseError("Resultados is empty: no node has values")
    rows: list[dict[str, object]] = []
    for res in results:
        if not isinstance(res, dict) or "clv_nodo" not in res:
            raise ParseError("a Resultados entry without clv_nodo (a SW-PEND answer has zona_carga)")
        node = _text(res["clv_nodo"])
        values = res.get("Valores")
        if not isinstance(values, list):
            raise ParseError(f"node {node}: no Valores list")
        for val in values:
            if not isinstance(val, dict):
                raise ParseError(f"node {node}: a Valores entry that is not an object")
            missing = [k for k in ("fecha", "hora", *PRICE_FIELDS) if k not in val]
            if missing:
                raise ParseError(f"node {node}: Valores entry without {missing}")
            rows.append({"node": node, **{k: _text(val[k]) for k in ("fecha", "hora", *PRICE_FIELDS)}})
    if not rows:
        raise ParseError("no node has any Valores")
    raw = pd.DataFrame(rows)
    try:
        fecha = pd.DatetimeIndex(pd.to_datetime(raw["fecha"], format="%Y-%m-%d", errors="raise"))
        hora = pd.to_numeric(raw["hora"], errors="raise").astype(int).to_numpy()
    except ValueError as exc:
        raise ParseError(f"unreadable fecha/hora: {exc}") from None
    try:
        day_start = local_to_utc(fecha, tz)
        days = sorted(set(fecha))
        lengths = {
            d: (local_to_utc(pd.DatetimeIndex([d + pd.Timedelta(days=1)]), tz)[0]
                - local_to_utc(pd.DatetimeIndex([d]), tz)[0]) // pd.Timedelta(hours=1)
            for d in days
        }  # fmt: skip
    except ValueError as exc:
        raise ParseError(f"a local midnight that does not exist once in {tz}: {exc}") from None
    n_hours = np.array([lengths[d] for d in fecha])
    bad = (hora < 1) | (hora > n_hours)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParseError(f"hora {hora[i]} on {raw['fecha'].iloc[i]}: that day has {n_hours[i]} hours in {tz}")
    prices = {}
    for col in PRICE_FIELDS:
        text = raw[col]
        try:
            prices[col] = pd.to_numeric(text.mask(text == ""), errors="raise").astype(float)
        except ValueError as exc:
            raise ParseError(f"non-numeric {col}: {exc}") from None
    keep = prices["pml"].notna().to_numpy()
    start = pd.Series(day_start + pd.to_timedelta(hora - 1, unit="h")).astype("datetime64[ms, UTC]")
    if proceso == "MDA":
        published = pd.Series(day_start).astype("datetime64[ms, UTC]")
    else:
        published = pd.Series(day_start + MTR_PUBLICATION_DELAY).astype("datetime64[ms, UTC]")
    out = pd.DataFrame(
        {
            "interval_start_utc": start[keep].to_numpy(),
            "interval_end_utc": (start[keep] + pd.Timedelta(hours=1)).to_numpy(),
            "market": market,
            "location": raw["node"][keep].to_numpy(),
            "location_type": "node",
            "price": prices["pml"][keep].to_numpy(),
            "energy": prices["pml_ene"][keep].to_numpy(),
            "congestion": prices["pml_cng"][keep].to_numpy(),
            "loss": prices["pml_per"][keep].to_numpy(),
            "currency": "MXN",
            "unit": "MXN/MWh",
            "revision": "",
            "source": SOURCE,
            "published_at_utc": published[keep].to_numpy(),
        }
    )
    if out.empty:
        raise ParseError("no hour of any node has a pml")
    if out.duplicated(["location", "interval_start_utc"]).any():
        raise ParseError("the same node and hour are listed twice")
    return out.sort_values(
        ["market", "location", "interval_start_utc", "published_at_utc"], ignore_index=True
    )


class CENACEIngestor(Ingestor):
    """Centro Nacional de Control de Energía: PML via the SW-PML web service (not verified)."""

    source = SOURCE

    def discover(self) -> Catalog:
        """Return CENACE's datasets."""
        return Catalog(SOURCE, DATASETS, RATE_LIMIT_S)

    @staticmethod
    def nodes() -> tuple[str, ...]:
        """Return the NodoP keys to ask for (``MI_CENACE_NODES`` or :data:`DEFAULT_NODES`)."""
        given = [n.strip() for n in os.environ.get(NODES_ENV, "").split(",") if n.strip()]
        return tuple(given) or DEFAULT_NODES

    def request(
        self,
        dataset: str,
        first_day: pd.Timestamp,
        last_day: pd.Timestamp,
        nodes: Sequence[str] | None = None,
        sistema: str = "SIN",
    ) -> tuple[str, None]:
        """Return the SW-PML URL of ``dataset`` for the local days ``first_day`` .. ``last_day`` (inclusive).

        Raises
        ------
        ValueError
            For more than :data:`MAX_DAYS` days or :data:`MAX_NODES` nodes, or an unmapped system.
        """
        proceso, _ = PROCESSES[self.discover().dataset(dataset).name]
        if sistema not in SYSTEM_TZ:
            raise ValueError(f"cenace: sistema {sistema!r} is not mapped (only {sorted(SYSTEM_TZ)})")
        keys = list(nodes or self.nodes())
        if not keys or len(keys) > MAX_NODES:
            raise ValueError(f"cenace: give 1..{MAX_NODES} nodes per request, got {len(keys)}")
        first, last = (d.tz_convert(TZ) if d.tzinfo is not None else d for d in (first_day, last_day))
        if (last.normalize() - first.normalize()).days + 1 > MAX_DAYS or last < first:
            raise ValueError(
                f"cenace: a request covers 1..{MAX_DAYS} days, got {first:%Y-%m-%d}..{last:%Y-%m-%d}"
            )
        url = f"{BASE}/{sistema}/{proceso}/{','.join(keys)}/{first:%Y/%m/%d}/{last:%Y/%m/%d}/JSON"
        return url, None

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        """Yield one answer per block of at most 7 local days and 20 nodes."""
        if self.http is None:
            raise ParseError("cenace: no HTTP client given (HttpClient live, record or replay)")
        self.discover().dataset(request.dataset)
        days = local_days(request.start_utc, request.end_utc, TZ)
        keys = self.nodes()
        for i in range(0, len(days), MAX_DAYS):
            block = days[i : i + MAX_DAYS]
            for j in range(0, len(keys), MAX_NODES):
                url, _ = self.request(request.dataset, block[0], block[-1], keys[j : j + MAX_NODES])
                resp = self.http.get(SOURCE, url, None, min_interval_s=RATE_LIMIT_S)
                yield RawPayload(
                    SOURCE, request.dataset, url, resp.body, pd.Timestamp.now(tz="UTC"), resp.status,
                    resp.content_type, block[0].tz_convert("UTC"),
                    (block[-1] + pd.DateOffset(days=1)).tz_convert("UTC"),
                )  # fmt: skip

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        """Map one payload to ``prices`` rows."""
        return parse_pml(raw.body, self.discover().dataset(raw.dataset).name)

    def detect_dataset(self, filename: str, body: bytes) -> str:
        """Tell MDA from MTR by the answer's ``proceso`` (or the request path in the file name)."""
        head = body[:2000].replace(b" ", b"")
        name = filename.upper()
        if b'"proceso":"MDA"' in head or (b'"proceso"' not in head and "MDA" in name):
            return "pml_mda_hourly"
        if b'"proceso":"MTR"' in head or (b'"proceso"' not in head and "MTR" in name):
            return "pml_mtr_hourly"
        return super().detect_dataset(filename, body)
