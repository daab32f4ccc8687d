"""Build a forward curve from contract quotes: daily or hourly, settlements or bid/ask, exact or reconciled.

The unknowns are *daily* curves, one per delivery block: for base-only quotes one block (all hours); with
peak quotes two (peak, off-peak); with North American 2x16 / 7x8 quotes the blocks those need. Blocks that no
quote tells apart are merged, so every unknown is pinned down by some contract. Each contract is the
hour-weighted (power) or day-weighted (gas) average of the block-days it delivers, with DST-correct hour
counts from the market calendar. The daily block curves are as smooth as possible (:mod:`.solve`); an hourly
curve is each block-day's price times the hourly shape normalised to average 1 over that block-day, so every
base, peak and off-peak contract still reprices exactly at hourly resolution.

:func:`build_curve` runs these steps, each a function of its own (timed under the stage in brackets):

1. the delivery grid: the calendar's real hours over the window (:func:`.grid.delivery_grid`), the
   contracts delivering in it (:func:`.grid.contracts_in_window`), the solved blocks
   (:func:`.blocks.choose_blocks`) and their hours on each day (:func:`.grid.block_days`) [calendar];
2. the contract rows over the block-days (:func:`.matrix.contract_system`) and the prior on them
   (:func:`.prior.prior_on_cells`) [matrix];
3. the fit: exact to settlements (:func:`.fit.fit_settlements`) or inside bid/ask bands
   (:func:`.fit.fit_bands`), contradictions reported or reconciled [solve];
4. the output: the daily frame, the shaped hourly prices and every contract repriced on them
   (:mod:`.output`) [output];
5. the build: the contract fits, the recorded parameters and inputs hash, the scenarios.

The calendar grid and what follows from the contracts alone (the contract rows, which contracts follow from
others, the factorised KKT system) do not depend on the prices: the last few are kept, so rebuilding the same
contracts over the same window with new quotes starts at the solve.
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
from marketintel.curves.blocks import Blocks, choose_blocks, profile_atoms
from marketintel.curves.fit import (
    BandSolver,
    InconsistentContractsError,
    OnInconsistent,
    Quotes,
    fit_bands,
    fit_settlements,
)
from marketintel.curves.grid import (
    DeliveryGrid,
    Window,
    block_days,
    clear_grid_cache,
    contracts_in_window,
    delivery_grid,
)
from marketintel.curves.matrix import clear_system_cache, contract_system
from marketintel.curves.output import (
    EXACT,
    HourlyCurve,
    daily_frame,
    fits_frame,
    reprice_hourly,
    shape_on_grid,
    shaped_hours,
)
from marketintel.curves.prior import prior_on_cells
from marketintel.curves.solve import CurveSolveError, reprice

__all__ = [
    "EXACT",
    "Blocks",
    "CurveBuild",
    "CurveSolveError",
    "InconsistentContractsError",
    "Scenario",
    "Shift",
    "apply_scenario",
    "build_curve",
    "choose_blocks",
    "clear_caches",
    "input_hash",
    "profile_atoms",
]

Granularity = Literal["daily", "hourly"]
Weights = Literal["hours", "days"]


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
    hourly_curve: HourlyCurve | None  # hourly prices on the delivery grid (hourly builds) [price]
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
    def hourly(self) -> pd.DataFrame | None:
        """``datetime_utc, datetime_local, date, block, price`` per hour: hourly builds, made on first use."""
        return None if self.hourly_curve is None else self.hourly_curve.frame()

    @property
    def max_reprice_error(self) -> float:
        """Largest distance of a contract's repriced average from its quote or band [price]."""
        return float(self.fits["error"].abs().max()) if len(self.fits) else 0.0

    @property
    def curve(self) -> pd.Series:
        """The base-scenario curve: daily prices by date, or hourly by UTC hour [price]."""
        if self.granularity == "hourly" and self.hourly_curve is not None:
            return self.hourly_curve.series()
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
        if self.granularity == "hourly" and self.hourly_curve is not None:
            start = self.hourly_curve.grid.utc
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


def input_hash(contracts: list[Contract], parameters: dict[str, Any]) -> str:
    """Return the sha256 of the quotes and parameters, canonically serialised (same inputs, same hash)."""
    quotes = sorted(
        (c.name, c.profile, c.start.isoformat(), c.end.isoformat(), c.price, c.bid, c.ask) for c in contracts
    )
    text = json.dumps({"quotes": quotes, "parameters": parameters}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def clear_caches() -> None:
    """Forget the kept delivery grids and contract systems (the next build starts from the calendar)."""
    clear_grid_cache()
    clear_system_cache()


class _Stopwatch:
    """Milliseconds per stage of a build: each :meth:`lap` ends a stage, :meth:`skip` leaves time untimed."""

    def __init__(self) -> None:
        self.start = self.mark = time.perf_counter()
        self.ms: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = (now - self.mark) * 1000
        self.mark = now

    def skip(self) -> None:
        self.mark = time.perf_counter()

    def total(self) -> dict[str, float]:
        self.ms["total"] = (time.perf_counter() - self.start) * 1000
        return self.ms


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
    band_solver: BandSolver = "clarabel",
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
    clock = _Stopwatch()
    _check_options(granularity, weights, on_inconsistent)
    if not contracts:
        raise CurveSolveError("no contracts to build from")
    # 1. the delivery grid, the contracts in it, the solved blocks and their hours [calendar]
    grid = delivery_grid(calendar, start, end)
    window = contracts_in_window(contracts, grid)
    blocks = choose_blocks(calendar, {c.profile.lower() for c in window.contracts})
    if weights == "days" and len(blocks.names) > 1:
        raise ValueError("weights='days' (gas) averages whole days; all contracts must be base")
    days = block_days(grid, blocks, weights)
    clock.lap("calendar")

    # 2. the contract rows over the block-days, and the prior on them [matrix]
    system = contract_system(window.contracts, grid, blocks, days, weights)
    p = prior_on_cells(prior, grid, days)
    clock.lap("matrix")

    parameters = _parameters(
        calendar,
        grid,
        blocks,
        window,
        granularity=granularity,
        weights=weights,
        bid_ask=bid_ask,
        band_solver=band_solver,
        on_inconsistent=on_inconsistent,
        tolerance=tolerance,
        prior=prior,
        shape=shape,
        scenarios=scenarios,
    )
    clock.skip()

    # 3. the fit: exact to settlements, or inside bid/ask bands [solve]
    quotes = Quotes.of(window.contracts)
    if grid.n_days < 3:
        raise CurveSolveError(f"a smooth curve needs at least 3 grid points, got {grid.n_days}")
    if bid_ask:
        nb = len(blocks.names)
        fit = fit_bands(
            system.matrix, window.contracts, quotes, p, nb, tolerance, on_inconsistent, band_solver
        )
    else:
        fit = fit_settlements(system, window.contracts, quotes, p, tolerance, on_inconsistent)
    clock.lap("solve")

    # 4. the daily curve, the hourly one, and every contract repriced at the build's resolution [output]
    block_curves = fit.curve.reshape(days.shape)
    daily = daily_frame(block_curves, days, grid, blocks)
    hourly: HourlyCurve | None = None
    if granularity == "hourly":
        hourly = HourlyCurve(grid, shaped_hours(block_curves, days, shape_on_grid(shape, grid)))
        repriced = reprice_hourly(hourly.price, grid, window.contracts, weights)
    else:
        repriced = reprice(system.matrix, fit.curve)
    clock.lap("output")

    # 5. the build: each contract's fit, the inputs hash, the scenarios
    fits = fits_frame(window.contracts, quotes, fit, repriced)
    if not bid_ask and len(fit.inconsistencies):
        fits.loc[np.abs(fit.target - quotes.price) > tolerance, "status"] = "adjusted (least squares)"
    build = CurveBuild(
        calendar=calendar,
        granularity=granularity,
        blocks=blocks,
        daily=daily,
        hourly_curve=hourly,
        fits=fits,
        method=fit.method,
        solver=fit.solver,
        parameters=parameters,
        input_sha256=input_hash(window.contracts, parameters),
        timings_ms=clock.ms,
        polished=fit.polished,
        inconsistencies=fit.inconsistencies,
        matrix=system.matrix.copy(),  # the kept rows stay untouched by what callers do with the build's
        solution=fit.curve,
    )
    for scenario in scenarios:
        build.scenarios[scenario.name] = apply_scenario(build, scenario)
    clock.total()
    return build


def _check_options(granularity: str, weights: str, on_inconsistent: str) -> None:
    """Raise ``ValueError`` naming what was expected, on an unknown option value."""
    if granularity not in ("daily", "hourly"):
        raise ValueError(f"granularity must be 'daily' or 'hourly', got {granularity!r}")
    if weights not in ("hours", "days"):
        raise ValueError(f"weights must be 'hours' (power) or 'days' (gas), got {weights!r}")
    if on_inconsistent not in ("fail", "least-squares"):
        raise ValueError(f"on_inconsistent must be 'fail' or 'least-squares', got {on_inconsistent!r}")


def _parameters(
    calendar: MarketCalendar,
    grid: DeliveryGrid,
    blocks: Blocks,
    window: Window,
    *,
    granularity: Granularity,
    weights: Weights,
    bid_ask: bool,
    band_solver: BandSolver,
    on_inconsistent: OnInconsistent,
    tolerance: float,
    prior: pd.Series | None,
    shape: pd.Series | None,
    scenarios: tuple[Scenario, ...],
) -> dict[str, Any]:
    """Return what a build records of its inputs besides the quotes (and hashes with them)."""
    parameters: dict[str, Any] = {
        "calendar": calendar.name,
        "start": grid.first.isoformat(),
        "end": grid.last.isoformat(),
        "granularity": granularity,
        "weights": weights,
        "blocks": list(blocks.names),
        "bid_ask": bid_ask,
        "on_inconsistent": on_inconsistent,
        "tolerance": tolerance,
        "prior_sha256": _series_hash(prior),
        "shape_sha256": _series_hash(shape),
        "ignored_outside_window": window.ignored,
        "scenarios": [
            {"name": sc.name, "shifts": [dataclasses.asdict(sh) for sh in sc.shifts]} for sc in scenarios
        ],
    }
    if bid_ask:
        parameters["band_solver"] = band_solver
    return parameters


def _series_hash(series: pd.Series | None) -> str:
    if series is None:
        return ""
    digest = hashlib.sha256()
    index = pd.DatetimeIndex(series.index)
    digest.update(str(index.tz).encode())
    digest.update(np.ascontiguousarray(index.as_unit("s").asi8).tobytes())
    digest.update(np.ascontiguousarray(series.to_numpy(dtype=float)).tobytes())
    return digest.hexdigest()


def apply_scenario(build: CurveBuild, scenario: Scenario) -> pd.Series:
    """Return the base curve with the scenario's shifts applied (in order) [price]."""
    curve = build.curve.copy()
    if build.granularity == "hourly" and build.hourly_curve is not None:
        hours = build.hourly_curve.grid.hours  # the calendar's frame: is_peak and block per hour
        dates = hours["date"].to_numpy()
        frame: pd.DataFrame | None = hours
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
