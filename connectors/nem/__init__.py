"""The nem connector."""
