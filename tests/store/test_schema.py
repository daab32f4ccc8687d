"""Schema as data: specs, generated DDL (as text), frame validation and docs."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from marketintel.exceptions import SchemaError, UnknownTableError
from marketintel.store import TABLES, get_table
from marketintel.store.schema import (
    INGESTED_AT,
    PUBLISHED_AT,
    UTC_TIMESTAMP,
    Column,
    TableSpec,
    add_column_sql,
    comment_sql,
    create_database_sql,
    create_table_sql,
    docs_markdown,
    quote_identifier,
    quote_string,
    spec_hash,
    validate_frame,
)

#: The core tables named in ARCHITECTURE.md: the contract between components.
CORE_TABLES = {
    "access_rules",
    "instruments",
    "prices",
    "fundamentals",
    "forward_quotes",
    "curves",
    "curve_runs",
    "forecasts",
    "backtest_runs",
    "backtest_metrics",
    "prices_hourly",
    "rollup_refreshes",
    "raw_payloads",
    "checkpoints",
    "data_quality",
    "alerts",
    "alert_acks",
    "assumptions",
    "scenario_runs",
    "routing_trust",
    "routing_decisions",
}
#: Tables of point-in-time facts: they carry published_at_utc and ingested_at_utc.
FACT_TABLES = {
    "instruments",
    "prices",
    "fundamentals",
    "forward_quotes",
    "curves",
    "curve_runs",
    "forecasts",
    "backtest_runs",
    "backtest_metrics",
}


def _log_spec(**changes: object) -> TableSpec:
    """A small MergeTree table with a codec, a default and a TTL."""
    base = TableSpec(
        name="events",
        description="Test events: it's a log",
        columns=(
            Column("event_at_utc", UTC_TIMESTAMP, None, "When it happened"),
            Column("kind", "LowCardinality(String)", None, "What happened"),
            Column("payload", "String", None, "Body", codec="ZSTD(3)", default="''"),
            Column("size", "UInt32", "bytes", "Body length"),
        ),
        engine="MergeTree",
        order_by=("kind", "event_at_utc"),
        partition_by="toYYYYMM(event_at_utc)",
        ttl="event_at_utc + INTERVAL 30 DAY",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _statement_columns(statement: str) -> list[str]:
    """The column lines of a CREATE TABLE statement."""
    body = statement.split("(\n", 1)[1].split("\n)", 1)[0]
    return [line.strip().rstrip(",") for line in body.splitlines()]


# --------------------------------------------------------------------------------------------------------
# Single-node DDL
# --------------------------------------------------------------------------------------------------------
def test_replacing_merge_tree_ddl_is_built_from_the_spec() -> None:
    spec = TABLES["prices"]
    statements = create_table_sql(spec, database="mkt")
    assert len(statements) == 1
    sql = statements[0]
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `mkt`.`prices`\n")
    assert "ON CLUSTER" not in sql
    assert f"ENGINE = ReplacingMergeTree({quote_identifier(spec.version_column or '')})" in sql
    assert f"PARTITION BY {spec.partition_by}" in sql
    assert "ORDER BY (" + ", ".join(quote_identifier(n) for n in spec.order_by) + ")" in sql
    assert sql.endswith(f"COMMENT {quote_string(spec.description)}")
    lines = _statement_columns(sql)
    assert [line.split(" ", 1)[0] for line in lines] == [quote_identifier(n) for n in spec.column_names]
    for line, column in zip(lines, spec.columns, strict=True):
        assert line.startswith(f"{quote_identifier(column.name)} {column.type}")
        assert line.endswith(f"COMMENT {quote_string(column.comment)}")


def test_column_comment_carries_description_and_unit() -> None:
    column = Column("size", "UInt32", "bytes", "Body length")
    assert column.comment == "Body length [bytes]"
    assert Column("kind", "String", None, "What happened").comment == "What happened"
    price = TABLES["prices"].column("price")
    assert price.unit is not None
    assert price.description in price.comment
    assert f"[{price.unit}]" in price.comment


def test_merge_tree_ddl_has_codec_default_ttl_and_escaped_comments() -> None:
    spec = _log_spec()
    (sql,) = create_table_sql(spec)
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `default`.`events`")
    assert "\nENGINE = MergeTree\n" in sql
    assert "\nTTL event_at_utc + INTERVAL 30 DAY\n" in sql
    assert "`payload` String DEFAULT '' CODEC(ZSTD(3)) COMMENT 'Body'" in sql
    assert "COMMENT 'Test events: it\\'s a log'" in sql


def test_single_column_sort_key_has_no_tuple() -> None:
    (sql,) = create_table_sql(TABLES["alerts"])
    assert "\nORDER BY `alert_id`\n" in sql


def test_quoting_escapes_quotes_and_backslashes() -> None:
    assert quote_string("it's a \\ path") == "'it\\'s a \\\\ path'"
    assert quote_identifier("we`ird") == "`we\\`ird`"
    assert create_database_sql("mkt") == "CREATE DATABASE IF NOT EXISTS `mkt`"
    assert create_database_sql("mkt", "prod") == "CREATE DATABASE IF NOT EXISTS `mkt` ON CLUSTER 'prod'"


# --------------------------------------------------------------------------------------------------------
# Cluster DDL
# --------------------------------------------------------------------------------------------------------
def test_cluster_ddl_is_replicated_local_table_behind_distributed() -> None:
    spec = TABLES["prices"]
    local_sql, dist_sql = create_table_sql(spec, database="mkt", cluster="prod")
    assert local_sql.startswith("CREATE TABLE IF NOT EXISTS `mkt`.`prices_local` ON CLUSTER 'prod'\n")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/prices_local',"
        " '{replica}', `ingested_at_utc`)"
    ) in local_sql
    assert f"PARTITION BY {spec.partition_by}" in local_sql
    assert _statement_columns(local_sql) == _statement_columns(create_table_sql(spec, "mkt")[0])
    assert dist_sql.startswith(
        "CREATE TABLE IF NOT EXISTS `mkt`.`prices` ON CLUSTER 'prod' AS `mkt`.`prices_local`\n"
    )
    assert "ENGINE = Distributed('prod', 'mkt', 'prices_local', cityHash64(`market`, `location`))" in dist_sql


def test_cluster_merge_tree_without_version() -> None:
    local_sql, dist_sql = create_table_sql(_log_spec(), database="mkt", cluster="prod")
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/events_local', '{replica}')"
        in (local_sql)
    )
    # no natural key: rows are spread at random
    assert "Distributed('prod', 'mkt', 'events_local', rand())" in dist_sql


def test_sharding_key_keeps_every_version_of_a_fact_on_one_shard() -> None:
    for spec in TABLES.values():
        if spec.engine == "ReplacingMergeTree":
            hashed = set(re.findall(r"`([^`]+)`", spec.sharding_key))
            assert hashed, spec.name
            assert hashed <= set(spec.natural_key), spec.name


# --------------------------------------------------------------------------------------------------------
# Migrations DDL
# --------------------------------------------------------------------------------------------------------
def test_add_column_sql_single_node() -> None:
    spec = TABLES["prices"]
    (sql,) = add_column_sql(spec, "loss", database="mkt")
    previous = spec.column_names[spec.column_names.index("loss") - 1]
    assert sql == (
        f"ALTER TABLE `mkt`.`prices` ADD COLUMN IF NOT EXISTS {spec.column('loss').ddl()}"
        f" AFTER {quote_identifier(previous)}"
    )
    (first,) = add_column_sql(spec, spec.column_names[0], database="mkt")
    assert first.endswith(" FIRST")


def test_add_column_sql_cluster_alters_local_then_distributed() -> None:
    local_sql, dist_sql = add_column_sql(TABLES["prices"], "loss", database="mkt", cluster="prod")
    assert local_sql.startswith(
        "ALTER TABLE `mkt`.`prices_local` ON CLUSTER 'prod' ADD COLUMN IF NOT EXISTS `loss`"
    )
    assert dist_sql.startswith("ALTER TABLE `mkt`.`prices` ON CLUSTER 'prod' ADD COLUMN IF NOT EXISTS `loss`")


def test_add_column_sql_unknown_column_lists_columns() -> None:
    with pytest.raises(SchemaError, match=r"has no column 'nope'.*interval_start_utc"):
        add_column_sql(TABLES["prices"], "nope")


def test_comment_sql() -> None:
    spec = TABLES["prices"]
    (table_sql,) = comment_sql(spec, "mkt")
    assert table_sql == f"ALTER TABLE `mkt`.`prices` MODIFY COMMENT {quote_string(spec.description)}"
    local_sql, dist_sql = comment_sql(spec, "mkt", "prod", column="price")
    assert "`mkt`.`prices_local` ON CLUSTER 'prod' COMMENT COLUMN IF EXISTS `price`" in local_sql
    assert "`mkt`.`prices` ON CLUSTER 'prod' COMMENT COLUMN IF EXISTS `price`" in dist_sql


# --------------------------------------------------------------------------------------------------------
# The core tables
# --------------------------------------------------------------------------------------------------------
def test_every_core_table_is_registered() -> None:
    assert set(TABLES) == CORE_TABLES
    for name in CORE_TABLES:
        assert get_table(name).name == name


def test_unknown_table_lists_the_known_ones() -> None:
    with pytest.raises(UnknownTableError) as info:
        TABLES["price"]
    message = str(info.value)
    assert "'price'" in message
    for name in CORE_TABLES:
        assert name in message
    assert isinstance(info.value, KeyError)


@pytest.mark.parametrize("name", sorted(CORE_TABLES))
def test_timestamps_are_utc_millis_named_utc(name: str) -> None:
    for column in TABLES[name].columns:
        if "DateTime" in column.type or column.name.endswith("_utc"):
            assert column.type in (UTC_TIMESTAMP, f"Nullable({UTC_TIMESTAMP})"), (name, column)
            assert column.name.endswith("_utc"), (name, column)


@pytest.mark.parametrize("name", sorted(FACT_TABLES))
def test_fact_tables_are_point_in_time(name: str) -> None:
    spec = TABLES[name]
    assert spec.column(PUBLISHED_AT).type == UTC_TIMESTAMP
    assert spec.column(INGESTED_AT).type == UTC_TIMESTAMP
    assert spec.engine == "ReplacingMergeTree"
    assert spec.version_column == INGESTED_AT
    assert spec.point_in_time
    assert set(spec.order_by) == {*spec.natural_key, PUBLISHED_AT}
    assert PUBLISHED_AT not in spec.natural_key


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        (
            "prices",
            "interval_start_utc interval_end_utc market location location_type price energy congestion loss"
            " currency unit published_at_utc ingested_at_utc source",
        ),
        (
            "fundamentals",
            "interval_start_utc interval_end_utc market area variable value unit published_at_utc"
            " ingested_at_utc source",
        ),
        (
            "forward_quotes",
            "trade_date product contract delivery_start delivery_end profile settle bid ask currency unit"
            " published_at_utc ingested_at_utc source",
        ),
        ("raw_payloads", "sha256 url fetched_at_utc status reason payload"),
    ],
)
def test_contract_columns_exist(name: str, columns: str) -> None:
    missing = set(columns.split()) - set(TABLES[name].column_names)
    assert not missing


def test_price_components_are_optional_and_dims_low_cardinality() -> None:
    spec = TABLES["prices"]
    for name in ("energy", "congestion", "loss"):
        assert spec.column(name).type == "Nullable(Float64)"
        assert not spec.column(name).required
    assert spec.column("price").required
    for name in ("market", "location_type", "currency", "unit", "source"):
        assert spec.column(name).type == "LowCardinality(String)"
    for name in ("price", "energy"):
        assert spec.column(name).unit, "value columns state their unit"
    assert spec.column("interval_start_utc").unit is None


def test_raw_payloads_status_documents_quarantine() -> None:
    assert "quarantined" in TABLES["raw_payloads"].column("status").description


def test_partitions_are_monthly_on_the_main_time_column() -> None:
    assert TABLES["prices"].partition_by == "toYYYYMM(interval_start_utc)"
    assert TABLES["fundamentals"].partition_by == "toYYYYMM(interval_start_utc)"
    assert TABLES["forward_quotes"].partition_by == "toYYYYMM(trade_date)"


# --------------------------------------------------------------------------------------------------------
# Spec validation
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "type_name", "description", "match"),
    [
        ("start", UTC_TIMESTAMP, "x", "end in '_utc'"),
        ("start_utc", "DateTime64(3)", "x", "timestamps are"),
        ("start_utc", "DateTime('UTC')", "x", "timestamps are"),
        ("start_utc", "Date", "x", "must be DateTime64"),
        ("Start", "String", "x", "snake_case"),
        ("start", "String", " ", "description"),
    ],
)
def test_bad_columns_are_rejected(name: str, type_name: str, description: str, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        Column(name, type_name, None, description)


def test_replacing_sort_key_must_be_the_natural_key() -> None:
    prices = TABLES["prices"]
    with pytest.raises(SchemaError, match="must be the natural key"):
        dataclasses.replace(prices, order_by=("market", "interval_start_utc", PUBLISHED_AT))
    with pytest.raises(SchemaError, match="natural-key columns only"):
        dataclasses.replace(prices, partition_by="toYYYYMM(published_at_utc)")
    with pytest.raises(SchemaError, match="shard_by"):
        dataclasses.replace(prices, shard_by=("currency",))
    with pytest.raises(SchemaError, match="unknown columns"):
        dataclasses.replace(prices, natural_key=("market", "nope"))


def test_other_spec_mistakes_are_listed() -> None:
    with pytest.raises(SchemaError) as info:
        _log_spec(version_column="size", order_by=("missing",), name="events_local")
    message = str(info.value)
    assert "only meaningful for ReplacingMergeTree" in message
    assert "order_by names unknown columns ['missing']" in message
    assert "reserved for cluster-local tables" in message


def test_spec_hash_is_stable_and_sensitive() -> None:
    spec = TABLES["prices"]
    assert spec_hash(spec) == spec_hash(dataclasses.replace(spec))
    extra = Column("note", "String", None, "A note", default="''")
    assert spec_hash(spec) != spec_hash(dataclasses.replace(spec, columns=(*spec.columns, extra)))


# --------------------------------------------------------------------------------------------------------
# validate_frame
# --------------------------------------------------------------------------------------------------------
def _prices_frame(n: int = 2) -> pd.DataFrame:
    start = pd.date_range("2024-03-31 00:00", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": start + pd.Timedelta(hours=1),
            "market": "EPEX_DE_DA",
            "location": "DE_LU",
            "location_type": "bidding_area",
            "price": [50.0 + i for i in range(n)],
            "currency": "EUR",
            "unit": "EUR/MWh",
            "published_at_utc": pd.Timestamp("2024-03-30 12:00", tz="UTC"),
            "source": "test",
        }
    )


def test_validate_frame_accepts_required_columns_only() -> None:
    df = _prices_frame()
    validate_frame(TABLES["prices"], df)
    optional = set(TABLES["prices"].column_names) - set(TABLES["prices"].required_columns)
    assert {"energy", "congestion", "loss", "ingested_at_utc", "revision"} <= optional


def test_validate_frame_lists_missing_and_available_columns() -> None:
    df = _prices_frame().drop(columns=["price", "published_at_utc"])
    with pytest.raises(SchemaError) as info:
        validate_frame(TABLES["prices"], df)
    message = str(info.value)
    assert "missing required columns ['price', 'published_at_utc']" in message
    for name in df.columns:
        assert name in message


def test_validate_frame_rejects_naive_timestamps() -> None:
    df = _prices_frame()
    df["interval_start_utc"] = df["interval_start_utc"].dt.tz_localize(None)
    with pytest.raises(SchemaError, match=r"'interval_start_utc' holds naive timestamps"):
        validate_frame(TABLES["prices"], df)


def test_validate_frame_checks_object_columns_of_datetimes() -> None:
    df = _prices_frame(1)
    df["published_at_utc"] = pd.Series([datetime(2024, 3, 30, 12, tzinfo=UTC)], dtype=object)
    validate_frame(TABLES["prices"], df)
    df["published_at_utc"] = pd.Series([datetime(2024, 3, 30, 12)], dtype=object)
    with pytest.raises(SchemaError, match="naive timestamps"):
        validate_frame(TABLES["prices"], df)
    df["published_at_utc"] = ["2024-03-30T12:00Z"]
    with pytest.raises(SchemaError, match="must hold tz-aware timestamps"):
        validate_frame(TABLES["prices"], df)


def test_validate_frame_accepts_any_zone_as_an_instant() -> None:
    df = _prices_frame()
    df["interval_start_utc"] = df["interval_start_utc"].dt.tz_convert("Europe/Berlin")
    validate_frame(TABLES["prices"], df)


def test_validate_frame_rejects_missing_values_and_unknown_columns() -> None:
    df = _prices_frame(3)
    df.loc[1, "price"] = float("nan")
    df["energy"] = [1.0, None, None]  # Nullable: fine
    df["colour"] = "red"
    with pytest.raises(SchemaError) as info:
        validate_frame(TABLES["prices"], df)
    message = str(info.value)
    assert "'price' (Float64) cannot hold missing values, but 1 are missing" in message
    assert "unknown columns ['colour']" in message
    assert not any("'energy'" in line and "missing values" in line for line in message.splitlines())
    df.loc[1, "price"] = 1.0
    validate_frame(TABLES["prices"], df, allow_extra=True)


# --------------------------------------------------------------------------------------------------------
# Docs
# --------------------------------------------------------------------------------------------------------
def test_docs_document_every_table_and_column() -> None:
    text = docs_markdown(TABLES.values())
    for spec in TABLES.values():
        assert f"## `{spec.name}`" in text
        assert spec.description in text
        for column in spec.columns:
            row = f"| `{column.name}` | `{column.type}` | {column.unit or ''} | {column.description} |"
            assert row in text, row


def test_docs_escape_pipes() -> None:
    spec = _log_spec(description="a | b")
    assert "a \\| b" in docs_markdown([spec])
