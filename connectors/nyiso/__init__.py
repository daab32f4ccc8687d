"""NYISO: MIS public CSV reports (daily files for recent days, monthly zips for history).

Datasets: actual load (pal), load forecast (isolf), fuel mix (rtfuelmix), interface flows and limits
(ExternalLimitsFlows), real-time and day-ahead zonal LBMP; stamp conventions in :mod:`.mapping`.
"""
