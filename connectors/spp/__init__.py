"""Southwest Power Pool (SPP): LMPs by settlement location from the Marketplace file browser."""
