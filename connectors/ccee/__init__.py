"""The ccee connector."""
