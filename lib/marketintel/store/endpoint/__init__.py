"""The embedded store: ClickHouse's HTTP interface over one chDB data directory (``mi store serve``)."""
