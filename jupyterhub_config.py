"""JupyterHub configuration: not written yet.

A later issue fills this file (quants' JupyterLab servers, Panel dashboards as Hub-managed services behind Hub
OAuth, roles granting ``access:services!service=<dashboard>`` to groups). Until then JupyterHub is not part of
the platform's set-up, and starting a hub with this file does nothing useful.
"""
