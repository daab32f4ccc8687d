"""The data-quality page: what it reads and draws, its live stream of new rows, acknowledging an alert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import pytest

from marketintel.dashboards import data, quality
from marketintel.dashboards.page import LOCAL, frame_bytes
from marketintel.dashboards.quality import DEV_USER, RUN_CHECKS, VIEWS, Quality, current_user
from marketintel.services import alerts as alert_service
from marketintel.services.quality import run_data_quality
from marketintel.store import insert_df, migrate
from marketintel.store.endpoint.auth import write_user
from tests.quality.store_rows import EMPTY_REASON, END, GAP, HUB, MARKET, START, TZ, payload_rows, populate
from tests.storeproc import start_store


@pytest.fixture(scope="module")
def client(store: Any, ch_client: Any) -> Iterator[Any]:
    name = "t_dqview"
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    migrate(ch_client, database=name)
    client = store.client(database=name, autogenerate_session_id=False)
    populate(client)
    yield client
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture(autouse=True)
def _unshared_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each poll reads the store: these tests write and poll at once (sharing is tested on its own)."""
    monkeypatch.setattr(quality, "SHARED_S", 0.0)
    monkeypatch.setattr(quality, "SHARED_SLOW_S", 0.0)


def _source(fig: Any) -> dict[str, Any]:
    return dict(fig.renderers[0].data_source.data)


def test_the_page_shows_the_failed_completeness_check_per_local_day(client: Any) -> None:
    page = Quality(client=client)
    assert page.message == ""
    row = page._selected_check()
    assert row is not None and row["status"] == "fail" and row["check_name"] == "completeness"
    assert page.market_tz() == TZ
    assert page.days[["day", "day_hours", "expected", "observed"]].values.tolist() == [
        ["2024-03-09", 24.0, 288, 288],
        ["2024-03-10", 23.0, 276, 273],
    ]
    fig = page._completeness_fig
    assert fig.xaxis[0].axis_label == f"local day [{TZ}]"
    assert fig.yaxis[0].axis_label == "intervals present [% of expected]"
    assert list(_source(fig)["status"]) == ["pass", "fail"]
    assert f"Local days of **{TZ}**" in page._notes["completeness"].object


def test_freshness_quarantine_and_alerts_are_listed(client: Any) -> None:
    page = Quality(client=client)
    spp = page.freshness.set_index(["source", "dataset"]).loc[("spp", "lmp_real_time_5min")]
    assert spp["watermark_utc"] == END and spp["status"] == "fail"  # now is years after the window
    assert "1 dataset(s): 0 fresh, 0 late, 1 stale" in page._notes["freshness"].object
    assert page._panes["freshness"].object.xaxis[0].axis_label == "behind now [cadences] (log scale)"
    assert EMPTY_REASON in page._notes["quarantine"].object
    assert "**Raw bytes:** `(empty: 0 bytes)`" in page._notes["quarantine"].object
    assert "Interval,Settlement Location,LMP" in page._notes["quarantine"].object  # the partial CSV's bytes
    assert set(page.quarantined["status"]) == {"quarantined", "partial"}
    titles = list(page.alerts["title"])
    assert any("completeness" in t for t in titles)
    assert page.alert in set(page.alerts["alert_id"])


def test_the_status_filter_changes_what_is_listed_and_drawn(client: Any) -> None:
    page = Quality(client=client)
    assert len(page._tables["checks"].value) == len(page.results) == 4
    page.statuses = ["fail"]
    listed = page._tables["checks"].value
    assert list(listed["status"]) == ["fail"]
    assert list(_source(page._checks_fig)["status"]) == ["fail"]
    assert list(_source(page._checks_fig)["row"]) == [f"{MARKET} {HUB}: completeness"]


def test_times_follow_the_zone_choice(client: Any) -> None:
    page = Quality(client=client)
    assert "checked_at [UTC]" in page._tables["checks"].value.columns
    assert page._checks_fig.xaxis[0].axis_label == "checked at [UTC]"
    page.tz = LOCAL
    assert page.display_tz() == TZ
    shown = page._tables["checks"].value
    assert f"checked_at [{TZ}]" in shown.columns
    checked = page.results["checked_at_utc"].iloc[0]
    assert shown[f"checked_at [{TZ}]"].iloc[0] == checked.tz_convert(TZ).tz_localize(None)
    assert page._checks_fig.xaxis[0].axis_label == f"checked at [{TZ}]"


def test_live_polls_stream_only_the_new_results(client: Any) -> None:
    page = Quality(client=client)
    assert page.poll() == {"results": 0, "payloads": 0, "datasets": 0, "alerts": 0}
    fig = page._checks_fig
    before = len(_source(fig)["row"])
    run_data_quality(
        table="prices", market=MARKET, location=HUB, cadence="5min", publication_lag="15min", tz=TZ,
        start=START, end=GAP[0], run_id="dq-again", client=client,
    )  # fmt: skip
    counts = page.poll()
    assert counts["results"] == 4
    assert page._checks_fig is fig  # the same figure: its source received the rows
    assert len(_source(fig)["row"]) == before + 4
    assert len(page._tables["checks"].value) == before + 4
    assert set(page.results["run_id"]) == {"dq-test", "dq-again"}
    assert page.poll()["results"] == 0


def test_open_pages_share_their_polls_reads(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [Quality(client=client) for _ in range(3)]
    calls: dict[str, int] = {}

    def counted(name: str, read: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return read(*args, **kwargs)

        return wrapper

    reads = [(quality.service, "new_checks"), (quality.service, "quarantined_with_preview"),
             (quality.service, "dataset_freshness"), (quality.alert_service, "alerts_with_acks")]  # fmt: skip
    for module, name in reads:
        monkeypatch.setattr(module, name, counted(name, getattr(module, name)))
    monkeypatch.setattr(quality, "SHARED_S", 60.0)
    monkeypatch.setattr(quality, "SHARED_SLOW_S", 60.0)
    monkeypatch.setattr(data, "_shared", {})  # nothing shared yet: earlier tests read within 60 s
    assert [p.poll() for p in pages] == [{"results": 0, "payloads": 0, "datasets": 0, "alerts": 0}] * 3
    # three pages at the same point: the store answered each kind of read once
    assert calls == {"new_checks": 1, "quarantined_with_preview": 1, "dataset_freshness": 1,
                     "alerts_with_acks": 1}  # fmt: skip
    # an acknowledgement in this process makes the next look read the alerts afresh
    pages[0].alert = next(iter(pages[0].param.alert.objects.values()))
    assert pages[0].acknowledge(user="demo-ops") is not None
    assert pages[1].poll()["alerts"] == 1
    assert calls["alerts_with_acks"] == 3  # the acknowledging page's own read, then the shared one


def test_live_polls_stream_a_newly_quarantined_payload(client: Any) -> None:
    page = Quality(client=client)
    before = len(page._tables["quarantine"].value)
    late = payload_rows(pd.Timestamp("2024-03-11 06:00", tz="UTC")).iloc[[1]]  # another empty file
    late = late.assign(sha256="f" * 64, url="https://portal.spp.org/file-browser-api/download/late.csv")
    insert_df(client, "raw_payloads", late)
    assert page.poll()["payloads"] == 1
    assert len(page._tables["quarantine"].value) == before + 1
    assert "late.csv" in page._notes["quarantine"].object
    assert page.poll()["payloads"] == 0


def test_acknowledging_stores_who_and_when(client: Any) -> None:
    page = Quality(client=client)
    completeness = page.alerts[page.alerts["title"].str.contains("completeness")].iloc[0]
    page.alert = completeness["alert_id"]
    page.note = "gap on the DST day is known"
    record = page.acknowledge(user="demo-ops")
    assert record is not None and record["acknowledged_by"] == "demo-ops"
    assert "Acknowledged by **demo-ops**" in page._ack_status.object
    stored = alert_service.alert_acks(client, alert_ids=completeness["alert_id"])
    assert stored[["acknowledged_by", "note"]].values.tolist() == [
        ["demo-ops", "gap on the DST day is known"]
    ]
    shown = page.alerts.set_index("alert_id").loc[completeness["alert_id"]]
    assert (shown["state"], shown["acknowledged_by"]) == ("acknowledged", "demo-ops")
    assert completeness["alert_id"] not in page.param.alert.objects.values()
    assert page.note == ""


def test_acknowledging_without_a_user_or_alert_stores_nothing(client: Any) -> None:
    alert_service.raise_alert(key="flow/ingest/t", category="flow", severity="critical",
                              title="flow ingest failed", message="m", client=client)  # fmt: skip
    page = Quality(client=client)
    assert page.alert is not None
    stored = len(alert_service.alert_acks(client))
    assert page.acknowledge(user="") is None
    assert "log in through the hub" in page.message
    page.alert = None
    assert page.acknowledge(user="demo-ops") is None
    assert len(alert_service.alert_acks(client)) == stored


def test_developer_mode_acknowledges_as_the_pretend_user() -> None:
    assert pn.state.user is None and not pn.config.oauth_provider
    assert current_user() == DEV_USER


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_downloads(client: Any, view: str) -> None:
    page = Quality(client=client, view=view)
    frame = page.view_frame()
    assert len(frame) > 0
    assert len(frame_bytes(frame, "csv")) > 0 and frame_bytes(frame, "parquet")[:4] == b"PAR1"


def test_an_empty_store_says_what_to_run(store: Any, ch_client: Any) -> None:
    name = "t_dqempty"
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    migrate(ch_client, database=name)
    try:
        page = Quality(client=store.client(database=name))
        assert page.kind == "info" and f"`{RUN_CHECKS}`" in page.message
        assert f"`{RUN_CHECKS}`" in page._notes["checks"].object
        assert "mi flows run ingest" in page._notes["freshness"].object
        assert page._panes["checks"].object is None and page.days.empty
        assert page.poll()["results"] == 0
    finally:
        ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def test_the_figures_label_their_axes_with_units_and_zone(client: Any) -> None:
    from marketintel.figures.quality import checked_series_figure
    from marketintel.quality import read_series

    values = read_series(client, table="prices", market=MARKET, location=HUB, start_utc=START, end_utc=END)
    fig = checked_series_figure(values, cadence="5min", start_utc=START, end_utc=END, tz=TZ, title="t",
                                y_label="price [USD/MWh]")  # fmt: skip
    assert fig.xaxis[0].axis_label == f"interval start [{TZ}]"
    assert fig.yaxis[0].axis_label == "price [USD/MWh]"
    boxes = [a for a in fig.center if type(a).__name__ == "BoxAnnotation"]
    assert len(boxes) == len(GAP)  # one band per missing interval
    line = _source(fig)
    assert int(pd.isna(line["value"]).sum()) == len(GAP)  # gaps in the line, not slopes across them
    # a run's results share one instant: the checks' time axis still spans an hour, not milliseconds
    page = Quality(client=client)
    assert page._checks_fig.x_range.min_interval == 3_600_000


def test_a_read_only_service_is_refused_until_it_has_the_acknowledgement_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the hub runs it: the page reads as a reader; acknowledgements go through MI_ALERT_ACK_URL only."""
    users = tmp_path / "users.toml"
    write_user(users, "dq-reader", "reader", "reader-password-1")
    write_user(users, "dq-acks", "writer", "acks-password-1")
    monkeypatch.delenv(alert_service.ACK_URL_ENV, raising=False)
    proc = start_store(
        tmp_path / "store", env={"MI_DATA_DIR": str(tmp_path), "MI_STORE_USERS_FILE": str(users)}
    )
    try:
        admin = proc.client()
        migrate(admin)
        populate(admin)
        reader = proc.client(
            username="dq-reader", password="reader-password-1", autogenerate_session_id=False
        )
        page = Quality(client=reader)
        assert page.message == "" and page.alert is not None
        assert page.acknowledge(user="demo-ops") is None
        assert "Not acknowledged" in page.message and alert_service.ACK_URL_ENV in page.message
        assert admin.command("SELECT count() FROM alert_acks") == 0
        monkeypatch.setenv(
            alert_service.ACK_URL_ENV, f"http://dq-acks:acks-password-1@127.0.0.1:{proc.port}/default"
        )
        record = page.acknowledge(user="demo-ops")
        assert record is not None
        assert admin.command("SELECT acknowledged_by FROM alert_acks") == "demo-ops"
        assert "Acknowledged by **demo-ops**" in page._ack_status.object
    finally:
        assert proc.stop() == 0


@pytest.mark.shared
def test_routing_shows_each_series_source_trust_and_breaker(
    store: Any, ch_database: str, shared_dir: Path, tmp_path: Path
) -> None:
    """The demo's OMIE day (2025-10-01, 15-minute) read through the router: OMIE serves, ENTSO-E is stale."""
    from marketintel.flows.recordings import replay_folder
    from marketintel.routing.router import Router
    from marketintel.services import routing
    from marketintel.services.ingest import ingest_window

    client = store.client(database=ch_database, autogenerate_session_id=False)
    migrate(client, database=ch_database)
    replay_folder("omie", "marginal_price_15min", tmp_path / "omie")
    ingest_window("omie", "marginal_price_15min", "2025-09-30T22:00:00Z", "2025-10-01T22:00:00Z",
                  client=client, replay=tmp_path / "omie")  # fmt: skip
    audited: list[dict[str, Any]] = []
    router = Router(audit=audited.append)
    served = routing.read_series(
        client, "ES_DA_15MIN", "2025-09-30T22:00Z", "2025-10-01T22:00Z", router=router
    )
    assert len(served) == 96 and set(served["source"]) == {"omie/marginal_price_15min"}
    assert [(e["chosen"], e["intervals"], e["reason"]) for e in audited] == [
        ("omie/marginal_price_15min", 96, "priority")
    ]
    page = Quality(client=client)
    state = routing.routing_state(client)
    assert page.routing.equals(state) and page.message == ""
    rows = page.routing.set_index(["series", "source"])
    omie = rows.loc[("ES_DA_15MIN", "omie/marginal_price_15min")]
    entsoe = rows.loc[("ES_DA_15MIN", "entsoe/day_ahead_prices")]
    assert bool(omie["chosen"]) and not bool(entsoe["chosen"])
    assert (omie["freshness"], omie["completeness"], omie["agreement"], omie["reliability"]) == (1, 1, 1, 1)
    assert omie["score"] == pytest.approx(1.0) and omie["breaker"] == "closed"
    # ENTSO-E has no row of the day: not fresh (F = 0), nothing complete, nothing contradicts it
    assert (entsoe["freshness"], entsoe["completeness"], entsoe["agreement"]) == (0, 0, 1)
    assert entsoe["score"] == pytest.approx(0.30 + 0.20) and entsoe["breaker"] == "closed"
    assert omie["last_reason"] == "priority"
    table = page._tables["routing"].value
    assert list(table["series"].iloc[:2]) == ["ES_DA_15MIN", "ES_DA_15MIN"]  # the routed series first
    assert list(table["source"].iloc[:2]) == ["omie/marginal_price_15min", "entsoe/day_ahead_prices"]
    assert list(table["serves now"].iloc[:2]) == [True, False]
    note = page._notes["routing"].object
    assert f"{len(routing.series_names())} logical series declared, 1 routed so far" in note
    assert "**ES_DA_15MIN**: served by **omie/marginal_price_15min** (breaker closed, trust 1.00)" in note
    page.view = "routing"
    assert page.view_frame().equals(state)
