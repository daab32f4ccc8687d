"""The hourly price rollup: reads through it equal the fact path exactly, whatever arrived since.

Every comparison is against :func:`marketintel.services.queries.price_series` on its fact path (the
latest revision of each interval published by now, bucketed at query time), on random data with
revisions, identical re-ingests, late rows after the last refresh, rows published "in the future",
mixed interval lengths and a revision that changes the unit. Merges are left running, so some reads meet
merged parts (which the read must treat as changed) and some do not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from marketintel.services import queries
from marketintel.store import insert_df, migrate
from marketintel.store.rollup import RollupError, RollupState, refresh_prices_hourly, watermark
from marketintel.store.tables import PRICES

START = pd.Timestamp("2024-03-29 20:00", tz="UTC")  # the data spans the EU DST change (31 March)
DAYS = 4
AGGS = ["avg", "min", "max", "sum", "first", "last", "count"]
LOCATIONS = ("A", "B", "C")
CASES = [
    # (resolution, tz, start, end): aligned and unaligned windows, zones with DST, a whole-hour zone
    ("hourly", None, START, START + pd.Timedelta(days=DAYS)),
    ("hourly", "Europe/Berlin", START + pd.Timedelta(minutes=17), START + pd.Timedelta(hours=50, minutes=40)),
    ("daily", None, START, START + pd.Timedelta(days=DAYS)),
    ("daily", "Europe/Berlin", START, START + pd.Timedelta(days=DAYS)),
    ("daily", "America/New_York", START + pd.Timedelta(minutes=35), START + pd.Timedelta(days=3, hours=7)),
]


@pytest.fixture(autouse=True)
def _fresh_rollup_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read the rollup's state on every query: these tests refresh and read at once."""
    monkeypatch.setattr(queries, "ROLLUP_STATE_TTL_S", 0.0)


@pytest.fixture
def db(ch_client: Any, ch_database: str) -> str:
    """A migrated database (all tables, the rollup included) for one test."""
    migrate(ch_client, database=ch_database)
    return ch_database


def _frame(
    rng: np.random.Generator,
    location: str,
    starts: pd.DatetimeIndex,
    published: pd.Timestamp,
    *,
    minutes: int = 5,
    unit: str = "EUR/MWh",
) -> pd.DataFrame:
    n = len(starts)
    return pd.DataFrame(
        {
            "interval_start_utc": starts,
            "interval_end_utc": starts + pd.Timedelta(minutes=minutes),
            "market": "M_RT",
            "location": location,
            "location_type": "node",
            "price": np.round(rng.normal(50, 20, n), 3),
            "currency": "EUR",
            "unit": unit,
            "published_at_utc": published,
            "source": "test",
        }
    )


def _grid(minutes: int = 5, days: int = DAYS) -> pd.DatetimeIndex:
    return pd.date_range(START, periods=days * 24 * 60 // minutes, freq=f"{minutes}min")


def _put(client: Any, db: str, frame: pd.DataFrame) -> None:
    insert_df(client, PRICES.name, frame, database=db)


def _both(client: Any, db: str, location: str, case: tuple[Any, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the default read (the rollup's path) and the fact path at the same knowledge."""
    resolution, tz, start, end = case
    kw = {"resolution": resolution, "tz": tz, "aggregates": AGGS, "database": db}
    state = queries.rollup_state(client, db)
    query = queries.price_series_sql("M_RT", location, start, end, rollup_state=state, **kw)  # type: ignore[arg-type]
    assert query.uses_rollup == (state.watermark_block > 0)
    fast = queries.price_series(client, "M_RT", location, start, end, allow_empty=True, **kw)  # type: ignore[arg-type]
    now = pd.Timestamp.now(tz="UTC")
    facts = queries.price_series(client, "M_RT", location, start, end, as_of=now, allow_empty=True, **kw)  # type: ignore[arg-type]
    return fast, facts


def _assert_exact(client: Any, db: str, when: str) -> None:
    for location in LOCATIONS:
        for case in CASES:
            fast, facts = _both(client, db, location, case)
            assert len(facts) > 0, (when, location, case)
            assert_frame_equal(
                fast.reset_index(drop=True),
                facts.reset_index(drop=True),
                check_exact=False,
                rtol=1e-12,
                atol=1e-9,
                obj=f"{when}: {location} {case[:2]}",
            )


def _revise(
    rng: np.random.Generator, frame: pd.DataFrame, share: float, published: pd.Timestamp
) -> pd.DataFrame:
    picked = frame.sample(frac=share, random_state=int(rng.integers(1 << 30))).copy()
    picked["price"] = np.round(picked["price"] + rng.normal(0, 5, len(picked)), 3)
    picked["published_at_utc"] = published
    return picked


@pytest.mark.parametrize("seed", range(3))
def test_reads_equal_the_fact_path_through_revisions_reingests_and_late_rows(
    ch_client: Any, db: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2024-04-05", tz="UTC")
    frames = {
        "A": _frame(rng, "A", _grid(), first),
        "B": _frame(rng, "B", _grid(15), first, minutes=15),
        # C mixes hourly and 5-minute intervals, so averages must be weighted by time. No two start at
        # the same instant: `first` and `last` of tied starts are any of them, on either path.
        "C": pd.concat(
            [
                _frame(rng, "C", _grid(60), first, minutes=60),
                _frame(rng, "C", _grid()[::7] + pd.Timedelta(minutes=1), first),
            ]
        ),
    }
    for frame in frames.values():
        _put(ch_client, db, frame)
    _assert_exact(ch_client, db, "before any refresh (fact path for every hour)")

    report = refresh_prices_hourly(ch_client, database=db)
    assert report.mode == "full" and report.rows_written > 0
    _assert_exact(ch_client, db, "right after the first refresh")

    # (a) revisions: a later publication of some intervals, read before and after the next refresh
    for k, loc in enumerate(LOCATIONS):
        _put(ch_client, db, _revise(rng, frames[loc], 0.05, first + pd.Timedelta(days=1 + k)))
    _assert_exact(ch_client, db, "revisions after the refresh")
    assert refresh_prices_hourly(ch_client, database=db).mode == "incremental"
    _assert_exact(ch_client, db, "revisions refreshed")

    # (b) re-ingest of identical rows (same publication, later ingest): nothing may change
    before = _both(ch_client, db, "A", CASES[0])[0]
    _put(ch_client, db, frames["A"])
    _assert_exact(ch_client, db, "an identical re-ingest")
    assert_frame_equal(_both(ch_client, db, "A", CASES[0])[0], before, check_exact=False, rtol=1e-12)
    refresh_prices_hourly(ch_client, database=db)
    _assert_exact(ch_client, db, "the re-ingest refreshed")

    # (c) late rows after the refresh: new intervals, a revision that changes the unit, a revision
    # published in the future (invisible to a read as of now), and then nothing refreshed at all
    late = _frame(rng, "A", pd.date_range(START + pd.Timedelta(days=DAYS), periods=30, freq="5min"), first)
    _put(ch_client, db, late)
    unit_change = _revise(rng, frames["B"], 0.02, first + pd.Timedelta(days=9))
    unit_change["unit"] = "EUR/kWh"
    _put(ch_client, db, unit_change)
    _put(ch_client, db, _revise(rng, frames["C"], 0.03, pd.Timestamp("2100-01-01", tz="UTC")))
    _assert_exact(ch_client, db, "late rows not refreshed yet")
    refresh_prices_hourly(ch_client, database=db)
    _assert_exact(ch_client, db, "late rows refreshed")


def test_the_read_takes_refreshed_hours_from_the_rollup(ch_client: Any, db: str) -> None:
    rng = np.random.default_rng(7)
    _put(ch_client, db, _frame(rng, "A", _grid(), pd.Timestamp("2024-04-05", tz="UTC")))
    refresh_prices_hourly(ch_client, database=db)
    block = watermark(ch_client, db)
    # a planted rollup row with a later refresh shows that the read serves this hour from the rollup
    hour = START + pd.Timedelta(hours=3)
    ch_client.command(
        f"INSERT INTO `{db}`.prices_hourly (market, location, hour_utc, currency, unit, n_intervals,"
        " price_ms_sum, ms_sum, price_sum, price_min, price_max, first_start_utc, price_first,"
        " last_start_utc, price_last, max_published_at_utc, refresh_block) VALUES"
        f" ('M_RT', 'A', '{hour:%Y-%m-%d %H:%M:%S}', 'EUR', 'EUR/MWh', 1, 3600000 * 999, 3600000, 999,"
        f" 999, 999, '{hour:%Y-%m-%d %H:%M:%S}', 999, '{hour:%Y-%m-%d %H:%M:%S}', 999, '2024-04-05',"
        f" {block + 1})"
    )
    window = (START, START + pd.Timedelta(hours=6))
    fast = queries.price_series(ch_client, "M_RT", "A", *window, resolution="hourly", database=db)
    assert fast.loc[fast["interval_start_utc"] == hour, "price_avg"].tolist() == [999.0]
    # an unaligned window reads its edge hours from the facts, the rest from the rollup
    edge = queries.price_series(
        ch_client, "M_RT", "A", START + pd.Timedelta(minutes=3 * 60 + 10), START + pd.Timedelta(hours=5),
        resolution="hourly", database=db,
    )  # fmt: skip
    assert edge["price_avg"].iloc[0] != 999.0 and edge["n_intervals"].iloc[0] == 10
    # a row changed since the watermark sends its hour back to the facts
    _put(ch_client, db, _frame(rng, "A", pd.DatetimeIndex([hour]), pd.Timestamp("2024-04-06", tz="UTC")))
    fresh = queries.price_series(ch_client, "M_RT", "A", *window, resolution="hourly", database=db)
    assert 999.0 not in fresh["price_avg"].tolist()


@pytest.mark.parametrize("aggregates", [["avg"], ["min", "max"], ["first", "count"], ["last", "sum"]])
def test_a_read_of_some_aggregates_reads_only_their_rollup_columns(
    ch_client: Any, db: str, aggregates: list[str]
) -> None:
    rng = np.random.default_rng(11)
    _put(ch_client, db, _frame(rng, "A", _grid(), pd.Timestamp("2024-04-05", tz="UTC")))
    refresh_prices_hourly(ch_client, database=db)
    # a late revision after the refresh: some hours come from the facts, the rest from the rollup
    _put(ch_client, db, _revise(rng, _frame(rng, "A", _grid(days=1), pd.Timestamp("2024-04-05", tz="UTC")),
                                0.05, pd.Timestamp("2024-04-06", tz="UTC")))  # fmt: skip
    for resolution, tz, start, end in CASES:
        kw = {"resolution": resolution, "tz": tz, "aggregates": aggregates, "database": db}
        state = queries.rollup_state(ch_client, db)
        query = queries.price_series_sql("M_RT", "A", start, end, rollup_state=state, **kw)  # type: ignore[arg-type]
        assert query.uses_rollup
        wanted = {"avg": {"price_ms_sum", "ms_sum"}, "min": {"price_min"}, "max": {"price_max"},
                  "sum": {"price_sum"}, "first": {"price_first", "first_start_utc"},
                  "last": {"price_last", "last_start_utc"}, "count": {"n_intervals"}}  # fmt: skip
        needed = set().union(*(wanted[a] for a in aggregates))
        rollup_side = query.sql.split("prices_hourly` FINAL")[0].rsplit("SELECT market", 1)[1]
        named = {c for cols in wanted.values() for c in cols if c in rollup_side}
        assert named == needed, (aggregates, named)
        fast = queries.price_series(ch_client, "M_RT", "A", start, end, **kw)  # type: ignore[arg-type]
        facts = queries.price_series(
            ch_client, "M_RT", "A", start, end, as_of=pd.Timestamp.now(tz="UTC"), **kw
        )  # type: ignore[arg-type]
        assert list(fast.columns) == list(facts.columns)
        assert_frame_equal(
            fast, facts, check_exact=False, rtol=1e-12, atol=1e-9, obj=f"{aggregates} {resolution} {tz}"
        )


def test_point_in_time_and_other_reads_keep_the_fact_path(ch_client: Any, db: str) -> None:
    window = (START, START + pd.Timedelta(days=1))
    ready = RollupState(7, None, 0)
    assert queries.price_series_sql("M", "A", *window, resolution="hourly", rollup_state=ready).uses_rollup
    assert queries.price_series_sql(
        "M", "A", *window, resolution="daily", tz="Europe/Berlin", rollup_state=ready
    ).uses_rollup
    assert not queries.price_series_sql("M", "A", *window, resolution="hourly").uses_rollup  # no state
    never = RollupState(0, None, 0)  # never refreshed
    assert not queries.price_series_sql(
        "M", "A", *window, resolution="hourly", rollup_state=never
    ).uses_rollup
    for kw in (
        {"resolution": "hourly", "as_of": "2024-04-01"},  # point in time
        {"resolution": "native"},
        {"resolution": "hourly", "tz": "Asia/Kolkata"},  # half-hour offset: hours are not UTC hours
        {"resolution": "daily", "tz": "Australia/Adelaide"},
    ):
        query = queries.price_series_sql("M", "A", *window, rollup_state=ready, **kw)  # type: ignore[arg-type]
        assert not query.uses_rollup and "prices_hourly" not in query.sql, kw
    # as of an instant before a revision, the old value comes back even with the rollup refreshed
    rng = np.random.default_rng(3)
    base = _frame(rng, "A", _grid(days=1), pd.Timestamp("2024-04-05", tz="UTC"))
    _put(ch_client, db, base)
    revised = base.assign(price=base["price"] + 100, published_at_utc=pd.Timestamp("2024-04-07", tz="UTC"))
    _put(ch_client, db, revised)
    refresh_prices_hourly(ch_client, database=db)
    old = queries.price_series(
        ch_client, "M_RT", "A", *window, resolution="hourly", as_of="2024-04-06", database=db
    )
    new = queries.price_series(ch_client, "M_RT", "A", *window, resolution="hourly", database=db)
    assert np.allclose(new["price_avg"] - old["price_avg"], 100.0)


def test_a_store_without_the_rollup_tables_is_read_through_the_facts(
    ch_client: Any, ch_database: str
) -> None:
    migrate(ch_client, database=ch_database, specs=[PRICES])
    rng = np.random.default_rng(5)
    _put(ch_client, ch_database, _frame(rng, "A", _grid(days=1), pd.Timestamp("2024-04-05", tz="UTC")))
    window = (START, START + pd.Timedelta(days=1))
    assert queries.rollup_state(ch_client, ch_database).watermark_block == 0
    df = queries.price_series(ch_client, "M_RT", "A", *window, resolution="hourly", database=ch_database)
    assert len(df) == 24 and df["n_intervals"].tolist() == [12] * 24


def test_refresh_is_incremental_idempotent_and_full_on_request(ch_client: Any, db: str) -> None:
    rng = np.random.default_rng(11)
    assert refresh_prices_hourly(ch_client, database=db).mode == "none"  # nothing to roll up
    _put(ch_client, db, _frame(rng, "A", _grid(), pd.Timestamp("2024-04-05", tz="UTC")))
    full = refresh_prices_hourly(ch_client, database=db)
    assert full.mode == "full" and full.rows_written == DAYS * 24
    again = refresh_prices_hourly(ch_client, database=db)
    assert again.mode == "none" and again.watermark_block == full.watermark_block
    _put(ch_client, db, _frame(rng, "A", _grid()[:3], pd.Timestamp("2024-04-06", tz="UTC")))
    step = refresh_prices_hourly(ch_client, database=db)
    assert step.mode == "incremental" and step.watermark_block > full.watermark_block
    assert 1 <= step.rows_written <= DAYS * 24
    logged = ch_client.query(
        f"SELECT mode, watermark_block FROM `{db}`.rollup_refreshes ORDER BY watermark_block"
    ).result_rows
    assert [m for m, _ in logged] == ["full", "incremental"]
    # rows removed without a new block (DROP PARTITION) need a full refresh, which forgets them
    ch_client.command(f"ALTER TABLE `{db}`.prices DROP PARTITION 202404")
    assert refresh_prices_hourly(ch_client, database=db, full=True).mode == "full"
    _assert_exact_one(ch_client, db)


def _assert_exact_one(client: Any, db: str) -> None:
    case = ("hourly", None, START, START + pd.Timedelta(days=DAYS))
    fast, facts = _both(client, db, "A", case)
    assert_frame_equal(fast, facts, check_exact=False, rtol=1e-12)


def test_refresh_refuses_a_missing_prices_table(ch_client: Any, ch_database: str) -> None:
    with pytest.raises(RollupError, match="mi store migrate"):
        refresh_prices_hourly(ch_client, database=ch_database)
