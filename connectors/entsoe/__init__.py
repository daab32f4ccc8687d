"""The entsoe connector."""
