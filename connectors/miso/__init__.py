"""Midcontinent ISO (MISO): market reports and the real-time Data Broker."""
