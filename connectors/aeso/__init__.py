"""AESO (Alberta): ETS reports (supply and demand, wind and solar forecasts) and API pool price / SMP."""
