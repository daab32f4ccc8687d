"""The iex connector."""
