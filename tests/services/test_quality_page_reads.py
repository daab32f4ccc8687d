"""The data-quality page's reads and the alert acknowledgement, against a real store endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from marketintel.exceptions import ConfigError, MarketIntelError
from marketintel.services import alerts as alert_service
from marketintel.services import quality as service
from marketintel.services.quality import QualityOutcome
from marketintel.store import migrate
from tests.quality.store_rows import EMPTY_REASON, END, GAP, HUB, MARKET, PARTIAL_BODY, START, TZ, populate


@pytest.fixture(scope="module")
def db(store: Any, ch_client: Any) -> Iterator[tuple[Any, QualityOutcome]]:
    name = "t_dqpage"
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    migrate(ch_client, database=name)
    client = store.client(database=name, autogenerate_session_id=False)
    outcome = populate(client)
    yield client, outcome
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def test_the_stored_checks_fail_completeness_on_the_dst_day(db: tuple[Any, QualityOutcome]) -> None:
    client, _ = db
    latest = service.latest_checks(client)
    assert latest["status"].iloc[0] == "fail"  # failures first
    completeness = latest[latest["check_name"] == "completeness"].iloc[0]
    assert completeness["status"] == "fail"
    assert completeness["observed"] == pytest.approx(100 * 561 / 564)
    assert "3 of 564 expected 5min intervals missing" in completeness["message"]


def test_completeness_by_day_counts_a_23_hour_local_day(db: tuple[Any, QualityOutcome]) -> None:
    client, _ = db
    days = service.completeness_by_day(
        client, table="prices", market=MARKET, location=HUB, cadence="5min", tz=TZ, start=START, end=END
    )
    assert list(days["day"]) == ["2024-03-09", "2024-03-10"]
    assert list(days["day_hours"]) == [24.0, 23.0]
    assert list(days["expected"]) == [288, 276]
    assert list(days["observed"]) == [288, 273]
    assert list(days["status"]) == ["pass", "fail"]
    assert days["first_missing_utc"].iloc[1] == GAP[0]
    assert pd.isna(days["first_missing_utc"].iloc[0])


def test_completeness_by_day_refuses_a_window_of_years(db: tuple[Any, QualityOutcome]) -> None:
    client, _ = db
    with pytest.raises(MarketIntelError, match="longer than 400 days"):
        service.completeness_by_day(
            client, table="prices", market=MARKET, location=HUB, cadence="5min", tz=TZ,
            start="2020-01-01", end="2024-01-01",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (END + pd.Timedelta(minutes=10), "pass"),  # 2 cadences behind
        (END + pd.Timedelta(minutes=25), "warn"),  # 5 cadences: late
        (END + pd.Timedelta(hours=2), "fail"),  # 24 cadences: stale
        (END - pd.Timedelta(hours=1), "pass"),  # ahead of now counts as fresh
    ],
)
def test_dataset_freshness_judges_the_watermark_by_the_cadence(
    db: tuple[Any, QualityOutcome], now: pd.Timestamp, status: str
) -> None:
    client, _ = db
    fresh = service.dataset_freshness(client, now=now)
    row = fresh.set_index(["source", "dataset"]).loc[("spp", "lmp_real_time_5min")]
    assert row["status"] == status
    assert row["cadence"] == "5min" and row["table"] == "prices" and row["timezone"] == TZ
    assert row["watermark_utc"] == END
    assert (row["payloads"], row["quarantined"], row["partial"]) == (3, 1, 1)
    assert row["behind_cadences"] == pytest.approx(max((now - END) / pd.Timedelta(minutes=5), 0.0))
    assert {"pass": "fresh", "warn": "late", "fail": "stale"}[status] in row["message"]


def test_quarantined_payloads_come_with_their_first_bytes(db: tuple[Any, QualityOutcome]) -> None:
    client, _ = db
    payloads = service.quarantined_with_preview(client, preview_bytes=40).set_index("status")
    assert sorted(payloads.index) == ["partial", "quarantined"]
    empty = payloads.loc["quarantined"]
    assert empty["reason"] == EMPTY_REASON
    assert (empty["size_bytes"], empty["preview"], empty["preview_text"]) == (0, b"", "(empty: 0 bytes)")
    partial = payloads.loc["partial"]
    assert partial["preview"] == PARTIAL_BODY[:40]
    assert partial["preview_text"].startswith("Interval,Settlement Location,LMP\n03/10")
    assert partial["preview_text"].endswith(f"({len(PARTIAL_BODY) - 40:,} more bytes)")
    assert partial["preview_hex"].startswith("49 6e 74 65")  # "Inte"
    with pytest.raises(ValueError, match="preview_bytes"):
        service.quarantined_with_preview(client, preview_bytes=0)


def test_an_acknowledgement_is_stored_with_who_and_when(db: tuple[Any, QualityOutcome]) -> None:
    client, _ = db
    listing = alert_service.alerts_with_acks(client)
    completeness = listing[listing["title"].str.contains("completeness")].iloc[0]
    assert completeness["state"] == "open" and completeness["acknowledged_by"] == ""
    at = pd.Timestamp("2024-03-11 08:00:00.123", tz="UTC")
    record = alert_service.acknowledge(
        client, completeness["alert_id"], by="demo-ops", note="gap known", at=at
    )
    assert record["acknowledged_at_utc"] == at
    stored = alert_service.alert_acks(client, alert_ids=completeness["alert_id"])
    assert stored[["acknowledged_by", "note"]].values.tolist() == [["demo-ops", "gap known"]]
    assert stored["acknowledged_at_utc"].iloc[0] == at
    assert stored["alert_updated_at_utc"].iloc[0] == completeness["updated_at_utc"]
    after = alert_service.alerts_with_acks(client).set_index("alert_id").loc[completeness["alert_id"]]
    assert after["state"] == "acknowledged"
    assert (after["acknowledged_by"], after["acknowledged_at_utc"]) == ("demo-ops", at)
    # a later acknowledgement of the same alert is the one shown
    alert_service.acknowledge(
        client, completeness["alert_id"], by="demo-admin", at=at + pd.Timedelta(hours=1)
    )
    again = alert_service.alerts_with_acks(client).set_index("alert_id").loc[completeness["alert_id"]]
    assert again["acknowledged_by"] == "demo-admin"


def test_an_acknowledgement_needs_a_user_and_a_known_alert(db: tuple[Any, QualityOutcome]) -> None:
    client, _ = db
    some = alert_service.alerts_with_acks(client)["alert_id"].iloc[0]
    with pytest.raises(MarketIntelError, match="needs the user"):
        alert_service.acknowledge(client, some, by=" ")
    with pytest.raises(MarketIntelError, match="no alert with id 'nope'"):
        alert_service.acknowledge(client, "nope", by="demo-ops")


def test_the_acknowledgement_writer_comes_from_its_own_url() -> None:
    assert alert_service.ack_client({}) is None
    with pytest.raises(ConfigError, match="MI_ALERT_ACK_URL"):
        alert_service.ack_client({"MI_ALERT_ACK_URL": "ftp://x"})


def test_a_store_without_the_acks_table_still_lists_alerts(store: Any, ch_client: Any) -> None:
    name = "t_dqnoacks"
    ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    migrate(ch_client, database=name)
    ch_client.command(f"DROP TABLE {name}.alert_acks SYNC")
    client = store.client(database=name)
    try:
        alert_service.raise_alert(key="k", category="flow", severity="critical", title="t", message="m",
                                  client=client)  # fmt: skip
        listing = alert_service.alerts_with_acks(client)
        assert list(listing["state"]) == ["open"]
        assert "mi store migrate" in listing.attrs["problem"]
    finally:
        ch_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
