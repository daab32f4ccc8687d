"""The declared map of logical series to candidate sources, with their priority (data, not code paths).

A logical series (``CAISO_LOAD_DA``, ``NORDIC_DA_FI``, ...) is one quantity that more than one connector
publishes. Each :class:`Candidate` says where a source's rows of it are in the store: the table, and the
``market`` / ``location`` (prices) or ``market`` / ``area`` / ``variable`` (fundamentals) the connector
writes, its ``source`` column and the length of its intervals (two datasets of one connector can write the
same market, area and variable at different resolutions: ISO-NE's hourly API load and its web client's
5-minute load). The markets, locations and variables below are the ones the connectors' mappings write
(``connectors/*/mapping.py``); a lower ``priority`` number is preferred.

Intervals finer than the series' resolution are averaged to it (power [MW] and prices [currency/MWh] are
both interval averages), so a 5-minute source can stand in for an hourly one.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from marketintel.exceptions import MarketIntelError

TABLES = ("prices", "fundamentals")


@dataclass(frozen=True)
class Candidate:
    """One source of a logical series and where its rows are.

    Attributes
    ----------
    source : str
        Connector (entry-point name, the rows' ``source`` column), e.g. ``"caiso"``.
    dataset : str
        The connector's dataset that fetches it, e.g. ``"load_forecast_dam"``.
    market : str
        The rows' ``market``.
    location_or_area : str
        ``location`` (prices) or ``area`` (fundamentals).
    variable : str
        ``variable`` (fundamentals); ``""`` for prices.
    priority : int
        1 is preferred, then 2, ...
    minutes : int
        Length of the source's intervals [min].
    """

    source: str
    dataset: str
    market: str
    location_or_area: str
    variable: str
    priority: int
    minutes: int = 60

    @property
    def key(self) -> str:
        """The candidate's name in decisions, trust rows and breakers: ``source/dataset``."""
        return f"{self.source}/{self.dataset}"


@dataclass(frozen=True)
class LogicalSeries:
    """A logical series and its candidate sources.

    Attributes
    ----------
    name : str
        E.g. ``"CAISO_LOAD_DA"``.
    table : str
        ``"prices"`` or ``"fundamentals"``.
    unit : str
        Unit of the served values, e.g. ``"MW"``, ``"EUR/MWh"``.
    candidates : tuple of Candidate
        In any order; :meth:`ranked` sorts them by priority.
    tolerance : float
        Largest relative difference [-] between two sources' values of one interval that still agree.
    max_staleness : pd.Timedelta
        A source whose newest interval ends more than this before ``min(window end, now)`` is stale.
    minutes : int
        Resolution of the served series [min].
    bounds : tuple of float, optional
        Plausible range of the values [unit] (lower, upper); a value outside is implausible (a unit or
        scaling error), which settles a disagreement between two sources. None: no bounds.
    description : str
        What it is.
    """

    name: str
    table: str
    unit: str
    candidates: tuple[Candidate, ...]
    tolerance: float
    max_staleness: pd.Timedelta
    minutes: int = 60
    bounds: tuple[float, float] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise MarketIntelError(f"{self.name}: table must be one of {TABLES}, got {self.table!r}")
        keys = [c.key for c in self.candidates]
        if len(set(keys)) != len(keys) or not keys:
            raise MarketIntelError(f"{self.name}: candidates must be distinct and at least one: {keys}")
        if any(c.minutes > self.minutes or self.minutes % c.minutes for c in self.candidates):
            raise MarketIntelError(f"{self.name}: a candidate's intervals must divide {self.minutes} min")

    def ranked(self) -> tuple[Candidate, ...]:
        """Return the candidates by priority (then by key)."""
        return tuple(sorted(self.candidates, key=lambda c: (c.priority, c.key)))

    def candidate(self, key: str) -> Candidate:
        """Return the candidate ``source/dataset``."""
        for c in self.candidates:
            if c.key == key:
                return c
        raise MarketIntelError(
            f"{self.name} has no candidate {key!r}; it has {[c.key for c in self.candidates]}"
        )


_HOUR = pd.Timedelta(hours=1)
_DAILY = pd.Timedelta(hours=12)  # publications of once a day (day-ahead forecasts and auctions)

#: Nordic bidding zones both ENTSO-E (``connectors/entsoe/zones.py``) and Nord Pool write under these codes
NORDIC_ZONES = ("NO1", "NO2", "NO3", "NO4", "NO5", "SE1", "SE2", "SE3", "SE4", "FI", "DK1", "DK2")


def _day_ahead(name: str, zone: str, first: tuple[str, str, str], second: tuple[str, str, str],
               minutes: int, what: str) -> LogicalSeries:  # fmt: skip
    suffix = {15: "15MIN", 60: "HOURLY"}[minutes]
    return LogicalSeries(
        name=name,
        table="prices",
        unit="EUR/MWh",
        candidates=(
            Candidate(first[0], first[1], f"{first[2]}_DAY_AHEAD_{suffix}", zone, "", 1, minutes),
            Candidate(second[0], second[1], f"{second[2]}_DAY_AHEAD_{suffix}", zone, "", 2, minutes),
        ),
        tolerance=0.01,
        max_staleness=_DAILY,
        minutes=minutes,
        bounds=(-1000.0, 5000.0),  # SDAC's harmonised minimum and maximum clearing prices [EUR/MWh]
        description=what,
    )


def _declared() -> dict[str, LogicalSeries]:
    out: dict[str, LogicalSeries] = {}
    out["ISONE_LOAD"] = LogicalSeries(
        "ISONE_LOAD", "fundamentals", "MW",
        (
            Candidate("isone", "system_load_hourly", "ISONE", "NEPOOL AREA", "load", 1, 60),
            Candidate("isone", "load_5min_wsclient", "ISONE", "NEPOOL AREA", "load", 2, 5),
        ),
        tolerance=0.03, max_staleness=2 * _HOUR, bounds=(5_000.0, 35_000.0),
        description="ISO-NE system load, hourly: its web services (hourlysysload) or its web client's"
        " 5-minute load (ws/wsclient) averaged to hours",
    )  # fmt: skip
    out["ERCOT_LOAD"] = LogicalSeries(
        "ERCOT_LOAD", "fundamentals", "MW",
        (
            Candidate("ercot", "load_forecast_vs_actual_dashboard", "ERCOT", "ERCOT", "load", 1, 60),
            Candidate("ercot", "actual_load_15min", "ERCOT", "ERCOT", "load", 2, 15),
        ),
        tolerance=0.03, max_staleness=2 * _HOUR, bounds=(20_000.0, 110_000.0),
        description="ERCOT system load, hourly: its dashboard (loadForecastVsActual) or its MIS actual"
        " load report (15-minute, averaged); the public API's datasets of the connector carry no load",
    )  # fmt: skip
    out["CAISO_LOAD_DA"] = LogicalSeries(
        "CAISO_LOAD_DA", "fundamentals", "MW",
        (
            Candidate("caiso", "load_forecast_dam", "CAISO", "CA ISO-TAC", "sys_fcst_da_mw", 1, 60),
            Candidate("caiso", "system_load_resource_schedules_dam", "CAISO", "Caiso_Totals",
                      "iso_tot_load_mw", 2, 60),
        ),
        tolerance=0.05, max_staleness=_DAILY, bounds=(10_000.0, 60_000.0),
        description="CAISO day-ahead load, hourly: OASIS SLD_FCST DAM (CA ISO-TAC forecast) or ENE_SLRS DAM"
        " (Caiso_Totals scheduled load)",
    )  # fmt: skip
    for minutes, tag in ((60, ""), (15, "_15MIN")):
        for zone in NORDIC_ZONES:
            out[f"NORDIC_DA_{zone}{tag}"] = _day_ahead(
                f"NORDIC_DA_{zone}{tag}",
                zone,
                ("nordpool", "day_ahead_hourly" if minutes == 60 else "day_ahead_15min", "NORDPOOL"),
                ("entsoe", "day_ahead_prices", "ENTSOE"),
                minutes,
                f"Day-ahead price of {zone} ({minutes} min): Nord Pool's own, or ENTSO-E's republication",
            )
        out[f"ES_DA{tag}"] = _day_ahead(
            f"ES_DA{tag}",
            "ES",
            ("omie", f"marginal_price_{'hourly' if minutes == 60 else '15min'}", "OMIE"),
            ("entsoe", "day_ahead_prices", "ENTSOE"),
            minutes,
            f"Spanish day-ahead price ({minutes} min): OMIE's marginal price, or ENTSO-E's republication",
        )
    return out


#: every declared logical series by name
SERIES: dict[str, LogicalSeries] = _declared()


def get_series(name: str, series: dict[str, LogicalSeries] | None = None) -> LogicalSeries:
    """Return the logical series ``name`` (of ``series``, default :data:`SERIES`).

    Raises
    ------
    MarketIntelError
        If there is no such series (the message lists them).
    """
    table = SERIES if series is None else series
    if name not in table:
        raise MarketIntelError(f"unknown logical series {name!r}; declared: {', '.join(sorted(table))}")
    return table[name]
