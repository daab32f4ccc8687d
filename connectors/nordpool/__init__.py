"""The nordpool connector."""
