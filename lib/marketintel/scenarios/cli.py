"""``mi scenario ...``: check and run a scenario file, list runs, write assumptions."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from pathlib import Path

import pandas as pd

from marketintel.exceptions import MarketIntelError


def _read(path: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise MarketIntelError(f"no scenario file {path!r}")
    return file.read_text(encoding="utf-8")


def _show(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.6g}")


def cmd_check(args: argparse.Namespace) -> int:
    """Check a scenario file; exit 1 with each positioned error."""
    from marketintel.services.scenarios import check

    text = _read(args.file)
    client = None
    if args.store:
        from marketintel.services.store import ensure_store

        client = ensure_store().client
    with contextlib.chdir(Path(args.file).resolve().parent):  # file names are the scenario file's neighbours
        result = check(text, client)
    for error in result.errors:
        print(f"{args.file}:{error.line}:{error.column}: {error.message}", file=sys.stderr)
    if not result.ok:
        return 1
    print(f"scenario {result.scenario!r}: ok")
    for line in result.statements:
        print(f"  {line}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario file; print progress, then the comparison with the base."""
    from marketintel.scenarios.errors import ScenarioError
    from marketintel.services.scenarios import run

    text = _read(args.file)
    out = Path(args.out).resolve() if args.out else None
    try:
        with contextlib.chdir(Path(args.file).resolve().parent):
            result = run(
                text, user=getpass.getuser(), out_csv=out, progress=lambda line: print(line, flush=True)
            )
    except ScenarioError as exc:
        print(f"{args.file}:{exc.line}:{exc.column}: {exc.detail}", file=sys.stderr)
        return 1
    table = result.comparison[
        [
            "contract",
            "delivery_start",
            "delivery_end",
            "base_price",
            "scenario_price",
            "difference",
            "requote",
        ]
    ]
    print(
        f"\n{result.scenario}: {result.status} (run {result.run_id}, {result.duration_s:.2f} s) "
        f"against the base {result.curve_name} [{result.unit}]"
    )
    print(_show(table))
    for name, series in result.derived.items():
        print(f"derived {name}: {len(series):,} points, mean {series['value'].mean():.6g}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """List tracked runs, newest first."""
    from marketintel.services.scenarios import runs
    from marketintel.services.store import ensure_store

    frame = runs(ensure_store().client, args.name)
    if frame.empty:
        print("no scenario runs" + (f" of {args.name!r}" if args.name else ""))
        return 0
    shown = frame[
        [
            "run_id",
            "scenario",
            "status",
            "started_at_utc",
            "duration_s",
            "output_curve",
            "output_version",
            "assumptions",
        ]
    ].head(args.limit)
    print(_show(shown))
    return 0


def cmd_assume(args: argparse.Namespace) -> int:
    """Store a new version of an assumption: a VALUE or a --file of dated points."""
    from marketintel.services.scenarios import read_points_csv, set_assumption
    from marketintel.services.store import ensure_store

    if (args.value is None) == (args.file is None):
        raise MarketIntelError("give a VALUE or --file CSV (date,value), exactly one")
    client = ensure_store().client
    if args.file:
        points = read_points_csv(Path(args.file))
        version = set_assumption(
            client,
            args.name,
            points=points,
            unit=args.unit,
            description=args.description,
            user=getpass.getuser(),
        )
        what = f"{len(points)} points {points.index[0]:%Y-%m-%d} .. {points.index[-1]:%Y-%m-%d}"
    else:
        try:
            value = float(args.value)
        except ValueError:
            raise MarketIntelError(
                f"VALUE must be a number, got {args.value!r} (a series: --file CSV)"
            ) from None
        version = set_assumption(
            client,
            args.name,
            value=value,
            unit=args.unit,
            description=args.description,
            user=getpass.getuser(),
        )
        what = f"{value:g}"
    print(f"assumption {args.name}@{version} = {what}{f' [{args.unit}]' if args.unit else ''}")
    return 0


def register_scenarios(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi scenario check|run|runs|assume``."""
    scenario = sub.add_parser("scenario", help="scenarios: check, run and compare what-if cases")
    ssub = scenario.add_subparsers(dest="scenario_command", required=True, metavar="COMMAND")
    p = ssub.add_parser("check", help="check a scenario file (grammar, names); exit 1 with the errors")
    p.add_argument("file", help="the scenario file")
    p.add_argument("--store", action="store_true", help="also check curve and assumption names in the store")
    p.set_defaults(func=cmd_check)
    p = ssub.add_parser(
        "run", help="run a scenario file: store its curves, record the run, print the comparison"
    )
    p.add_argument("file", help="the scenario file")
    p.add_argument("--out", default=None, help="also write base, scenario and derived curves to this CSV")
    p.set_defaults(func=cmd_run)
    p = ssub.add_parser("runs", help="list tracked runs, newest first")
    p.add_argument("name", nargs="?", default=None, help="only this scenario's runs")
    p.add_argument("--limit", type=int, default=50, help="most runs to show")
    p.set_defaults(func=cmd_runs)
    p = ssub.add_parser("assume", help="store a new version of an assumption (a value or a dated series)")
    p.add_argument("name", help="assumption name (letters, digits, _)")
    p.add_argument("value", nargs="?", default=None, help="a scalar value")
    p.add_argument(
        "--file", default=None, help="CSV date,value: a series (each value holds until the next date)"
    )
    p.add_argument("--unit", default="", help="unit, e.g. MMBtu/MWh")
    p.add_argument("--description", default="", help="what it is and where it comes from")
    p.set_defaults(func=cmd_assume)
