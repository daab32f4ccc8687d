"""Scenarios for every front end: check a scenario's text, run it (tracked), compare runs, assumptions.

A scenario is short text in the language of :mod:`marketintel.scenarios` (a base curve, shifts, requotes,
assumptions, derived series). :func:`run` evaluates it and records the run in ``scenario_runs`` with the
text's hash, the assumptions' versions, the base's lineage and the code version; its output curves are
stored in ``curves`` tagged with the scenario's name, and a rerun of the same inputs is recognised
(``reused``: nothing new is stored, the earlier run's output is named).

The CLI (``mi scenario ...``), notebooks, the ``scenarios`` dashboard page and the scenario flow call these
functions and hold no SQL or model code of their own.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from marketintel.exceptions import MarketIntelError

__all__ = [
    "CheckResult",
    "DSLError",
    "ScenarioResult",
    "assumptions",
    "check",
    "compare",
    "run",
    "runs",
    "set_assumption",
]


@dataclass(frozen=True)
class DSLError:
    """An error in a scenario's text.

    Attributes
    ----------
    line, column : int
        1-based position (0: the scenario as a whole).
    message : str
        What is wrong and what would be right (without the position).
    """

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found.

    Attributes
    ----------
    ok : bool
        True when the text can be run (no error).
    scenario : str
        The scenario's name ('' when the text does not parse or names none).
    errors : list of DSLError
        Every error found, in text order (the grammar stops at the first syntax error).
    statements : list of str
        Each statement in words, ``line N: ...`` (empty when the text does not parse).
    """

    ok: bool
    scenario: str
    errors: list[DSLError]
    statements: list[str]


@dataclass(frozen=True)
class ScenarioResult:
    """A scenario run and what it produced.

    Attributes
    ----------
    run_id : str
        ``scenario_runs.run_id`` of this run.
    scenario : str
        The scenario's name.
    status : str
        ``ok``, or ``reused`` when an earlier run had the same inputs.
    reused : bool
        ``status == "reused"``: nothing new was stored; ``message`` names the earlier run.
    base, result : pd.DataFrame
        The base and the scenario curve: ``delivery_start_utc, delivery_end_utc`` [UTC], ``date`` (local
        delivery date), ``value`` [unit].
    comparison : pd.DataFrame
        Contract by contract: ``contract, delivery_start, delivery_end`` (local dates, inclusive),
        ``base_price, scenario_price`` (each curve's average over the contract), ``difference`` (scenario -
        base), plus ``profile``, ``quote`` (the base's) and ``requote`` (the new quote, NaN where none)
        [unit].
    derived : dict of str to pd.DataFrame
        Each ``derive`` series, as ``result`` [its unit].
    message : str
        Where the outputs were stored (or which run is reused) and any warnings.
    duration_s : float
        How long the run took [s].
    curve_name : str
        ``curves.curve_name`` of the scenario curve (the base's).
    output_version : int
        ``curves.version`` of the scenario curve (the earlier run's when reused).
    unit : str
        Of the base and scenario curves.
    """

    run_id: str
    scenario: str
    status: str
    reused: bool
    base: pd.DataFrame
    result: pd.DataFrame
    comparison: pd.DataFrame
    derived: dict[str, pd.DataFrame]
    message: str
    duration_s: float
    curve_name: str = ""
    output_version: int = 0
    unit: str = ""
    warnings: list[str] = field(default_factory=list)


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from marketintel.services.store import ensure_store

    return ensure_store().client


def _as_dsl(error: Exception) -> DSLError:
    from marketintel.scenarios.errors import ScenarioError

    if isinstance(error, ScenarioError):
        return DSLError(error.line, error.column, error.detail)
    return DSLError(0, 0, str(error))


# --------------------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------------------
def check(text: str, client: Any = None) -> CheckResult:
    """Check a scenario's text: grammar, meaning and, with a store client, the names it refers to.

    Parameters
    ----------
    text : str
        The scenario.
    client : clickhouse_connect.driver.Client, optional
        The store: when given, the base curve (and its build at the date), the assumptions (and their
        versions) and the requoted contracts are looked up too. Quotes files are read either way
        (relative names from the working directory).

    Returns
    -------
    CheckResult
        ``ok`` with the statements in words, or the errors with their lines and columns.
    """
    from marketintel.scenarios.errors import ScenarioError
    from marketintel.scenarios.language import BaseQuotes, describe, parse, validate

    try:
        spec = parse(text)
    except ScenarioError as exc:
        return CheckResult(False, "", [_as_dsl(exc)], [])
    errors: list[Exception] = list(validate(spec))
    statements = [describe(s) for s in spec.statements]
    if not errors:
        errors += (
            _check_names(spec, client) if (client is not None or isinstance(spec.base, BaseQuotes)) else []
        )
    found = sorted((_as_dsl(e) for e in errors), key=lambda e: (e.line, e.column))
    return CheckResult(not found, spec.name, found, statements)


def _check_names(spec: Any, client: Any) -> list[Exception]:
    """Return the errors of names against the store (curve, assumptions) and the base's contracts."""
    from marketintel.scenarios.engine import resolve_base
    from marketintel.scenarios.errors import ScenarioError, UnknownNameError
    from marketintel.scenarios.language import BaseCurve
    from marketintel.scenarios.store import resolve_assumption

    errors: list[Exception] = []
    if client is not None:
        for use in spec.uses:
            try:
                resolve_assumption(client, use.name, use.version, use.line, use.column)
            except ScenarioError as exc:
                errors.append(exc)
    if spec.base is None or (isinstance(spec.base, BaseCurve) and client is None):
        return errors
    try:
        if isinstance(spec.base, BaseCurve):
            known = list(resolve_base(spec.base, client).contracts["contract"])
        else:  # a quotes file: read it, without building the curve
            known = _quotes_contracts(spec.base)
    except ScenarioError as exc:
        return [*errors, exc]
    for rq in spec.requotes:
        if rq.contract not in known:
            errors.append(
                UnknownNameError(
                    "contract", rq.contract, known, rq.line, rq.contract_column, where="the base quotes"
                )
            )
    return errors


def _quotes_contracts(statement: Any) -> list[str]:
    from marketintel.calendars import read_contracts_csv
    from marketintel.scenarios.engine import choose_calendar
    from marketintel.scenarios.errors import ScenarioError

    path = Path(statement.path)
    if not path.is_file():
        raise ScenarioError(
            f"quotes file {statement.path!r} not found (looked for {path.resolve()})",
            statement.line,
            statement.column,
        )
    try:
        contracts = read_contracts_csv(path, choose_calendar(statement))
    except ValueError as exc:
        raise ScenarioError(
            f"quotes file {statement.path}: {exc}", statement.line, statement.column
        ) from None
    return [c.name for c in contracts]


def _first_error(text: str) -> Any:
    """Return the parsed scenario, or raise its first error (syntax, then meaning)."""
    from marketintel.scenarios.language import parse, validate

    spec = parse(text)
    errors = validate(spec)
    if errors:
        raise errors[0]
    return spec


# --------------------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------------------
def inputs_sha256(text: str, versions: dict[str, int], lineage: dict[str, Any], code_version: str) -> str:
    """Return the sha256 of everything a run's result depends on: the ``scenario_runs.inputs_sha256``.

    That is the text, the assumptions' versions, the base's identity (stored build, or quotes and shape
    files' sha256 and the build's inputs) and the code version.
    """
    identity = {
        k: lineage.get(k)
        for k in (
            "kind",
            "curve_name",
            "version",
            "run_id",
            "input_sha256",
            "file_sha256",
            "shape_sha256",
            "as_of_utc",
        )
    }
    payload = {"text": text, "assumptions": versions, "base": identity, "code_version": code_version}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run(
    text: str,
    *,
    client: Any = None,
    user: str = "",
    out_csv: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run a scenario: evaluate it, store its output curves and record the run.

    Parameters
    ----------
    text : str
        The scenario (grammar: :mod:`marketintel.scenarios`); relative file names are read from the
        working directory.
    client : clickhouse_connect.driver.Client, optional
        The store (default: :func:`~marketintel.services.store.ensure_store`).
    user : str
        Who runs it (``scenario_runs.created_by``).
    out_csv : Path, optional
        Also write ``delivery_start_utc, delivery_end_utc, date, base, scenario`` and one column per derived
        series here.
    progress : callable, optional
        Receives a line per step.

    Returns
    -------
    ScenarioResult
        The curves, the comparison and where they were stored; ``reused`` when an earlier run of the same
        inputs (same ``inputs_sha256``) already stored them.

    Raises
    ------
    ScenarioSyntaxError
        On text that does not follow the grammar (nothing is recorded).
    ScenarioError
        On an error of meaning or an unknown name (line, column; a run that got as far as the store is
        recorded as ``failed``).
    InconsistentContractsError
        When requoted contracts contradict the others (recorded as ``failed``).
    """
    from marketintel.curves.store import code_version
    from marketintel.scenarios.engine import evaluate, resolve_base
    from marketintel.scenarios.store import record_scenario_run, resolve_assumption, reusable_run

    say = progress or (lambda _line: None)
    t0 = time.perf_counter()
    started = pd.Timestamp.now(tz="UTC")
    spec = _first_error(text)
    db = _client(client)
    run_id = str(uuid.uuid4())
    text_sha = hashlib.sha256(text.encode()).hexdigest()
    row: dict[str, Any] = {
        "run_id": run_id,
        "scenario": spec.name,
        "text": text,
        "text_sha256": text_sha,
        "code_version": code_version(),
        "status": "running",
        "created_by": user,
        "started_at_utc": started,
        "finished_at_utc": None,
        "duration_s": None,
    }
    record_scenario_run(db, **row)
    say(f"scenario {spec.name!r}: run {run_id}")
    try:
        used = {u.name: resolve_assumption(db, u.name, u.version, u.line, u.column) for u in spec.uses}
        versions = {name: a.version for name, a in used.items()}
        if used:
            say("assumptions: " + ", ".join(f"{n}@{v}" for n, v in versions.items()))
        base = resolve_base(spec.base, db, say=say)
        outcome = evaluate(spec, base, used, say)
        digest = inputs_sha256(text, versions, base.lineage, code_version())
        row.update(inputs_sha256=digest, assumptions=json.dumps(versions, sort_keys=True))
        earlier = reusable_run(db, spec.name, digest)
        if earlier is not None:
            status, version = "reused", int(earlier["output_version"])
            message = (
                f"same inputs as run {earlier['run_id']} of {earlier['started_at_utc']:%Y-%m-%d %H:%M} UTC: "
                f"its output {earlier['output_curve']} version {version} (scenario {spec.name!r}) stands"
            )
            row["base_lineage"] = json.dumps(base.lineage, sort_keys=True, default=str)
        else:
            status = "ok"
            version, message = _store_outputs(db, spec, base, outcome, run_id, digest, started, say)
            row["base_lineage"] = json.dumps(base.lineage, sort_keys=True, default=str)
        message = "; ".join([message, *outcome.warnings])
    except Exception as exc:
        elapsed = time.perf_counter() - t0
        record_scenario_run(
            db,
            **{
                **row,
                "status": "failed",
                "message": str(exc),
                "finished_at_utc": pd.Timestamp.now(tz="UTC"),
                "duration_s": elapsed,
            },
        )
        raise
    elapsed = time.perf_counter() - t0
    record_scenario_run(
        db,
        **{
            **row,
            "status": status,
            "message": message,
            "output_curve": base.curve_name,
            "output_version": version,
            "finished_at_utc": pd.Timestamp.now(tz="UTC"),
            "duration_s": elapsed,
        },
    )
    say(message)
    if out_csv is not None:
        _write_csv(Path(out_csv), base.points, outcome.result, outcome.derived)
        say(f"{len(outcome.result):,} rows written to {out_csv}")
    return ScenarioResult(
        run_id=run_id,
        scenario=spec.name,
        status=status,
        reused=status == "reused",
        base=base.points,
        result=outcome.result,
        comparison=outcome.comparison,
        derived=outcome.derived,
        message=message,
        duration_s=elapsed,
        curve_name=base.curve_name,
        output_version=version,
        unit=base.unit,
        warnings=outcome.warnings,
    )


def _store_outputs(
    db: Any,
    spec: Any,
    base: Any,
    outcome: Any,
    run_id: str,
    digest: str,
    started: pd.Timestamp,
    say: Callable[[str], None],
) -> tuple[int, str]:
    """Store the base (a quotes file's build, once per inputs), the scenario curve and the derived series."""
    from marketintel.curves.store import write_build
    from marketintel.scenarios.store import write_scenario_curve

    if base.build is not None:  # a base built from a quotes file: stored once per build inputs
        found = db.query(
            "SELECT version, run_id FROM curve_runs FINAL "
            "WHERE curve_name = {c:String} AND scenario = 'base' "
            "AND status = 'ok' AND as_of_utc = {t:DateTime64(3, 'UTC')} AND input_sha256 = {h:String} "
            "ORDER BY version DESC LIMIT 1",
            parameters={
                "c": base.curve_name,
                "t": base.as_of_utc.tz_localize(None),
                "h": base.build.input_sha256,
            },
        ).result_rows
        if found:
            base.lineage.update(version=int(found[0][0]), run_id=str(found[0][1]))
        else:
            rid, v, _ = write_build(
                db,
                base.build,
                base.curve_name,
                base.as_of_utc,
                currency=base.currency,
                unit=base.unit,
                started_at_utc=started,
            )
            base.lineage.update(version=v, run_id=rid)
            say(f"base stored as {base.curve_name} version {v} (scenario 'base')")
        base.lineage["as_of_utc"] = str(base.as_of_utc)
    contracts = [
        {
            "contract": r.contract,
            "profile": r.profile,
            "start": str(r.start),
            "end": str(r.end),
            "quote": r.quote,
        }
        for r in base.contracts.itertuples(index=False)
    ]
    parameters = {
        "scenario": spec.name,
        "base": base.lineage,
        "calendar": base.calendar.name,
        "tz": base.calendar.tz,
        "granularity": base.granularity,
        "weights": base.weights,
        "contracts": contracts,
        "requotes": outcome.requotes,
    }
    common = {
        "scenario": spec.name,
        "as_of_utc": base.as_of_utc,
        "currency": base.currency,
        "run_id": run_id,
        "inputs_sha256": digest,
        "started_at_utc": started,
    }
    version = write_scenario_curve(
        db, outcome.result, curve_name=base.curve_name, unit=base.unit, parameters=parameters, **common
    )
    stored = [f"{base.curve_name} version {version}"]
    for derive in spec.derives:
        name = derive.name.upper()
        v = write_scenario_curve(
            db,
            outcome.derived[derive.name],
            curve_name=name,
            unit=derive.unit or base.unit,
            parameters={**parameters, "derive": derive.expr.text()},
            **common,
        )
        stored.append(f"{name} version {v}")
    return (
        version,
        f"stored {', '.join(stored)} as scenario {spec.name!r} as of {base.as_of_utc:%Y-%m-%d %H:%M} UTC",
    )


def _write_csv(
    path: Path, base: pd.DataFrame, result: pd.DataFrame, derived: dict[str, pd.DataFrame]
) -> None:
    frame = result[["delivery_start_utc", "delivery_end_utc", "date"]].copy()
    frame["base"] = base["value"].to_numpy()
    frame["scenario"] = result["value"].to_numpy()
    for name, series in derived.items():
        frame[name] = series["value"].to_numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


# --------------------------------------------------------------------------------------------------------
# runs, compare, assumptions
# --------------------------------------------------------------------------------------------------------
_RUN_COLUMNS = [
    "run_id",
    "scenario",
    "status",
    "started_at_utc",
    "duration_s",
    "output_curve",
    "output_version",
    "assumptions",
    "text_sha256",
    "inputs_sha256",
    "code_version",
    "created_by",
    "message",
]


def runs(client: Any, scenario: str | None = None) -> pd.DataFrame:
    """Return the tracked runs (latest status of each), newest first.

    Parameters
    ----------
    client : clickhouse_connect.driver.Client
        The store.
    scenario : str, optional
        Only this scenario's runs.

    Returns
    -------
    pd.DataFrame
        ``run_id, scenario, status, started_at_utc`` [UTC], ``duration_s`` [s], ``output_curve,
        output_version, assumptions`` (JSON {name: version}), ``text_sha256, inputs_sha256, code_version,
        created_by, message``. Empty (with these columns) when there is none.
    """
    where = "WHERE scenario = {s:String}" if scenario else ""
    frame: pd.DataFrame = client.query_df(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM scenario_runs FINAL {where} "
        "ORDER BY started_at_utc DESC, run_id",
        parameters={"s": scenario} if scenario else None,
    )
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _RUN_COLUMNS})
    return frame[_RUN_COLUMNS].reset_index(drop=True)


def _stored_run(client: Any, run_id: str) -> dict[str, Any]:
    frame: pd.DataFrame = client.query_df(
        "SELECT run_id, scenario, status, output_curve, output_version, base_lineage "
        "FROM scenario_runs FINAL "
        "WHERE run_id = {r:String}",
        parameters={"r": run_id},
    )
    if frame.empty:
        recent = [str(r) for r in runs(client)["run_id"].head(10)]
        raise MarketIntelError(f"no scenario run {run_id!r}; the latest are: {', '.join(recent) or 'none'}")
    row = dict(frame.iloc[0])
    if row["status"] not in ("ok", "reused") or not row["output_curve"]:
        raise MarketIntelError(f"scenario run {run_id} is {row['status']}: it stored no curve to compare")
    return row


def _run_curve(client: Any, row: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return a stored run's scenario curve and the parameters recorded with it."""
    from marketintel.scenarios.engine import points_frame
    from marketintel.services.queries import curve_points

    params_rows = client.query(
        "SELECT parameters, as_of_utc FROM curve_runs FINAL "
        "WHERE curve_name = {c:String} AND scenario = {s:String} "
        "AND version = {v:UInt32} AND method = 'scenario' ORDER BY as_of_utc DESC LIMIT 1",
        parameters={"c": row["output_curve"], "s": row["scenario"], "v": int(row["output_version"])},
    ).result_rows
    parameters = json.loads(params_rows[0][0])
    cutoff = pd.Timestamp(params_rows[0][1])
    cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")
    raw = curve_points(
        client,
        row["output_curve"],
        scenario=row["scenario"],
        curve_as_of=cutoff,
        version=int(row["output_version"]),
    )
    return points_frame(
        raw["delivery_start_utc"], raw["delivery_end_utc"], raw["value"], parameters["tz"]
    ), parameters


def compare(client: Any, run_id: str, other: str | None = None) -> pd.DataFrame:
    """Return a stored run contract by contract against its base, or against another run.

    Parameters
    ----------
    client : clickhouse_connect.driver.Client
        The store.
    run_id : str
        ``scenario_runs.run_id`` (a ``reused`` run compares the output it names).
    other : str, optional
        Another run: then ``base_price`` is the other run's scenario curve's average over each contract.

    Returns
    -------
    pd.DataFrame
        As :attr:`ScenarioResult.comparison`, over the contracts of ``run_id``'s base.

    Raises
    ------
    MarketIntelError
        When a run does not exist or stored no curve.
    """
    import dataclasses

    from marketintel.calendars import get_calendar
    from marketintel.scenarios.engine import compare_frames, points_frame
    from marketintel.services.queries import curve_points

    row = _stored_run(client, run_id)
    scenario, parameters = _run_curve(client, row)
    calendar = dataclasses.replace(get_calendar(parameters["calendar"]), tz=parameters["tz"])
    contracts = pd.DataFrame(parameters["contracts"])
    contracts["start"] = [pd.Timestamp(d).date() for d in contracts["start"]]
    contracts["end"] = [pd.Timestamp(d).date() for d in contracts["end"]]
    if other is None:
        lineage = parameters["base"]
        raw = curve_points(
            client,
            lineage["curve_name"],
            curve_as_of=pd.Timestamp(lineage["as_of_utc"]),
            version=int(lineage["version"]),
        )
        reference = points_frame(
            raw["delivery_start_utc"], raw["delivery_end_utc"], raw["value"], calendar.tz
        )
    else:
        reference, _ = _run_curve(client, _stored_run(client, other))
    return compare_frames(
        reference,
        scenario,
        contracts,
        calendar,
        parameters["granularity"],
        parameters["weights"],
        {k: float(v) for k, v in (parameters.get("requotes") or {}).items()},
    )


def assumptions(client: Any) -> pd.DataFrame:
    """Return every version of every assumption, by name, newest version first.

    Returns
    -------
    pd.DataFrame
        ``name, version, latest`` (bool: the version ``use NAME`` takes), ``kind`` (``scalar``/``series``),
        ``value`` [unit] (scalars), ``points`` (series: number of points), ``first_date, last_date``
        (series' span), ``unit, description, created_by, created_at_utc`` [UTC].
    """
    from marketintel.scenarios.store import read_assumptions

    frame = read_assumptions(client)
    columns = [
        "name",
        "version",
        "latest",
        "kind",
        "value",
        "points",
        "first_date",
        "last_date",
        "unit",
        "description",
        "created_by",
        "created_at_utc",
    ]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    pairs = [json.loads(p) if p else [] for p in frame["points"]]
    frame["points"] = [len(p) for p in pairs]
    frame["first_date"] = [p[0][0] if p else None for p in pairs]
    frame["last_date"] = [p[-1][0] if p else None for p in pairs]
    frame["version"] = frame["version"].astype(int)
    frame["latest"] = frame["version"] == frame.groupby("name")["version"].transform("max")
    return frame[columns].reset_index(drop=True)


def set_assumption(
    client: Any,
    name: str,
    *,
    value: float | None = None,
    points: pd.Series | None = None,
    unit: str = "",
    description: str = "",
    user: str = "",
) -> int:
    """Store a new version of an assumption and return it (1 for a new name).

    Parameters
    ----------
    client : clickhouse_connect.driver.Client
        The store.
    name : str
        Letters, digits and ``_`` (what a scenario writes after ``use``).
    value : float, optional
        A scalar [unit].
    points : pd.Series, optional
        A path by date (index: dates, one each, in order); in a scenario each value holds from its date
        until the next point's [unit].
    unit, description : str
        What it is measured in and what it is.
    user : str
        Who wrote it.

    Raises
    ------
    MarketIntelError
        On a bad name, neither or both of ``value`` and ``points``, or points out of order / not finite.
    """
    from marketintel.scenarios.store import write_assumption

    return write_assumption(
        client, name, value=value, points=points, unit=unit, description=description, user=user
    )


def read_points_csv(path: Path) -> pd.Series:
    """Read an assumption's series from a CSV ``date,<value>`` (the first numeric column) [its unit]."""
    frame = pd.read_csv(path)
    if "date" not in frame.columns:
        raise MarketIntelError(
            f"{path}: expected a 'date' column and a value column, found {list(frame.columns)}"
        )
    numeric = frame.drop(columns=["date"]).select_dtypes("number")
    if numeric.empty:
        raise MarketIntelError(f"{path}: no numeric value column besides 'date' in {list(frame.columns)}")
    index = pd.DatetimeIndex(pd.to_datetime(frame["date"], format="%Y-%m-%d"))
    return pd.Series(numeric.iloc[:, 0].to_numpy(dtype=float), index=index, name=str(numeric.columns[0]))
