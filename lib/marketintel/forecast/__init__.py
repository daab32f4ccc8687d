"""Price forecasting models behind one interface: seasonal naive and LEAR (Lago et al. 2021)."""
