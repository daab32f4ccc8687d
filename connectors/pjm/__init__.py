"""PJM Interconnection: Data Miner 2 API (prices, load forecasts, generation by fuel, solar forecasts)."""
