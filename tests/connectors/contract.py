"""The contract every connector's output honours; each connector's tests inherit :class:`ConnectorContract`.

Subclasses set ``source`` and ``files`` (the connector's real recorded payloads); the checks below then run
on the canonical frame of every one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from marketintel.ingest import registry
from marketintel.ingest.canonical import LISTING_COLUMNS
from marketintel.ingest.sdk import LISTING, RawPayload
from marketintel.store import get_table, validate_frame
from marketintel.store.tables import FIDELITIES

#: floors and caps, loosely (the NEM's market price cap is AUD 20,300/MWh from 2025-07-01)
PLAUSIBLE = {"prices": (-10_000.0, 25_000.0), "fundamentals": (-1e7, 1e7)}


def parse_file(source: str, path: Path) -> tuple[str, pd.DataFrame]:
    """Detect the dataset of a recorded file and map it, as `mi connectors parse` does."""
    ingestor = registry.load(source)()
    body = path.read_bytes()
    dataset = ingestor.detect_dataset(path.name, body)
    raw = RawPayload(source, dataset, path.as_uri(), body, pd.Timestamp.now(tz="UTC"))
    return dataset, ingestor.map_to_schema(raw)


class ConnectorContract:
    source: ClassVar[str]
    files: ClassVar[list[Path]]  # every recorded payload of the source that a dataset covers

    def recorded_frames(self) -> list[tuple[str, str, pd.DataFrame]]:
        """Return (dataset, file name, canonical frame) for every recorded payload of the source."""
        return [(dataset, p.name, df) for p in self.files for dataset, df in [parse_file(self.source, p)]]

    @pytest.fixture
    def frames(self) -> list[tuple[str, str, pd.DataFrame]]:
        frames = self.recorded_frames()
        assert frames, f"{self.source}: no recorded payload was parsed"
        return frames

    def test_registered_with_a_catalog(self) -> None:
        catalog = registry.load(self.source)().discover()
        assert catalog.source == self.source and catalog.datasets and catalog.rate_limit_s > 0

    def test_canonical_columns_and_types(self, frames: list[tuple[str, str, pd.DataFrame]]) -> None:
        catalog = registry.load(self.source)().discover()
        for dataset, name, df in frames:
            table = catalog.dataset(dataset).table
            if table == LISTING:  # a document index: its own fixed columns, never stored
                assert tuple(df.columns) == LISTING_COLUMNS, name
                assert df["url"].str.startswith("http").all(), f"{name}: listing rows without a URL"
                continue
            validate_frame(get_table(table), df)  # raises with every problem
            if "fidelity" in df:
                assert df["fidelity"].isin(FIDELITIES).all(), f"{name}: fidelity outside {FIDELITIES}"

    def test_utc_stamps_forward_sorted_unique(self, frames: list[tuple[str, str, pd.DataFrame]]) -> None:
        catalog = registry.load(self.source)().discover()
        for dataset, name, df in frames:
            table = catalog.dataset(dataset).table
            stamps = [c for c in df.columns if c.endswith("_utc")]
            for col in stamps:
                assert str(df[col].dt.tz) == "UTC", f"{name}: {col} is not UTC"
            if table == LISTING:
                assert not df.duplicated(["document_id"]).any(), f"{name}: a document listed twice"
                continue
            spec = get_table(table)
            if "interval_start_utc" not in df:  # reference rows (instruments) and notices (alerts)
                assert not df.duplicated(list(spec.natural_key)).any(), f"{name}: duplicate keys"
                continue
            assert (df["interval_end_utc"] > df["interval_start_utc"]).all(), name
            key = list(spec.order_by)  # the natural key plus published_at_utc: a revision is a new row
            assert not df.duplicated(key).any(), f"{name}: duplicate keys {key}"
            skip = ("interval_start_utc", "interval_end_utc", "published_at_utc")
            order = [c for c in spec.natural_key if c not in skip] + [
                "interval_start_utc",
                "published_at_utc",
            ]
            assert df.equals(df.sort_values(order, ignore_index=True)), f"{name}: not sorted by {order}"

    def test_plausible_values(self, frames: list[tuple[str, str, pd.DataFrame]]) -> None:
        catalog = registry.load(self.source)().discover()
        for dataset, name, df in frames:
            table = catalog.dataset(dataset).table
            if table not in PLAUSIBLE:
                continue
            col = "price" if table == "prices" else "value"
            low, high = PLAUSIBLE[table]
            assert df[col].between(low, high).all(), f"{name}: {col} outside [{low}, {high}]"
