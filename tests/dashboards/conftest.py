"""Fixtures of the dashboards' tests: a migrated database holding the demo sample, and a client on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketintel.services.sample import SampleSummary, load_sample
from marketintel.store import migrate
from tests.storeproc import StoreProcess


@pytest.fixture(scope="module")
def sample_db(store: StoreProcess, ch_client: Any) -> Iterator[str]:
    """A migrated database with the demo sample (synthetic when the shared inputs are absent)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(ch_client, database=name)
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture(scope="module")
def db_client(store: StoreProcess, sample_db: str) -> Any:
    """A client whose default database is :func:`sample_db` (no session: usable from threads)."""
    return store.client(database=sample_db, autogenerate_session_id=False)


@pytest.fixture(scope="module")
def sample(db_client: Any) -> SampleSummary:
    """The sample loaded into :func:`sample_db`."""
    return load_sample(client=db_client)


#: Bokeh 3.9's ColumnDataSource.from_df calls reset_index(inplace=True), which pandas 3.1 deprecates; it is
#: Bokeh's call (inside Panel's Tabulator), not ours
BOKEH_INPLACE = (
    "ignore:The inplace keyword in DataFrame.reset_index is deprecated:pandas.errors.Pandas4Warning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Filter only Bokeh's pandas deprecation, only in the dashboards' tests."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings(BOKEH_INPLACE))
