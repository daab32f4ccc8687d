"""ERCOT: MIS reports (CSV in ZIP documents) and load data with DST flags."""
