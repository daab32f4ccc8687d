"""Which hub group may open which dashboard page: the one registry.

The hub's roles (``access:services!service=dashboards`` for every group that has a page), the dashboards
service's per-page check, the Hub home page's list of dashboards and ``deploy/z2jh/values.yaml`` are all
derived from :data:`PAGES`; nothing else names a page's groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from marketintel.hub import GROUPS


@dataclass(frozen=True)
class Page:
    """A dashboard page served at ``/services/dashboards/<name>``.

    Parameters
    ----------
    name
        URL path segment.
    title
        Shown on the Hub home page and as the page title.
    description
        One line for the Hub home page.
    groups
        Hub groups whose members may open it.
    app
        ``module:attribute`` of the :class:`panel.viewable.Viewer` class served for the page.
    """

    name: str
    title: str
    description: str
    groups: frozenset[str]
    app: str

    def __post_init__(self) -> None:
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown:
            raise ValueError(f"page {self.name!r}: unknown groups {unknown}; expected some of {GROUPS}")


PAGES: dict[str, Page] = {
    p.name: p
    for p in (
        Page(
            "explorer",
            "Market explorer",
            "Prices and fundamentals by market and location, as of any time, with a live tail",
            frozenset({"traders", "quants", "admins"}),
            "marketintel.dashboards.explorer:Explorer",
        ),
        Page(
            "backtests",
            "Backtests",
            "Stored backtest runs and their accuracy metrics (MAPE, WAPE, RMSE, ...)",
            frozenset({"quants", "admins"}),
            "marketintel.dashboards.backtests:Backtests",
        ),
    )
}


def page_groups() -> dict[str, list[str]]:
    """Return ``{page: sorted groups}`` for every page (what the hub configuration is built from)."""
    return {name: sorted(p.groups) for name, p in PAGES.items()}


def pages_for(groups: Iterable[str]) -> list[Page]:
    """Return the pages a member of ``groups`` may open, in registry order."""
    mine = set(groups)
    return [p for p in PAGES.values() if p.groups & mine]


def may_open(groups: Iterable[str], page: str) -> bool:
    """Whether a member of ``groups`` may open ``page`` (an unknown page: no)."""
    entry = PAGES.get(page)
    return entry is not None and bool(entry.groups & set(groups))
