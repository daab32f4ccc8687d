"""Delivery blocks: which of the calendar's hour blocks a build solves for, and which a profile covers.

A calendar labels every hour with one block (``peak``/``offpeak``, or NERC ``5x16``/``2x16``/``7x8``, or
``base`` for gas). A build solves one daily curve per *solved* block: the calendar's blocks merged where no
quoted profile tells them apart (base-only quotes need one curve, base and peak quotes two), so every unknown
is pinned down by some contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketintel.calendars import MarketCalendar


@dataclass(frozen=True)
class Blocks:
    """The delivery blocks a build solves for: each is a set of the calendar's hour blocks.

    Attributes
    ----------
    names : tuple of str
        One name per solved block (``"base"``, ``"peak"``, ``"offpeak"``, ``"5x16"``, ...).
    atoms : tuple of frozenset of str
        The calendar block labels each solved block is made of (a partition of the calendar's labels).
    """

    names: tuple[str, ...]
    atoms: tuple[frozenset[str], ...]

    def covering(self, atoms: frozenset[str]) -> list[int]:
        """Return the solved blocks that make up a profile's hour blocks (indices into :attr:`names`)."""
        return [i for i, mine in enumerate(self.atoms) if mine <= atoms]

    def of_label(self, calendar: MarketCalendar) -> np.ndarray:
        """Return the solved block of each of the calendar's block labels (aligned with ``block_labels``).

        Returns
        -------
        np.ndarray
            int64, one entry per label of :attr:`MarketCalendar.block_labels`: the index into :attr:`names`.
        """
        labels = calendar.block_labels
        out = np.full(len(labels), -1, dtype=np.int64)
        for i, atoms in enumerate(self.atoms):
            for atom in atoms:
                out[labels.index(atom)] = i
        return out


def profile_atoms(calendar: MarketCalendar, profile: str) -> frozenset[str]:
    """Return the calendar's hour blocks (``peak``/``offpeak``, or NERC 5x16/2x16/7x8) a profile covers.

    Raises
    ------
    ValueError
        When the calendar does not define the profile (the message lists the ones it does).
    """
    labels = tuple(calendar.block_labels)
    key = profile.strip().lower()
    if key in ("base", "7x24"):
        return frozenset(labels)
    if calendar.block_style == "nerc":
        peak, weekend, night = labels
        table = {"peak": {peak}, "offpeak": {weekend, night}, "7x16": {peak, weekend}}
        if key in table:
            return frozenset(table[key])
    if key in labels:
        return frozenset({key})
    valid = ", ".join(calendar.profiles)
    raise ValueError(f"profile {profile!r} is not defined by calendar {calendar.name}; valid: {valid}")


def choose_blocks(calendar: MarketCalendar, profiles: set[str]) -> Blocks:
    """Merge the calendar's hour blocks that no quoted profile tells apart (the coarsest exact partition)."""
    labels = tuple(calendar.block_labels)
    covers = [profile_atoms(calendar, p) for p in sorted(profiles)]
    signature: dict[tuple[bool, ...], list[str]] = {}
    for label in labels:
        signature.setdefault(tuple(label in c for c in covers), []).append(label)
    groups = [frozenset(g) for g in signature.values()]
    names = []
    for g in groups:
        if g == frozenset(labels):
            names.append("base")
        elif len(g) == 1:
            names.append(next(iter(g)))
        elif calendar.block_style == "nerc" and g == profile_atoms(calendar, "offpeak"):
            names.append("offpeak")
        else:
            names.append("+".join(sorted(g)))
    return Blocks(tuple(names), tuple(groups))
