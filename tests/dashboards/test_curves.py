"""The curves page shows a stored version, its contracts, earlier versions and lineage, in the chosen zone."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.calendars import get_calendar
from marketintel.dashboards.curves import FILL, Curves, build_label
from marketintel.dashboards.page import LOCAL, frame_bytes
from marketintel.services import curves as service
from marketintel.services import queries
from marketintel.services.sample import SampleSummary
from marketintel.store import migrate
from tests.storeproc import StoreProcess

DAILY, HOURLY = "T_CASE_A_DAILY", "T_CASE_B_HOURLY"
#: the second as-of moves every quote up by this [EUR/MWh]
MOVE = 5.0


def _source(figure: Any, name: str) -> Any:
    """Return the data source called ``name`` of a figure."""
    from bokeh.models import ColumnDataSource

    return figure.select_one({"type": ColumnDataSource, "name": name})


@pytest.fixture(autouse=True)
def _no_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the Prefect API at a closed port: the lineage link is then shown unconfirmed, quickly."""
    monkeypatch.setenv("MI_PREFECT_API_URL", "http://127.0.0.1:9/api")


@pytest.fixture(scope="module")
def curves(db_client: Any, sample: SampleSummary, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Case A built as of two trade dates (the second with every quote +5), case B hourly once."""
    from marketintel.config import shared_dir

    cases = shared_dir() / "curves"
    if not cases.is_dir():
        pytest.skip(f"shared curve cases not found at {cases}")
    moved = tmp_path_factory.mktemp("quotes") / "moved.csv"
    quotes = pd.read_csv(cases / "caseA_daily" / "contracts.csv")
    quotes.assign(price=quotes["price"] + MOVE).to_csv(moved, index=False)
    common = {"calendar": "EEX_DE", "client": db_client, "start": "2025-02-01", "end": "2027-12-31"}
    first = service.build_and_store_curve(
        quotes=cases / "caseA_daily" / "contracts.csv", as_of="2025-01-30", curve_name=DAILY, **common
    )
    second = service.build_and_store_curve(quotes=moved, as_of="2025-01-31", curve_name=DAILY, **common)
    hourly = service.build_and_store_curve(
        quotes=cases / "caseB_hourly" / "contracts.csv", shape=cases / "caseB_hourly" / "shape.csv",
        calendar="EEX_DE", granularity="hourly", curve_name=HOURLY, as_of="2025-12-30", client=db_client,
    )  # fmt: skip
    return {"first": first, "second": second, "hourly": hourly}


def test_defaults_show_the_latest_version_its_contracts_and_lineage(
    db_client: Any, curves: dict[str, Any]
) -> None:
    view = Curves(client=db_client)
    assert view.message == ""
    assert view.param.curve.objects == [DAILY, HOURLY]
    assert view.curve == DAILY
    second = curves["second"]
    assert view.shown is not None
    assert view.shown.as_of_utc == second.as_of_utc  # the latest cutoff, 2025-01-31 24:00 Berlin
    assert view.shown.as_of_utc == pd.Timestamp("2025-01-31 23:00", tz="UTC")
    expected = queries.curve_points(db_client, DAILY, curve_as_of=second.as_of_utc)
    np.testing.assert_allclose(view.shown.points["value"], expected["value"])
    # the drawn step line: each day's value twice, from its start to its end
    drawn = view.sources()["curve"]
    np.testing.assert_allclose(drawn["y"], np.repeat(expected["value"].to_numpy(), 2))
    # every quoted contract is drawn over its delivery, at its quote, and reprices within 1e-8
    contracts = view.shown.contracts
    assert len(contracts) == len(second.build.fits) == 18
    np.testing.assert_allclose(view.sources()["contracts"]["y"], second.build.fits["price"])
    assert (contracts["status"] == "ok").all() and contracts["error"].abs().max() < 1e-8
    assert view._lineage.object.count(second.stored.run_id) >= 1
    assert second.build.input_sha256 in view._lineage.object
    assert "max_smoothness_exact" in view._lineage.object and "sparse-kkt-lu" in view._lineage.object
    assert "http://127.0.0.1:9/runs/flow-run/" in view._lineage.object  # the Prefect UI link of the run id


def test_the_lineage_links_the_flow_run_in_the_prefect_ui(
    db_client: Any, curves: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def link(run_id: str) -> service.FlowRunLink:
        return service.FlowRunLink(
            run_id, f"http://ui.test/runs/flow-run/{run_id}", "brave-otter", "Completed"
        )

    monkeypatch.setattr(service, "flow_run_link", link)
    view = Curves(client=db_client)
    run_id = curves["second"].stored.run_id
    assert f"[{run_id}](http://ui.test/runs/flow-run/{run_id}) brave-otter, Completed" in view._lineage.object
    monkeypatch.setattr(service, "flow_run_link", lambda run_id: None)  # Prefect knows no such run
    view = Curves(client=db_client)
    assert f"`{run_id}` (not a flow run)" in view._lineage.object


def test_prefect_ui_address_follows_the_configured_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MI_PREFECT_API_URL", "http://prefect.example:4300/api")
    assert service.prefect_ui_url() == "http://prefect.example:4300"
    assert service.flow_run_link("not-a-uuid") is None


def test_market_local_time_moves_the_drawn_points_in_the_same_figure(
    db_client: Any, curves: dict[str, Any]
) -> None:
    view = Curves(client=db_client)
    figure = view._curve_pane.object
    source = _source(figure, "curve")
    utc_first = pd.Timestamp(source.data["x"][0])
    assert figure.xaxis[0].axis_label == "delivery [UTC]"
    assert utc_first == pd.Timestamp("2025-01-31 23:00")  # 1 Feb 2025 00:00 in Berlin
    view.tz = LOCAL
    assert view._curve_pane.object is figure  # patched in place, not rebuilt
    assert figure.xaxis[0].axis_label == "delivery [Europe/Berlin]"
    assert pd.Timestamp(_source(figure, "curve").data["x"][0]) == pd.Timestamp("2025-02-01 00:00")
    contracts = _source(figure, "contracts").data
    assert pd.Timestamp(contracts["x0"][0]) == pd.Timestamp("2025-02-01 00:00")
    frame = view.view_frame()
    assert "delivery_start [Europe/Berlin]" in frame.columns
    assert frame["delivery_start [Europe/Berlin]"].iloc[0] == "2025-02-01 00:00"
    assert len(frame_bytes(frame, "parquet")) > 0 and frame_bytes(frame, "csv").startswith(b"curve_name,")


def test_an_overlay_draws_the_earlier_as_of_under_the_shown_version(
    db_client: Any, curves: dict[str, Any]
) -> None:
    view = Curves(client=db_client)
    earlier = build_label(curves["first"].as_of_utc, curves["first"].stored.version)
    assert earlier in view.param.overlays.objects
    view.overlays = [earlier]
    assert view.message == ""
    sources = view.sources()
    assert list(sources) == [f"overlay:{earlier}", "curve", "contracts"]
    moved = sources["curve"]["y"] - sources[f"overlay:{earlier}"]["y"]
    # every quote moved by +5, so the smoothest curve through them moved by +5 everywhere
    np.testing.assert_allclose(moved, MOVE, atol=1e-8)
    legend = [item.label["value"] for item in view._curve_pane.object.legend[0].items]
    assert earlier in legend
    view.overlays = []
    assert list(view.sources()) == ["curve", "contracts"]


def test_choosing_the_earlier_as_of_shows_that_version(db_client: Any, curves: dict[str, Any]) -> None:
    view = Curves(client=db_client)
    first = curves["first"]
    view.as_of = f"{first.as_of_utc:%Y-%m-%d %H:%M} UTC"
    assert view.shown is not None and view.shown.as_of_utc == first.as_of_utc
    assert view.version == str(first.stored.version)
    np.testing.assert_allclose(view.sources()["contracts"]["y"], first.build.fits["price"])


def test_an_hourly_power_curve_shows_peak_and_offpeak_and_its_hourly_shape(
    db_client: Any, curves: dict[str, Any]
) -> None:
    view = Curves(client=db_client, curve=HOURLY)
    assert view.curve == HOURLY and view.message == ""
    assert list(view.sources()) == ["base", "peak", "offpeak", "contracts"]
    assert view._hourly_box.visible and view._hourly_pane.object is not None
    blocks = view.blocks
    assert blocks is not None
    # the daily peak averages of January average back to the January peak contract (12 peak hours a day)
    fits = curves["hourly"].build.fits
    january_peak = fits[(fits["contract"] == "M-2026-01") & (fits["profile"] == "peak")]["price"].iloc[0]
    january = blocks[[d.month == 1 and d.year == 2026 for d in blocks["date"]]]
    np.testing.assert_allclose(january["peak"].dropna().mean(), january_peak, atol=1e-8)
    assert january["peak"].isna().sum() == 9  # 4 Saturdays, 4 Sundays and 1 January: off-peak all day
    assert view._hourly_pane.object.xaxis[0].axis_label == "delivery hour [UTC]"


def test_unknown_curve_is_said_and_the_default_shown(db_client: Any, curves: dict[str, Any]) -> None:
    view = Curves(client=db_client, curve="NO_SUCH_CURVE")
    assert "Unknown curve 'NO_SUCH_CURVE'" in view.message and DAILY in view.message
    assert view.shown is not None and view.shown.curve_name == DAILY


@pytest.fixture
def empty_db(store: StoreProcess, ch_client: Any) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(ch_client, database=name)
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def test_an_empty_store_says_what_to_run(store: StoreProcess, empty_db: str) -> None:
    view = Curves(client=store.client(database=empty_db, autogenerate_session_id=False))
    assert view.shown is None
    assert view.kind == "info" and FILL in view.message and "build_curves" in view.message
    assert view.view_frame().empty


def test_contract_periods_are_local_days_in_utc_and_unknown_names_stay_empty() -> None:
    periods = service.contract_periods(["M-2026-03", "Q-2026-Q4", "my own strip"], get_calendar("EEX_DE"))
    assert periods["start"].iloc[0] == dt.date(2026, 3, 1) and periods["end"].iloc[0] == dt.date(2026, 3, 31)
    # March ends in summer time: its delivery ends at 22:00 UTC, starts at 23:00 UTC
    assert periods["start_utc"].iloc[0] == pd.Timestamp("2026-02-28 23:00", tz="UTC")
    assert periods["end_utc"].iloc[0] == pd.Timestamp("2026-03-31 22:00", tz="UTC")
    assert periods["end_utc"].iloc[1] == pd.Timestamp("2026-12-31 23:00", tz="UTC")
    assert periods["start"].iloc[2] is None and pd.isna(periods["start_utc"].iloc[2])


def test_a_catalogue_lists_each_curve_once_with_its_calendar(db_client: Any, curves: dict[str, Any]) -> None:
    catalogue = service.stored_curves(db_client)
    row = catalogue[catalogue["curve_name"] == DAILY].iloc[0].to_dict()
    assert row["calendar"] == "EEX_DE" and row["granularity"] == "daily" and row["builds"] >= 2
    assert row["first_as_of_utc"] == curves["first"].as_of_utc
    assert catalogue.set_index("curve_name").loc[HOURLY, "granularity"] == "hourly"


def test_figures_label_units_and_zone(curves: dict[str, Any]) -> None:
    from marketintel.figures.curves import curve_figure, curve_sources, repricing_figure

    build = curves["first"].build
    points, contracts = service.build_points(build), service.build_contracts(build)
    fig = curve_figure(
        curve_sources(points, contracts, tz="America/Chicago"), unit="EUR/MWh", tz="America/Chicago"
    )
    assert fig.xaxis[0].axis_label == "delivery [America/Chicago]"
    assert fig.yaxis[0].axis_label == "price [EUR/MWh]"
    bars = repricing_figure(contracts, unit="EUR/MWh")
    assert bars.yaxis[0].axis_label == "error [EUR/MWh]"
    assert list(bars.x_range.factors) == [
        f"{c} {p}" for c, p in zip(contracts["contract"], contracts["profile"], strict=True)
    ]
