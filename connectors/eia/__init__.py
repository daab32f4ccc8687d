"""The eia connector."""
