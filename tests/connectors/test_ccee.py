"""CCEE hourly PLD on hand-written payloads (no recording exists: NOT verified)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from marketintel.connectors.ccee.ingestor import API, RESOURCE_IDS, CCEEIngestor, parse_pld
from marketintel.ingest.sdk import ParseError
from tests.connectors.contract import ConnectorContract, parse_file

PAYLOADS = Path(__file__).parent / "payloads" / "ccee"
CKAN = PAYLOADS / "datastore_search_pld_horario_2024_MES_REFERENCIA_202401.json"
CSV = PAYLOADS / "pld_horario_2023.csv"


class TestCCEEContract(ConnectorContract):
    source = "ccee"
    files: ClassVar[list[Path]] = [CKAN, CSV]  # hand-written from the documented layout, not recordings


def test_datasets_are_not_verified() -> None:
    assert not any(d.verified for d in CCEEIngestor().discover().datasets)


def test_ckan_answer_maps_to_utc_hours() -> None:
    df = parse_pld(CKAN.read_bytes())
    assert len(df) == 6  # SUL's hour has a null PLD_HORA: no row
    assert set(df["location"]) == {"SE_CO", "NE"}
    se = df[df["location"] == "SE_CO"]
    # 2024-01-15 HORA 0 in Brasília time (UTC-03:00, no DST since 2019) = 03:00 UTC
    assert se["interval_start_utc"].iloc[0] == pd.Timestamp("2024-01-15 03:00", tz="UTC")
    assert se["price"].tolist() == [71.07, 72.57, 105.57]
    assert se["interval_start_utc"].iloc[-1] == pd.Timestamp("2024-01-16 02:00", tz="UTC")
    assert (df["interval_end_utc"] - df["interval_start_utc"] == pd.Timedelta(hours=1)).all()
    assert (df["published_at_utc"] == pd.Timestamp("2024-01-15 03:00", tz="UTC")).all()
    assert set(df["currency"]) == {"BRL"} and set(df["unit"]) == {"BRL/MWh"}
    assert set(df["market"]) == {"CCEE_PLD_HOURLY"}


def test_csv_with_decimal_comma() -> None:
    df = parse_pld(CSV.read_bytes())
    assert len(df) == 8 and set(df["location"]) == {"SE_CO", "S", "NE", "N"}
    north = df[df["location"] == "N"]
    assert north["price"].tolist() == [69.04, 71.5]
    assert north["interval_start_utc"].tolist() == [
        pd.Timestamp("2023-01-01 03:00", tz="UTC"),
        pd.Timestamp("2023-01-01 04:00", tz="UTC"),
    ]


def test_full_dates_in_dia_are_accepted() -> None:
    body = b"MES_REFERENCIA;SUBMERCADO;DIA;HORA;PLD_HORA\n202401;SUL;15/01/2024;5;80,5\n"
    df = parse_pld(body)
    assert df["interval_start_utc"].tolist() == [pd.Timestamp("2024-01-15 08:00", tz="UTC")]
    with pytest.raises(ParseError, match="outside its MES_REFERENCIA"):
        parse_pld(b"MES_REFERENCIA;SUBMERCADO;DIA;HORA;PLD_HORA\n202402;SUL;15/01/2024;5;80,5\n")


def test_detection() -> None:
    assert parse_file("ccee", CKAN)[0] == "pld_hourly"
    assert parse_file("ccee", CSV)[0] == "pld_hourly"
    with pytest.raises(ParseError, match="cannot tell the dataset"):
        CCEEIngestor().detect_dataset("x.json", b'{"a": 1}')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"<html>acesso bloqueado</html>", "HTML page"),
        (b'{"success": false, "error": {"message": "Not found"}}', "CKAN error"),
        (b'{"success": true, "result": {"records": []}}', "no records"),
        (b"MES_REFERENCIA;SUBMERCADO;DIA;HORA\n202401;SUL;1;0\n", "missing \\['PLD_HORA'\\]"),
        (b"MES_REFERENCIA;SUBMERCADO;DIA;HORA;PLD_HORA\n202401;CENTRO;1;0;1\n", "unknown SUBMERCADO"),
        (b"MES_REFERENCIA;SUBMERCADO;DIA;HORA;PLD_HORA\n202401;SUL;1;24;1\n", "HORA outside 0..23"),
        (b"MES_REFERENCIA;SUBMERCADO;DIA;HORA;PLD_HORA\n202401;SUL;1;0;abc\n", "non-numeric PLD_HORA"),
        (b"MES_REFERENCIA;SUBMERCADO;DIA;HORA;PLD_HORA\n202401;SUL;1;0;1\n202401;SUL;1;0;2\n", "twice"),
    ],
)
def test_malformed_payloads_raise(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_pld(body)


def test_request_is_a_monthly_datastore_search() -> None:
    url, params = CCEEIngestor().request("pld_hourly", pd.Timestamp("2024-01-15", tz="America/Sao_Paulo"))
    assert url == API
    assert params["resource_id"] == RESOURCE_IDS[2024]
    assert json.loads(params["filters"]) == {"MES_REFERENCIA": "202401"}
    with pytest.raises(ValueError, match="no pld_horario resource id"):
        CCEEIngestor().request("pld_hourly", pd.Timestamp("2019-01-01", tz="UTC"))
