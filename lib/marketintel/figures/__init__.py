"""Figure builders shared by dashboards and HTML reports.

One module per subject (:mod:`.backtest`: forecast accuracy), plus :mod:`.common`: the palette and
:class:`FigureEmbedder`, which puts figures in an HTML page that opens offline. The builders take data
already computed (scores, p-values, series) and only draw it; the figures are plotly figures.
"""

from __future__ import annotations

from marketintel.figures.common import FigureEmbedder, FigureError, palette

__all__ = ["FigureEmbedder", "FigureError", "palette"]
