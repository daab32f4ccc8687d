"""Entitlement rules as data: grant, revoke and show, versioned in ``access_rules``.

Every change is a new row (the rule's id, its version, grant or revoke, who and when), so the table is the
history of the rules as well as their current state: the latest version of a rule is in force unless it is
a revoke. A group with no rule on a table sees nothing of it; members of ``admins`` see everything.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd

from marketintel.access.policy import ADMINS, FIELDS, RuleSpec, check_rule
from marketintel.exceptions import MarketIntelError

_GROUP = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)
_UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
    "y": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400,
}  # fmt: skip


class AccessError(MarketIntelError, ValueError):
    """An entitlement command that cannot be done (bad group, table, field, duration or rule id)."""


def parse_duration(text: str | int | float | None) -> int:
    """Return a duration [s] from ``1h``, ``90 min``, ``30d``, ``2y`` (365 days), ``PT1H`` or plain seconds.

    Raises
    ------
    AccessError
        Naming the forms that are accepted.
    """
    if text is None or text == "":
        return 0
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        m = _DURATION.match(text)
        if m and m.group(2).lower() in _UNITS:
            seconds = float(m.group(1)) * _UNITS[m.group(2).lower()]
        elif text.strip().isdigit():
            seconds = float(text)
        else:
            try:
                seconds = pd.Timedelta(text).total_seconds()  # ISO 8601 (PT1H, P1D)
            except ValueError:
                raise AccessError(
                    f"a duration looks like 1h, 90min, 30d, 2y or PT1H (seconds if no unit), got {text!r}"
                ) from None
    if seconds < 0:
        raise AccessError(f"a duration is >= 0, got {text!r}")
    return round(seconds)


def format_duration(seconds: int) -> str:
    """Return ``seconds`` in the largest whole unit (``1h``, ``30d``); ``-`` for 0."""
    if not seconds:
        return "-"
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Rule(RuleSpec):
    """A rule in force: what it opens (:class:`RuleSpec`), for which group, and its history."""

    rule_id: str = ""
    group: str = ""
    version: int = 1
    changed_by: str = ""
    changed_at_utc: datetime | None = None
    note: str = ""

    def describe(self) -> str:
        """Return one line: id, group, table, restrictions, delay, history, export."""
        parts = [f"{self.rule_id}  {self.group:<12} {self.table:<15}"]
        for name, values in self.restrictions().items():
            parts.append(f"{name}={','.join(values)}")
        if not self.restrictions():
            parts.append("all rows")
        if self.delay_s:
            parts.append(f"delay={format_duration(self.delay_s)}")
        if self.history_s:
            parts.append(f"history={format_duration(self.history_s)}")
        parts.append("export" if self.export else "no export")
        parts.append(f"(v{self.version} by {self.changed_by or '?'})")
        return " ".join(parts)


def check_group(group: str) -> str:
    """Return ``group`` if it is a valid group name (lowercase letters, digits, ``_``, ``-``)."""
    if not _GROUP.match(group):
        raise AccessError(f"group names are lowercase letters, digits, '_' or '-', got {group!r}")
    return group


def make_rule(
    group: str,
    table: str,
    *,
    markets: Sequence[str] = (),
    locations: Sequence[str] = (),
    location_types: Sequence[str] = (),
    variables: Sequence[str] = (),
    products: Sequence[str] = (),
    delay: str | int | None = None,
    history: str | int | None = None,
    export: bool = False,
    changed_by: str = "",
    note: str = "",
) -> Rule:
    """Build and check a new rule (a fresh id, version 1).

    Raises
    ------
    AccessError
        For a bad group, an unknown table, a field that does not apply to the table or a bad duration.
    """
    check_group(group)
    rule = Rule(
        table=table,
        markets=tuple(markets),
        locations=tuple(locations),
        location_types=tuple(location_types),
        variables=tuple(variables),
        products=tuple(products),
        delay_s=parse_duration(delay),
        history_s=parse_duration(history),
        export=export,
        rule_id="r-" + uuid.uuid4().hex[:10],
        group=group,
        changed_by=changed_by,
        note=note,
    )
    try:
        check_rule(rule)
    except ValueError as exc:
        raise AccessError(str(exc)) from None
    if group == ADMINS:
        raise AccessError(f"{ADMINS!r} sees everything already; grant rules to other groups")
    return rule


_COLUMNS = (
    "rule_id", "version", "action", "group_name", "table_name", *FIELDS, "delay_s", "history_s", "export",
    "changed_by", "note",
)  # fmt: skip


def _row(rule: Rule, action: str) -> list[Any]:
    return [
        rule.rule_id, rule.version, action, rule.group, rule.table,
        *[list(getattr(rule, f)) for f in FIELDS],
        rule.delay_s, rule.history_s, int(rule.export), rule.changed_by, rule.note,
    ]  # fmt: skip


def grant(client: Any, rule: Rule) -> Rule:
    """Store a new rule; return it."""
    client.insert("access_rules", [_row(rule, "grant")], column_names=list(_COLUMNS))
    return rule


def revoke(client: Any, group: str, rule_id: str, *, changed_by: str = "", note: str = "") -> Rule:
    """Revoke a rule of ``group``: a new version with action ``revoke``; return the rule revoked.

    Raises
    ------
    AccessError
        If ``group`` has no rule ``rule_id`` in force (the message lists the group's rules).
    """
    current = {r.rule_id: r for r in rules_in_force(client, groups=[group])}
    rule = current.get(rule_id)
    if rule is None:
        known = ", ".join(sorted(current)) or "none"
        raise AccessError(f"group {group!r} has no rule {rule_id!r} in force; its rules: {known}")
    gone = replace(rule, version=rule.version + 1, changed_by=changed_by, note=note)
    client.insert("access_rules", [_row(gone, "revoke")], column_names=list(_COLUMNS))
    return gone


#: the latest version of every rule (``{db}``: a database prefix such as ``\`name\`.``, or '')
LATEST_SQL = (
    "SELECT rule_id, argMax(tuple(version, action, group_name, table_name, markets, locations, "
    "location_types, variables, products, delay_s, history_s, export, changed_by, changed_at_utc, note), "
    "version) AS r FROM {db}access_rules GROUP BY rule_id"
)


def rule_from_row(rule_id: str, r: Sequence[Any]) -> tuple[str, Rule]:
    """Return (action, rule) from a row of :data:`LATEST_SQL`."""
    return r[1], Rule(
        table=r[3],
        markets=tuple(r[4]),
        locations=tuple(r[5]),
        location_types=tuple(r[6]),
        variables=tuple(r[7]),
        products=tuple(r[8]),
        delay_s=int(r[9]),
        history_s=int(r[10]),
        export=bool(r[11]),
        rule_id=rule_id,
        group=r[2],
        version=int(r[0]),
        changed_by=r[12],
        changed_at_utc=r[13],
        note=r[14],
    )


def rules_in_force(
    client: Any, groups: Iterable[str] | None = None, database: str | None = None
) -> list[Rule]:
    """Return the rules in force (of ``groups`` if given), sorted by group, table and id."""
    prefix = f"`{database}`." if database else ""
    rows = client.query(LATEST_SQL.format(db=prefix)).result_rows
    wanted = set(groups) if groups is not None else None
    out = []
    for rule_id, r in rows:
        action, rule = rule_from_row(rule_id, r)
        if action == "grant" and (wanted is None or rule.group in wanted):
            out.append(rule)
    return sorted(out, key=lambda x: (x.group, x.table, x.rule_id))


def history(client: Any, rule_id: str | None = None) -> pd.DataFrame:
    """Return every change of the rules (or of one rule), oldest first."""
    where = "WHERE rule_id = {rid:String}" if rule_id else ""
    frame: pd.DataFrame = client.query_df(
        f"SELECT * FROM access_rules {where} ORDER BY changed_at_utc, rule_id, version",
        parameters={"rid": rule_id} if rule_id else None,
    )
    return frame


def _default_rules() -> list[Rule]:
    from marketintel.access.policy import GOVERNED

    out: list[Rule] = []
    data = ("prices", "fundamentals", "forward_quotes", "curves", "forecasts")
    everything = tuple(GOVERNED)
    for group, export, tables in (
        ("traders", True, data),
        ("quants", True, everything),
        ("ops", False, everything),
    ):
        for table in tables:
            out.append(make_rule(group, table, export=export, changed_by="defaults",
                                 note="the platform's own desk: every row"))  # fmt: skip
    pilot = "the seed's pilot: SPP trading hubs only, no export"
    out.append(make_rule("customers-spp", "prices", markets=["SPP*"], locations=["*_HUB"],
                         changed_by="defaults", note=pilot))  # fmt: skip
    out.append(make_rule("customers-delayed", "prices", markets=["SPP*"], delay="1h", changed_by="defaults",
                         note="the seed's second pilot: one market, delayed by one hour"))  # fmt: skip
    return out


def seed_defaults(client: Any) -> list[Rule]:
    """Grant the default rules to groups that never had a rule (the demo's groups and pilots); return them.

    A group with any rule in its history (granted or revoked) is left as it is: an admin's revocation
    stands.
    """
    seen = {r[0] for r in client.query("SELECT DISTINCT group_name FROM access_rules").result_rows}
    added = [rule for rule in _default_rules() if rule.group not in seen]
    for rule in added:
        grant(client, rule)
    return added
