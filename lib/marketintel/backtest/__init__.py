"""Backtests of price forecasts: rolling-origin runs, metrics, statistical tests, monitoring, reports."""
