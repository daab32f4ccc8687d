"""Panel dashboards served as the JupyterHub service ``dashboards`` (one page per registry entry).

:mod:`~marketintel.dashboards.registry` says which Hub group may open which page;
:mod:`~marketintel.dashboards.explorer`, :mod:`~marketintel.dashboards.accuracy` and the registry's other
modules are the pages, :mod:`~marketintel.dashboards.tail` the shared live tail,
:mod:`~marketintel.dashboards.reports` the backtest reports and :mod:`~marketintel.dashboards.serve` the
service.
"""
