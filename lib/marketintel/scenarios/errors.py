"""Errors of the scenario language: positioned (line, column), with what was expected or what exists."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from marketintel.exceptions import MarketIntelError


class ScenarioError(MarketIntelError):
    """A scenario's text cannot be run; ``line`` and ``column`` (1-based) say where (0: not one place).

    Attributes
    ----------
    line, column : int
        Position of the offending text (1-based; 0 when the error concerns the whole scenario).
    detail : str
        The message without its position.
    """

    def __init__(self, detail: str, line: int = 0, column: int = 0) -> None:
        self.line = int(line)
        self.column = int(column)
        self.detail = detail
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        super().__init__(f"{where}{detail}")


class ScenarioSyntaxError(ScenarioError):
    """The text does not follow the grammar, or a value in it is impossible (a date like 2015-02-30)."""


class UnknownNameError(ScenarioError):
    """A curve, contract or assumption name that does not exist; the message lists those that do.

    Attributes
    ----------
    name : str
        The unknown name.
    known : list of str
        The names that exist, closest first.
    """

    def __init__(
        self, what: str, name: str, known: Iterable[str], line: int = 0, column: int = 0, *, where: str = ""
    ) -> None:
        self.name = name
        self.known = closest_first(name, known)
        shown = ", ".join(self.known[:12]) + (
            f", ... ({len(self.known)} in all)" if len(self.known) > 12 else ""
        )
        have = (
            f"{where or 'known'}: {shown}" if self.known else f"there are none{' ' + where if where else ''}"
        )
        super().__init__(f"unknown {what} {name!r}; {have}", line, column)


def closest_first(name: str, known: Iterable[str]) -> list[str]:
    """Return ``known`` ordered by similarity to ``name`` (``difflib`` ratio, ignoring case), best first."""
    names = sorted(set(known))
    target = name.lower()

    def score(candidate: str) -> float:
        return difflib.SequenceMatcher(None, target, candidate.lower()).ratio()

    return sorted(names, key=lambda c: (-score(c), c))
