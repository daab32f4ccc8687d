"""Migrations and point-in-time reads against a real store endpoint."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from marketintel.exceptions import (
    EmptyResultError,
    LookAheadError,
    MigrationError,
    NaiveTimestampError,
    SchemaError,
)
from marketintel.store import TABLES, Range, migrate, read_asof, read_issued
from marketintel.store.schema import (
    UTC_TIMESTAMP,
    Column,
    TableSpec,
    create_table_sql,
    normalize_type,
    spec_hash,
    validate_frame,
)
from marketintel.store.tables import SCHEMA_MIGRATIONS

T = pd.Timestamp


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------
def _tables(client: Any, database: str) -> dict[str, str]:
    rows = client.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String}", parameters={"db": database}
    ).result_rows
    return {name: engine for name, engine in rows}


def _columns(client: Any, database: str, table: str) -> dict[str, tuple[str, str]]:
    rows = client.query(
        "SELECT name, type, comment FROM system.columns WHERE database = {db:String} AND table = {t:String}"
        " ORDER BY position",
        parameters={"db": database, "t": table},
    ).result_rows
    return {name: (type_name, comment) for name, type_name, comment in rows}


def _migrations(client: Any, database: str) -> list[tuple[str, str, str]]:
    return [
        tuple(row)
        for row in client.query(
            f"SELECT table_name, spec_hash, action FROM `{database}`.schema_migrations"
            " ORDER BY applied_at_utc, table_name, action"
        ).result_rows
    ]


def _insert(client: Any, database: str, table: str, df: pd.DataFrame) -> None:
    validate_frame(TABLES[table], df)
    client.insert_df(table, df, database=database)


def _prices(
    published: str,
    prices: list[float],
    *,
    start: str = "2024-03-31 00:00",
    location: str = "DE_LU",
    **extra: Any,
) -> pd.DataFrame:
    """Hourly prices of one location, all published at ``published`` (UTC)."""
    begin = pd.date_range(start, periods=len(prices), freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "interval_start_utc": begin,
            "interval_end_utc": begin + pd.Timedelta(hours=1),
            "market": "EPEX_DE_DA",
            "location": location,
            "location_type": "bidding_area",
            "price": prices,
            "currency": "EUR",
            "unit": "EUR/MWh",
            "published_at_utc": T(published, tz="UTC"),
            "source": "test",
            **extra,
        }
    )


@pytest.fixture
def migrated(ch_client: Any, ch_database: str) -> str:
    migrate(ch_client, database=ch_database)
    return ch_database


@pytest.fixture
def revised_prices(ch_client: Any, migrated: str) -> str:
    """Two hours published preliminary at 10:00; hour 0 revised (final) at 14:00 the same day."""
    _insert(ch_client, migrated, "prices", _prices("2024-03-30 10:00", [50.0, 60.0], revision="preliminary"))
    _insert(ch_client, migrated, "prices", _prices("2024-03-30 14:00", [55.0], revision="final"))
    return migrated


# --------------------------------------------------------------------------------------------------------
# migrate
# --------------------------------------------------------------------------------------------------------
def test_migrate_creates_every_table_as_specified(ch_client: Any, ch_database: str) -> None:
    report = migrate(ch_client, database=ch_database)
    assert report.changed
    assert set(report.created_tables) == {*TABLES, SCHEMA_MIGRATIONS.name}
    tables = _tables(ch_client, ch_database)
    for spec in [*TABLES.values(), SCHEMA_MIGRATIONS]:
        assert tables[spec.name] == spec.engine
        stored = _columns(ch_client, ch_database, spec.name)
        assert list(stored) == list(spec.column_names), spec.name
        for column in spec.columns:
            type_name, comment = stored[column.name]
            assert normalize_type(type_name) == normalize_type(column.type), (spec.name, column.name)
            assert comment == column.comment
    recorded = {(table, digest) for table, digest, action in _migrations(ch_client, ch_database)}
    assert recorded == {(s.name, spec_hash(s)) for s in [*TABLES.values(), SCHEMA_MIGRATIONS]}


def test_migrate_creates_a_missing_database(ch_client: Any, ch_database: str) -> None:
    fresh = ch_database + "_new"
    try:
        report = migrate(ch_client, database=fresh, specs=[TABLES["prices"]])
        assert report.created_database
        assert set(_tables(ch_client, fresh)) == {"prices", SCHEMA_MIGRATIONS.name}
    finally:
        ch_client.command(f"DROP DATABASE IF EXISTS `{fresh}`")


def test_migrate_twice_does_nothing_and_says_so(ch_client: Any, migrated: str) -> None:
    before = _migrations(ch_client, migrated)
    report = migrate(ch_client, database=migrated)
    assert not report.changed
    assert report.statements == []
    assert report.created_tables == []
    assert set(report.unchanged_tables) == {*TABLES, SCHEMA_MIGRATIONS.name}
    assert "up to date" in report.summary()
    assert "nothing to do" in str(report)
    assert _migrations(ch_client, migrated) == before


def test_migrate_adds_a_new_column_and_keeps_rows(ch_client: Any, migrated: str) -> None:
    _insert(ch_client, migrated, "prices", _prices("2024-03-30 10:00", [50.0]))
    spec = TABLES["prices"]
    note = Column("note", "LowCardinality(String)", None, "Free-text note", default="'none'")
    position = spec.column_names.index("price") + 1
    extended = dataclasses.replace(spec, columns=(*spec.columns[:position], note, *spec.columns[position:]))

    report = migrate(ch_client, database=migrated, specs=[extended])

    assert report.added_columns == {"prices": ["note"]}
    assert report.created_tables == []
    stored = _columns(ch_client, migrated, "prices")
    assert list(stored) == list(extended.column_names)
    assert stored["note"] == (note.type, note.comment)
    rows = ch_client.query(f"SELECT price, note FROM `{migrated}`.prices").result_rows
    assert [tuple(r) for r in rows] == [(50.0, "none")]
    assert _migrations(ch_client, migrated)[-1] == ("prices", spec_hash(extended), "add_columns")
    assert not migrate(ch_client, database=migrated, specs=[extended]).changed


def test_migrate_refuses_to_change_a_column_type(ch_client: Any, migrated: str) -> None:
    spec = TABLES["prices"]
    columns = tuple(dataclasses.replace(c, type="Float32") if c.name == "price" else c for c in spec.columns)
    changed = dataclasses.replace(spec, columns=columns)
    ch_client.command(f"INSERT INTO `{migrated}`.prices (market, location, price) VALUES ('M', 'L', 1)")
    before = _migrations(ch_client, migrated)
    with pytest.raises(
        MigrationError, match=r"prices\.price: type is Float64 in the store, the spec says Float32"
    ):
        migrate(ch_client, database=migrated, specs=[changed])
    assert _columns(ch_client, migrated, "prices")["price"][0] == "Float64"
    assert _migrations(ch_client, migrated) == before


def test_migrate_refuses_to_change_the_sort_key(ch_client: Any, migrated: str) -> None:
    spec = TABLES["alerts"]
    extra = Column("rank", "UInt8", None, "Rank", default="0")
    changed = dataclasses.replace(
        spec, columns=(*spec.columns, extra), order_by=("alert_id", "rank"), natural_key=("alert_id", "rank")
    )
    ch_client.command(f"INSERT INTO `{migrated}`.alerts (alert_id, title) VALUES ('a1', 'kept')")
    with pytest.raises(MigrationError, match="ORDER BY"):
        migrate(ch_client, database=migrated, specs=[changed])
    assert "rank" not in _columns(ch_client, migrated, "alerts")


def test_migrate_rebuilds_an_empty_table_whose_key_changed(ch_client: Any, migrated: str) -> None:
    spec = TABLES["alerts"]
    extra = Column("rank", "UInt8", None, "Rank", default="0")
    changed = dataclasses.replace(
        spec, columns=(*spec.columns, extra), order_by=("alert_id", "rank"), natural_key=("alert_id", "rank")
    )
    report = migrate(ch_client, database=migrated, specs=[changed])  # empty: nothing to lose
    assert report.rebuilt_tables == ["alerts"] and "rank" in _columns(ch_client, migrated, "alerts")
    assert "empty tables were rebuilt" in report.summary()
    key = ch_client.command(
        f"SELECT sorting_key FROM system.tables WHERE database = '{migrated}' AND name = 'alerts'"
    )
    assert key == "alert_id, rank"
    assert _migrations(ch_client, migrated)[-1] == ("alerts", spec_hash(changed), "rebuild_empty_table")
    assert not migrate(ch_client, database=migrated, specs=[changed]).changed


def test_migrate_updates_comments_from_the_spec(ch_client: Any, migrated: str) -> None:
    spec = TABLES["checkpoints"]
    columns = tuple(
        dataclasses.replace(c, description="High-water mark, it's inclusive")
        if c.name == "watermark_utc"
        else c
        for c in spec.columns
    )
    changed = dataclasses.replace(spec, columns=columns, description="Connector state (revised)")
    report = migrate(ch_client, database=migrated, specs=[changed])
    assert report.updated_comments == {"checkpoints": ["(table)", "watermark_utc"]}
    assert (
        _columns(ch_client, migrated, "checkpoints")["watermark_utc"][1] == "High-water mark, it's inclusive"
    )
    comment = ch_client.query(
        "SELECT comment FROM system.tables WHERE database = {db:String} AND name = 'checkpoints'",
        parameters={"db": migrated},
    ).result_rows[0][0]
    assert comment == "Connector state (revised)"


def test_migrate_dry_run_changes_nothing(ch_client: Any, ch_database: str) -> None:
    report = migrate(ch_client, database=ch_database, dry_run=True)
    assert report.changed
    assert report.dry_run
    assert "would be created" in report.summary()
    assert _tables(ch_client, ch_database) == {}


def test_migrate_defaults_to_the_configured_store(
    store_env: Any, ch_client: Any, ch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store_env.url}/{ch_database}")
    report = migrate(specs=[TABLES["alerts"]])
    assert report.database == ch_database
    assert "alerts" in _tables(ch_client, ch_database)


def test_ttl_codec_and_default_execute(ch_client: Any, ch_database: str) -> None:
    spec = TableSpec(
        name="events",
        description="Test events: it's a log",
        columns=(
            Column("event_at_utc", UTC_TIMESTAMP, None, "When it happened"),
            Column("kind", "LowCardinality(String)", None, "What 'happened'"),
            Column("payload", "String", "bytes", "Body", codec="ZSTD(3)", default="''"),
        ),
        engine="MergeTree",
        order_by=("kind", "event_at_utc"),
        partition_by="toYYYYMM(event_at_utc)",
        ttl="event_at_utc + INTERVAL 30 DAY",
    )
    migrate(ch_client, database=ch_database, specs=[spec])
    engine_full = ch_client.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = 'events'",
        parameters={"db": ch_database},
    ).result_rows[0][0]
    assert "TTL event_at_utc + toIntervalDay(30)" in engine_full
    assert _columns(ch_client, ch_database, "events")["kind"][1] == "What 'happened'"
    assert not migrate(ch_client, database=ch_database, specs=[spec]).changed


def test_migrate_plans_cluster_ddl(ch_client: Any, ch_database: str) -> None:
    """Planning for a cluster (dry run: there is none here) creates local and Distributed tables."""
    report = migrate(ch_client, database=ch_database, cluster="prod", specs=[TABLES["prices"]], dry_run=True)
    assert report.cluster == "prod"
    assert set(report.created_tables) == {"prices", SCHEMA_MIGRATIONS.name}
    assert len(report.statements) == 4
    assert all(" ON CLUSTER 'prod'" in s for s in report.statements)
    assert any("`prices_local`" in s and "ReplicatedReplacingMergeTree(" in s for s in report.statements)
    assert any("ENGINE = Distributed('prod'" in s for s in report.statements)
    assert "on cluster 'prod'" in report.summary()


def test_cluster_ddl_is_valid_clickhouse_sql(ch_client: Any) -> None:
    """No cluster here: the server parses (formatQuery) what it cannot run."""
    for spec in TABLES.values():
        for statement in create_table_sql(spec, database="mkt", cluster="prod"):
            formatted = ch_client.query(
                "SELECT formatQuery({q:String})", parameters={"q": statement}
            ).result_rows
            assert "ON CLUSTER prod" in formatted[0][0]


# --------------------------------------------------------------------------------------------------------
# Point-in-time reads
# --------------------------------------------------------------------------------------------------------
def test_asof_returns_latest_version_published_by_then(ch_client: Any, revised_prices: str) -> None:
    db = revised_prices
    between = read_asof(ch_client, "prices", T("2024-03-30 12:00", tz="UTC"), database=db)
    assert between["price"].tolist() == [50.0, 60.0]
    assert between["revision"].tolist() == ["preliminary", "preliminary"]

    after = read_asof(ch_client, "prices", T("2024-03-30 14:00", tz="UTC"), database=db)  # inclusive
    assert after["price"].tolist() == [55.0, 60.0]
    assert after["published_at_utc"].tolist() == [
        T("2024-03-30 14:00", tz="UTC"),
        T("2024-03-30 10:00", tz="UTC"),
    ]
    assert after["interval_start_utc"].tolist() == list(
        pd.date_range("2024-03-31", periods=2, freq="h", tz="UTC")
    )


def test_asof_accepts_any_zone_and_returns_utc(ch_client: Any, revised_prices: str) -> None:
    as_of = T("2024-03-30 13:59:59.999", tz="Europe/Berlin")  # 12:59:59.999 UTC: before the revision
    df = read_asof(ch_client, "prices", as_of, database=revised_prices)
    assert df["price"].tolist() == [50.0, 60.0]
    assert str(df["interval_start_utc"].dt.tz) == "UTC"
    assert str(df["published_at_utc"].dt.tz) == "UTC"


def test_zoned_frames_are_stored_as_utc_instants(ch_client: Any, migrated: str) -> None:
    df = _prices("2024-03-30 10:00", [50.0, 60.0], start="2024-10-27 00:00")  # DST ends in Berlin
    zoned = df.assign(
        interval_start_utc=df["interval_start_utc"].dt.tz_convert("Europe/Berlin"),
        published_at_utc=df["published_at_utc"].dt.tz_convert("America/New_York"),
    )
    _insert(ch_client, migrated, "prices", zoned)
    back = read_asof(ch_client, "prices", T("2024-03-31", tz="UTC"), database=migrated)
    assert back["interval_start_utc"].tolist() == df["interval_start_utc"].tolist()
    assert back["published_at_utc"].tolist() == df["published_at_utc"].tolist()


def test_asof_before_any_publication_is_an_error_unless_allowed(ch_client: Any, revised_prices: str) -> None:
    early = T("2024-03-30 09:59:59.999", tz="UTC")
    with pytest.raises(EmptyResultError, match=r"published at or before 2024-03-30 09:59:59\.999"):
        read_asof(ch_client, "prices", early, database=revised_prices)
    empty = read_asof(
        ch_client, "prices", early, columns=["price"], database=revised_prices, allow_empty=True
    )
    assert empty.empty
    assert list(empty.columns) == ["price"]


def test_asof_filters_and_columns(ch_client: Any, revised_prices: str) -> None:
    db = revised_prices
    _insert(ch_client, db, "prices", _prices("2024-03-30 10:00", [70.0, 80.0], location="FR"))
    as_of = T("2024-03-31", tz="UTC")
    both = read_asof(ch_client, "prices", as_of, where={"location": ["FR", "DE_LU"]}, database=db)
    assert both["location"].tolist() == ["DE_LU", "DE_LU", "FR", "FR"]
    second_hour = read_asof(
        ch_client,
        "prices",
        as_of,
        where={"location": "FR", "interval_start_utc": Range(start=T("2024-03-31 01:00", tz="UTC"))},
        columns=["location", "price"],
        database=db,
    )
    assert second_hour.to_dict("records") == [{"location": "FR", "price": 80.0}]
    only_final = read_asof(ch_client, "prices", as_of, where={"revision": "final"}, database=db)
    assert only_final["price"].tolist() == [55.0]
    no_component = read_asof(
        ch_client, "prices", as_of, where={"energy": None, "location": "FR"}, database=db
    )
    assert len(no_component) == 2


def test_asof_rejects_naive_timestamps(ch_client: Any, revised_prices: str) -> None:
    with pytest.raises(NaiveTimestampError, match="as_of must be tz-aware"):
        read_asof(ch_client, "prices", T("2024-03-31"), database=revised_prices)
    with pytest.raises(NaiveTimestampError, match="interval_start_utc"):
        read_asof(
            ch_client,
            "prices",
            T("2024-03-31", tz="UTC"),
            where={"interval_start_utc": Range(end=T("2024-03-31 01:00"))},
            database=revised_prices,
        )


def test_reingesting_the_same_payload_changes_nothing(ch_client: Any, revised_prices: str) -> None:
    db = revised_prices
    as_of = T("2024-03-31", tz="UTC")
    facts = ["interval_start_utc", "location", "price", "revision", "published_at_utc"]
    before = read_asof(ch_client, "prices", as_of, columns=facts, database=db)
    final_before = ch_client.query_df(
        f"SELECT * EXCEPT ingested_at_utc FROM `{db}`.prices FINAL ORDER BY ALL"
    )

    ch_client.command(f"SYSTEM STOP MERGES `{db}`.prices")  # duplicates stay on disk until merged
    _insert(ch_client, db, "prices", _prices("2024-03-30 10:00", [50.0, 60.0], revision="preliminary"))
    _insert(ch_client, db, "prices", _prices("2024-03-30 14:00", [55.0], revision="final"))

    assert ch_client.query(f"SELECT count() FROM `{db}`.prices").result_rows[0][0] == 6
    assert_frame_equal(read_asof(ch_client, "prices", as_of, columns=facts, database=db), before)
    final_after = ch_client.query_df(f"SELECT * EXCEPT ingested_at_utc FROM `{db}`.prices FINAL ORDER BY ALL")
    assert_frame_equal(final_after, final_before)
    ch_client.command(f"SYSTEM START MERGES `{db}`.prices")
    ch_client.command(f"OPTIMIZE TABLE `{db}`.prices FINAL")
    assert ch_client.query(f"SELECT count() FROM `{db}`.prices").result_rows[0][0] == 3


def test_latest_ingest_wins_for_the_same_publication(ch_client: Any, revised_prices: str) -> None:
    """A corrected re-delivery of the same publication replaces it (version = ingested_at_utc)."""
    db = revised_prices
    late = T("2030-01-01", tz="UTC")
    _insert(ch_client, db, "prices", _prices("2024-03-30 10:00", [51.0], ingested_at_utc=late))
    df = read_asof(ch_client, "prices", T("2024-03-30 12:00", tz="UTC"), database=db)
    assert df["price"].tolist() == [51.0, 60.0]
    assert df["ingested_at_utc"].iloc[0] == late


def test_asof_on_forward_quotes_filters_dates(ch_client: Any, migrated: str) -> None:
    quotes = pd.DataFrame(
        {
            "trade_date": [date(2024, 3, 28), date(2024, 3, 28), date(2024, 3, 29)],
            "market": "EEX",
            "product": "DE_POWER",
            "contract": ["2024-M04", "2024-M05", "2024-M04"],
            "delivery_start": [date(2024, 4, 1), date(2024, 5, 1), date(2024, 4, 1)],
            "delivery_end": [date(2024, 5, 1), date(2024, 6, 1), date(2024, 5, 1)],
            "profile": "base",
            "settle": [61.5, 58.25, 62.0],
            "currency": "EUR",
            "unit": "EUR/MWh",
            "published_at_utc": [T("2024-03-28 17:00", tz="UTC")] * 2 + [T("2024-03-29 17:00", tz="UTC")],
            "source": "test",
        }
    )
    _insert(ch_client, migrated, "forward_quotes", quotes)
    as_of = T("2024-03-30", tz="UTC")
    one_day = read_asof(
        ch_client, "forward_quotes", as_of, where={"trade_date": date(2024, 3, 28)}, database=migrated
    )
    assert one_day["contract"].tolist() == ["2024-M04", "2024-M05"]
    assert one_day["bid"].isna().all()
    later = read_asof(
        ch_client,
        "forward_quotes",
        as_of,
        where={"trade_date": Range(start="2024-03-29"), "contract": ("2024-M04",)},
        columns=["settle"],
        database=migrated,
    )
    assert later["settle"].tolist() == [62.0]
    with pytest.raises(SchemaError, match="Date column"):
        read_asof(ch_client, "forward_quotes", as_of, where={"trade_date": as_of}, database=migrated)


# --------------------------------------------------------------------------------------------------------
# Reads at an issue time
# --------------------------------------------------------------------------------------------------------
def test_read_issued_sees_what_was_published_by_the_issue_time(ch_client: Any, revised_prices: str) -> None:
    issue = T("2024-03-30 12:00", tz="UTC")
    issued = read_issued(ch_client, "prices", issue, database=revised_prices)
    assert_frame_equal(issued, read_asof(ch_client, "prices", issue, database=revised_prices))
    earlier = read_issued(
        ch_client, "prices", issue, as_of=T("2024-03-30 11:00", tz="UTC"), database=revised_prices
    )
    assert earlier["price"].tolist() == [50.0, 60.0]


@pytest.mark.parametrize(
    "request_",
    [
        {"as_of": T("2024-03-30 12:00:00.001", tz="UTC")},
        {"where": {"published_at_utc": Range(end=T("2024-03-30 15:00", tz="UTC"))}},
        {"where": {"published_at_utc": Range(start=T("2024-03-30 14:00", tz="UTC"))}},
        {"where": {"published_at_utc": T("2024-03-30 14:00", tz="UTC")}},
        {"where": {"published_at_utc": [T("2024-03-30 10:00", tz="UTC"), T("2024-03-30 14:00", tz="UTC")]}},
    ],
)
def test_read_issued_refuses_to_look_ahead(
    ch_client: Any, revised_prices: str, request_: dict[str, Any]
) -> None:
    with pytest.raises(LookAheadError, match="after the issue time 2024-03-30 12:00:00"):
        read_issued(ch_client, "prices", T("2024-03-30 12:00", tz="UTC"), database=revised_prices, **request_)


def test_read_issued_rejects_a_naive_issue_time(ch_client: Any, revised_prices: str) -> None:
    with pytest.raises(NaiveTimestampError, match="issue_time must be tz-aware"):
        read_issued(ch_client, "prices", T("2024-03-30 12:00"), database=revised_prices)
