"""Curves through the store and the CLI: quotes in, versions and lineage out, failures recorded."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.calendars import Contract, get_calendar
from marketintel.cli import main
from marketintel.config import shared_dir
from marketintel.curves.build import build_curve
from marketintel.curves.store import read_quotes, write_build
from marketintel.exceptions import EmptyResultError
from marketintel.store import insert_df, migrate
from tests.storeproc import StoreProcess

CURVES = shared_dir() / "curves"
EEX = get_calendar("EEX_DE")
CONTRACTS = [
    Contract("M-2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), price=98.0),
    Contract("M-2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), price=94.0),
    Contract("M-2026-03", dt.date(2026, 3, 1), dt.date(2026, 3, 31), price=82.0),
]


@pytest.fixture
def db(store: StoreProcess, ch_database: str) -> Any:
    client = store.client(database=ch_database)
    migrate(client, database=ch_database)
    return client


def test_builds_are_stored_as_versions_with_lineage(db: Any) -> None:
    as_of = pd.Timestamp("2025-12-15 23:00", tz="UTC")
    build = build_curve(CONTRACTS, EEX, "2026-01-01", "2026-03-31")
    run1, v1, rows = write_build(db, build, "DE_BASE_DAILY", as_of)
    run2, v2, _ = write_build(db, build, "DE_BASE_DAILY", as_of)
    assert (v1, v2, rows) == (1, 2, 90)
    stored = db.query_df(
        "SELECT version, count() AS n, avg(value) AS mean FROM curves FINAL "
        "WHERE curve_name = 'DE_BASE_DAILY' GROUP BY version ORDER BY version"
    )
    assert stored["version"].tolist() == [1, 2] and stored["n"].tolist() == [90, 90]
    runs = db.query_df("SELECT * FROM curve_runs FINAL ORDER BY version")
    assert runs["run_id"].tolist() == [run1, run2]
    assert runs["input_sha256"].nunique() == 1  # same inputs, same hash
    assert (runs["status"] == "ok").all() and runs["max_reprice_error"].max() < 1e-8
    params = json.loads(runs["parameters"].iloc[0])
    assert params["solver"] == "sparse-kkt-lu" and params["calendar"] == "EEX_DE"
    assert {c["contract"] for c in params["contracts"]} == {"M-2026-01", "M-2026-02", "M-2026-03"}
    jan = db.query_df(
        "SELECT delivery_start_utc, delivery_end_utc FROM curves FINAL "
        "WHERE version = 1 ORDER BY delivery_start_utc"
    )
    assert jan["delivery_start_utc"].iloc[0] == pd.Timestamp(
        "2025-12-31 23:00", tz="UTC"
    )  # local midnight CET


def _quotes_frame(trade_date: dt.date) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame(
        {
            "trade_date": [trade_date] * 3,
            "market": "EEX_DE",
            "product": "DE_BASE",
            "contract": [c.name for c in CONTRACTS],
            "delivery_start": [c.start for c in CONTRACTS],
            "delivery_end": [c.end + dt.timedelta(days=1) for c in CONTRACTS],  # exclusive in the store
            "profile": "base",
            "settle": [c.price for c in CONTRACTS],
            "bid": [None] * 3,
            "ask": [None] * 3,
            "currency": "EUR",
            "unit": "EUR/MWh",
            "source": "test",
            "published_at_utc": now,
        }
    )


def test_quotes_from_the_store_and_the_cli(
    db: Any,
    store: StoreProcess,
    ch_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    insert_df(db, "forward_quotes", _quotes_frame(dt.date(2025, 12, 15)))
    assert len(read_quotes(db, "DE_BASE", dt.date(2025, 12, 15))) == 3
    with pytest.raises(EmptyResultError, match="latest trade date is 2025-12-15"):
        read_quotes(db, "DE_BASE", dt.date(2025, 12, 16))
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    out = tmp_path / "curve.csv"
    code = main(
        [
            "curves",
            "build",
            "--product",
            "DE_BASE",
            "--as-of",
            "2025-12-15",
            "--start",
            "2026-01-01",
            "--end",
            "2026-03-31",
            "--out",
            str(out),
            "--store",
            "--curve-name",
            "DE_FROM_STORE",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "max repricing error" in printed and "stored 90 rows as version 1" in printed
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["date", "price"] and len(frame) == 90
    assert db.command("SELECT count() FROM curves FINAL WHERE curve_name = 'DE_FROM_STORE'") == 90


def test_cli_fails_with_the_inconsistency_report_and_records_it(
    db: Any,
    store: StoreProcess,
    ch_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(
        "name,start,end,price\nM-2026-01,2026-01-01,2026-01-31,98\nM-2026-02,2026-02-01,2026-02-28,94\n"
        "M-2026-03,2026-03-01,2026-03-31,82\nQ-2026-Q1,2026-01-01,2026-03-31,95\n"
    )
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    args = [
        "curves",
        "build",
        "--quotes",
        str(quotes),
        "--start",
        "2026-01-01",
        "--end",
        "2026-03-31",
        "--out",
        str(tmp_path / "x.csv"),
        "--store",
        "--as-of",
        "2025-12-15",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Q-2026-Q1 (base) quoted 95" in err and "inconsistent by" in err
    assert not (tmp_path / "x.csv").exists()
    failed = db.query_df("SELECT status, message FROM curve_runs FINAL")
    assert failed["status"].tolist() == ["failed"] and "Q-2026-Q1" in failed["message"].iloc[0]
    assert main([*args, "--on-inconsistent", "least-squares"]) == 0
    assert "reconciled in least squares" in capsys.readouterr().out


@pytest.mark.skipif(not CURVES.is_dir(), reason=f"reference curve cases not found at {CURVES}")
def test_cli_builds_both_shared_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_a = tmp_path / "a.csv"
    assert (
        main(
            [
                "curves",
                "build",
                "--quotes",
                str(CURVES / "caseA_daily" / "contracts.csv"),
                "--start",
                "2025-02-01",
                "--end",
                "2027-12-31",
                "--out",
                str(out_a),
            ]
        )
        == 0
    )
    reference = pd.read_csv(CURVES / "caseA_daily" / "reference_discrete_max_smoothness.csv")
    mine = pd.read_csv(out_a)
    assert mine["date"].tolist() == reference["date"].tolist()
    assert (mine["price"] - reference["price"]).abs().max() < 1e-6
    out_b = tmp_path / "b.csv"
    assert (
        main(
            [
                "curves",
                "build",
                "--quotes",
                str(CURVES / "caseB_hourly" / "contracts.csv"),
                "--start",
                "2026-01-01",
                "--end",
                "2026-12-31",
                "--granularity",
                "hourly",
                "--shape",
                str(CURVES / "caseB_hourly" / "shape.csv"),
                "--out",
                str(out_b),
            ]
        )
        == 0
    )
    hourly = pd.read_csv(out_b)
    assert list(hourly.columns) == ["datetime_utc", "price"] and len(hourly) == 8760
    assert hourly["datetime_utc"].iloc[0] == "2025-12-31T23:00Z"
    assert "blocks peak, offpeak" in capsys.readouterr().out


def test_cli_fits_a_seasonal_prior_to_stored_prices(
    db: Any, store: StoreProcess, ch_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    days = pd.date_range("2022-12-01", "2025-11-30", freq="D", tz="Europe/Berlin")
    weekend = days.day_of_week >= 5
    now = pd.Timestamp.now(tz="UTC")
    history = pd.DataFrame(
        {
            "interval_start_utc": days.tz_convert("UTC"),
            "interval_end_utc": (days + pd.Timedelta(days=1)).tz_convert("UTC"),
            "market": "EEX_DE_DAY_AHEAD",
            "location": "DE-LU",
            "location_type": "zone",
            "price": np.where(weekend, 70.0, 85.0),
            "currency": "EUR",
            "unit": "EUR/MWh",
            "source": "test",
            "published_at_utc": now,
        }
    )
    insert_df(db, "prices", history)
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    out = tmp_path / "shaped.csv"
    source = "EEX_DE_DAY_AHEAD/DE-LU"
    code = main(["curves", "build", "--quotes", str(_quotes_csv(tmp_path)), "--start", "2026-01-01",
                 "--end", "2026-03-31", "--as-of", "2025-12-15", "--prior-from-store", source,
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    # the 3 years before the as-of (end of 2025-12-15, Berlin): 2022-12-16 .. 2025-11-30 of the stored days
    assert f"seasonal prior fitted to 1,081 days of {source}" in capsys.readouterr().out
    curve = pd.read_csv(out, parse_dates=["date"])
    is_weekend = curve["date"].dt.day_of_week >= 5
    assert curve.loc[~is_weekend, "price"].mean() - curve.loc[is_weekend, "price"].mean() > 10.0
    with pytest.raises(SystemExit):
        main(["curves", "build", "--quotes", "x.csv", "--prior", "p.csv", "--prior-from-store", "A/B",
              "--start", "2026-01-01", "--end", "2026-03-31"])  # fmt: skip


def _quotes_csv(tmp_path: Path) -> Path:
    path = tmp_path / "months.csv"
    path.write_text(
        "name,start,end,price\nM-2026-01,2026-01-01,2026-01-31,98\nM-2026-02,2026-02-01,2026-02-28,94\n"
        "M-2026-03,2026-03-01,2026-03-31,82\n"
    )
    return path
