"""The omie connector."""
