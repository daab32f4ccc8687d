"""The kpx connector."""
