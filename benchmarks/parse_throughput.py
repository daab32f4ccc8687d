"""Parse-and-map throughput of the largest recordings, beside the peers users have today, on the same bytes.

For each file, the bytes are read once into memory; each side then maps them to its canonical frame
``--repeats`` times and the median time is reported (rows/s, and the ratio peer / marketintel). The peers:
gridstatus for the North American operators, entsoe-py's parsers for ENTSO-E XML, NEMOSIS for AEMO's
MMSDM tables; each in its own venv under ``benchmarks/.work`` (created on first use), run one after the
other on the same machine.

- marketintel: ``Ingestor.map_to_schema`` (parse, convert stamps to UTC, map columns, sort), in this venv;
- gridstatus: what ``SPP.get_lmp_day_ahead_hourly`` / ``get_lmp_real_time_5_min_by_location`` do after the
  download (``pd.read_csv`` on the body, then ``SPP._finalize_spp_df``), in its own venv
  (``benchmarks/.work/venv-gridstatus``, created on first use: gridstatus pins pandas 2, the platform
  pandas 3), so each side runs in its own process on the same machine, one after the other.

- entsoe-py 0.8.1: its ``entsoe.parsers`` functions on the XML (``benchmarks/peers/entsoe_py_worker.py``);
- NEMOSIS 3.8.1: what it does to a downloaded archive file (``benchmarks/peers/nemosis_worker.py``).

Run: ``.venv/bin/python benchmarks/parse_throughput.py [--peers gridstatus,entsoe-py,nemosis]`` (the first run
installs the peers, a few minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchcommon import WORK_DIR, machine_info, write_results
from marketintel.config import shared_dir

GRIDSTATUS = "gridstatus==0.37.0"
#: recorded file -> (source, connector dataset, gridstatus case, its arguments). The largest recordings of
#: each publisher whose gridstatus parser runs offline on the bytes (its PJM LMP methods need a network
#: lookup of pnodes, so PJM is measured on its largest feeds without one).
FILES: dict[str, tuple[str, str, str, str, list[str]]] = {
    "spp/DA-LMP-SL-202503190100.csv": (
        "spp", "lmp_day_ahead_hourly", "gridstatus", "spp", ["DAY_AHEAD_HOURLY"],
    ),
    "spp/RTBM-LMP-SL-202503310840.csv": (
        "spp", "lmp_real_time_5min", "gridstatus", "spp", ["REAL_TIME_5_MIN"],
    ),
    "pjm/dataminer_api/hourly_solar_power_forecast_response.json": (
        "pjm", "solar_forecast_hourly", "gridstatus", "pjm",
        ["get_solar_forecast_hourly", "2024-10-04", "2024-10-07"],
    ),
    "pjm/dataminer_api/rt_marginal_value_2023-11-05_2023-11-06.json": (
        "pjm", "constraint_shadow_price_rt_5min", "gridstatus", "pjm",
        ["get_marginal_value_real_time_5_min", "2023-11-05", "2023-11-07"],
    ),
    "isone/api_v1.1/genfuelmix_day_20240310.json": (
        "isone", "fuel_mix", "gridstatus", "isone", ["get_fuel_mix", "2024-03-10"],
    ),
    "isone/api_v1.1/reliabilityregionloadforecast_day_20241102_all.json": (
        "isone", "load_forecast_by_region_hourly", "gridstatus", "isone",
        ["get_reliability_region_load_forecast", "2024-11-02"],
    ),
    # ENTSO-E Transparency XML documents; entsoe-py's case = which of its parsers
    (
        "entsoe/xml/generation_161bc_actual_per_psr_NL__"
        "A75_A16__Aggregated_Generation_per_Type_202409012200-202409022200.xml"
    ): (
        "entsoe", "generation_actual_per_type", "entsoe-py", "generation", [],
    ),
    (
        "entsoe/xml/tut_renewables_DE_LU_2024_06_15__"
        "A75_A16__Aggregated_Generation_per_Type_202406142200-202406152200.xml"
    ): (
        "entsoe", "generation_actual_per_type", "entsoe-py", "generation", [],
    ),
    "entsoe/xml/emaps__FI_production.xml": (
        "entsoe", "generation_actual_per_type", "entsoe-py", "generation", [],
    ),
    "entsoe/xml/tut_load_actual_BE_week__A65_A16__Actual_Total_Load_202401142300-202401212300.xml": (
        "entsoe", "load_actual", "entsoe-py", "load", [],
    ),
    (
        "entsoe/xml/tut_load_forecast_BE_week__"
        "A65_A01__Day-ahead_Total_Load_Forecast_202401142300-202401212300.xml"
    ): (
        "entsoe", "load_forecast_day_ahead", "entsoe-py", "load_forecast", [],
    ),
    "entsoe/xml_more/ES_A44_intraday_prices.xml": (
        "entsoe", "intraday_auction_prices", "entsoe-py", "prices", [],
    ),
    "entsoe/xml/hassentsoe__DE_60M_15M_overlap.xml": (
        "entsoe", "day_ahead_prices", "entsoe-py", "prices", [],
    ),
    (
        "entsoe/xml/transmission121_g_cross_border_physical_flows__"
        "A11__Physical_Flows_202308232200-202308242200.xml"
    ): (
        "entsoe", "physical_flows", "entsoe-py", "flows", [],
    ),
    "entsoe/xml/market121_d_energy_prices__A44__Energy_Prices_202407272200-202407282200.xml": (
        "entsoe", "day_ahead_prices", "entsoe-py", "prices", [],
    ),
    # AEMO MMSDM monthly archives (filtered excerpts, ~1 MB unzipped each), NEMOSIS's case = its table name
    "aemo_nem/mmsdm/PUBLIC_ARCHIVE%23DISPATCHREGIONSUM%23FILE01%23202412010000.zip": (
        "nem", "dispatch_region_summary", "nemosis", "DISPATCHREGIONSUM", [],
    ),
    "aemo_nem/mmsdm/PUBLIC_DVD_DISPATCHREGIONSUM_202001010000.zip": (
        "nem", "dispatch_region_summary", "nemosis", "DISPATCHREGIONSUM", [],
    ),
    "aemo_nem/mmsdm/PUBLIC_DVD_DISPATCHPRICE_201804010000.zip": (
        "nem", "dispatch_price", "nemosis", "DISPATCHPRICE", [],
    ),
    "aemo_nem/mmsdm/PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202501010000.zip": (
        "nem", "dispatch_price", "nemosis", "DISPATCHPRICE", [],
    ),
    "aemo_nem/mmsdm/PUBLIC_ARCHIVE%23TRADINGPRICE%23FILE01%23202408010000.zip": (
        "nem", "trading_price", "nemosis", "TRADINGPRICE", [],
    ),
    "aemo_nem/mmsdm/PUBLIC_DVD_TRADINGPRICE_202110010000.zip": (
        "nem", "trading_price", "nemosis", "TRADINGPRICE", [],
    ),
}  # fmt: skip

#: each case maps the file's bytes exactly as gridstatus does after its download: the HTTP layer is replaced
#: by a function that returns the recorded body (decoded with json.loads where gridstatus calls .json()).
GRIDSTATUS_WORKER = r"""
import io, json, os, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
path, case, repeats, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
body = open(path, "rb").read()

def spp():
    from gridstatus import SPP
    from gridstatus.base import Markets
    return SPP()._finalize_spp_df(pd.read_csv(io.BytesIO(body)), market=Markets[args[0]], location_type="ALL")

def pjm():
    from gridstatus import PJM
    iso = PJM(api_key="offline")
    iso._fetch_data_miner_pages = lambda *a, **k: pd.DataFrame(json.loads(body)["items"])
    return getattr(iso, args[0])(args[1], end=args[2])

def isone():
    os.environ.setdefault("ISONE_API_USERNAME", "offline")
    os.environ.setdefault("ISONE_API_PASSWORD", "offline")
    from gridstatus.isone_api.isone_api import ISONEAPI
    iso = ISONEAPI()
    iso.make_api_call = lambda *a, **k: json.loads(body)
    return getattr(iso, args[0])(*args[1:2], **({"end": args[2]} if len(args) > 2 else {}))

run = {"spp": spp, "pjm": pjm, "isone": isone}[case]
times, rows = [], 0
for _ in range(repeats):
    t0 = time.perf_counter()
    df = run()
    times.append(time.perf_counter() - t0)
    rows = len(df)
print(json.dumps({"median_s": statistics.median(times), "rows": rows, "pandas": pd.__version__}))
"""


@dataclass(frozen=True)
class Peer:
    """A peer library, pinned, in its own venv, and the worker that times it on a file's bytes."""

    spec: str
    venv: str
    worker: str  # Python source: argv = path, case, repeats, *args; prints a JSON line last

    def python(self) -> Path:
        venv = WORK_DIR / self.venv
        python = venv / "bin" / "python"
        if not python.exists():
            print(f"creating {venv} with {self.spec} (first run only)", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", self.spec], check=True)
        return python


PEERS_DIR = Path(__file__).resolve().parent / "peers"
PEERS = {
    "gridstatus": Peer(GRIDSTATUS, "venv-gridstatus", GRIDSTATUS_WORKER),
    "entsoe-py": Peer("entsoe-py==0.8.1", "venv-entsoe", str(PEERS_DIR / "entsoe_py_worker.py")),
    "nemosis": Peer("nemosis==3.8.1", "venv-nemosis", str(PEERS_DIR / "nemosis_worker.py")),
}


def peer_run(peer: Peer, path: Path, case: str, repeats: int, args: list[str]) -> dict[str, float]:
    """Time the peer on ``path`` in its own venv (the worker is a file or inline source)."""
    worker = [peer.worker] if peer.worker.endswith(".py") else ["-c", peer.worker]
    out = subprocess.run(
        [str(peer.python()), *worker, str(path), case, str(repeats), *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def ours(path: Path, source: str, dataset: str, repeats: int) -> dict[str, float]:
    import pandas as pd

    from marketintel.ingest import registry
    from marketintel.ingest.sdk import RawPayload

    body = path.read_bytes()
    ingestor = registry.load(source)()
    times, rows = [], 0
    for _ in range(repeats):
        raw = RawPayload(source, dataset, path.as_uri(), body, pd.Timestamp.now(tz="UTC"))
        t0 = time.perf_counter()
        df = ingestor.map_to_schema(raw)
        times.append(time.perf_counter() - t0)
        rows = len(df)
    return {"median_s": statistics.median(times), "rows": rows, "pandas": pd.__version__}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=15, help="parses per file and side; the median is reported")
    p.add_argument("--output", type=Path, default=None, help="results JSON (default benchmarks/results/)")
    p.add_argument(
        "--peers", default="", help="comma-separated peers to run (default all): " + ", ".join(PEERS)
    )
    args = p.parse_args(argv)
    fixtures = shared_dir() / "fixtures"
    if not fixtures.is_dir():
        print(f"recordings not found under {fixtures} (MI_SHARED_DIR)", file=sys.stderr)
        return 2
    wanted = set(args.peers.split(",")) if args.peers else set(PEERS)
    unknown = wanted - set(PEERS)
    if unknown:
        print(f"unknown peers {sorted(unknown)}; known: {', '.join(PEERS)}", file=sys.stderr)
        return 2
    results = {}
    for name, (source, dataset, peer_name, case, case_args) in FILES.items():
        if peer_name not in wanted:
            continue
        path = fixtures / name
        mine = ours(path, source, dataset, args.repeats)
        theirs = peer_run(PEERS[peer_name], path, case, args.repeats, case_args)
        size_mb = path.stat().st_size / 1e6
        row = {
            "bytes": path.stat().st_size,
            "peer": f"{peer_name} ({PEERS[peer_name].spec})",
            "marketintel": {**mine, "rows_per_s": round(mine["rows"] / mine["median_s"])},
            peer_name: {**theirs, "rows_per_s": round(theirs["rows"] / theirs["median_s"])},
            "speedup": round(theirs["median_s"] / mine["median_s"], 2),
        }
        results[name] = row
        print(
            f"{name} ({size_mb:.2f} MB): marketintel {mine['median_s'] * 1000:.1f} ms "
            f"({row['marketintel']['rows_per_s']:,} rows/s), {peer_name} {theirs['median_s'] * 1000:.1f} ms "
            f"({row[peer_name]['rows_per_s']:,} rows/s): {row['speedup']}x",
            flush=True,
        )
    summary = {
        "benchmark": "parse_throughput",
        "machine": machine_info(),
        "repeats": args.repeats,
        "files": results,
        "goal": ">= 3x each peer on the same bytes",
        "peers": {name: PEERS[name].spec for name in sorted(wanted)},
    }
    write_results("parse_throughput", summary, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
