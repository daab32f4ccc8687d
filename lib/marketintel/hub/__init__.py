"""JupyterHub, the platform's front door: logins, JupyterLab for quants, the dashboards service.

The hub runs on one machine with configurable-http-proxy (``mi hub up``); ``jupyterhub_config.py`` at the
repository root is its configuration and builds everything from :mod:`marketintel.hub.access` (groups,
roles, services) and :mod:`marketintel.hub.spawn` (quants' servers). Users and their groups are managed
with ``mi hub user ...`` (:mod:`marketintel.hub.users`) or in the Hub's admin page.

Groups
------
``traders``  open the dashboards their pages allow; no server of their own
``quants``   JupyterLab (the project's kernel, their own store credentials) and their dashboards
``ops``      the operations dashboards; no server of their own
``admins``   everything, and the Hub's admin page when added with ``--admin``
``customers-*`` customer groups (:data:`CUSTOMER_GROUPS`): the market explorer, with what their
             entitlement rules open (``mi access``); the seed's pilots, plus ``MI_HUB_CUSTOMER_GROUPS``

Every hub user has a store user of the same name with the same groups: the store shows them what their
groups' entitlement rules open (``admins`` everything), in notebooks, dashboards and any client.

Which group may open which dashboard page lives in one registry, ``marketintel.dashboards.registry``.
"""

from __future__ import annotations

import os
import re

#: the platform's own groups
INTERNAL_GROUPS: tuple[str, ...] = ("traders", "quants", "ops", "admins")
#: customer groups: the seed's pilots (SPP hubs without export; a market delayed by an hour), and the
#: comma-separated ``MI_HUB_CUSTOMER_GROUPS`` (names ``customers-...``)
CUSTOMER_GROUPS: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["customers-spp", "customers-delayed"]
        + [
            g.strip()
            for g in os.environ.get("MI_HUB_CUSTOMER_GROUPS", "").split(",")
            if re.fullmatch(r"customers-[a-z0-9-]{1,40}", g.strip())
        ]
    )
)
#: the hub's groups, in the order they are listed
GROUPS: tuple[str, ...] = INTERNAL_GROUPS + CUSTOMER_GROUPS
#: groups whose members get a JupyterLab server of their own
SERVER_GROUPS: tuple[str, ...] = ("quants", "admins")
#: the Hub-managed service that serves the Panel dashboards at /services/dashboards/<page>
DASHBOARDS_SERVICE = "dashboards"
#: the Hub-managed service that serves the HTTP API and the download center at /services/api/
API_SERVICE = "api"
