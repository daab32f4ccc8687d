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

Which group may open which dashboard page lives in one registry, ``marketintel.dashboards.registry``.
"""

from __future__ import annotations

#: the hub's groups, in the order they are listed
GROUPS: tuple[str, ...] = ("traders", "quants", "ops", "admins")
#: groups whose members get a JupyterLab server of their own
SERVER_GROUPS: tuple[str, ...] = ("quants", "admins")
#: the Hub-managed service that serves the Panel dashboards at /services/dashboards/<page>
DASHBOARDS_SERVICE = "dashboards"
