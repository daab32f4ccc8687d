"""Forward curves for every front end: build, store, read back with lineage, save a previewed build.

A curve is built from a quotes file or stored settlements and stored with its lineage; stored versions
are read back with their contracts and lineage; a build previewed in the curve builder is saved as a new
version.

The dashboards (``curves``, ``curve-builder``) and the curves report call these functions and hold no
SQL or model code of their own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from marketintel.exceptions import MarketIntelError

#: currency and price unit of quotes read from a CSV, by calendar (stored quotes carry their own); other
#: American calendars quote USD/MWh, the rest EUR/MWh
CSV_UNITS: dict[str, tuple[str, str]] = {
    "GB": ("GBP", "GBP/MWh"),
    "NBP": ("GBp", "GBp/therm"),
    "HENRY_HUB": ("USD", "USD/MMBtu"),
    "AESO": ("CAD", "CAD/MWh"),
    "IESO": ("CAD", "CAD/MWh"),
}


@dataclass(frozen=True)
class StoredCurve:
    """Where a build was stored: ``curves`` rows and one ``curve_runs`` lineage row."""

    run_id: str
    version: int
    rows: int


@dataclass(frozen=True)
class CurveResult:
    """A built (and possibly stored) curve and what it was built from.

    Attributes
    ----------
    build : CurveBuild
        The curve, its repricing table (``build.fits``), method, solver and timings.
    curve_name : str
        ``curves.curve_name``.
    origin : str
        Where the quotes came from, in words (file, or product and trade date).
    trade_date : datetime.date
        Trade date of the quotes; the curve is as of the end of it.
    as_of_utc : pd.Timestamp
        The information cutoff: the end of the trade date in the market's time zone [UTC].
    start, end : datetime.date
        First and last delivery date of the curve (local, inclusive).
    currency, unit : str
        Of the prices (e.g. ``USD``, ``USD/MMBtu``).
    stored : StoredCurve or None
        Run id, version and rows when stored.
    """

    build: Any
    curve_name: str
    origin: str
    trade_date: dt.date
    as_of_utc: pd.Timestamp
    start: dt.date
    end: dt.date
    currency: str
    unit: str
    stored: StoredCurve | None = None


def as_of_utc(trade_date: dt.date, tz: str) -> pd.Timestamp:
    """Return the end of ``trade_date`` in the zone ``tz`` (the cutoff of quotes of that day) [UTC]."""
    from marketintel.timeutils import local_to_utc

    midnight = pd.DatetimeIndex([pd.Timestamp(trade_date) + pd.Timedelta(days=1)])
    return pd.Timestamp(local_to_utc(midnight, tz)[0])


def latest_trade_date(client: Any, product: str) -> dt.date:
    """Return the last trade date the store has quotes of ``product`` for.

    Raises
    ------
    EmptyResultError
        When the store has no quote of the product.
    """
    from marketintel.exceptions import EmptyResultError

    latest, count = client.query(
        "SELECT max(trade_date), count() FROM forward_quotes FINAL WHERE product = {p:String}",
        parameters={"p": product},
    ).result_rows[0]
    if not count:
        raise EmptyResultError(f"the store has no forward quotes of product {product!r}")
    return latest if isinstance(latest, dt.date) else dt.date.fromisoformat(str(latest))


def _series_csv(path: Path, what: str) -> pd.Series:
    """Read ``date,price`` (by local date) or ``datetime_utc,<price|shape>`` (by UTC hour) from a CSV."""
    frame = pd.read_csv(path)
    if "date" in frame.columns:
        values = frame.drop(columns=["date"]).select_dtypes("number")
        index: pd.Index = pd.DatetimeIndex(pd.to_datetime(frame["date"], format="%Y-%m-%d"))
    elif "datetime_utc" in frame.columns:
        values = frame.drop(columns=["datetime_utc"]).select_dtypes("number")
        index = pd.DatetimeIndex(pd.to_datetime(frame["datetime_utc"], utc=True))
    else:
        raise MarketIntelError(
            f"{what} {path}: expected a 'date' or 'datetime_utc' column, found {list(frame.columns)}"
        )
    column = "price" if "price" in values.columns else ("shape" if "shape" in values.columns else None)
    if column is None:
        raise MarketIntelError(
            f"{what} {path}: expected a 'price' (or 'shape') column, found {list(frame.columns)}"
        )
    return pd.Series(values[column].to_numpy(dtype=float), index=index, name=column)


@dataclass(frozen=True)
class Quotes:
    """Contracts to build a curve from, and where they came from.

    Attributes
    ----------
    contracts : list of Contract
        The quoted contracts (delivery periods, profiles, prices or bid/ask).
    origin : str
        Where they came from, in words.
    name : str
        A short name of the origin (the file's stem or the product), the default curve name's stem.
    trade_date : datetime.date
        Their trade date.
    currency, unit : str
        Of their prices.
    """

    contracts: list[Any]
    origin: str
    name: str
    trade_date: dt.date
    currency: str
    unit: str


def load_quotes(
    calendar: Any,
    *,
    quotes: str | Path | None = None,
    product: str | None = None,
    as_of: dt.date | str | None = None,
    client: Any = None,
) -> Quotes:
    """Read contracts from a quotes CSV or a product's stored settlements (the latest trade date by default).

    Parameters
    ----------
    calendar : MarketCalendar
        Resolves contract names into delivery periods.
    quotes : str or Path, optional
        Contracts CSV ``name,start,end,price[,bid,ask][,profile]``.
    product : str, optional
        ``forward_quotes.product``; needs ``client``.
    as_of : date or str, optional
        Trade date (default: the product's latest, or today for a file).
    client : clickhouse_connect.driver.Client, optional
        The store, for ``product``.
    """
    from marketintel.calendars import contracts_from_quotes, read_contracts_csv
    from marketintel.curves.store import read_quotes

    day = dt.date.fromisoformat(as_of) if isinstance(as_of, str) and as_of else as_of or None
    if quotes is not None:
        ccy, unit = CSV_UNITS.get(
            calendar.name, ("USD", "USD/MWh") if calendar.tz.startswith("America/") else ("EUR", "EUR/MWh")
        )
        contracts = read_contracts_csv(Path(quotes), calendar)
        return Quotes(
            contracts, f"quotes file {quotes}", Path(quotes).stem, day or dt.date.today(), ccy, unit
        )
    if product is None or client is None:
        raise MarketIntelError("load_quotes needs a quotes file, or a product and a store client")
    day = day or latest_trade_date(client, product)
    stored = read_quotes(client, product, day)
    origin = f"stored settlements of {product} ({stored['market'].iloc[0]}) traded {day}"
    return Quotes(
        contracts_from_quotes(stored), origin, product, day,
        str(stored["currency"].iloc[0]), str(stored["unit"].iloc[0]),
    )  # fmt: skip


def build_and_store_curve(
    *,
    quotes: str | Path | None = None,
    product: str | None = None,
    as_of: dt.date | str | None = None,
    calendar: str = "EEX_DE",
    tz: str | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    granularity: Literal["daily", "hourly"] = "daily",
    weights: Literal["hours", "days"] = "hours",
    shape: str | Path | pd.Series | None = None,
    prior: str | Path | pd.Series | None = None,
    prior_from_store: str | None = None,
    bid_ask: bool | None = None,
    on_inconsistent: Literal["fail", "least-squares"] = "fail",
    tolerance: float = 1e-6,
    band_solver: Literal["clarabel", "cvxpy"] = "clarabel",
    shifts: Sequence[tuple[str, Any]] = (),
    curve_name: str | None = None,
    currency: str | None = None,
    unit: str | None = None,
    store: bool = True,
    client: Any = None,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> CurveResult:
    """Build the maximum-smoothness curve of a quotes file or of a product's stored settlements; store it.

    Parameters
    ----------
    quotes : str or Path, optional
        Contracts CSV ``name,start,end,price[,bid,ask][,profile]``. Exactly one of ``quotes`` and
        ``product`` is given.
    product : str, optional
        ``forward_quotes.product`` to read from the store, e.g. ``"NG"``.
    as_of : date or str, optional
        Trade date of the quotes (default: the product's latest in the store, or today for a file).
    calendar : str
        Market calendar (peak hours, holidays, time zone), e.g. ``"EEX_DE"``, ``"HENRY_HUB"``.
    tz : str, optional
        Override of the calendar's time zone (IANA name).
    start, end : date or str, optional
        First and last delivery date (local, inclusive). Default: the whole quoted strip, from the first
        contract's first delivery day to the last contract's last.
    granularity : {"daily", "hourly"}
        Curve resolution.
    weights : {"hours", "days"}
        Power averages over hours, gas over days.
    shape : str, Path or pd.Series, optional
        Hourly shape (CSV ``datetime_utc,shape`` or a series) for hourly curves.
    prior : str, Path or pd.Series, optional
        Prior curve (CSV ``date,price`` / ``datetime_utc,price`` or a series).
    prior_from_store : str, optional
        ``MARKET/LOCATION``: fit a seasonal prior to three years of stored prices before the as-of.
    bid_ask : bool, optional
        Fit inside each contract's [bid, ask] (default: when some contract has no price).
    on_inconsistent : {"fail", "least-squares"}
        What to do with quotes that contradict each other.
    tolerance : float
        Contradiction accepted as rounding [price unit].
    band_solver : {"clarabel", "cvxpy"}
        Solver of the bid/ask problem.
    shifts : sequence of (str, Shift)
        Scenario shifts; the same name makes one scenario.
    curve_name : str, optional
        ``curves.curve_name`` (default ``<file stem or product>_<granularity>``).
    currency, unit : str, optional
        Of the prices (default: the stored quotes', or by calendar for a file: :data:`CSV_UNITS`).
    store : bool
        Write ``curves`` and a ``curve_runs`` lineage row (a failed build also writes its failed run).
    client : clickhouse_connect.driver.Client, optional
        Default: :func:`~marketintel.services.store.ensure_store` when the store is needed.
    run_id : str, optional
        The lineage run id (default: a new UUID).
    progress : callable, optional
        Receives a line per step.

    Raises
    ------
    InconsistentContractsError
        When the quotes contradict each other and ``on_inconsistent="fail"`` (its ``report`` says which).
    EmptyResultError
        When the store has no quotes of the product on the trade date.
    MarketIntelError
        On a bad combination of parameters (the message says what was expected).
    """
    from marketintel.calendars import get_calendar
    from marketintel.curves.build import InconsistentContractsError, Scenario, build_curve
    from marketintel.curves.store import record_run, write_build

    say = progress or (lambda _line: None)
    if (quotes is None) == (product is None):
        raise MarketIntelError("give a quotes file (quotes=...) or a stored product (product=...), not both")
    started = pd.Timestamp.now(tz="UTC")
    cal = get_calendar(calendar)
    if tz and tz != cal.tz:
        cal = dataclasses.replace(cal, tz=tz)
    needs_store = store or product is not None or prior_from_store is not None
    if needs_store and client is None:
        from marketintel.services.store import ensure_store

        client = ensure_store().client
    q = load_quotes(cal, quotes=quotes, product=product, as_of=as_of, client=client)
    contracts, trade_date = q.contracts, q.trade_date
    currency, unit = currency or q.currency, unit or q.unit
    first = min(c.start for c in contracts)
    last = max(c.end for c in contracts)
    start_day = dt.date.fromisoformat(start) if isinstance(start, str) else (start or first)
    end_day = dt.date.fromisoformat(end) if isinstance(end, str) else (end or last)
    name = curve_name or f"{q.name}_{granularity}"
    cutoff = as_of_utc(trade_date, cal.tz)
    prior_series = _series_csv(Path(prior), "prior") if isinstance(prior, str | Path) else prior
    if prior_from_store:
        prior_series = _store_prior(
            client, prior_from_store, cutoff, cal.tz, start_day, end_day, weights, say
        )
    shape_series = _series_csv(Path(shape), "shape") if isinstance(shape, str | Path) else shape
    grouped: dict[str, list[Any]] = {}
    for scenario_name, shift in shifts:
        grouped.setdefault(scenario_name, []).append(shift)
    bands = any(c.price is None for c in contracts) if bid_ask is None else bid_ask
    say(
        f"building a {granularity} curve {start_day} .. {end_day} ({cal.name}, {cal.tz}) from "
        f"{len(contracts)} contracts: {q.origin}"
    )
    try:
        build = build_curve(
            contracts, cal, start_day, end_day, granularity=granularity, weights=weights,
            prior=prior_series, shape=shape_series, bid_ask=bands, on_inconsistent=on_inconsistent,
            tolerance=tolerance, band_solver=band_solver,
            scenarios=tuple(Scenario(k, tuple(v)) for k, v in grouped.items()),
        )  # fmt: skip
    except InconsistentContractsError as exc:
        if store:  # the failed build is part of the lineage too
            record_run(
                client, name, cutoff, run_id=run_id or str(uuid.uuid4()), version=0,
                method="max_smoothness_bid_ask" if bands else "max_smoothness_exact",
                parameters={"start": str(start_day), "end": str(end_day), "granularity": granularity},
                input_quotes=len(contracts), input_sha256="", max_reprice_error=None, status="failed",
                message=str(exc), started_at_utc=started,
            )  # fmt: skip
        raise
    stored_curve = None
    if store:
        rid, version, rows = write_build(
            client, build, name, cutoff, currency=currency, unit=unit, run_id=run_id, started_at_utc=started
        )
        stored_curve = StoredCurve(rid, version, rows)
        say(f"stored {rows:,} rows as version {version} of {name} as of {cutoff} (run {rid})")
    return CurveResult(
        build, name, q.origin, trade_date, cutoff, start_day, end_day, currency, unit, stored_curve
    )


def _store_prior(
    client: Any,
    location: str,
    cutoff: pd.Timestamp,
    tz: str,
    start: dt.date,
    end: dt.date,
    weights: str,
    say: Callable[[str], None],
) -> pd.Series:
    """Fit a seasonal prior to the stored prices of ``MARKET/LOCATION`` before ``cutoff``."""
    from marketintel.curves.prior import daily_history, seasonal_prior
    from marketintel.curves.store import read_price_history

    market, _, name = location.partition("/")
    if not name:
        raise MarketIntelError(f"prior_from_store expects MARKET/LOCATION, got {location!r}")
    history = daily_history(read_price_history(client, market, name, cutoff), tz)
    say(f"seasonal prior fitted to {len(history):,} days of {market}/{name}")
    prior: pd.Series = seasonal_prior(
        history, pd.date_range(start, end, freq="D"), weekdays=weights == "hours"
    )
    return prior


# --------------------------------------------------------------------------------------------------------
# Reading stored curves for the dashboards and reports: the catalogue, one version with its contracts and
# lineage, peak/off-peak daily averages of an hourly curve; and saving a build made in the curve builder.
# --------------------------------------------------------------------------------------------------------

#: the columns of :func:`stored_curves`
_CATALOGUE_COLUMNS = ["curve_name", "calendar", "granularity", "builds", "first_as_of_utc", "last_as_of_utc"]


def stored_curves(client: Any, *, database: str | None = None) -> pd.DataFrame:
    """Return the curves the store holds successful builds of, one row each, by name.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    database : str, optional
        Database of the tables. Default: the client's.

    Returns
    -------
    pd.DataFrame
        ``curve_name``; ``calendar`` and ``granularity`` of its latest build; ``builds`` [versions];
        ``first_as_of_utc``, ``last_as_of_utc`` (its earliest and latest information cutoff) [UTC]. Empty
        (with these columns) when no curve is stored.
    """
    from marketintel.store.schema import qualified_name

    table = qualified_name(database, "curve_runs") if database else "curve_runs"
    frame: pd.DataFrame = client.query_df(
        "SELECT curve_name, "
        "argMax(JSONExtractString(parameters, 'calendar'), (as_of_utc, version)) AS calendar, "
        "argMax(JSONExtractString(parameters, 'granularity'), (as_of_utc, version)) AS granularity, "
        "toUInt32(count()) AS builds, min(as_of_utc) AS first_as_of_utc, max(as_of_utc) AS last_as_of_utc "
        f"FROM {table} FINAL WHERE status = 'ok' AND scenario = 'base' "
        "GROUP BY curve_name ORDER BY curve_name"
    )
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _CATALOGUE_COLUMNS})
    return frame[_CATALOGUE_COLUMNS].reset_index(drop=True)


def contract_periods(names: Sequence[str], calendar: Any) -> pd.DataFrame:
    """Return the local delivery dates and UTC delivery interval of contracts named in standard form.

    Parameters
    ----------
    names : sequence of str
        Contract names (``M-2026-01``, ``Q-2026-Q2``, ``Cal-2027`` ...).
    calendar : MarketCalendar
        Their market (time zone, season months).

    Returns
    -------
    pd.DataFrame
        ``start``, ``end`` (first and last local delivery date, inclusive; None for a name that is not in
        a standard form), ``start_utc``, ``end_utc`` (the delivery interval ``[start, end)``) [UTC].
    """
    from marketintel.calendars.contracts import delivery_period

    periods: list[tuple[dt.date | None, dt.date | None]] = []
    for name in names:
        try:
            periods.append(delivery_period(str(name), calendar))
        except ValueError:
            periods.append((None, None))
    starts = pd.DatetimeIndex([pd.Timestamp(s) if s else pd.NaT for s, _ in periods])
    ends = pd.DatetimeIndex([pd.Timestamp(e) + pd.Timedelta(days=1) if e else pd.NaT for _, e in periods])
    frame = pd.DataFrame({"start": [s for s, _ in periods], "end": [e for _, e in periods]})
    frame["start_utc"] = _midnights_utc(starts, calendar.tz)
    frame["end_utc"] = _midnights_utc(ends, calendar.tz)
    return frame


def _midnights_utc(days: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Return local midnights (naive, NaT allowed) as UTC instants."""
    from marketintel.timeutils import local_to_utc

    out = pd.Series(pd.NaT, index=range(len(days)), dtype="datetime64[ms, UTC]")
    known = np.asarray(~np.asarray(days.isna()), dtype=bool)
    if known.any():
        out[known] = local_to_utc(days[known], tz).as_unit("ms")
    return pd.DatetimeIndex(out)


def contract_fits(parameters: dict[str, Any], calendar: Any) -> pd.DataFrame:
    """Return each contract of a stored build: delivery, quoted target, repriced average and error.

    Parameters
    ----------
    parameters : dict
        ``curve_runs.parameters`` of the build (as :func:`marketintel.curves.store.run_parameters` wrote it).
    calendar : MarketCalendar
        The build's calendar.

    Returns
    -------
    pd.DataFrame
        ``contract, profile, start, end, start_utc, end_utc, target, repriced, error, status``: ``target``
        is the price the contract was fitted to (its settlement, or the band's nearest edge), ``repriced``
        the curve's average over its delivery and profile, ``error`` the difference outside the band
        [price unit]; ``status`` ``ok`` within :data:`marketintel.curves.output.EXACT`.
    """
    from marketintel.curves.output import EXACT

    rows = pd.DataFrame(parameters.get("contracts") or [])
    columns = ["contract", "profile", "target", "repriced", "error"]
    for column in columns:
        if column not in rows.columns:
            rows[column] = pd.Series(dtype=object if column in ("contract", "profile") else float)
    rows = rows[columns].reset_index(drop=True)
    periods = contract_periods(rows["contract"].astype(str).tolist(), calendar)
    frame = pd.concat([rows[["contract", "profile"]], periods, rows[["target", "repriced", "error"]]], axis=1)
    for column in ("target", "repriced", "error"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["status"] = np.where(frame["error"].abs() <= EXACT, "ok", "MISPRICED")
    return frame


def block_averages(points: pd.DataFrame, calendar: Any) -> pd.DataFrame:
    """Return an hourly curve's daily base, peak and off-peak averages (the calendar's peak hours).

    Parameters
    ----------
    points : pd.DataFrame
        ``delivery_start_utc``, ``value``: one row per delivery hour [UTC], [price unit].
    calendar : MarketCalendar
        Gives the local date and peak flag of each hour (holidays off-peak where the market says so).

    Returns
    -------
    pd.DataFrame
        ``date`` (local delivery date), ``start_utc`` (its local midnight) [UTC], ``base``, ``peak``,
        ``offpeak`` [price unit] (``peak``/``offpeak`` NaN on a day without such hours, and both absent for
        a market without a peak product).
    """
    if points.empty:
        return pd.DataFrame(columns=["date", "start_utc", "base"])
    stamps = pd.DatetimeIndex(points["delivery_start_utc"]).tz_convert("UTC")
    local = stamps.tz_convert(calendar.tz)
    first, last = local.min().date(), local.max().date()
    hours = calendar.hourly(first, last)[["datetime_utc", "date", "is_peak"]]
    values = pd.DataFrame({"datetime_utc": stamps.as_unit("ms"), "value": points["value"].to_numpy(float)})
    merged = values.merge(
        hours.assign(datetime_utc=hours["datetime_utc"].dt.as_unit("ms")), on="datetime_utc"
    )
    out = merged.groupby("date")["value"].mean().rename("base").to_frame()
    if calendar.peak is not None:
        split = merged.groupby(["date", "is_peak"])["value"].mean().unstack()
        out["peak"] = split.get(True, pd.Series(np.nan, index=split.index))
        out["offpeak"] = split.get(False, pd.Series(np.nan, index=split.index))
    out = out.reset_index()
    out["start_utc"] = _midnights_utc(pd.DatetimeIndex(out["date"]), calendar.tz)
    out["date"] = pd.DatetimeIndex(out["date"]).date
    return out[["date", "start_utc", *[c for c in ("base", "peak", "offpeak") if c in out.columns]]]


@dataclass(frozen=True)
class FlowRunLink:
    """Where the Prefect UI shows a flow run, and what Prefect says of it.

    Attributes
    ----------
    run_id : str
        The flow run id (the build's ``run_id``).
    url : str
        ``<Prefect UI>/runs/flow-run/<run_id>``.
    name, state : str
        The run's name and state (``""`` when Prefect could not be asked).
    """

    run_id: str
    url: str
    name: str = ""
    state: str = ""


def prefect_ui_url() -> str:
    """Return the address of the Prefect UI (the configured Prefect API without its ``/api``)."""
    from marketintel import config

    api = config.prefect_api_url().rstrip("/")
    return api[: -len("/api")] if api.endswith("/api") else api


def flow_run_link(run_id: str, *, timeout_s: float = 1.5) -> FlowRunLink | None:
    """Return the Prefect UI link of a build's flow run, or None when Prefect knows no such flow run.

    A curve built by the ``build_curves`` flow carries the flow run's id as its ``run_id``; one built with
    ``mi curves build`` or saved from the curve builder has an id of its own. Prefect is asked (one GET,
    ``timeout_s``); when it does not answer, the link is returned unconfirmed (no name, no state).

    Parameters
    ----------
    run_id : str
        ``curve_runs.run_id``.
    timeout_s : float
        How long to wait for Prefect [s].
    """
    import httpx

    from marketintel import config

    if not run_id:
        return None
    try:
        uuid.UUID(run_id)
    except ValueError:
        return None
    url = f"{prefect_ui_url()}/runs/flow-run/{run_id}"
    try:
        answer = httpx.get(f"{config.prefect_api_url().rstrip('/')}/flow_runs/{run_id}", timeout=timeout_s)
    except httpx.HTTPError:
        return FlowRunLink(run_id, url)
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        return FlowRunLink(run_id, url)
    body = answer.json()
    state = (body.get("state") or {}).get("name") or body.get("state_name") or ""
    return FlowRunLink(run_id, url, str(body.get("name") or ""), str(state))


@dataclass(frozen=True)
class CurveVersion:
    """One stored version of a curve: its points, its contracts and its lineage.

    Attributes
    ----------
    curve_name : str
        ``curves.curve_name``.
    as_of_utc : pd.Timestamp
        The information cutoff of the version [UTC].
    version : int
        Build number at that cutoff.
    points : pd.DataFrame
        ``delivery_start_utc, delivery_end_utc, value`` (and the other columns of
        :func:`~marketintel.services.queries.curve_points`) [UTC], [unit].
    contracts : pd.DataFrame
        :func:`contract_fits` of the build.
    lineage : dict
        ``run_id, method, solver, input_sha256, input_quotes, max_reprice_error, code_version,
        started_at_utc, finished_at_utc, published_at_utc, message, built_by``.
    calendar : MarketCalendar
        The build's calendar (its zone is the market's local time).
    granularity : str
        ``daily`` or ``hourly``.
    currency, unit : str
        Of the values.
    """

    curve_name: str
    as_of_utc: pd.Timestamp
    version: int
    points: pd.DataFrame
    contracts: pd.DataFrame
    lineage: dict[str, Any]
    calendar: Any
    granularity: str
    currency: str
    unit: str

    @property
    def label(self) -> str:
        """``as of <cutoff> v<version>``, naming the version in legends."""
        return f"as of {self.as_of_utc:%Y-%m-%d %H:%M} UTC v{self.version}"


def curve_builds(client: Any, curve_name: str, *, database: str | None = None) -> pd.DataFrame:
    """Return the successful builds of a curve with their parameters, newest first.

    The rows of :func:`~marketintel.services.queries.curve_versions` with ``status = 'ok'``.

    Raises
    ------
    EmptyResultError
        When the store has no successful build of ``curve_name`` (the message says how to make one).
    """
    from marketintel.exceptions import EmptyResultError
    from marketintel.services.queries import curve_versions

    builds = curve_versions(client, curve_name, statuses="ok", include_parameters=True, database=database)
    if builds.empty:
        raise EmptyResultError(
            f"no successful build of curve {curve_name!r} is stored; build one with "
            f"`mi curves build --curve-name {curve_name} ...` or the build_curves flow"
        )
    return builds


def curve_version(
    client: Any,
    curve_name: str,
    as_of_utc: Any = None,
    version: int | None = None,
    *,
    builds: pd.DataFrame | None = None,
    database: str | None = None,
) -> CurveVersion:
    """Return one stored version of a curve with its contracts and lineage (the latest by default).

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    curve_name : str
        ``curves.curve_name``.
    as_of_utc : str, datetime or pd.Timestamp, optional
        The version's information cutoff (naive: UTC). Default: the latest.
    version : int, optional
        Build number at that cutoff. Default: the latest.
    builds : pd.DataFrame, optional
        :func:`curve_builds` of the curve when already read.
    database : str, optional
        Database of the tables. Default: the client's.

    Raises
    ------
    EmptyResultError
        When no such version is stored (the message lists what is).
    """
    from marketintel.calendars import get_calendar
    from marketintel.exceptions import EmptyResultError
    from marketintel.services.queries import curve_points

    runs = builds if builds is not None else curve_builds(client, curve_name, database=database)
    chosen = runs
    if as_of_utc is not None:
        cutoff = pd.Timestamp(as_of_utc)
        cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff.tz_convert("UTC")
        chosen = chosen[pd.DatetimeIndex(chosen["as_of_utc"]) == cutoff]
    if version is not None:
        chosen = chosen[chosen["version"].astype(int) == int(version)]
    if chosen.empty:
        have = ", ".join(f"{r.as_of_utc:%Y-%m-%d %H:%M} v{r.version}" for r in runs.head(10).itertuples())
        raise EmptyResultError(
            f"curve {curve_name!r} has no build as of {as_of_utc} version {version}; it has: {have}"
        )
    run = chosen.iloc[0]
    parameters = json.loads(run["parameters"] or "{}")
    calendar = get_calendar(parameters.get("calendar") or "EEX_DE")
    points = curve_points(
        client, curve_name, curve_as_of=run["as_of_utc"], version=int(run["version"]), database=database
    )
    lineage = {
        key: run[key]
        for key in ("run_id", "method", "solver", "input_sha256", "input_quotes", "max_reprice_error",
                    "code_version", "started_at_utc", "finished_at_utc", "published_at_utc", "message")
    }  # fmt: skip
    lineage["built_by"] = str(parameters.get("built_by", ""))
    return CurveVersion(
        curve_name=curve_name,
        as_of_utc=pd.Timestamp(run["as_of_utc"]),
        version=int(run["version"]),
        points=points,
        contracts=contract_fits(parameters, calendar),
        lineage=lineage,
        calendar=calendar,
        granularity=str(parameters.get("granularity") or "daily"),
        currency=str(points["currency"].iloc[0]) if len(points) else "",
        unit=str(points["unit"].iloc[0]) if len(points) else "",
    )


# --------------------------------------------------------------------------------------------------------
# Saving a build made interactively: as the user's own store credentials
# --------------------------------------------------------------------------------------------------------


class CurveSaveError(MarketIntelError):
    """A build cannot be saved by this user (the message says why and who can change it)."""


def store_role(user: str) -> str | None:
    """Return the role of store user ``user`` in the embedded store's users file (None: no such user/file)."""
    from marketintel import config
    from marketintel.store.endpoint.auth import Users

    path = config.store_users_file()
    if not path.exists():
        return None
    entry = Users.load(path).users.get(user)
    return None if entry is None else entry.role


def user_store_client(user: str) -> Any:
    """Return a store client logged in as hub user ``user``'s own store credentials, if they may write.

    Quants (and admins) get store credentials of their own (:mod:`marketintel.hub.users`), ``reader`` by
    default, ``writer`` when an admin grants it. A build saved from the curve builder is written with them:
    the store's own role check then decides, and its query log names the quant.

    Raises
    ------
    CurveSaveError
        When ``user`` has no store credentials, or only a reader's (the message says the admin command).
    """
    from marketintel import config
    from marketintel.hub import paths
    from marketintel.store.client import connect

    password = paths.store_password(user)
    grant = f"mi hub user set-groups {user} quants --store-role writer"
    if password is None:
        raise CurveSaveError(
            f"{user} has no store credentials of their own; an admin grants them with `{grant}`"
        )
    base = config.clickhouse_url()
    # the embedded store's users file names the role; with an external server (no such entry) the server
    # itself decides at the insert (a refusal is reported by save_curve)
    role = store_role(user)
    if role is not None and role not in ("writer", "admin"):
        raise CurveSaveError(
            f"{user}'s store user is a {role}: saving a curve needs a writer; an admin "
            f"grants it with `{grant}`"
        )
    return connect(dataclasses.replace(base, username=user, password=password), autogenerate_session_id=False)


def save_curve(
    result: CurveResult, client: Any, *, built_by: str = "", run_id: str | None = None
) -> CurveResult:
    """Store a build made with ``store=False`` (the curve builder's preview) as a new version with lineage.

    Parameters
    ----------
    result : CurveResult
        The unsaved build (:func:`build_and_store_curve` with ``store=False``).
    client : clickhouse_connect.driver.client.Client
        A client that may insert into ``curves`` and ``curve_runs``.
    built_by : str
        Who saved it (recorded in ``curve_runs.parameters`` as ``built_by``).
    run_id : str, optional
        The lineage run id (default: a new UUID).

    Returns
    -------
    CurveResult
        ``result`` with ``stored`` set.
    """
    from marketintel.curves.store import write_build

    if result.stored is not None:
        raise CurveSaveError(f"this build is stored already (version {result.stored.version})")
    build = result.build
    if built_by:
        build = dataclasses.replace(build, parameters={**build.parameters, "built_by": built_by})
    from clickhouse_connect.driver.exceptions import DatabaseError

    try:
        rid, version, rows = write_build(
            client, build, result.curve_name, result.as_of_utc, currency=result.currency, unit=result.unit,
            run_id=run_id,
        )  # fmt: skip
    except DatabaseError as exc:  # e.g. READONLY: the user may read but not write
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CurveSaveError(
            f"the store refused to save the curve as {built_by or 'this user'}: {first}; saving needs a "
            "store user with the writer role (an admin: `mi hub user set-groups NAME quants "
            "--store-role writer`)"
        ) from exc
    return dataclasses.replace(result, stored=StoredCurve(rid, version, rows))


def build_points(build: Any) -> pd.DataFrame:
    """Return a build's base curve as stored points: ``delivery_start_utc, delivery_end_utc, value``.

    Parameters
    ----------
    build : CurveBuild
        A build (stored or not).

    Returns
    -------
    pd.DataFrame
        One row per delivery day or hour [UTC], ``value`` [price unit]: the rows
        :func:`marketintel.curves.store.write_build` would store for the base scenario.
    """
    tidy = build.tidy()
    base = tidy[tidy["scenario"] == "base"]
    return pd.DataFrame(
        {
            "delivery_start_utc": pd.DatetimeIndex(base["delivery_start_utc"]).tz_convert("UTC"),
            "delivery_end_utc": pd.DatetimeIndex(base["delivery_end_utc"]).tz_convert("UTC"),
            "value": base["price"].to_numpy(dtype=float),
        }
    ).reset_index(drop=True)


def build_contracts(build: Any) -> pd.DataFrame:
    """Return a build's per-contract report with the UTC delivery interval of each contract.

    Returns
    -------
    pd.DataFrame
        ``build.fits`` (``contract, profile, start, end, price, bid, ask, target, repriced, error,
        residual_vs_quote, status``) plus ``start_utc``, ``end_utc`` (delivery ``[start, end)``) [UTC].
    """
    fits: pd.DataFrame = build.fits.copy()
    tz = build.calendar.tz
    fits["start_utc"] = _midnights_utc(pd.DatetimeIndex(pd.to_datetime(fits["start"])), tz)
    fits["end_utc"] = _midnights_utc(pd.DatetimeIndex(pd.to_datetime(fits["end"])) + pd.Timedelta(days=1), tz)
    return fits


#: the calendar of products whose name does not start with a calendar's (``PJM_WESTERN_HUB_DA`` -> PJM)
PRODUCT_CALENDARS: dict[str, str] = {"NG": "HENRY_HUB", "HH": "HENRY_HUB", "EUA": "EEX_DE"}


def quoted_products(client: Any, *, database: str | None = None) -> pd.DataFrame:
    """Return the products the store has forward quotes of, with their trade dates.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client
        The store.
    database : str, optional
        Database of the tables. Default: the client's.

    Returns
    -------
    pd.DataFrame
        ``product, market, currency, unit, contracts`` (quotes on the latest trade date) and
        ``trade_dates`` (list of datetime.date, newest first), one row per product, by name. Empty (with
        these columns) when the store holds no quote.
    """
    from marketintel.store.schema import qualified_name

    table = qualified_name(database, "forward_quotes") if database else "forward_quotes"
    frame: pd.DataFrame = client.query_df(
        "SELECT product, any(market) AS market, any(currency) AS currency, any(unit) AS unit, "
        "toUInt32(countIf(trade_date = last)) AS contracts, "
        "arrayReverseSort(groupUniqArray(trade_date)) AS trade_dates "
        f"FROM (SELECT *, max(trade_date) OVER (PARTITION BY product) AS last FROM {table} FINAL) "
        "GROUP BY product ORDER BY product"
    )
    columns = ["product", "market", "currency", "unit", "contracts", "trade_dates"]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame["trade_dates"] = [
        [d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]) for d in days]
        for days in frame["trade_dates"]
    ]
    return frame[columns].reset_index(drop=True)


def calendar_for_product(product: str) -> str:
    """Return the calendar a product's quotes most likely follow (the user can choose another).

    ``NG`` is Henry Hub; a product named after a market (``PJM_WESTERN_HUB_DA``, ``ERCOT_NORTH_HUB``) takes
    that market's calendar; anything else the German power calendar.
    """
    from marketintel.calendars.calendar import CALENDARS

    name = product.strip().upper()
    if name in PRODUCT_CALENDARS:
        return PRODUCT_CALENDARS[name]
    for key in sorted(CALENDARS, key=len, reverse=True):
        if name == key or name.startswith(f"{key}_"):
            return key
    return "EEX_DE"
