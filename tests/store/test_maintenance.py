"""Compaction of quiet partitions: one part each, the same rows for readers."""

from __future__ import annotations

from typing import Any

import pandas as pd

from marketintel.store.maintenance import compact, partitions_to_compact


def test_compact_merges_quiet_partitions_and_keeps_what_readers_see(ch_client: Any, ch_database: str) -> None:
    ch_client.command(
        f"""CREATE TABLE {ch_database}.p (ts DateTime64(3, 'UTC'), loc String, price Float64,
            published_at_utc DateTime64(3, 'UTC'))
            ENGINE = ReplacingMergeTree(published_at_utc) PARTITION BY toYYYYMM(ts) ORDER BY (loc, ts)
            SETTINGS min_age_to_force_merge_seconds = 0"""
    )
    ch_client.command(f"SYSTEM STOP MERGES {ch_database}.p")
    ts = pd.date_range("2024-01-30", periods=96, freq="h", tz="UTC")  # January and February
    for version in range(3):  # three loads: three parts per month, each revising the last
        df = pd.DataFrame(
            {
                "ts": ts,
                "loc": "A",
                "price": [float(version)] * len(ts),
                "published_at_utc": ts[0] + pd.Timedelta(days=version),
            }
        )
        ch_client.insert_df(f"{ch_database}.p", df)
    before = ch_client.query(f"SELECT ts, price FROM {ch_database}.p FINAL ORDER BY ts").result_rows
    assert ch_client.command(f"SELECT count() FROM {ch_database}.p") == 3 * 96
    assert partitions_to_compact(ch_client, "p", database=ch_database, quiet_minutes=60) == []  # just written
    planned = compact(ch_client, ["p"], database=ch_database, quiet_minutes=0, dry_run=True)
    assert sorted(s.partition for s in planned) == ["202401", "202402"] and all(s.parts == 3 for s in planned)
    ch_client.command(f"SYSTEM START MERGES {ch_database}.p")  # OPTIMIZE is a merge too
    done = compact(ch_client, ["p"], database=ch_database, quiet_minutes=0)
    assert len(done) <= 2  # a background merge may have been quicker for one of them
    parts = ch_client.command(
        f"SELECT count() FROM system.parts WHERE active AND database = '{ch_database}' AND table = 'p'"
    )
    assert parts == 2
    assert ch_client.command(f"SELECT count() FROM {ch_database}.p") == 96  # the revisions collapsed
    assert ch_client.query(f"SELECT ts, price FROM {ch_database}.p FINAL ORDER BY ts").result_rows == before
    assert {p for _, p in before} == {2.0}
