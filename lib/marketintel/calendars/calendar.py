"""Market calendars: delivery hours, peak/off-peak blocks, holidays and seasons of power and gas markets.

A :class:`MarketCalendar` is data (time zone, peak window, holiday rule, seasons); its methods expand a range
of local delivery dates into one row per real hour, vectorised (23 rows on a spring-forward day, 25 on a
fall-back day). Look calendars up with :func:`get_calendar`; :data:`CALENDARS` holds them all.

Conventions
-----------
* Delivery dates are local calendar dates of the market, both ends inclusive.
* Hours are hour-beginning instants; ``datetime_utc`` is ``datetime64[ms, UTC]``.
* ``date`` (hourly frame) and the index of :meth:`MarketCalendar.daily` are naive ``datetime64[s]``
  midnights of the local delivery date: group hours by day with ``frame.groupby("date")``.
* ``hour_ending`` numbers the hours of a local day sequentially 1..N (N = 23, 24 or 25): on a fall-back
  day the repeated clock hour gets its own number, and every number after it is one higher than the clock
  (HE 25 is the clock's HE 24). ``hour_local`` is the wall-clock hour beginning [0..23], which repeats on
  a fall-back day and skips on a spring-forward day; peak windows are defined on it (prevailing time).
* Gas calendars count calendar days in the market's zone: ``weight_days`` = 1 per day; the 06:00-06:00
  gas day offset is not modelled (it does not change day weights).

North American blocks (``block_style="nerc"``): with a peak window of 16 clock hours on ``k`` weekdays
the labels are ``f"{k}x16"`` (peak days, window hours), ``f"{7-k}x16"`` (other days and NERC holidays,
window hours) and ``"7x8"`` (every day, hours outside the window); ``"peak"`` is the first and
``"offpeak"`` the other two. Eastern markets trade 5x16 = Mon-Fri HE08-HE23; ERCOT's exchange contracts
use HE07-HE22 CPT, CAISO's (WECC) 6x16 = Mon-Sat HE07-HE22 PPT (see each calendar's ``note``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from marketintel.calendars.holidays import HolidayRule, get_holiday_rule
from marketintel.exceptions import MarketIntelError
from marketintel.timeutils import local_to_utc

Commodity = Literal["power", "gas"]
BlockStyle = Literal["peak_offpeak", "nerc", "none"]
IntArray = np.ndarray[tuple[int], np.dtype[np.int64]]
BoolArray = np.ndarray[tuple[int], np.dtype[np.bool_]]


class UnknownCalendarError(MarketIntelError, KeyError):
    """A calendar name is not in :data:`CALENDARS`."""

    def __str__(self) -> str:
        # KeyError quotes its message; show it as written.
        return str(self.args[0]) if self.args else ""


_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURLY_COLUMNS = (
    "datetime_utc",
    "datetime_local",
    "date",
    "hour_ending",
    "hour_local",
    "is_holiday",
    "is_peak",
    "block",
)


# --------------------------------------------------------------------------------------------------------
# Time-zone helper (candidate for marketintel.timeutils; kept here because that module is not ours to edit)
# --------------------------------------------------------------------------------------------------------
def utc_to_local(instants: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Return tz-aware instants as wall-clock times of ``tz`` (tz-aware, same instants).

    Parameters
    ----------
    instants : pd.DatetimeIndex
        Tz-aware instants.
    tz : str
        IANA zone, e.g. ``"Europe/Berlin"``.

    Raises
    ------
    ValueError
        If the instants are naive.
    """
    if instants.tz is None:
        raise ValueError("utc_to_local takes tz-aware instants, got naive ones")
    return instants.tz_convert(tz)


# --------------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PeakDefinition:
    """The peak window of a market: weekdays and a range of local wall-clock hours.

    Parameters
    ----------
    weekdays : tuple of int
        Peak weekdays [0 = Monday .. 6 = Sunday].
    first_hour : int
        First peak hour, as local clock hour beginning [0..23]; HE08 is ``first_hour=7``.
    last_hour : int
        Last peak hour, hour beginning, inclusive [0..23]; HE23 is ``last_hour=22``.
    """

    weekdays: tuple[int, ...]
    first_hour: int
    last_hour: int

    def __post_init__(self) -> None:
        if not self.weekdays or any(not 0 <= d <= 6 for d in self.weekdays):
            raise ValueError(
                f"peak weekdays must be non-empty, each in 0..6 (0 = Monday), got {self.weekdays}"
            )
        if not 0 <= self.first_hour <= self.last_hour <= 23:
            raise ValueError(
                f"peak hours must satisfy 0 <= first_hour <= last_hour <= 23 (hour beginning), "
                f"got {self.first_hour}..{self.last_hour}"
            )

    @property
    def hours_per_day(self) -> int:
        """Clock hours in the window on an ordinary day [h]."""
        return self.last_hour - self.first_hour + 1

    def describe(self) -> str:
        """Return e.g. ``"Mon-Fri 08:00-20:00 local (HE09-HE20)"``."""
        days = sorted(self.weekdays)
        contiguous = days == list(range(days[0], days[-1] + 1))
        day_text = (
            f"{_WEEKDAY_NAMES[days[0]]}-{_WEEKDAY_NAMES[days[-1]]}"
            if contiguous
            else ",".join(_WEEKDAY_NAMES[d] for d in days)
        )
        return (
            f"{day_text} {self.first_hour:02d}:00-{self.last_hour + 1:02d}:00 local "
            f"(HE{self.first_hour + 1:02d}-HE{self.last_hour + 1:02d})"
        )


@dataclass(frozen=True)
class Seasons:
    """Summer and winter seasons as runs of months; winter may span the year end.

    ``Win-2025`` is the winter starting in 2025 (e.g. October 2025 .. March 2026).

    Parameters
    ----------
    summer_start : int
        First month of summer [1..12].
    summer_months : int
        Length of summer [months].
    winter_start : int
        First month of winter [1..12].
    winter_months : int
        Length of winter [months].
    """

    summer_start: int
    summer_months: int
    winter_start: int
    winter_months: int

    def __post_init__(self) -> None:
        if self.summer_months + self.winter_months != 12 or (
            (self.summer_start - 1 + self.summer_months) % 12 + 1 != self.winter_start
        ):
            raise ValueError(
                f"seasons must tile the year: summer {self.summer_start}+{self.summer_months} months, "
                f"winter {self.winter_start}+{self.winter_months} months"
            )

    def period(self, season: Literal["summer", "winter"], year: int) -> tuple[dt.date, dt.date]:
        """Return the first and last delivery day (inclusive) of the season starting in ``year``."""
        start_month, months = (
            (self.summer_start, self.summer_months)
            if season == "summer"
            else (self.winter_start, self.winter_months)
        )
        return month_span(year, start_month, months)


def month_span(year: int, month: int, months: int) -> tuple[dt.date, dt.date]:
    """Return the first and last day (inclusive) of ``months`` months starting at ``year``-``month``."""
    first = dt.date(year, month, 1)
    end_index = year * 12 + (month - 1) + months
    after = dt.date(end_index // 12, end_index % 12 + 1, 1)
    return first, after - dt.timedelta(days=1)


#: European seasons (power and gas): Summer April-September, Winter October-March.
EU_SEASONS = Seasons(summer_start=4, summer_months=6, winter_start=10, winter_months=6)
#: US natural gas: Summer (injection) April-October, Winter (withdrawal) November-March.
US_GAS_SEASONS = Seasons(summer_start=4, summer_months=7, winter_start=11, winter_months=5)


def as_date(value: Any, what: str) -> dt.date:
    """Return ``value`` (``datetime.date``, ISO string, or a midnight ``pd.Timestamp``) as a date.

    Raises
    ------
    ValueError
        If the value is not a date, or is a timestamp with a time of day or a time zone (a delivery date
        is a local calendar date, not an instant).
    """
    if isinstance(value, dt.datetime | pd.Timestamp):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None or stamp != stamp.normalize():
            raise ValueError(f"{what} must be a local calendar date, got the timestamp {value!r}")
        return stamp.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        return as_date(pd.Timestamp(value), what)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{what} must be an ISO date like '2026-01-31', got {value!r}") from None
    raise ValueError(
        f"{what} must be a datetime.date or ISO date string, got {type(value).__name__} {value!r}"
    )


# --------------------------------------------------------------------------------------------------------
# The calendar
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarketCalendar:
    """Delivery calendar of one market.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"EEX_DE"``, ``"PJM"``, ``"TTF"``.
    tz : str
        IANA zone of the delivery clock (prevailing local time).
    commodity : {"power", "gas"}
        Power curves are hour-weighted, gas curves day-weighted.
    peak : PeakDefinition or None
        The peak window; None for markets without a peak product (gas).
    holidays : str
        Name of the holiday rule in :data:`~marketintel.calendars.holidays.HOLIDAY_RULES`.
    holidays_excluded_from_peak : bool
        Whether holidays are off-peak all day (NERC markets) or ordinary peak days (EEX products).
    seasons : Seasons or None
        Season months for ``Sum-YYYY`` / ``Win-YYYY`` contracts; None where the market lists no seasons.
    block_style : {"peak_offpeak", "nerc", "none"}
        Labels of the ``block`` column: ``"peak"``/``"offpeak"``; NERC-style ``"5x16"``/``"2x16"``/``"7x8"``;
        or ``"base"`` for every hour.
    note : str
        Where the definition comes from and choices made.
    mtu : tuple of (str, int)
        The market time unit of the market's day-ahead (or settlement) prices over time: ``(first local
        date, minutes)`` pairs in date order, e.g. SDAC's ``(("1900-01-01", 60), ("2025-10-01", 15))``.
        :meth:`periods` counts it (92/96/100 quarter hours on DST days).
    """

    name: str
    tz: str
    commodity: Commodity
    peak: PeakDefinition | None
    holidays: str
    holidays_excluded_from_peak: bool
    seasons: Seasons | None
    block_style: BlockStyle
    note: str = field(default="", compare=False)
    mtu: tuple[tuple[str, int], ...] = (("1900-01-01", 60),)

    def __post_init__(self) -> None:
        get_holiday_rule(self.holidays)  # fails early, listing the known rules
        dates = [as_date(d, "mtu date") for d, _ in self.mtu]
        if not dates or dates != sorted(dates) or any(60 % m and m % 60 for _, m in self.mtu):
            raise ValueError(
                f"calendar {self.name}: mtu must be (date, minutes) in date order, got {self.mtu}"
            )
        if (self.peak is None) != (self.block_style == "none"):
            raise ValueError(f"calendar {self.name}: block_style 'none' goes with peak=None and only with it")
        if self.block_style == "nerc" and self.peak is not None and self.peak.hours_per_day != 16:
            raise ValueError(f"calendar {self.name}: NERC-style blocks need a 16-hour peak window")

    # ---- labels and profiles -------------------------------------------------------------------------
    @property
    def holiday_rule(self) -> HolidayRule:
        """The calendar's :class:`~marketintel.calendars.holidays.HolidayRule`."""
        return get_holiday_rule(self.holidays)

    @property
    def block_labels(self) -> tuple[str, ...]:
        """Labels of the ``block`` column, peak block first (``("5x16", "2x16", "7x8")`` for PJM)."""
        if self.block_style == "none" or self.peak is None:
            return ("base",)
        if self.block_style == "peak_offpeak":
            return ("peak", "offpeak")
        k = len(set(self.peak.weekdays))
        h = self.peak.hours_per_day
        return (f"{k}x{h}", f"{7 - k}x{h}", f"7x{24 - h}")

    @property
    def profiles(self) -> tuple[str, ...]:
        """Profiles :meth:`profile_mask` accepts for this calendar."""
        if self.peak is None:
            return ("base", "7x24")
        if self.block_style == "nerc":
            peak_label, other_label, night_label = self.block_labels
            return ("base", "7x24", "peak", "offpeak", peak_label, other_label, night_label, "7x16")
        return ("base", "7x24", "peak", "offpeak")

    # ---- hourly and daily frames ---------------------------------------------------------------------
    def _days(self, start: Any, end: Any) -> pd.DatetimeIndex:
        """Local midnights (naive) of ``start`` .. ``end + 1`` (the last one closes the range)."""
        first, last = as_date(start, "start"), as_date(end, "end")
        if last < first:
            raise ValueError(f"calendar {self.name}: end {last} is before start {first} (both inclusive)")
        return pd.date_range(first, last + dt.timedelta(days=1), freq="D", unit="s")

    def hourly(self, start: Any, end: Any) -> pd.DataFrame:
        """Return one row per real delivery hour of the local dates ``start`` .. ``end`` (inclusive).

        Parameters
        ----------
        start, end : datetime.date or str
            First and last local delivery date, both inclusive (``"2026-01-01"``).

        Returns
        -------
        pd.DataFrame
            Columns ``datetime_utc`` (``datetime64[ms, UTC]``, hour beginning), ``datetime_local``
            (tz-aware, the calendar's zone), ``date`` (``datetime64[s]``, local delivery date),
            ``hour_ending`` (int, 1..N within the day, N = 23/24/25), ``hour_local`` (int, wall-clock hour
            beginning 0..23), ``is_holiday`` (bool), ``is_peak`` (bool) and ``block`` (categorical with
            categories :attr:`block_labels`, in that order), on a RangeIndex.
        """
        days = self._days(start, end)
        midnights_utc = local_to_utc(days, self.tz).as_unit("ms")
        utc = pd.date_range(midnights_utc[0], midnights_utc[-1], freq="h", inclusive="left", unit="ms")
        local = utc_to_local(utc, self.tz)
        stamps = utc.asi8
        day_of_hour = np.searchsorted(midnights_utc.asi8, stamps, side="right") - 1
        first_hour_of_day = np.searchsorted(stamps, midnights_utc.asi8[:-1])
        position = np.arange(len(stamps), dtype=np.int64)
        hour_ending = position - first_hour_of_day[day_of_hour] + 1
        hour_local = np.asarray(local.hour, dtype=np.int64)

        day_values = days.values[:-1].astype("datetime64[D]")
        holiday_days = np.isin(day_values, self.holiday_rule.dates_between(days[0].date(), days[-2].date()))
        weekday_of_day = np.asarray(days.day_of_week[:-1], dtype=np.int64)
        is_holiday = holiday_days[day_of_hour]

        if self.peak is None:
            is_peak = np.zeros(len(stamps), dtype=bool)
            code = np.zeros(len(stamps), dtype=np.int64)
        else:
            peak_day = np.isin(weekday_of_day, np.array(self.peak.weekdays))
            if self.holidays_excluded_from_peak:
                peak_day &= ~holiday_days
            in_window = (hour_local >= self.peak.first_hour) & (hour_local <= self.peak.last_hour)
            is_peak = peak_day[day_of_hour] & in_window
            if self.block_style == "nerc":
                code = np.where(in_window, np.where(is_peak, 0, 1), 2)
            else:
                code = np.where(is_peak, 0, 1)
        return pd.DataFrame(
            {
                "datetime_utc": utc,
                "datetime_local": local,
                "date": days[:-1][day_of_hour],
                "hour_ending": hour_ending,
                "hour_local": hour_local,
                "is_holiday": is_holiday,
                "is_peak": is_peak,
                "block": pd.Categorical.from_codes(code, categories=pd.Index(list(self.block_labels))),
            }
        )

    def mtu_minutes(self, day: Any) -> int:
        """Return the market time unit in force on local date ``day`` [min]."""
        when = as_date(day, "day")
        minutes = self.mtu[0][1]
        for first, m in self.mtu:
            if as_date(first, "mtu date") <= when:
                minutes = m
        return minutes

    def periods(self, start: Any, end: Any, minutes: int | None = None) -> pd.DataFrame:
        """Return one row per market time unit of the local dates ``start`` .. ``end`` (inclusive).

        Parameters
        ----------
        start, end : datetime.date or str
            First and last local delivery date, both inclusive.
        minutes : int, optional
            The period length [min]; default the market's MTU on each day (:attr:`mtu`).

        Returns
        -------
        pd.DataFrame
            ``datetime_utc`` (``datetime64[ms, UTC]``, period start), ``date`` (local delivery date),
            ``period`` (1..N within the day: 92/96/100 quarter hours, 46/48/50 half hours on DST days) and
            ``minutes`` [min].
        """
        if minutes is not None and (minutes <= 0 or (60 % minutes and minutes % 60)):
            raise ValueError(f"minutes must divide an hour or be whole hours, got {minutes}")
        days = self._days(start, end)
        midnights = local_to_utc(days, self.tz).as_unit("ms").asi8
        length = np.array([minutes or self.mtu_minutes(d) for d in days[:-1].date], dtype=np.int64) * 60_000
        counts = np.diff(midnights) // length
        day_index = np.repeat(np.arange(len(counts)), counts)
        first = np.cumsum(counts) - counts
        period = np.arange(int(counts.sum()), dtype=np.int64) - first[day_index]
        stamps = midnights[:-1][day_index] + period * length[day_index]
        return pd.DataFrame(
            {
                "datetime_utc": pd.to_datetime(stamps, unit="ms", utc=True).as_unit("ms"),
                "date": days[:-1][day_index],
                "period": period + 1,
                "minutes": length[day_index] // 60_000,
            }
        )

    def periods_per_day(self, start: Any, end: Any, minutes: int | None = None) -> pd.Series:
        """Return the number of market time units per local date ``start`` .. ``end`` (:meth:`periods`)."""
        frame = self.periods(start, end, minutes)
        return frame.groupby("date").size().rename("periods")

    def profile_mask(self, hourly: pd.DataFrame, profile: str) -> BoolArray:
        """Return which rows of an :meth:`hourly` frame belong to ``profile``.

        Parameters
        ----------
        hourly : pd.DataFrame
            A frame from :meth:`hourly` of this calendar (needs ``is_peak`` and ``block``).
        profile : str
            One of :attr:`profiles` (case-insensitive): ``"base"``/``"7x24"`` (all hours), ``"peak"``,
            ``"offpeak"``, and for NERC-style calendars the block labels and ``"7x16"`` (window hours of
            every day).

        Raises
        ------
        ValueError
            On a profile this calendar does not define (the message lists the valid ones), or a frame
            without the needed columns.
        """
        key = self._check_profile(profile)
        missing = [c for c in ("is_peak", "block") if c not in hourly.columns]
        if missing:
            raise ValueError(
                f"profile_mask needs a frame from {self.name}.hourly(); missing columns {missing}, "
                f"got {list(hourly.columns)}"
            )
        n = len(hourly)
        if key in ("base", "7x24"):
            return np.ones(n, dtype=bool)
        is_peak = hourly["is_peak"].to_numpy(dtype=bool)
        if key == "peak":
            return is_peak
        if key == "offpeak":
            return ~is_peak
        block = hourly["block"].to_numpy(dtype=object)
        if key == "7x16":
            return np.asarray(block != self.block_labels[2], dtype=bool)
        return np.asarray(block == key, dtype=bool)

    def _check_profile(self, profile: str) -> str:
        key = str(profile).strip().lower()
        if key not in self.profiles:
            raise ValueError(
                f"unknown profile {profile!r} for calendar {self.name}; valid: {', '.join(self.profiles)}"
            )
        return key

    def daily(self, start: Any, end: Any) -> pd.DataFrame:
        """Return hour counts per local delivery day of ``start`` .. ``end`` (inclusive).

        Returns
        -------
        pd.DataFrame
            Indexed by ``date`` (``datetime64[s]``, local delivery date), with int64 columns ``hours``
            (real hours [h]: 23/24/25 on DST days), ``weight_days`` (1 per day [d], the gas weight),
            ``peak_hours`` and ``offpeak_hours`` [h] (gas: 0 and ``hours``), for NERC-style calendars one
            ``hours_<label>`` column per block (``hours_5x16``, ``hours_2x16``, ``hours_7x8``) [h], and the
            bool ``is_holiday``.
        """
        frame = self.hourly(start, end)
        days = pd.DatetimeIndex(frame["date"].unique(), name="date")
        day_index = np.searchsorted(days.values, frame["date"].to_numpy())
        n_days = len(days)

        def count(mask: BoolArray) -> IntArray:
            return np.bincount(day_index, weights=mask, minlength=n_days).astype(np.int64)

        is_peak = frame["is_peak"].to_numpy(dtype=bool)
        hours = np.bincount(day_index, minlength=n_days).astype(np.int64)
        columns: dict[str, Any] = {
            "hours": hours,
            "weight_days": np.ones(n_days, dtype=np.int64),
            "peak_hours": count(is_peak),
            "offpeak_hours": count(~is_peak),
        }
        if self.block_style == "nerc":
            block = frame["block"].to_numpy(dtype=object)
            for label in self.block_labels:
                columns[f"hours_{label}"] = count(np.asarray(block == label, dtype=bool))
        first_row = np.searchsorted(day_index, np.arange(n_days))
        columns["is_holiday"] = frame["is_holiday"].to_numpy(dtype=bool)[first_row]
        return pd.DataFrame(columns, index=days)

    def profile_hours_per_day(self, start: Any, end: Any, profile: str) -> IntArray:
        """Return the hours of ``profile`` on each local delivery day ``start`` .. ``end`` [h].

        The array is aligned with the dates (``daily(start, end).index``).
        """
        self._check_profile(profile)
        frame = self.hourly(start, end)
        dates = frame["date"].to_numpy()
        day_index = np.searchsorted(np.unique(dates), dates)
        mask = self.profile_mask(frame, profile)
        return np.bincount(day_index, weights=mask, minlength=int(day_index[-1]) + 1).astype(np.int64)

    def profile_hours(self, start: Any, end: Any, profile: str) -> int:
        """Return the total hours of ``profile`` from ``start`` to ``end`` (local dates, inclusive) [h]."""
        return int(self.profile_hours_per_day(start, end, profile).sum())


# --------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------
_MON_FRI = (0, 1, 2, 3, 4)
_MON_SAT = (0, 1, 2, 3, 4, 5)
_EEX_PEAK = PeakDefinition(_MON_FRI, first_hour=8, last_hour=19)  # 08:00-20:00
_GB_PEAK = PeakDefinition(_MON_FRI, first_hour=7, last_hour=18)  # 07:00-19:00
_NA_EAST_PEAK = PeakDefinition(_MON_FRI, first_hour=7, last_hour=22)  # HE08-HE23
_ERCOT_PEAK = PeakDefinition(_MON_FRI, first_hour=6, last_hour=21)  # HE07-HE22
_WECC_PEAK = PeakDefinition(_MON_SAT, first_hour=6, last_hour=21)  # 6x16, HE07-HE22


#: SDAC (the single day-ahead coupling) auctions hourly products until 2025-09-30 and 15-minute ones from the
#: delivery day 2025-10-01 (go-live of the 15-minute MTU)
SDAC_MTU = (("1900-01-01", 60), ("2025-10-01", 15))


def _eu_power(
    name: str,
    tz: str,
    holidays: str,
    note: str,
    peak: PeakDefinition = _EEX_PEAK,
    mtu: tuple[tuple[str, int], ...] = SDAC_MTU,
) -> MarketCalendar:
    return MarketCalendar(
        name=name,
        tz=tz,
        commodity="power",
        peak=peak,
        holidays=holidays,
        holidays_excluded_from_peak=False,
        seasons=EU_SEASONS,
        block_style="peak_offpeak",
        note=note,
        mtu=mtu,
    )


def _spot_power(
    name: str,
    tz: str,
    holidays: str,
    note: str,
    mtu: tuple[tuple[str, int], ...],
    peak: PeakDefinition | None,
) -> MarketCalendar:
    """Return a power market on its own local days (APAC), with or without a peak product."""
    return MarketCalendar(
        name=name,
        tz=tz,
        commodity="power",
        peak=peak,
        holidays=holidays,
        holidays_excluded_from_peak=peak is not None,
        seasons=None,
        block_style="none" if peak is None else "peak_offpeak",
        note=note,
        mtu=mtu,
    )


def _na_power(name: str, tz: str, note: str, peak: PeakDefinition = _NA_EAST_PEAK) -> MarketCalendar:
    return MarketCalendar(
        name=name,
        tz=tz,
        commodity="power",
        peak=peak,
        holidays="NERC",
        holidays_excluded_from_peak=True,
        seasons=None,
        block_style="nerc",
        note=note,
    )


def _gas(name: str, tz: str, holidays: str, seasons: Seasons, note: str) -> MarketCalendar:
    return MarketCalendar(
        name=name,
        tz=tz,
        commodity="gas",
        peak=None,
        holidays=holidays,
        holidays_excluded_from_peak=False,
        seasons=seasons,
        block_style="none",
        note=note,
    )


_EEX_NOTE = "EEX Peak: Mon-Fri 08:00-20:00 local, public holidays included in peak"
_TGE_PEAK = PeakDefinition(_MON_FRI, first_hour=7, last_hour=21)  # 07:00-22:00
_NEM_PEAK = PeakDefinition(_MON_FRI, first_hour=7, last_hour=21)  # 07:00-22:00 AEST
_JP_PEAK = PeakDefinition(_MON_FRI, first_hour=8, last_hour=19)  # 08:00-20:00 JST
_CET_DAY = (
    "; SDAC delivery days are CET/CEST days for every coupled zone, so the calendar runs on Central European"
    " time"
)
_EAST_NOTE = "5x16 = Mon-Fri HE08-HE23 prevailing time excluding NERC holidays (ICE/NYMEX eastern hubs)"

#: Every calendar by name.
CALENDARS: dict[str, MarketCalendar] = {
    cal.name: cal
    for cal in (
        _eu_power("EEX_DE", "Europe/Berlin", "DE", _EEX_NOTE),
        _eu_power("EEX_FR", "Europe/Paris", "FR", _EEX_NOTE),
        _eu_power("EEX_NL", "Europe/Amsterdam", "NL", _EEX_NOTE),
        _eu_power("EEX_AT", "Europe/Vienna", "AT", _EEX_NOTE),
        _eu_power(
            "NORDPOOL",
            "Europe/Oslo",
            "NO",
            "Nordic peak Mon-Fri 08:00-20:00 CET/CEST (Europe/Oslo has the same offsets as Berlin)",
        ),
        _eu_power("OMIE_ES", "Europe/Madrid", "ES", "OMIP/EEX Spanish peak: Mon-Fri 08:00-20:00 local"),
        _eu_power(
            "GB",
            "Europe/London",
            "GB",
            "UK peak: Mon-Fri 07:00-19:00 UK local time, bank holidays included (ICE/EEX UK Peak); "
            "calendar days, not EFA days (EFA days start 23:00 the evening before)",
            peak=_GB_PEAK,
        ),
        _eu_power("EEX_BE", "Europe/Brussels", "BE", _EEX_NOTE),
        _eu_power("EEX_CZ", "Europe/Prague", "CZ", _EEX_NOTE),
        _eu_power("EEX_SK", "Europe/Bratislava", "SK", _EEX_NOTE),
        _eu_power("EEX_HU", "Europe/Budapest", "HU", _EEX_NOTE),
        _eu_power("EEX_SI", "Europe/Ljubljana", "SI", _EEX_NOTE),
        _eu_power("EEX_HR", "Europe/Zagreb", "HR", _EEX_NOTE),
        _eu_power("EEX_RO", "Europe/Berlin", "RO", _EEX_NOTE + _CET_DAY),
        _eu_power("EEX_BG", "Europe/Berlin", "BG", _EEX_NOTE + _CET_DAY),
        _eu_power(
            "TGE_PL",
            "Europe/Warsaw",
            "PL",
            "TGE peak (PEAK5): Mon-Fri 07:00-22:00 local (assumed from TGE's product list, not verified"
            " against a contract specification); holidays stay peak as in EEX products",
            peak=_TGE_PEAK,
        ),
        _eu_power(
            "OMIE_PT",
            "Europe/Madrid",
            "PT",
            "OMIE runs MIBEL on Spanish (CET/CEST) time for Portugal too: delivery days are Madrid days, so"
            " Portugal's wall clock (WET) is an hour behind; peak as OMIE_ES",
        ),
        _spot_power(
            "NEM",
            "Australia/Brisbane",
            "AU",
            "NEM market time is AEST (UTC+10) all year, without DST even where the regions observe it. ASX"
            " peak load: Mon-Fri 07:00-22:00 AEST excluding national public holidays (assumed from ASX's"
            " contract list, not verified; state holidays are not in the table). Trading intervals: 30"
            " minutes until 2021-09-30, 5 minutes from 2021-10-01 (five-minute settlement)",
            (("1900-01-01", 30), ("2021-10-01", 5)),
            _NEM_PEAK,
        ),
        _spot_power(
            "JEPX",
            "Asia/Tokyo",
            "JP",
            "JEPX spot: 48 half-hour products per JST day (no DST). Peak as EEX Japanese power futures:"
            " Mon-Fri 08:00-20:00 JST excluding Japanese holidays (assumed, not verified)",
            (("1900-01-01", 30),),
            _JP_PEAK,
        ),
        _spot_power(
            "KPX",
            "Asia/Seoul",
            "KR",
            "KPX: hourly SMP per KST day (no DST); no peak product is traded",
            (("1900-01-01", 60),),
            None,
        ),
        _spot_power(
            "EMC_SG",
            "Asia/Singapore",
            "SG",
            "Singapore wholesale market: 48 half-hour periods per SGT day (no DST); no peak product",
            (("1900-01-01", 30),),
            None,
        ),
        _na_power("PJM", "America/New_York", _EAST_NOTE),
        _na_power("NYISO", "America/New_York", _EAST_NOTE),
        _na_power("ISONE", "America/New_York", _EAST_NOTE),
        _na_power(
            "MISO",
            "America/New_York",
            "Exchange contracts (ICE MISO hubs: 'hours ending 0800-2300 EPT'; NYMEX: eastern prevailing "
            "time) use EPT although MISO itself runs on EST all year",
        ),
        _na_power(
            "ERCOT",
            "America/Chicago",
            "ICE/CME ERCOT peak: Mon-Fri HE07-HE22 CPT excluding NERC holidays",
            peak=_ERCOT_PEAK,
        ),
        _na_power(
            "SPP", "America/Chicago", "5x16 HE08-HE23 CPT assumed (not verified against a contract spec)"
        ),
        _na_power(
            "CAISO",
            "America/Los_Angeles",
            "WECC 6x16: Mon-Sat HE07-HE22 PPT excluding NERC holidays (ICE SP-15, CME Palo Verde); off-peak "
            "= 1x16 (Sundays and NERC holidays) + 7x8",
            peak=_WECC_PEAK,
        ),
        _na_power(
            "AESO",
            "America/Edmonton",
            "5x16 HE08-HE23 MPT assumed (not verified); Alberta 'extended peak' contracts are 7x16 "
            "(profile '7x16')",
        ),
        _na_power("IESO", "America/Toronto", "5x16 HE08-HE23 EPT assumed (not verified)"),
        _gas("TTF", "Europe/Amsterdam", "NL", EU_SEASONS, "gas days weighted 1 each"),
        _gas("NBP", "Europe/London", "GB", EU_SEASONS, "gas days weighted 1 each"),
        _gas("THE", "Europe/Berlin", "DE", EU_SEASONS, "gas days weighted 1 each"),
        _gas(
            "HENRY_HUB",
            "America/Chicago",
            "NONE",
            US_GAS_SEASONS,
            "US seasons: Summer/injection Apr-Oct, Winter/withdrawal Nov-Mar",
        ),
    )
}


def get_calendar(name: str | MarketCalendar) -> MarketCalendar:
    """Return the calendar called ``name`` (case-insensitive); a calendar is returned as is.

    Raises
    ------
    UnknownCalendarError
        If no calendar has that name (a ``KeyError``); the message lists the known ones.
    """
    if isinstance(name, MarketCalendar):
        return name
    try:
        return CALENDARS[name.strip().upper()]
    except KeyError:
        raise UnknownCalendarError(
            f"unknown calendar {name!r}; known: {', '.join(sorted(CALENDARS))}"
        ) from None
