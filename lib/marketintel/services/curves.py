"""Build a forward curve from a quotes file or from stored settlements, and store it with its lineage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
