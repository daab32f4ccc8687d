"""The numerical core of the curve engine: maximum smoothness under contract constraints.

Notation: ``f`` [price] is the curve on a delivery grid of ``n`` points (days); contract ``c`` constrains the
weighted average ``a_c . f`` where row ``a_c`` holds the weights of the grid points it delivers, normalised to
sum to 1 (hours per day for power, one per day for gas). The objective is the discrete roughness

    J(f) = sum_t (g[t-1] - 2 g[t] + g[t+1])^2,   g = f - prior,

with free ends. Three problems are solved here:

- **Equality** (settlements): ``min J`` subject to ``A f = F``, by one sparse solve of the KKT system
  ``[H A'; A 0] [f; y] = [H prior; F]`` with ``H = D'D``, after removing dependent contracts (a quarter
  quoted beside its three months) so the system is not singular, then one step of iterative refinement.
  The answer is exact up to rounding: every contract reprices to ~1e-12.
- **Bands** (bid/ask): ``min J`` subject to ``bid <= A f <= ask``, a convex QP solved by Clarabel (interior
  point, tight tolerances), then *polished*: the contracts at a bound are fixed there and the equality
  problem is solved exactly; the polished answer is kept only if it satisfies every band and the KKT sign
  conditions, which makes it the exact optimum. Otherwise Clarabel's answer is kept and says so.
- **Consistency**: which contracts follow from others (:func:`dependencies`), by how much the quoted prices
  disagree with what the others imply, the least-squares consistent prices (:func:`project_consistent`), and
  how far bid/ask bands are from being jointly satisfiable (:func:`band_violations`).

Never trust a solver's status alone: callers reprice every contract with the result
(:func:`reprice`) and report the largest error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from marketintel.exceptions import MarketIntelError

#: relative size under which a contract's weight row counts as a combination of other rows
RANK_TOL = 1e-9


class CurveSolveError(MarketIntelError):
    """The constraints cannot define a curve (too few contracts, or a solver failure)."""


class BandsInfeasibleError(CurveSolveError):
    """No curve satisfies every bid/ask band at once (:func:`band_violations` says by how much)."""


def second_difference(n: int) -> sp.csr_matrix:
    """Return the ``(n-2) x n`` second-difference operator ``D`` (free ends)."""
    if n < 3:
        raise CurveSolveError(f"a smooth curve needs at least 3 grid points, got {n}")
    return sp.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n), format="csr")


def roughness(f: np.ndarray, prior: np.ndarray | None = None) -> float:
    """Return the objective ``J = sum (second difference of f - prior)^2`` [price^2]."""
    g = f if prior is None else f - prior
    d2 = g[:-2] - 2.0 * g[1:-1] + g[2:]
    return float(d2 @ d2)


def roughness_hessian(n: int, blocks: int = 1) -> sp.csc_matrix:
    """Return ``H = D'D`` for ``blocks`` curves of ``n`` points stacked (block diagonal).

    The pentadiagonal bands are written down directly (rows ``1, -4, 6, -4, 1`` inside, ``1, -2, 1`` /
    ``-2, 5, -4, 1`` at the free ends): integers, so the entries equal ``D'D`` computed by products.

    Parameters
    ----------
    n : int
        Grid points per curve (at least 3).
    blocks : int
        Curves stacked one after the other (no coupling between them).
    """
    if n < 3:
        raise CurveSolveError(f"a smooth curve needs at least 3 grid points, got {n}")
    # bands[k, j]: entry (j + k - 2, j) of one block; D's row r holds 1, -2, 1 at columns r, r+1, r+2
    j = np.arange(n)
    bands = np.zeros((5, n))
    bands[0, 2:] = 1.0  # (j-2, j): row j-2
    bands[1] = -2.0 * ((j >= 1) & (j <= n - 2)) - 2.0 * (j >= 2)  # (j-1, j): rows j-1 and j-2
    bands[2] = 1.0 * (j <= n - 3) + 4.0 * ((j >= 1) & (j <= n - 2)) + 1.0 * (j >= 2)  # rows j, j-1, j-2
    bands[3, :-1] = bands[1, 1:]  # symmetric
    bands[4, :-2] = bands[0, 2:]
    rows = np.arange(n)[None, :] + np.arange(-2, 3)[:, None]
    inside = (rows >= 0) & (rows < n)
    per_column = inside.sum(axis=0)
    offsets = np.repeat(np.arange(blocks) * n, int(per_column.sum()))
    indices = (np.tile(rows.T[inside.T], blocks) + offsets).astype(np.int32)
    data = np.tile(bands.T[inside.T], blocks)
    indptr = np.concatenate([[0], np.cumsum(np.tile(per_column, blocks))]).astype(np.int32)
    return sp.csc_matrix((data, indices, indptr), shape=(n * blocks, n * blocks))


def reprice(a: sp.csr_matrix, f: np.ndarray) -> np.ndarray:
    """Return each contract's average under curve ``f`` (rows of ``a`` sum to 1) [price]."""
    return np.asarray(a @ f).ravel()


@dataclass(frozen=True)
class Dependency:
    """A contract whose delivery is a combination of other contracts' deliveries.

    Attributes
    ----------
    index : int
        Row of the dependent contract.
    combination : dict[int, float]
        Rows of the independent contracts and coefficients: ``a_index = sum coef * a_row``.
    """

    index: int
    combination: dict[int, float]


@dataclass(frozen=True)
class Structure:
    """Which contracts are independent, and how each other one follows from them."""

    independent: np.ndarray
    dependencies: list[Dependency] = field(default_factory=list)

    def implied(self, prices: np.ndarray) -> dict[int, float]:
        """Return the price each dependent contract's combination implies [price]."""
        return {
            d.index: float(sum(coef * prices[row] for row, coef in d.combination.items()))
            for d in self.dependencies
        }


def dependencies(a: sp.csr_matrix, order: np.ndarray | None = None) -> Structure:
    """Split contracts into an independent set and dependents (exact combinations of earlier ones).

    Rows are taken in ``order`` (default: shortest delivery first, so a quarter is the one found to follow
    from its months, not a month from the quarter and two others), and each is tested against the span of
    the rows kept so far (Householder QR, repeated without each dependent row found).

    Parameters
    ----------
    a : sp.csr_matrix
        ``m x n`` contract weight rows.
    order : np.ndarray, optional
        The order in which rows are considered.
    """
    dense = a.toarray()
    m = dense.shape[0]
    if order is None:
        support = np.asarray((a != 0).sum(axis=1)).ravel()
        order = np.lexsort((np.arange(m), support))
    norms = np.linalg.norm(dense, axis=1)
    if np.any(norms == 0.0):
        raise CurveSolveError(
            f"contract row(s) {np.flatnonzero(norms == 0.0).tolist()} deliver nothing on the grid"
        )
    # Householder QR of the rows in order: |R_kk| is the distance of row k from the span of the rows before
    # it, as long as those are independent; past a dependent row R would measure against a direction chosen
    # for that row too, so each dependent row found is taken out and the rows after it are tested again
    candidates = [int(r) for r in order]
    dependents: list[int] = []
    checked = 0  # candidates[:checked] are independent
    while checked < len(candidates):
        rows = dense[candidates].T
        r = np.asarray(np.linalg.qr(rows, mode="r"))
        distance = np.zeros(len(candidates))  # beyond n rows every further row is dependent: distance 0
        distance[: min(r.shape)] = np.abs(np.diag(r))
        tol = RANK_TOL * norms[candidates]
        dependent = np.flatnonzero(distance[checked:] <= tol[checked:])
        if dependent.size == 0:
            break
        k = checked + int(dependent[0])
        dependents.append(candidates.pop(k))
        checked = k
    kept = candidates
    independent = np.array(sorted(kept), dtype=np.int64)
    deps = []
    if dependents:
        base = dense[independent]  # k x n
        coefs, *_ = np.linalg.lstsq(base.T, dense[dependents].T, rcond=None)  # k x d
        for j, row in enumerate(dependents):
            combo = {int(independent[i]): float(c) for i, c in enumerate(coefs[:, j]) if abs(c) > 1e-12}
            deps.append(Dependency(row, combo))
    return Structure(independent, deps)


def project_consistent(a: sp.csr_matrix, prices: np.ndarray) -> np.ndarray:
    """Return the consistent prices closest to ``prices`` in least squares (projection on ``range(A)``).

    The result is what the contracts can all reprice to at once; ``prices - result`` is each contract's
    residual when a build is asked to reconcile inconsistent quotes.
    """
    u, s, _ = np.linalg.svd(a.toarray(), full_matrices=False)
    rank = int((s > RANK_TOL * s[0]).sum())
    ur = u[:, :rank]
    out: np.ndarray = ur @ (ur.T @ prices)
    return out


def _scaled(a: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows of ``a`` times the number of points each delivers: entries near 1, a well-scaled KKT system."""
    a = sp.csr_matrix(a)
    if not a.has_canonical_format or np.any(a.data == 0):
        a = a.copy()
        a.sum_duplicates()
        a.eliminate_zeros()
    count = np.diff(a.indptr)
    scale = count.astype(float)
    return sp.csr_matrix((a.data * np.repeat(scale, count), a.indices, a.indptr), shape=a.shape), scale


def _kkt(hessian: sp.csc_matrix, a_s: sp.csr_matrix) -> sp.csc_matrix:
    """Return the KKT matrix ``[H A_s'; A_s 0]`` (CSC, sorted indices), assembled from the two blocks' arrays.

    Column ``j`` of the first ``n`` holds ``H``'s column ``j`` and then ``A_s``'s column ``j`` (rows ``n``
    and up); column ``n + c`` holds ``A_s``'s row ``c``.
    """
    n, m = hessian.shape[0], a_s.shape[0]
    h = sp.csc_matrix(hessian)
    h.sort_indices()
    a_csc = sp.csc_matrix(a_s)
    a_csc.sort_indices()
    a_csr = sp.csr_matrix(a_s)
    a_csr.sort_indices()
    h_count, a_count = np.diff(h.indptr), np.diff(a_csc.indptr)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate([h_count + a_count, np.diff(a_csr.indptr)]))])
    indices = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1])
    # H's entries first in each of the first n columns, then A_s's
    h_col = np.repeat(np.arange(n), h_count)
    h_pos = indptr[h_col] + np.arange(h.nnz) - h.indptr[h_col]
    a_col = np.repeat(np.arange(n), a_count)
    a_pos = indptr[a_col] + h_count[a_col] + np.arange(a_csc.nnz) - a_csc.indptr[a_col]
    indices[h_pos], data[h_pos] = h.indices, h.data
    indices[a_pos], data[a_pos] = a_csc.indices + n, a_csc.data
    tail = indptr[n]
    indices[tail:], data[tail:] = a_csr.indices, a_csr.data
    return sp.csc_matrix((data, indices, indptr), shape=(n + m, n + m))


def check_determined(a: sp.csr_matrix, blocks: int = 1, *, rows_independent: bool = False) -> None:
    """Raise unless the rows are independent and pin down the roughness's null space (a line per block).

    ``J`` ignores adding ``alpha + beta * t`` to a block's curve, so the contracts must tell the level and the
    slope of every block apart; and a dependent row would make the KKT matrix singular (a consistent
    singular system can still return a plausible-looking answer, so this is checked, not left to LU).

    Parameters
    ----------
    a : sp.csr_matrix
        ``m x n`` contract weight rows.
    blocks : int
        How many curves of equal length are stacked in the columns.
    rows_independent : bool
        The caller has established that the rows are independent (:func:`dependencies`): only the null
        space is checked.

    Raises
    ------
    CurveSolveError
        Naming which condition fails.
    """
    m, total = a.shape
    n = total // blocks
    t = np.linspace(-1.0, 1.0, n)
    null = np.zeros((total, 2 * blocks))
    for b in range(blocks):
        null[b * n : (b + 1) * n, 2 * b] = 1.0
        null[b * n : (b + 1) * n, 2 * b + 1] = t
    sv = np.linalg.svd(np.asarray(a @ null), compute_uv=False)
    if sv.size < 2 * blocks or sv[-1] <= RANK_TOL * max(sv[0], 1.0):
        raise CurveSolveError(
            f"the contracts do not determine a curve: at least two independent contracts are needed per "
            f"delivery block ({blocks} block(s), {m} contract(s)), with deliveries that tell a level and a "
            "slope apart"
        )
    if rows_independent:
        return
    dense = a.toarray()
    r = np.linalg.qr(dense.T, mode="r")
    if np.any(np.abs(np.diag(r)) <= RANK_TOL * np.linalg.norm(dense, axis=1)):
        raise CurveSolveError(
            "dependent contract rows reached the exact solve; remove them first (dependencies())"
        )


class EqualitySystem:
    """The factorised KKT system of ``min J`` subject to ``A f = F``, for one ``A``: solve it for any ``F``.

    The KKT matrix ``[H A_s'; A_s 0]`` (``A_s``: rows scaled to entries near 1) depends on which contracts
    are quoted, not on their prices, so one factorisation serves every rebuild of the same contracts.
    It is factorised by sparse LU preferring diagonal pivots: that keeps the factor as sparse as the banded
    Hessian (about 0.5 ms for a 3-year daily curve, against 4 ms with partial pivoting), and iterative
    refinement with the exact matrix then removes what the weaker pivoting loses. If the refined residual
    is not small, the matrix is factorised again with partial pivoting (kept for later solves).

    Parameters
    ----------
    a : sp.csr_matrix
        ``m x n`` weight rows, linearly independent (see :func:`dependencies`).
    hessian : sp.csc_matrix, optional
        ``D'D`` (or its block-diagonal stack), when the caller already has it.
    blocks : int
        How many curves of equal length are stacked in ``f`` (peak and off-peak: 2).
    rows_independent : bool
        The caller has established that the rows are independent (see :func:`check_determined`).

    Raises
    ------
    CurveSolveError
        On construction, when the rows do not determine a curve: too few contracts to pin a line (two
        independent averages are the least), or rows that are not independent (:func:`check_determined`).
    """

    def __init__(
        self,
        a: sp.csr_matrix,
        hessian: sp.csc_matrix | None = None,
        blocks: int = 1,
        *,
        rows_independent: bool = False,
    ) -> None:
        n = a.shape[1]
        check_determined(a, blocks, rows_independent=rows_independent)
        self.n = n
        self.hessian = roughness_hessian(n) if hessian is None else hessian
        a_s, self.scale = _scaled(a)
        self.kkt = _kkt(self.hessian, a_s)
        self._factors: dict[float, Any] = {}  # LU factors by pivot threshold, factorised on first use
        self._singular: dict[float, str] = {}
        self._lock = threading.Lock()  # one solve at a time: the factors are shared by rebuilds

    def _factor(self, threshold: float) -> Any:
        """Return the LU factors with pivot threshold ``threshold``, or None when the matrix is singular."""
        if threshold not in self._factors:
            try:
                self._factors[threshold] = splu(self.kkt, permc_spec="COLAMD", diag_pivot_thresh=threshold)
            except RuntimeError as exc:  # "Factor is exactly singular"
                self._factors[threshold], self._singular[threshold] = None, str(exc)
        return self._factors[threshold]

    def solve(self, prices: np.ndarray, prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return the curve ``f`` [price] and the multipliers of the (scaled) constraints.

        Parameters
        ----------
        prices : np.ndarray
            ``F`` [price], one per row.
        prior : np.ndarray, optional
            The shape the curve's deviations are measured from [price]; zero by default.

        Raises
        ------
        CurveSolveError
            When the KKT matrix is singular, or the solve returns non-finite values.
        """
        with self._lock:
            return self._solve(prices, prior)

    def _solve(self, prices: np.ndarray, prior: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        p = np.zeros(n) if prior is None else np.asarray(prior, dtype=float)
        rhs = np.concatenate([self.hessian @ p, prices * self.scale])
        scale = max(float(np.abs(rhs).max()), 1.0)
        best = np.full_like(rhs, np.nan)
        for threshold in (0.0, 1.0):
            lu = self._factor(threshold)
            if lu is None:
                if threshold < 1.0:
                    continue
                raise CurveSolveError(
                    f"the contracts do not determine a curve ({self._singular[threshold]}); at least two "
                    "independent contracts are needed, with deliveries that tell a level and a slope apart"
                )
            x, res = self._refined(lu, rhs)
            if np.isfinite(res) and res <= 1e-10 * scale:
                return x[:n], x[n:]
            best = x
        if not np.all(np.isfinite(best)):
            raise CurveSolveError("the KKT solve returned non-finite values (singular system)")
        return best[:n], best[n:]

    def _refined(self, lu: Any, rhs: np.ndarray) -> tuple[np.ndarray, float]:
        """Solve with ``lu`` and refine while the residual falls (4 steps at most): ``x`` and its residual."""
        kkt = self.kkt
        x: np.ndarray = np.asarray(lu.solve(rhs))
        res = float(np.abs(rhs - kkt @ x).max())
        for _ in range(4):
            if not np.isfinite(res):
                break
            step = x + np.asarray(lu.solve(rhs - kkt @ x))
            new = float(np.abs(rhs - kkt @ step).max())
            if not new < res:
                break
            x, res = step, new
        return x, res


def solve_equality(
    a: sp.csr_matrix,
    prices: np.ndarray,
    prior: np.ndarray | None = None,
    hessian: sp.csc_matrix | None = None,
    blocks: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``min J`` subject to ``A f = F`` exactly (independent rows only).

    Parameters
    ----------
    a : sp.csr_matrix
        ``m x n`` weight rows, linearly independent (see :func:`dependencies`).
    prices : np.ndarray
        ``F`` [price], one per row.
    prior : np.ndarray, optional
        The shape the curve's deviations are measured from [price]; zero by default.
    hessian : sp.csc_matrix, optional
        ``D'D`` (or its block-diagonal stack), when the caller already has it.
    blocks : int
        How many curves of equal length are stacked in ``f`` (peak and off-peak: 2).

    Returns
    -------
    tuple of np.ndarray
        The curve ``f`` [price] and the multipliers of the (scaled) constraints.

    Raises
    ------
    CurveSolveError
        When the system is singular: too few contracts to pin a line (two independent averages are the
        least), or rows that are not independent.
    """
    return EqualitySystem(a, hessian, blocks).solve(prices, prior)


@dataclass(frozen=True)
class BandSolution:
    """Result of a bid/ask build."""

    curve: np.ndarray
    polished: bool  # exact optimum (active set verified) rather than the interior-point answer
    active_lower: np.ndarray  # rows held at their bid
    active_upper: np.ndarray  # rows held at their ask
    solver_status: str
    iterations: int


def solve_bands(
    a: sp.csr_matrix,
    lower: np.ndarray,
    upper: np.ndarray,
    prior: np.ndarray | None = None,
    *,
    blocks: int = 1,
    tol: float = 1e-9,
    via: str = "clarabel",
) -> BandSolution:
    """Solve ``min J`` subject to ``lower <= A f <= upper`` (bid/ask bands; equal bounds are settlements).

    Clarabel solves the QP to tolerance ``tol`` (called directly, or through cvxpy with ``via="cvxpy"``:
    the same solver, plus cvxpy's problem compilation); the contracts found at a bound are then held there
    and the equality problem is solved exactly. The exact answer is kept when it satisfies every band (within
    ``1e-9`` [price]) and its multipliers have the signs of a minimum, so the result is the true optimum
    rather than an approximation of it; otherwise Clarabel's answer is returned with ``polished=False``.

    Raises
    ------
    CurveSolveError
        When Clarabel does not reach a solution (infeasible bands are reported by :func:`band_violations`).
    """
    m, n = a.shape
    p = np.zeros(n) if prior is None else np.asarray(prior, dtype=float)
    h = roughness_hessian(n // blocks, blocks)
    a_s, scale = _scaled(a)
    lo, hi = lower * scale, upper * scale
    fixed = np.isclose(lo, hi, rtol=0.0, atol=1e-12)
    band = ~fixed
    if via == "cvxpy":
        f_ip, status, iterations = _interior_cvxpy(h, p, a_s, lo, hi, fixed, tol, blocks)
    elif via == "clarabel":
        f_ip, status, iterations = _interior_clarabel(h, p, a_s, lo, hi, fixed, tol)
    else:
        raise ValueError(f"via must be 'clarabel' or 'cvxpy', got {via!r}")
    fit = np.asarray(a_s @ f_ip).ravel()
    width = np.maximum(hi - lo, 1e-12)
    at_hi = band & (hi - fit <= 1e-6 * width)
    at_lo = band & (fit - lo <= 1e-6 * width)
    rows = np.flatnonzero(fixed | at_hi | at_lo)
    bound = np.where(at_lo, lower, upper)  # the price each binding contract is held at
    fallback = BandSolution(f_ip, False, np.flatnonzero(at_lo), np.flatnonzero(at_hi), status, iterations)
    if rows.size == 0:
        return fallback  # nothing binds: the answer is a line through the bands, not unique
    try:
        keep = rows[dependencies(a[rows]).independent]
        f_ex, y = solve_equality(a[keep], bound[keep], p, h, blocks)
    except CurveSolveError:
        return fallback  # the binding contracts do not pin the curve down: keep the interior-point answer
    fit_ex = reprice(a, f_ex)
    feasible = bool(np.all(fit_ex >= lower - 1e-9) and np.all(fit_ex <= upper + 1e-9))
    # stationarity H(f - p) + A_s' y = 0: y >= 0 where the ask binds (it holds the average down), y <= 0
    # where the bid binds; a wrong sign means the contract would rather leave its bound (not optimal)
    y_full = np.zeros(m)
    y_full[keep] = y
    signs_ok = bool(np.all(y_full[at_hi & band] >= -1e-8) and np.all(y_full[at_lo & band] <= 1e-8))
    if not (feasible and signs_ok):
        return fallback
    return BandSolution(f_ex, True, np.flatnonzero(at_lo), np.flatnonzero(at_hi), status, iterations)


def _interior_clarabel(
    h: sp.csc_matrix,
    p: np.ndarray,
    a_s: sp.csr_matrix,
    lo: np.ndarray,
    hi: np.ndarray,
    fixed: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, str, int]:
    """Clarabel on ``min 1/2 x'Hx - (Hp)'x`` with ``Gx + s = b``: a zero cone for settlements, then >= 0."""
    import clarabel

    band = ~fixed
    g = sp.vstack([a_s[fixed], a_s[band], -a_s[band]], format="csc")
    b = np.concatenate([hi[fixed], hi[band], -lo[band]])
    cones = []
    if fixed.any():
        cones.append(clarabel.ZeroConeT(int(fixed.sum())))
    if band.any():
        cones.append(clarabel.NonnegativeConeT(int(2 * band.sum())))
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.tol_ktratio = 1e-8
    settings.max_iter = 200
    solution = clarabel.DefaultSolver(sp.triu(h, format="csc"), -(h @ p), g, b, cones, settings).solve()
    status = str(solution.status)
    if "Infeasible" in status:
        raise BandsInfeasibleError(f"the bid/ask bands cannot all hold (Clarabel: {status})")
    if "Solved" not in status:
        raise CurveSolveError(f"Clarabel did not solve the bid/ask problem: {status}")
    return np.asarray(solution.x), status, int(solution.iterations)


def _interior_cvxpy(
    h: sp.csc_matrix,
    p: np.ndarray,
    a_s: sp.csr_matrix,
    lo: np.ndarray,
    hi: np.ndarray,
    fixed: np.ndarray,
    tol: float,
    blocks: int = 1,
) -> tuple[np.ndarray, str, int]:
    """Solve the same QP written in cvxpy, by Clarabel through it."""
    import cvxpy as cp

    f = cp.Variable(h.shape[0])
    band = ~fixed
    constraints = []
    if fixed.any():
        constraints.append(a_s[fixed] @ f == hi[fixed])
    if band.any():
        constraints += [a_s[band] @ f >= lo[band], a_s[band] @ f <= hi[band]]
    # stacked blocks: the roughness of each block, D = blockdiag(D_1, ..., D_blocks), H = D'D
    d = sp.block_diag([second_difference(h.shape[0] // blocks)] * blocks, format="csr")
    objective = cp.Minimize(cp.sum_squares(d @ (f - p)))  # type: ignore[attr-defined]
    problem = cp.Problem(objective, constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)  # type: ignore[no-untyped-call]
    status = str(problem.status)
    if "infeasible" in status:
        raise BandsInfeasibleError(f"the bid/ask bands cannot all hold (cvxpy + Clarabel: {status})")
    if f.value is None or not status.startswith("optimal"):
        raise CurveSolveError(f"cvxpy + Clarabel did not solve the bid/ask problem: {status}")
    iterations = int(problem.solver_stats.num_iters or 0)
    return np.asarray(f.value), status, iterations


def band_violations(a: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Return how far each contract's band must widen for all bands to hold at once [price].

    Solves the LP ``min sum s`` subject to ``lower - s <= A f <= upper + s``, ``s >= 0`` (HiGHS). All
    zeros means the bands are jointly satisfiable; otherwise the non-zero entries locate the conflict and
    its size.
    """
    from scipy.optimize import linprog

    m, n = a.shape
    eye = sp.identity(m, format="csr")
    a_ub = sp.vstack([sp.hstack([a, -eye]), sp.hstack([-a, -eye])], format="csr")
    b_ub = np.concatenate([upper, -lower])
    cost = np.concatenate([np.zeros(n), np.ones(m)])
    bounds = [(None, None)] * n + [(0.0, None)] * m
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise CurveSolveError(f"the band feasibility LP failed: {res.message}")
    slack: np.ndarray = np.maximum(res.x[n:], 0.0)
    return slack
