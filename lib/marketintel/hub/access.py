"""Who may do what on the hub: groups, roles and services, built from the dashboards registry.

:func:`hub_access` is the single source of the hub's authorization. ``jupyterhub_config.py`` applies it,
and ``deploy/z2jh/values.yaml`` (the Kubernetes path) must describe the same groups, roles and services
(a test compares them).

Rules
-----
- The default ``user`` role is narrowed so that a user cannot start a server (no ``servers!user``): traders
  and ops get the Hub home page listing their dashboards, and nothing to spawn.
- :data:`~marketintel.hub.SERVER_GROUPS` (quants, admins) get ``servers!user`` and ``access:servers!user``:
  a JupyterLab server of their own.
- Every group that may open some dashboard page gets ``access:services!service=dashboards``; a user in no
  such group is refused by the Hub (403) before the dashboards service sees them. The per-page check is the
  service's own (:mod:`marketintel.dashboards.registry`).
- Every group gets ``access:services!service=api`` (role ``api-user``): the API answers each caller with
  what their entitlement opens, so the gate is the data's, not the service's. The dashboards service's
  token has it too: it starts exports acting for its users (``X-MI-Act-For``).
- The idle culler may list users and stop their servers, nothing else.
- The dashboards service's own token may list users, their groups and activity, and read servers (role
  ``dashboards-health``, for the health page); nothing that changes the hub.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marketintel.hub import API_SERVICE, DASHBOARDS_SERVICE, GROUPS, SERVER_GROUPS

#: the service whose token ``mi hub user ...`` uses (an admin service without a URL)
ADMIN_SERVICE = "mi-admin"
#: the jupyterhub-idle-culler service
CULLER_SERVICE = "idle-culler"

#: scopes of the narrowed default ``user`` role: everything of ``self`` except starting a server
USER_SCOPES: tuple[str, ...] = (
    "read:users!user",
    "read:users:activity!user",
    "users:activity!user",
    "read:servers!user",
    "read:tokens!user",
    "tokens!user",
    "read:groups!user",
)
SERVER_SCOPES: tuple[str, ...] = ("servers!user", "access:servers!user")
CULLER_SCOPES: tuple[str, ...] = (
    "list:users",
    "read:users:activity",
    "read:servers",
    "delete:servers",
)
#: what the dashboards service's own token may read, for the health page: who is on the hub, their groups,
#: when they were last seen and which servers run (read only; no tokens, no admin)
DASHBOARDS_HEALTH_SCOPES: tuple[str, ...] = (
    "list:users",
    "read:users:name",
    "read:users:groups",
    "read:users:activity",
    "read:servers",
)


@dataclass(frozen=True)
class HubAccess:
    """The hub's groups, roles and services (names and authorization only; commands are added on start).

    Attributes
    ----------
    groups
        ``JupyterHub.load_groups``: every group, with no members (members come from ``mi hub user`` or the
        admin page and are never removed by a restart).
    roles
        ``JupyterHub.load_roles``.
    services
        ``JupyterHub.services`` without commands, URLs, tokens or environments.
    """

    groups: dict[str, dict[str, Any]]
    roles: list[dict[str, Any]]
    services: list[dict[str, Any]]


def dashboard_groups(page_groups: Mapping[str, Sequence[str]]) -> list[str]:
    """Return the groups that may open at least one dashboard page, in :data:`GROUPS` order."""
    wanted = {g for groups in page_groups.values() for g in groups}
    unknown = sorted(wanted - set(GROUPS))
    if unknown:
        raise ValueError(f"dashboard pages name unknown groups {unknown}; expected some of {GROUPS}")
    return [g for g in GROUPS if g in wanted]


def hub_access(page_groups: Mapping[str, Sequence[str]]) -> HubAccess:
    """Build the hub's groups, roles and services from ``{page: groups}`` (the dashboards registry).

    Parameters
    ----------
    page_groups
        ``marketintel.dashboards.registry.page_groups()``.

    Raises
    ------
    ValueError
        If a page names a group outside :data:`~marketintel.hub.GROUPS`.
    """
    viewers = dashboard_groups(page_groups)
    roles: list[dict[str, Any]] = [
        {
            "name": "user",
            "description": "Every user: their own identity and tokens; starting a server is for quants",
            "scopes": list(USER_SCOPES),
        },
        {
            "name": "jupyterlab",
            "description": "A JupyterLab server of one's own",
            "scopes": list(SERVER_SCOPES),
            "groups": list(SERVER_GROUPS),
        },
        {
            "name": "dashboards-viewer",
            "description": "Open the dashboards service (each page checks its own groups)",
            "scopes": [f"access:services!service={DASHBOARDS_SERVICE}"],
            "groups": viewers,
        },
        {
            "name": "api-user",
            "description": "Call the API (/services/api/) with a token or the API's login; data as entitled",
            "scopes": [f"access:services!service={API_SERVICE}"],
            "groups": list(GROUPS),
            # the dashboards start exports for their users ("download this view"), acting for them
            "services": [DASHBOARDS_SERVICE],
        },
        {
            "name": "dashboards-health",
            "description": "The dashboards service reads users, activity and servers for the health page",
            "scopes": list(DASHBOARDS_HEALTH_SCOPES),
            "services": [DASHBOARDS_SERVICE],
        },
        {
            "name": CULLER_SERVICE,
            "description": "Stop idle servers",
            "scopes": list(CULLER_SCOPES),
            "services": [CULLER_SERVICE],
        },
    ]
    services: list[dict[str, Any]] = [
        {"name": DASHBOARDS_SERVICE, "oauth_no_confirm": True, "display": True},
        {"name": API_SERVICE, "oauth_no_confirm": True, "display": True},
        {"name": CULLER_SERVICE},
        {"name": ADMIN_SERVICE, "admin": True},
    ]
    groups: dict[str, dict[str, Any]] = {g: {"users": [], "properties": {}} for g in GROUPS}
    return HubAccess(groups=groups, roles=roles, services=services)
