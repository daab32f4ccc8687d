"""Holiday rules as data: NERC off-peak days and national public holidays of the calendars' markets.

A rule is a small table (fixed dates, Easter offsets, n-th weekdays of a month) plus how a holiday that
falls on a weekend is observed. :data:`HOLIDAY_RULES` holds them by name; an unknown name fails with the
list of known ones.

NERC "additional off-peak days" (verified against the published NERC list for 2010-2011 and the rule text
quoted with it): New Year's Day, Memorial Day (last Monday of May), Independence Day, Labor Day (first
Monday of September), Thanksgiving (fourth Thursday of November) and Christmas Day. A fixed-date holiday
on a Sunday is observed the Monday after; on a Saturday it stays on the Saturday (no Friday off-peak).

The European tables hold the national holidays only (no regional ones), with the dated exceptions of each
country (one-off days such as the UK's jubilees, bank holidays moved for them, Germany's nationwide
Reformation Day of 2017, France's Whit Monday working days of 2005-2007). On every weekday of 2000-2040
they equal the ``holidays`` package's tables but for the differences each rule's description names
(``tests/calendars/test_calendars.py``). They feed the ``is_holiday`` flag; EEX-style peak products do not
exclude public holidays, so they change no hour counts of those calendars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

#: How a fixed-date holiday on a weekend is observed.
#: ``"none"``: not moved; ``"sunday_to_monday"``: Sunday -> Monday (NERC);
#: ``"sunday_to_saturday"``: Sunday -> Saturday before (Dutch King's Day);
#: ``"weekend_to_next_weekday"``: Saturday/Sunday -> next weekday that is not already a holiday (UK).
Observance = Literal["none", "sunday_to_monday", "sunday_to_saturday", "weekend_to_next_weekday"]

_SATURDAY = 5
_SUNDAY = 6


@dataclass(frozen=True)
class FixedHoliday:
    """A holiday on the same calendar date every year.

    Parameters
    ----------
    month, day : int
        The date [month 1..12, day 1..31].
    observance : Observance
        How it is observed when it falls on a weekend.
    """

    month: int
    day: int
    observance: Observance = "none"
    first_year: int = 1900
    last_year: int = 2200  # in force from ``first_year`` to ``last_year``, both inclusive


@dataclass(frozen=True)
class NthWeekday:
    """A holiday on the n-th given weekday of a month (``n = -1``: the last one).

    Parameters
    ----------
    month : int
        Month [1..12].
    weekday : int
        Weekday [0 = Monday .. 6 = Sunday].
    n : int
        Which occurrence [1..5, or -1 for the last].
    """

    month: int
    weekday: int
    n: int


@dataclass(frozen=True)
class HolidayRule:
    """A named set of holidays.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"NERC"`` or ``"DE"``.
    description : str
        What the rule covers and where it comes from.
    fixed : tuple of FixedHoliday
        Holidays on fixed dates.
    easter_offsets : tuple of int
        Holidays relative to Easter Sunday [days; -2 = Good Friday, 1 = Easter Monday, 39 = Ascension,
        50 = Whit Monday, 60 = Corpus Christi].
    nth_weekdays : tuple of NthWeekday
        Holidays on the n-th weekday of a month (Memorial Day, Labor Day, Thanksgiving, UK bank holidays).
    added : tuple of (datetime.date, str)
        One-off holidays, and the new dates of moved ones, with what they were.
    removed : tuple of (datetime.date, str)
        Dates the rules give that were not holidays that year (moved, or made working days), with why.
    package : str
        Country code of the kept ``holidays`` package whose national holidays the rule takes instead of its
        own tables (lunar and equinox holidays, substitute days: Japan, Korea, Singapore, Australia, ...);
        ``added`` and ``removed`` still apply.
    """

    name: str
    description: str
    fixed: tuple[FixedHoliday, ...] = ()
    easter_offsets: tuple[int, ...] = ()
    nth_weekdays: tuple[NthWeekday, ...] = ()
    added: tuple[tuple[dt.date, str], ...] = ()
    removed: tuple[tuple[dt.date, str], ...] = ()
    package: str = ""

    def dates(self, year: int) -> list[dt.date]:
        """Return the observed holidays of ``year``, sorted and unique.

        Parameters
        ----------
        year : int
            Calendar year [1900..2200].
        """
        if not 1900 <= year <= 2200:
            raise ValueError(f"holiday rule {self.name!r}: year must be in 1900..2200, got {year}")
        if self.package:
            return self._package_dates(year)
        movable: set[dt.date] = {easter_sunday(year) + dt.timedelta(days=k) for k in self.easter_offsets}
        movable |= {nth_weekday(year, r.month, r.weekday, r.n) for r in self.nth_weekdays}
        observed = set(movable)
        weekend_moves: list[dt.date] = []
        for rule in self.fixed:
            if not rule.first_year <= year <= rule.last_year:
                continue
            day = dt.date(year, rule.month, rule.day)
            wd = day.weekday()
            if rule.observance == "sunday_to_monday" and wd == _SUNDAY:
                day += dt.timedelta(days=1)
            elif rule.observance == "sunday_to_saturday" and wd == _SUNDAY:
                day -= dt.timedelta(days=1)
            elif rule.observance == "weekend_to_next_weekday" and wd >= _SATURDAY:
                weekend_moves.append(day)
                continue
            observed.add(day)
        # Weekend substitutes go, in date order, to the next weekday that is not already a holiday
        # (UK: Christmas on Saturday -> Monday 27th, Boxing Day on Sunday -> Tuesday 28th; Christmas on
        # Sunday -> Tuesday 27th, since Boxing Day keeps Monday 26th).
        for holiday in sorted(weekend_moves):
            substitute = holiday
            while substitute.weekday() >= _SATURDAY or substitute in observed:
                substitute += dt.timedelta(days=1)
            observed.add(substitute)
        observed -= {day for day, _ in self.removed if day.year == year}
        observed |= {day for day, _ in self.added if day.year == year}
        return sorted(observed)

    def _package_dates(self, year: int) -> list[dt.date]:
        import holidays

        found = set(holidays.country_holidays(self.package, years=year))
        found -= {day for day, _ in self.removed if day.year == year}
        found |= {day for day, _ in self.added if day.year == year}
        return sorted(found)

    def dates_between(self, start: dt.date, end: dt.date) -> np.ndarray[tuple[int], np.dtype[np.datetime64]]:
        """Return the observed holidays in ``[start, end]`` (both inclusive) as ``datetime64[D]``.

        A holiday observed in the next year (New Year on a Sunday observed 2 January is still in its own
        year; none of the rules moves a holiday across a year end) is looked up per year of the range.
        """
        found = [d for year in range(start.year, end.year + 1) for d in self.dates(year) if start <= d <= end]
        return np.array(found, dtype="datetime64[D]")


def easter_sunday(year: int) -> dt.date:
    """Return Easter Sunday of ``year`` in the Gregorian calendar (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """Return the ``n``-th ``weekday`` [0 = Monday] of a month; ``n = -1`` is the last one.

    Raises
    ------
    ValueError
        If the month has no such day (e.g. a fifth Monday that does not exist).
    """
    if n == -1:
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        last = nxt - dt.timedelta(days=1)
        return last - dt.timedelta(days=(last.weekday() - weekday) % 7)
    if not 1 <= n <= 5:
        raise ValueError(f"n must be 1..5 or -1 (last), got {n}")
    first = dt.date(year, month, 1)
    day = first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    if day.month != month:
        raise ValueError(f"{year}-{month:02d} has no weekday {weekday} number {n}")
    return day


def _fixed(pairs: Iterable[tuple[int, int]], observance: Observance = "none") -> tuple[FixedHoliday, ...]:
    return tuple(FixedHoliday(m, d, observance) for m, d in pairs)


_MON, _THU = 0, 3
_GOOD_FRIDAY, _EASTER_MONDAY, _ASCENSION, _WHIT_MONDAY, _CORPUS_CHRISTI = -2, 1, 39, 50, 60

#: Every holiday rule by name. ``"NONE"`` has no holidays (gas calendars with no holiday convention).
HOLIDAY_RULES: dict[str, HolidayRule] = {
    rule.name: rule
    for rule in (
        HolidayRule("NONE", "no holidays"),
        HolidayRule(
            "NERC",
            "NERC additional off-peak days (Eastern and Western Interconnections); Sunday -> Monday, "
            "Saturday not moved",
            fixed=_fixed([(1, 1), (7, 4), (12, 25)], "sunday_to_monday"),
            nth_weekdays=(NthWeekday(5, _MON, -1), NthWeekday(9, _MON, 1), NthWeekday(11, _THU, 4)),
        ),
        HolidayRule(
            "DE",
            "German nationwide public holidays",
            fixed=_fixed([(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)]),
            easter_offsets=(_GOOD_FRIDAY, _EASTER_MONDAY, _ASCENSION, _WHIT_MONDAY),
            added=((dt.date(2017, 10, 31), "Reformation Day, 500th anniversary (nationwide that year)"),),
        ),
        HolidayRule(
            "FR",
            "French public holidays (jours fériés)",
            fixed=_fixed([(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]),
            easter_offsets=(_EASTER_MONDAY, _ASCENSION, _WHIT_MONDAY),
            removed=tuple(
                (d, "Whit Monday was the journée de solidarité, a working day, 2005-2007")
                for d in (dt.date(2005, 5, 16), dt.date(2006, 6, 5), dt.date(2007, 5, 28))
            ),
        ),
        HolidayRule(
            "NL",
            "Dutch public holidays generally taken off: King's Day 27 April from 2014 (Queen's Day 30 April"
            " before), the Saturday before when it is a Sunday; Good Friday and Liberation Day (official, but"
            " working days under most collective agreements; the holidays package lists Good Friday every"
            " year and Liberation Day every fifth) omitted",
            fixed=(
                *_fixed([(1, 1), (12, 25), (12, 26)]),
                FixedHoliday(4, 30, "sunday_to_saturday", last_year=2013),
                FixedHoliday(4, 27, "sunday_to_saturday", first_year=2014),
            ),
            easter_offsets=(_EASTER_MONDAY, _ASCENSION, _WHIT_MONDAY),
        ),
        HolidayRule(
            "AT",
            "Austrian public holidays",
            fixed=_fixed([(1, 1), (1, 6), (5, 1), (8, 15), (10, 26), (11, 1), (12, 8), (12, 25), (12, 26)]),
            easter_offsets=(_EASTER_MONDAY, _ASCENSION, _WHIT_MONDAY, _CORPUS_CHRISTI),
        ),
        HolidayRule(
            "NO",
            "Norwegian public holidays",
            fixed=_fixed([(1, 1), (5, 1), (5, 17), (12, 25), (12, 26)]),
            easter_offsets=(-3, _GOOD_FRIDAY, _EASTER_MONDAY, _ASCENSION, _WHIT_MONDAY),
        ),
        HolidayRule(
            "ES",
            "Spanish national public holidays (regional ones omitted)",
            fixed=_fixed([(1, 1), (1, 6), (5, 1), (8, 15), (10, 12), (11, 1), (12, 6), (12, 8), (12, 25)]),
            easter_offsets=(_GOOD_FRIDAY,),
        ),
        HolidayRule(
            "GB",
            "Bank holidays of England and Wales as gov.uk lists them: weekend substitutes instead of the"
            " weekend dates, one-off days and the bank holidays moved for them",
            fixed=_fixed([(1, 1), (12, 25), (12, 26)], "weekend_to_next_weekday"),
            easter_offsets=(_GOOD_FRIDAY, _EASTER_MONDAY),
            nth_weekdays=(NthWeekday(5, _MON, 1), NthWeekday(5, _MON, -1), NthWeekday(8, _MON, -1)),
            added=(
                (dt.date(1999, 12, 31), "Millennium"),
                (dt.date(2002, 6, 3), "Golden Jubilee"),
                (dt.date(2002, 6, 4), "Spring bank holiday, moved for the Golden Jubilee"),
                (dt.date(2011, 4, 29), "Royal wedding"),
                (dt.date(2012, 6, 4), "Spring bank holiday, moved for the Diamond Jubilee"),
                (dt.date(2012, 6, 5), "Diamond Jubilee"),
                (dt.date(2020, 5, 8), "Early May bank holiday, moved to VE Day"),
                (dt.date(2022, 6, 2), "Spring bank holiday, moved for the Platinum Jubilee"),
                (dt.date(2022, 6, 3), "Platinum Jubilee"),
                (dt.date(2022, 9, 19), "State funeral of Queen Elizabeth II"),
                (dt.date(2023, 5, 8), "Coronation of King Charles III"),
            ),
            removed=(
                (dt.date(2002, 5, 27), "Spring bank holiday moved to 4 June"),
                (dt.date(2012, 5, 28), "Spring bank holiday moved to 4 June"),
                (dt.date(2020, 5, 4), "Early May bank holiday moved to 8 May"),
                (dt.date(2022, 5, 30), "Spring bank holiday moved to 2 June"),
            ),
        ),
    )
}


#: National holidays taken from the ``holidays`` package (no table of our own for these countries).
_PACKAGE_RULES = {
    "AU": "Australian national public holidays (state holidays omitted)",
    "BE": "Belgian public holidays",
    "BG": "Bulgarian public holidays",
    "CZ": "Czech public holidays",
    "HR": "Croatian public holidays",
    "HU": "Hungarian public holidays",
    "JP": "Japanese national holidays, with substitute holidays",
    "KR": "Korean public holidays (lunar New Year and Chuseok included), with substitute holidays",
    "PL": "Polish public holidays",
    "PT": "Portuguese national public holidays",
    "RO": "Romanian public holidays",
    "SG": "Singapore public holidays, with Monday substitutes",
    "SI": "Slovenian public holidays",
    "SK": "Slovak public holidays",
}
HOLIDAY_RULES.update(
    {
        code: HolidayRule(code, f"{text} (from the holidays package)", package=code)
        for code, text in _PACKAGE_RULES.items()
    }
)


def get_holiday_rule(name: str) -> HolidayRule:
    """Return the holiday rule called ``name`` (case-insensitive).

    Raises
    ------
    KeyError
        If no rule has that name; the message lists the known ones.
    """
    try:
        return HOLIDAY_RULES[name.upper()]
    except KeyError:
        raise KeyError(f"unknown holiday rule {name!r}; known: {', '.join(sorted(HOLIDAY_RULES))}") from None


def nerc_holidays(year: int) -> list[dt.date]:
    """Return the observed NERC off-peak holidays of ``year`` (six dates, sorted)."""
    return HOLIDAY_RULES["NERC"].dates(year)
