"""Build a forward curve from contract quotes: daily or hourly, settlements or bid/ask, exact or reconciled.

The unknowns are *daily* curves, one per delivery block: for base-only quotes one block (all hours); with
peak quotes two (peak, off-peak); with North American 2x16 / 7x8 quotes the blocks those need. Blocks that no
quote tells apart are merged, so every unknown is pinned down by some contract. Each contract is the
hour-weighted (power) or day-weighted (gas) average of the block-days it delivers, with DST-correct hour
counts from the market calendar. The daily block curves are as smooth as possible (:mod:`.solve`); an hourly
curve is each block-day's price times the hourly shape normalised to average 1 over that block-day, so every
base, peak and off-peak contract still reprices exactly at hourly resolution.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from marketintel.calendars import Contract, MarketCalendar
from marketintel.curves import solve
from marketintel.curves.solve import CurveSolveError

Granularity = Literal["daily", "hourly"]
Weights = Literal["hours", "days"]
OnInconsistent = Literal["fail", "least-squares"]
#: a contract reprices "exactly" when its error is below this [price]
EXACT = 1e-8


class InconsistentContractsError(CurveSolveError):
    """Quotes that no curve can satisfy together; ``report`` says which and by how much."""

    def __init__(self, message: str, report: pd.DataFrame) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Blocks:
    """The delivery blocks a build solves for: each is a set of the calendar's hour blocks."""

    names: tuple[str, ...]
    atoms: tuple[frozenset[str], ...]

    def covering(self, atoms: frozenset[str]) -> list[int]:
        """Return the blocks that make up a profile's hour blocks."""
        return [i for i, mine in enumerate(self.atoms) if mine <= atoms]


def profile_atoms(calendar: MarketCalendar, profile: str) -> frozenset[str]:
    """Return the calendar's hour blocks (``peak``/``offpeak``, or NERC 5x16/2x16/7x8) a profile covers."""
    labels = tuple(calendar.block_labels)
    key = profile.strip().lower()
    if key in ("base", "7x24"):
        return frozenset(labels)
    if calendar.block_style == "nerc":
        peak, weekend, night = labels
        table = {"peak": {peak}, "offpeak": {weekend, night}, "7x16": {peak, weekend}}
        if key in table:
            return frozenset(table[key])
    if key in labels:
        return frozenset({key})
    valid = ", ".join(calendar.profiles)
    raise ValueError(f"profile {profile!r} is not defined by calendar {calendar.name}; valid: {valid}")


def choose_blocks(calendar: MarketCalendar, profiles: set[str]) -> Blocks:
    """Merge the calendar's hour blocks that no quoted profile tells apart (the coarsest exact partition)."""
    labels = tuple(calendar.block_labels)
    covers = [profile_atoms(calendar, p) for p in sorted(profiles)]
    signature: dict[tuple[bool, ...], list[str]] = {}
    for label in labels:
        signature.setdefault(tuple(label in c for c in covers), []).append(label)
    groups = [frozenset(g) for g in signature.values()]
    names = []
    for g in groups:
        if g == frozenset(labels):
            names.append("base")
        elif len(g) == 1:
            names.append(next(iter(g)))
        elif calendar.block_style == "nerc" and g == profile_atoms(calendar, "offpeak"):
            names.append("offpeak")
        else:
            names.append("+".join(sorted(g)))
    return Blocks(tuple(names), tuple(groups))


@dataclass(frozen=True)
class Shift:
    """A scenario shift of the curve over a delivery period and profile.

    Attributes
    ----------
    start, end : datetime.date
        Local delivery dates, inclusive.
    value : float
        Added [price] (``kind="add"``) or the factor (``kind="mul"``).
    kind : str
        ``"add"`` or ``"mul"``.
    profile : str
        Hours the shift applies to (``base`` = all).
    """

    start: dt.date
    end: dt.date
    value: float
    kind: Literal["add", "mul"] = "add"
    profile: str = "base"


@dataclass(frozen=True)
class Scenario:
    """A named set of shifts applied on top of the base build."""

    name: str
    shifts: tuple[Shift, ...] = ()


@dataclass
class CurveBuild:
    """The result of a build, with everything needed to store it and to audit it."""

    calendar: MarketCalendar
    granularity: Granularity
    blocks: Blocks
    daily: pd.DataFrame  # date index; "price" (base average) and one column per block [price]
    hourly: pd.DataFrame | None  # datetime_utc, datetime_local, date, block, price
    fits: pd.DataFrame  # one row per contract: quoted, used, repriced, error, status
    method: str
    solver: str
    parameters: dict[str, Any]
    input_sha256: str
    timings_ms: dict[str, float]
    polished: bool = True
    inconsistencies: pd.DataFrame = field(default_factory=pd.DataFrame)
    scenarios: dict[str, pd.Series] = field(default_factory=dict)
    matrix: sp.csr_matrix | None = None  # contract rows over the stacked block-day unknowns
    solution: np.ndarray | None = None  # the stacked block-day curves [price]

    @property
    def max_reprice_error(self) -> float:
        """Largest distance of a contract's repriced average from its quote or band [price]."""
        return float(self.fits["error"].abs().max()) if len(self.fits) else 0.0

    @property
    def curve(self) -> pd.Series:
        """The base-scenario curve: daily prices by date, or hourly by UTC hour [price]."""
        if self.granularity == "hourly" and self.hourly is not None:
            return pd.Series(
                self.hourly["price"].to_numpy(),
                index=pd.DatetimeIndex(self.hourly["datetime_utc"]),
                name="price",
            )
        return self.daily["price"].rename("price")

    def output_frame(self) -> pd.DataFrame:
        """``date,price`` (daily) or ``datetime_utc,price`` (hourly), as ``mi curves build --out`` writes."""
        curve = self.curve
        key = "datetime_utc" if self.granularity == "hourly" else "date"
        frame = pd.DataFrame({key: curve.index, "price": curve.to_numpy()})
        if key == "date":
            frame["date"] = pd.DatetimeIndex(frame["date"]).strftime("%Y-%m-%d")
        else:
            frame["datetime_utc"] = pd.DatetimeIndex(frame["datetime_utc"]).strftime("%Y-%m-%dT%H:%MZ")
        return frame

    def to_xarray(self) -> Any:
        """Return the curve as an ``xarray.DataArray`` with dimensions ``delivery`` x ``scenario``."""
        import xarray as xr

        base = self.curve
        columns = {"base": base.to_numpy()} | {k: v.to_numpy() for k, v in self.scenarios.items()}
        data = np.column_stack(list(columns.values()))
        return xr.DataArray(
            data,
            dims=("delivery", "scenario"),
            coords={"delivery": base.index.to_numpy(), "scenario": list(columns)},
            name="price",
            attrs={
                "calendar": self.calendar.name,
                "granularity": self.granularity,
                "method": self.method,
                "input_sha256": self.input_sha256,
                "max_reprice_error": self.max_reprice_error,
            },
        )

    def tidy(self) -> pd.DataFrame:
        """Return one row per delivery interval and scenario: start/end [UTC], scenario, price."""
        if self.granularity == "hourly" and self.hourly is not None:
            start = pd.DatetimeIndex(self.hourly["datetime_utc"])
            end = start + pd.Timedelta(hours=1)
        else:
            from marketintel.timeutils import local_to_utc

            days = pd.DatetimeIndex(self.daily.index)
            start = local_to_utc(days, self.calendar.tz)
            end = local_to_utc(days + pd.Timedelta(days=1), self.calendar.tz)
        series = {"base": self.curve.to_numpy()} | {k: v.to_numpy() for k, v in self.scenarios.items()}
        frames = [
            pd.DataFrame(
                {"delivery_start_utc": start, "delivery_end_utc": end, "scenario": name, "price": values}
            )
            for name, values in series.items()
        ]
        return pd.concat(frames, ignore_index=True)


def _day_index(dates: pd.DatetimeIndex, start: dt.date, end: dt.date) -> tuple[int, int]:
    lo = int(dates.searchsorted(pd.Timestamp(start)))
    hi = int(dates.searchsorted(pd.Timestamp(end), side="right"))
    return lo, hi


def input_hash(contracts: list[Contract], parameters: dict[str, Any]) -> str:
    """Return the sha256 of the quotes and parameters, canonically serialised (same inputs, same hash)."""
    quotes = sorted(
        (c.name, c.profile, c.start.isoformat(), c.end.isoformat(), c.price, c.bid, c.ask) for c in contracts
    )
    text = json.dumps({"quotes": quotes, "parameters": parameters}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def build_curve(
    contracts: list[Contract],
    calendar: MarketCalendar,
    start: Any,
    end: Any,
    *,
    granularity: Granularity = "daily",
    weights: Weights = "hours",
    prior: pd.Series | None = None,
    shape: pd.Series | None = None,
    bid_ask: bool = False,
    on_inconsistent: OnInconsistent = "fail",
    tolerance: float = 1e-6,
    scenarios: tuple[Scenario, ...] = (),
    band_solver: Literal["clarabel", "cvxpy"] = "clarabel",
) -> CurveBuild:
    """Build the maximum-smoothness curve that reprices ``contracts``.

    Parameters
    ----------
    contracts : list of Contract
        Quotes: settlements (``price``) or, with ``bid_ask``, bands (``bid``, ``ask``).
    calendar : MarketCalendar
        Time zone, peak definition and hour counts of the market.
    start, end : date or str
        First and last local delivery date of the curve (inclusive).
    granularity : {"daily", "hourly"}
        Output resolution; hourly curves are daily block curves times the normalised hourly ``shape``.
    weights : {"hours", "days"}
        Power averages weight each day by its hours in the profile; gas weights each day by 1.
    prior : pd.Series, optional
        Seasonal prior the smoothness is measured from: by local date (daily) [price], or by UTC hour
        (then averaged per block-day).
    shape : pd.Series, optional
        Hourly shape by UTC hour (any positive scale); flat when omitted.
    bid_ask : bool
        Use each contract's [bid, ask] band instead of its price (contracts with only a price stay fixed).
    on_inconsistent : {"fail", "least-squares"}
        What to do when quotes contradict each other: raise :class:`InconsistentContractsError` with the
        report, or reprice the closest consistent set of prices and report each contract's residual.
    tolerance : float
        Largest contradiction accepted as rounding [price].
    scenarios : tuple of Scenario
        Shifts applied on top of the base curve and recorded with it.
    band_solver : {"clarabel", "cvxpy"}
        How bid/ask builds reach Clarabel: directly (default, faster) or through cvxpy; either way the
        answer is then polished to the exact optimum and checked.

    Raises
    ------
    InconsistentContractsError
        When quotes contradict each other by more than ``tolerance`` and ``on_inconsistent="fail"``.
    CurveSolveError
        When the quotes cannot determine a curve, or a contract delivers outside ``start`` .. ``end``.
    ValueError
        On bad parameters (each message names what was expected).
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if granularity not in ("daily", "hourly"):
        raise ValueError(f"granularity must be 'daily' or 'hourly', got {granularity!r}")
    if weights not in ("hours", "days"):
        raise ValueError(f"weights must be 'hours' (power) or 'days' (gas), got {weights!r}")
    if on_inconsistent not in ("fail", "least-squares"):
        raise ValueError(f"on_inconsistent must be 'fail' or 'least-squares', got {on_inconsistent!r}")
    if not contracts:
        raise CurveSolveError("no contracts to build from")
    hourly_frame = calendar.hourly(start, end)
    dates = pd.DatetimeIndex(hourly_frame["date"].unique())
    n = len(dates)
    first, last = dates[0].date(), dates[-1].date()
    # contracts entirely outside the window say nothing about it: left out, and recorded as such
    ignored = [f"{c.name} {c.profile}" for c in contracts if c.end < first or c.start > last]
    contracts = [c for c in contracts if not (c.end < first or c.start > last)]
    straddling = [c.name for c in contracts if c.start < first or c.end > last]
    if straddling:
        raise CurveSolveError(
            f"contract(s) {straddling} deliver partly outside the curve's window {first} .. {last}; "
            "widen --start/--end to cover them or leave them out"
        )
    if not contracts:
        raise CurveSolveError(f"no contract delivers inside the curve's window {first} .. {last}")
    profiles = {c.profile.lower() for c in contracts}
    blocks = choose_blocks(calendar, profiles)
    if weights == "days" and len(blocks.names) > 1:
        raise ValueError("weights='days' (gas) averages whole days; all contracts must be base")
    # hours of each block on each day: (blocks x days)
    day_of_hour = dates.searchsorted(hourly_frame["date"].to_numpy())
    block_of_hour = np.full(len(hourly_frame), -1, dtype=np.int64)
    codes = pd.Categorical(hourly_frame["block"], categories=list(calendar.block_labels)).codes
    for i, atoms in enumerate(blocks.atoms):
        for atom in atoms:
            block_of_hour[codes == calendar.block_labels.index(atom)] = i
    nb = len(blocks.names)
    hours = np.zeros((nb, n))
    np.add.at(hours, (block_of_hour, day_of_hour), 1.0)
    w = np.ones((nb, n)) if weights == "days" else hours
    timings["calendar"] = (time.perf_counter() - t_start) * 1000

    # contract rows over the stacked block-day unknowns
    t0 = time.perf_counter()
    rows, cols, vals = [], [], []
    for r, c in enumerate(contracts):
        lo, hi = _day_index(dates, c.start, c.end)
        parts = blocks.covering(profile_atoms(calendar, c.profile))
        weight = np.concatenate([w[b, lo:hi] for b in parts])
        index = np.concatenate([b * n + np.arange(lo, hi) for b in parts])
        total = weight.sum()
        if total <= 0:
            raise CurveSolveError(
                f"contract {c.name} ({c.profile}) delivers no hours between {c.start} and {c.end}"
            )
        keep = weight > 0
        rows.append(np.full(int(keep.sum()), r))
        cols.append(index[keep])
        vals.append(weight[keep] / total)
    a = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(contracts), nb * n)
    )
    p = _prior_vector(prior, hourly_frame, dates, blocks, block_of_hour, day_of_hour, hours)
    timings["matrix"] = (time.perf_counter() - t0) * 1000

    parameters: dict[str, Any] = {
        "calendar": calendar.name,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "granularity": granularity,
        "weights": weights,
        "blocks": list(blocks.names),
        "bid_ask": bid_ask,
        "on_inconsistent": on_inconsistent,
        "tolerance": tolerance,
        "prior_sha256": _series_hash(prior),
        "shape_sha256": _series_hash(shape),
        "ignored_outside_window": ignored,
        "scenarios": [
            {"name": sc.name, "shifts": [dataclasses.asdict(sh) for sh in sc.shifts]} for sc in scenarios
        ],
    }
    if bid_ask:
        parameters["band_solver"] = band_solver
    t0 = time.perf_counter()
    price = np.array([np.nan if c.price is None else c.price for c in contracts], dtype=float)
    bid = np.array([np.nan if c.bid is None else c.bid for c in contracts], dtype=float)
    ask = np.array([np.nan if c.ask is None else c.ask for c in contracts], dtype=float)
    names = [c.name for c in contracts]
    hessian = solve.roughness_hessian(n, nb)
    inconsistencies = pd.DataFrame()
    polished = True
    if bid_ask:
        banded = ~np.isnan(bid) & ~np.isnan(ask)
        if np.any(~banded & np.isnan(price)):
            missing = [nm for nm, ok in zip(names, banded | ~np.isnan(price), strict=True) if not ok]
            raise ValueError(
                f"--bid-ask needs bid and ask (or a price) for every contract; missing: {missing}"
            )
        lower = np.where(banded, bid, price)
        upper = np.where(banded, ask, price)
        try:  # the bands usually hold together: solve first, diagnose only when the solver says they cannot
            band = _solve_bands(a, lower, upper, p, nb, band_solver)
        except solve.BandsInfeasibleError:
            violation = solve.band_violations(a, lower, upper)
            report = pd.DataFrame(
                {"contract": names, "profile": [c.profile for c in contracts], "bid": lower, "ask": upper,
                 "widen_by": violation}
            )  # fmt: skip
            if violation.max() > tolerance:
                inconsistencies = report[violation > tolerance]
                if on_inconsistent == "fail":
                    raise InconsistentContractsError(
                        _band_message(inconsistencies), inconsistencies
                    ) from None
            lower, upper = lower - violation, upper + violation  # the least widening that lets all hold
            band = _solve_bands(a, lower, upper, p, nb, band_solver)
        x, polished = band.curve, band.polished
        used = np.clip(solve.reprice(a, x), lower, upper)
        method = "max_smoothness_bid_ask"
        via = "cvxpy+clarabel" if band_solver == "cvxpy" else "clarabel"
        solver = f"{via}+exact-polish" if polished else via
        fit_lower, fit_upper = lower, upper
    else:
        if np.isnan(price).any():
            missing = [nm for nm, v in zip(names, price, strict=True) if np.isnan(v)]
            raise ValueError(f"contracts without a price (pass --bid-ask to use bid/ask bands): {missing}")
        structure = solve.dependencies(a)
        implied = structure.implied(price)
        gaps = {i: price[i] - v for i, v in implied.items()}
        bad = {i: g for i, g in gaps.items() if abs(g) > tolerance}
        used = price.copy()
        if bad:
            inconsistencies = _equality_report(contracts, structure, price, implied, bad)
            if on_inconsistent == "fail":
                raise InconsistentContractsError(_equality_message(inconsistencies), inconsistencies)
            used = solve.project_consistent(a, price)
        keep = structure.independent
        x, _ = solve.solve_equality(a[keep], used[keep], p, hessian, nb)
        method = "max_smoothness_exact"
        solver = "sparse-kkt-lu"
        fit_lower = fit_upper = used
    timings["solve"] = (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    block_curves = x.reshape(nb, n)
    base_daily = np.where(
        hours.sum(axis=0) > 0, (hours * block_curves).sum(axis=0) / hours.sum(axis=0), np.nan
    )
    daily = pd.DataFrame({"price": base_daily}, index=pd.Index(dates, name="date"))
    for i, name in enumerate(blocks.names):
        if nb > 1:
            daily[name] = block_curves[i]
    hourly = None
    if granularity == "hourly":
        hourly = _hourly(hourly_frame, shape, block_curves, block_of_hour, day_of_hour, nb, n)
        repriced = _reprice_hourly(contracts, calendar, hourly)
    else:
        repriced = solve.reprice(a, x)
    timings["output"] = (time.perf_counter() - t0) * 1000
    error = np.where(
        repriced < fit_lower, repriced - fit_lower, np.where(repriced > fit_upper, repriced - fit_upper, 0.0)
    )
    quoted_error = repriced - np.where(np.isnan(price), (bid + ask) / 2, price)
    fits = pd.DataFrame(
        {
            "contract": names,
            "profile": [c.profile for c in contracts],
            "start": [c.start for c in contracts],
            "end": [c.end for c in contracts],
            "price": price,
            "bid": bid,
            "ask": ask,
            "target": used,
            "repriced": repriced,
            "error": error,
            "residual_vs_quote": quoted_error,
        }
    )
    fits["status"] = np.where(np.abs(error) <= EXACT, "ok", "MISPRICED")
    if not bid_ask and len(inconsistencies):
        fits.loc[np.abs(used - price) > tolerance, "status"] = "adjusted (least squares)"
    build = CurveBuild(
        calendar=calendar,
        granularity=granularity,
        blocks=blocks,
        daily=daily,
        hourly=hourly,
        fits=fits,
        method=method,
        solver=solver,
        parameters=parameters,
        input_sha256=input_hash(contracts, parameters),
        timings_ms=timings,
        polished=polished,
        inconsistencies=inconsistencies,
        matrix=a,
        solution=x,
    )
    for scenario in scenarios:
        build.scenarios[scenario.name] = apply_scenario(build, scenario)
    timings["total"] = (time.perf_counter() - t_start) * 1000
    return build


def _solve_bands(
    a: sp.csr_matrix,
    lower: np.ndarray,
    upper: np.ndarray,
    p: np.ndarray | None,
    nb: int,
    band_solver: str,
) -> solve.BandSolution:
    if nb > 1:
        raise CurveSolveError(
            "bid/ask builds are daily base curves (one block); use settlements for peak/off-peak"
        )
    return solve.solve_bands(a, lower, upper, p)


def _series_hash(series: pd.Series | None) -> str:
    if series is None:
        return ""
    digest = hashlib.sha256()
    index = pd.DatetimeIndex(series.index)
    digest.update(str(index.tz).encode())
    digest.update(np.ascontiguousarray(index.as_unit("s").asi8).tobytes())
    digest.update(np.ascontiguousarray(series.to_numpy(dtype=float)).tobytes())
    return digest.hexdigest()


def _prior_vector(
    prior: pd.Series | None,
    hourly_frame: pd.DataFrame,
    dates: pd.DatetimeIndex,
    blocks: Blocks,
    block_of_hour: np.ndarray,
    day_of_hour: np.ndarray,
    hours: np.ndarray,
) -> np.ndarray | None:
    """Return the prior on the stacked block-day unknowns (daily priors apply to every block)."""
    if prior is None:
        return None
    nb, n = hours.shape
    index = pd.DatetimeIndex(prior.index)
    if index.tz is None:  # by local date
        values = prior.reindex(dates)
        if values.isna().any():
            missing = dates[values.isna().to_numpy()]
            raise ValueError(
                f"the prior has no value for {len(missing)} delivery date(s), first {missing[0].date()}"
            )
        return np.tile(values.to_numpy(dtype=float), nb)
    by_hour = prior.reindex(pd.DatetimeIndex(hourly_frame["datetime_utc"]))
    if by_hour.isna().any():
        raise ValueError(f"the hourly prior misses {int(by_hour.isna().sum())} delivery hour(s) of the curve")
    sums = np.zeros((nb, n))
    np.add.at(sums, (block_of_hour, day_of_hour), by_hour.to_numpy(dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(hours > 0, sums / np.maximum(hours, 1), np.nan)
    # block-days without hours (peak on a Sunday): carry the block's neighbouring values, for smoothness only
    filled = pd.DataFrame(means.T).interpolate(limit_direction="both").to_numpy().T
    return np.asarray(filled.ravel(), dtype=float)


def _hourly(
    hourly_frame: pd.DataFrame,
    shape: pd.Series | None,
    block_curves: np.ndarray,
    block_of_hour: np.ndarray,
    day_of_hour: np.ndarray,
    nb: int,
    n: int,
) -> pd.DataFrame:
    """Each hour = its block-day price x shape / (mean shape of that block-day)."""
    if shape is None:
        s = np.ones(len(hourly_frame))
    else:
        aligned = shape.reindex(pd.DatetimeIndex(hourly_frame["datetime_utc"]))
        if aligned.isna().any():
            raise ValueError(
                f"the hourly shape misses {int(aligned.isna().sum())} delivery hour(s) of the curve"
            )
        s = aligned.to_numpy(dtype=float)
        if np.any(s <= 0):
            raise ValueError("the hourly shape must be positive (it is a multiplicative profile)")
    sums = np.zeros((nb, n))
    counts = np.zeros((nb, n))
    np.add.at(sums, (block_of_hour, day_of_hour), s)
    np.add.at(counts, (block_of_hour, day_of_hour), 1.0)
    mean = sums[block_of_hour, day_of_hour] / counts[block_of_hour, day_of_hour]
    price = block_curves[block_of_hour, day_of_hour] * s / mean
    out = hourly_frame[["datetime_utc", "datetime_local", "date", "block"]].copy()
    out["price"] = price
    return out


def _reprice_hourly(contracts: list[Contract], calendar: MarketCalendar, hourly: pd.DataFrame) -> np.ndarray:
    """Each contract's average over its profile's hours of the hourly curve (the real repricing check)."""
    dates = hourly["date"].to_numpy()
    price = hourly["price"].to_numpy()
    masks: dict[str, np.ndarray] = {}
    out = np.empty(len(contracts))
    for i, c in enumerate(contracts):
        key = c.profile.lower()
        if key not in masks:
            masks[key] = calendar.profile_mask(hourly.assign(is_peak=_is_peak(hourly, calendar)), key)
        lo = np.searchsorted(dates, np.datetime64(c.start), side="left")
        hi = np.searchsorted(dates, np.datetime64(c.end), side="right")
        sel = masks[key][lo:hi]
        out[i] = price[lo:hi][sel].mean()
    return out


def _is_peak(hourly: pd.DataFrame, calendar: MarketCalendar) -> np.ndarray:
    return np.asarray(hourly["block"].to_numpy(dtype=object) == calendar.block_labels[0], dtype=bool)


def apply_scenario(build: CurveBuild, scenario: Scenario) -> pd.Series:
    """Return the base curve with the scenario's shifts applied (in order) [price]."""
    curve = build.curve.copy()
    if build.granularity == "hourly" and build.hourly is not None:
        dates = build.hourly["date"].to_numpy()
        frame = build.hourly.assign(is_peak=_is_peak(build.hourly, build.calendar))
    else:
        dates = build.daily.index.to_numpy()
        frame = None
    values = curve.to_numpy(dtype=float).copy()
    for shift in scenario.shifts:
        if shift.kind not in ("add", "mul"):
            raise ValueError(
                f"scenario {scenario.name}: shift kind must be 'add' or 'mul', got {shift.kind!r}"
            )
        sel = (dates >= np.datetime64(shift.start)) & (dates <= np.datetime64(shift.end))
        if frame is not None:
            sel &= build.calendar.profile_mask(frame, shift.profile)
        elif shift.profile.lower() != "base":
            raise ValueError(
                f"scenario {scenario.name}: a daily curve can only be shifted for profile 'base'"
            )
        values[sel] = values[sel] + shift.value if shift.kind == "add" else values[sel] * shift.value
    return pd.Series(values, index=curve.index, name=scenario.name)


def _equality_report(
    contracts: list[Contract],
    structure: solve.Structure,
    price: np.ndarray,
    implied: dict[int, float],
    bad: dict[int, float],
) -> pd.DataFrame:
    rows = []
    for dep in structure.dependencies:
        if dep.index not in bad:
            continue
        parts = ", ".join(f"{coef:.4f} x {contracts[r].name}" for r, coef in sorted(dep.combination.items()))
        rows.append(
            {
                "contract": contracts[dep.index].name,
                "profile": contracts[dep.index].profile,
                "price": price[dep.index],
                "implied_by_others": implied[dep.index],
                "inconsistency": bad[dep.index],
                "implied_from": parts,
            }
        )
    return pd.DataFrame(rows)


def _equality_message(report: pd.DataFrame) -> str:
    lines = [f"{len(report)} contract(s) contradict the contracts they overlap:"]
    for r in report.itertuples():
        lines.append(
            f"  {r.contract} ({r.profile}) quoted {r.price:.6g} but {r.implied_from} implies "
            f"{r.implied_by_others:.6g}: inconsistent by {r.inconsistency:+.6g}"
        )
    lines.append(
        "fix the quotes, or build with --on-inconsistent least-squares to reprice them as closely as possible"
    )
    return "\n".join(lines)


def _band_message(report: pd.DataFrame) -> str:
    lines = [
        f"the bid/ask bands of {len(report)} contract(s) cannot all hold; the least widening that would:"
    ]
    for r in report.itertuples():
        lines.append(f"  {r.contract} ({r.profile}) [{r.bid:.6g}, {r.ask:.6g}] needs {r.widen_by:.6g} more")
    lines.append("fix the quotes, or build with --on-inconsistent least-squares to widen them by that much")
    return "\n".join(lines)
