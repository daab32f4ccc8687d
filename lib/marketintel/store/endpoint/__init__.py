"""The embedded store: the ClickHouse HTTP interface served over one chDB data directory (``mi store serve``)."""
