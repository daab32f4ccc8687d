"""Run the data-quality checks of one series against the store and record the results.

:func:`run_checks` reads one series (a market and location of ``prices``, or a market, area and
variable of ``fundamentals``) for a window, runs the four checks of :mod:`marketintel.quality.checks`
and returns rows in the layout of the ``data_quality`` table. :func:`write_results` appends them to
``data_quality`` and raises an ``alerts`` row for every check that did not pass.

Reads are point-in-time at ``now_utc``: rows published later are invisible. Completeness, anomalies
and freshness see the latest publication of each interval (:func:`marketintel.store.read_asof`, the
same answer as ``FINAL`` plus "latest ``published_at_utc``"); the duplicate check reads every stored
row, because ``FINAL`` would hide exactly what it looks for.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from marketintel.quality.checks import (
    COMPLETENESS_TARGET_PCT,
    END,
    PUBLISHED,
    START,
    CheckResult,
    QualityError,
    Status,
    check_anomalies,
    check_completeness,
    check_duplicates,
    check_freshness,
    check_tz,
    parse_cadence,
    parse_lag,
)
from marketintel.store.asof import Range, read_asof
from marketintel.store.insert import insert_df
from marketintel.store.schema import INGESTED_AT, UTC_TIMESTAMP, qualified_name, quote_identifier
from marketintel.store.tables import ALERTS, DATA_QUALITY
from marketintel.timeutils import to_instant

#: Namespace of the deterministic alert ids (uuid5).
ALERT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "marketintel:data_quality:alerts")
ALERT_CATEGORY = "data_quality"
SEVERITY: Mapping[str, str] = {"fail": "critical", "warn": "warning"}
VALUE = "value"


@dataclass(frozen=True)
class SeriesTable:
    """How a store table holds series: its value column and the columns that pick one series."""

    name: str
    value_column: str
    location_column: str
    variable_column: str | None


#: Tables whose series can be checked.
SERIES_TABLES: Mapping[str, SeriesTable] = {
    "prices": SeriesTable("prices", "price", "location", None),
    "fundamentals": SeriesTable("fundamentals", "value", "area", "variable"),
}


def series_table(table: str) -> SeriesTable:
    """Return how ``table`` holds series.

    Raises
    ------
    QualityError
        If ``table`` is not one of :data:`SERIES_TABLES` (the message lists them).
    """
    try:
        return SERIES_TABLES[table]
    except KeyError:
        raise QualityError(
            f"cannot check series of table {table!r}; the checked tables are {sorted(SERIES_TABLES)}"
        ) from None


def _series_filter(spec: SeriesTable, market: str, location: str, variable: str) -> dict[str, Any]:
    where: dict[str, Any] = {"market": market}
    if spec.variable_column is None:
        if variable not in ("", spec.value_column):
            raise QualityError(
                f"table {spec.name!r} has one variable ({spec.value_column!r}); got variable={variable!r},"
                f" pass '' or {spec.value_column!r}"
            )
        where[spec.location_column] = location
        return where
    if not variable:
        raise QualityError(f"table {spec.name!r} holds many variables; pass variable=, e.g. 'load'")
    area, _, area_to = location.partition(">")
    where[spec.location_column] = area
    where["area_to"] = area_to
    where[spec.variable_column] = variable
    return where


def series_label(table: str, location: str, variable: str) -> str:
    """Return the ``location`` written to ``data_quality`` / ``alerts`` for a series.

    For ``prices`` it is the location; for ``fundamentals`` ``"<area>/<variable>"`` (flows
    ``"<area>><area_to>/<variable>"``), so that alerts of two variables of one area stay apart.
    """
    if series_table(table).variable_column is None or not variable:
        return location
    return f"{location}/{variable}"


# --------------------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------------------
def _read_latest(
    client: Any,
    spec: SeriesTable,
    where: dict[str, Any],
    start: pd.Timestamp,
    end: pd.Timestamp,
    now: pd.Timestamp,
    database: str | None,
) -> pd.DataFrame:
    frame = read_asof(
        client,
        spec.name,
        now,
        {**where, START: Range(start, end)},
        [START, END, PUBLISHED, spec.value_column],
        database=database,
        allow_empty=True,
    )
    return frame.rename(columns={spec.value_column: VALUE})


def split_series_label(table: str, label: str) -> tuple[str, str]:
    """Return ``(location, variable)`` of a series from the ``location`` of its ``data_quality`` rows.

    The inverse of :func:`series_label`: ``prices`` rows hold the location; ``fundamentals`` rows
    ``"<area>/<variable>"`` (flows ``"<area>><area_to>/<variable>"``).

    Raises
    ------
    QualityError
        If ``table`` is not a series table, or a fundamentals label has no ``/<variable>``.
    """
    if series_table(table).variable_column is None:
        return label, ""
    location, sep, variable = label.rpartition("/")
    if not sep or not variable:
        raise QualityError(f"fundamentals series label {label!r} must be '<area>/<variable>'")
    return location, variable


def read_series(
    client: Any,
    *,
    table: str,
    market: str,
    location: str,
    variable: str = "",
    start_utc: Any,
    end_utc: Any,
    now_utc: Any = None,
    database: str | None = None,
) -> pd.DataFrame:
    """Return the latest publication of each interval of one series in ``[start, end)``, as the checks see it.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    table, market, location, variable : str
        The series, as for :func:`run_checks`.
    start_utc, end_utc : pd.Timestamp
        The window of interval starts (tz-aware).
    now_utc : pd.Timestamp, optional
        Knowledge time: rows published later are invisible. Default: now.
    database : str, optional
        Database of the tables; default the client's.

    Returns
    -------
    pd.DataFrame
        ``interval_start_utc``, ``interval_end_utc``, ``published_at_utc`` (tz-aware UTC) and ``value``
        [unit of the series], possibly empty.
    """
    spec = series_table(table)
    where = _series_filter(spec, market, location, variable)
    start, end = _window_of(start_utc, end_utc)
    now = pd.Timestamp.now(tz="UTC") if now_utc is None else to_instant(now_utc, "now_utc")
    return _read_latest(client, spec, where, start, end, now, database)


def _window_of(start_utc: Any, end_utc: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = to_instant(start_utc, "start_utc")
    end = to_instant(end_utc, "end_utc")
    if end <= start:
        raise QualityError(f"end_utc {end} must be after start_utc {start}")
    return start, end


def _read_all(
    client: Any,
    spec: SeriesTable,
    where: dict[str, Any],
    start: pd.Timestamp,
    end: pd.Timestamp,
    now: pd.Timestamp,
    database: str | None,
) -> pd.DataFrame:
    """Every stored row of the series (no FINAL, no latest-version pick) published by ``now``."""
    conditions = [f"{quote_identifier(name)} = {{d{i}:String}}" for i, name in enumerate(where)]
    params: dict[str, Any] = {f"d{i}": value for i, value in enumerate(where.values())}
    conditions += [
        f"{quote_identifier(START)} >= {{start:{UTC_TIMESTAMP}}}",
        f"{quote_identifier(START)} < {{end:{UTC_TIMESTAMP}}}",
        f"{quote_identifier(PUBLISHED)} <= {{now:{UTC_TIMESTAMP}}}",
    ]
    params.update(start=start, end=end, now=now)
    columns = [START, END, PUBLISHED, INGESTED_AT]
    table = qualified_name(database, spec.name) if database else quote_identifier(spec.name)
    sql = (
        f"SELECT {', '.join(quote_identifier(c) for c in columns)},"
        f" {quote_identifier(spec.value_column)} AS {VALUE}"
        f" FROM {table} WHERE {' AND '.join(conditions)}"
        f" ORDER BY {quote_identifier(START)}, {quote_identifier(PUBLISHED)}, {quote_identifier(INGESTED_AT)}"
    )
    frame: pd.DataFrame = client.query_df(sql, parameters=params, tz_mode="schema")
    if len(frame):
        return frame
    empty = pd.Series(dtype="datetime64[ms, UTC]")
    return pd.DataFrame({c: empty for c in columns} | {VALUE: pd.Series(dtype="float64")})


# --------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """Return ``value`` with non-finite floats as None and timestamps as ISO strings (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _row(
    result: CheckResult,
    *,
    checked_at: pd.Timestamp,
    table: str,
    market: str,
    location: str,
    variable: str,
    run_id: str,
) -> dict[str, Any]:
    details = dict(result.details)
    if variable:
        details["variable"] = variable
    return {
        "checked_at_utc": checked_at,
        "check_name": result.check_name,
        "table_name": table,
        "market": market,
        "location": location,
        "window_start_utc": result.window_start_utc,
        "window_end_utc": result.window_end_utc,
        "status": result.status,
        "observed": result.observed,
        "threshold": result.threshold,
        "unit": result.unit,
        "details": json.dumps(_jsonable(details), sort_keys=True, allow_nan=False),
        "run_id": run_id,
    }


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return check rows as a frame with the columns and dtypes of ``data_quality``."""
    frame = pd.DataFrame(rows, columns=list(DATA_QUALITY.column_names))
    for name in ("checked_at_utc", "window_start_utc", "window_end_utc"):
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("ms")
    for name in ("observed", "threshold"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def run_checks(
    client: Any,
    *,
    table: str,
    market: str,
    location: str = "",
    variable: str = "",
    cadence: str,
    publication_lag: str = "0min",
    tz: str,
    start_utc: Any,
    end_utc: Any,
    now_utc: Any = None,
    floor: float | None = None,
    cap: float | None = None,
    run_id: str = "",
    completeness_target_pct: float = COMPLETENESS_TARGET_PCT,
    spike_window: str = "1D",
    flat_line: str | None = "6h",
    database: str | None = None,
) -> pd.DataFrame:
    """Read one series from the store and run freshness, completeness, duplicates and anomalies.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    table : {"prices", "fundamentals"}
        The table holding the series.
    market : str
        ``market`` of the series, e.g. ``"SPP_REAL_TIME_5MIN"``.
    location : str
        ``prices.location``, or ``fundamentals.area`` (a flow as ``"<area>><area_to>"``).
    variable : str
        ``fundamentals.variable`` (required there); '' for prices.
    cadence : str
        Interval length, e.g. ``"5min"``, ``"1h"``, ``"1D"`` (see
        :func:`~marketintel.quality.checks.parse_cadence`).
    publication_lag : str
        Signed time from an interval's end to its publication [time]; negative for day-ahead data.
    tz : str
        IANA zone of the market's delivery calendar (local days for completeness).
    start_utc, end_utc : pd.Timestamp
        The window ``[start, end)`` of interval starts (tz-aware).
    now_utc : pd.Timestamp, optional
        The instant the checks are made "at": rows published later are invisible, and completeness only
        expects intervals ending by ``now - publication_lag - cadence``. Default: the current time.
    floor, cap : float, optional
        Override the market's default price floor / cap [unit of the values].
    run_id : str
        Identifier of the run, written with the rows.
    completeness_target_pct : float
        Completeness target [%].
    spike_window : str
        Width of the centred window of the spike test [time].
    flat_line : str or None
        Shortest flat line [time]; None disables (e.g. for solar generation, flat at 0 each night).
    database : str, optional
        Database of the tables; default the client's.

    Returns
    -------
    pd.DataFrame
        Four rows (freshness, completeness, duplicates, anomalies) in the ``data_quality`` layout;
        ``details`` is a JSON string. An empty series gives four ``fail`` rows ("no data").

    Raises
    ------
    QualityError
        On an unknown table, a bad cadence, lag or time zone, or a window that ends before it starts.
    NaiveTimestampError
        If a timestamp argument is naive.
    """
    spec = series_table(table)
    where = _series_filter(spec, market, location, variable)
    length = parse_cadence(cadence)
    lag = parse_lag(publication_lag)
    check_tz(tz)
    start = to_instant(start_utc, "start_utc")
    end = to_instant(end_utc, "end_utc")
    if end <= start:
        raise QualityError(f"end_utc {end} must be after start_utc {start}")
    checked_at = pd.Timestamp.now(tz="UTC").floor("ms")
    now = checked_at if now_utc is None else to_instant(now_utc, "now_utc")

    latest = _read_latest(client, spec, where, start, end, now, database)
    every = _read_all(client, spec, where, start, end, now, database)
    results = [
        check_freshness(
            latest,
            now_utc=now,
            cadence=cadence,
            publication_lag=publication_lag,
            start_utc=start,
            end_utc=end,
        ),
        check_completeness(
            latest,
            cadence=cadence,
            tz=tz,
            expected_until_utc=now - lag - length,
            target_pct=completeness_target_pct,
            start_utc=start,
            end_utc=end,
        ),
        # Identical re-ingests are by design (ReplacingMergeTree collapses them on merge): warn only.
        check_duplicates(every, value_column=VALUE, exact_status="warn", start_utc=start, end_utc=end),
        check_anomalies(
            latest,
            value_column=VALUE,
            market=market,
            floor=floor,
            cap=cap,
            use_market_limits=spec.name == "prices",
            spike_window=spike_window,
            flat_line=flat_line,
            start_utc=start,
            end_utc=end,
        ),
    ]
    label = series_label(table, location, variable)
    rows = [
        _row(
            r,
            checked_at=checked_at,
            table=table,
            market=market,
            location=label,
            variable=variable,
            run_id=run_id,
        )
        for r in results
    ]
    return results_frame(rows)


# --------------------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------------------
def alert_id(table: str, market: str, location: str, check_name: str, window_end_utc: Any) -> str:
    """Return the deterministic id of the alert of one check, series and window end (uuid5).

    Re-running a check on the same window updates the same alert (the latest ``updated_at_utc`` wins).
    """
    end = to_instant(window_end_utc, "window_end_utc")
    key = "/".join([table, market, location, check_name, end.isoformat()])
    return str(uuid.uuid5(ALERT_NAMESPACE, key))


def _number(value: float) -> str:
    text = f"{round(value, 1):.1f}"
    return text.removesuffix(".0")


def alert_title(row: Mapping[str, Any] | pd.Series) -> str:
    """Return a one-line alert title of a ``data_quality`` row.

    E.g. ``"SPP_REAL_TIME_5MIN SPPNORTH_HUB: completeness 97.9 % < 99.5 %"``.
    """
    series = " ".join(part for part in (str(row["market"]), str(row["location"])) if part)
    check = str(row["check_name"])
    observed, threshold, unit = row["observed"], row["threshold"], str(row["unit"])
    if observed is None or pd.isna(observed):
        reason = json.loads(str(row["details"]) or "{}").get("reason", "nothing measured")
        return f"{series}: {check} {reason}"
    comparison = "<" if check == "completeness" else ">"
    suffix = f" {unit}" if unit else ""
    if threshold is None or pd.isna(threshold):
        return f"{series}: {check} {_number(float(observed))}{suffix}"
    return (
        f"{series}: {check} {_number(float(observed))}{suffix} {comparison}"
        f" {_number(float(threshold))}{suffix}"
    )


def alerts_frame(results: pd.DataFrame, *, run_id: str = "") -> pd.DataFrame:
    """Return one ``alerts`` row per result that did not pass (fail -> critical, warn -> warning).

    Parameters
    ----------
    results : pd.DataFrame
        Rows in the ``data_quality`` layout (:func:`run_checks`).
    run_id : str
        Run id for rows whose own ``run_id`` is empty.
    """
    raised = results[results["status"].isin(list(SEVERITY))]
    rows = []
    for _, row in raised.iterrows():
        status: Status = row["status"]
        details = json.loads(str(row["details"]) or "{}")
        rows.append(
            {
                "alert_id": alert_id(
                    row["table_name"],
                    row["market"],
                    row["location"],
                    row["check_name"],
                    row["window_end_utc"],
                ),
                "category": ALERT_CATEGORY,
                "severity": SEVERITY[status],
                "raised_at_utc": row["checked_at_utc"],
                "table_name": row["table_name"],
                "market": row["market"],
                "location": row["location"],
                "title": alert_title(row),
                "message": str(details.get("message", "")),
                "status": "open",
                "run_id": row["run_id"] or run_id,
                "updated_at_utc": row["checked_at_utc"],
            }
        )
    frame = pd.DataFrame(rows, columns=list(ALERTS.column_names))
    for name in ("raised_at_utc", "updated_at_utc"):
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.as_unit("ms")
    return frame


def write_results(
    client: Any, results: pd.DataFrame, *, run_id: str = "", database: str | None = None
) -> tuple[int, int]:
    """Append check results to ``data_quality`` and raise an alert per check that did not pass.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    results : pd.DataFrame
        Rows in the ``data_quality`` layout (:func:`run_checks`).
    run_id : str
        Run id for rows whose own ``run_id`` is empty.
    database : str, optional
        Database of the tables; default the client's.

    Returns
    -------
    tuple of int
        Rows written to ``data_quality`` and to ``alerts``.

    Raises
    ------
    QualityError
        If ``results`` lacks columns of ``data_quality``.
    """
    missing = [c for c in DATA_QUALITY.column_names if c not in results.columns]
    if missing:
        raise QualityError(f"results lack data_quality columns {missing}; pass the frame run_checks returns")
    frame = results.loc[:, list(DATA_QUALITY.column_names)].copy()
    frame["run_id"] = frame["run_id"].where(frame["run_id"].astype(str) != "", run_id)
    if not len(frame):
        return 0, 0
    written = insert_df(client, DATA_QUALITY.name, frame, database=database)
    alerts = alerts_frame(frame, run_id=run_id)
    raised = insert_df(client, ALERTS.name, alerts, database=database) if len(alerts) else 0
    return written, raised
