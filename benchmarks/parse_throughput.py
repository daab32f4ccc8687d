"""Parse-and-map throughput on the largest recordings, side by side with gridstatus on the same bytes.

For each file, the bytes are read once into memory; each side then maps them to its canonical frame
``--repeats`` times and the median time is reported (rows/s, and the ratio marketintel / gridstatus).

- marketintel: ``Ingestor.map_to_schema`` (parse, convert stamps to UTC, map columns, sort), in this venv;
- gridstatus: what ``SPP.get_lmp_day_ahead_hourly`` / ``get_lmp_real_time_5_min_by_location`` do after the
  download (``pd.read_csv`` on the body, then ``SPP._finalize_spp_df``), in its own venv
  (``benchmarks/.work/venv-gridstatus``, created on first use: gridstatus pins pandas 2, the platform
  pandas 3), so each side runs in its own process on the same machine, one after the other.

Run: ``.venv/bin/python benchmarks/parse_throughput.py`` (first run installs gridstatus, about a minute).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchcommon import WORK_DIR, machine_info, write_results
from marketintel.config import shared_dir

GRIDSTATUS = "gridstatus==0.37.0"
FILES = {  # file -> (connector dataset, gridstatus market)
    "spp/DA-LMP-SL-202503190100.csv": ("lmp_day_ahead_hourly", "DAY_AHEAD_HOURLY"),
    "spp/RTBM-LMP-SL-202503310840.csv": ("lmp_real_time_5min", "REAL_TIME_5_MIN"),
}

GRIDSTATUS_WORKER = r"""
import io, json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from gridstatus import SPP
from gridstatus.base import Markets
path, market, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = open(path, "rb").read()
iso = SPP()
times, rows = [], 0
for _ in range(repeats):
    t0 = time.perf_counter()
    df = iso._finalize_spp_df(pd.read_csv(io.BytesIO(body)), market=Markets[market], location_type="ALL")
    times.append(time.perf_counter() - t0)
    rows = len(df)
print(json.dumps({"median_s": statistics.median(times), "rows": rows, "pandas": pd.__version__}))
"""


def gridstatus_python() -> Path:
    venv = WORK_DIR / "venv-gridstatus"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with {GRIDSTATUS} (first run only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", GRIDSTATUS], check=True)
    return python


def ours(path: Path, dataset: str, repeats: int) -> dict[str, float]:
    import pandas as pd
    from marketintel.connectors.base import RawPayload
    from marketintel.connectors.spp.ingestor import SPPIngestor

    body = path.read_bytes()
    ingestor = SPPIngestor()
    times, rows = [], 0
    for _ in range(repeats):
        raw = RawPayload("spp", dataset, path.as_uri(), body, pd.Timestamp.now(tz="UTC"))
        t0 = time.perf_counter()
        df = ingestor.map_to_schema(raw)
        times.append(time.perf_counter() - t0)
        rows = len(df)
    return {"median_s": statistics.median(times), "rows": rows, "pandas": pd.__version__}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=15, help="parses per file and side; the median is reported")
    p.add_argument("--output", type=Path, default=None, help="results JSON (default benchmarks/results/)")
    args = p.parse_args(argv)
    fixtures = shared_dir() / "fixtures"
    if not fixtures.is_dir():
        print(f"recordings not found under {fixtures} (MI_SHARED_DIR)", file=sys.stderr)
        return 2
    gs_python = gridstatus_python()
    results = {}
    for name, (dataset, market) in FILES.items():
        path = fixtures / name
        mine = ours(path, dataset, args.repeats)
        out = subprocess.run(
            [str(gs_python), "-c", GRIDSTATUS_WORKER, str(path), market, str(args.repeats)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        theirs = json.loads(out.stdout.strip().splitlines()[-1])
        size_mb = path.stat().st_size / 1e6
        row = {
            "bytes": path.stat().st_size,
            "marketintel": {**mine, "rows_per_s": round(mine["rows"] / mine["median_s"])},
            "gridstatus": {**theirs, "rows_per_s": round(theirs["rows"] / theirs["median_s"])},
            "speedup": round(theirs["median_s"] / mine["median_s"], 2),
        }
        results[name] = row
        print(
            f"{name} ({size_mb:.2f} MB): marketintel {mine['median_s'] * 1000:.1f} ms "
            f"({row['marketintel']['rows_per_s']:,} rows/s), gridstatus {theirs['median_s'] * 1000:.1f} ms "
            f"({row['gridstatus']['rows_per_s']:,} rows/s): {row['speedup']}x"
        )
    summary = {
        "benchmark": "parse_throughput",
        "machine": machine_info(),
        "repeats": args.repeats,
        "files": results,
        "goal": ">= 3x gridstatus",
        "peer": GRIDSTATUS,
    }
    write_results("parse_throughput", summary, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
