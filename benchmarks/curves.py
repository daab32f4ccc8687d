"""Curve builds against their targets, side by side with a plain cvxpy + Clarabel formulation.

Three problems (``curvecases.py``: contracts priced from a known hourly path, so they are consistent):

- daily 5-year base curve, 1,826 days, 20 contracts (months, quarters, seasons, years; some redundant);
- hourly 3-year curve in daily-factor form, 26,304 hours, 34 base/peak contracts, with an hourly shape;
- the daily 5-year curve with bid/ask bands of +-0.5 EUR/MWh.

marketintel is timed end to end (``build_curve``: calendar, contract matrix, solve, output) in two states:

- **rebuild**: the same contracts over the same window with new settlements (every run's quotes are the
  previous ones moved by a common factor and offset, which keeps them consistent). The delivery grid and the
  factorised contract system are kept from the build before, as they are when a desk rebuilds its curves;
- **first build**: everything kept is forgotten before each run (``clear_caches``), so the run expands the
  calendar, builds the contract rows, finds the dependent contracts and factorises the KKT system.

The peer gets the contract matrix ready-made (its time is only cvxpy's problem construction and the solve),
with Clarabel at its default tolerances and at tight ones (1e-10). The four are measured in interleaved
rounds, so that a busy spell of the shared machine slows them alike; medians of ``--repeats`` rounds, one
process. Both answers are repriced against the quotes (equality) or checked against the bands, and the
smoothness objectives are compared.

Run: ``.venv/bin/python benchmarks/curves.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchcommon import REPO, log, machine_info, write_results
from curvecases import DAILY_5Y, HOURLY_3Y, bands, priced, truth_hourly, window
from marketintel.calendars import Contract, get_calendar
from marketintel.curves.build import CurveBuild, build_curve, clear_caches

GOALS_MS = {"daily_5y": 20.0, "hourly_3y": 100.0, "bid_ask_daily_5y": 100.0}


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, result


def peer(build: CurveBuild, lower: np.ndarray, upper: np.ndarray, tight: bool) -> dict[str, Any]:
    """Solve the same problem with cvxpy + Clarabel; return time, repricing error and objective."""
    import cvxpy as cp

    assert build.matrix is not None
    a, nb = build.matrix, len(build.blocks.names)
    n = a.shape[1] // nb
    t0 = time.perf_counter()
    f = cp.Variable(a.shape[1])
    rough = sum(
        cp.sum_squares(
            f[b * n : (b + 1) * n][:-2] - 2 * f[b * n : (b + 1) * n][1:-1] + f[b * n : (b + 1) * n][2:]
        )
        for b in range(nb)
    )
    fixed = np.isclose(lower, upper)
    cons = []
    if fixed.any():
        cons.append(a[fixed] @ f == lower[fixed])
    if (~fixed).any():
        cons += [a[~fixed] @ f >= lower[~fixed], a[~fixed] @ f <= upper[~fixed]]
    problem = cp.Problem(cp.Minimize(rough), cons)
    opts = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10} if tight else {}
    problem.solve(solver=cp.CLARABEL, **opts)
    elapsed = (time.perf_counter() - t0) * 1000
    x = np.asarray(f.value)
    fit = np.asarray(a @ x).ravel()
    error = np.maximum(lower - fit, 0) + np.maximum(fit - upper, 0)
    return {
        "ms": elapsed,
        "solver_ms": float(problem.solver_stats.solve_time or 0.0) * 1000,
        "status": problem.status,
        "max_reprice_error": float(error.max()),
        "objective": _objective(x, nb),
    }


def _objective(x: np.ndarray, nb: int) -> float:
    return float(sum(np.sum(np.diff(block, 2) ** 2) for block in x.reshape(nb, -1)))


def case_a_against_reference() -> dict[str, Any]:
    """The shared case A: distance of each answer from the exact reference solution [EUR/MWh]."""
    from marketintel.calendars import read_contracts_csv
    from marketintel.config import shared_dir

    folder = shared_dir() / "curves" / "caseA_daily"
    if not folder.is_dir():
        log(f"case A skipped: {folder} not found (MI_SHARED_DIR)")
        return {"skipped": f"{folder} not found"}
    cal = get_calendar("EEX_DE")
    contracts = read_contracts_csv(folder / "contracts.csv", cal)
    reference = pd.read_csv(folder / "reference_discrete_max_smoothness.csv")["price"].to_numpy()
    ms, build = median_ms(lambda: build_curve(contracts, cal, "2025-02-01", "2027-12-31"), 21)
    assert build.solution is not None
    prices = build.fits["price"].to_numpy(dtype=float)
    out: dict[str, Any] = {
        "marketintel": {
            "ms": ms,
            "max_abs_vs_reference": float(np.abs(build.solution - reference).max()),
            "max_reprice_error": build.max_reprice_error,
            "objective": _objective(build.solution, 1),
        },
        "reference_objective": _objective(reference, 1),
    }
    for label, tight in (("cvxpy_clarabel_default", False), ("cvxpy_clarabel_tight", True)):
        import cvxpy as cp

        row = peer(build, prices, prices, tight)
        a = build.matrix
        f = cp.Variable(a.shape[1])
        problem = cp.Problem(cp.Minimize(cp.sum_squares(f[:-2] - 2 * f[1:-1] + f[2:])), [a @ f == prices])
        opts = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10} if tight else {}
        problem.solve(solver=cp.CLARABEL, **opts)
        row["max_abs_vs_reference"] = float(np.abs(np.asarray(f.value) - reference).max())
        out[label] = row
    import cvxpy as cp

    a = build.matrix
    f = cp.Variable(a.shape[1])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(f[:-2] - 2 * f[1:-1] + f[2:])), [a @ f == prices])
    problem.solve(solver=cp.OSQP)  # the generic QP default the shared notes warn about
    x = np.asarray(f.value)
    out["cvxpy_osqp_default"] = {
        "status": problem.status,
        "max_abs_vs_reference": float(np.abs(x - reference).max()),
        "max_reprice_error": float(np.abs(np.asarray(a @ x).ravel() - prices).max()),
    }
    mine = out["marketintel"]
    log(
        f"case A: marketintel {mine['ms']:.1f} ms, {mine['max_abs_vs_reference']:.1e} from the reference; "
        f"cvxpy+Clarabel default {out['cvxpy_clarabel_default']['max_abs_vs_reference']:.1e}, tight "
        f"{out['cvxpy_clarabel_tight']['max_abs_vs_reference']:.1e}; OSQP "
        f"{out['cvxpy_osqp_default']['max_abs_vs_reference']:.1e} (repricing error "
        f"{out['cvxpy_osqp_default']['max_reprice_error']:.1e})"
    )
    return out


def sources_sha256() -> str:
    """Which curve engine was measured: a hash of ``lib/marketintel/curves/*.py`` (16 hex digits)."""
    digest = hashlib.sha256()
    for f in sorted((REPO / "lib" / "marketintel" / "curves").glob("*.py")):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def requoted(contracts: list[Contract], k: int) -> list[Contract]:
    """The same contracts with new quotes: each moved by the factor ``1 + 1e-3 k`` and ``0.01 k`` EUR/MWh.

    A common affine move keeps consistent quotes consistent (a dependent contract is an average of others).
    """

    def move(v: float | None) -> float | None:
        return None if v is None else v * (1.0 + 1e-3 * k) + 0.01 * k

    return [
        Contract(c.name, c.start, c.end, c.profile, move(c.price), move(c.bid), move(c.ask))
        for c in contracts
    ]


def timed(fn: Callable[[list[Contract]], CurveBuild], contracts: list[Contract]) -> tuple[float, CurveBuild]:
    t0 = time.perf_counter()
    result = fn(contracts)
    return (time.perf_counter() - t0) * 1000, result


def stage_medians(builds: list[CurveBuild]) -> dict[str, float]:
    return {k: round(statistics.median(b.timings_ms[k] for b in builds), 3) for k in builds[0].timings_ms}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=21, help="interleaved rounds; medians are reported")
    p.add_argument("--output", default=None, help="results JSON (default benchmarks/results/curves.json)")
    args = p.parse_args(argv)
    cal = get_calendar("EEX_DE")
    start5, end5 = window(DAILY_5Y, cal)
    truth5 = truth_hourly(cal, start5, end5)
    daily = priced(cal, truth5, DAILY_5Y, ("base",))
    start3, end3 = window(HOURLY_3Y, cal)
    truth3 = truth_hourly(cal, start3, end3)
    hourly = priced(cal, truth3, HOURLY_3Y, ("base", "peak"))
    shape = pd.Series(truth3["shape"].to_numpy(), index=pd.DatetimeIndex(truth3["datetime_utc"]))
    cases: dict[str, Callable[[list[Contract]], CurveBuild]] = {
        "daily_5y": lambda q: build_curve(q, cal, start5, end5),
        "hourly_3y": lambda q: build_curve(q, cal, start3, end3, granularity="hourly", shape=shape),
        "bid_ask_daily_5y": lambda q: build_curve(q, cal, start5, end5, bid_ask=True),
    }
    quotes = {"daily_5y": daily, "hourly_3y": hourly, "bid_ask_daily_5y": bands(daily)}
    results: dict[str, Any] = {}
    for name, run in cases.items():
        base = quotes[name]
        run(base)  # warm-up: imports, first-call caches of the libraries
        rebuilds: list[CurveBuild] = []
        firsts: list[CurveBuild] = []
        ms: dict[str, list[float]] = {"rebuild": [], "first": [], "default": [], "tight": []}
        peers: dict[str, list[dict[str, Any]]] = {"default": [], "tight": []}
        for k in range(1, args.repeats + 1):
            elapsed, build = timed(run, requoted(base, k))  # the kept grid and contract system
            ms["rebuild"].append(elapsed)
            rebuilds.append(build)
            clear_caches()
            elapsed, first = timed(run, base)
            ms["first"].append(elapsed)
            firsts.append(first)
            fits = first.fits
            lower = np.where(np.isnan(fits["bid"]), fits["price"], fits["bid"]).astype(float)
            upper = np.where(np.isnan(fits["ask"]), fits["price"], fits["ask"]).astype(float)
            for label, tight in (("default", False), ("tight", True)):
                row = peer(first, lower, upper, tight)
                ms[label].append(row["ms"])
                peers[label].append(row)
        build = firsts[-1]
        assert build.matrix is not None
        assert build.solution is not None
        again = run(base).solution  # from the kept grid and system: the same computation, not repeated
        identical = again is not None and bool(np.array_equal(again, build.solution))
        median = {k: statistics.median(v) for k, v in ms.items()}
        row: dict[str, Any] = {
            "contracts": len(build.fits),
            "grid_points": int(build.matrix.shape[1]),
            "output_rows": len(build.curve),
            "marketintel": {
                "ms": median["rebuild"],
                "stage_ms": stage_medians(rebuilds),
                "solver": build.solver,
                "max_reprice_error": max(b.max_reprice_error for b in rebuilds),
                "objective": _objective(build.solution, len(build.blocks.names)),
            },
            "marketintel_first_build": {
                "ms": median["first"],
                "stage_ms": stage_medians(firsts),
                "max_reprice_error": max(b.max_reprice_error for b in firsts),
                "same_curve_as_rebuild": identical,
            },
            "goal_ms": GOALS_MS[name],
        }
        for label in ("default", "tight"):
            row[f"cvxpy_clarabel_{label}"] = {**peers[label][-1], "ms": median[label]}
        for label in ("default", "tight"):
            row[f"speedup_vs_{label}"] = round(median[label] / median["rebuild"], 2)
            row[f"first_build_speedup_vs_{label}"] = round(median[label] / median["first"], 2)
        results[name] = row
        mine, d, t = row["marketintel"], row["cvxpy_clarabel_default"], row["cvxpy_clarabel_tight"]
        log(
            f"{name}: marketintel rebuild {median['rebuild']:.1f} ms, first build {median['first']:.1f} ms "
            f"(goal {GOALS_MS[name]:.0f}), max error {mine['max_reprice_error']:.1e}, "
            f"J {mine['objective']:.6g} | "
            f"cvxpy+Clarabel {d['ms']:.1f} ms, error {d['max_reprice_error']:.1e}, J {d['objective']:.6g} | "
            f"tight {t['ms']:.1f} ms, error {t['max_reprice_error']:.1e} | peer/ours: rebuild "
            f"{row['speedup_vs_default']:.2f}x ({row['speedup_vs_tight']:.2f}x tight), first build "
            f"{row['first_build_speedup_vs_default']:.2f}x ({row['first_build_speedup_vs_tight']:.2f}x tight)"
        )
        log(f"  stages ms, rebuild {row['marketintel']['stage_ms']}; first build "
            f"{row['marketintel_first_build']['stage_ms']}")  # fmt: skip
    results["case_a_reference"] = case_a_against_reference()
    write_results(
        "curves",
        {
            "benchmark": "curves",
            "machine": machine_info(),
            "curves_sources_sha256": sources_sha256(),
            "repeats": args.repeats,
            "cases": results,
        },
        None if args.output is None else __import__("pathlib").Path(args.output),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
