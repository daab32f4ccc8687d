"""Forward contracts: names -> delivery periods, CSV files and stored quotes -> :class:`Contract` objects.

Delivery periods are local calendar dates, both ends inclusive. The store's ``forward_quotes`` table keeps
``delivery_end`` exclusive (the day after the last delivery day); :func:`contracts_from_quotes` converts.

Accepted names (case-insensitive)
---------------------------------
=============================  ====================================================================
form                           delivery
=============================  ====================================================================
``D-2025-02-03``               that day
``WE-2025-02-08``              weekend: the Saturday given and the Sunday after
``W-2025-07``, ``W-2025-W07``  ISO week 7 of 2025, Monday .. Sunday
``BOM-2025-02-10``             balance of month: that day .. the month's last day
``M-2025-02``                  the month
``Q-2025-Q2``, ``Q-2025-2``    the quarter
``Sum-2025``, ``Win-2025``     the season starting in that year, from the calendar's season months
                               (EU Win-2025 = Oct 2025 .. Mar 2026; HENRY_HUB Nov 2025 .. Mar 2026)
``Cal-2026``, ``Y-2026``       the year
``Strip-2026-07..2026-09``     the months July .. September 2026, inclusive
=============================  ====================================================================
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from marketintel.calendars.calendar import (
    EU_SEASONS,
    MarketCalendar,
    as_date,
    get_calendar,
    month_span,
)

log = logging.getLogger("marketintel.calendars")

ACCEPTED_FORMS = (
    "D-YYYY-MM-DD (day)",
    "WE-YYYY-MM-DD (weekend, the Saturday)",
    "W-YYYY-WW or W-YYYY-Www (ISO week)",
    "BOM-YYYY-MM-DD (balance of month)",
    "M-YYYY-MM (month)",
    "Q-YYYY-Qn or Q-YYYY-n (quarter)",
    "Sum-YYYY / Win-YYYY (season)",
    "Cal-YYYY or Y-YYYY (year)",
    "Strip-YYYY-MM..YYYY-MM (months, inclusive)",
)


@dataclass(frozen=True)
class Contract:
    """A forward contract: a delivery period, a profile and a price or a bid/ask pair.

    Parameters
    ----------
    name : str
        Contract label, e.g. ``"Q-2026-Q1"``.
    start : datetime.date
        First local delivery day (inclusive).
    end : datetime.date
        Last local delivery day (inclusive).
    profile : str
        Delivery profile, e.g. ``"base"``, ``"peak"``, ``"offpeak"``, ``"5x16"`` (lower case).
    price : float or None
        Settlement or fair price [currency/MWh for power, currency/MWh or /therm for gas]; may be negative.
    bid, ask : float or None
        Best bid and ask [same unit as price]; ``bid <= ask``.

    Raises
    ------
    ValueError
        If the period is reversed, a number is not finite, ``bid > ask``, or neither a price nor a bid/ask
        pair is given; the message names the contract.
    """

    name: str
    start: dt.date
    end: dt.date
    profile: str = "base"
    price: float | None = None
    bid: float | None = None
    ask: float | None = None

    def __post_init__(self) -> None:
        label = f"contract {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"contract name must be a non-empty string, got {self.name!r}")
        for what in ("start", "end"):
            value = getattr(self, what)
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise ValueError(
                    f"{label}: {what} must be a datetime.date, got {type(value).__name__} {value!r}"
                )
        if self.end < self.start:
            raise ValueError(f"{label}: end {self.end} is before start {self.start} (both inclusive)")
        if (
            not isinstance(self.profile, str)
            or self.profile != self.profile.strip().lower()
            or not self.profile
        ):
            raise ValueError(
                f"{label}: profile must be a non-empty lower-case name like 'base', got {self.profile!r}"
            )
        for what in ("price", "bid", "ask"):
            value = getattr(self, what)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{label}: {what} must be a finite number or None, got {value!r}")
        if self.bid is not None and self.ask is not None and self.bid > self.ask:
            raise ValueError(f"{label}: bid {self.bid} is above ask {self.ask}")
        if self.price is None and (self.bid is None or self.ask is None):
            raise ValueError(
                f"{label}: needs a price or both bid and ask, "
                f"got price={self.price}, bid={self.bid}, ask={self.ask}"
            )

    @property
    def mid(self) -> float:
        """The price if given, else the bid/ask mid [same unit as price]."""
        if self.price is not None:
            return float(self.price)
        if self.bid is None or self.ask is None:  # pragma: no cover - excluded by __post_init__
            raise ValueError(f"contract {self.name!r} has neither a price nor a bid/ask pair")
        return (self.bid + self.ask) / 2.0

    @property
    def days(self) -> int:
        """Delivery days [d]."""
        return (self.end - self.start).days + 1


# --------------------------------------------------------------------------------------------------------
# Names -> delivery periods
# --------------------------------------------------------------------------------------------------------
def _day(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    day = _ymd(groups)
    return day, day


def _weekend(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    day = _ymd(groups)
    if day.weekday() != 5:
        raise ValueError(f"a weekend contract names its Saturday; {day} is a {day.strftime('%A')}")
    return day, day + dt.timedelta(days=1)


def _week(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    year, week = int(groups["y"]), int(groups["w"])
    try:
        monday = dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"ISO year {year} has no week {week}") from None
    return monday, monday + dt.timedelta(days=6)


def _bom(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    day = _ymd(groups)
    return day, month_span(day.year, day.month, 1)[1]


def _month(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    return month_span(int(groups["y"]), _month_number(groups["m"]), 1)


def _quarter(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    q = int(groups["q"])
    if not 1 <= q <= 4:
        raise ValueError(f"quarter must be 1..4, got {q}")
    return month_span(int(groups["y"]), 3 * q - 2, 3)


def _season(groups: dict[str, str], calendar: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    seasons = EU_SEASONS if calendar is None else calendar.seasons
    if seasons is None:
        assert calendar is not None
        raise ValueError(f"calendar {calendar.name} defines no seasons, so Sum-/Win- contracts are undefined")
    year = int(groups["y"])
    return seasons.period("summer", year) if groups["s"].lower() == "sum" else seasons.period("winter", year)


def _year(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    return month_span(int(groups["y"]), 1, 12)


def _strip(groups: dict[str, str], _: MarketCalendar | None) -> tuple[dt.date, dt.date]:
    first = month_span(int(groups["y1"]), _month_number(groups["m1"]), 1)[0]
    last = month_span(int(groups["y2"]), _month_number(groups["m2"]), 1)[1]
    if last < first:
        raise ValueError(f"strip ends ({last:%Y-%m}) before it starts ({first:%Y-%m})")
    return first, last


def _ymd(groups: dict[str, str]) -> dt.date:
    try:
        return dt.date(int(groups["y"]), int(groups["m"]), int(groups["d"]))
    except ValueError as exc:
        raise ValueError(f"not a date: {groups['y']}-{groups['m']}-{groups['d']} ({exc})") from None


def _month_number(text: str) -> int:
    month = int(text)
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01..12, got {text}")
    return month


_Y, _M, _D = r"(?P<y>\d{4})", r"(?P<m>\d{2})", r"(?P<d>\d{2})"
_PARSERS: tuple[
    tuple[re.Pattern[str], Callable[[dict[str, str], MarketCalendar | None], tuple[dt.date, dt.date]]], ...
] = tuple(
    (re.compile(pattern, re.IGNORECASE), parser)
    for pattern, parser in (
        (rf"D-{_Y}-{_M}-{_D}", _day),
        (rf"WE-{_Y}-{_M}-{_D}", _weekend),
        (rf"W-{_Y}-W?(?P<w>\d{{1,2}})", _week),
        (rf"BOM-{_Y}-{_M}-{_D}", _bom),
        (rf"M-{_Y}-{_M}", _month),
        (rf"Q-{_Y}-Q?(?P<q>\d)", _quarter),
        (rf"(?P<s>Sum|Win)-{_Y}", _season),
        (rf"(?:Cal|Y)-{_Y}", _year),
        (r"Strip-(?P<y1>\d{4})-(?P<m1>\d{2})\.\.(?P<y2>\d{4})-(?P<m2>\d{2})", _strip),
    )
)


def delivery_period(name: str, calendar: str | MarketCalendar | None = None) -> tuple[dt.date, dt.date]:
    """Return the first and last local delivery day (both inclusive) of a standard contract name.

    Parameters
    ----------
    name : str
        Contract name in one of the forms of the module docstring, case-insensitive (``"Q-2026-Q1"``).
    calendar : str or MarketCalendar, optional
        Gives the season months of ``Sum-``/``Win-`` contracts; default European (Apr-Sep / Oct-Mar).

    Raises
    ------
    ValueError
        If the name matches no accepted form (the message lists them) or names an impossible period.
    """
    cal = None if calendar is None else get_calendar(calendar)
    text = str(name).strip()
    for pattern, parser in _PARSERS:
        match = pattern.fullmatch(text)
        if match:
            try:
                return parser(match.groupdict(), cal)
            except ValueError as exc:
                raise ValueError(f"contract {name!r}: {exc}") from None
    raise ValueError(f"cannot parse contract name {name!r}; accepted forms: {'; '.join(ACCEPTED_FORMS)}")


# --------------------------------------------------------------------------------------------------------
# Readers and mappers
# --------------------------------------------------------------------------------------------------------
def _number(value: Any, what: str, name: str) -> float | None:
    """Return a float, or None for an empty cell / NULL / NaN."""
    if value is None or value is pd.NA or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"contract {name!r}: {what} must be a number, got {value!r}") from None
    return None if math.isnan(number) else number


def _resolve_period(
    name: str, start: Any, end: Any, calendar: MarketCalendar | None, where: str
) -> tuple[dt.date, dt.date]:
    """Return the given dates, or the name's period where they are empty.

    Explicit dates rule: where they disagree with what the name means (a ``Sum-2025`` of a US gas strip,
    April-October, read with European seasons; a publisher's own naming), the dates are kept and the
    disagreement is logged, never refused.
    """
    blank = [v is None or (isinstance(v, str) and not v.strip()) or v is pd.NaT for v in (start, end)]
    if any(blank):
        if not all(blank):
            raise ValueError(f"{where}: contract {name!r} has only one of start/end; give both or neither")
        return delivery_period(name, calendar)
    first = as_date(start, f"{where}: start of {name!r}")
    last = as_date(end, f"{where}: end of {name!r}")
    try:
        parsed = delivery_period(name, calendar)
    except ValueError:
        return first, last  # a free-form name: the dates are the only definition
    if parsed != (first, last):
        log.warning(
            "%s: contract %r has dates %s..%s but its name means %s..%s%s; the dates rule",
            where,
            name,
            first,
            last,
            parsed[0],
            parsed[1],
            "" if calendar is None else f" in calendar {calendar.name}",
        )
    return first, last


def read_contracts_csv(path: str | Path, calendar: str | MarketCalendar | None = None) -> list[Contract]:
    """Read contracts from a CSV file.

    Parameters
    ----------
    path : str or Path
        CSV with columns ``name, start, end, price`` and optionally ``bid, ask, profile``; other columns
        (``kind``, ``redundant``, ...) are ignored. ``start``/``end`` are local delivery dates, both
        inclusive; where both are empty they come from the name. ``profile`` defaults to ``"base"``.
    calendar : str or MarketCalendar, optional
        Season months for ``Sum-``/``Win-`` names (default European).

    Returns
    -------
    list of Contract
        In file order.

    Raises
    ------
    ValueError
        On missing columns (listing missing and available ones), an empty file, dates that contradict the
        contract name, or an invalid contract (naming it and its line).
    """
    cal = None if calendar is None else get_calendar(calendar)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    required = ["name", "start", "end", "price"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing columns {missing}; got {list(frame.columns)}; need {required} "
            f"(optional: bid, ask, profile)"
        )
    if frame.empty:
        raise ValueError(f"{path}: no contracts (only a header)")
    contracts = []
    for line, row in enumerate(frame.to_dict("records"), start=2):
        where = f"{path}:{line}"
        name = str(row["name"]).strip()
        start, end = _resolve_period(name, row["start"], row["end"], cal, where)
        profile = str(row.get("profile") or "base").strip().lower() or "base"
        try:
            contracts.append(
                Contract(
                    name=name,
                    start=start,
                    end=end,
                    profile=profile,
                    price=_number(row["price"], "price", name),
                    bid=_number(row.get("bid"), "bid", name),
                    ask=_number(row.get("ask"), "ask", name),
                )
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return contracts


#: Columns of a ``forward_quotes`` frame that :func:`contracts_from_quotes` reads.
QUOTE_COLUMNS = ("contract", "delivery_start", "delivery_end", "profile", "settle", "bid", "ask")


def contracts_from_quotes(frame: pd.DataFrame) -> list[Contract]:
    """Map rows of the store's ``forward_quotes`` table to contracts (``settle`` -> ``price``).

    Parameters
    ----------
    frame : pd.DataFrame
        Rows of ``forward_quotes`` for one curve build, i.e. already filtered to one market, product and
        trade date (not checked: the mapping is one row -> one contract). Needs :data:`QUOTE_COLUMNS`;
        ``delivery_end`` is exclusive there (the day after the last delivery day) and becomes the
        inclusive ``end``. NULL ``settle``/``bid``/``ask`` become None.

    Returns
    -------
    list of Contract
        In row order; ``name`` is the ``contract`` label.

    Raises
    ------
    ValueError
        On missing columns (listing missing and available ones), an empty frame, or a row that is not a
        valid contract (e.g. neither settle nor a bid/ask pair).
    """
    missing = [c for c in QUOTE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"forward_quotes frame lacks columns {missing}; got {list(frame.columns)}")
    if frame.empty:
        raise ValueError("forward_quotes frame is empty: no contracts to map")
    contracts = []
    for row in frame.loc[:, list(QUOTE_COLUMNS)].to_dict("records"):
        name = str(row["contract"])
        start = as_date(row["delivery_start"], f"delivery_start of {name!r}")
        end_exclusive = as_date(row["delivery_end"], f"delivery_end of {name!r}")
        if end_exclusive <= start:
            raise ValueError(
                f"contract {name!r}: delivery_end {end_exclusive} (exclusive) "
                f"must be after delivery_start {start}"
            )
        contracts.append(
            Contract(
                name=name,
                start=start,
                end=end_exclusive - dt.timedelta(days=1),
                profile=str(row["profile"]).strip().lower(),
                price=_number(row["settle"], "settle", name),
                bid=_number(row["bid"], "bid", name),
                ask=_number(row["ask"], "ask", name),
            )
        )
    return contracts


def contract_hours(contract: Contract, calendar: str | MarketCalendar) -> int:
    """Return the delivery hours of the contract's profile in the calendar, DST-aware [h].

    Raises
    ------
    ValueError
        If the calendar does not define the contract's profile (the message lists the valid ones).
    """
    cal = get_calendar(calendar)
    return cal.profile_hours(contract.start, contract.end, contract.profile)
