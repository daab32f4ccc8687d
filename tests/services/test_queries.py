"""The read-side queries against a real store: exact answers on small known rows.

One database is populated once for the module, with merges stopped, so every read must pick versions
at query time (as the store does between merges) rather than rely on the ReplacingMergeTree having
collapsed them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from marketintel.exceptions import EmptyResultError, MarketIntelError, UnknownTableError
from marketintel.services import queries
from marketintel.services.queries import QueryLimitError, QueryParameterError
from marketintel.store import insert_df, migrate
from tests.storeproc import StoreProcess

T = pd.Timestamp
HOUR = pd.Timedelta(hours=1)
INJECTION = "x' OR 1=1 --"


def utc(text: str) -> pd.Timestamp:
    return T(text, tz="UTC")


# --------------------------------------------------------------------------------------------------------
# Known rows
# --------------------------------------------------------------------------------------------------------
def _prices(
    market: str,
    location: str,
    starts: pd.DatetimeIndex,
    prices: list[float],
    published: list[pd.Timestamp] | pd.Timestamp,
    *,
    length: pd.Timedelta = HOUR,
    revision: str = "",
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "interval_start_utc": starts,
            "interval_end_utc": starts + length,
            "market": market,
            "location": location,
            "location_type": "hub",
            "price": prices,
            "currency": "USD",
            "unit": "USD/MWh",
            "revision": revision,
            "published_at_utc": published,
            "source": "test",
        }
    )


def _hours(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="h", tz="UTC")


FIVE_MIN = pd.date_range("2024-03-31 00:00", periods=24, freq="5min", tz="UTC")


def _price_rows() -> list[pd.DataFrame]:
    return [
        # Day-ahead, hub A: two hours published preliminary at 10:00, hour 1 revised (final) at 14:00.
        _prices(
            "M_DA", "A", _hours("2024-03-31", 2), [50.0, 60.0], utc("2024-03-30 10:00"), revision="prelim"
        ),
        _prices(
            "M_DA", "A", _hours("2024-03-31 01:00", 1), [65.0], utc("2024-03-30 14:00"), revision="final"
        ),
        # Day-ahead, hub B: one hour.
        _prices("M_DA", "B", _hours("2024-03-31", 1), [40.0], utc("2024-03-30 10:00")),
        # Real time, hub A: 24 five-minute intervals priced 0, 1, ..., 23, each published at its end;
        # the 00:30 interval (price 6) is revised to 30 at 03:00.
        _prices(
            "M_RT",
            "A",
            FIVE_MIN,
            [float(i) for i in range(24)],
            list(FIVE_MIN + pd.Timedelta(minutes=5)),
            length=pd.Timedelta(minutes=5),
        ),
        _prices(
            "M_RT",
            "A",
            FIVE_MIN[6:7],
            [30.0],
            utc("2024-03-31 03:00"),
            length=pd.Timedelta(minutes=5),
            revision="corrected",
        ),
        # Hourly prices priced 1..8 across the Berlin DST night (2024-03-31 is a 23-hour day there).
        _prices(
            "M_DA", "C", _hours("2024-03-30 20:00", 8), [float(i) for i in range(1, 9)], utc("2024-03-29")
        ),
        # One hour at 10 and a two-hour block at 40 on one day: time-weighted mean 30, plain mean 25.
        _prices("M_MIX", "D", _hours("2024-03-31", 1), [10.0], utc("2024-03-30")),
        _prices(
            "M_MIX",
            "D",
            _hours("2024-03-31 01:00", 1),
            [40.0],
            utc("2024-03-30"),
            length=pd.Timedelta(hours=2),
        ),
    ]


def _fundamentals() -> pd.DataFrame:
    hours = _hours("2024-03-31", 4)

    def rows(variable: str, values: list[float], published: str, area_to: str = "") -> pd.DataFrame:
        return pd.DataFrame(
            {
                "interval_start_utc": hours[: len(values)],
                "interval_end_utc": hours[: len(values)] + pd.Timedelta(hours=1),
                "market": "ERCOT",
                "area": "NORTH",
                "area_to": area_to,
                "variable": variable,
                "value": values,
                "unit": "MW",
                "published_at_utc": utc(published),
                "source": "test",
            }
        )

    return pd.concat(
        [
            rows("load", [100.0, 110.0, 120.0, 130.0], "2024-03-31 06:00"),
            rows("load", [111.0], "2024-03-31 08:00")
            .iloc[[0]]
            .assign(  # hour 0 revised later
                interval_start_utc=[hours[1]], interval_end_utc=[hours[2]]
            ),
            rows("load_forecast", [90.0, 95.0, 98.0, 99.0], "2024-03-30 12:00"),
            rows("flow", [5.0, -5.0], "2024-03-31 06:00", area_to="SOUTH"),
            rows("flow", [7.0, 8.0], "2024-03-31 06:00", area_to="WEST"),
        ],
        ignore_index=True,
    )


def _curve_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    def run(cutoff: str, version: int, run_id: str, published: str, **extra: Any) -> dict[str, Any]:
        return {
            "curve_name": "DE_BASE",
            "scenario": "base",
            "as_of_utc": utc(cutoff),
            "run_id": run_id,
            "version": np.uint32(version),
            "method": "max_smoothness_exact",
            "parameters": json.dumps({"solver": "sparse-kkt-lu", "knots": 3}),
            "input_quotes": np.uint32(4),
            "input_sha256": f"sha-{run_id}",
            "max_reprice_error": 1e-12,
            "status": "ok",
            "message": "",
            "code_version": "test",
            "started_at_utc": utc(published) - pd.Timedelta(seconds=5),
            "finished_at_utc": utc(published),
            "published_at_utc": utc(published),
            **extra,
        }

    runs = pd.DataFrame(
        [
            run("2024-03-28 18:00", 1, "r-28-1", "2024-03-28 19:00"),
            run("2024-03-28 18:00", 2, "r-28-2", "2024-03-29 08:00", max_reprice_error=2e-12),
            run(
                "2024-03-29 18:00",
                1,
                "r-29-1",
                "2024-03-29 19:00",
                method="max_smoothness_qp",
                parameters=json.dumps({"solver": "clarabel"}),
                status="failed",
                message="bands infeasible",
                max_reprice_error=None,
            ),
        ]
    )
    months = pd.DatetimeIndex([utc("2024-04-01"), utc("2024-05-01"), utc("2024-06-01")])

    def points(cutoff: str, version: int, run_id: str, published: str, values: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "curve_name": "DE_BASE",
                "scenario": "base",
                "as_of_utc": utc(cutoff),
                "version": np.uint32(version),
                "delivery_start_utc": months[:2],
                "delivery_end_utc": months[1:],
                "value": values,
                "currency": "EUR",
                "unit": "EUR/MWh",
                "run_id": run_id,
                "published_at_utc": utc(published),
            }
        )

    curves = pd.concat(
        [
            points("2024-03-28 18:00", 1, "r-28-1", "2024-03-28 19:00", [70.0, 65.0]),
            points("2024-03-28 18:00", 2, "r-28-2", "2024-03-29 08:00", [71.0, 66.0]),
        ],
        ignore_index=True,
    )
    return runs, curves


def _backtests() -> tuple[pd.DataFrame, pd.DataFrame]:
    def run(run_id: str, model: str, status: str, published: str, started: str) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "model": model,
            "market": "NORDPOOL_DA",
            "location": "NO1",
            "variable": "price",
            "benchmark": "seasonal_naive_7d",
            "issue_start_utc": utc("2024-01-01"),
            "issue_end_utc": utc("2024-01-31"),
            "recalibration": "daily",
            "status": status,
            "started_at_utc": utc(started),
            "finished_at_utc": None if status == "running" else utc(published),
            "published_at_utc": utc(published),
        }

    runs = pd.DataFrame(
        [
            run("b1", "lear_728", "running", "2024-02-01 10:00", "2024-02-01 10:00"),
            run("b1", "lear_728", "ok", "2024-02-01 12:00", "2024-02-01 10:00"),
            run("b2", "seasonal_naive_7d", "failed", "2024-02-02 09:00", "2024-02-02 08:00"),
        ]
    )
    runs["finished_at_utc"] = pd.to_datetime(runs["finished_at_utc"], utc=True)

    def metric(
        metric: str, value: float, group_by: str = "all", group_value: str = "all", **extra: Any
    ) -> Any:
        return {
            "run_id": "b1",
            "model": "lear_728",
            "market": "NORDPOOL_DA",
            "location": "NO1",
            "variable": "price",
            "metric": metric,
            "group_by": group_by,
            "group_value": group_value,
            "benchmark": "",
            "value": value,
            "unit": "EUR/MWh",
            "n_obs": np.uint64(720),
            "published_at_utc": utc("2024-02-01 12:00"),
            **extra,
        }

    metrics = pd.DataFrame(
        [
            metric("MAE", 4.5),
            metric("MAE", 6.0, "hour", "13"),
            metric("MAE", 3.0, "hour", "2"),
            metric("rMAE", 0.8, benchmark="seasonal_naive_7d", unit="1"),
            # A corrected MAE published later replaces the first.
            metric("MAE", 4.25, published_at_utc=utc("2024-02-03")),
        ]
    )
    return runs, metrics


def _quality() -> pd.DataFrame:
    def check(at: str, name: str, table: str, status: str, observed: float, location: str = "A") -> Any:
        return {
            "checked_at_utc": utc(at),
            "check_name": name,
            "table_name": table,
            "market": "M_RT",
            "location": location,
            "window_start_utc": utc("2024-03-31"),
            "window_end_utc": utc("2024-04-01"),
            "status": status,
            "observed": observed,
            "threshold": 30.0,
            "unit": "min",
        }

    return pd.DataFrame(
        [
            check("2024-03-31 06:00", "freshness", "prices", "pass", 5.0),
            check("2024-03-31 07:00", "freshness", "prices", "fail", 65.0),
            check("2024-03-31 06:30", "completeness", "prices", "pass", 0.0),
            check("2024-03-31 06:45", "freshness", "fundamentals", "warn", 31.0, location="NORTH"),
        ]
    )


def _alert(alert_id: str, status: str, updated: str, severity: str = "critical", raised: str = "") -> Any:
    return {
        "alert_id": alert_id,
        "category": "data_quality",
        "severity": severity,
        "raised_at_utc": utc(raised or "2024-03-31 07:00"),
        "table_name": "prices",
        "market": "M_RT",
        "location": "A",
        "title": f"alert {alert_id}",
        "status": status,
        "updated_at_utc": utc(updated),
    }


def _payload(sha: str, status: str, fetched: str, ingested: str, reason: str = "") -> Any:
    body = f"body of {sha}".encode()
    return {
        "source": "spp",
        "dataset": "rtbm_lmp",
        "sha256": sha,
        "url": f"https://example.test/{sha}",
        "size_bytes": np.uint64(len(body)),
        "payload": body,
        "status": status,
        "reason": reason,
        "fetched_at_utc": utc(fetched),
        "ingested_at_utc": utc(ingested),
    }


def _instruments() -> pd.DataFrame:
    def row(instrument_id: str, published: str, **extra: Any) -> Any:
        return {
            "instrument_id": instrument_id,
            "commodity": "power",
            "market": "M_DA",
            "location": "A",
            "currency": "USD",
            "unit": "USD/MWh",
            "timezone": "America/Chicago",
            "description": "hub A day-ahead",
            "valid_from_utc": utc("2020-01-01"),
            "valid_to_utc": None,
            "published_at_utc": utc(published),
            "source": "test",
            **extra,
        }

    frame = pd.DataFrame(
        [
            row("M_DA.A", "2024-01-01"),
            row("M_DA.A", "2024-03-01", description="hub A day-ahead (renamed)"),
            row("M_DA.OLD", "2024-01-01", location="OLD", valid_to_utc=utc("2023-01-01")),
            row("TTF.GAS", "2024-01-01", commodity="gas", market="ICE_ENDEX", location="TTF", unit="EUR/MWh"),
        ]
    )
    frame["valid_to_utc"] = pd.to_datetime(frame["valid_to_utc"], utc=True)
    return frame


@pytest.fixture(scope="module")
def db(ch_client: Any) -> Iterator[str]:
    """A migrated database with the known rows, merges stopped (duplicates stay until read)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(ch_client, database=name)
    for table in ("prices", "fundamentals", "curves", "curve_runs", "alerts", "raw_payloads", "instruments"):
        ch_client.command(f"SYSTEM STOP MERGES `{name}`.`{table}`")

    def put(table: str, frame: pd.DataFrame) -> None:
        insert_df(ch_client, table, frame, database=name)

    for frame in _price_rows():
        put("prices", frame)
    put("fundamentals", _fundamentals())
    runs, curves = _curve_rows()
    put("curve_runs", runs)
    put("curves", curves)
    bt_runs, bt_metrics = _backtests()
    put("backtest_runs", bt_runs)
    put("backtest_metrics", bt_metrics)
    put("data_quality", _quality())
    put("alerts", pd.DataFrame([_alert("a1", "open", "2024-03-31 07:00")]))
    put("alerts", pd.DataFrame([_alert("a1", "resolved", "2024-03-31 09:00")]))
    put("alerts", pd.DataFrame([_alert("a2", "open", "2024-03-31 08:00", "warning", "2024-03-31 08:00")]))
    put(
        "alerts", pd.DataFrame([_alert("a3", "acknowledged", "2024-03-31 08:30", "info", "2024-03-31 06:00")])
    )
    for rows in (
        [_payload("p1", "quarantined", "2024-03-31 01:00", "2024-03-31 01:01", "not a zip file")],
        [_payload("p2", "partial", "2024-03-31 02:00", "2024-03-31 02:01", "01:00 occurs twice")],
        [_payload("p3", "ok", "2024-03-31 03:00", "2024-03-31 03:01")],
        [_payload("p4", "quarantined", "2024-03-31 04:00", "2024-03-31 04:01", "bad header")],
        [_payload("p4", "ok", "2024-03-31 04:00", "2024-03-31 05:00")],  # re-parsed after a fix
    ):
        put("raw_payloads", pd.DataFrame(rows))
    put("instruments", _instruments())
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")


# --------------------------------------------------------------------------------------------------------
# Latest prices
# --------------------------------------------------------------------------------------------------------
def test_latest_prices_give_the_last_interval_of_each_location_at_its_latest_revision(
    ch_client: Any, db: str
) -> None:
    df = queries.latest_prices(ch_client, as_of="2024-03-31 12:00", database=db)
    assert list(zip(df["market"], df["location"], strict=True)) == [
        ("M_DA", "A"),
        ("M_DA", "B"),
        ("M_DA", "C"),
        ("M_MIX", "D"),
        ("M_RT", "A"),
    ]
    rows = df.set_index(["market", "location"])
    assert rows.loc[("M_DA", "A"), "interval_start_utc"] == utc("2024-03-31 01:00")
    assert rows.loc[("M_DA", "A"), "price"] == 65.0
    assert rows.loc[("M_DA", "A"), "revision"] == "final"
    assert rows.loc[("M_DA", "B"), "price"] == 40.0
    assert rows.loc[("M_DA", "C"), "price"] == 8.0
    assert rows.loc[("M_RT", "A"), "interval_start_utc"] == utc("2024-03-31 01:55")
    assert rows.loc[("M_RT", "A"), "interval_end_utc"] == utc("2024-03-31 02:00")
    assert rows.loc[("M_RT", "A"), "price"] == 23.0
    assert str(df["interval_start_utc"].dt.tz) == "UTC"
    assert str(df["published_at_utc"].dt.tz) == "UTC"
    assert list(df.columns) == list(queries._PRICE_COLUMNS)


def test_latest_prices_are_point_in_time(ch_client: Any, db: str) -> None:
    before_revision = queries.latest_prices(
        ch_client, "M_DA", "A", as_of=utc("2024-03-30 13:59"), database=db
    )
    assert before_revision[["interval_start_utc", "price", "revision"]].to_dict("records") == [
        {"interval_start_utc": utc("2024-03-31 01:00"), "price": 60.0, "revision": "prelim"}
    ]
    # At 01:00 the real-time interval 00:55-01:00 is the last one published; later ones do not exist yet.
    rt = queries.latest_prices(ch_client, ["M_RT"], as_of="2024-03-31T01:00Z", database=db)
    assert rt[["interval_start_utc", "price"]].to_dict("records") == [
        {"interval_start_utc": utc("2024-03-31 00:55"), "price": 11.0}
    ]
    nothing_yet = queries.latest_prices(ch_client, as_of="2024-03-28", database=db)
    assert nothing_yet.empty


def test_latest_prices_filter_by_markets_and_locations(ch_client: Any, db: str) -> None:
    df = queries.latest_prices(ch_client, markets=["M_DA", "M_RT"], locations="A", database=db)
    assert df[["market", "location", "price"]].to_dict("records") == [
        {"market": "M_DA", "location": "A", "price": 65.0},
        {"market": "M_RT", "location": "A", "price": 23.0},
    ]
    assert len(queries.latest_prices(ch_client, database=db, limit=2)) == 2


def test_an_injection_attempt_in_a_string_parameter_matches_nothing(ch_client: Any, db: str) -> None:
    everything = queries.latest_prices(ch_client, database=db)
    assert len(everything) == 5
    for attempt in (
        queries.latest_prices(ch_client, locations=INJECTION, database=db),
        queries.latest_prices(ch_client, markets=[INJECTION, "NOPE"], database=db),
        queries.price_series(
            ch_client, "M_DA", INJECTION, "2024-03-30", "2024-04-01", database=db, allow_empty=True
        ),
        queries.alerts(ch_client, market=INJECTION, database=db),
        queries.quarantined_payloads(ch_client, sources=INJECTION, database=db),
        queries.backtest_metrics(ch_client, INJECTION, database=db),
    ):
        assert attempt.empty
    with pytest.raises(EmptyResultError, match="no prices of M_DA/x' OR 1=1 --"):
        queries.price_series(ch_client, "M_DA", INJECTION, "2024-03-30", "2024-04-01", database=db)
    assert len(queries.latest_prices(ch_client, database=db)) == 5  # and nothing was changed


def test_an_empty_result_keeps_the_documented_columns_and_dtypes(ch_client: Any, db: str) -> None:
    full = queries.latest_prices(ch_client, database=db)
    empty = queries.latest_prices(ch_client, locations="NOWHERE", database=db)
    assert empty.empty
    assert_frame_equal(empty, full.iloc[:0], check_index_type=False)
    for rows, none in (
        (queries.alerts(ch_client, database=db), queries.alerts(ch_client, since="2030-01-01", database=db)),
        (
            queries.quarantined_payloads(ch_client, database=db),
            queries.quarantined_payloads(ch_client, since="2030-01-01", database=db),
        ),
        (
            queries.quality_results(ch_client, database=db),
            queries.quality_results(ch_client, start="2030-01-01", database=db),
        ),
        (
            queries.backtest_runs(ch_client, database=db),
            queries.backtest_runs(ch_client, models="x", database=db),
        ),
        (
            queries.backtest_metrics(ch_client, "b1", database=db),
            queries.backtest_metrics(ch_client, "x", database=db),
        ),
        (
            queries.curve_versions(ch_client, "DE_BASE", database=db),
            queries.curve_versions(ch_client, "x", database=db),
        ),
        (
            queries.instruments(ch_client, database=db),
            queries.instruments(ch_client, markets="x", database=db),
        ),
    ):
        assert not rows.empty
        assert none.empty
        assert_frame_equal(none, rows.iloc[:0], check_index_type=False)
    hourly = queries.price_series(
        ch_client, "M_RT", "A", "2024-03-31", "2024-04-01", resolution="hourly", database=db
    )
    no_hours = queries.price_series(
        ch_client, "M_RT", "A", "2025-03-31", "2025-04-01", resolution="hourly", database=db, allow_empty=True
    )
    assert_frame_equal(no_hours, hourly.iloc[:0], check_index_type=False)


# --------------------------------------------------------------------------------------------------------
# Price series
# --------------------------------------------------------------------------------------------------------
def test_native_series_is_point_in_time_with_the_latest_revision(ch_client: Any, db: str) -> None:
    window = ("2024-03-31 00:00", "2024-03-31 01:00")
    before = queries.price_series(ch_client, "M_RT", "A", *window, as_of="2024-03-31 02:30", database=db)
    assert before["interval_start_utc"].tolist() == list(FIVE_MIN[:12])
    assert before["price"].tolist() == [float(i) for i in range(12)]
    after = queries.price_series(ch_client, "M_RT", "A", *window, as_of="2024-03-31 03:00", database=db)
    assert after["price"].tolist()[6] == 30.0
    assert after["revision"].tolist()[6] == "corrected"
    assert after["published_at_utc"].iloc[6] == utc("2024-03-31 03:00")
    # As of 00:30 only the intervals published by then (those ending at or before 00:30) exist.
    early = queries.price_series(ch_client, "M_RT", "A", *window, as_of="2024-03-31 00:30", database=db)
    assert early["interval_end_utc"].max() == utc("2024-03-31 00:30")
    assert len(early) == 6


def test_hourly_aggregates_of_five_minute_prices(ch_client: Any, db: str) -> None:
    day = ("2024-03-31", "2024-04-01")
    old = queries.price_series(
        ch_client,
        "M_RT",
        "A",
        *day,
        resolution="hourly",
        aggregates=["avg", "min", "max", "sum", "first", "last", "count"],
        as_of="2024-03-31 02:30",
        database=db,
    )
    assert old["interval_start_utc"].tolist() == [utc("2024-03-31 00:00"), utc("2024-03-31 01:00")]
    assert old["interval_end_utc"].tolist() == [utc("2024-03-31 01:00"), utc("2024-03-31 02:00")]
    # Hour 0 holds prices 0..11 and hour 1 holds 12..23.
    assert old["price_avg"].tolist() == [5.5, 17.5]
    assert old["price_min"].tolist() == [0.0, 12.0]
    assert old["price_max"].tolist() == [11.0, 23.0]
    assert old["price_sum"].tolist() == [66.0, 210.0]
    assert old["price_first"].tolist() == [0.0, 12.0]
    assert old["price_last"].tolist() == [11.0, 23.0]
    assert old["n_intervals"].tolist() == [12, 12]
    assert old[["market", "location", "currency", "unit"]].drop_duplicates().to_dict("records") == [
        {"market": "M_RT", "location": "A", "currency": "USD", "unit": "USD/MWh"}
    ]
    # After the 00:30 correction (6 -> 30), hour 0 sums to 90: mean 7.5, max 30.
    new = queries.price_series(ch_client, "M_RT", "A", *day, resolution="hourly", database=db)
    assert list(new.columns) == [
        "interval_start_utc",
        "interval_end_utc",
        "market",
        "location",
        "currency",
        "unit",
        "price_avg",
        "price_min",
        "price_max",
        "n_intervals",
    ]
    assert new["price_avg"].tolist() == [7.5, 17.5]
    assert new["price_max"].tolist() == [30.0, 23.0]
    assert new["n_intervals"].tolist() == [12, 12]


def test_daily_aggregates_in_utc_and_in_a_zone_with_a_dst_day(ch_client: Any, db: str) -> None:
    window = ("2024-03-30", "2024-04-01")
    in_utc = queries.price_series(ch_client, "M_DA", "C", *window, resolution="daily", database=db)
    # UTC hours 20..23 hold 1..4, hours 00..03 hold 5..8.
    assert in_utc["interval_start_utc"].tolist() == [utc("2024-03-30"), utc("2024-03-31")]
    assert in_utc["interval_end_utc"].tolist() == [utc("2024-03-31"), utc("2024-04-01")]
    assert in_utc["price_avg"].tolist() == [2.5, 6.5]
    assert in_utc["n_intervals"].tolist() == [4, 4]
    berlin = queries.price_series(
        ch_client, "M_DA", "C", *window, resolution="daily", tz="Europe/Berlin", database=db
    )
    # Berlin's 30 March (CET) ends at 23:00 UTC; its 31 March lasts 23 hours (CEST from 02:00 local).
    assert berlin["interval_start_utc"].tolist() == [utc("2024-03-29 23:00"), utc("2024-03-30 23:00")]
    assert berlin["interval_end_utc"].tolist() == [utc("2024-03-30 23:00"), utc("2024-03-31 22:00")]
    assert berlin["price_avg"].tolist() == [2.0, 6.0]
    assert berlin["price_min"].tolist() == [1.0, 4.0]
    assert berlin["price_max"].tolist() == [3.0, 8.0]
    assert berlin["n_intervals"].tolist() == [3, 5]


def test_the_average_is_weighted_by_interval_length(ch_client: Any, db: str) -> None:
    df = queries.price_series(
        ch_client,
        "M_MIX",
        "D",
        "2024-03-31",
        "2024-04-01",
        resolution="daily",
        aggregates=["avg", "count"],
        database=db,
    )
    assert df["price_avg"].tolist() == [30.0]  # (10 x 1 h + 40 x 2 h) / 3 h, not (10 + 40) / 2
    assert df["n_intervals"].tolist() == [2]


def test_naive_timestamps_are_utc_and_aware_ones_any_zone(ch_client: Any, db: str) -> None:
    naive = queries.price_series(
        ch_client,
        "M_RT",
        "A",
        "2024-03-31 00:00",
        T("2024-03-31 00:30"),
        as_of="2024-03-31 02:30",
        database=db,
    )
    aware = queries.price_series(
        ch_client,
        "M_RT",
        "A",
        T("2024-03-31 01:00", tz="Europe/Berlin"),  # CET: 00:00 UTC
        "2024-03-31T00:30:00+00:00",
        as_of=T("2024-03-30 22:30", tz="America/New_York"),  # EDT: 02:30 UTC
        database=db,
    )
    assert naive["price"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert_frame_equal(naive, aware)


def test_a_series_longer_than_its_limit_raises_instead_of_being_truncated(ch_client: Any, db: str) -> None:
    window = ("2024-03-31", "2024-04-01")
    assert len(queries.price_series(ch_client, "M_RT", "A", *window, limit=24, database=db)) == 24
    with pytest.raises(QueryLimitError, match="more than 23 rows; narrow the window"):
        queries.price_series(ch_client, "M_RT", "A", *window, limit=23, database=db)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolution": "weekly"}, "unknown resolution 'weekly'; expected one of native, hourly, daily"),
        ({"resolution": "hourly; DROP TABLE prices"}, "unknown resolution"),
        (
            {"resolution": "hourly", "aggregates": ["median"]},
            "unknown aggregate 'median'; expected one of avg",
        ),
        ({"resolution": "hourly", "aggregates": "avg) FROM system.users --"}, "unknown aggregate"),
        ({"aggregates": ["avg"]}, "aggregates apply to the hourly and daily resolutions"),
        ({"tz": "Europe/Berlin"}, "tz sets the hourly and daily buckets"),
        ({"resolution": "daily", "tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'; expected an IANA"),
        ({"limit": 0}, "limit must be an integer from 1 to 10,000,000, got 0"),
        ({"limit": "100"}, "limit must be an integer"),
        ({"database": "x`; DROP DATABASE y; --"}, "database must be a plain name"),
        ({"database": "db\n"}, "database must be a plain name"),
        ({"start": "2024-04-01"}, "the window is empty: start 2024-04-01 00:00:00\\+00:00 is not before end"),
        ({"start": "yesterday-ish"}, "start must be a tz-aware timestamp"),
        ({"location": 7}, "location must be a string, got int 7"),
    ],
)
def test_bad_series_parameters_raise_naming_what_was_expected(
    ch_client: Any, db: str, kwargs: dict[str, Any], message: str
) -> None:
    call: dict[str, Any] = {
        "market": "M_RT",
        "location": "A",
        "start": "2024-03-31",
        "end": "2024-04-01",
        "database": db,
        **kwargs,
    }
    with pytest.raises(MarketIntelError, match=message):
        queries.price_series(ch_client, **call)


def test_database_defaults_to_the_clients(store: StoreProcess, db: str) -> None:
    client = store.client(database=db)
    df = queries.latest_prices(client, "M_DA", "A", as_of="2024-03-31")
    assert df["price"].tolist() == [65.0]


# --------------------------------------------------------------------------------------------------------
# Fundamentals
# --------------------------------------------------------------------------------------------------------
def test_fundamentals_native_long_form_point_in_time(ch_client: Any, db: str) -> None:
    window = ("2024-03-31", "2024-04-01")
    both = queries.fundamentals(
        ch_client, "ERCOT", "NORTH", ["load", "load_forecast"], *window, as_of="2024-03-31 07:00", database=db
    )
    assert both["variable"].tolist() == ["load"] * 4 + ["load_forecast"] * 4
    assert both["value"].tolist() == [100.0, 110.0, 120.0, 130.0, 90.0, 95.0, 98.0, 99.0]
    later = queries.fundamentals(ch_client, "ERCOT", "NORTH", "load", *window, database=db)
    assert later["value"].tolist() == [100.0, 111.0, 120.0, 130.0]
    assert later["published_at_utc"].tolist()[1] == utc("2024-03-31 08:00")
    forecast_only_then = queries.fundamentals(
        ch_client, "ERCOT", "NORTH", ["load", "load_forecast"], *window, as_of="2024-03-31", database=db
    )
    assert set(forecast_only_then["variable"]) == {"load_forecast"}


def test_fundamentals_flows_by_receiving_area_and_aggregated(ch_client: Any, db: str) -> None:
    window = ("2024-03-31", "2024-04-01")
    south = queries.fundamentals(ch_client, "ERCOT", "NORTH", "flow", *window, area_to="SOUTH", database=db)
    assert south["value"].tolist() == [5.0, -5.0]
    daily = queries.fundamentals(
        ch_client,
        "ERCOT",
        "NORTH",
        ["flow", "load"],
        *window,
        resolution="daily",
        aggregates=["avg", "sum", "count"],
        database=db,
    )
    assert daily[["variable", "area_to", "value_avg", "value_sum", "n_intervals"]].to_dict("records") == [
        {"variable": "flow", "area_to": "SOUTH", "value_avg": 0.0, "value_sum": 0.0, "n_intervals": 2},
        {"variable": "flow", "area_to": "WEST", "value_avg": 7.5, "value_sum": 15.0, "n_intervals": 2},
        {"variable": "load", "area_to": "", "value_avg": 115.25, "value_sum": 461.0, "n_intervals": 4},
    ]
    assert daily["interval_end_utc"].tolist() == [utc("2024-04-01")] * 3
    with pytest.raises(EmptyResultError, match=r"no fundamentals \['wind'\] of ERCOT/NORTH"):
        queries.fundamentals(ch_client, "ERCOT", "NORTH", "wind", *window, database=db)
    with pytest.raises(QueryParameterError, match="variables is an empty list, which matches nothing"):
        queries.fundamentals(ch_client, "ERCOT", "NORTH", [], *window, database=db)


# --------------------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------------------
def test_curve_versions_list_the_builds_with_their_lineage(ch_client: Any, db: str) -> None:
    df = queries.curve_versions(ch_client, "DE_BASE", database=db)
    assert df[["as_of_utc", "version", "run_id", "method", "solver", "status", "input_sha256"]].to_dict(
        "records"
    ) == [
        {
            "as_of_utc": utc("2024-03-29 18:00"),
            "version": 1,
            "run_id": "r-29-1",
            "method": "max_smoothness_qp",
            "solver": "clarabel",
            "status": "failed",
            "input_sha256": "sha-r-29-1",
        },
        {
            "as_of_utc": utc("2024-03-28 18:00"),
            "version": 2,
            "run_id": "r-28-2",
            "method": "max_smoothness_exact",
            "solver": "sparse-kkt-lu",
            "status": "ok",
            "input_sha256": "sha-r-28-2",
        },
        {
            "as_of_utc": utc("2024-03-28 18:00"),
            "version": 1,
            "run_id": "r-28-1",
            "method": "max_smoothness_exact",
            "solver": "sparse-kkt-lu",
            "status": "ok",
            "input_sha256": "sha-r-28-1",
        },
    ]
    assert np.isnan(df["max_reprice_error"].iloc[0])
    assert df["max_reprice_error"].tolist()[1:] == [2e-12, 1e-12]
    assert "parameters" not in df.columns
    ok = queries.curve_versions(
        ch_client, "DE_BASE", statuses="ok", end="2024-03-29", include_parameters=True, database=db
    )
    assert ok["run_id"].tolist() == ["r-28-2", "r-28-1"]
    assert json.loads(ok["parameters"].iloc[0]) == {"solver": "sparse-kkt-lu", "knots": 3}
    known_then = queries.curve_versions(ch_client, "DE_BASE", as_of="2024-03-29 07:59", database=db)
    assert known_then["run_id"].tolist() == ["r-28-1"]
    assert queries.curve_versions(ch_client, "NOPE", database=db).empty
    with pytest.raises(
        QueryParameterError, match="unknown status 'done'; expected one of running, ok, failed"
    ):
        queries.curve_versions(ch_client, "DE_BASE", statuses=["ok", "done"], database=db)


def test_curve_points_of_a_version(ch_client: Any, db: str) -> None:
    latest = queries.curve_points(ch_client, "DE_BASE", database=db)
    assert latest["value"].tolist() == [71.0, 66.0]
    assert latest["version"].tolist() == [2, 2]
    assert latest["delivery_start_utc"].tolist() == [utc("2024-04-01"), utc("2024-05-01")]
    assert latest["delivery_end_utc"].tolist() == [utc("2024-05-01"), utc("2024-06-01")]
    assert latest["run_id"].tolist() == ["r-28-2", "r-28-2"]
    first = queries.curve_points(ch_client, "DE_BASE", curve_as_of="2024-03-28 18:00", version=1, database=db)
    assert first["value"].tolist() == [70.0, 65.0]
    before_v2 = queries.curve_points(ch_client, "DE_BASE", as_of="2024-03-29 07:00", database=db)
    assert before_v2["version"].tolist() == [1, 1]
    with pytest.raises(EmptyResultError, match=r"no points of curve 'DE_BASE'.*version 3"):
        queries.curve_points(ch_client, "DE_BASE", version=3, database=db)
    none = queries.curve_points(ch_client, "DE_BASE", version=3, database=db, allow_empty=True)
    assert_frame_equal(none, latest.iloc[:0], check_index_type=False)
    with pytest.raises(QueryParameterError, match="version must be a positive integer"):
        queries.curve_points(ch_client, "DE_BASE", version=0, database=db)


# --------------------------------------------------------------------------------------------------------
# Backtests
# --------------------------------------------------------------------------------------------------------
def test_backtest_runs_at_their_latest_status(ch_client: Any, db: str) -> None:
    df = queries.backtest_runs(ch_client, database=db)
    assert df[["run_id", "status"]].to_dict("records") == [
        {"run_id": "b2", "status": "failed"},
        {"run_id": "b1", "status": "ok"},
    ]
    assert df["finished_at_utc"].iloc[1] == utc("2024-02-01 12:00")
    # Filters apply to the latest status: b1 was 'running' once, but is not any more.
    assert queries.backtest_runs(ch_client, statuses="running", database=db).empty
    then = queries.backtest_runs(ch_client, statuses="running", as_of="2024-02-01 11:00", database=db)
    assert then["run_id"].tolist() == ["b1"]
    assert pd.isna(then["finished_at_utc"].iloc[0])
    assert queries.backtest_runs(ch_client, models="lear_728", database=db)["run_id"].tolist() == ["b1"]
    assert len(queries.backtest_runs(ch_client, market="NORDPOOL_DA", location="NO1", database=db)) == 2
    assert queries.backtest_runs(ch_client, limit=1, database=db)["run_id"].tolist() == ["b2"]


def test_backtest_metrics_of_a_run(ch_client: Any, db: str) -> None:
    df = queries.backtest_metrics(ch_client, "b1", database=db)
    assert df[["metric", "benchmark", "group_by", "group_value", "value"]].to_dict("records") == [
        {"metric": "MAE", "benchmark": "", "group_by": "all", "group_value": "all", "value": 4.25},
        {"metric": "MAE", "benchmark": "", "group_by": "hour", "group_value": "2", "value": 3.0},
        {"metric": "MAE", "benchmark": "", "group_by": "hour", "group_value": "13", "value": 6.0},
        {
            "metric": "rMAE",
            "benchmark": "seasonal_naive_7d",
            "group_by": "all",
            "group_value": "all",
            "value": 0.8,
        },
    ]
    assert df["n_obs"].tolist() == [720] * 4
    original = queries.backtest_metrics(
        ch_client, ["b1"], metrics="MAE", group_by="all", as_of="2024-02-02", database=db
    )
    assert original["value"].tolist() == [4.5]
    relative = queries.backtest_metrics(ch_client, "b1", benchmark="seasonal_naive_7d", database=db)
    assert relative["metric"].tolist() == ["rMAE"]


# --------------------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------------------
def test_quality_results_newest_first_and_latest_per_check(ch_client: Any, db: str) -> None:
    df = queries.quality_results(ch_client, database=db)
    assert list(zip(df["table_name"], df["check_name"], df["status"], strict=True)) == [
        ("prices", "freshness", "fail"),
        ("fundamentals", "freshness", "warn"),
        ("prices", "completeness", "pass"),
        ("prices", "freshness", "pass"),
    ]
    latest = queries.quality_results(ch_client, table_name="prices", latest_only=True, database=db)
    assert latest[["check_name", "status", "observed"]].to_dict("records") == [
        {"check_name": "freshness", "status": "fail", "observed": 65.0},
        {"check_name": "completeness", "status": "pass", "observed": 0.0},
    ]
    failed = queries.quality_results(
        ch_client, statuses=["fail", "warn"], start="2024-03-31 06:50", database=db
    )
    assert failed["status"].tolist() == ["fail"]
    assert queries.quality_results(ch_client, checks="freshness", location="NORTH", database=db)[
        "table_name"
    ].tolist() == ["fundamentals"]
    assert queries.quality_results(ch_client, end="2024-03-31 06:00", database=db).empty


def test_a_bad_table_name_raises_listing_the_known_tables(ch_client: Any, db: str) -> None:
    with pytest.raises(UnknownTableError, match="unknown table 'price'; known tables: instruments, prices,"):
        queries.quality_results(ch_client, table_name="price", database=db)
    with pytest.raises(UnknownTableError, match='unknown table "prices\' OR 1=1 --"'):
        queries.alerts(ch_client, table_name="prices' OR 1=1 --", database=db)


def test_alerts_at_their_latest_update(ch_client: Any, db: str) -> None:
    # a1 was raised open and resolved later; both rows are still on disk (merges are stopped).
    assert ch_client.command(f"SELECT count() FROM `{db}`.alerts WHERE alert_id = 'a1'") == 2
    df = queries.alerts(ch_client, database=db)
    assert df[["alert_id", "status", "severity"]].to_dict("records") == [
        {"alert_id": "a2", "status": "open", "severity": "warning"},
        {"alert_id": "a1", "status": "resolved", "severity": "critical"},
        {"alert_id": "a3", "status": "acknowledged", "severity": "info"},
    ]
    assert queries.alerts(ch_client, statuses="open", database=db)["alert_id"].tolist() == ["a2"]
    active = queries.alerts(
        ch_client, statuses=["open", "acknowledged"], severities=["warning", "info"], database=db
    )
    assert active["alert_id"].tolist() == ["a2", "a3"]
    assert queries.alerts(ch_client, since="2024-03-31 07:00", database=db)["alert_id"].tolist() == [
        "a2",
        "a1",
    ]
    assert queries.alerts(ch_client, table_name="prices", categories="data_quality", limit=1, database=db)[
        "alert_id"
    ].tolist() == ["a2"]
    with pytest.raises(QueryParameterError, match="unknown severity 'high'; expected one of info, warning"):
        queries.alerts(ch_client, severities="high", database=db)


def test_quarantined_payloads_without_the_body_by_default(ch_client: Any, db: str) -> None:
    df = queries.quarantined_payloads(ch_client, database=db)
    # p3 was fine and p4 was re-parsed successfully after its quarantine: neither is listed.
    assert df[["sha256", "status", "reason"]].to_dict("records") == [
        {"sha256": "p2", "status": "partial", "reason": "01:00 occurs twice"},
        {"sha256": "p1", "status": "quarantined", "reason": "not a zip file"},
    ]
    assert "payload" not in df.columns
    assert df["size_bytes"].tolist() == [len(b"body of p2"), len(b"body of p1")]
    with_body = queries.quarantined_payloads(
        ch_client, statuses="quarantined", include_body=True, database=db
    )
    assert with_body["sha256"].tolist() == ["p1"]
    body = with_body["payload"].iloc[0]
    assert (body if isinstance(body, bytes) else body.encode()) == b"body of p1"
    assert queries.quarantined_payloads(ch_client, since="2024-03-31 01:30", database=db)[
        "sha256"
    ].tolist() == ["p2"]
    with pytest.raises(
        QueryParameterError, match="unknown status 'ok'; expected one of quarantined, partial"
    ):
        queries.quarantined_payloads(ch_client, statuses=["ok"], database=db)


def test_instruments_at_their_latest_revision(ch_client: Any, db: str) -> None:
    df = queries.instruments(ch_client, database=db)
    assert df["instrument_id"].tolist() == ["M_DA.A", "M_DA.OLD", "TTF.GAS"]
    assert df["description"].iloc[0] == "hub A day-ahead (renamed)"
    assert pd.isna(df["valid_to_utc"].iloc[0])
    assert df["valid_to_utc"].iloc[1] == utc("2023-01-01")
    old = queries.instruments(ch_client, instrument_ids="M_DA.A", as_of="2024-02-01", database=db)
    assert old["description"].tolist() == ["hub A day-ahead"]
    active = queries.instruments(ch_client, active_at="2024-03-31", database=db)
    assert active["instrument_id"].tolist() == ["M_DA.A", "TTF.GAS"]
    assert queries.instruments(ch_client, active_at="2022-06-01", markets="M_DA", database=db)[
        "instrument_id"
    ].tolist() == ["M_DA.A", "M_DA.OLD"]
    assert queries.instruments(ch_client, commodities="gas", database=db)["instrument_id"].tolist() == [
        "TTF.GAS"
    ]
    assert queries.instruments(ch_client, as_of="2023-12-31", database=db).empty
