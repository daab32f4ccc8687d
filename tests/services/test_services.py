"""The service layer end to end on a real store: one call per use case, typed results, stored outcomes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.exceptions import MarketIntelError
from tests.storeproc import StoreProcess


@pytest.fixture
def service_store(monkeypatch: pytest.MonkeyPatch, store: StoreProcess, ch_database: str) -> Any:
    """Point MI_CLICKHOUSE_URL at a fresh database of the session store; return a client on it."""
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    from marketintel.services.store import ensure_store

    handle = ensure_store()
    assert not handle.local and not handle.started and "created" in handle.migration
    return handle.client


@pytest.fixture
def replay(shared_dir: Path, tmp_path: Path) -> Any:
    """Return a function writing the replay folder of a recorded dataset."""
    from marketintel.flows.recordings import replay_folder

    def make(source: str, dataset: str) -> Path:
        folder = tmp_path / f"replay-{source}-{dataset}"
        replay_folder(source, dataset, folder)
        return folder

    return make


def test_ensure_store_migrates_once_and_never_starts_an_external_server(service_store: Any) -> None:
    from marketintel.services.store import ensure_store

    again = ensure_store()
    assert "up to date" in again.migration and again.pid == 0 and again.log is None


def test_ingest_window_stores_rows_quarantines_and_registers_instruments(
    service_store: Any, replay: Any
) -> None:
    from marketintel.services.ingest import ingest_window

    folder = replay("spp", "lmp_real_time_5min")
    lines: list[str] = []
    report = ingest_window(
        "spp",
        "lmp_real_time_5min",
        "2025-03-31 13:35",
        "2025-03-31 13:55",
        replay=folder,
        progress=lines.append,
    )
    assert report.payloads == 4 and len(report.quarantined) == 1 and report.rows == 3 * 1234
    assert len(lines) == 4
    hourly = service_store.query("SELECT count(), sum(n_intervals) FROM prices_hourly FINAL").result_rows[0]
    assert tuple(hourly) == (1234, 3 * 1234)  # the ingest refreshed the hourly rollup: 20 minutes, one hour
    locations = service_store.query(
        "SELECT count(DISTINCT market, location) FROM prices FINAL WHERE source = 'spp'"
    ).result_rows[0][0]
    instruments = service_store.query_df("SELECT * FROM instruments FINAL WHERE source = 'spp'")
    assert report.instruments == len(instruments) == locations > 0
    hub = instruments[instruments["instrument_id"] == "SPP_REAL_TIME_5MIN.SPPNORTH_HUB"]
    assert len(hub) == 1 and hub["commodity"].iloc[0] == "power" and hub["location_type"].iloc[0] == "hub"
    again = ingest_window("spp", "lmp_real_time_5min", "2025-03-31 13:35", "2025-03-31 13:55", replay=folder)
    assert again.payloads == 0 and again.instruments == 0  # resumed past the watermark: nothing to do
    assert service_store.query("SELECT count() FROM instruments FINAL").result_rows[0][0] == len(instruments)


def test_follow_dataset_returns_one_combined_report(service_store: Any, replay: Any) -> None:
    from marketintel.services.ingest import follow_dataset

    seen: list[Any] = []
    report = follow_dataset(
        "spp", "lmp_real_time_5min", "2025-03-31 13:35", "2025-03-31 13:55",
        replay=replay("spp", "lmp_real_time_5min"), speed=6000.0, run_id="follow-1", on_report=seen.append,
    )  # fmt: skip
    assert len(seen) >= 1 and report.run_id == "follow-1"
    assert report.payloads == sum(r.payloads for r in seen) == 4
    assert report.rows == sum(r.rows for r in seen) == 3 * 1234
    assert len(report.quarantined) == 1 and report.watermark_utc == pd.Timestamp("2025-03-31 13:55", tz="UTC")


def test_the_demos_european_and_australian_days_replay_through_the_runner(
    service_store: Any, replay: Any
) -> None:
    """OMIE's first 15-minute day and a NEM day of dispatch prices, from their recordings, as `make demo`."""
    from marketintel.services.ingest import ingest_window

    omie = ingest_window(
        "omie", "marginal_price_15min", "2025-09-30T22:00Z", "2025-10-01T22:00Z",
        replay=replay("omie", "marginal_price_15min"),
    )  # fmt: skip
    assert (omie.payloads, omie.rows, omie.quarantined) == (1, 2 * 96, [])
    nem = ingest_window(
        "nem",
        "dispatch_price",
        "2024-12-31T14:00Z",
        "2025-01-01T14:00Z",
        replay=replay("nem", "dispatch_price"),
    )
    # the archive month holds five days of NSW1 and SA1 (filtered by the recording's origin): all are stored
    assert (nem.payloads, nem.rows, nem.quarantined) == (1, 2 * 5 * 288, [])
    per_day = service_store.query(
        "SELECT location, count() FROM prices FINAL WHERE market = 'NEM_DISPATCH_5MIN'"
        " AND interval_start_utc >= '2024-12-31 14:00:00' AND interval_start_utc < '2025-01-01 14:00:00'"
        " GROUP BY location ORDER BY location"
    ).result_rows
    assert per_day == [("NSW1", 288), ("SA1", 288)]  # one AEST day of 5-minute intervals per region
    units = service_store.query(
        "SELECT DISTINCT market, currency, unit FROM prices FINAL WHERE source IN ('omie', 'nem') ORDER BY 1"
    ).result_rows
    assert units == [("NEM_DISPATCH_5MIN", "AUD", "AUD/MWh"), ("OMIE_DAY_AHEAD_15MIN", "EUR", "EUR/MWh")]


def test_follow_dataset_refuses_a_replay_without_an_end(replay: Any) -> None:
    from marketintel.services.ingest import follow_dataset

    with pytest.raises(MarketIntelError, match="needs `until`"):
        follow_dataset(
            "spp", "lmp_real_time_5min", "2025-03-31 13:35", replay=replay("spp", "lmp_real_time_5min")
        )


def test_curve_from_stored_settlements_covers_the_whole_strip(service_store: Any, replay: Any) -> None:
    from marketintel.services.curves import build_and_store_curve
    from marketintel.services.ingest import ingest_window

    ingest_window("cme", "futures_settlements", "2014-12-29 05:00", "2014-12-30 05:00",
                  replay=replay("cme", "futures_settlements"))  # fmt: skip
    ng = service_store.query(
        "SELECT min(delivery_start), max(delivery_end) FROM forward_quotes FINAL WHERE product = 'NG'"
    ).result_rows[0]
    result = build_and_store_curve(product="NG", calendar="HENRY_HUB", weights="days", curve_name="HH")
    assert result.trade_date == dt.date(2014, 12, 29)
    assert result.start == ng[0] and result.end == ng[1] - dt.timedelta(days=1)  # delivery_end is exclusive
    assert result.end.year >= 2020  # years past the 2016 the demo used to stop at
    assert (result.build.fits["status"] == "ok").all() and result.build.max_reprice_error < 1e-6
    assert result.currency == "USD" and result.unit == "USD/MMBtu"
    assert result.stored is not None and result.stored.version == 1
    days = (result.end - result.start).days + 1
    assert result.stored.rows == days
    runs = service_store.query(
        "SELECT version, status, input_quotes FROM curve_runs FINAL WHERE curve_name = 'HH'"
    ).result_rows
    assert runs == [(1, "ok", len(result.build.fits))]
    instruments = service_store.query(
        "SELECT commodity, description FROM instruments FINAL WHERE instrument_id = 'NYMEX.NG.base'"
    ).result_rows
    assert instruments == [("gas", "Henry Hub Natural Gas Futures")]


def test_curve_service_names_what_it_expects() -> None:
    from marketintel.services.curves import build_and_store_curve

    with pytest.raises(MarketIntelError, match=r"quotes file .* or a stored product"):
        build_and_store_curve(store=False)


def test_backtest_is_stored_with_its_metrics(service_store: Any, shared_dir: Path) -> None:
    from marketintel.backtest.metrics import metrics_table
    from marketintel.services.backtest import run_and_store_backtest

    outcome = run_and_store_backtest("NP", "naive", "2016-12-27", 14)
    assert outcome.days_forecast == 14 and outcome.models == ["Naive"]
    assert len(outcome.frame) == 14 * 24 and np.isfinite(outcome.frame.to_numpy()).all()
    stored = service_store.query_df(
        "SELECT model, metric, group_by, group_value, value, unit, n_obs FROM backtest_metrics FINAL "
        "WHERE run_id = {r:String}",
        parameters={"r": outcome.run_id},
    )
    assert outcome.stored_metrics == len(stored) > 0
    assert set(stored["group_by"]) == {"all", "hour"} and (stored["group_by"] == "hour").sum() > 24
    expected = metrics_table(outcome.frame, "Real price", outcome.models, by="none")
    mae = stored[(stored["metric"] == "MAE") & (stored["group_by"] == "all")]["value"].iloc[0]
    assert mae == pytest.approx(expected[expected["metric"] == "MAE"]["value"].iloc[0], rel=1e-12)
    assert stored[stored["metric"] == "MAPE"]["unit"].iloc[0] == "%"
    status = service_store.query(
        "SELECT argMax(status, published_at_utc) FROM backtest_runs WHERE run_id = {r:String}",
        parameters={"r": outcome.run_id},
    ).result_rows[0][0]
    assert status == "ok"
    again = run_and_store_backtest("NP", "naive", "2016-12-27", 14)  # resumed: nothing recomputed
    assert again.days_forecast == 0 and again.days_skipped == 14
    assert again.frame.equals(outcome.frame)


def test_score_forecast_file(tmp_path: Path, shared_dir: Path) -> None:
    from marketintel.services.backtest import run_and_store_backtest, score_forecast_file

    out = tmp_path / "f.csv"
    outcome = run_and_store_backtest("NP", "naive", "2016-12-27", 7, store=False, out_csv=out)
    scores = score_forecast_file(out)
    assert list(scores.index) == outcome.models
    assert scores["MAE"].iloc[0] == pytest.approx(
        np.abs(outcome.frame["Real price"] - outcome.frame[outcome.models[0]]).mean(), rel=1e-6
    )


def test_stored_series_and_quality_checks_on_an_ingested_window(service_store: Any, replay: Any) -> None:
    from marketintel.services.ingest import ingest_window
    from marketintel.services.quality import run_data_quality
    from marketintel.services.queries import quality_results, stored_series

    start, end = "2025-03-31 13:35", "2025-03-31 13:55"
    ingest_window("spp", "lmp_real_time_5min", start, end, replay=replay("spp", "lmp_real_time_5min"))
    series = stored_series(service_store, "prices", start, end, sources="spp")
    hub = series[series["location"] == "SPPNORTH_HUB"]
    assert len(hub) == 1 and int(hub["n_intervals"].iloc[0]) == 3  # the 08:45 file was empty: quarantined
    assert stored_series(service_store, "prices", start, end, sources="nobody").empty
    with pytest.raises(MarketIntelError, match="expected one of prices, fundamentals"):
        stored_series(service_store, "curves", start, end)  # type: ignore[arg-type]

    outcome = run_data_quality(
        table="prices", market="SPP_REAL_TIME_5MIN", location="SPPNORTH_HUB", cadence="5min",
        publication_lag="15min", tz="America/Chicago", start=start, end=end, run_id="dq-1",
    )  # fmt: skip
    assert outcome.checked_as_of_utc is not None  # a past window is judged when its last interval was due
    completeness = outcome.results.set_index("check_name")["status"]["completeness"]
    assert completeness == "fail" and outcome.failed and outcome.counts()["fail"] >= 1
    stored = quality_results(service_store, run_ids="dq-1")
    assert outcome.written == len(stored) == len(outcome.results)
    assert set(quality_results(service_store, run_ids="dq-1", statuses="fail")["check_name"]) >= {
        "completeness"
    }
    assert outcome.alerts >= 1


def test_a_replay_window_outside_the_recording_is_refused(shared_dir: Path, tmp_path: Path) -> None:
    from marketintel.flows.recordings import replay_folder

    with pytest.raises(MarketIntelError, match="outside the recording of spp/lmp_real_time_5min"):
        replay_folder("spp", "lmp_real_time_5min", tmp_path, "2025-03-31 13:00", "2025-03-31 13:55")
    recording = replay_folder("spp", "lmp_real_time_5min", tmp_path, "2025-03-31 13:35Z", "2025-03-31 13:55Z")
    assert (tmp_path / "index.json").is_file() and "SPP RTBM" in recording.note


def test_load_quotes_from_a_file_takes_the_calendars_units(shared_dir: Path) -> None:
    from marketintel.calendars import get_calendar
    from marketintel.services.curves import load_quotes

    path = shared_dir / "curves" / "caseA_daily" / "contracts.csv"
    quotes = load_quotes(get_calendar("EEX_DE"), quotes=path, as_of="2025-01-31")
    assert quotes.name == "contracts" and quotes.trade_date == dt.date(2025, 1, 31)
    assert (quotes.currency, quotes.unit) == ("EUR", "EUR/MWh") and len(quotes.contracts) > 5
    with pytest.raises(MarketIntelError, match="a product and a store client"):
        load_quotes(get_calendar("EEX_DE"), product="NG")


def test_daily_profile_base_and_weekday_peak_in_local_days() -> None:
    from marketintel.services.sample import daily_profile

    hours = pd.date_range("2024-03-29 23:00", periods=47, freq="h", tz="UTC")  # Sat 30 and Sun 31 March, Oslo
    hours = hours.append(pd.date_range("2024-03-31 22:00", periods=24, freq="h", tz="UTC"))  # Mon 1 April
    local = hours.tz_convert("Europe/Oslo")
    price = np.where((local.hour >= 8) & (local.hour < 20), 50.0, 10.0)
    out = daily_profile(pd.DataFrame({"interval_start_utc": hours, "price": price}), "Europe/Oslo")
    assert [str(d) for d in out["day"]] == ["2024-04-01", "2024-03-31", "2024-03-30"]
    monday = out.iloc[0]
    assert (
        monday["peak"] == 50.0 and monday["base"] == 30.0 and (monday["min"], monday["max"]) == (10.0, 50.0)
    )
    assert out["peak"].iloc[1:].isna().all()  # weekends have no peak hours
    sunday = out.iloc[1]  # 23 hours (DST starts at 02:00): 12 at 50, 11 at 10
    assert sunday["base"] == round((12 * 50 + 11 * 10) / 23, 2)


def test_raise_alert_is_idempotent_by_key(service_store: Any) -> None:
    from marketintel.services.alerts import raise_alert
    from marketintel.services.queries import alerts

    first = raise_alert(key="flow/ingest/r1", category="flow", severity="critical", title="t", message="m")
    again = raise_alert(key="flow/ingest/r1", category="flow", severity="critical", title="t", message="m2")
    rows = alerts(service_store, categories="flow")
    assert first == again and list(rows["alert_id"]) == [first] and rows["message"].iloc[0] == "m2"
    with pytest.raises(MarketIntelError, match="unknown severity 'bad'; expected one of info, warning"):
        raise_alert(key="k", category="flow", severity="bad", title="t", message="m")
