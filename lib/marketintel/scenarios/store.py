"""Scenarios in the store: versioned assumptions, tracked runs (``scenario_runs``) and their output curves.

An assumption is append-only: writing a name again adds version ``max + 1``; a scenario refers to
``name@N`` or to the latest version, resolved when it runs and recorded with the run. A scenario's output
curves are ``curves`` rows tagged ``scenario = <scenario name>`` with a ``curve_runs`` row of that scenario
(``method = 'scenario'``), so :func:`marketintel.services.queries.curve_versions` lists them like builds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marketintel.exceptions import MarketIntelError
from marketintel.scenarios.errors import ScenarioError, UnknownNameError
from marketintel.store import insert_df

#: an assumption's name: what the language accepts as a name
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Assumption:
    """One version of a named assumption.

    Attributes
    ----------
    name : str
        Its name.
    version : int
        1, 2, ...
    kind : str
        ``scalar`` or ``series``.
    value : float or None
        The scalar [unit].
    points : pd.Series or None
        The series by date (a step path: each value holds from its date to the next point's) [unit].
    unit, description : str
        What the value is measured in, and what it is.
    """

    name: str
    version: int
    kind: str
    value: float | None
    points: pd.Series | None
    unit: str = ""
    description: str = ""

    def on_dates(self, dates: np.ndarray) -> float | np.ndarray:
        """Return the scalar, or the series' value on each date (the last point on or before it) [unit].

        Raises
        ------
        MarketIntelError
            When a date is before the series' first point (the message gives the series' span).
        """
        if self.kind == "scalar" or self.points is None:
            return float(self.value if self.value is not None else np.nan)
        days = np.asarray(dates, dtype="datetime64[D]")
        index = np.asarray(pd.DatetimeIndex(self.points.index).values, dtype="datetime64[D]")
        where = np.searchsorted(index, days, side="right") - 1
        if len(days) and (where < 0).any():
            first = days[where < 0][0]
            raise MarketIntelError(
                f"assumption {self.name}@{self.version} starts on {index[0]} but the curve needs it from "
                f"{first}; its points span {index[0]} .. {index[-1]} (each holds until the next)"
            )
        values: np.ndarray = self.points.to_numpy(dtype=float)[where]
        return values


def _points_json(points: pd.Series) -> str:
    index = pd.DatetimeIndex(pd.to_datetime(points.index))
    return json.dumps(
        [[d.strftime("%Y-%m-%d"), float(v)] for d, v in zip(index, points.to_numpy(float), strict=True)]
    )


def write_assumption(
    client: Any,
    name: str,
    *,
    value: float | None = None,
    points: pd.Series | None = None,
    unit: str = "",
    description: str = "",
    user: str = "",
) -> int:
    """Store a new version of an assumption; return the version.

    Raises
    ------
    MarketIntelError
        On a bad name, neither or both of ``value``/``points``, a non-finite value, or points that are not
        one per date in date order.
    """
    if not NAME_PATTERN.fullmatch(name or "") or name in ("base", "scenario"):
        raise MarketIntelError(
            f"assumption name {name!r}: use letters, digits and _ (not starting with a digit), and not "
            "'base' or 'scenario' (the curves' names in a scenario)"
        )
    if (value is None) == (points is None):
        raise MarketIntelError(f"assumption {name}: give a value or points (a series by date), exactly one")
    text = ""
    if points is not None:
        if points.empty:
            raise MarketIntelError(f"assumption {name}: the series has no points")
        index = pd.DatetimeIndex(pd.to_datetime(points.index))
        if index.has_duplicates or not index.is_monotonic_increasing:
            raise MarketIntelError(f"assumption {name}: the points must be one per date, in date order")
        if not np.isfinite(points.to_numpy(dtype=float)).all():
            raise MarketIntelError(f"assumption {name}: every point must be a finite number")
        text = _points_json(points)
    elif not np.isfinite(float(value)):  # type: ignore[arg-type]
        raise MarketIntelError(f"assumption {name}: the value must be a finite number, got {value}")
    version = latest_version(client, name) + 1
    frame = pd.DataFrame(
        {
            "name": [name],
            "version": [np.uint32(version)],
            "kind": ["scalar" if points is None else "series"],
            "value": [None if value is None else float(value)],
            "points": [text],
            "unit": [unit],
            "description": [description],
            "created_by": [user],
            "created_at_utc": [pd.Timestamp.now(tz="UTC")],
        }
    )
    insert_df(client, "assumptions", frame)
    return version


def latest_version(client: Any, name: str) -> int:
    """Return the latest version of assumption ``name`` (0 when there is none)."""
    rows = client.query(
        "SELECT max(version), count() FROM assumptions FINAL WHERE name = {n:String}", parameters={"n": name}
    ).result_rows
    return int(rows[0][0]) if rows and rows[0][1] else 0


def read_assumptions(client: Any) -> pd.DataFrame:
    """Return every version of every assumption: name, version, kind, value, points, unit, ... ."""
    frame: pd.DataFrame = client.query_df(
        "SELECT name, version, kind, value, points, unit, description, created_by, created_at_utc "
        "FROM assumptions FINAL ORDER BY name, version DESC"
    )
    return frame


def resolve_assumption(
    client: Any, name: str, version: int | None, line: int = 0, column: int = 0
) -> Assumption:
    """Return assumption ``name`` at ``version`` (None: the latest).

    Raises
    ------
    UnknownNameError
        When no assumption has that name (the message lists those that exist, closest first).
    ScenarioError
        When the name has no such version (the message lists its versions).
    """
    frame: pd.DataFrame = client.query_df(
        "SELECT name, version, kind, value, points, unit, description FROM assumptions FINAL "
        "WHERE name = {n:String} ORDER BY version",
        parameters={"n": name},
    )
    if frame.empty:
        known = [str(r[0]) for r in client.query("SELECT DISTINCT name FROM assumptions FINAL").result_rows]
        raise UnknownNameError("assumption", name, known, line, column, where="the store has")
    if version is None:
        row = frame.iloc[-1]
    else:
        match = frame[frame["version"].astype(int) == int(version)]
        if match.empty:
            have = ", ".join(f"@{int(v)}" for v in frame["version"])
            raise ScenarioError(f"assumption {name} has no version {version}; it has {have}", line, column)
        row = match.iloc[0]
    points = None
    if row["kind"] == "series":
        pairs = json.loads(row["points"] or "[]")
        points = pd.Series(
            [float(v) for _, v in pairs],
            index=pd.DatetimeIndex([d for d, _ in pairs]),
            name=name,
            dtype=float,
        )
    value = row["value"]
    return Assumption(
        name=name,
        version=int(row["version"]),
        kind=str(row["kind"]),
        value=None if value is None or pd.isna(value) else float(value),
        points=points,
        unit=str(row["unit"]),
        description=str(row["description"]),
    )


# --------------------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------------------
def record_scenario_run(client: Any, **row: Any) -> None:
    """Insert one ``scenario_runs`` row (a new run or a status update of one: the latest update wins)."""
    frame = pd.DataFrame({k: [v] for k, v in row.items()})
    frame["updated_at_utc"] = pd.Timestamp.now(tz="UTC")
    for column in ("output_version",):
        if column in frame:
            frame[column] = frame[column].astype(np.uint32)
    insert_df(client, "scenario_runs", frame)


def reusable_run(client: Any, scenario: str, inputs_sha256: str) -> dict[str, Any] | None:
    """Return the latest successful run of ``scenario`` with these inputs (``ok``), or None."""
    frame: pd.DataFrame = client.query_df(
        "SELECT run_id, output_curve, output_version, started_at_utc FROM scenario_runs FINAL "
        "WHERE scenario = {s:String} AND inputs_sha256 = {h:String} AND status = 'ok' "
        "ORDER BY started_at_utc DESC LIMIT 1",
        parameters={"s": scenario, "h": inputs_sha256},
    )
    return None if frame.empty else dict(frame.iloc[0])


def write_scenario_curve(
    client: Any,
    points: pd.DataFrame,
    *,
    curve_name: str,
    scenario: str,
    as_of_utc: pd.Timestamp,
    currency: str,
    unit: str,
    run_id: str,
    parameters: dict[str, Any],
    inputs_sha256: str,
    started_at_utc: pd.Timestamp,
) -> int:
    """Store a scenario's output curve as a new version of ``(curve_name, scenario, as_of_utc)``.

    Parameters
    ----------
    client : clickhouse_connect.driver.Client
        The store.
    points : pd.DataFrame
        ``delivery_start_utc, delivery_end_utc, value`` [UTC], [unit].
    curve_name, scenario : str
        ``curves.curve_name`` and ``curves.scenario`` (the scenario's name).
    as_of_utc : pd.Timestamp
        The base's information cutoff [UTC].
    currency, unit : str
        Of the values.
    run_id : str
        ``scenario_runs.run_id`` (also ``curves.run_id`` and ``curve_runs.run_id``).
    parameters : dict
        Recorded as ``curve_runs.parameters`` (base lineage, contracts, requotes).
    inputs_sha256 : str
        The run's inputs hash (``curve_runs.input_sha256``).
    started_at_utc : pd.Timestamp
        When the run started [UTC].

    Returns
    -------
    int
        The version written.
    """
    from marketintel.curves.store import code_version, next_version

    as_of = pd.Timestamp(as_of_utc).tz_convert("UTC")
    version = next_version(client, curve_name, scenario, as_of)
    now = pd.Timestamp.now(tz="UTC")
    frame = pd.DataFrame(
        {
            "curve_name": curve_name,
            "scenario": scenario,
            "as_of_utc": as_of,
            "version": np.uint32(version),
            "delivery_start_utc": pd.DatetimeIndex(points["delivery_start_utc"]).tz_convert("UTC"),
            "delivery_end_utc": pd.DatetimeIndex(points["delivery_end_utc"]).tz_convert("UTC"),
            "value": points["value"].to_numpy(dtype=float),
            "currency": currency,
            "unit": unit,
            "run_id": run_id,
            "published_at_utc": now,
        }
    )
    insert_df(client, "curves", frame)
    run = pd.DataFrame(
        {
            "curve_name": [curve_name],
            "scenario": [scenario],
            "as_of_utc": [as_of],
            "run_id": [run_id],
            "version": [np.uint32(version)],
            "method": ["scenario"],
            "parameters": [json.dumps(parameters, sort_keys=True, default=str)],
            "input_quotes": [np.uint32(len(parameters.get("contracts") or []))],
            "input_sha256": [inputs_sha256],
            "max_reprice_error": [None],
            "status": ["ok"],
            "message": [""],
            "code_version": [code_version()],
            "started_at_utc": [started_at_utc],
            "finished_at_utc": [now],
            "published_at_utc": [now],
        }
    )
    insert_df(client, "curve_runs", run)
    return version
