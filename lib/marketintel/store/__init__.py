"""ClickHouse access: the client, schema as data, migrations and point-in-time reads.

>>> from marketintel.store import connect, migrate, read_asof  # doctest: +SKIP
>>> client = connect()  # doctest: +SKIP
>>> migrate(client)  # doctest: +SKIP
>>> as_of = pd.Timestamp("2024-06-01", tz="UTC")  # doctest: +SKIP
>>> read_asof(client, "prices", as_of, where={"market": "CAISO_DAM"})  # doctest: +SKIP
"""

from marketintel.store.asof import Range, read_asof, read_issued
from marketintel.store.client import connect
from marketintel.store.insert import insert_df
from marketintel.store.migrate import MigrationReport, migrate
from marketintel.store.schema import Column, TableSpec, validate_frame
from marketintel.store.tables import TABLES, get_table

__all__ = [
    "TABLES",
    "Column",
    "MigrationReport",
    "Range",
    "TableSpec",
    "connect",
    "get_table",
    "insert_df",
    "migrate",
    "read_asof",
    "read_issued",
    "validate_frame",
]
