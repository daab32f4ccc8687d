"""The cenace connector."""
