"""Contract rows: each contract as the weighted average of the block-day cells it delivers.

Row ``c`` of the contract matrix ``A`` holds ``w_j / W_c`` on every cell ``j`` the contract delivers, where
``w_j`` is the cell's weight (its hours for power, 1 for a gas day) and ``W_c`` the contract's total, so
``A f`` is every contract's average price under the stacked block-day curves ``f``.

What follows from ``A`` alone, not from the prices (which contracts are combinations of others, the
factorised KKT system of the exact solve), is kept in a :class:`ContractSystem`. :func:`contract_system`
keeps the last few of them, so a rebuild of the same contracts over the same window (new settlements, a
scenario, another shape) goes straight to the solve with the finished factorisation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Literal

import numpy as np
import scipy.sparse as sp

from marketintel.calendars import Contract
from marketintel.curves import solve
from marketintel.curves.blocks import Blocks, profile_atoms
from marketintel.curves.grid import BlockDays, DeliveryGrid
from marketintel.curves.solve import CurveSolveError

#: contract systems kept for rebuilds of the same contracts (a 3-year hourly system holds about 2 MB)
SYSTEM_CACHE_SIZE = 8


def contract_matrix(
    contracts: list[Contract], grid: DeliveryGrid, blocks: Blocks, days: BlockDays
) -> sp.csr_matrix:
    """Return the contract rows over the stacked block-day cells (each row sums to 1).

    Parameters
    ----------
    contracts : list of Contract
        Contracts delivering inside the grid's window.
    grid : DeliveryGrid
        The build's delivery days.
    blocks : Blocks
        The solved blocks.
    days : BlockDays
        The cells' averaging weights ``(blocks, days)`` [h] or [d].

    Returns
    -------
    sp.csr_matrix
        ``len(contracts) x (blocks * days)``; cells without weight (peak on a Sunday) hold no entry.

    Raises
    ------
    CurveSolveError
        When a contract delivers no hours (e.g. a peak contract over a weekend).
    """
    nb, n = days.shape
    lo, hi = grid.day_spans([c.start for c in contracts], [c.end for c in contracts])
    parts: dict[str, list[int]] = {}
    segments = []  # (row, block) per block a contract delivers in, in row order
    for r, c in enumerate(contracts):
        if c.profile not in parts:
            parts[c.profile] = blocks.covering(profile_atoms(grid.calendar, c.profile))
        segments += [(r, b) for b in parts[c.profile]]
    seg_row, seg_block = np.array(segments, dtype=np.int64).reshape(-1, 2).T
    seg_lo, seg_hi = lo[seg_row], hi[seg_row]
    length = seg_hi - seg_lo
    seg = np.repeat(np.arange(len(seg_row)), length)
    offset = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    cols = seg_block[seg] * n + seg_lo[seg] + offset
    rows = seg_row[seg]
    weight = days.weights.ravel()[cols]
    # whole hours or days: the totals are exact integers whatever the order they are summed in
    total = np.bincount(rows, weights=weight, minlength=len(contracts))
    if np.any(total <= 0):
        c = contracts[int(np.flatnonzero(total <= 0)[0])]
        raise CurveSolveError(
            f"contract {c.name} ({c.profile}) delivers no hours between {c.start} and {c.end}"
        )
    keep = weight > 0
    return sp.csr_matrix(
        (weight[keep] / total[rows[keep]], (rows[keep], cols[keep])), shape=(len(contracts), nb * n)
    )


def pattern_columns(a: sp.csr_matrix) -> sp.csr_matrix:
    """Return ``a`` with each run of neighbouring columns that the same rows deliver on summed into one.

    In a contract matrix, entry ``(c, j)`` is ``w_j / W_c``: columns that the same contracts deliver on are
    proportional, so summing them keeps every linear relation between the rows, exactly, while a 3-year
    grid of 2,192 block-days shrinks to one column per stretch between contract boundaries (about 70).
    Which contracts follow from others (:func:`~marketintel.curves.solve.dependencies`) is then found on
    the small matrix. Columns no row delivers on (peak on a Sunday) are left out.

    Parameters
    ----------
    a : sp.csr_matrix
        ``m x n`` contract rows (entries: a column weight over a row total).

    Returns
    -------
    sp.csr_matrix
        ``m x g``, one column per run (``g <= n``).
    """
    dense = a.toarray()
    columns = np.flatnonzero((dense != 0).any(axis=0))
    pattern = dense[:, columns] != 0
    starts = np.flatnonzero(np.concatenate([[True], (pattern[:, 1:] != pattern[:, :-1]).any(axis=0)]))
    return sp.csr_matrix(np.add.reduceat(dense[:, columns], starts, axis=1))


class ContractSystem:
    """The contract rows of a build and what follows from them alone (computed once, when first needed).

    Parameters
    ----------
    matrix : sp.csr_matrix
        The contract rows (:func:`contract_matrix`); never changed.
    blocks : int
        Curves stacked in the columns (one per solved block).
    """

    def __init__(self, matrix: sp.csr_matrix, blocks: int) -> None:
        self.matrix = matrix
        self.blocks = blocks
        self._structure: solve.Structure | None = None
        self._equality: solve.EqualitySystem | None = None
        self._lock = threading.Lock()

    @property
    def structure(self) -> solve.Structure:
        """Which contracts are independent, and how each other one follows from them."""
        with self._lock:
            if self._structure is None:
                a = self.matrix
                support = np.diff(a.indptr)  # cells each contract delivers on: shortest first
                order = np.lexsort((np.arange(a.shape[0]), support))
                self._structure = solve.dependencies(pattern_columns(a), order)
            return self._structure

    def equality(self) -> solve.EqualitySystem:
        """Return the factorised exact problem over the independent contracts.

        Raises
        ------
        CurveSolveError
            When the independent contracts do not determine a curve (the roughness ignores a line per
            block: every block needs its level and slope pinned down).
        """
        structure = self.structure
        with self._lock:
            if self._equality is None:
                n = self.matrix.shape[1] // self.blocks
                hessian = solve.roughness_hessian(n, self.blocks)
                self._equality = solve.EqualitySystem(
                    self.matrix[structure.independent], hessian, self.blocks, rows_independent=True
                )
            return self._equality


_SYSTEMS: OrderedDict[Hashable, ContractSystem] = OrderedDict()
_SYSTEMS_LOCK = threading.Lock()


def contract_system(
    contracts: list[Contract],
    grid: DeliveryGrid,
    blocks: Blocks,
    days: BlockDays,
    weights: Literal["hours", "days"],
) -> ContractSystem:
    """Return the contract system of ``contracts`` on ``grid``, reusing a kept one when they match.

    Two builds share a system when they have the same calendar, window, weights, solved blocks, and the
    same contracts (delivery period and profile, in the same order); prices, bid/ask, priors and shapes
    may differ. The last :data:`SYSTEM_CACHE_SIZE` systems are kept.

    Raises
    ------
    CurveSolveError
        When a contract delivers no hours (see :func:`contract_matrix`).
    """
    key = (
        grid.calendar,
        grid.first,
        grid.last,
        weights,
        blocks,
        tuple((c.start, c.end, c.profile) for c in contracts),
    )
    with _SYSTEMS_LOCK:
        system = _SYSTEMS.get(key)
        if system is not None:
            _SYSTEMS.move_to_end(key)
            return system
    system = ContractSystem(contract_matrix(contracts, grid, blocks, days), len(blocks.names))
    with _SYSTEMS_LOCK:
        _SYSTEMS[key] = system
        while len(_SYSTEMS) > SYSTEM_CACHE_SIZE:
            _SYSTEMS.popitem(last=False)
    return system


def clear_system_cache() -> None:
    """Forget the kept contract systems (the next build of every contract set factorises again)."""
    with _SYSTEMS_LOCK:
        _SYSTEMS.clear()
