"""Fit the block-day curves to the quotes: exactly to settlements, or inside bid/ask bands.

Both fits first check that the quotes can hold together. Settlements: a contract that is a combination of
others (a quarter beside its three months) must be priced as that combination, within ``tolerance``.
Bands: some curve must reprice every contract inside its band. Contradictions either fail the build with a
report of which quotes disagree and by how much (:class:`InconsistentContractsError`), or are reconciled:
settlements by least squares, bands by the least widening that lets them all hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from marketintel.calendars import Contract
from marketintel.curves import solve
from marketintel.curves.matrix import ContractSystem
from marketintel.curves.solve import CurveSolveError

OnInconsistent = Literal["fail", "least-squares"]
BandSolver = Literal["clarabel", "cvxpy"]


class InconsistentContractsError(CurveSolveError):
    """Quotes that no curve can satisfy together; ``report`` says which and by how much."""

    def __init__(self, message: str, report: pd.DataFrame) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Quotes:
    """The contracts' quotes as arrays, NaN where a contract has none [price].

    Attributes
    ----------
    price, bid, ask : np.ndarray
        Settlement, bid and ask of each contract [price].
    """

    price: np.ndarray
    bid: np.ndarray
    ask: np.ndarray

    @classmethod
    def of(cls, contracts: list[Contract]) -> Quotes:
        """Return the quotes of ``contracts``, in their order."""

        def values(quote: Literal["price", "bid", "ask"]) -> np.ndarray:
            raw = (getattr(c, quote) for c in contracts)
            return np.array([np.nan if v is None else v for v in raw], dtype=float)

        return cls(values("price"), values("bid"), values("ask"))


@dataclass(frozen=True)
class Fit:
    """The fitted block-day curves and what they were fitted to.

    Attributes
    ----------
    curve : np.ndarray
        The stacked block-day curves [price].
    target : np.ndarray
        What each contract was fitted to: its quote, its least-squares reconciliation, or (bands) where
        its repriced average lies inside the band [price].
    lower, upper : np.ndarray
        The band each contract's repriced average must fall in; both equal ``target`` for settlements
        [price].
    method : str
        ``max_smoothness_exact`` or ``max_smoothness_bid_ask``.
    solver : str
        How it was solved (``sparse-kkt-lu``, ``clarabel+exact-polish``, ...).
    polished : bool
        Whether a bid/ask answer is the verified exact optimum (always True for settlements).
    inconsistencies : pd.DataFrame
        The contradictions found and reconciled (empty when the quotes hold together).
    """

    curve: np.ndarray
    target: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: str
    solver: str
    polished: bool = True
    inconsistencies: pd.DataFrame = field(default_factory=pd.DataFrame)


def fit_settlements(
    system: ContractSystem,
    contracts: list[Contract],
    quotes: Quotes,
    prior: np.ndarray | None,
    tolerance: float,
    on_inconsistent: OnInconsistent,
) -> Fit:
    """Fit the smoothest curves that reprice every settlement exactly.

    Contracts that follow from others are checked against what the others imply and then left out of the
    solve (they reprice anyway); the rest go to the exact KKT solve, factorised once per contract set.

    Parameters
    ----------
    system : ContractSystem
        The contract rows and their structure.
    contracts : list of Contract
        The contracts, in row order.
    quotes : Quotes
        Their quotes; every contract needs a price.
    prior : np.ndarray, optional
        Prior on the stacked block-day cells [price].
    tolerance : float
        Largest contradiction accepted as rounding [price].
    on_inconsistent : {"fail", "least-squares"}
        Raise on a contradiction, or reprice the closest consistent prices.

    Raises
    ------
    ValueError
        When a contract has no price.
    InconsistentContractsError
        On a contradiction larger than ``tolerance`` with ``on_inconsistent="fail"``.
    CurveSolveError
        When the contracts do not determine a curve.
    """
    price = quotes.price
    if np.isnan(price).any():
        missing = [c.name for c, v in zip(contracts, price, strict=True) if np.isnan(v)]
        raise ValueError(f"contracts without a price (pass --bid-ask to use bid/ask bands): {missing}")
    structure = system.structure
    implied = structure.implied(price)
    gaps = {i: price[i] - v for i, v in implied.items()}
    bad = {i: g for i, g in gaps.items() if abs(g) > tolerance}
    used = price.copy()
    inconsistencies = pd.DataFrame()
    if bad:
        inconsistencies = equality_report(contracts, structure, price, implied, bad)
        if on_inconsistent == "fail":
            raise InconsistentContractsError(equality_message(inconsistencies), inconsistencies)
        used = solve.project_consistent(system.matrix, price)
    keep = structure.independent
    curve, _ = system.equality().solve(used[keep], prior)
    return Fit(curve, used, used, used, "max_smoothness_exact", "sparse-kkt-lu", True, inconsistencies)


def fit_bands(
    a: sp.csr_matrix,
    contracts: list[Contract],
    quotes: Quotes,
    prior: np.ndarray | None,
    blocks: int,
    tolerance: float,
    on_inconsistent: OnInconsistent,
    band_solver: BandSolver,
) -> Fit:
    """Fit the smoothest curve that reprices every contract inside its bid/ask band.

    Contracts with a price but no band are held at the price. Bands that cannot all hold are found when
    the solver says so; then the least widening that lets them hold is computed, and either reported
    (``on_inconsistent="fail"``) or applied.

    Parameters
    ----------
    a : sp.csr_matrix
        The contract rows.
    contracts : list of Contract
        The contracts, in row order.
    quotes : Quotes
        Their quotes: bid and ask, or a price.
    prior : np.ndarray, optional
        Prior on the stacked block-day cells [price].
    blocks : int
        Solved blocks; bid/ask builds solve one (base).
    tolerance : float
        Widening accepted as rounding [price].
    on_inconsistent : {"fail", "least-squares"}
        Raise when the bands cannot hold, or widen them by the least amount that lets them.
    band_solver : {"clarabel", "cvxpy"}
        Reach Clarabel directly or through cvxpy; either way the answer is polished to the exact optimum.

    Raises
    ------
    ValueError
        When a contract has neither a band nor a price.
    InconsistentContractsError
        When the bands need widening by more than ``tolerance`` and ``on_inconsistent="fail"``.
    CurveSolveError
        With more than one block, or when the solver fails.
    """
    price, bid, ask = quotes.price, quotes.bid, quotes.ask
    banded = ~np.isnan(bid) & ~np.isnan(ask)
    if np.any(~banded & np.isnan(price)):
        missing = [c.name for c, ok in zip(contracts, banded | ~np.isnan(price), strict=True) if not ok]
        raise ValueError(f"--bid-ask needs bid and ask (or a price) for every contract; missing: {missing}")
    lower = np.where(banded, bid, price)
    upper = np.where(banded, ask, price)
    inconsistencies = pd.DataFrame()
    try:  # the bands usually hold together: solve first, diagnose only when the solver says they cannot
        band = _solve_bands(a, lower, upper, prior, blocks, band_solver)
    except solve.BandsInfeasibleError:
        violation = solve.band_violations(a, lower, upper)
        report = pd.DataFrame(
            {"contract": [c.name for c in contracts], "profile": [c.profile for c in contracts],
             "bid": lower, "ask": upper, "widen_by": violation}
        )  # fmt: skip
        if violation.max() > tolerance:
            inconsistencies = report[violation > tolerance]
            if on_inconsistent == "fail":
                raise InconsistentContractsError(band_message(inconsistencies), inconsistencies) from None
        lower, upper = lower - violation, upper + violation  # the least widening that lets all hold
        band = _solve_bands(a, lower, upper, prior, blocks, band_solver)
    used = np.clip(solve.reprice(a, band.curve), lower, upper)
    via = "cvxpy+clarabel" if band_solver == "cvxpy" else "clarabel"
    solver = f"{via}+exact-polish" if band.polished else via
    return Fit(
        band.curve, used, lower, upper, "max_smoothness_bid_ask", solver, band.polished, inconsistencies
    )


def _solve_bands(
    a: sp.csr_matrix,
    lower: np.ndarray,
    upper: np.ndarray,
    prior: np.ndarray | None,
    blocks: int,
    band_solver: BandSolver,
) -> solve.BandSolution:
    if blocks > 1:
        raise CurveSolveError(
            "bid/ask builds are daily base curves (one block); use settlements for peak/off-peak"
        )
    return solve.solve_bands(a, lower, upper, prior, via=band_solver)


def equality_report(
    contracts: list[Contract],
    structure: solve.Structure,
    price: np.ndarray,
    implied: dict[int, float],
    bad: dict[int, float],
) -> pd.DataFrame:
    """Return one row per contradicted contract: its price, what the others imply, the difference [price]."""
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


def equality_message(report: pd.DataFrame) -> str:
    """Return the error message for contradicting settlements: each one, its implied price, the fix."""
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


def band_message(report: pd.DataFrame) -> str:
    """Return the error message for bands that cannot all hold: each one and the widening it needs."""
    lines = [
        f"the bid/ask bands of {len(report)} contract(s) cannot all hold; the least widening that would:"
    ]
    for r in report.itertuples():
        lines.append(f"  {r.contract} ({r.profile}) [{r.bid:.6g}, {r.ask:.6g}] needs {r.widen_by:.6g} more")
    lines.append("fix the quotes, or build with --on-inconsistent least-squares to widen them by that much")
    return "\n".join(lines)
