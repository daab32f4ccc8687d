"""The jepx connector."""
