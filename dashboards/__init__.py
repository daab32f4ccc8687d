"""Panel dashboards served as the JupyterHub service ``dashboards`` (one page per registry entry).

:mod:`~marketintel.dashboards.registry` says which Hub group may open which page;
:mod:`~marketintel.dashboards.explorer` and :mod:`~marketintel.dashboards.backtests` are the pages,
:mod:`~marketintel.dashboards.tail` the shared live tail and :mod:`~marketintel.dashboards.serve` the service.
"""
