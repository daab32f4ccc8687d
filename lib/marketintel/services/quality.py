"""Run the data-quality checks of one stored series, store the results and raise alerts."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pandas as pd

#: a window that ended longer ago than this is historical: checked as of when its last interval was due
HISTORICAL_AFTER = pd.Timedelta(days=1)


@dataclass(frozen=True)
class QualityOutcome:
    """What a data-quality run found and wrote.

    Attributes
    ----------
    results : pd.DataFrame
        One row per check in the ``data_quality`` layout (``check_name``, ``status``, ``observed``,
        ``threshold``, ``unit``, ``details``, ...).
    written : int
        Rows appended to ``data_quality``.
    alerts : int
        Alerts raised (one per check that did not pass).
    start_utc, end_utc : pd.Timestamp
        The window checked [UTC].
    checked_as_of_utc : pd.Timestamp or None
        The instant the checks were judged at when the window is historical (its end + publication lag +
        one cadence); None: now.
    """

    results: pd.DataFrame
    written: int
    alerts: int
    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    checked_as_of_utc: pd.Timestamp | None

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return bool((self.results["status"] == "fail").any())

    def counts(self) -> dict[str, int]:
        """Return how many checks passed, warned and failed."""
        counts = self.results["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in ("pass", "warn", "fail")}


def run_data_quality(
    *,
    table: str,
    market: str,
    location: str = "",
    variable: str = "",
    cadence: str,
    publication_lag: str = "0min",
    tz: str,
    start: Any,
    end: Any,
    run_id: str = "",
    client: Any = None,
    store: bool = True,
) -> QualityOutcome:
    """Check one stored series over ``[start, end)``: freshness, completeness, duplicates, anomalies.

    A window that ended more than a day ago (a replayed or historical one) is judged as of the moment its
    last interval was due (its end + the publication lag + one cadence), not now: at the real clock its
    freshness would always fail.

    Parameters
    ----------
    table : {"prices", "fundamentals"}
        The table holding the series.
    market, location, variable : str
        The series (``location`` is the area of fundamentals; ``variable`` only for fundamentals).
    cadence : str
        Interval length (pandas offset, e.g. ``"5min"``).
    publication_lag : str
        How long after an interval ends it is published (e.g. ``"15min"``).
    tz : str
        Market time zone (local days for completeness).
    start, end : str or pd.Timestamp
        The window [UTC; a time without a zone is read as UTC].
    run_id : str
        Run id written with the results.
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store`.
    store : bool
        Append the results to ``data_quality`` and raise alerts.
    """
    from marketintel.quality import parse_cadence, run_checks, write_results
    from marketintel.quality.checks import parse_lag
    from marketintel.services.ingest import utc_instant

    if client is None:
        from marketintel.services.store import ensure_store

        client = ensure_store().client
    start_utc, end_utc = utc_instant(start, "start"), utc_instant(end, "end")
    historical = end_utc < pd.Timestamp.now(tz="UTC") - HISTORICAL_AFTER
    as_of = end_utc + parse_lag(publication_lag) + parse_cadence(cadence) if historical else None
    results = run_checks(
        client, table=table, market=market, location=location, variable=variable, cadence=cadence,
        publication_lag=publication_lag, tz=tz, start_utc=start_utc, end_utc=end_utc, now_utc=as_of,
        run_id=run_id,
    )  # fmt: skip
    written, alerts = write_results(client, results, run_id=run_id) if store else (0, 0)
    return QualityOutcome(results, written, alerts, start_utc, end_utc, as_of)


# --------------------------------------------------------------------------------------------------------
# Reads for the data-quality page and report: freshness per dataset, completeness per day, quarantine
# --------------------------------------------------------------------------------------------------------
#: a dataset is fresh while its watermark is at most this many cadences behind now [cadences]
FRESH_CADENCES = 2.0
#: ... late (warn) up to this many, stale (fail) beyond [cadences]
LATE_CADENCES = 6.0
#: bytes of a quarantined payload shown as a preview [bytes]
PREVIEW_BYTES = 256
#: most days :func:`completeness_by_day` checks at once (a year of 5-minute intervals is 105k rows) [days]
MAX_COMPLETENESS_DAYS = 400

_FRESHNESS_COLUMNS: dict[str, Any] = {
    "source": "object", "dataset": "object", "table": "object", "cadence": "object",
    "timezone": "object", "watermark_utc": "datetime64[ms, UTC]", "last_fetched_utc": "datetime64[ms, UTC]",
    "payloads": "int64", "quarantined": "int64", "partial": "int64", "behind_min": "float64",
    "behind_cadences": "float64", "status": "object", "message": "object",
}  # fmt: skip


def _database_prefix(database: str | None, table: str) -> str:
    from marketintel.store.schema import qualified_name, quote_identifier

    return qualified_name(database, table) if database else quote_identifier(table)


@functools.cache
def _catalog(source: str) -> dict[str, Any]:
    """Return ``{dataset name: Dataset}`` of an installed connector; empty if it is not installed."""
    from marketintel.exceptions import MarketIntelError
    from marketintel.ingest import registry

    try:
        catalog = registry.load(source)().discover()
    except (MarketIntelError, KeyError, ImportError):
        return {}
    return {d.name: d for d in catalog.datasets}


def _freshness_status(behind: pd.Timedelta | None, cadence: pd.Timedelta | None) -> tuple[str, float]:
    """Return (status, cadences behind) of a watermark ``behind`` now, for datasets of ``cadence``."""
    if behind is None or cadence is None:
        return "unknown", float("nan")
    cadences = max(behind / cadence, 0.0)
    if cadences <= FRESH_CADENCES:
        return "pass", cadences
    return ("warn" if cadences <= LATE_CADENCES else "fail"), cadences


def dataset_freshness(client: Any, *, now: Any = None, database: str | None = None) -> pd.DataFrame:
    """Return the freshness of every ingested dataset against its publication cadence.

    A dataset counts as ingested when it has a checkpoint or an archived payload. Its *watermark* is the
    end of the last interval ingested without gaps (the laggiest of its streams); it is ``behind`` now by
    ``now - watermark`` (negative for day-ahead data, published before delivery: then 0). Status: ``pass``
    (fresh) up to :data:`FRESH_CADENCES` cadences behind, ``warn`` (late) up to :data:`LATE_CADENCES`,
    ``fail`` (stale) beyond; ``unknown`` when the connector is not installed here (no cadence) or the
    dataset never reached a watermark.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    now : str or pd.Timestamp, optional
        The instant freshness is judged at [UTC]. Default: the current time.
    database : str, optional
        Database of the tables; default the client's.

    Returns
    -------
    pd.DataFrame
        One row per (source, dataset), stalest first: ``source``, ``dataset``, ``table`` (store table of
        its rows), ``cadence`` (pandas offset), ``timezone`` (the publisher's), ``watermark_utc``,
        ``last_fetched_utc`` (datetime64[ms, UTC], NaT if none), ``payloads``, ``quarantined``,
        ``partial`` [payloads], ``behind_min`` [min], ``behind_cadences`` [cadences], ``status``
        (pass, warn, fail, unknown) and ``message`` (what it means, in words).
    """
    from marketintel.services.ingest import utc_instant

    at = pd.Timestamp.now(tz="UTC") if now is None else utc_instant(now, "now")
    marks = client.query_df(
        "SELECT source, dataset, min(watermark_utc) AS watermark_utc"
        f" FROM {_database_prefix(database, 'checkpoints')} FINAL GROUP BY source, dataset",
        tz_mode="schema",
    )
    payloads = client.query_df(
        "SELECT source, dataset, count() AS payloads, countIf(status = 'quarantined') AS quarantined,"
        " countIf(status = 'partial') AS partial, max(fetched_at_utc) AS last_fetched_utc"
        f" FROM {_database_prefix(database, 'raw_payloads')} FINAL GROUP BY source, dataset",
        tz_mode="schema",
    )
    keys = ["source", "dataset"]
    marks = marks if len(marks.columns) else pd.DataFrame(columns=[*keys, "watermark_utc"])
    if not len(payloads.columns):
        payloads = pd.DataFrame(columns=[*keys, "payloads", "quarantined", "partial", "last_fetched_utc"])
    both = marks.merge(payloads, on=keys, how="outer")
    rows = []
    catalogs: dict[str, dict[str, Any]] = {}
    for rec in both.to_dict("records"):
        source, name = str(rec["source"]), str(rec["dataset"])
        info = catalogs.setdefault(source, _catalog(source)).get(name)
        cadence = pd.Timedelta(info.cadence) if info is not None else None
        mark = rec.get("watermark_utc")
        mark = None if mark is None or pd.isna(mark) else pd.Timestamp(mark)
        behind = None if mark is None else at - mark
        status, cadences = _freshness_status(behind, cadence)
        rows.append(
            {
                "source": source, "dataset": name, "table": info.table if info else "",
                "cadence": info.cadence if info else "", "timezone": info.timezone if info else "",
                "watermark_utc": mark, "last_fetched_utc": rec.get("last_fetched_utc"),
                "payloads": rec.get("payloads"), "quarantined": rec.get("quarantined"),
                "partial": rec.get("partial"),
                "behind_min": float("nan") if behind is None else max(behind / pd.Timedelta(minutes=1), 0.0),
                "behind_cadences": cadences,
                "status": status,
                "message": _freshness_message(status, behind, info, mark),
            }
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(_FRESHNESS_COLUMNS))
    for column, dtype in _FRESHNESS_COLUMNS.items():
        if dtype.startswith("datetime"):
            frame[column] = pd.to_datetime(frame[column], utc=True).astype(dtype)
        elif dtype == "int64":
            frame[column] = pd.to_numeric(frame[column]).fillna(0).astype(dtype)
        else:
            frame[column] = frame[column].astype(dtype)
    order = frame["behind_cadences"].fillna(float("inf"))
    return frame.iloc[order.sort_values(ascending=False, kind="stable").index].reset_index(drop=True)


def _freshness_message(status: str, behind: pd.Timedelta | None, info: Any, mark: Any) -> str:
    if info is None:
        return "connector not installed here: cadence unknown"
    if behind is None:
        return f"no watermark yet: run `mi ingest {info.name}` for a window"
    ahead = behind < pd.Timedelta(0)
    words = {"pass": "fresh", "warn": "late", "fail": "stale"}[status]
    span = _duration(abs(behind))
    where = f"{span} ahead of now (published before delivery)" if ahead else f"{span} behind now"
    return f"{words}: data up to {mark:%Y-%m-%d %H:%M} UTC, {where}; published every {info.cadence}"


def _duration(span: pd.Timedelta) -> str:
    minutes = span / pd.Timedelta(minutes=1)
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def completeness_by_day(
    client: Any,
    *,
    table: str,
    market: str,
    location: str,
    cadence: str,
    tz: str,
    start: Any,
    end: Any,
    expected_until: Any = None,
    target_pct: float | None = None,
    database: str | None = None,
) -> pd.DataFrame:
    """Return the DST-aware completeness of each local day of one stored series.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    table : {"prices", "fundamentals"}
        The table holding the series.
    market : str
        ``market`` of the series.
    location : str
        The series as ``data_quality.location`` names it: the location of prices, ``"<area>/<variable>"``
        of fundamentals.
    cadence : str
        Interval length (pandas offset, e.g. ``"5min"``).
    tz : str
        IANA zone of the market's delivery calendar: its local days, 23 or 25 hours on DST days.
    start, end : str or pd.Timestamp
        The window ``[start, end)`` [UTC; a time without zone is read as UTC].
    expected_until : str or pd.Timestamp, optional
        Expect only intervals ending by this instant (as the check did); default ``end``.
    target_pct : float, optional
        A day below it fails [%]; default the checks' target.
    database : str, optional
        Database of the tables; default the client's.

    Returns
    -------
    pd.DataFrame
        One row per local day (see :func:`marketintel.quality.daily_completeness`): ``day``,
        ``day_start_utc``, ``day_hours`` [h], ``expected``, ``observed``, ``missing`` [intervals],
        ``pct`` [%], ``status``, ``first_missing_utc``.

    Raises
    ------
    QualityError
        On a bad cadence, zone or table, or a window longer than :data:`MAX_COMPLETENESS_DAYS`.
    """
    from marketintel.quality import daily_completeness, read_series, split_series_label
    from marketintel.quality.checks import COMPLETENESS_TARGET_PCT, QualityError
    from marketintel.services.ingest import utc_instant

    start_utc, end_utc = utc_instant(start, "start"), utc_instant(end, "end")
    if end_utc - start_utc > pd.Timedelta(days=MAX_COMPLETENESS_DAYS):
        raise QualityError(
            f"window {start_utc} .. {end_utc} is longer than {MAX_COMPLETENESS_DAYS} days; narrow it"
        )
    place, variable = split_series_label(table, location)
    series = read_series(
        client, table=table, market=market, location=place, variable=variable, start_utc=start_utc,
        end_utc=end_utc, database=database,
    )  # fmt: skip
    until = None if expected_until is None else utc_instant(expected_until, "expected_until")
    return daily_completeness(
        series, cadence=cadence, tz=tz, start_utc=start_utc, end_utc=end_utc, expected_until_utc=until,
        target_pct=COMPLETENESS_TARGET_PCT if target_pct is None else target_pct,
    )  # fmt: skip


def latest_checks(
    client: Any, *, since: Any = None, database: str | None = None, limit: int = 1_000
) -> pd.DataFrame:
    """Return the latest result of each check of each series, the failures first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    since : str or pd.Timestamp, optional
        Only results checked at or after this instant. Default: all.
    database : str, optional
        Database of the tables; default the client's.
    limit : int
        Most rows [rows].

    Returns
    -------
    pd.DataFrame
        The columns of :func:`marketintel.services.queries.quality_results`, plus ``message`` (the
        finding in words, from ``details``); ordered fail, warn, pass, then newest first.
    """
    from marketintel.services.queries import quality_results

    frame = quality_results(client, start=since, latest_only=True, database=database, limit=limit)
    return _with_message(frame)


def _with_message(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["message"] = [finding(d) for d in out["details"]] if len(out) else pd.Series([], dtype=object)
    rank = out["status"].map({"fail": 0, "warn": 1, "pass": 2}).fillna(3)
    out = out.assign(_rank=rank).sort_values(
        ["_rank", "checked_at_utc"], ascending=[True, False], kind="stable"
    )
    return out.drop(columns="_rank").reset_index(drop=True)


def new_checks(client: Any, *, after: Any, database: str | None = None, limit: int = 1_000) -> pd.DataFrame:
    """Return the results checked strictly after ``after`` (what a live page has not shown yet), oldest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    after : pd.Timestamp
        The ``checked_at_utc`` of the newest result already shown [UTC].
    database : str, optional
        Database of the tables; default the client's.
    limit : int
        Most rows [rows].

    Returns
    -------
    pd.DataFrame
        As :func:`latest_checks` (with ``message``), ordered by ``checked_at_utc``.
    """
    from marketintel.services.ingest import utc_instant
    from marketintel.services.queries import quality_results

    since = utc_instant(after, "after") + pd.Timedelta(milliseconds=1)  # stored at millisecond precision
    frame = quality_results(client, start=since, database=database, limit=limit)
    out = frame.copy()
    out["message"] = [finding(d) for d in out["details"]] if len(out) else pd.Series([], dtype=object)
    return out.sort_values("checked_at_utc", kind="stable").reset_index(drop=True)


def finding(details: Any) -> str:
    """Return a check's finding in words from its ``details`` (JSON with a ``message``, or plain text)."""
    import json

    try:
        parsed = json.loads(str(details)) if details else {}
    except ValueError:
        return str(details)
    if not isinstance(parsed, dict):
        return str(parsed)
    if parsed.get("message"):
        return str(parsed["message"])
    return "; ".join(f"{k}: {v}" for k, v in parsed.items())


def check_details(details: Any) -> dict[str, Any]:
    """Return a check's ``details`` JSON as a dict (``{}`` when it is not a JSON object)."""
    import json

    try:
        parsed = json.loads(str(details)) if details else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def quarantined_with_preview(
    client: Any,
    *,
    since: Any = None,
    preview_bytes: int = PREVIEW_BYTES,
    database: str | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """Return the quarantined and partial payloads with the first bytes of each, newest first.

    Only the preview is read from the store, not whole payloads (which can be megabytes).

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    since : str or pd.Timestamp, optional
        Only payloads fetched at or after this instant. Default: all.
    preview_bytes : int
        How many leading bytes to return [bytes], 1 .. 65,536.
    database : str, optional
        Database of the tables; default the client's.
    limit : int
        Most payloads [rows].

    Returns
    -------
    pd.DataFrame
        The columns of :func:`marketintel.services.queries.quarantined_payloads` (without the body) plus
        ``preview`` (bytes: the first ``preview_bytes``), ``preview_text`` (those bytes as text, with
        undecodable bytes escaped; ``"(empty: 0 bytes)"`` for an empty payload) and ``preview_hex``
        (hex dump of the first 64 bytes).
    """
    from marketintel.services.queries import quarantined_payloads

    if not 1 <= int(preview_bytes) <= 65_536:
        raise ValueError(f"preview_bytes must be 1 .. 65536, got {preview_bytes}")
    listing = quarantined_payloads(client, since=since, database=database, limit=limit)
    if listing.empty:
        return listing.assign(preview=pd.Series([], dtype=object), preview_text=pd.Series([], dtype=object),
                              preview_hex=pd.Series([], dtype=object))  # fmt: skip
    heads = client.query_df(
        "SELECT source, dataset, sha256, substring(payload, 1, {n:UInt32}) AS preview"
        f" FROM {_database_prefix(database, 'raw_payloads')} FINAL"
        " WHERE sha256 IN {hashes:Array(String)}",
        parameters={"n": int(preview_bytes), "hashes": sorted(set(listing["sha256"].astype(str)))},
        column_formats={"preview": "bytes"},  # raw bytes, not text (a str would be hex when not UTF-8)
    )
    out = listing.merge(heads, on=["source", "dataset", "sha256"], how="left")
    previews = [_as_bytes(p) for p in out["preview"]]
    out["preview"] = pd.Series(previews, dtype=object, index=out.index)
    out["preview_text"] = [_preview_text(p, int(s)) for p, s in zip(previews, out["size_bytes"], strict=True)]
    out["preview_hex"] = [" ".join(f"{b:02x}" for b in p[:64]) for p in previews]
    return out


def _as_bytes(value: Any) -> bytes:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def _preview_text(head: bytes, size: int) -> str:
    if size == 0:
        return "(empty: 0 bytes)"
    text = head.decode("utf-8", "backslashreplace")
    more = f" ... ({size - len(head):,} more bytes)" if size > len(head) else ""
    return text + more
