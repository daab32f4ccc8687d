"""One circuit breaker per source: pybreaker's states, an error-rate trip, an injectable clock.

pybreaker 1.4.1 opens a ``CircuitBreaker`` after ``fail_max`` consecutive failures and lets one trial call
through (half-open) once ``reset_timeout`` seconds have passed since it opened; a successful trial closes it,
a failed one opens it again. It reads the wall clock itself (``datetime.now(UTC)`` in ``open()`` and in the
open state's ``before_call``), so :class:`ClockStorage` keeps the opening instant on the injected clock and
reports it to pybreaker shifted by ``wall now - clock now``: pybreaker's test ``wall now < opened_at +
reset_timeout`` then reads ``clock now < opened on the clock + reset_timeout``.

Beyond consecutive failures, :class:`SourceBreaker` also opens when the failure rate of the last
``window`` calls reaches ``error_rate`` (with at least ``min_calls`` calls). Every transition is passed to
the ``on_change`` callback (the router records it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker

T = TypeVar("T")
Clock = Callable[[], datetime]
#: pybreaker's state names -> the names stored in ``routing_trust.breaker``
STATES = {"closed": "closed", "open": "open", "half-open": "half_open"}


def wall_clock() -> datetime:
    """Return the current UTC time (the default clock)."""
    return datetime.now(UTC)


class ClockStorage(pybreaker.CircuitMemoryStorage):
    """pybreaker's memory storage, keeping the opening instant on an injected clock (module docstring)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self._clock = clock
        self._opened_on_clock: datetime | None = None

    @property
    def opened_at(self) -> datetime | None:
        """The opening instant, as pybreaker compares it with the wall clock."""
        if self._opened_on_clock is None:
            return None
        return self._opened_on_clock + (datetime.now(UTC) - self._clock())

    @opened_at.setter
    def opened_at(self, _wall: datetime) -> None:
        self._opened_on_clock = self._clock()

    @property
    def opened_on_clock(self) -> datetime | None:
        """When the breaker last opened, on the injected clock."""
        return self._opened_on_clock


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: SourceBreaker) -> None:
        self.owner = owner

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = STATES.get(getattr(old_state, "name", "") or "", "closed")
        self.owner.changed(old, STATES[new_state.name])


class SourceBreaker:
    """The circuit breaker of one source.

    Parameters
    ----------
    name : str
        The source (``source/dataset``).
    fail_max : int
        Consecutive failures that open it.
    reset_timeout_s : float
        Cool-down before a half-open trial [s].
    error_rate : float
        Failure share of the last ``window`` calls that opens it (with at least ``min_calls`` calls).
    window, min_calls : int
        See ``error_rate``.
    clock : callable
        Returns the current UTC time (tests inject theirs).
    on_change : callable, optional
        ``on_change(name, old, new, at)`` on each transition (states ``closed``, ``open``, ``half_open``).
    """

    def __init__(
        self,
        name: str,
        *,
        fail_max: int = 3,
        reset_timeout_s: float = 600.0,
        error_rate: float = 0.5,
        window: int = 10,
        min_calls: int = 6,
        clock: Clock = wall_clock,
        on_change: Callable[[str, str, str, datetime], None] | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.error_rate = error_rate
        self.min_calls = min_calls
        self.outcomes: deque[bool] = deque(maxlen=window)  # True = failure
        self.on_change = on_change
        self.storage = ClockStorage(clock)
        self.cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout_s,
            state_storage=self.storage,
            listeners=[_Listener(self)],
            name=name,
        )
        self.transitions: list[tuple[str, str, datetime]] = []

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (an open breaker past its cool-down still says ``open``)."""
        return STATES[self.cb.current_state]

    def would_block(self) -> bool:
        """Whether a call now would be refused (open and still cooling down)."""
        opened = self.storage.opened_on_clock
        return (
            self.state == "open"
            and opened is not None
            and self.clock() < opened + _seconds(self.cb.reset_timeout)
        )

    def changed(self, old: str, new: str) -> None:
        """Record a transition (called by pybreaker's listener)."""
        at = self.clock()
        self.transitions.append((old, new, at))
        if self.on_change is not None:
            self.on_change(self.name, old, new, at)

    def call(self, func: Callable[[], T]) -> T:
        """Call ``func`` through the breaker.

        Raises
        ------
        pybreaker.CircuitBreakerError
            When the breaker is open (nothing called), or when this failure opened it.
        Exception
            What ``func`` raised (a failure, counted).
        """
        if self.would_block():
            raise pybreaker.CircuitBreakerError(f"{self.name}: circuit open, cooling down")
        try:
            out = self.cb.call(func)
        except pybreaker.CircuitBreakerError:
            self.outcomes.append(True)
            raise
        except Exception:
            self.outcomes.append(True)
            self._rate_trip()
            raise
        self.outcomes.append(False)
        return out

    def _rate_trip(self) -> None:
        calls = len(self.outcomes)
        if (
            self.state == "closed"
            and calls >= self.min_calls
            and sum(self.outcomes) / calls >= self.error_rate
        ):
            self.cb.open()

    @property
    def failures(self) -> tuple[int, int]:
        """(failures, calls) over the recent window."""
        return sum(self.outcomes), len(self.outcomes)


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)
