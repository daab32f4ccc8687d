"""The emerging markets without a recording: which have a connector built from documentation, which none.

Issue 17 asked for China, India, Brazil, Mexico and Nigeria. For each, :data:`EMERGING_MARKETS` names the
publisher, its public data, the format documentation we could find (with the ``search`` tool over public
documentation and code; no live page was fetched) and the status: ``connector: <source> (NOT verified:
documented format only)`` when a connector was built and tested on hand-written payloads only, or
``no connector: <reason>``. :func:`lines` renders the table for ``mi connectors list``.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECTOR = "connector: "
NO_CONNECTOR = "no connector: "
NOT_VERIFIED = " (NOT verified: documented format only)"


@dataclass(frozen=True)
class MarketEntry:
    """One emerging market and what we could do with its public data.

    Attributes
    ----------
    country : str
        Country (ISO 3166 alpha-2 in brackets in the rendering).
    iso2 : str
        ISO 3166-1 alpha-2 code.
    publisher : str
        Who publishes the prices.
    data_url : str
        Where the public data is.
    format_doc : str
        The format documentation found (name and where), or what stands in for it.
    status : str
        ``"connector: <source> (NOT verified: documented format only)"`` or ``"no connector: <reason>"``.
    notes : str
        What could not be confirmed.
    """

    country: str
    iso2: str
    publisher: str
    data_url: str
    format_doc: str
    status: str
    notes: str = ""

    @property
    def source(self) -> str | None:
        """The connector's source name, or None when there is no connector."""
        if not self.status.startswith(CONNECTOR):
            return None
        return self.status[len(CONNECTOR) :].split(" ", 1)[0]

    @property
    def reason(self) -> str:
        """Why there is no connector ('' when there is one)."""
        return self.status[len(NO_CONNECTOR) :].strip() if self.status.startswith(NO_CONNECTOR) else ""


EMERGING_MARKETS: tuple[MarketEntry, ...] = (
    MarketEntry(
        "China", "CN",
        "provincial power trading centres (spot pilots: Guangdong, Shanxi, Shandong, Gansu, Zhejiang, ...)",
        "provincial trading-centre portals (one per province, e.g. Guangdong Power Exchange Center;"
        " URLs not checked)",
        "none found: no published API or file specification for spot clearing prices",
        NO_CONNECTOR + "prices are published per province on trading-centre portals behind participant login;"
        " the public scrapers found call undocumented endpoints with a session cookie; no national"
        " machine-readable source",
        "Could not check each province's portal directly; a public disclosure format may exist in Chinese-"
        "language rules we did not find.",
    ),
    MarketEntry(
        "India", "IN", "Indian Energy Exchange (IEX)",
        "https://www.iexindia.com/market-data/day-ahead-market/market-snapshot",
        "no IEX documentation; the DAM 'trade data' JSON layout from a data vendor's published sample"
        " (OpenDataDSL IEXGetTradeData_DAMPriceVolume_18Oct.json)",
        CONNECTOR + "iex" + NOT_VERIFIED,
        "Parse-only: the JSON's URL is not documented, so the connector cannot fetch; Grid-India (POSOCO)"
        " reports were not evaluated.",
    ),
    MarketEntry(
        "Brazil", "BR", "CCEE (Câmara de Comercialização de Energia Elétrica)",
        "https://dadosabertos.ccee.org.br/dataset/pld_horario",
        "CCEE open-data portal (CKAN datastore_search API, CKAN docs) and the pld_horario column list"
        " (MES_REFERENCIA, SUBMERCADO, DIA, HORA, PLD_HORA)",
        CONNECTOR + "ccee" + NOT_VERIFIED,
        "Yearly resource ids come from a public client; the portal is reported to block non-browser"
        " clients (403); the publication time of each day is not documented to us.",
    ),
    MarketEntry(
        "Mexico", "MX", "CENACE (Centro Nacional de Control de Energía)",
        "https://ws01.cenace.gob.mx:8082/SWPML/SIM/",
        "CENACE 'Manual Técnico: Uso de Servicio Web para descarga de Precios Marginales Locales' (SW-PML),"
        " read through public clients",
        CONNECTOR + "cenace" + NOT_VERIFIED,
        "SIN only: the clock of BCA/BCS stamps is not confirmed; MTR publication delay (8 days) is a public"
        " client's, not CENACE's.",
    ),
    MarketEntry(
        "Nigeria", "NG", "NISO / TCN (system operator), NBET (bulk trader), NERC (regulator)",
        "https://niggrid.org (daily operational reports, generation profile pages)",
        "none found: daily operational reports are PDF or HTML pages with no documented machine format",
        NO_CONNECTOR + "no wholesale spot price is published (bilateral PPAs and NERC-regulated tariffs);"
        " NISO's daily reports carry generation, not prices, as PDF/HTML pages without a documented format",
        "Could not open NISO's or NBET's current pages; a machine-readable release may exist that the"
        " search corpora do not hold.",
    ),
)  # fmt: skip


def lines() -> list[str]:
    """Render :data:`EMERGING_MARKETS` for ``mi connectors list`` (one line per market, notes indented)."""
    out = ["emerging markets without a recording (issue 17):"]
    for m in EMERGING_MARKETS:
        out.append(f"  {m.country} [{m.iso2}] {m.publisher}: {m.status}")
        out.append(f"      data: {m.data_url}")
        out.append(f"      format: {m.format_doc}")
        if m.notes:
            out.append(f"      not confirmed: {m.notes}")
    return out
