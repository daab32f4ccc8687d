"""Forecast models behind one interface: they see history only through an as-of view.

A model forecasts the 24 hourly prices of one delivery day from an
:class:`~marketintel.forecast.data.AsOfView` at the forecast's issue time. The backtest engine calls
:meth:`ForecastModel.recalibrate` at its recalibration cadence, with a view of the same issue time.
Reading anything published after that time raises :class:`~marketintel.exceptions.LookAheadError`, so no
model can look ahead by accident.

Models are built by name from one registry, :data:`MODELS` (:func:`make_model`); the CLI's ``--model``
choices and help and the backtest flow's parameter check read it too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import numpy as np

from marketintel.exceptions import MarketIntelError
from marketintel.forecast.data import AsOfView
from marketintel.forecast.lear import LEARFit, build_features, fit_lear


class ForecastModel(ABC):
    """A day-ahead forecaster: 24 hourly values of a target day from what was known at the issue time."""

    name: str

    def recalibrate(self, view: AsOfView, target: int) -> None:  # noqa: B027 - optional hook
        """Re-estimate the model with history known in ``view`` (default: nothing to estimate)."""

    @abstractmethod
    def forecast(self, view: AsOfView, target: int) -> np.ndarray:
        """Return the 24 hourly forecasts [price] of delivery-day row ``target``."""

    def parameters(self) -> dict[str, Any]:
        """Return what defines the model, for the run's lineage."""
        return {"name": self.name}


class SeasonalNaive(ForecastModel):
    """Seasonal naive forecasts.

    ``kind``: ``"daily"`` (the day before), ``"weekly"`` (the same weekday a week before) or ``"epf"``, the
    standard naive of the EPF literature: Monday, Saturday and Sunday from a week before, Tuesday to
    Friday from the day before.
    """

    KINDS: ClassVar[dict[str, str]] = {"daily": "Naive daily", "weekly": "Naive weekly", "epf": "Naive"}

    def __init__(self, kind: str = "epf") -> None:
        if kind not in self.KINDS:
            raise MarketIntelError(f"naive kind must be one of {sorted(self.KINDS)}, got {kind!r}")
        self.kind = kind
        self.name = self.KINDS[kind]

    def forecast(self, view: AsOfView, target: int) -> np.ndarray:
        """Return the prices of the lagged day (further back when the target is more than a day ahead)."""
        known = view.last_known("price")  # the day before the target for a day-ahead forecast
        weekly = view.weekday[target] in (0, 5, 6) if self.kind == "epf" else self.kind == "weekly"
        # weekly: the same weekday, the last one known; daily: the last day known
        source = target - 7 * int(np.ceil((target - known) / 7)) if weekly else known
        out: np.ndarray = view.get("price", np.array([source]))[0].copy()
        return out

    def parameters(self) -> dict[str, Any]:
        """Return the kind of naive."""
        return {"name": self.name, "kind": self.kind}


class LEAR(ForecastModel):
    """LEAR with a calibration window of ``window`` days (Lago et al. 2021; see :mod:`.lear`).

    Parameters
    ----------
    window : int
        Calibration window [days]: the training set is the ``window`` days before the target, less the
        first 7 (which only feed the lags): 1449 training days for the 1456-day window.
    pool : concurrent.futures.Executor, optional
        Runs the 24 hourly fits in parallel (a process pool with :func:`~.lear.worker_init`).
    """

    def __init__(self, window: int = 1456, pool: Any = None) -> None:
        if window < 8 + 7:
            raise MarketIntelError(f"the LEAR window must be at least 15 days, got {window}")
        self.window = window
        self.pool = pool
        self.name = f"LEAR {window}"
        self.fit: LEARFit | None = None

    def _features(self, view: AsOfView, days: np.ndarray) -> np.ndarray:
        first, last = int(days.min()) - 7, int(days.max())
        span = np.arange(first, last + 1)
        prices = np.full((last + 1, 24), np.nan)
        lagged = days[:, None] - np.array([1, 2, 3, 7])[None, :]
        needed = np.unique(lagged)  # price rows the features read (never the targets themselves)
        prices[needed] = view.get("price", needed)
        exog_names = [n for n in view.panel.exogenous]
        exog = np.full((len(exog_names), last + 1, 24), np.nan)
        exog[:, span] = view.stack(exog_names, span)
        return build_features(prices, exog, view.weekday[: last + 1], days)

    def recalibrate(self, view: AsOfView, target: int) -> None:
        """Re-estimate on the ``window`` days before ``target``."""
        train = np.arange(target - self.window + 7, target)
        if train[0] < 7:
            raise MarketIntelError(
                f"{self.name} needs {self.window} days of history before "
                f"{view.panel.days[target].date()}; the data starts {view.panel.days[0].date()}"
            )
        x = self._features(view, train)
        y = view.get("price", train)
        self.fit = fit_lear(x, y, self.pool)

    def forecast(self, view: AsOfView, target: int) -> np.ndarray:
        """Return the 24 hourly LEAR forecasts of ``target`` (recalibrating first if never calibrated).

        Raises
        ------
        MarketIntelError
            For a target more than one day ahead of the issue (LEAR is a day-ahead model).
        """
        if target - view.last_known("price") > 1:
            raise MarketIntelError(f"{self.name} forecasts the next day only (horizon 1 day)")
        if self.fit is None:
            self.recalibrate(view, target)
        assert self.fit is not None
        out: np.ndarray = self.fit.predict(self._features(view, np.array([target]))[0])
        return out

    def parameters(self) -> dict[str, Any]:
        """Return the window and the feature definition."""
        return {
            "name": self.name,
            "window_days": self.window,
            "features": 247,
            "criterion": "aic (sklearn<=1.0.1)",
        }


class Ensemble(ForecastModel):
    """The mean of several models' forecasts (``LEAR Ensemble`` = LEAR 56, 84, 1092 and 1456)."""

    def __init__(self, members: list[ForecastModel], name: str = "Ensemble") -> None:
        if not members:
            raise MarketIntelError("an ensemble needs at least one member")
        self.members = members
        self.name = name

    def recalibrate(self, view: AsOfView, target: int) -> None:
        """Recalibrate every member."""
        for member in self.members:
            member.recalibrate(view, target)

    def forecast(self, view: AsOfView, target: int) -> np.ndarray:
        """Return the members' mean forecast."""
        out: np.ndarray = np.mean([m.forecast(view, target) for m in self.members], axis=0)
        return out

    def member_forecasts(self, view: AsOfView, target: int) -> dict[str, np.ndarray]:
        """Return each member's forecast and the mean (``name`` -> 24 values)."""
        each = {m.name: m.forecast(view, target) for m in self.members}
        each[self.name] = np.mean(list(each.values()), axis=0)
        return each

    def parameters(self) -> dict[str, Any]:
        """Return the members' parameters."""
        return {"name": self.name, "members": [m.parameters() for m in self.members]}


#: Calibration windows of the LEAR ensemble (Lago et al. 2021)  [days].
LEAR_WINDOWS: Final[tuple[int, ...]] = (56, 84, 1092, 1456)
#: Calibration window of ``lear`` when none is given  [days].
LEAR_DEFAULT_WINDOW: Final[int] = 1456


class UnknownModelError(MarketIntelError, ValueError):
    """A model name is not in :data:`MODELS` (the message lists the known ones)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model :func:`make_model` can build, under the name the CLI, the flows and run lineage use.

    Attributes
    ----------
    name : str
        Registry name, lower case (``"lear-ensemble"``); ``make_model`` takes it in any case.
    description : str
        One line for help texts.
    factory : callable
        ``factory(window, pool)`` returns a new model; ``window`` is the calibration window [days] or
        ``None`` for the model's default, ``pool`` a ``concurrent.futures.Executor`` or ``None``.
    takes_window : bool
        Whether the model has a calibration window (otherwise ``window`` is not passed on).
    takes_pool : bool
        Whether the model fits in parallel on a worker pool (otherwise ``pool`` is not passed on).
    aliases : tuple of str
        Other names accepted for it.
    """

    name: str
    description: str
    factory: Callable[[int | None, Any], ForecastModel] = field(repr=False)
    takes_window: bool = False
    takes_pool: bool = False
    aliases: tuple[str, ...] = ()

    def build(self, window: int | None = None, pool: Any = None) -> ForecastModel:
        """Return a new model; ``window`` [days] and ``pool`` go only to a model that takes them."""
        return self.factory(window if self.takes_window else None, pool if self.takes_pool else None)


def _lear(window: int | None, pool: Any) -> ForecastModel:
    return LEAR(window or LEAR_DEFAULT_WINDOW, pool)


def _lear_ensemble(window: int | None, pool: Any) -> ForecastModel:
    return Ensemble([LEAR(w, pool) for w in LEAR_WINDOWS], "LEAR Ensemble")


#: Every model by registry name: the one list the CLI, the flows' parameters and :func:`make_model` read.
MODELS: Final[dict[str, ModelSpec]] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "naive",
            "seasonal naive of the EPF literature: Mon, Sat, Sun from a week before, Tue-Fri from the day "
            "before",
            lambda window, pool: SeasonalNaive("epf"),
            aliases=("naive-epf",),
        ),
        ModelSpec("naive-daily", "the prices of the day before", lambda window, pool: SeasonalNaive("daily")),
        ModelSpec(
            "naive-weekly",
            "the prices of the same weekday a week before",
            lambda window, pool: SeasonalNaive("weekly"),
        ),
        ModelSpec(
            "lear",
            f"LEAR with one calibration window (default {LEAR_DEFAULT_WINDOW} days)",
            _lear,
            takes_window=True,
            takes_pool=True,
        ),
        ModelSpec(
            "lear-ensemble",
            f"mean of LEAR {', '.join(map(str, LEAR_WINDOWS))} (calibration windows in days)",
            _lear_ensemble,
            takes_pool=True,
        ),
    )
}


def model_names(*, aliases: bool = False) -> list[str]:
    """Return the registry names of :data:`MODELS` in registry order (then the aliases if asked)."""
    names = list(MODELS)
    if aliases:
        names += [alias for spec in MODELS.values() for alias in spec.aliases]
    return names


def model_spec(name: str) -> ModelSpec:
    """Return the registered model called ``name`` (any case; aliases too).

    Raises
    ------
    UnknownModelError
        On an unknown name (the message lists the known ones).
    """
    key = name.strip().lower()
    for spec in MODELS.values():
        if key == spec.name or key in spec.aliases:
            return spec
    known = ", ".join(model_names())
    raise UnknownModelError(f"unknown model {name!r}; known: {known}")


def models_help() -> str:
    """Return one line per registered model, ``name: description``, for help texts."""
    return "; ".join(
        f"{spec.name}{''.join(f' (or {a})' for a in spec.aliases)}: {spec.description}"
        for spec in MODELS.values()
    )


def make_model(name: str, window: int | None = None, pool: Any = None) -> ForecastModel:
    """Return a new model by registry name (:data:`MODELS`, e.g. ``naive`` or ``lear-ensemble``).

    Parameters
    ----------
    name : str
        Registry name or alias, any case.
    window : int, optional
        Calibration window of a model that takes one  [days]; ``None``: its default. Ignored otherwise.
    pool : concurrent.futures.Executor, optional
        Worker pool of a model that fits in parallel; ignored otherwise.

    Returns
    -------
    ForecastModel
        A model not calibrated yet.

    Raises
    ------
    UnknownModelError
        On an unknown name (a :class:`~marketintel.exceptions.MarketIntelError`; the message lists the
        known ones).
    """
    return model_spec(name).build(window, pool)
