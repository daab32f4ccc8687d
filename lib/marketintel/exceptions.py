"""Domain errors. Each message says what was wrong and what would be right."""

from __future__ import annotations


class MarketIntelError(Exception):
    """Base class of every error the platform raises on purpose."""


class ConfigError(MarketIntelError, ValueError):
    """A setting (environment variable, CLI option or configuration file) is invalid."""


class StoreError(MarketIntelError):
    """The store could not do what was asked."""


class StoreAlreadyRunningError(StoreError):
    """Another endpoint process already owns the data directory."""


class StoreNotRunningError(StoreError):
    """No endpoint answers for the data directory or URL."""


class SchemaError(StoreError, ValueError):
    """A table spec or a frame does not fit the schema."""


class LookAheadError(StoreError):
    """A point-in-time read would see facts published after its issue time."""


class UnknownTableError(SchemaError, KeyError):
    """A table name is not in the registry of table specs."""

    def __str__(self) -> str:
        # KeyError quotes its message; show it as written.
        return str(self.args[0]) if self.args else ""


class MigrationError(SchemaError):
    """A migration would change the store in a way it must not do silently (type, engine, sort key)."""


class NaiveTimestampError(SchemaError):
    """A timestamp without a time zone was given where an instant (tz-aware) is required."""


class EmptyResultError(StoreError, LookupError):
    """A read matched no rows and the caller did not say an empty result is expected."""
