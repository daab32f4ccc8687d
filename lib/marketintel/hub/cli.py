"""``mi hub ...``: start and stop the hub, manage its users."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from marketintel.hub import GROUPS


def cmd_up(args: argparse.Namespace) -> int:
    """Start the hub (idempotent) and print its address."""
    from marketintel.hub import process

    running = process.up(
        args.ip, args.port, ssl_cert=args.ssl_cert, ssl_key=args.ssl_key, insecure=args.insecure
    )
    print(f"hub: {running.url} (pid {running.pid}); log {running.log}")
    print(f"dashboards: {running.url}services/dashboards/")
    print(f"API:        {running.url}services/api/docs (a token: mi hub token NAME)")
    return 0


def cmd_down(_args: argparse.Namespace) -> int:
    """Stop the hub."""
    from marketintel.hub import process

    stopped = process.down()
    print(f"hub stopped (pid {stopped.pid})" if stopped else "hub: not running")
    return 0


def cmd_status(_args: argparse.Namespace) -> int:
    """Print whether the hub runs and routes the dashboards."""
    from marketintel.hub import process

    ok, text = process.describe(process.read_state())
    print(f"hub: {text}")
    return 0 if ok else 1


def _password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise SystemExit("mi hub user: give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise SystemExit("mi hub user: no password on standard input")
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    """Add a user with a password and groups."""
    from marketintel.hub import users

    user = users.add(
        args.name, _password(args), args.group or [], admin=args.admin, store_role=args.store_role
    )
    print(f"added {user.name}: groups {', '.join(user.groups) or '(none)'}{', admin' if user.admin else ''}")
    if user.store_role:
        print(f"  store user {user.name} ({user.store_role}) for their JupyterLab server")
    if not user.groups:
        print("  in no group: they can log in but open nothing (mi hub user set-groups)")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Print a new Hub API token of a user (for the API and the Python client)."""
    from marketintel.hub import users

    expires = None if args.expires_in_days == 0 else int(args.expires_in_days * 24 * 3600)
    token = users.create_token(args.name, note=args.note, expires_in_s=expires)
    print(token)
    when = "never expires" if expires is None else f"expires in {args.expires_in_days:g} days"
    print(f"# token of {args.name} ({when}); use: Authorization: Bearer <token>", file=sys.stderr)
    return 0


def cmd_user_list(_args: argparse.Namespace) -> int:
    """List the users."""
    from marketintel.hub import users

    rows = users.list_users()
    print(f"{'user':<16} {'groups':<28} {'admin':<6} {'password':<9} {'store':<7} server")
    for u in rows:
        print(
            f"{u.name:<16} {','.join(u.groups) or '-':<28} {'yes' if u.admin else '':<6} "
            f"{'set' if u.has_password else 'NONE':<9} {u.store_role or '-':<7} "
            f"{'running' if u.server else ''}"
        )
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    """Remove a user."""
    from marketintel.hub import users

    users.remove(args.name)
    print(f"removed {args.name} (their home folder is kept)")
    return 0


def cmd_user_set_groups(args: argparse.Namespace) -> int:
    """Replace a user's groups."""
    from marketintel.hub import users

    user = users.set_groups(args.name, args.groups, store_role=args.store_role)
    print(f"{user.name}: groups {', '.join(user.groups) or '(none)'}")
    return 0


def cmd_user_set_password(args: argparse.Namespace) -> int:
    """Replace a user's password."""
    from marketintel.hub import users

    users.check_name(args.name)
    users.set_password(args.name, _password(args))
    print(f"password of {args.name} replaced")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi hub up|down|status`` and ``mi hub user add|list|remove|set-groups|set-password``."""
    hub = sub.add_parser("hub", help="JupyterHub: logins, JupyterLab for quants, the dashboards")
    hsub = hub.add_subparsers(dest="hub_command", required=True, metavar="COMMAND")
    p = hsub.add_parser("up", help="start the hub in the background (idempotent) and print its URL")
    p.add_argument("--ip", default="127.0.0.1", help="public address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="public port (default MI_HUB_PORT or 8000)")
    p.add_argument("--ssl-cert", type=Path, default=None, help="TLS certificate (PEM) of the public address")
    p.add_argument("--ssl-key", type=Path, default=None, help="TLS key (PEM) of the public address")
    p.add_argument(
        "--insecure", action="store_true", help="allow plain HTTP beyond loopback (behind a TLS proxy)"
    )
    p.set_defaults(func=cmd_up)
    hsub.add_parser("down", help="stop the hub, its proxy, services and servers").set_defaults(func=cmd_down)
    hsub.add_parser("status", help="is the hub up and routing the dashboards").set_defaults(func=cmd_status)

    p = hsub.add_parser("token", help="print a new API token of a user (the hub must be running)")
    p.add_argument("name", help="the hub user the token acts as")
    p.add_argument("--note", default="mi hub token", help="shown on the Hub's token page")
    p.add_argument("--expires-in-days", type=float, default=30.0, help="lifetime in days (0: until revoked)")
    p.set_defaults(func=cmd_token)
    user = hsub.add_parser("user", help="the hub's users (the hub must be running)")
    usub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    p = usub.add_parser("add", help="add a user with a password (on stdin) and groups")
    p.add_argument("name")
    p.add_argument("--group", action="append", choices=GROUPS, help="a group (repeat for several)")
    p.add_argument("--admin", action="store_true", help="a Hub admin (the admin page)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument(
        "--store-role", choices=("reader", "writer"), default="reader", help="store role of a quant's server"
    )
    p.set_defaults(func=cmd_user_add)
    usub.add_parser("list", help="every user: groups, admin, password, store role").set_defaults(
        func=cmd_user_list
    )
    p = usub.add_parser("remove", help="remove a user (their server stops; the home folder stays)")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_remove)
    p = usub.add_parser("set-groups", help="replace a user's groups (none: no group)")
    p.add_argument("name")
    p.add_argument("groups", nargs="*", choices=GROUPS, metavar="GROUP")
    p.add_argument("--store-role", choices=("reader", "writer"), default="reader")
    p.set_defaults(func=cmd_user_set_groups)
    p = usub.add_parser("set-password", help="replace a user's password (on stdin)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_user_set_password)


def status_part() -> tuple[str, bool, str]:
    """Return the hub's part of ``mi status``."""
    from marketintel.hub import process

    ok, text = process.describe(process.read_state())
    return "hub", ok, text
