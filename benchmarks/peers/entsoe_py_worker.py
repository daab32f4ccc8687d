"""Time entsoe-py 0.8.1's own XML parsers on a recorded ENTSO-E document (the peer of the entsoe connector).

Run inside a venv that has ``entsoe-py==0.8.1`` (not the project's .venv)::

    python3.11 -m venv benchmarks/.work/venv-entsoe
    benchmarks/.work/venv-entsoe/bin/pip install entsoe-py==0.8.1
    benchmarks/.work/venv-entsoe/bin/python benchmarks/peers/entsoe_py_worker.py PATH CASE REPEATS

``PATH`` is an XML document as served by the API; ``CASE`` picks the parser entsoe-py's client calls on
that document type (:data:`CASES`). The bytes are read and decoded once (entsoe-py's client hands the
parsers ``response.text``); each of ``REPEATS`` runs times the parser call alone. The last line printed
is JSON: ``{"median_s": ..., "rows": ..., "pandas": ...}`` where ``rows`` counts the non-missing values
the parser returned (comparable to the connector's row count).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from entsoe import parsers

#: CASE -> (entsoe-py parser call, what EntsoePandasClient calls it for)
CASES: dict[str, tuple[Callable[[str], Any], str]] = {
    "prices": (parsers.parse_prices, "query_day_ahead_prices: A44"),
    "load": (lambda x: parsers.parse_loads(x, process_type="A16"), "query_load: A65/A16"),
    "load_forecast": (lambda x: parsers.parse_loads(x, process_type="A01"), "query_load_forecast: A65/A01"),
    "load_forecast_minmax": (lambda x: parsers.parse_loads(x, process_type="A33"), "A65/A31..A33 min/max"),
    "generation": (parsers.parse_generation, "query_generation: A75/A16 (also A68, A69)"),
    "flows": (parsers.parse_crossborder_flows, "query_crossborder_flows: A11"),
    "netpositions": (parsers.parse_netpositions, "query_net_position: A25"),
}


def count_values(result: Any) -> int:
    """Return the number of non-missing values in a parser's result (Series, DataFrame or dict of them)."""
    if isinstance(result, dict):
        return sum(count_values(v) for v in result.values())
    if isinstance(result, pd.DataFrame):
        return int(result.notna().sum().sum())
    if isinstance(result, pd.Series):
        return int(result.notna().sum())
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[2] not in CASES:
        print(f"usage: {argv[0]} PATH CASE REPEATS   (CASE one of {', '.join(CASES)})", file=sys.stderr)
        return 2
    path, case, repeats = argv[1], argv[2], int(argv[3])
    with open(path, "rb") as fh:
        text = fh.read().decode("utf-8")
    parse = CASES[case][0]
    result = parse(text)  # warm-up (imports, caches), not timed
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = parse(text)
        times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {"median_s": statistics.median(times), "rows": count_values(result), "pandas": pd.__version__}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
