"""Every recording of every installed connector parses, its dataset detected (as `mi connectors parse`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketintel.cli import main
from marketintel.config import shared_dir
from marketintel.ingest import registry
from marketintel.ingest.sdk import ParseError
from tests.connectors.contract import parse_file

FIXTURES = shared_dir() / "fixtures"
#: the installed connectors (the registry is the one list of sources)
SOURCES = tuple(registry.names())
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"recordings not found at {FIXTURES}")
#: recorded as served and unusable on purpose: what parsing them must say
BAD_AS_SERVED = {"spp/RTBM-LMP-SL-202503310845.csv": "empty file"}


def _files() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for s in SOURCES for p in (FIXTURES / s).rglob("*") if p.is_file())


def test_every_connector_is_tested_on_recordings() -> None:
    """Each installed connector has recorded responses in the fixtures, which the test below parses."""
    missing = [s for s in SOURCES if not any(p.is_file() for p in (FIXTURES / s).rglob("*"))]
    assert SOURCES and missing == []


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_recording_parses_to_canonical_rows(path: Path) -> None:
    source = path.relative_to(FIXTURES).parts[0]
    name = str(path.relative_to(FIXTURES))
    if name in BAD_AS_SERVED:
        with pytest.raises(ParseError, match=BAD_AS_SERVED[name]):
            parse_file(source, path)
        return
    dataset, frame = parse_file(source, path)
    assert len(frame) > 0, f"{name}: {dataset} gave no rows"


def test_the_cli_parses_a_recording_and_writes_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    path = FIXTURES / "nyiso" / "pyiso" / "20171122pal.csv"
    out = tmp_path / "pal.parquet"
    assert main(["connectors", "parse", "nyiso", str(path), "--out", str(out)]) == 0
    assert "nyiso/load_actual_5min: 3,190 rows" in capsys.readouterr().out
    assert len(pd.read_parquet(out)) == 3190
