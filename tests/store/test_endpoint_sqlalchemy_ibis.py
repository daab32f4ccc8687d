"""The store endpoint through third-party clients: SQLAlchemy (clickhouse-connect dialect), pandas, ibis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from tests.storeproc import StoreProcess

# ibis 12 reads pandas' deprecated `future.infer_string` option when it infers a DataFrame's schema
ibis_pandas_infer = pytest.mark.filterwarnings(
    "ignore:The 'future.infer_string' option is deprecated:pandas.errors.Pandas4Warning"
)


@pytest.fixture
def engine(store: StoreProcess, ch_database: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(f"clickhousedb://127.0.0.1:{store.port}/{ch_database}")
    yield eng
    eng.dispose()


@pytest.fixture
def con(store: StoreProcess, ch_database: str) -> Iterator[Any]:
    backend = ibis.clickhouse.connect(host="127.0.0.1", port=store.port, database=ch_database)
    yield backend
    backend.disconnect()


def sample_frame(n: int = 300) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": np.arange(n, dtype="int64"),
            "f": np.arange(n, dtype="float64") / 4,
            "s": [f"row-{k}" for k in range(n)],
            "ts": pd.date_range("2024-03-31 00:00", periods=n, freq="15min", tz="UTC"),
        }
    )


# -- SQLAlchemy + pandas ------------------------------------------------------------------------------


def test_sqlalchemy_read_sql_empty_result(engine: sa.Engine) -> None:
    df = pd.read_sql("SELECT number AS n, toString(number) AS s FROM numbers(0)", engine)
    assert list(df.columns) == ["n", "s"]
    assert len(df) == 0


def test_sqlalchemy_read_sql_multi_block(engine: sa.Engine) -> None:
    n = 300_000
    df = pd.read_sql(f"SELECT number AS n FROM numbers({n})", engine)
    assert len(df) == n
    assert int(df["n"].sum()) == n * (n - 1) // 2
    assert df["n"].is_unique


def test_sqlalchemy_read_sql_table(engine: sa.Engine, ch_client: Any, ch_database: str) -> None:
    ch_client.command(
        f"CREATE TABLE {ch_database}.prices (id UInt32, zone String, price Float64) "
        "ENGINE = MergeTree ORDER BY id"
    )
    ch_client.command(
        f"INSERT INTO {ch_database}.prices VALUES (1, 'DE', 10.5), (2, 'FR', -3.25), (3, 'NL', 0)"
    )
    df = pd.read_sql_table("prices", engine, schema=ch_database).sort_values("id", ignore_index=True)
    assert df["id"].tolist() == [1, 2, 3]
    assert df["zone"].tolist() == ["DE", "FR", "NL"]
    assert df["price"].tolist() == [10.5, -3.25, 0.0]


def test_sqlalchemy_reflection(engine: sa.Engine, ch_client: Any, ch_database: str) -> None:
    ch_client.command(
        f"CREATE TABLE {ch_database}.obs (ts DateTime64(3, 'UTC'), zone LowCardinality(String), "
        "value Nullable(Float64)) ENGINE = MergeTree ORDER BY ts"
    )
    ch_client.command(f"CREATE TABLE {ch_database}.empty (k UInt64, v String) ENGINE = MergeTree ORDER BY k")
    ch_client.command(f"INSERT INTO {ch_database}.obs VALUES ('2024-01-01 00:00:00', 'DE', 1.5)")
    inspector = sa.inspect(engine)
    assert sorted(inspector.get_table_names(schema=ch_database)) == ["empty", "obs"]
    columns = inspector.get_columns("obs", schema=ch_database)
    # the dialect reflects ClickHouse's own types; their `name` is the server's type string
    assert {c["name"]: c["type"].name for c in columns} == {
        "ts": "DateTime64(3, 'UTC')",
        "zone": "LowCardinality(String)",
        "value": "Nullable(Float64)",
    }
    assert [c["name"] for c in columns] == ["ts", "zone", "value"]
    assert [c["nullable"] for c in columns] == [False, False, True]
    empty = inspector.get_columns("empty", schema=ch_database)
    assert [(c["name"], c["type"].name) for c in empty] == [("k", "UInt64"), ("v", "String")]
    # a full Table reflection of the empty table, then a query through it
    table = sa.Table("empty", sa.MetaData(), schema=ch_database, autoload_with=engine)
    assert [c.name for c in table.columns] == ["k", "v"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(table)).fetchall() == []


# -- ibis -----------------------------------------------------------------------------------------------


@ibis_pandas_infer
def test_ibis_create_table_round_trip(con: Any) -> None:
    df = sample_frame()
    con.create_table("t", df)
    assert "t" in con.list_tables()
    # the schema ibis reads back from the server
    assert dict(con.table("t").schema().items()) == {
        "i": dt.int64,
        "f": dt.float64,
        "s": dt.string,
        "ts": dt.Timestamp(timezone="UTC", scale=0),
    }
    back = con.table("t").order_by("i").to_pandas()
    assert list(back.columns) == ["i", "f", "s", "ts"]
    assert back["i"].tolist() == df["i"].tolist()
    assert back["f"].tolist() == df["f"].tolist()
    assert back["s"].tolist() == df["s"].tolist()
    assert str(back["ts"].dt.tz) == "UTC"
    assert (back["ts"] == df["ts"]).all()


@ibis_pandas_infer
def test_ibis_memtable_join(con: Any) -> None:
    con.create_table("t", sample_frame())
    small = pd.DataFrame({"i": [3, 7, 250, 9999], "label": ["a", "b", "c", "missing"]})
    expr = con.table("t").join(ibis.memtable(small), "i").select("i", "s", "label").order_by("i")
    out = con.execute(expr)
    assert out["i"].tolist() == [3, 7, 250]
    assert out["s"].tolist() == ["row-3", "row-7", "row-250"]
    assert out["label"].tolist() == ["a", "b", "c"]


def test_ibis_to_pyarrow_multi_block(con: Any) -> None:
    n = 1_000_000
    expr = con.sql(f"SELECT number FROM numbers({n})")
    table = expr.to_pyarrow()
    assert table.num_rows == n
    assert pc.sum(table["number"]).as_py() == n * (n - 1) // 2
    # smaller blocks (ibis sends max_block_size=chunk_size): every block arrives, in order
    with con.to_pyarrow_batches(expr, chunk_size=65_536) as reader:
        sizes = [batch.num_rows for batch in reader]
    assert len(sizes) > 1
    assert sum(sizes) == n
    # a stored table, with an aggregate computed by the server on top
    con.create_table("big", con.sql(f"SELECT number AS k, number % 7 AS m FROM numbers({n})"))
    counted = con.table("big").group_by("m").aggregate(c=ibis._.count(), s=ibis._.k.sum()).to_pyarrow()
    assert sum(counted["c"].to_pylist()) == n
    assert sum(counted["s"].to_pylist()) == n * (n - 1) // 2


@ibis_pandas_infer
def test_ibis_empty_result_keeps_schema(con: Any) -> None:
    con.create_table("t", sample_frame())
    expr = con.table("t").filter(ibis._.i < 0)
    df = expr.to_pandas()
    assert list(df.columns) == ["i", "f", "s", "ts"]
    assert len(df) == 0
    assert [str(t) for t in df.dtypes] == ["int64", "float64", "str", "datetime64[us, UTC]"]
    arrow = expr.to_pyarrow()
    assert arrow.num_rows == 0
    assert arrow.schema == pa.schema(
        [("i", pa.int64()), ("f", pa.float64()), ("s", pa.string()), ("ts", pa.timestamp("s", tz="UTC"))]
    )
    # a query's schema comes from the server even when it returns no rows
    raw = con.sql(
        "SELECT number AS n, toString(number) AS s, toDateTime64(number, 3, 'UTC') AS t FROM numbers(0)"
    )
    table = raw.to_pyarrow()
    assert table.num_rows == 0
    assert table.schema == pa.schema(
        [
            pa.field("n", pa.uint64(), nullable=False),
            pa.field("s", pa.string(), nullable=False),
            pa.field("t", pa.timestamp("ms", tz="UTC"), nullable=False),
        ]
    )
    assert list(raw.to_pandas().columns) == ["n", "s", "t"]
