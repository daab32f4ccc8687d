"""Curves in the store: quotes in from ``forward_quotes``, curves out to ``curves`` with a ``curve_runs`` row.

Every build is recorded in ``curve_runs``, failed ones included: the input quotes' count and sha256, the
method, solver, parameters and timings, the largest repricing error and the code version, so a stored
curve can be traced to exactly what made it (and the same inputs give the same hash). Rebuilding a curve
for the same as-of writes a new ``version``; earlier versions stay.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import numpy as np
import pandas as pd

from marketintel.curves.build import CurveBuild
from marketintel.exceptions import EmptyResultError
from marketintel.store import insert_df


def code_version() -> str:
    """Return the marketintel version that runs the build."""
    from marketintel import __version__

    return str(__version__)


def next_version(client: Any, curve_name: str, scenario: str, as_of_utc: pd.Timestamp) -> int:
    """Return the version the next build of this curve, scenario and as-of gets (1 for the first)."""
    rows = client.query(
        "SELECT max(version) FROM curve_runs FINAL WHERE curve_name = {c:String} AND scenario = {s:String} "
        "AND as_of_utc = {t:DateTime64(3, 'UTC')}",
        parameters={"c": curve_name, "s": scenario, "t": as_of_utc.tz_convert("UTC").tz_localize(None)},
    ).result_rows
    last = rows[0][0] if rows and rows[0][0] is not None else 0
    return int(last) + 1


def read_quotes(client: Any, product: str, trade_date: dt.date, market: str | None = None) -> pd.DataFrame:
    """Return the forward quotes of ``product`` on ``trade_date`` (latest publication of each contract).

    Raises
    ------
    EmptyResultError
        When the store has no quote of that product on that day (the message says what it has).
    """
    where = "product = {p:String} AND trade_date = {d:Date}" + (" AND market = {m:String}" if market else "")
    params: dict[str, Any] = {"p": product, "d": trade_date}
    if market:
        params["m"] = market
    frame: pd.DataFrame = client.query_df(
        f"SELECT * FROM forward_quotes FINAL WHERE {where} ORDER BY contract", parameters=params
    )
    if frame.empty:
        days = client.query(
            "SELECT max(trade_date), count() FROM forward_quotes FINAL WHERE product = {p:String}",
            parameters={"p": product},
        ).result_rows
        latest, count = days[0] if days else (None, 0)
        hint = f"its latest trade date is {latest}" if count else "the store has no quote of it at all"
        raise EmptyResultError(f"no forward quotes of {product!r} on {trade_date}; {hint}")
    return frame


def read_price_history(
    client: Any, market: str, location: str, until_utc: pd.Timestamp, years: int = 3
) -> pd.DataFrame:
    """Return ``interval_start_utc, price`` of one market and location for ``years`` before ``until_utc``.

    Raises
    ------
    EmptyResultError
        When the store holds no such prices.
    """
    until = pd.Timestamp(until_utc).tz_convert("UTC")
    frame: pd.DataFrame = client.query_df(
        "SELECT interval_start_utc, price FROM prices FINAL "
        "WHERE market = {m:String} AND location = {l:String} "
        "AND interval_start_utc >= {a:DateTime64(3, 'UTC')} "
        "AND interval_start_utc < {b:DateTime64(3, 'UTC')} "
        "ORDER BY interval_start_utc",
        parameters={
            "m": market,
            "l": location,
            "a": (until - pd.DateOffset(years=years)).tz_localize(None),
            "b": until.tz_localize(None),
        },
    )
    if frame.empty:
        raise EmptyResultError(f"no prices of {market}/{location} in the {years} years before {until}")
    return frame


def write_build(
    client: Any,
    build: CurveBuild,
    curve_name: str,
    as_of_utc: pd.Timestamp,
    *,
    currency: str = "EUR",
    unit: str = "EUR/MWh",
    run_id: str | None = None,
    started_at_utc: pd.Timestamp | None = None,
) -> tuple[str, int, int]:
    """Store a build's curves (base and scenarios) and its lineage row.

    Returns
    -------
    tuple of (str, int, int)
        The run id, the version written and the number of curve rows.
    """
    run_id = run_id or str(uuid.uuid4())
    now = pd.Timestamp.now(tz="UTC")
    as_of = pd.Timestamp(as_of_utc).tz_convert("UTC")
    version = next_version(client, curve_name, "base", as_of)
    tidy = build.tidy()
    frame = pd.DataFrame(
        {
            "curve_name": curve_name,
            "scenario": tidy["scenario"].astype(str),
            "as_of_utc": as_of,
            "version": np.uint32(version),
            "delivery_start_utc": tidy["delivery_start_utc"],
            "delivery_end_utc": tidy["delivery_end_utc"],
            "value": tidy["price"].astype(float),
            "currency": currency,
            "unit": unit,
            "run_id": run_id,
            "published_at_utc": now,
        }
    )
    rows = insert_df(client, "curves", frame)
    record_run(
        client,
        curve_name,
        as_of,
        run_id=run_id,
        version=version,
        method=build.method,
        parameters=run_parameters(build),
        input_quotes=len(build.fits),
        input_sha256=build.input_sha256,
        max_reprice_error=build.max_reprice_error,
        status="ok",
        message="" if build.polished else "bid/ask answer is Clarabel's (the exact polish did not verify)",
        started_at_utc=started_at_utc or now,
    )
    return run_id, version, rows


def run_parameters(build: CurveBuild) -> dict[str, Any]:
    """Return what ``curve_runs.parameters`` records of a build: parameters, solver, timings, scenarios."""
    return {
        **build.parameters,
        "solver": build.solver,
        "polished": build.polished,
        "timings_ms": {k: round(v, 3) for k, v in build.timings_ms.items()},
        "contracts": build.fits[["contract", "profile", "target", "repriced", "error"]].to_dict(
            orient="records"
        ),
    }


def record_run(
    client: Any,
    curve_name: str,
    as_of_utc: pd.Timestamp,
    *,
    run_id: str,
    version: int,
    method: str,
    parameters: dict[str, Any],
    input_quotes: int,
    input_sha256: str,
    max_reprice_error: float | None,
    status: str,
    message: str,
    started_at_utc: pd.Timestamp,
) -> None:
    """Insert one ``curve_runs`` row (a finished or failed build)."""
    now = pd.Timestamp.now(tz="UTC")
    frame = pd.DataFrame(
        {
            "curve_name": [curve_name],
            "scenario": ["base"],
            "as_of_utc": [pd.Timestamp(as_of_utc).tz_convert("UTC")],
            "run_id": [run_id],
            "version": [np.uint32(version)],
            "method": [method],
            "parameters": [json.dumps(parameters, sort_keys=True, default=str)],
            "input_quotes": [np.uint32(input_quotes)],
            "input_sha256": [input_sha256],
            "max_reprice_error": [max_reprice_error],
            "status": [status],
            "message": [message],
            "code_version": [code_version()],
            "started_at_utc": [started_at_utc],
            "finished_at_utc": [now],
            "published_at_utc": [now],
        }
    )
    insert_df(client, "curve_runs", frame)
