"""Market calendars and forward contracts for the curve engine.

Power curves are hour-weighted, gas curves day-weighted; a :class:`MarketCalendar` gives both (real hours
per local day, peak/off-peak and NERC blocks, holidays, seasons), and :mod:`~marketintel.calendars.contracts`
turns contract names, CSV files and stored quotes into :class:`Contract` objects with their delivery hours.
"""

from __future__ import annotations

from marketintel.calendars.calendar import (
    CALENDARS,
    EU_SEASONS,
    US_GAS_SEASONS,
    MarketCalendar,
    PeakDefinition,
    Seasons,
    UnknownCalendarError,
    get_calendar,
)
from marketintel.calendars.contracts import (
    Contract,
    contract_hours,
    contracts_from_quotes,
    delivery_period,
    read_contracts_csv,
)
from marketintel.calendars.holidays import HOLIDAY_RULES, HolidayRule, get_holiday_rule, nerc_holidays

__all__ = [
    "CALENDARS",
    "EU_SEASONS",
    "HOLIDAY_RULES",
    "US_GAS_SEASONS",
    "Contract",
    "HolidayRule",
    "MarketCalendar",
    "PeakDefinition",
    "Seasons",
    "UnknownCalendarError",
    "contract_hours",
    "contracts_from_quotes",
    "delivery_period",
    "get_calendar",
    "get_holiday_rule",
    "nerc_holidays",
    "read_contracts_csv",
]
