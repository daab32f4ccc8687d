"""The emcsg connector."""
