"""Figure builders shared by dashboards and HTML reports.

The one figure stack of the dashboards and the HTML reports: one module per subject (:mod:`.backtest`:
forecast accuracy; :mod:`.curves`; :mod:`.quality` and :mod:`.ingest`: data quality and ingestion;
:mod:`.health`: the platform), plus :mod:`.common`: the palette, time axes in a chosen zone and
:class:`FigureEmbedder`, which puts figures in an HTML page with BokehJS inlined, so it opens offline. The
builders take data already computed (scores, p-values, series) and only draw it, as Bokeh figures: a
dashboard shows them in ``panel.pane.Bokeh`` and updates their data sources; a report embeds them.
"""

from __future__ import annotations

from marketintel.figures.common import FigureEmbedder, FigureError, palette

__all__ = ["FigureEmbedder", "FigureError", "palette"]
