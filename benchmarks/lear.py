"""LEAR recalibration speed, and the full four-window ensemble backtest against the published forecasts.

1. Seconds per recalibration day with the 1456-day window on NP (median over ``--days`` consecutive test
   days), for three implementations on the same days, in one process:
   - *straightforward*: what epftoolbox does per hour, on today's scikit-learn: centre and normalise the
     247 features, ``lars_path`` on the design, the AIC as scikit-learn <= 1.0.1 computed it, then
     ``Lasso(alpha, max_iter=2500).fit`` on the scaled design;
   - *marketintel, 1 process*: :func:`marketintel.forecast.lear.fit_lear` (shared Gram matrix, truncated
     path, Gram coordinate descent);
   - *marketintel, 2 processes*: the same with the 24 hours split over a 2-process pool.
   The three are checked to give the same forecasts (max |difference| reported), and the truncated LARS
   path is checked to pick the same penalty as the full one on every hour of those days.
2. ``--short-paths N``: for the 56- and 84-day windows (fewer days than features: the LARS path runs on the
   design), whether the truncated path picks the same penalty as the whole path, every hour of every N-th
   test day of NP and PJM, and the seconds each takes.
3. ``--full``: the 728-day, four-window (56, 84, 1092, 1456) LEAR ensemble backtest on NP (or ``--market``),
   through ``mi backtest run``'s engine, timed; its forecasts are scored against the published LEAR
   columns (MAE of each, and mean |difference| hour by hour).
4. ``--report``: seconds to render the HTML backtest report (``mi backtest report``: papermill, then
   nbconvert) of the published forecasts of NP (or ``--market``), over their first 60 days (the case of
   ``tests/backtest/test_report.py``; goal < 60 s) and over all 728 days. ``--days 0`` skips step 1.

Run: ``.venv/bin/python benchmarks/lear.py [--full] [--report]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from benchcommon import WORK_DIR, log, machine_info, write_results
from marketintel.config import shared_dir
from marketintel.forecast import lear as L  # noqa: N812 - short name for a module used throughout
from marketintel.forecast.data import panel_from_epftoolbox


def straightforward(x_train: np.ndarray, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Per hour: LARS on the normalised design, the old AIC, then scikit-learn's Lasso on the design."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso, lars_path

    sy = L.InvariantScaler.fit(y_train)
    y = sy.transform(y_train)
    sx = L.InvariantScaler.fit(x_train[:, :-7])
    x = x_train.copy()
    x[:, :-7] = sx.transform(x[:, :-7])
    xc = x - x.mean(axis=0)
    norms = np.sqrt((xc**2).sum(axis=0))
    norms[norms == 0] = 1.0
    xn = xc / norms
    coef, intercept = np.zeros((24, x.shape[1])), np.zeros(24)
    for h in range(24):
        yc = y[:, h] - y[:, h].mean()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # Gram="auto": scikit-learn <= 1.0.1's LassoLarsIC precomputed X'X when n > p, as here
            alphas, _, path = lars_path(
                xn, yc, Gram="auto", method="lasso", max_iter=2500, eps=np.finfo(float).eps
            )
            mse = np.mean((yc[:, None] - xn @ path) ** 2, axis=0)
            df = (np.abs(path) > np.finfo(float).eps).sum(axis=0)
            crit = len(yc) * mse / (np.var(yc) + np.finfo(np.float64).eps) + 2 * df
            model = Lasso(alpha=alphas[int(np.argmin(crit))], max_iter=2500).fit(x, y[:, h])
        coef[h], intercept[h] = model.coef_, model.intercept_
    return coef, intercept, sx, sy


def full_path_alpha(fit_inputs: tuple[np.ndarray, np.ndarray, float, int]) -> float:
    """The AIC penalty from the whole LARS path (no truncation)."""
    from sklearn.linear_model import lars_path_gram

    gram_n, xy_n, yy, n = fit_inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alphas, _, coefs = lars_path_gram(xy_n, gram_n, n_samples=n, method="lasso", max_iter=2500,
                                          eps=np.finfo(float).eps)  # fmt: skip
    return float(alphas[int(np.argmin(L._criterion(coefs, gram_n, xy_n, yy, n)))])


def speed(market: str, days: int) -> dict[str, Any]:
    panel = panel_from_epftoolbox(shared_dir() / "datasets" / "epftoolbox" / f"{market}.csv")
    prices, weekday = panel.series["price"], panel.weekday
    exog = np.stack([panel.series[n] for n in panel.exogenous])
    first = panel.day("2016-12-27")
    targets = range(first, first + days)
    cases = []
    for t in targets:
        train = np.arange(t - 1456 + 7, t)
        cases.append((L.build_features(prices, exog, weekday, train), prices[train],
                      L.build_features(prices, exog, weekday, np.array([t]))[0]))  # fmt: skip
    times: dict[str, list[float]] = {
        "straightforward": [],
        "marketintel_1_process": [],
        "marketintel_2_processes": [],
    }
    forecasts: dict[str, list[np.ndarray]] = {k: [] for k in times}
    for x, y, xt in cases:
        t0 = time.perf_counter()
        coef, intercept, sx, sy = straightforward(x, y)
        xs = xt.copy()
        xs[:-7] = sx.transform(xs[None, :-7])[0]
        forecasts["straightforward"].append(sy.inverse((xs @ coef.T + intercept)[None, :])[0])
        times["straightforward"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        forecasts["marketintel_1_process"].append(L.fit_lear(x, y).predict(xt))
        times["marketintel_1_process"].append(time.perf_counter() - t0)
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx, initializer=L.worker_init) as pool:
        L.fit_lear(cases[0][0], cases[0][1], pool)  # start the workers
        for x, y, xt in cases:
            t0 = time.perf_counter()
            forecasts["marketintel_2_processes"].append(L.fit_lear(x, y, pool).predict(xt))
            times["marketintel_2_processes"].append(time.perf_counter() - t0)
    # the truncated LARS path against the whole path, every hour of every day
    same, total = 0, 0
    for x, y, _ in cases:
        fit = L.fit_lear(x, y)
        xs = x.copy()
        xs[:, :-7] = L.InvariantScaler.fit(x[:, :-7]).transform(x[:, :-7])
        ys = L.InvariantScaler.fit(y).transform(y)
        xc = xs - xs.mean(axis=0)
        norms = np.sqrt((xc**2).sum(axis=0))
        norms[norms == 0] = 1.0
        gram_n = (xc / norms).T @ (xc / norms)
        for h in range(24):
            yc = ys[:, h] - ys[:, h].mean()
            full = full_path_alpha((gram_n, (xc / norms).T @ yc, float(yc @ yc), len(yc)))
            same += int(np.isclose(full, fit.alphas[h], rtol=1e-9, atol=0.0))
            total += 1
    base = np.concatenate(forecasts["straightforward"])
    out = {
        name: {
            "median_s_per_day": statistics.median(ts),
            "max_abs_diff_to_straightforward": float(np.abs(np.concatenate(forecasts[name]) - base).max()),
        }
        for name, ts in times.items()
    }
    out["truncated_path_same_penalty"] = f"{same}/{total} hours"
    return out


def short_paths(every: int) -> dict[str, Any]:
    """Truncated against whole LARS paths for the short windows, every hour of every ``every``-th day."""
    from sklearn.linear_model import lars_path

    out: dict[str, Any] = {}
    for market in ("NP", "PJM"):
        panel = panel_from_epftoolbox(shared_dir() / "datasets" / "epftoolbox" / f"{market}.csv")
        prices, weekday = panel.series["price"], panel.weekday
        exog = np.stack([panel.series[n] for n in panel.exogenous])
        first = panel.day("2016-12-27")
        for window in (56, 84):
            same = total = truncated = 0
            seconds = {"truncated": 0.0, "whole": 0.0}
            for k in range(0, 728, every):
                train = np.arange(first + k - window + 7, first + k)
                x = L.build_features(prices, exog, weekday, train)
                y = L.InvariantScaler.fit(prices[train]).transform(prices[train])
                x[:, :-7] = L.InvariantScaler.fit(x[:, :-7]).transform(x[:, :-7])
                xc = x - x.mean(axis=0)
                norms = np.sqrt((xc**2).sum(axis=0))
                norms[norms == 0] = 1.0
                xn = xc / norms
                gram_n = xn.T @ xn
                for h in range(24):
                    yc = y[:, h] - y[:, h].mean()
                    xy, yy = xn.T @ yc, float(yc @ yc)
                    t0 = time.perf_counter()
                    alpha, cut = L.aic_alpha(gram_n, xy, yy, len(yc), 0.0, xn, yc)
                    seconds["truncated"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        alphas, _, coefs = lars_path(xn, yc, method="lasso", max_iter=2500,
                                                     eps=np.finfo(float).eps, alpha_min=0.0)  # fmt: skip
                    whole = float(alphas[int(np.argmin(L._criterion(coefs, gram_n, xy, yy, len(yc))))])
                    seconds["whole"] += time.perf_counter() - t0
                    same, total, truncated = same + int(alpha == whole), total + 1, truncated + int(cut)
            row = {"same_penalty": f"{same}/{total} hours", "truncated_hours": truncated, "seconds": seconds}
            out[f"{market} {window}"] = row
            log(f"{market} {window}: {row}")
    return out


def full_backtest(market: str) -> dict[str, Any]:
    from marketintel.backtest.engine import BacktestSpec, CsvSink, run_backtest
    from marketintel.forecast.models import make_model

    root = shared_dir() / "datasets" / "epftoolbox"
    panel = panel_from_epftoolbox(root / f"{market}.csv")
    out = WORK_DIR / f"lear_ensemble_{market}.csv"
    out.unlink(missing_ok=True)
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx, initializer=L.worker_init) as pool:
        model = make_model("lear-ensemble", pool=pool)
        names = [m.name for m in model.members] + [model.name]  # type: ignore[attr-defined]
        spec = BacktestSpec(market, market, "lear-ensemble", None, "2016-12-27", 728, data=f"{market}.csv")
        t0 = time.perf_counter()
        result = run_backtest(panel, model, spec, [CsvSink(out, names)], progress=log)
        seconds = time.perf_counter() - t0
    mine = pd.read_csv(out, index_col=0)
    published = pd.read_csv(root / "forecasts" / f"Forecasts_{market}_DNN_LEAR_ensembles.csv", index_col=0)
    actual = published["Real price"].to_numpy()
    columns = {}
    for name in names:
        ours, theirs = mine[name].to_numpy(), published[name].to_numpy()
        columns[name] = {
            "mae_ours": float(np.abs(ours - actual).mean()),
            "mae_published": float(np.abs(theirs - actual).mean()),
            "mean_abs_diff": float(np.abs(ours - theirs).mean()),
        }
        row = columns[name]
        log(f"{name}: MAE ours {row['mae_ours']:.4f}, published {row['mae_published']:.4f}, "
            f"mean |diff| {row['mean_abs_diff']:.4f}")  # fmt: skip
    return {"seconds": seconds, "minutes": seconds / 60, "days": result.days_forecast, "columns": columns}


def report_render(market: str) -> dict[str, Any]:
    """Seconds to render the backtest report of the published forecasts' first 60 days and of all 728."""
    from marketintel.backtest.report import render_report

    published = (
        shared_dir() / "datasets" / "epftoolbox" / "forecasts" / f"Forecasts_{market}_DNN_LEAR_ensembles.csv"
    )
    raw = pd.read_csv(published, index_col=0)
    out: dict[str, Any] = {}
    for days in (60, 728):
        csv = WORK_DIR / f"report_{market}_{days}d.csv"
        csv.parent.mkdir(parents=True, exist_ok=True)
        raw.iloc[: days * 24].to_csv(csv)
        t0 = time.perf_counter()
        page = render_report(csv, WORK_DIR / f"report_{market}_{days}d.html", market=market, progress=log)
        seconds = time.perf_counter() - t0
        out[f"{days}_days"] = {"seconds": seconds, "html_mb": page.stat().st_size / 1e6}
        log(f"report of {days} days: {seconds:.1f} s, {page.stat().st_size / 1e6:.1f} MB")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--market", default="NP")
    p.add_argument("--days", type=int, default=10, help="recalibration days timed (median; 0: skip)")
    p.add_argument("--full", action="store_true", help="also run the 728-day four-window ensemble backtest")
    p.add_argument("--report", action="store_true", help="also time the HTML backtest report (60, 728 days)")
    p.add_argument("--short-paths", type=int, default=0, metavar="N",
                   help="check the short windows' truncated LARS paths on every N-th test day")  # fmt: skip
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)
    results: dict[str, Any] = {"benchmark": "lear", "machine": machine_info(), "market": args.market}
    if args.days > 0:
        results["recalibration_1456"] = speed(args.market, args.days)
        for name, row in results["recalibration_1456"].items():
            log(f"{name}: {row}")
    if args.short_paths:
        results["short_window_paths"] = short_paths(args.short_paths)
    if args.full:
        results["ensemble_728_days"] = full_backtest(args.market)
        log(f"728-day ensemble backtest: {results['ensemble_728_days']['minutes']:.1f} min")
    if args.report:
        results["report_render"] = report_render(args.market)
    write_results(
        "lear" if args.full else "lear_speed",
        results,
        None if args.output is None else __import__("pathlib").Path(args.output),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
