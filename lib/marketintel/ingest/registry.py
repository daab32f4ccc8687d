"""The one registry of connectors, populated from entry points (group ``marketintel.connectors``).

A third party adds a source by declaring, in its own package::

    [project.entry-points."marketintel.connectors"]
    mysource = "mypackage.connector:MySourceIngestor"
"""

from __future__ import annotations

from importlib.metadata import entry_points

from marketintel.exceptions import MarketIntelError
from marketintel.ingest.sdk import Ingestor

GROUP = "marketintel.connectors"


class UnknownSourceError(MarketIntelError, KeyError):
    """A source name that no installed connector provides."""


def names() -> list[str]:
    """Return the names of the installed connectors, sorted."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load(name: str) -> type[Ingestor]:
    """Return the Ingestor class registered as ``name``.

    Raises
    ------
    UnknownSourceError
        Listing the installed connectors.
    MarketIntelError
        If the entry point does not name an Ingestor subclass.
    """
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Ingestor)):
                raise MarketIntelError(f"entry point {name!r} ({ep.value}) is not an Ingestor subclass")
            return cls
    known = ", ".join(names()) or "(none installed)"
    raise UnknownSourceError(f"no connector called {name!r}; installed: {known}")
