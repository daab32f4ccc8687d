"""Every recording of every installed connector parses, its dataset detected (as `mi connectors parse`).

A source's recordings are the files under ``fixtures/<folder>`` for each folder of :data:`FOLDERS` (the
source's own name by default). A connector's test module may declare, for files of its folders (paths
relative to the fixtures):

- ``NO_DATA``: file -> why the publisher's answer holds no rows (ENTSO-E's acknowledgement with reason
  999, Nord Pool's 204): it must parse, to zero rows;
- ``BAD_AS_SERVED``: file -> a pattern of the ``ParseError`` it must raise (recorded as served and unusable
  on purpose, or an excerpt the manifest says cannot be read).
"""

from __future__ import annotations

import importlib
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
#: recordings folders of the sources whose folder is not named as the source
FOLDERS: dict[str, tuple[str, ...]] = {
    "nem": ("aemo_nem",),
    "emcsg": ("emc_sg",),
    "eex": ("eex_eua_auctions",),
    "awattar": ("epex",),
}
#: sources built from the publisher's documentation only: no recording exists (`mi connectors list` says
#: NOT verified for each of their datasets, which test_registry checks)
UNRECORDED = ("ccee", "cenace", "iex")
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"recordings not found at {FIXTURES}")


def _folders(source: str) -> tuple[str, ...]:
    return FOLDERS.get(source, (source,))


def _declared(name: str) -> dict[str, str]:
    """Merge ``name`` (NO_DATA or BAD_AS_SERVED) over the connectors' test modules."""
    out: dict[str, str] = {}
    for source in SOURCES:
        try:
            module = importlib.import_module(f"tests.connectors.test_{source}")
        except ModuleNotFoundError:
            continue
        out.update(getattr(module, name, {}))
    return out


NO_DATA = _declared("NO_DATA")
BAD_AS_SERVED = {"spp/RTBM-LMP-SL-202503310845.csv": "empty file", **_declared("BAD_AS_SERVED")}


def _files() -> list[tuple[str, Path]]:
    if not FIXTURES.is_dir():
        return []
    return sorted(
        (s, p)
        for s in SOURCES
        if s not in UNRECORDED
        for folder in _folders(s)
        for p in (FIXTURES / folder).rglob("*")
        if p.is_file()
    )


def test_every_connector_is_tested_on_recordings() -> None:
    """Each installed connector has recorded responses in the fixtures, which the test below parses."""
    recorded = {s for s, _ in _files()}
    missing = [s for s in SOURCES if s not in UNRECORDED and s not in recorded]
    assert SOURCES and missing == []


def test_every_recordings_folder_belongs_to_a_connector() -> None:
    """No folder of recordings is left unread (the two manifests' folders)."""
    owned = {f for s in SOURCES for f in _folders(s)}
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert sorted(folders - owned) == []


@pytest.mark.parametrize(
    ("source", "path"), _files(), ids=lambda v: str(v.relative_to(FIXTURES)) if isinstance(v, Path) else v
)
def test_recording_parses_to_canonical_rows(source: str, path: Path) -> None:
    name = str(path.relative_to(FIXTURES))
    if name in BAD_AS_SERVED:
        with pytest.raises(ParseError, match=BAD_AS_SERVED[name]):
            parse_file(source, path)
        return
    dataset, frame = parse_file(source, path)
    if name in NO_DATA:
        assert len(frame) == 0, f"{name}: {NO_DATA[name]}, yet {dataset} gave {len(frame)} rows"
        return
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
