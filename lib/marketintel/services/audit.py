"""Reads of the audit trail for the ``audit`` page: failed logins, exports, refusals, unusual activity.

All read ``mi_system.audit_log`` (the store's own audit writer keeps it; :mod:`marketintel.access.audit`);
``table`` names another table of the same columns (tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

TABLE = "mi_system.audit_log"
#: a user's daily rows read this many times their median of the 30 days before is unusual
UNUSUAL_FACTOR = 3.0


def _df(client: Any, sql: str, **params: Any) -> pd.DataFrame:
    frame: pd.DataFrame = client.query_df(sql, parameters=params or None)
    return frame


def failed_logins(client: Any, days: int = 30, table: str = TABLE) -> pd.DataFrame:
    """Return failed logins (hub and store) by user and source: count and last attempt."""
    return _df(
        client,
        f"SELECT user, source, kind, count() AS attempts, max(event_time) AS last_utc FROM {table} "
        "WHERE kind IN ('login_failed', 'store_login_failed') "
        "AND event_time >= now64(6) - toIntervalDay({d:UInt32}) GROUP BY user, source, kind "
        "ORDER BY attempts DESC, last_utc DESC LIMIT 500",
        d=days,
    )


def exports(client: Any, days: int = 30, table: str = TABLE) -> pd.DataFrame:
    """Return exports by user: how many, rows [rows] and bytes [bytes], and the last one."""
    return _df(
        client,
        "SELECT user, count() AS exports, sum(rows) AS rows, sum(bytes) AS bytes, "
        f"max(event_time) AS last_utc, groupUniqArray(10)(target) AS datasets FROM {table} "
        "WHERE kind = 'export' AND event_time >= now64(6) - toIntervalDay({d:UInt32}) "
        "GROUP BY user ORDER BY rows DESC",
        d=days,
    )


def refused(client: Any, limit: int = 200, table: str = TABLE) -> pd.DataFrame:
    """Return the latest refused queries and events: who, acting service, what and why."""
    return _df(
        client,
        "SELECT event_time AS at_utc, user, caller, kind, target, "
        "JSONExtractString(detail, 'error') AS error, "
        f"substring(JSONExtractString(detail, 'query'), 1, 300) AS query FROM {table} "
        "WHERE outcome = 'refused' ORDER BY seq DESC LIMIT {n:UInt32}",
        n=limit,
    )


def unusual(client: Any, factor: float = UNUSUAL_FACTOR, table: str = TABLE) -> pd.DataFrame:
    """Days on which a user's rows read were above ``factor`` times their median of the 30 days before."""
    return _df(
        client,
        f"""
        SELECT user, day, rows, median_30d FROM (
            SELECT user, day, rows,
                   quantileExact(0.5)(rows) OVER (PARTITION BY user ORDER BY day
                       RANGE BETWEEN 30 PRECEDING AND 1 PRECEDING) AS median_30d
            FROM (SELECT user, toDate(event_time) AS day, sum(rows) AS rows FROM {table}
                  WHERE kind = 'query' AND event_time >= now64(6) - toIntervalDay(61) GROUP BY user, day)
        ) WHERE median_30d > 0 AND rows > {{f:Float64}} * median_30d
        ORDER BY day DESC, rows DESC LIMIT 200
        """,
        f=factor,
    )


@dataclass(frozen=True)
class LastVerify:
    """The last ``mi audit verify`` (or the page's "Verify now")."""

    at_utc: pd.Timestamp | None
    ok: bool | None
    result: str
    by: str


def last_verification(client: Any, table: str = TABLE) -> LastVerify:
    """Return the last chain verification recorded in the trail (None fields: never verified)."""
    rows = client.query(
        f"SELECT event_time, outcome, JSONExtractString(detail, 'result'), user FROM {table} "
        "WHERE kind = 'verify' ORDER BY seq DESC LIMIT 1"
    ).result_rows
    if not rows:
        return LastVerify(None, None, "the chain was never verified: run `mi audit verify`", "")
    at, outcome, result, by = rows[0]
    return LastVerify(pd.Timestamp(at), outcome == "ok", str(result), str(by))


def counts(client: Any, days: int = 1, table: str = TABLE) -> pd.DataFrame:
    """Return the records by kind and outcome over the last ``days``."""
    return _df(
        client,
        f"SELECT kind, outcome, count() AS records FROM {table} WHERE event_time >= now64(6) - "
        "toIntervalDay({d:UInt32}) GROUP BY kind, outcome ORDER BY kind, outcome",
        d=days,
    )
