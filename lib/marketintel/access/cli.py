"""``mi access ...``: grant, revoke and show entitlement rules; print the server DDL that enforces them."""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any

from marketintel import config


def _changer() -> str:
    """Who makes a change: the store user of ``MI_CLICKHOUSE_URL`` and the operating-system user."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "?"
    return f"{config.clickhouse_url().username} ({who})"


def _client() -> Any:
    from marketintel.store import connect

    return connect()


def _catalogues(client: Any, found: list[Any]) -> dict[str, list[tuple[str, ...]]]:
    """Read the catalogues the rules ``found`` are expanded over (what the store compiles them with)."""
    from marketintel.access import policy

    existing = {r[0] for r in client.query("SHOW TABLES").result_rows}
    cats: dict[str, list[tuple[str, ...]]] = {}
    for table in {r.table for r in found if policy.needs_catalogue(r)}:
        sql = policy.catalogue_sql(table, client.database or "default", existing)
        cats[table] = [tuple(map(str, row)) for row in client.query(sql).result_rows] if sql else []
    return cats


def cmd_grant(args: argparse.Namespace) -> int:
    """Grant a rule to a group."""
    from marketintel.access import rules

    rule = rules.make_rule(
        args.group,
        args.table,
        markets=args.market or (),
        locations=args.location or (),
        location_types=args.location_type or (),
        variables=args.variable or (),
        products=args.product or (),
        delay=args.delay,
        history=args.history,
        export=args.export,
        changed_by=_changer(),
        note=args.note,
    )
    from marketintel.access.events import report

    rules.grant(_client(), rule)
    report("access_change", config.clickhouse_url().username, action="grant", target=rule.group,
           detail={"rule": rule.rule_id, "describe": rule.describe()})  # fmt: skip
    print(f"granted {rule.describe()}")
    print("the store applies it within about a second, to every connection of the group's users")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke a rule of a group."""
    from marketintel.access import rules
    from marketintel.access.events import report

    gone = rules.revoke(_client(), args.group, args.rule_id, changed_by=_changer(), note=args.note)
    report("access_change", config.clickhouse_url().username, action="revoke", target=gone.group,
           detail={"rule": gone.rule_id})  # fmt: skip
    print(f"revoked {gone.rule_id} of group {gone.group} (version {gone.version})")
    return 0


def _user_groups(name: str) -> tuple[str, ...] | None:
    from marketintel.store.endpoint.auth import Users

    users = Users.load(config.store_users_file())
    user = users.users.get(name)
    if user is None:
        from marketintel.access.rules import AccessError

        raise AccessError(f"no store user {name!r} in {config.store_users_file()}")
    return None if not user.entitled else user.groups


def cmd_show(args: argparse.Namespace) -> int:
    """Show the rules in force, of a group, or of a user (with what they compile to)."""
    from marketintel.access import policy, rules

    client = _client()
    groups: list[str] | None = None
    if args.group:
        groups = [args.group]
    if args.user:
        user_groups = _user_groups(args.user)
        if user_groups is None:
            print(f"{args.user} is not entitled by groups (admin, 'admins' or a service account): every row")
            return 0
        groups = list(user_groups)
        print(f"{args.user}: groups {', '.join(groups) or '(none)'}")
    found = rules.rules_in_force(client, groups)
    if not found:
        print(
            "no rule in force" + (f" for {', '.join(groups)}" if groups else "") + ": nothing of a fact table"
        )
    for rule in found:
        print(rule.describe())
    if args.user and found:
        compiled = policy.compile_user(args.user, found, _catalogues(client, found))
        for table, slots in compiled["t"].items():  # type: ignore[attr-defined]
            for slot in slots:
                opens = "every row" if slot["a"] else f"{len(slot['m'])} market(s), {len(slot['k'])} key(s)"
                extra = ""
                if slot["d"]:
                    extra += f", delayed {rules.format_duration(slot['d'])}"
                if slot["h"]:
                    extra += f", last {rules.format_duration(slot['h'])}"
                print(f"  {table}: {opens}{extra}")
        print(f"  export: {', '.join(compiled['x']) or 'nothing'}")  # type: ignore[arg-type]
    return 0


def cmd_defaults(_args: argparse.Namespace) -> int:
    """Grant the default rules to groups that never had one (what `make demo` does)."""
    from marketintel.access import rules

    added = rules.seed_defaults(_client())
    for rule in added:
        print(f"granted {rule.describe()}")
    if not added:
        print("every default group has rules (or had them): nothing granted")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Print every change of the rules (or of one rule)."""
    from marketintel.access import rules

    frame = rules.history(_client(), args.rule_id)
    if frame.empty:
        print("no change recorded")
        return 0
    cols = [
        "changed_at_utc",
        "rule_id",
        "version",
        "action",
        "group_name",
        "table_name",
        "changed_by",
        "note",
    ]
    print(frame[cols].to_string(index=False))
    return 0


def cmd_ddl(args: argparse.Namespace) -> int:
    """Print the ClickHouse server DDL (roles, grants, row policies) for the rules in force."""
    from marketintel.access import policy, rules
    from marketintel.store.endpoint.auth import Users

    client = _client()
    found = rules.rules_in_force(client)
    by_group: dict[str, list[rules.Rule]] = {}
    for rule in found:
        by_group.setdefault(rule.group, []).append(rule)
    users = Users.load(config.store_users_file())
    members = {u.name: list(u.groups) for u in users.users.values() if u.groups is not None}
    cats = _catalogues(client, found)
    for statement in policy.server_ddl(members, by_group, cats, database=args.database, cluster=args.cluster):
        print(statement + ";")
    return 0


def _audit_dir(args: argparse.Namespace) -> Path:
    from marketintel.store.endpoint.process import audit_dir

    if args.audit_dir is not None:
        return Path(args.audit_dir)
    return audit_dir(config.store_dir())


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Verify the audit chain; exit 1 naming the first bad record."""
    import pandas as pd

    from marketintel.access.audit import verify_store
    from marketintel.access.events import report

    since = pd.Timestamp(args.since, tz="UTC").to_pydatetime() if args.since else None
    verdict = verify_store(_client(), _audit_dir(args), since)
    print(verdict)
    detail = {"result": str(verdict), "bad_seq": verdict.bad_seq, "since": args.since or ""}
    outcome = "ok" if verdict.ok else "error"
    report("verify", config.clickhouse_url().username, action="verify", outcome=outcome, rows=verdict.checked,
           detail=detail)  # fmt: skip
    return 0 if verdict.ok else 1


def cmd_audit_show(args: argparse.Namespace) -> int:
    """Print the latest audit records."""
    client = _client()
    where = []
    params: dict[str, Any] = {"n": args.limit}
    if args.kind:
        where.append("kind = {kind:String}")
        params["kind"] = args.kind
    if args.user:
        where.append("user = {user:String}")
        params["user"] = args.user
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    frame = client.query_df(
        "SELECT seq, at_utc, kind, user, caller, source, action, target, outcome, rows, bytes "
        f"FROM mi_system.audit_log {cond} ORDER BY seq DESC LIMIT {{n:UInt32}}",
        parameters=params,
    )
    print(frame.iloc[::-1].to_string(index=False) if not frame.empty else "no audit record")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi access ...`` and ``mi audit ...``."""
    audit = sub.add_parser("audit", help="the store's tamper-evident audit trail")
    usub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    p = usub.add_parser(
        "verify", help="re-compute the hash chain; name the first changed/deleted/inserted record"
    )
    p.add_argument("--since", default=None, help="only records from this time on (UTC), e.g. 2026-12-01")
    p.add_argument("--audit-dir", default=None, help="the key and journal (default: beside the store)")
    p.set_defaults(func=cmd_audit_verify)
    p = usub.add_parser("show", help="the latest records")
    p.add_argument("--kind", default=None)
    p.add_argument("--user", default=None)
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(func=cmd_audit_show)
    access = sub.add_parser(
        "access", help="entitlements: which groups see which markets, locations, datasets"
    )
    asub = access.add_subparsers(dest="access_command", required=True, metavar="COMMAND")
    p = asub.add_parser("grant", help="grant a rule to a group (rules add up; no rule: nothing of a table)")
    p.add_argument("group", help="the hub group the rule is for")
    p.add_argument(
        "table",
        help="prices, fundamentals, forward_quotes, curves, forecasts; raw_payloads, checkpoints (whole)",
    )
    p.add_argument("--market", action="append", metavar="M", help="a market (repeat; glob patterns allowed)")
    p.add_argument("--location", action="append", metavar="PATTERN", help="a location name or glob (repeat)")
    p.add_argument("--location-type", action="append", metavar="T", help="hub, node, zone, ... (repeat)")
    p.add_argument("--variable", action="append", metavar="V", help="a variable (fundamentals, forecasts)")
    p.add_argument("--product", action="append", metavar="P", help="a product or curve name (repeat; globs)")
    p.add_argument(
        "--delay", default=None, help="rows become visible this long after publication (1h, 15min)"
    )
    p.add_argument("--history", default=None, help="only intervals within this long before now (90d, 2y)")
    p.add_argument("--export", action="store_true", help="the group may export what this rule opens")
    p.add_argument("--note", default="", help="why (kept with the change)")
    p.set_defaults(func=cmd_grant)
    p = asub.add_parser("revoke", help="revoke a rule of a group (kept in the history)")
    p.add_argument("group")
    p.add_argument("rule_id")
    p.add_argument("--note", default="", help="why (kept with the change)")
    p.set_defaults(func=cmd_revoke)
    p = asub.add_parser("show", help="the rules in force (of a group, or a user and what they open)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--group", default=None)
    who.add_argument("--user", default=None, help="a store user (the local users file gives their groups)")
    p.set_defaults(func=cmd_show)
    p = asub.add_parser(
        "defaults", help="grant the default rules (traders, quants, ops: every row; the pilots) to new groups"
    )
    p.set_defaults(func=cmd_defaults)
    p = asub.add_parser("history", help="every grant and revoke, oldest first")
    p.add_argument("rule_id", nargs="?", default=None)
    p.set_defaults(func=cmd_history)
    p = asub.add_parser("ddl", help="the ClickHouse server DDL (roles, grants, row policies) of the rules")
    p.add_argument("--database", default="default")
    p.add_argument("--cluster", default=None, help="emit ON CLUSTER statements")
    p.set_defaults(func=cmd_ddl)
