"""Market intelligence for power, gas and carbon markets.

The package is one namespace over three folders of the repository: ``lib/marketintel`` (the library),
``connectors/`` (``marketintel.connectors``) and ``flows/`` (``marketintel.flows``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("marketintel")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
