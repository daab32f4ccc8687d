"""Limits per role: engine settings the store sets for a user's connections, which that user cannot raise.

A reader of a dashboard or a notebook must not be able to exhaust the machine. Each role has engine
settings the store applies to every connection of its users (the engine enforces them: a query past
``max_execution_time`` ends with TIMEOUT_EXCEEDED, past ``max_memory_usage`` with MEMORY_LIMIT_EXCEEDED,
past ``max_result_rows`` with TOO_MANY_ROWS_OR_BYTES, past ``max_rows_to_read`` with TOO_MANY_ROWS, each
naming the limit and its value) and a cap on the user's concurrent queries (the endpoint's). A user may
lower a limit for a query (URL parameter, ``SETTINGS`` clause, ``SET``) but not raise or lift it: that
answers SETTING_CONSTRAINT_VIOLATION, as a ClickHouse settings constraint does.

Defaults are below; a users file overrides them per role::

    [limits.reader]
    max_execution_time = 30
    max_concurrent_queries_for_user = 4
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marketintel.exceptions import ConfigError
from marketintel.store.endpoint.errors import ClickHouseError

GiB = 1 << 30
#: the endpoint's own per-user cap, in the same table as the engine settings
CONCURRENCY_KEY = "max_concurrent_queries_for_user"

#: Defaults, sized so the platform's heaviest legitimate reads fit with margin (README, "Limits"):
#: a year of 5-minute prices for 1,000 locations is 105M rows read; the 100M-row dashboard benchmark's
#: heaviest query reads 442k rows in under 0.7 s and holds < 100 MiB.
DEFAULTS: dict[str, dict[str, int | str]] = {
    "reader": {
        "max_execution_time": 60,  # [s]
        "max_memory_usage": 2 * GiB,  # [bytes] per query: 8 concurrent queries stay under 24 GiB
        "max_rows_to_read": 1_000_000_000,  # [rows] per query
        "max_result_rows": 10_000_000,  # [rows]
        "max_result_bytes": 2 * GiB,  # [bytes], uncompressed
        "result_overflow_mode": "throw",
        "max_temporary_data_on_disk_size_for_query": 10 * GiB,  # [bytes] spilled sorts and joins
        CONCURRENCY_KEY: 8,
    },
    "writer": {
        "max_execution_time": 3600,
        "max_memory_usage": 8 * GiB,
        "max_temporary_data_on_disk_size_for_query": 20 * GiB,
        CONCURRENCY_KEY: 16,
    },
    "admin": {},
}
#: settings no user below admin may change at all (``readonly`` itself the engine guards: readers'
#: connections are read-only and answer READONLY to a change)
LOCKED = frozenset({"profile", "allow_ddl", "allow_introspection_functions"})


@dataclass(frozen=True)
class RoleLimits:
    """The limits of one role: engine settings and the per-user query cap (0: none of its own)."""

    settings: dict[str, int | str] = field(default_factory=dict)
    concurrency: int = 0

    def check(self, role: str, name: str, value: str) -> None:
        """Refuse a change of setting ``name`` to ``value`` that would raise or lift this role's limit.

        Raises
        ------
        ClickHouseError
            SETTING_CONSTRAINT_VIOLATION naming the limit, its value and what was asked.
        """
        if role == "admin":
            return
        if name in LOCKED:
            raise _violation(f"Setting {name} is locked for role '{role}' (asked {value!r})")
        if name == CONCURRENCY_KEY:
            raise _violation(f"Setting {name} is set by the store for role '{role}' ({self.concurrency})")
        if name not in self.settings:
            return
        limit = self.settings[name]
        if isinstance(limit, str):
            if value.strip("'\"") != limit:
                raise _violation(f"Setting {name} should be {limit!r} for role '{role}' (asked {value!r})")
            return
        try:
            asked = float(value.strip("'\""))
        except ValueError:
            raise _violation(f"Setting {name} should be a number <= {limit} (asked {value!r})") from None
        if limit > 0 and (asked <= 0 or asked > limit):
            raise _violation(
                f"Setting {name} shouldn't be greater than {limit} for role '{role}' (asked {value}; "
                "0 would lift it). Ask an admin to raise the role's limit in the store's users file"
            )


def _violation(message: str) -> ClickHouseError:
    return ClickHouseError.named("SETTING_CONSTRAINT_VIOLATION", message)


def role_limits(overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, RoleLimits]:
    """Build each role's limits from the defaults and a users file's ``[limits.ROLE]`` tables.

    Raises
    ------
    ConfigError
        If a role is unknown or a value is neither a number nor a string.
    """
    out: dict[str, RoleLimits] = {}
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"[limits.{unknown[0]}]: unknown role; expected one of {sorted(DEFAULTS)}")
    for role, defaults in DEFAULTS.items():
        merged: dict[str, int | str] = dict(defaults)
        for key, value in (overrides.get(role) or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ConfigError(f"[limits.{role}] {key} must be an integer or a string, got {value!r}")
            if not key.replace("_", "").isalnum():
                raise ConfigError(f"[limits.{role}]: {key!r} is not a setting name")
            merged[key] = value
        concurrency = int(merged.pop(CONCURRENCY_KEY, 0))
        out[role] = RoleLimits(merged, concurrency)
    return out
