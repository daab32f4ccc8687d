"""LEAR against epftoolbox's recalibration run on scikit-learn 0.24.2, on the same features.

The published LEAR forecasts (Lago et al. 2021) were made with a scikit-learn whose ``LassoLarsIC`` still
computed the AIC as ``n * MSE / var(y) + 2 * df`` (up to 1.0.1; 1.0.2 changed the formula and refuses
windows with fewer days than features). :mod:`marketintel.forecast.lear` re-derives that computation on
today's scikit-learn. This script checks it against the real thing:

1. it builds a side venv, ``benchmarks/.work/venv-sklearn024``, with scikit-learn 0.24.2 compiled from its
   source distribution (no wheel exists for Python 3.11; needs a C compiler, about 8 minutes, first run
   only), with numpy 1.23.5 and scipy 1.9.3;
2. for each market, window (56, 84, 1092, 1456 days) and test day it builds the 247 LEAR features in this
   process and recalibrates in the side venv exactly as epftoolbox's ``LEAR.recalibrate`` does: median/MAD
   + asinh scaling (dummies left as they are), then per hour ``LassoLarsIC(criterion='aic',
   max_iter=2500)`` for the penalty and ``Lasso(max_iter=2500, alpha=...)`` for the model;
3. it reports, per window, the largest |marketintel - reference|, the mean |difference| of each to the
   published forecasts, and the median seconds per recalibration of each (one process each, one after
   the other on the same machine: the reference in the side venv, then marketintel in this one, 1 process).

``--fixture`` also writes the reference forecasts of a few days to ``tests/forecast/data/`` where
``tests/forecast/test_lear.py`` checks the model against them on every test run.

Run: ``.venv/bin/python benchmarks/lear_reference.py [--days 12] [--fixture]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchcommon import REPO, WORK_DIR, log, machine_info, write_results
from marketintel.config import shared_dir
from marketintel.forecast import lear as L  # noqa: N812 - short name for a module used throughout
from marketintel.forecast.data import panel_from_epftoolbox

#: the reference stack: the last scikit-learn line with the old AIC, and numpy/scipy it builds against
REFERENCE_PINS = ("numpy==1.23.5", "scipy==1.9.3", "joblib==1.4.2", "threadpoolctl==3.5.0")
BUILD_PINS = ("Cython==0.29.36", "setuptools<60", "wheel")
SKLEARN = "scikit-learn==0.24.2"
WINDOWS = (56, 84, 1092, 1456)
FIXTURE = REPO / "tests" / "forecast" / "data" / "lear_sklearn024_reference.json"
#: days of the NP test period written to the fixture (0 = 2016-12-27), one per window
FIXTURE_DAYS = {56: (0, 2, 300), 84: (0, 400), 1092: (100,), 1456: (0,)}

WORKER = r"""
import json, sys, time, warnings
import numpy as np
import sklearn
from sklearn.linear_model import Lasso, LassoLarsIC
warnings.simplefilter("ignore")  # ConvergenceWarning, as epftoolbox's ignore_warnings did
MAD_C = 0.6744897501960817  # statsmodels.robust.mad's constant


def scaler(a):
    med = np.median(a, axis=0)
    return med, np.median(np.abs(a - med), axis=0) / MAD_C


z = np.load(sys.argv[1])
out, seconds = {}, {}
for key in sorted(k[2:] for k in z.files if k.startswith("x_")):
    t0 = time.perf_counter()
    x, y, xt = z["x_" + key].copy(), z["y_" + key], z["t_" + key].copy()[None, :]
    my, sy = scaler(y)
    ys = np.arcsinh((y - my) / sy)
    mx, sx = scaler(x[:, :-7])
    x[:, :-7] = np.arcsinh((x[:, :-7] - mx) / sx)
    xt[:, :-7] = np.arcsinh((xt[:, :-7] - mx) / sx)
    yp = np.zeros(24)
    for h in range(24):
        alpha = LassoLarsIC(criterion="aic", max_iter=2500).fit(x, ys[:, h]).alpha_
        yp[h] = Lasso(max_iter=2500, alpha=alpha).fit(x, ys[:, h]).predict(xt)[0]
    out[key] = np.sinh(yp) * sy + my
    seconds[key] = time.perf_counter() - t0
np.savez(sys.argv[2], **out)
print(json.dumps({"version": sklearn.__version__, "seconds": seconds}))
"""


def reference_python() -> Path:
    """Return the side venv's python, building scikit-learn 0.24.2 into it on first use."""
    venv = WORK_DIR / "venv-sklearn024"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import sklearn; assert sklearn.__version__ == '0.24.2'"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return python
    log(f"building {SKLEARN} from source into {venv} (first run only, about 8 minutes)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *REFERENCE_PINS, *BUILD_PINS], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             "--no-build-isolation", SKLEARN, "-d", tmp],
            check=True,
        )  # fmt: skip
        (sdist,) = Path(tmp).glob("scikit-learn-*.tar.gz")
        subprocess.run([*pip, "--no-deps", "--no-build-isolation", str(sdist)], check=True)
    subprocess.run(probe, check=True)
    return python


def cases(market: str, days: list[int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Return the features of every (window, day) and the published forecasts of those days."""
    root = shared_dir() / "datasets" / "epftoolbox"
    panel = panel_from_epftoolbox(root / f"{market}.csv")
    published = pd.read_csv(root / "forecasts" / f"Forecasts_{market}_DNN_LEAR_ensembles.csv", index_col=0)
    prices, weekday = panel.series["price"], panel.weekday
    exog = np.stack([panel.series[n] for n in panel.exogenous])
    first = panel.day("2016-12-27")
    arrays, pub = {}, {}
    for window in WINDOWS:
        columns = published[f"LEAR {window}"].to_numpy().reshape(-1, 24)
        for k in days:
            t = first + k
            train = np.arange(t - window + 7, t)
            key = f"{window}_{k}"
            arrays["x_" + key] = L.build_features(prices, exog, weekday, train)
            arrays["y_" + key] = prices[train]
            arrays["t_" + key] = L.build_features(prices, exog, weekday, np.array([t]))[0]
            pub[key] = columns[k]
    return arrays, pub


def compare(market: str, days: list[int], python: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    arrays, pub = cases(market, days)
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inputs, **arrays)
        done = subprocess.run(
            [str(python), "-c", WORKER, str(inputs), str(outputs)], capture_output=True, text=True, check=True
        )
        reference = dict(np.load(outputs))
    worker = json.loads(done.stdout.strip().splitlines()[-1])
    ours, our_seconds = {}, {}
    for key in pub:  # one after the other in this process, the reference's recalibrations just before
        t0 = time.perf_counter()
        ours[key] = L.fit_lear(arrays["x_" + key], arrays["y_" + key]).predict(arrays["t_" + key])
        our_seconds[key] = time.perf_counter() - t0
    rows: dict[str, Any] = {}
    for window in WINDOWS:
        keys = [f"{window}_{k}" for k in days]
        diff = np.concatenate([np.abs(ours[k] - reference[k]) for k in keys])
        ref_pub = np.concatenate([np.abs(reference[k] - pub[k]) for k in keys])
        ours_pub = np.concatenate([np.abs(ours[k] - pub[k]) for k in keys])
        rows[f"LEAR {window}"] = {
            "max_abs_ours_vs_reference": float(diff.max()),
            "mean_abs_reference_vs_published": float(ref_pub.mean()),
            "mean_abs_ours_vs_published": float(ours_pub.mean()),
            "share_of_hours_reference_within_0.01_of_published": float((ref_pub < 0.01).mean()),
            "median_s_per_recalibration_reference": statistics.median(worker["seconds"][k] for k in keys),
            "median_s_per_recalibration_ours": statistics.median(our_seconds[k] for k in keys),
        }
        r = rows[f"LEAR {window}"]
        log(f"{market} LEAR {window}: max |ours - reference| {r['max_abs_ours_vs_reference']:.2e}; "
            f"mean |diff| to published: reference {r['mean_abs_reference_vs_published']:.4f}, "
            f"ours {r['mean_abs_ours_vs_published']:.4f}; s per recalibration: reference "
            f"{r['median_s_per_recalibration_reference']:.2f}, "
            f"ours {r['median_s_per_recalibration_ours']:.2f}")  # fmt: skip
    info = {"reference": f"scikit-learn {worker['version']}", "days": days, "windows": rows}
    return info, reference


def write_fixture(python: Path) -> None:
    """Write the reference forecasts of :data:`FIXTURE_DAYS` (NP) for the unit test."""
    out: dict[str, Any] = {
        "what": "LEAR day-ahead forecasts [EUR/MWh] of NP test days (day 0 = 2016-12-27), recalibrated as "
        "epftoolbox's LEAR.recalibrate does, on scikit-learn 0.24.2; written by benchmarks/lear_reference.py",
        "forecasts": {},
    }
    for window, days in FIXTURE_DAYS.items():
        arrays, _ = cases("NP", list(days))
        arrays = {k: v for k, v in arrays.items() if k.split("_", 1)[1].startswith(f"{window}_")}
        with tempfile.TemporaryDirectory() as tmp:
            np.savez(Path(tmp) / "in.npz", **arrays)
            subprocess.run(
                [str(python), "-c", WORKER, str(Path(tmp) / "in.npz"), str(Path(tmp) / "out.npz")],
                capture_output=True, check=True,
            )  # fmt: skip
            ref = dict(np.load(Path(tmp) / "out.npz"))
        for key, values in ref.items():
            out["forecasts"][key] = [round(float(v), 10) for v in values]
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(out, indent=1) + "\n")
    log(f"fixture written to {FIXTURE}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--markets", default="NP,PJM")
    p.add_argument("--days", type=int, default=12, help="test days per window, spread over the 728")
    p.add_argument("--fixture", action="store_true", help="also write the unit test's reference file")
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args(argv)
    if not (shared_dir() / "datasets" / "epftoolbox").is_dir():
        print("the epftoolbox datasets are not under MI_SHARED_DIR", file=sys.stderr)
        return 2
    python = reference_python()
    days = [int(d) for d in np.linspace(0, 727, args.days).round()]
    results: dict[str, Any] = {"benchmark": "lear_reference", "machine": machine_info()}
    for market in args.markets.split(","):
        results[market], _ = compare(market, days, python)
    if args.fixture:
        write_fixture(python)
    write_results("lear_reference", results, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
