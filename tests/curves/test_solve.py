"""The numerical core on small problems with known answers, and against an independent solver."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from marketintel.curves.solve import (
    CurveSolveError,
    EqualitySystem,
    band_violations,
    dependencies,
    project_consistent,
    reprice,
    roughness,
    roughness_hessian,
    second_difference,
    solve_bands,
    solve_equality,
)


def _rows(n: int, spans: list[tuple[int, int]], w: np.ndarray | None = None) -> sp.csr_matrix:
    w = np.ones(n) if w is None else w
    dense = np.zeros((len(spans), n))
    for i, (lo, hi) in enumerate(spans):
        dense[i, lo:hi] = w[lo:hi] / w[lo:hi].sum()
    return sp.csr_matrix(dense)


MONTHS = [(0, 30), (30, 60), (60, 90), (90, 120)]


def test_flat_quotes_give_a_flat_curve() -> None:
    a = _rows(120, MONTHS)
    f, _ = solve_equality(a, np.full(4, 50.0))
    assert np.abs(f - 50.0).max() < 1e-9


def test_a_linear_trend_is_reproduced_exactly() -> None:
    n = 120
    line = 20.0 + 0.5 * np.arange(n)
    a = _rows(n, MONTHS)
    f, _ = solve_equality(a, reprice(a, line))
    assert np.abs(f - line).max() < 1e-8  # a line has zero roughness and reprices: it is the optimum
    assert roughness(f) < 1e-16


def test_the_solution_is_no_rougher_than_any_feasible_perturbation() -> None:
    rng = np.random.default_rng(7)
    n = 120
    a = _rows(n, [*MONTHS, (0, 60)])
    prices = np.array([60.0, 40.0, 55.0, 70.0, 50.0])
    structure = dependencies(a)
    f, _ = solve_equality(a[structure.independent], prices[structure.independent])
    assert np.abs(reprice(a, f) - prices).max() < 1e-10
    best = roughness(f)
    _, s, vt = np.linalg.svd(a.toarray())
    null = vt[int((s > 1e-12).sum()) :]  # directions that keep every contract's average
    for _ in range(50):
        g = f + null.T @ rng.normal(scale=rng.choice([1e-4, 1e-2, 1.0]), size=null.shape[0])
        assert np.abs(reprice(a, g) - prices).max() < 1e-9
        assert roughness(g) >= best - 1e-12


def test_redundant_rows_are_found_and_their_combination_is_exact() -> None:
    a = _rows(120, [(0, 30), (30, 60), (60, 90), (0, 90), (90, 120)])
    structure = dependencies(a)
    assert structure.independent.tolist() == [0, 1, 2, 4]
    (dep,) = structure.dependencies
    assert dep.index == 3 and dep.combination == pytest.approx({0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
    assert structure.implied(np.array([30.0, 60.0, 90.0, 0.0, 5.0])) == pytest.approx({3: 60.0})


def test_the_kkt_solve_is_not_fooled_by_a_dependent_row() -> None:
    """The trap in NOTES.md: with the dependent row left in, a plain solve is singular."""
    a = _rows(120, [(0, 30), (30, 60), (60, 90), (0, 90)])
    with pytest.raises(CurveSolveError):
        solve_equality(a, np.array([30.0, 60.0, 90.0, 60.0]))


def test_one_contract_cannot_define_a_curve() -> None:
    with pytest.raises(CurveSolveError, match="at least two independent contracts"):
        solve_equality(_rows(60, [(0, 60)]), np.array([50.0]))


def test_least_squares_projection_splits_a_contradiction() -> None:
    a = _rows(90, [(0, 30), (30, 60), (60, 90), (0, 90)])
    prices = np.array([30.0, 60.0, 90.0, 60.3])  # the quarter is 0.3 above its months
    consistent = project_consistent(a, prices)
    structure = dependencies(a)
    assert structure.implied(consistent)[3] == pytest.approx(consistent[3], abs=1e-12)
    residual = prices - consistent
    # the least-squares split: the quarter takes 3/4 of the gap, each month 1/4 (weights 1/3 each)
    assert residual == pytest.approx([-0.075, -0.075, -0.075, 0.225], abs=1e-12)


def test_bands_hold_and_the_polished_answer_is_exact() -> None:
    n = 120
    a = _rows(n, MONTHS)
    mid = np.array([60.0, 40.0, 55.0, 70.0])
    lower, upper = mid - 1.0, mid + 1.0
    band = solve_bands(a, lower, upper)
    fit = reprice(a, band.curve)
    assert np.all(fit >= lower - 1e-9) and np.all(fit <= upper + 1e-9)
    assert band.polished
    f_eq, _ = solve_equality(a, mid)
    assert roughness(band.curve) <= roughness(f_eq) + 1e-12  # freedom inside the bands is used
    # the polished optimum holds its binding contracts exactly at a bound
    at_bound = np.isclose(fit, lower, atol=1e-9) | np.isclose(fit, upper, atol=1e-9)
    assert at_bound.sum() == len(band.active_lower) + len(band.active_upper) >= 2


def test_bands_agree_with_cvxpy_clarabel() -> None:
    import cvxpy as cp

    n = 120
    a = _rows(n, [*MONTHS, (0, 60)])
    lower = np.array([59.0, 39.0, 54.0, 69.0, 49.8])
    upper = lower + np.array([2.0, 2.0, 2.0, 2.0, 0.4])
    band = solve_bands(a, lower, upper)
    f = cp.Variable(n)
    d2 = f[:-2] - 2 * f[1:-1] + f[2:]
    problem = cp.Problem(cp.Minimize(cp.sum_squares(d2)), [a @ f >= lower, a @ f <= upper])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert roughness(band.curve) <= roughness(np.asarray(f.value)) + 1e-9
    assert np.abs(band.curve - f.value).max() < 1e-4


def test_infeasible_bands_report_the_least_widening() -> None:
    a = _rows(90, [(0, 30), (30, 60), (60, 90), (0, 90)])
    lower = np.array([29.0, 59.0, 89.0, 62.0])  # months allow at most 61 on average; the quarter wants 62+
    upper = np.array([31.0, 61.0, 91.0, 63.0])
    widen = band_violations(a, lower, upper)
    assert widen.sum() == pytest.approx(1.0, abs=1e-9)  # one unit of conflict, wherever it is put
    assert np.count_nonzero(widen > 1e-9) >= 1


def test_the_cvxpy_route_reaches_the_same_polished_optimum() -> None:
    n = 120
    a = _rows(n, [*MONTHS, (0, 60)])
    lower = np.array([59.0, 39.0, 54.0, 69.0, 49.8])
    upper = lower + np.array([2.0, 2.0, 2.0, 2.0, 0.4])
    direct = solve_bands(a, lower, upper)
    through = solve_bands(a, lower, upper, via="cvxpy")
    assert direct.polished and through.polished
    assert np.abs(direct.curve - through.curve).max() < 1e-9  # both polish to the exact optimum
    with pytest.raises(ValueError, match="via must be 'clarabel' or 'cvxpy'"):
        solve_bands(a, lower, upper, via="osqp")


def test_the_roughness_hessian_is_d_transpose_d() -> None:
    for n, blocks in ((3, 1), (4, 1), (7, 2), (60, 3)):
        d = sp.block_diag([second_difference(n)] * blocks, format="csr")
        h = roughness_hessian(n, blocks)
        assert h.has_sorted_indices and (h != (d.T @ d)).nnz == 0


def test_dependencies_hold_on_a_matrix_with_fewer_columns_than_rows() -> None:
    """Pattern-compressed contract rows: the dependent rows come early, independent ones after them."""
    dense = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],  # month 1
            [0.0, 1.0, 0.0, 0.0],  # month 2
            [0.5, 0.5, 0.0, 0.0],  # the two months: follows from them
            [1 / 3, 1 / 3, 1 / 3, 0.0],  # a quarter with month 3
            [0.25, 0.25, 0.25, 0.25],  # the year: independent (it prices the rest)
            [0.0, 0.0, 0.5, 0.5],  # follows from the quarter, the months and the year
        ]
    )
    structure = dependencies(sp.csr_matrix(dense), order=np.arange(6))
    assert structure.independent.tolist() == [0, 1, 3, 4]
    assert [d.index for d in structure.dependencies] == [2, 5]
    prices = np.array([40.0, 60.0, 0.0, 50.0, 55.0, 0.0])
    implied = structure.implied(prices)
    assert implied[2] == pytest.approx(50.0, abs=1e-12)
    assert implied[5] == pytest.approx((4 * 55.0 - 40.0 - 60.0) / 2, abs=1e-12)


def test_one_factorisation_solves_for_any_prices() -> None:
    a = _rows(120, [*MONTHS, (0, 60)])
    structure = dependencies(a)
    system = EqualitySystem(a[structure.independent])
    for prices in (np.array([60.0, 40.0, 55.0, 70.0]), np.array([10.0, -5.0, 20.0, 0.0])):
        f, y = system.solve(prices)
        f_ref, y_ref = solve_equality(a[structure.independent], prices)
        assert np.array_equal(f, f_ref) and np.array_equal(y, y_ref)  # the same computation, reused
        assert np.abs(reprice(a[structure.independent], f) - prices).max() < 1e-10
