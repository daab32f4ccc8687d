"""Which hub group may open which dashboard page: the one registry.

The hub's roles (``access:services!service=dashboards`` for every group that has a page), the dashboards
service's per-page check, the Hub home page's list of dashboards and ``deploy/z2jh/values.yaml`` are all
derived from :data:`PAGES`; nothing else names a page's groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from marketintel.hub import CUSTOMER_GROUPS, GROUPS

#: who may open the market explorer, and so start exports from it and follow them in the exports page
EXPLORER_GROUPS = frozenset({"traders", "quants", "admins", *CUSTOMER_GROUPS})


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
            EXPLORER_GROUPS,
            "marketintel.dashboards.explorer:Explorer",
        ),
        Page(
            "exports",
            "Exports",
            "Your exports from the download center: progress, and links to the finished files",
            EXPLORER_GROUPS,
            "marketintel.dashboards.exports:Exports",
        ),
        Page(
            "curves",
            "Forward curves",
            "Curves by product and as-of date: shape, quoted contracts, repricing errors, versions, lineage",
            frozenset({"traders", "quants", "admins"}),
            "marketintel.dashboards.curves:Curves",
        ),
        Page(
            "curve-builder",
            "Curve builder",
            "Build a curve from stored settlements or a quotes file, inspect it, save it as a new version",
            frozenset({"quants", "admins"}),
            "marketintel.dashboards.curve_builder:CurveBuilder",
        ),
        Page(
            "scenarios",
            "Scenarios",
            "Write a what-if scenario with live checking, run it, compare it with its base and other runs",
            frozenset({"quants", "admins"}),
            "marketintel.dashboards.scenarios:Scenarios",
        ),
        Page(
            "accuracy",
            "Forecast accuracy",
            "Backtest runs: metrics by market, model, horizon, hour and month; DM/GW tests; reports",
            frozenset({"traders", "quants", "admins"}),
            "marketintel.dashboards.accuracy:Accuracy",
        ),
        Page(
            "quality",
            "Data quality",
            "Freshness and completeness of every dataset, anomalies, quarantined payloads, alerts",
            frozenset({"ops", "quants", "admins"}),
            "marketintel.dashboards.quality:Quality",
        ),
        Page(
            "access",
            "Entitlements",
            "Which groups see which markets, locations and datasets; grant and revoke rules",
            frozenset({"admins"}),
            "marketintel.dashboards.access:Access",
        ),
        Page(
            "audit",
            "Audit trail",
            "Failed logins, exports, refused queries, unusual activity; verify the tamper-evident chain",
            frozenset({"admins"}),
            "marketintel.dashboards.audit:Audit",
        ),
        Page(
            "health",
            "Platform health",
            "The store, Prefect's flow runs, the hub and the dashboards: state, latency, failures",
            frozenset({"ops", "admins"}),
            "marketintel.dashboards.health:Health",
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
