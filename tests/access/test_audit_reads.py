"""The audit page's reads (:mod:`marketintel.services.audit`) on records of known shape.

The real ``mi_system.audit_log`` accepts no writes but the store's own; these records go to a table of the
same columns in the test's database.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from marketintel.services import audit

COLUMNS = (
    "seq UInt64, at_utc String, kind LowCardinality(String), user LowCardinality(String), caller String, "
    "source String, action String, target String, outcome LowCardinality(String), rows UInt64, "
    "bytes UInt64, detail String, prev_hash String, hash String, event_time DateTime64(6, 'UTC')"
)


def _table(client: Any, database: str, records: list[dict[str, Any]]) -> str:
    name = f"{database}.audit_copy"
    client.command(f"CREATE TABLE {name} ({COLUMNS}) ENGINE = MergeTree ORDER BY seq")
    frame = pd.DataFrame(records)
    frame["seq"] = range(1, len(frame) + 1)
    defaults: dict[str, Any] = {"caller": "", "source": "", "action": "", "target": "", "outcome": "ok",
                                "rows": 0, "bytes": 0, "detail": "", "prev_hash": "", "hash": ""}  # fmt: skip
    for col, default in defaults.items():
        if col not in frame:
            frame[col] = default
        frame[col] = frame[col].fillna(default)
    frame["at_utc"] = frame["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    client.insert_df(name, frame)
    return name


def test_failed_logins_exports_refusals_unusual_and_the_last_verification(
    ch_client: Any, ch_database: str
) -> None:
    now = pd.Timestamp.now("UTC").floor("D") + pd.Timedelta("1h")
    recs: list[dict[str, Any]] = []
    for day in range(20, 0, -1):  # ann reads 1000 rows a day for 20 days ...
        recs.append(
            {"kind": "query", "user": "ann", "rows": 1000, "event_time": now - pd.Timedelta(days=day)}
        )
    recs.append({"kind": "query", "user": "ann", "rows": 5000, "event_time": now})  # ... then 5000 today
    recs.append({"kind": "query", "user": "bob", "rows": 10, "event_time": now})  # no history: not unusual
    recs += [{"kind": "login_failed", "user": "eve", "source": "hub 10.0.0.9", "outcome": "refused",
              "event_time": now - pd.Timedelta(minutes=m)} for m in (1, 2, 3)]  # fmt: skip
    recs.append({"kind": "store_login_failed", "user": "eve", "source": "10.0.0.9", "outcome": "refused",
                 "event_time": now})  # fmt: skip
    recs += [{"kind": "export", "user": "tom", "target": "curves", "rows": 100, "bytes": 4000,
              "event_time": now - pd.Timedelta(hours=h)} for h in (1, 2)]  # fmt: skip
    detail = json.dumps({"query": "SELECT command FROM system.mutations", "error": "Code: 497"})
    recs.append({"kind": "query", "user": "pilot", "outcome": "refused", "target": "system.mutations",
                 "detail": detail, "event_time": now})  # fmt: skip
    recs.append({"kind": "verify", "user": "default", "outcome": "ok", "event_time": now - pd.Timedelta("1h"),
                 "detail": json.dumps({"result": "audit chain verified: 10 records 1..10"})})  # fmt: skip
    table = _table(ch_client, ch_database, recs)

    failed = audit.failed_logins(ch_client, table=table)
    assert dict(zip(failed["kind"], failed["attempts"], strict=True)) == {
        "login_failed": 3,
        "store_login_failed": 1,
    }
    exports = audit.exports(ch_client, table=table)
    assert exports[["user", "exports", "rows", "bytes"]].values.tolist() == [["tom", 2, 200, 8000]]
    refused = audit.refused(ch_client, table=table)
    assert sorted(set(refused["kind"])) == ["login_failed", "query", "store_login_failed"]
    query = refused[refused["kind"] == "query"]
    assert query["user"].tolist() == ["pilot"] and query["target"].iloc[0] == "system.mutations"
    assert "system.mutations" in query["query"].iloc[0] and query["error"].iloc[0] == "Code: 497"
    unusual = audit.unusual(ch_client, table=table)
    assert unusual[["user", "rows", "median_30d"]].values.tolist() == [["ann", 5000, 1000]]
    last = audit.last_verification(ch_client, table=table)
    assert last.ok is True and "10 records" in last.result and last.by == "default"
    counts = audit.counts(ch_client, days=1, table=table)
    assert int(counts["records"].sum()) >= 8
