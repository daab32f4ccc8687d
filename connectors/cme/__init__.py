"""CME Group / NYMEX daily settlement files (``nymex_future.csv``) -> ``forward_quotes``."""
