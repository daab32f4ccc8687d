"""Evaluate a parsed scenario: resolve its base and assumptions, rebuild for requotes, shift, derive, compare.

The steps, each a function of its own:

1. :func:`resolve_base`: the base curve as points with its calendar, contracts and lineage: a stored
   version (:class:`~marketintel.scenarios.language.BaseCurve`) or a build of a quotes file
   (:class:`~marketintel.scenarios.language.BaseQuotes`); either can be rebuilt from its quotes
   (:meth:`Base.rebuild`), a stored one from the quotes its lineage names (checked by the inputs' sha256);
2. :func:`evaluate`: the scenario curve: rebuilt from the requoted contracts when there are ``requote``
   statements (so it reprices every quote, the new ones included, exactly), then each ``shift`` pointwise in
   the order written; the ``derive`` series from their formulas; the contract-by-contract comparison.

Nothing here writes to the store (:mod:`marketintel.services.scenarios` does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketintel.scenarios.errors import ScenarioError, UnknownNameError
from marketintel.scenarios.language import BaseCurve, BaseQuotes, ScenarioSpec, Value
from marketintel.scenarios.store import Assumption

#: keys of ``curve_runs.parameters`` that a build adds after hashing its inputs (not part of the hash)
_RECORDED_AFTER_HASH = ("solver", "polished", "timings_ms", "contracts", "built_by")

Say = Callable[[str], None]


@dataclass
class Base:
    """The base curve of a scenario and how to rebuild it.

    Attributes
    ----------
    points : pd.DataFrame
        ``delivery_start_utc, delivery_end_utc, date, value`` [UTC], local date, [unit].
    calendar : MarketCalendar
        Its market calendar (zone, peak hours).
    granularity, weights : str
        ``daily``/``hourly``; ``hours``/``days``.
    curve_name : str
        ``curves.curve_name`` of the base (and of the scenario's output curve).
    as_of_utc : pd.Timestamp
        The base's information cutoff [UTC].
    currency, unit : str
        Of the values.
    contracts : pd.DataFrame
        ``contract, profile, start, end, quote``: the quoted contracts inside the curve's window (local
        dates, inclusive) [unit].
    lineage : dict
        What the base is: stored curve, version, run and inputs sha256, or the quotes file and its sha256.
    build : CurveBuild or None
        The build (a base built from a quotes file; not stored yet).
    build_options : dict
        ``build_curve`` keyword arguments of a rebuild (window, granularity, weights, ...).
    quotes : list of Contract or None
        The contracts a rebuild starts from (loaded on first need for a stored base).
    """

    points: pd.DataFrame
    calendar: Any
    granularity: str
    weights: str
    curve_name: str
    as_of_utc: pd.Timestamp
    currency: str
    unit: str
    contracts: pd.DataFrame
    lineage: dict[str, Any]
    build: Any = None
    build_options: dict[str, Any] = field(default_factory=dict)
    quotes: list[Any] | None = None
    load_quotes: Callable[[], list[Any]] | None = None

    def rebuild(self, requotes: dict[str, float]) -> Any:
        """Return a build of the base's quotes with ``requotes`` (contract -> price) replacing their prices.

        Raises
        ------
        InconsistentContractsError
            When the new quotes contradict the others (its report says which).
        """
        from marketintel.curves.build import build_curve

        if self.quotes is None:
            if self.load_quotes is None:  # pragma: no cover - every base sets one of them
                raise ScenarioError(f"the base {self.curve_name} cannot be rebuilt")
            self.quotes = self.load_quotes()
        contracts = [
            dataclasses.replace(c, price=float(requotes[c.name]), bid=None, ask=None)
            if c.name in requotes
            else c
            for c in self.quotes
        ]
        return build_curve(contracts, self.calendar, **self.build_options)


def points_frame(start_utc: Any, end_utc: Any, values: Any, tz: str) -> pd.DataFrame:
    """Return ``delivery_start_utc, delivery_end_utc, date, value`` (``date``: local date of the start)."""
    start = pd.DatetimeIndex(start_utc).tz_convert("UTC")
    return pd.DataFrame(
        {
            "delivery_start_utc": start,
            "delivery_end_utc": pd.DatetimeIndex(end_utc).tz_convert("UTC"),
            "date": start.tz_convert(tz).tz_localize(None).normalize().date,
            "value": np.asarray(values, dtype=float),
        }
    )


def build_points_frame(build: Any) -> pd.DataFrame:
    """Return a build's base curve as :func:`points_frame`."""
    from marketintel.services.curves import build_points

    raw = build_points(build)
    return points_frame(raw["delivery_start_utc"], raw["delivery_end_utc"], raw["value"], build.calendar.tz)


def _file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------------
# 1. The base
# --------------------------------------------------------------------------------------------------------
def resolve_base(
    statement: BaseCurve | BaseQuotes, client: Any, *, base_dir: Path | None = None, say: Say | None = None
) -> Base:
    """Return the scenario's base: a stored curve version, or a build of a quotes file.

    Parameters
    ----------
    statement : BaseCurve or BaseQuotes
        The ``base`` statement.
    client : clickhouse_connect.driver.Client or None
        The store (needed for ``base curve``).
    base_dir : Path, optional
        Folder relative file names are read from (default: the working directory).
    say : callable, optional
        Receives a progress line.

    Raises
    ------
    UnknownNameError
        For an unknown curve or calendar (listing the known ones, closest first).
    ScenarioError
        When the curve has no build at that date, or the quotes file cannot be read.
    """
    if isinstance(statement, BaseQuotes):
        return _base_from_quotes(statement, base_dir or Path.cwd(), say or (lambda _l: None))
    if client is None:
        raise ScenarioError(
            "`base curve` reads the store: give a store client", statement.line, statement.column
        )
    return _base_from_store(statement, client, say or (lambda _l: None))


def choose_calendar(statement: BaseQuotes) -> Any:
    """Return the calendar of a ``base quotes`` statement (its ``calendar``, or one matching ``tz``).

    Without ``calendar``: a calendar of the zone ``tz`` and of the commodity the weights suggest (``days``:
    gas, else power); else one of that commodity on the same continent (gas in ``America/...``: HENRY_HUB),
    with its zone replaced by ``tz``; without either, ``EEX_DE`` (as ``mi curves build``).
    """
    from marketintel.calendars.calendar import CALENDARS

    if statement.calendar:
        if statement.calendar.upper() not in CALENDARS:
            raise UnknownNameError(
                "calendar",
                statement.calendar,
                CALENDARS,
                statement.line,
                statement.calendar_column,
                where="calendars",
            )
        cal = CALENDARS[statement.calendar.upper()]
    elif statement.tz:
        commodity = "gas" if statement.weights == "days" else "power"
        same = [c for c in CALENDARS.values() if c.commodity == commodity]
        pick = sorted((c for c in same if c.tz == statement.tz), key=lambda c: c.name) or sorted(
            (c for c in same if c.tz.split("/")[0] == statement.tz.split("/")[0]), key=lambda c: c.name
        )
        cal = pick[0] if pick else CALENDARS["EEX_DE"]
    else:
        cal = CALENDARS["EEX_DE"]
    if statement.tz and statement.tz != cal.tz:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(statement.tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ScenarioError(
                f"unknown time zone {statement.tz!r} (an IANA name such as America/New_York)",
                statement.line,
                statement.column,
            ) from None
        cal = dataclasses.replace(cal, tz=statement.tz)
    return cal


def _base_from_quotes(statement: BaseQuotes, base_dir: Path, say: Say) -> Base:
    from marketintel.calendars import read_contracts_csv
    from marketintel.curves.build import build_curve
    from marketintel.services.curves import CSV_UNITS, _series_csv, as_of_utc

    path = Path(statement.path)
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ScenarioError(
            f"quotes file {statement.path!r} not found (looked for {path})", statement.line, statement.column
        )
    cal = choose_calendar(statement)
    weights = statement.weights or ("days" if cal.commodity == "gas" else "hours")
    try:
        contracts = read_contracts_csv(path, cal)
    except ValueError as exc:
        raise ScenarioError(
            f"quotes file {statement.path}: {exc}", statement.line, statement.column
        ) from None
    shape = None
    if statement.shape:
        shape_path = (
            Path(statement.shape) if Path(statement.shape).is_absolute() else base_dir / statement.shape
        )
        shape = _series_csv(shape_path, "shape")
    start = statement.start or min(c.start for c in contracts)
    end = statement.end or max(c.end for c in contracts)
    options: dict[str, Any] = {
        "start": start,
        "end": end,
        "granularity": statement.granularity,
        "weights": weights,
        "shape": shape,
    }
    say(
        f"base: building a {statement.granularity} curve {start} .. {end} ({cal.name}, {cal.tz}) from "
        f"{len(contracts)} contracts of {path.name}"
    )
    try:
        build = build_curve(contracts, cal, **options)
    except ValueError as exc:
        raise ScenarioError(f"the base cannot be built: {exc}", statement.line, statement.column) from None
    currency, unit = CSV_UNITS.get(
        cal.name, ("USD", "USD/MWh") if cal.tz.startswith("America/") else ("EUR", "EUR/MWh")
    )
    trade_date = statement.trade_date or dt.date.today()
    name = statement.curve_name or f"{path.stem}_{statement.granularity}"
    lineage = {
        "kind": "quotes",
        "file": statement.path,
        "file_sha256": _file_sha256(path),
        "shape_sha256": _file_sha256(shape_path) if statement.shape else "",
        "input_sha256": build.input_sha256,
        "curve_name": name,
        "calendar": cal.name,
        "tz": cal.tz,
        "trade_date": str(trade_date),
    }
    fits = build.fits
    return Base(
        points=build_points_frame(build),
        calendar=cal,
        granularity=statement.granularity,
        weights=weights,
        curve_name=name,
        as_of_utc=as_of_utc(trade_date, cal.tz),
        currency=currency,
        unit=unit,
        contracts=_contracts(fits["contract"], fits["profile"], fits["start"], fits["end"], fits["price"]),
        lineage=lineage,
        build=build,
        build_options=options,
        quotes=[c for c in contracts if c.name in set(fits["contract"])],
    )


def _contracts(names: Any, profiles: Any, starts: Any, ends: Any, quotes: Any) -> pd.DataFrame:
    def day(value: Any) -> dt.date:
        return value if isinstance(value, dt.date) else pd.Timestamp(value).date()

    return pd.DataFrame(
        {
            "contract": [str(n) for n in names],
            "profile": [str(p) for p in profiles],
            "start": [day(s) for s in starts],
            "end": [day(e) for e in ends],
            "quote": pd.to_numeric(pd.Series(list(quotes)), errors="coerce").astype(float).to_numpy(),
        }
    )


def stored_curve_names(client: Any) -> list[str]:
    """Return the names of the curves with a successful base build in the store."""
    rows = client.query(
        "SELECT DISTINCT curve_name FROM curve_runs FINAL WHERE status = 'ok' AND scenario = 'base'"
    ).result_rows
    return sorted(str(r[0]) for r in rows)


def pick_version(builds: pd.DataFrame, statement: BaseCurve, tz_of: Callable[[Any], str]) -> Any:
    """Return the row of ``builds`` a ``base curve`` statement means (see :class:`BaseCurve`).

    Raises
    ------
    ScenarioError
        When no build is current at that date, or the version does not exist (listing what does).
    """
    from marketintel.services.curves import as_of_utc

    chosen = builds
    if statement.as_of is not None:
        cutoffs = pd.DatetimeIndex(builds["as_of_utc"]).tz_convert("UTC")
        ends = pd.DatetimeIndex([as_of_utc(statement.as_of, tz_of(p)) for p in builds["parameters"]])
        chosen = builds[np.asarray(cutoffs <= ends)]
        if chosen.empty:
            have = ", ".join(sorted({f"{t:%Y-%m-%d %H:%M}" for t in cutoffs}))
            raise ScenarioError(
                f"curve {statement.curve} has no build as of {statement.as_of} or earlier; its builds' "
                f"cutoffs "
                f"(UTC): {have}",
                statement.line,
                statement.column,
            )
        last = pd.DatetimeIndex(chosen["as_of_utc"]).max()
        chosen = chosen[pd.DatetimeIndex(chosen["as_of_utc"]) == last]
    else:
        last = pd.DatetimeIndex(chosen["as_of_utc"]).max()
        chosen = chosen[pd.DatetimeIndex(chosen["as_of_utc"]) == last]
    if statement.version is not None:
        match = chosen[chosen["version"].astype(int) == statement.version]
        if match.empty:
            have = ", ".join(str(int(v)) for v in sorted(chosen["version"]))
            raise ScenarioError(
                f"curve {statement.curve} as of {last:%Y-%m-%d %H:%M} UTC has no version "
                f"{statement.version}; "
                f"it has {have}",
                statement.line,
                statement.column,
            )
        return match.iloc[0]
    return chosen.sort_values("version").iloc[-1]


def _base_from_store(statement: BaseCurve, client: Any, say: Say) -> Base:
    from marketintel.calendars import get_calendar
    from marketintel.services.curves import contract_fits
    from marketintel.services.queries import curve_points, curve_versions

    builds = curve_versions(client, statement.curve, statuses="ok", include_parameters=True, limit=100_000)
    if builds.empty:
        raise UnknownNameError(
            "curve",
            statement.curve,
            stored_curve_names(client),
            statement.line,
            statement.curve_column,
            where="the store has",
        )

    def tz_of(parameters: Any) -> str:
        return str(get_calendar(json.loads(parameters or "{}").get("calendar") or "EEX_DE").tz)

    run = pick_version(builds, statement, tz_of)
    parameters = json.loads(run["parameters"] or "{}")
    cal = get_calendar(parameters.get("calendar") or "EEX_DE")
    cutoff = pd.Timestamp(run["as_of_utc"]).tz_convert("UTC")
    raw = curve_points(client, statement.curve, curve_as_of=cutoff, version=int(run["version"]))
    fits = contract_fits(parameters, cal)
    say(
        f"base: {statement.curve} as of {cutoff:%Y-%m-%d %H:%M} UTC version {int(run['version'])} "
        f"({len(raw):,} points, {len(fits)} contracts; run {run['run_id']})"
    )
    options: dict[str, Any] = {
        "start": parameters.get("start"),
        "end": parameters.get("end"),
        "granularity": parameters.get("granularity") or "daily",
        "weights": parameters.get("weights") or "hours",
        "bid_ask": bool(parameters.get("bid_ask")),
        "on_inconsistent": parameters.get("on_inconsistent") or "fail",
        "tolerance": float(parameters.get("tolerance") or 1e-6),
    }
    if parameters.get("band_solver"):
        options["band_solver"] = parameters["band_solver"]
    lineage = {
        "kind": "curve",
        "curve_name": statement.curve,
        "as_of_utc": str(cutoff),
        "version": int(run["version"]),
        "run_id": str(run["run_id"]),
        "input_sha256": str(run["input_sha256"]),
        "calendar": cal.name,
    }
    base = Base(
        points=points_frame(raw["delivery_start_utc"], raw["delivery_end_utc"], raw["value"], cal.tz),
        calendar=cal,
        granularity=options["granularity"],
        weights=options["weights"],
        curve_name=statement.curve,
        as_of_utc=cutoff,
        currency=str(raw["currency"].iloc[0]) if len(raw) else "",
        unit=str(raw["unit"].iloc[0]) if len(raw) else "",
        contracts=_contracts(fits["contract"], fits["profile"], fits["start"], fits["end"], fits["target"]),
        lineage=lineage,
        build_options=options,
    )
    base.load_quotes = lambda: _lineage_quotes(client, base, parameters, statement, say)
    return base


def _lineage_quotes(
    client: Any, base: Base, parameters: dict[str, Any], statement: BaseCurve, say: Say
) -> list[Any]:
    """Return the contracts a stored build was made of, found by its lineage and checked by its sha256.

    First the stored quotes of the build's trade date (the day before its cutoff in the market's zone)
    whose contracts include every contract of the build; then the contracts recorded in the build's
    parameters (their quoted prices, for builds from a file). Either must hash to the build's recorded
    ``input_sha256``.
    """
    from marketintel.calendars import Contract, contracts_from_quotes, delivery_period
    from marketintel.curves.build import input_hash
    from marketintel.curves.store import read_quotes

    expected = str(base.lineage["input_sha256"])
    names = set(base.contracts["contract"])
    core = {k: v for k, v in parameters.items() if k not in _RECORDED_AFTER_HASH}
    where = f"curve {base.curve_name} version {base.lineage['version']}"
    if core.get("prior_sha256") or core.get("shape_sha256"):
        raise ScenarioError(
            f"{where} was built with a prior or an hourly shape that the store does not keep, so it "
            "cannot be "
            'rebuilt for a requote; build the base with `base quotes "FILE" ... shape "FILE"` instead',
            statement.line,
            statement.column,
        )
    trade_date = (base.as_of_utc.tz_convert(base.calendar.tz) - pd.Timedelta(days=1)).date()
    products = client.query(
        "SELECT product, market, groupUniqArray(contract) FROM forward_quotes FINAL "
        "WHERE trade_date = {d:Date} GROUP BY product, market",
        parameters={"d": trade_date},
    ).result_rows
    for product, market, contracts in products:
        if not names <= set(contracts):
            continue
        quotes = [
            c
            for c in contracts_from_quotes(read_quotes(client, product, trade_date, market))
            if c.name in names
        ]
        if input_hash(quotes, core) == expected:
            say(
                f"requote: rebuilding from the stored quotes of {product} ({market}) traded {trade_date}, "
                "the inputs of the base build (sha256 verified)"
            )
            base.lineage["quotes"] = {"product": product, "market": market, "trade_date": str(trade_date)}
            return quotes
    recorded = []
    for row in parameters.get("contracts") or []:
        try:
            start, end = delivery_period(str(row["contract"]), base.calendar)
            recorded.append(
                Contract(
                    str(row["contract"]),
                    start,
                    end,
                    str(row.get("profile") or "base"),
                    price=float(row["target"]),
                )
            )
        except (ValueError, TypeError, KeyError):
            recorded = []
            break
    if recorded and input_hash(recorded, core) == expected:
        say("requote: rebuilding from the contracts recorded with the base build (sha256 verified)")
        base.lineage["quotes"] = {"recorded_contracts": len(recorded)}
        return recorded
    raise ScenarioError(
        f"{where} cannot be rebuilt for a requote: neither the stored quotes of {trade_date} nor the "
        f"contracts recorded with it hash to its inputs' sha256 {expected[:16]}...; build the base from its "
        'quotes file with `base quotes "FILE" ...`',
        statement.line,
        statement.column,
    )


# --------------------------------------------------------------------------------------------------------
# 2. The scenario
# --------------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a scenario evaluates to (nothing stored yet).

    Attributes
    ----------
    result : pd.DataFrame
        The scenario curve, as :func:`points_frame`.
    derived : dict of str to pd.DataFrame
        Each ``derive`` series, as :func:`points_frame`.
    comparison : pd.DataFrame
        ``contract, delivery_start, delivery_end, base_price, scenario_price, difference, requote``.
    requotes : dict of str to float
        The new quotes [unit].
    build : CurveBuild or None
        The rebuild of the requoted contracts.
    warnings : list of str
        What the quant should know (a shift touching no day).
    """

    result: pd.DataFrame
    derived: dict[str, pd.DataFrame]
    comparison: pd.DataFrame
    requotes: dict[str, float]
    build: Any = None
    warnings: list[str] = field(default_factory=list)


def evaluate(
    spec: ScenarioSpec, base: Base, assumptions: dict[str, Assumption], say: Say | None = None
) -> Outcome:
    """Return the scenario curve, the derived series and the comparison with the base.

    Raises
    ------
    UnknownNameError
        When a requoted contract is not among the base's quotes (listing them, closest first).
    ScenarioError
        When a value is not finite, a shift's profile is not one of the calendar's, or an assumption's
        series does not cover the days it is needed on.
    InconsistentContractsError
        When the requoted contracts contradict the others.
    """
    tell = say or (lambda _l: None)
    warnings: list[str] = []
    scalars = {n: a.value for n, a in assumptions.items() if a.kind == "scalar"}
    requotes: dict[str, float] = {}
    known = list(base.contracts["contract"])
    for rq in spec.requotes:
        if rq.contract not in known:
            raise UnknownNameError(
                "contract",
                rq.contract,
                known,
                rq.line,
                rq.contract_column,
                where=f"the base {base.curve_name} quotes",
            )
        series = [r.name for r in rq.value.refs() if r.name not in scalars]
        if series:
            raise ScenarioError(f"a requote takes a number; {series[0]} is a series", rq.line, rq.column)
        requotes[rq.contract] = float(rq.value.evaluate(dict(scalars)))  # type: ignore[arg-type]
    build = None
    if requotes:
        tell(f"requote: {', '.join(f'{k} = {v:g}' for k, v in requotes.items())}; rebuilding the curve")
        build = base.rebuild(requotes)
        result = build_points_frame(build)
        tell(f"rebuilt: {len(build.fits)} contracts, largest repricing error {build.max_reprice_error:.3g}")
    else:
        result = base.points.copy()
    values = result["value"].to_numpy(dtype=float).copy()
    dates = np.asarray(pd.to_datetime(result["date"]).values, dtype="datetime64[D]")
    hours = _hours_frame(result, base.calendar) if base.granularity == "hourly" else None
    for shift in spec.shifts:
        sel = (dates >= np.datetime64(shift.start)) & (dates <= np.datetime64(shift.end))
        if shift.profile != "base":
            if hours is None:
                raise ScenarioError(
                    f"a daily curve is shifted on whole days: drop `on {shift.profile}`",
                    shift.line,
                    shift.column,
                )
            try:
                sel &= np.asarray(base.calendar.profile_mask(hours, shift.profile), dtype=bool)
            except ValueError as exc:
                raise ScenarioError(str(exc), shift.line, shift.column) from None
        if not sel.any():
            warnings.append(
                f"line {shift.line}: the shift {shift.start}..{shift.end} touches no delivery day of "
                f"the curve ({dates[0]} .. {dates[-1]})"
            )
            continue
        env = _env(assumptions, dates[sel], shift.line, shift.column)
        amount = np.broadcast_to(np.asarray(shift.amount.evaluate(env), dtype=float), (int(sel.sum()),))
        if shift.kind == "add":
            values[sel] = values[sel] + amount
        elif shift.kind == "percent":
            values[sel] = values[sel] * (1.0 + amount / 100.0)
        else:
            values[sel] = values[sel] * amount
        _finite(values, shift.line, shift.column, "the shifted curve")
        tell(f"line {shift.line}: {shift.describe()} on {int(sel.sum()):,} points")
    result["value"] = values
    derived: dict[str, pd.DataFrame] = {}
    if spec.derives:
        if len(base.points) != len(result) or not np.array_equal(
            base.points["delivery_start_utc"].to_numpy(), result["delivery_start_utc"].to_numpy()
        ):  # pragma: no cover - a rebuild keeps the base's window
            raise ScenarioError("the base and scenario curves do not cover the same delivery intervals")
        env = _env(assumptions, dates, spec.derives[0].line, spec.derives[0].column)
        env["base"] = base.points["value"].to_numpy(dtype=float)
        env["scenario"] = values
        for derive in spec.derives:
            out = np.broadcast_to(np.asarray(derive.expr.evaluate(env), dtype=float), values.shape).copy()
            _finite(out, derive.line, derive.column, f"derived series {derive.name}")
            env[derive.name] = out
            derived[derive.name] = result.assign(value=out)
            tell(f"line {derive.line}: derived {derive.name} ({len(out):,} points)")
    comparison = compare_frames(
        base.points, result, base.contracts, base.calendar, base.granularity, base.weights, requotes
    )
    return Outcome(result, derived, comparison, requotes, build, warnings)


def _env(assumptions: dict[str, Assumption], dates: np.ndarray, line: int, column: int) -> dict[str, Value]:
    from marketintel.exceptions import MarketIntelError

    env: dict[str, Value] = {}
    for name, assumption in assumptions.items():
        try:
            env[name] = assumption.on_dates(dates)
        except MarketIntelError as exc:
            raise ScenarioError(str(exc), line, column) from None
    return env


def _finite(values: np.ndarray, line: int, column: int, what: str) -> None:
    if not np.isfinite(values).all():
        raise ScenarioError(f"{what} has values that are not finite (a division by zero?)", line, column)


def _hours_frame(points: pd.DataFrame, calendar: Any) -> pd.DataFrame:
    """Return the calendar's hours aligned row by row with hourly ``points``."""
    first, last = min(points["date"]), max(points["date"])
    hours = calendar.hourly(first, last)
    stamps = pd.DatetimeIndex(points["delivery_start_utc"]).tz_convert("UTC").as_unit("ms")
    aligned = hours.set_index(pd.DatetimeIndex(hours["datetime_utc"]).as_unit("ms")).reindex(stamps)
    out: pd.DataFrame = aligned.reset_index(drop=True)
    return out


def contract_averages(
    points: pd.DataFrame, contracts: pd.DataFrame, calendar: Any, granularity: str, weights: str
) -> np.ndarray:
    """Return the curve's average over each contract's delivery and profile, as the builder reprices [unit].

    Daily curves: the day-weighted (``weights="days"``) or hour-weighted (``"hours"``, DST-aware) mean of
    the days the contract delivers; only ``base`` contracts (NaN for others). Hourly curves: the mean of
    the contract's hours in its profile. NaN where the curve does not cover the whole delivery.
    """
    values = points["value"].to_numpy(dtype=float)
    dates = np.asarray(pd.to_datetime(points["date"]).values, dtype="datetime64[D]")
    out = np.full(len(contracts), np.nan)
    if not len(values):
        return out
    first, last = dates.min(), dates.max()
    if granularity == "hourly":
        hours = _hours_frame(points, calendar)
    elif weights == "hours":
        day_index = np.asarray(pd.date_range(str(first), str(last), freq="D").values, dtype="datetime64[D]")
        per_day = np.asarray(calendar.profile_hours_per_day(str(first), str(last), "base"), dtype=float)
        day_weight = per_day[np.searchsorted(day_index, dates)]
    else:
        day_weight = np.ones(len(values))
    for i, row in enumerate(contracts.itertuples(index=False)):
        start, end = np.datetime64(str(row.start), "D"), np.datetime64(str(row.end), "D")
        if start < first or end > last:
            continue
        sel = (dates >= start) & (dates <= end)
        if granularity == "hourly":
            try:
                sel &= np.asarray(calendar.profile_mask(hours, str(row.profile)), dtype=bool)
            except ValueError:
                continue
            out[i] = float(values[sel].mean()) if sel.any() else np.nan
        elif str(row.profile) == "base" and sel.any():
            w = day_weight[sel]
            out[i] = float((values[sel] * w).sum() / w.sum())
    return out


def compare_frames(
    base: pd.DataFrame,
    scenario: pd.DataFrame,
    contracts: pd.DataFrame,
    calendar: Any,
    granularity: str,
    weights: str,
    requotes: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Return the contract-by-contract comparison of two curves over the base's quoted contracts.

    Returns
    -------
    pd.DataFrame
        ``contract, profile, delivery_start, delivery_end`` (local dates, inclusive), ``quote`` (the base's
        quote), ``requote`` (the scenario's new quote, NaN where none), ``base_price``, ``scenario_price``
        (each curve's average over the contract), ``difference`` (scenario - base) [unit].
    """
    a = contract_averages(base, contracts, calendar, granularity, weights)
    b = contract_averages(scenario, contracts, calendar, granularity, weights)
    new = requotes or {}
    return pd.DataFrame(
        {
            "contract": contracts["contract"].to_numpy(),
            "profile": contracts["profile"].to_numpy(),
            "delivery_start": contracts["start"].to_numpy(),
            "delivery_end": contracts["end"].to_numpy(),
            "quote": contracts["quote"].to_numpy(dtype=float),
            "requote": [new.get(str(c), np.nan) for c in contracts["contract"]],
            "base_price": a,
            "scenario_price": b,
            "difference": b - a,
        }
    )
