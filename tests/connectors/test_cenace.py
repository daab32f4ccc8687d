"""CENACE SW-PML local marginal prices on hand-written payloads (no recording exists: NOT verified)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from marketintel.connectors.cenace.ingestor import CENACEIngestor, parse_pml
from marketintel.ingest.sdk import ParseError
from tests.connectors.contract import ConnectorContract, parse_file

PAYLOADS = Path(__file__).parent / "payloads" / "cenace"
MDA = PAYLOADS / "SWPML_SIM_SIN_MDA_01PLO-115_07PNC-115_2024-01-15_2024-01-15_JSON.json"
FALL = PAYLOADS / "SWPML_SIM_SIN_MTR_01PLO-115_2022-10-30_2022-10-30_JSON.json"
SPRING = PAYLOADS / "SWPML_SIM_SIN_MDA_01PLO-115_2022-04-03_2022-04-03_JSON.json"


class TestCENACEContract(ConnectorContract):
    source = "cenace"
    files: ClassVar[list[Path]] = [MDA, FALL, SPRING]  # hand-written from the documented layout


def _answer(**changes: object) -> bytes:
    doc = json.loads(MDA.read_text())
    doc.update(changes)
    return json.dumps(doc).encode()


def test_datasets_are_not_verified() -> None:
    assert not any(d.verified for d in CENACEIngestor().discover().datasets)


def test_mda_hours_map_to_utc_with_components() -> None:
    df = parse_pml(MDA.read_bytes(), "pml_mda_hourly")
    plo = df[df["location"] == "01PLO-115"]
    assert len(plo) == 24
    # hora 1 of 2024-01-15 = 00:00-01:00 CST (UTC-06:00) = 06:00 UTC
    first = plo.iloc[0]
    assert first["interval_start_utc"] == pd.Timestamp("2024-01-15 06:00", tz="UTC")
    assert (first["price"], first["energy"], first["loss"], first["congestion"]) == (515.1, 510.0, 5.1, 0.0)
    assert plo["interval_end_utc"].iloc[-1] == pd.Timestamp("2024-01-16 06:00", tz="UTC")
    assert plo["price"].iloc[-1] == 746.4  # hora 24: 740 + 7.4 - 1
    assert (df["published_at_utc"] == pd.Timestamp("2024-01-15 06:00", tz="UTC")).all()
    assert set(df["market"]) == {"CENACE_MDA_HOURLY"} and set(df["currency"]) == {"MXN"}


def test_blank_pml_is_a_missing_price() -> None:
    df = parse_pml(MDA.read_bytes(), "pml_mda_hourly")
    pnc = df[df["location"] == "07PNC-115"]
    assert pnc["interval_start_utc"].tolist() == [pd.Timestamp("2024-01-15 06:00", tz="UTC")]
    assert len(df) == 25


def test_fall_back_day_has_25_hours() -> None:
    df = parse_pml(FALL.read_bytes(), "pml_mtr_hourly")
    assert len(df) == 25 and set(df["market"]) == {"CENACE_MTR_HOURLY"}
    # 2022-10-30 starts at 00:00 CDT (UTC-05:00); hora 2 and hora 3 are the two 01:00 hours
    assert df["interval_start_utc"].iloc[0] == pd.Timestamp("2022-10-30 05:00", tz="UTC")
    assert df["interval_start_utc"].iloc[1] == pd.Timestamp("2022-10-30 06:00", tz="UTC")
    assert df["interval_start_utc"].iloc[2] == pd.Timestamp("2022-10-30 07:00", tz="UTC")
    assert df["interval_end_utc"].iloc[-1] == pd.Timestamp("2022-10-31 06:00", tz="UTC")
    assert df["interval_start_utc"].diff().dropna().eq(pd.Timedelta(hours=1)).all()
    # MTR: published 8 days after the operating day starts
    assert (df["published_at_utc"] == pd.Timestamp("2022-11-07 05:00", tz="UTC")).all()


def test_spring_forward_day_has_23_hours() -> None:
    df = parse_pml(SPRING.read_bytes(), "pml_mda_hourly")
    assert len(df) == 23
    assert df["interval_start_utc"].iloc[0] == pd.Timestamp("2022-04-03 06:00", tz="UTC")
    assert df["interval_end_utc"].iloc[-1] == pd.Timestamp("2022-04-04 05:00", tz="UTC")
    doc = json.loads(SPRING.read_text())
    doc["Resultados"][0]["Valores"].append(dict(doc["Resultados"][0]["Valores"][-1], hora="24"))
    with pytest.raises(ParseError, match="hora 24 on 2022-04-03: that day has 23 hours"):
        parse_pml(json.dumps(doc).encode(), "pml_mda_hourly")


def test_detection() -> None:
    assert parse_file("cenace", MDA)[0] == "pml_mda_hourly"
    assert parse_file("cenace", FALL)[0] == "pml_mtr_hourly"
    with pytest.raises(ParseError, match="cannot tell the dataset"):
        CENACEIngestor().detect_dataset("x.json", b'{"a": 1}')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"<Resultados/>", "XML or HTML"),
        (b'{"Message":"No se pueden mostrar datos con un lapso mayor a 7 dias"}', "lapso mayor a 7 dias"),
        (b"[1]", "expected a JSON object"),
        (_answer(status="ERROR"), "status 'ERROR'"),
        (_answer(nombre="PND"), "not PML"),
        (_answer(proceso="MTR"), "proceso 'MTR'"),
        (_answer(sistema="BCA"), "not confirmed"),
        (_answer(Resultados=[]), "Resultados is empty"),
        (_answer(Resultados=[{"zona_carga": "X", "Valores": []}]), "without clv_nodo"),
        (
            _answer(Resultados=[{"clv_nodo": "N", "Valores": [{"fecha": "2024-01-15", "hora": "1"}]}]),
            "without",
        ),
    ],
)
def test_malformed_payloads_raise(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_pml(body, "pml_mda_hourly")


def test_request_url_and_limits() -> None:
    ing = CENACEIngestor()
    day = pd.Timestamp("2024-01-15", tz="America/Mexico_City")
    url, params = ing.request("pml_mtr_hourly", day, day + pd.Timedelta(days=6), ["01PLO-115", "07PNC-115"])
    assert url == (
        "https://ws01.cenace.gob.mx:8082/SWPML/SIM/SIN/MTR/01PLO-115,07PNC-115/2024/01/15/2024/01/21/JSON"
    )
    assert params is None
    with pytest.raises(ValueError, match=r"1\.\.7 days"):
        ing.request("pml_mda_hourly", day, day + pd.Timedelta(days=7), ["01PLO-115"])
    with pytest.raises(ValueError, match=r"1\.\.20 nodes"):
        ing.request("pml_mda_hourly", day, day, [f"N{i}" for i in range(21)])
    with pytest.raises(ValueError, match="not mapped"):
        ing.request("pml_mda_hourly", day, day, ["01PLO-115"], sistema="BCS")
