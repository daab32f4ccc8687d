"""What every figure builder shares: the colour palette and the embedding of figures in HTML pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketintel.exceptions import MarketIntelError


class FigureError(MarketIntelError, ValueError):
    """A figure was asked for with arguments it cannot be drawn with (the message says which)."""


def palette(n: int) -> list[str]:
    """Return ``n`` distinct colours, the same ones in every figure (they repeat past 20).

    Parameters
    ----------
    n : int
        Number of colours (one per model, series, ...).

    Returns
    -------
    list of str
        CSS colours: plotly's qualitative palette, then D3's.
    """
    from plotly.colors import qualitative

    colours: list[str] = list(qualitative.Plotly) + list(qualitative.D3)
    return [colours[i % len(colours)] for i in range(n)]


@dataclass
class FigureEmbedder:
    """Turns plotly figures into HTML fragments, inlining plotly.js in the first one only.

    One embedder per page: the page then opens offline (no script from the network) and carries the
    bundle once however many figures it shows.

    Attributes
    ----------
    included : bool
        Whether plotly.js has been emitted already.
    """

    included: bool = field(default=False)

    def html(self, fig: Any) -> str:
        """Return the figure as a ``<div>`` (plus the plotly.js bundle the first time)."""
        out: str = fig.to_html(
            full_html=False, include_plotlyjs=not self.included, config={"displaylogo": False}
        )
        self.included = True
        return out


__all__ = ["FigureEmbedder", "FigureError", "palette"]
