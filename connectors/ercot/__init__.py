"""ERCOT: MIS documents found through their listings, the public-API archive, and the public dashboards."""
