"""OMIE on its recorded marginal price file (2025-10-01, the first 15-minute day), the hourly layout and DST
days on hand-written files built from the documented layout, bad files and request URLs.
"""

from __future__ import annotations

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.omie.ingestor import OMIEIngestor
from marketintel.connectors.omie.mapping import parse_marginal_price_file
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

OMIE = shared_dir() / "fixtures" / "omie"
FILE = OMIE / "INT_PBC_EV_H_1_01_10_2025_01_10_2025.TXT"
pytestmark = pytest.mark.skipif(not FILE.is_file(), reason=f"recorded OMIE file not found at {OMIE}")
FILES = [FILE] if FILE.is_file() else []
ES = "Precio marginal en el sistema español (EUR/MWh)"
PT = "Precio marginal en el sistema portugués (EUR/MWh)"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _file(day: str, issued: str, labels: list[str], rows: dict[str, list[float]]) -> bytes:
    """A marginal price file in OMIE's layout (first line, blank line, header, rows; decimal commas)."""
    out = [
        f"OMIE - Mercado de electricidad;Fecha Emisión :{issued};;{day};"
        "Precio del mercado diario (EUR/MWh);;;;",
        "",
    ]
    out.append(";" + ";".join(labels) + ";")
    for label, values in rows.items():
        out.append(label + ";" + ";".join(f"{v:9.2f}".replace(".", ",") for v in values) + ";")
    out.append(";" * (len(labels) + 1))
    return ("\n".join(out) + "\n").encode("utf-8")


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return OMIEIngestor().map_to_schema(RawPayload("omie", dataset, "x", body, pd.Timestamp.now(tz="UTC")))


class TestOMIEContract(ConnectorContract):
    source = "omie"
    files = FILES


def test_recorded_fifteen_minute_day() -> None:
    dataset, df = parse_file("omie", FILE)
    assert dataset == "marginal_price_15min"
    assert set(df["market"]) == {"OMIE_DAY_AHEAD_15MIN"} and set(df["unit"]) == {"EUR/MWh"}
    for loc in ("ES", "PT"):
        one = df[df["location"] == loc]
        assert len(one) == 96
        assert one["interval_start_utc"].iloc[0] == _ts("2025-09-30 22:00")  # Madrid midnight, CEST
        assert one["interval_end_utc"].iloc[-1] == _ts("2025-10-01 22:00")
        assert one["price"].iloc[0] == 105.10 and one["price"].iloc[1] == 104.24
        assert one["price"].iloc[-1] == 101.52
    assert (df["published_at_utc"] == _ts("2025-09-30 11:51")).all()  # Fecha Emisión 13:51 CEST


def test_recorded_volumes() -> None:
    df = _map("market_volumes_15min", FILE.read_bytes())
    first = df[df["interval_start_utc"] == _ts("2025-09-30 22:00")]
    got = {(r.area, r.area_to, r.variable): r.value for r in first.itertuples()}
    assert got[("ES", "", "purchases")] == 16095.8 and got[("PT", "", "purchases")] == 5660.3
    assert got[("ES", "PT", "scheduled_flow")] == 1947.4 and got[("PT", "ES", "scheduled_flow")] == 0.0
    # the Iberian matched total is the two systems' purchases
    assert got[("ES_PT", "", "matched")] == pytest.approx(16095.8 + 5660.3)
    assert len(df) == 8 * 96 and set(df["unit"]) == {"MW"}


def test_hourly_layout_from_the_documentation() -> None:
    """The pre-2025-10 layout (hour columns 1..24), hand-written: NOT a recording."""
    es = [50.0 + h for h in range(24)]
    body = _file("15/01/2025", "14/01/2025 - 13:05", [str(h) for h in range(1, 25)], {ES: es, PT: es})
    ingestor = OMIEIngestor()
    assert (
        ingestor.detect_dataset("INT_PBC_EV_H_1_15_01_2025_15_01_2025.TXT", body) == "marginal_price_hourly"
    )
    df = _map("marginal_price_hourly", body)
    assert len(df) == 48 and set(df["market"]) == {"OMIE_DAY_AHEAD_HOURLY"}
    assert df["interval_start_utc"].iloc[0] == _ts("2025-01-14 23:00")  # CET midnight
    assert df["price"].iloc[0] == 50.0 and df["price"].iloc[23] == 73.0
    assert df["published_at_utc"].iloc[0] == _ts("2025-01-14 12:05")
    with pytest.raises(ParseError, match="hourly file where the 15min layout"):
        _map("marginal_price_15min", body)


def test_dst_days() -> None:
    """Spring day 23 hours (hourly, 2025-03-30), autumn day 100 quarters (H1Q1..H25Q4, 2025-10-26)."""
    spring = _file(
        "30/03/2025", "29/03/2025 - 13:00", [str(h) for h in range(1, 24)], {ES: [1.0] * 23, PT: [2.0] * 23}
    )
    df = _map("marginal_price_hourly", spring)
    es = df[df["location"] == "ES"]
    assert len(es) == 23
    assert es["interval_start_utc"].iloc[1] == _ts("2025-03-30 00:00")  # 01:00 CET
    assert es["interval_start_utc"].iloc[2] == _ts("2025-03-30 01:00")  # 03:00 CEST
    assert es["interval_end_utc"].iloc[-1] == _ts("2025-03-30 22:00")
    labels = [f"H{h}Q{q}" for h in range(1, 26) for q in range(1, 5)]
    autumn = _file("26/10/2025", "25/10/2025 - 13:10", labels, {ES: [3.0] * 100, PT: [4.0] * 100})
    df = _map("marginal_price_15min", autumn)
    pt = df[df["location"] == "PT"]
    assert len(pt) == 100 and pt["interval_start_utc"].is_unique
    assert pt["interval_start_utc"].iloc[0] == _ts("2025-10-25 22:00")
    assert pt["interval_end_utc"].iloc[-1] == _ts("2025-10-26 23:00")
    # a 96-column file for the 25-hour day is refused
    wrong = _file("26/10/2025", "25/10/2025 - 13:10", labels[:96], {ES: [3.0] * 96, PT: [4.0] * 96})
    with pytest.raises(ParseError, match="lasts 25 h"):
        _map("marginal_price_15min", wrong)


def test_bad_files_are_refused() -> None:
    with pytest.raises(ParseError, match="empty body"):
        _map("marginal_price_15min", b"")
    with pytest.raises(ParseError, match="HTML page"):
        _map("marginal_price_15min", b"<!DOCTYPE html><html>404</html>")
    text = FILE.read_text(encoding="utf-8")
    with pytest.raises(ParseError, match="non-numeric cell"):
        _map("marginal_price_15min", text.replace("   105,10", "      n/a", 1).encode())
    with pytest.raises(ParseError, match="unknown row"):
        _map(
            "marginal_price_15min",
            text.replace("Potencia total de venta sistema español", "Otra cosa").encode(),
        )
    with pytest.raises(ParseError, match="not an OMIE file"):
        _map("marginal_price_15min", b"hello;world\n")
    with pytest.raises(ParseError, match="1 marginal price rows"):
        _map(
            "marginal_price_15min",
            "\n".join(line for line in text.split("\n") if not line.startswith(PT)).encode(),
        )
    with pytest.raises(ParseError, match="marginal_price_15min"):
        OMIEIngestor().detect_dataset("other.csv", b"a;b")
    assert (
        parse_marginal_price_file(text.encode("cp1252"))[0]["price"].iloc[0] == 105.10
    )  # OMIE's own encoding


def test_request_urls() -> None:
    ingestor = OMIEIngestor()
    url, params = ingestor.request("marginal_price_15min", pd.Timestamp("2025-10-01", tz="Europe/Madrid"))
    assert url.endswith("/AGNO_2025/MES_10/TXT/" + FILE.name) and params is None
    url, _ = ingestor.request("marginal_price_hourly", pd.Timestamp("2025-03-30 00:30", tz="Europe/Madrid"))
    assert (
        url
        == "https://www.omie.es/sites/default/files/dados/AGNO_2025/MES_03/TXT/INT_PBC_EV_H_1_30_03_2025_30_03_2025.TXT"
    )
    with pytest.raises(ValueError, match="15-minute from 2025-10-01"):
        ingestor.request("marginal_price_15min", pd.Timestamp("2025-09-30", tz="Europe/Madrid"))
    assert ingestor.marginalpdbc_url(pd.Timestamp("2024-01-02")) == (
        "https://www.omie.es/es/file-download?parents%5B0%5D=marginalpdbc&filename=marginalpdbc_20240102.1"
    )
    hourly = ingestor.discover().dataset("marginal_price_hourly")
    assert not hourly.verified and ingestor.discover().dataset("marginal_price_15min").verified
