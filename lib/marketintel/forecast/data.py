"""Day-by-hour panels of history, and the as-of view through which models read them.

A day-ahead model works in delivery days of 24 hours. :class:`DailyPanel` holds each series as an
``(n_days, 24)`` array with, per day, the instant its values were *published*. A model never reads the
panel directly: it gets an :class:`AsOfView` for its issue time, and asking that view for a value published
after the issue time raises :class:`~marketintel.exceptions.LookAheadError`, exactly as the store's
``read_issued`` does. So a backtest cannot leak the future by accident, whether its history came from a CSV
or from the store (:func:`panel_from_store` keeps each row's stored ``published_at_utc``).

Publication conventions for day-ahead markets (used when a file carries no publication times): the prices
of day D are published on D-1 at 13:00 local time (Nord Pool's results come about 12:45 CET, PJM's
day-ahead results about 13:30 EPT); day-ahead load and wind forecasts for D on D-1 at 09:00; a forecast for
D is issued on D-1 at 10:00, before the auctions' gate closure (12:00 CET, 10:30 EPT). The epftoolbox
datasets have 24 hours every day (no DST); their local time is taken as fixed standard time (CET for
Nord Pool, EST for PJM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketintel.exceptions import LookAheadError, MarketIntelError

#: hours after local midnight of D-1 at which day D's values appear, and the issue time of a D forecast
PRICE_PUBLISHED_H = 13
EXOG_PUBLISHED_H = 9
ISSUE_H = 10
#: fixed-offset zones of the epftoolbox markets (their files have no DST shifts)
EPFTOOLBOX_TZ = {
    "NP": "Etc/GMT-1",
    "PJM": "Etc/GMT+5",
    "BE": "Etc/GMT-1",
    "FR": "Etc/GMT-1",
    "DE": "Etc/GMT-1",
}


@dataclass
class DailyPanel:
    """Hourly series by delivery day, each day with the instant its values were published.

    Attributes
    ----------
    days : pd.DatetimeIndex
        Local delivery dates (naive midnights), consecutive.
    tz : str
        Zone of the local delivery hours (a fixed offset for DST-free data).
    series : dict of str to np.ndarray
        ``(n_days, 24)`` values by name; ``"price"`` is the target.
    published : dict of str to np.ndarray
        ``(n_days,)`` publication instants (``datetime64[ms]``, UTC) by name.
    units : dict of str to str
        Unit of each series, e.g. ``"EUR/MWh"``.
    """

    days: pd.DatetimeIndex
    tz: str
    series: dict[str, np.ndarray]
    published: dict[str, np.ndarray]
    units: dict[str, str] = field(default_factory=dict)

    @property
    def weekday(self) -> np.ndarray:
        """Day of week of each delivery day (Monday = 0)."""
        return np.asarray(self.days.day_of_week, dtype=np.int64)

    @property
    def exogenous(self) -> list[str]:
        """Names of the series other than the price, in order."""
        return [name for name in self.series if name != "price"]

    def day(self, date: Any) -> int:
        """Return the row of a delivery date.

        Raises
        ------
        MarketIntelError
            When the date is outside the panel (the message gives its range).
        """
        stamp = pd.Timestamp(date).normalize()
        pos = int(self.days.searchsorted(stamp))
        if pos >= len(self.days) or self.days[pos] != stamp:
            raise MarketIntelError(
                f"{stamp.date()} is not a delivery day of the data "
                f"({self.days[0].date()} .. {self.days[-1].date()})"
            )
        return pos

    def issue_time(self, day: int, hour: int = ISSUE_H) -> pd.Timestamp:
        """Return the issue instant [UTC] of a forecast for row ``day``: the day before, ``hour`` local."""
        local = pd.Timestamp(self.days[day] - pd.Timedelta(days=1) + pd.Timedelta(hours=hour)).tz_localize(
            self.tz
        )
        return local.tz_convert("UTC")

    def hour_starts_utc(self, day: int) -> pd.DatetimeIndex:
        """Return the 24 hour starts [UTC] of row ``day``."""
        start = pd.Timestamp(self.days[day]).tz_localize(self.tz).tz_convert("UTC")
        return pd.date_range(start, periods=24, freq="h")

    def view(self, issue_time: pd.Timestamp) -> AsOfView:
        """Return what was known at ``issue_time``."""
        return AsOfView(self, pd.Timestamp(issue_time).tz_convert("UTC"))


class AsOfView:
    """The panel as known at one instant: reading anything published later raises ``LookAheadError``."""

    def __init__(self, panel: DailyPanel, issue_time: pd.Timestamp) -> None:
        self.panel = panel
        self.issue_time = issue_time
        self._cutoff = np.datetime64(issue_time.tz_convert("UTC").tz_localize(None), "ms")

    @property
    def weekday(self) -> np.ndarray:
        """Day of week of each delivery day (calendar facts are always known)."""
        return self.panel.weekday

    def get(self, name: str, days: np.ndarray) -> np.ndarray:
        """Return rows ``days`` of series ``name``, ``(len(days), 24)``.

        Raises
        ------
        LookAheadError
            When one of the rows was published after the view's issue time.
        KeyError
            For an unknown series (the message lists the known ones).
        """
        if name not in self.panel.series:
            raise KeyError(f"no series {name!r}; the data has {sorted(self.panel.series)}")
        days = np.asarray(days)
        late = self.panel.published[name][days] > self._cutoff
        if late.any():
            first = int(days[np.argmax(late)])
            raise LookAheadError(
                f"{name} of {self.panel.days[first].date()} was published at "
                f"{pd.Timestamp(self.panel.published[name][first])} UTC, "
                f"after the issue time {self.issue_time}"
            )
        out: np.ndarray = self.panel.series[name][days]
        return out

    def last_known(self, name: str = "price") -> int:
        """Return the last delivery-day row of ``name`` published by the issue time (-1 if none)."""
        return int(np.searchsorted(self.panel.published[name], self._cutoff, side="right")) - 1

    def stack(self, names: list[str], days: np.ndarray) -> np.ndarray:
        """Return several series at once, ``(len(names), len(days), 24)``."""
        return np.stack([self.get(name, days) for name in names]) if names else np.zeros((0, len(days), 24))


def _publication(days: pd.DatetimeIndex, tz: str, hour: int) -> np.ndarray:
    local = (days - pd.Timedelta(days=1) + pd.Timedelta(hours=hour)).tz_localize(tz)
    return np.asarray(local.tz_convert("UTC").tz_localize(None).as_unit("ms").to_numpy())


def panel_from_epftoolbox(path: Path | str, market: str | None = None, tz: str | None = None) -> DailyPanel:
    """Read an epftoolbox dataset CSV (timestamp, price, exogenous day-ahead forecasts) into a panel.

    Parameters
    ----------
    path : Path or str
        The CSV: first column the hour stamps (24 per day, no DST), then the price, then the exogenous
        series.
    market : str, optional
        Market code for the zone (``NP``, ``PJM``, ...); default the file's stem.
    tz : str, optional
        Zone of the stamps; default the market's fixed standard time (:data:`EPFTOOLBOX_TZ`).

    Raises
    ------
    MarketIntelError
        On a file that does not have whole days of hourly rows, or gaps.
    """
    path = Path(path)
    frame = pd.read_csv(path, index_col=0)
    try:
        index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    except (ValueError, TypeError) as exc:
        raise MarketIntelError(f"{path}: the first column must hold timestamps: {exc}") from None
    if frame.shape[1] < 1 or len(frame) % 24 or len(frame) == 0:
        raise MarketIntelError(f"{path}: expected whole days of 24 hourly rows, got {len(frame)} rows")
    expected = pd.date_range(index[0], periods=len(index), freq="h")
    if index[0].hour != 0 or not index.equals(expected):
        raise MarketIntelError(f"{path}: hourly stamps must start at 00:00 and have no gaps or DST shifts")
    market = market or path.stem
    zone = tz or EPFTOOLBOX_TZ.get(market.upper())
    if zone is None:
        raise MarketIntelError(
            f"no default time zone for market {market!r}; pass tz (known: {sorted(EPFTOOLBOX_TZ)})"
        )
    n_days = len(frame) // 24
    days = pd.DatetimeIndex(index[::24])
    values = frame.to_numpy(dtype=float)
    names = ["price"] + [str(c).strip() for c in frame.columns[1:]]
    series = {name: values[:, k].reshape(n_days, 24) for k, name in enumerate(names)}
    published = {
        name: _publication(days, zone, PRICE_PUBLISHED_H if name == "price" else EXOG_PUBLISHED_H)
        for name in names
    }
    unit = "EUR/MWh" if market.upper() != "PJM" else "USD/MWh"
    return DailyPanel(days, zone, series, published, {"price": unit})


def read_price_column(path: Path | str) -> str:
    """Return the name of the price column of an epftoolbox CSV (its first data column)."""
    return str(pd.read_csv(path, nrows=1, index_col=0).columns[0]).strip()
