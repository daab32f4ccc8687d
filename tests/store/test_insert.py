"""marketintel.store.insert_df: Arrow IPC streamed through clickhouse-connect into the endpoint."""

from __future__ import annotations

import decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from marketintel.exceptions import SchemaError
from marketintel.store import insert_df


def _table(client: Any, db: str) -> str:
    client.command(
        f"""CREATE TABLE {db}.p (
            interval_start_utc DateTime64(3, 'UTC'), market LowCardinality(String), price Nullable(Float64),
            qty Nullable(Int32), amount Decimal(18, 4), tags Array(String)
        ) ENGINE = MergeTree ORDER BY (market, interval_start_utc)"""
    )
    return "p"


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    price = rng.normal(40, 20, n)
    price[::7] = np.nan
    return pd.DataFrame(
        {
            "interval_start_utc": pd.date_range(
                "2024-10-27 00:00", periods=n, freq="5min", tz="Europe/Berlin"
            ),
            "market": np.where(np.arange(n) % 2 == 0, "EPEX_DE", "EPEX_FR"),
            "price": price,
            "qty": pd.array([None if k % 5 == 0 else k for k in range(n)], dtype="Int32"),
            "amount": [decimal.Decimal(k) / 8 for k in range(n)],
            "tags": [["da"] if k % 3 else [] for k in range(n)],
        }
    )


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_insert_df_round_trip_in_many_batches(
    ch_client: Any, ch_database: str, compression: str | None
) -> None:
    table = _table(ch_client, ch_database)
    df = _frame(5000)
    written = insert_df(ch_client, table, df, database=ch_database, batch_rows=700, compression=compression)
    assert written == 5000
    out = ch_client.query_df(f"SELECT * FROM {ch_database}.{table} ORDER BY interval_start_utc")
    want = df.sort_values("interval_start_utc").reset_index(drop=True)
    assert (out["interval_start_utc"] == want["interval_start_utc"].dt.tz_convert("UTC")).all()
    assert list(out["market"]) == list(want["market"])
    np.testing.assert_array_equal(out["price"].to_numpy(dtype=float), want["price"].to_numpy())
    assert out["qty"].isna().tolist() == want["qty"].isna().tolist()
    assert [decimal.Decimal(str(v)) for v in out["amount"]] == list(want["amount"])
    assert [list(v) for v in out["tags"]] == list(want["tags"])


def test_insert_df_refuses_naive_timestamps_and_reports_server_errors(
    ch_client: Any, ch_database: str
) -> None:
    table = _table(ch_client, ch_database)
    df = _frame(10)
    naive = df.assign(interval_start_utc=df["interval_start_utc"].dt.tz_localize(None))
    with pytest.raises(SchemaError, match="naive timestamps"):
        insert_df(ch_client, table, naive, database=ch_database)
    with pytest.raises(DatabaseError, match="no_such_column"):
        insert_df(ch_client, table, df.rename(columns={"qty": "no_such_column"}), database=ch_database)
    assert ch_client.command(f"SELECT count() FROM {ch_database}.{table}") == 0
