"""The ``mi`` command.

Each area adds its subcommands through a ``register(subparsers)`` function listed in :data:`COMMANDS`, so
later issues extend the CLI without touching the others.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from marketintel import __version__, config
from marketintel.exceptions import MarketIntelError

Handler = Callable[[argparse.Namespace], int]


def _add_store_location(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--path", type=Path, default=None, help="the store's data directory (default: $MI_DATA_DIR/store)"
    )


def _add_serve_options(p: argparse.ArgumentParser) -> None:
    _add_store_location(p)
    p.add_argument(
        "--host", default=None, help="interface to listen on (default: MI_STORE_HOST or 127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=None, help="port (default: MI_STORE_PORT or 18123)")
    p.add_argument("--users", type=Path, default=None, help="users file (default: MI_STORE_USERS_FILE)")
    p.add_argument("--max-request-bytes", type=int, default=None, help="largest request body [bytes]")
    p.add_argument("--max-query-bytes", type=int, default=None, help="largest query text [bytes]")
    p.add_argument("--max-concurrent-queries", type=int, default=None, help="requests executed at once")
    p.add_argument("--shutdown-grace", type=float, default=None, help="seconds SIGTERM waits for requests")
    p.add_argument(
        "--min-free-disk-mb",
        type=int,
        default=None,
        help="free disk space to keep [MiB]: inserts that would go below it are refused (default 1024)",
    )
    p.add_argument(
        "--query-log-ttl-days",
        type=int,
        default=None,
        help="days the query log (system.query_log through the endpoint) keeps a row; 0: no query log",
    )


def _serve_extra_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for flag in (
        "users",
        "max_request_bytes",
        "max_query_bytes",
        "max_concurrent_queries",
        "shutdown_grace",
        "query_log_ttl_days",
        "min_free_disk_mb",
    ):
        value = getattr(args, flag)
        if value is not None:
            out += ["--" + flag.replace("_", "-"), str(value)]
    return out


def _store_path(args: argparse.Namespace) -> Path:
    return Path(args.path).expanduser().resolve() if args.path else config.store_dir()


def cmd_version(_args: argparse.Namespace) -> int:
    """Print the versions of the platform and its engine libraries."""
    from importlib.metadata import version

    print(f"marketintel {__version__}")
    for dist in ("chdb", "chdb-core", "clickhouse-connect", "pandas", "numpy", "pyarrow"):
        try:
            print(f"  {dist} {version(dist)}")
        except Exception:
            print(f"  {dist} (not installed)")
    print(f"  python {sys.version.split()[0]}")
    return 0


def cmd_store_serve(args: argparse.Namespace) -> int:
    """Run the embedded store in the foreground until SIGTERM / Ctrl-C."""
    from marketintel.store.endpoint.auth import Users
    from marketintel.store.endpoint.process import serve
    from marketintel.store.endpoint.server import Limits

    logging.basicConfig(
        level=os.environ.get("MI_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    defaults = Limits()
    limits = Limits(
        max_request_bytes=args.max_request_bytes or defaults.max_request_bytes,
        max_query_bytes=args.max_query_bytes or defaults.max_query_bytes,
        max_concurrent_queries=args.max_concurrent_queries or defaults.max_concurrent_queries,
        shutdown_grace_s=args.shutdown_grace
        if args.shutdown_grace is not None
        else defaults.shutdown_grace_s,
        min_free_disk_bytes=(args.min_free_disk_mb << 20)
        if args.min_free_disk_mb is not None
        else defaults.min_free_disk_bytes,
        query_log_ttl_days=args.query_log_ttl_days
        if args.query_log_ttl_days is not None
        else defaults.query_log_ttl_days,
    )
    users = Users.load(args.users or config.store_users_file())
    return serve(
        _store_path(args),
        args.host or config.store_host(),
        args.port if args.port is not None else config.store_port(),
        users,
        limits,
    )


def cmd_store_start(args: argparse.Namespace) -> int:
    """Start the embedded store in the background (no-op when it already runs)."""
    from marketintel.store.endpoint.process import start_background

    path = _store_path(args)
    state = start_background(
        path,
        args.host or config.store_host(),
        args.port if args.port is not None else config.store_port(),
        _serve_extra_args(args),
    )
    print(
        f"store: {state.url} (pid {state.pid}, data {state.path}, log {Path(state.path) / 'mi-endpoint.log'})"
    )
    return 0


def cmd_store_stop(args: argparse.Namespace) -> int:
    """Stop the embedded store cleanly (SIGTERM: running requests finish first)."""
    from marketintel.exceptions import StoreNotRunningError
    from marketintel.store.endpoint.process import stop

    try:
        state = stop(_store_path(args), args.timeout)
    except StoreNotRunningError as exc:
        print(f"{exc}: nothing to stop")
        return 0
    print(f"stopped the store at {state.url} (pid {state.pid})")
    return 0


def _disk_text(path: Path, reserve: int) -> str:
    """Return the free disk space of ``path`` against the store's insert reserve [bytes], with a warning."""
    import shutil

    usage = shutil.disk_usage(path)
    warn = ""
    if reserve and usage.free < 2 * reserve:
        warn = (
            f"  WARNING: below twice the insert reserve ({reserve / 2**30:.1f} GiB); inserts are refused "
            "under the reserve"
        )
    return (
        f"{usage.free / 2**30:,.1f} GiB free of {usage.total / 2**30:,.1f} GiB "
        f"(insert reserve {reserve / 2**30:.1f} GiB){warn}"
    )


def cmd_store_status(args: argparse.Namespace) -> int:
    """Say whether the store runs, where, and what it holds; exit 1 when it is not running."""
    from marketintel.store.endpoint.process import ping, read_state

    path = _store_path(args)
    state = read_state(path)
    if state is None:
        print(f"store: not running for {path}. Start it with `mi store start` or `mi store serve`.")
        return 1
    up = ping(state.url)
    print(
        f"store: {'running' if up else 'NOT ANSWERING'} at {state.url} "
        f"(pid {state.pid}, chDB {state.engine_version})"
    )
    print(f"  data directory: {state.path}")
    print(f"  disk: {_disk_text(Path(state.path), state.min_free_disk_bytes)}")
    if up:
        from marketintel.config import ClickHouseURL
        from marketintel.store.client import connect

        url = ClickHouseURL(
            "http", state.host, state.port, args.user or "default", args.password or "", "default"
        )
        try:
            client = connect(url)
            rows = client.query(
                "SELECT database, name, total_rows, total_bytes FROM system.tables "
                "WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') "
                "ORDER BY database, name"
            ).result_rows
        except Exception as exc:  # e.g. the users file requires a password: say so, do not crash
            print(f"  tables: cannot list them as {url.username!r}: {str(exc).splitlines()[0][:200]}")
            print("  (pass --user/--password of a user of the store)")
            return 0
        print(f"  tables: {len(rows)}")
        for db, name, nrows, nbytes in rows:
            print(f"    {db}.{name}: {nrows or 0:,} rows, {(nbytes or 0) / 1e6:,.1f} MB")
    return 0 if up else 1


def cmd_store_migrate(args: argparse.Namespace) -> int:
    """Create or update the platform's tables in ``MI_CLICKHOUSE_URL``."""
    from marketintel.store import connect, migrate

    report = migrate(connect(), cluster=args.cluster or config.store_cluster())
    print(report)
    return 0


def cmd_store_schema(args: argparse.Namespace) -> int:
    """Print the schema as DDL (single node or cluster) or as Markdown docs, from the table specs."""
    from marketintel.store import TABLES
    from marketintel.store.schema import create_database_sql, create_table_sql, docs_markdown

    specs = list(TABLES.values())
    if args.docs:
        print(docs_markdown(specs))
        return 0
    cluster = args.cluster or config.store_cluster()
    statements = [create_database_sql(args.database, cluster)]
    for spec in specs:
        statements += create_table_sql(spec, args.database, cluster)
    print(";\n\n".join(statements) + ";")
    return 0


def cmd_store_compact(args: argparse.Namespace) -> int:
    """Compact quiet partitions (one part each), so FINAL reads stop merging at query time."""
    from marketintel.store import TABLES, connect
    from marketintel.store.maintenance import compact

    tables = args.tables or [name for name, spec in TABLES.items() if spec.engine == "ReplacingMergeTree"]
    done = compact(connect(), tables, quiet_minutes=args.quiet_minutes, dry_run=args.dry_run)
    verb = "would compact" if args.dry_run else "compacted"
    for st in done:
        print(f"{verb} {st.table} partition {st.partition}: {st.parts} parts, {st.rows:,} rows")
    print(f"{verb} {len(done)} partition(s) of {len(tables)} table(s)")
    return 0


def cmd_store_user(args: argparse.Namespace) -> int:
    """Add or replace a user of the embedded store (the password is stored as its SHA-256)."""
    from marketintel.store.endpoint.auth import write_user

    path = args.users or config.store_users_file()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
    groups = None if args.group is None else tuple(g for g in args.group if g)
    write_user(
        path,
        args.name,
        args.role,
        password,
        tuple(args.insert_into or ()),
        groups=groups,
        impersonate=args.impersonate,
    )
    grant = f", may insert into {', '.join(args.insert_into)}" if args.insert_into else ""
    if groups is not None:
        grant += f", entitled by groups: {', '.join(groups) or '(none: sees no fact table)'}"
    if args.impersonate:
        grant += ", may act for other users (execute_as)"
    print(f"user {args.name} ({args.role}{grant}) written to {path}; a running store applies it at once")
    return 0


def cmd_store_user_list(args: argparse.Namespace) -> int:
    """List the embedded store's users: role, whether they have a password, insert grants."""
    from marketintel.store.endpoint.auth import Users

    path = args.users or config.store_users_file()
    users = Users.load(path)
    if users.source is None:
        print(f"no users file at {path}: the store's default user has full access without a password")
    print(f"{'user':<24} {'role':<8} {'password':<9} {'insert_into':<16} groups (entitled)")
    for user in sorted(users.users.values(), key=lambda u: u.name):
        pw = "yes" if user.password_sha256_hex else "no"
        groups = "- (every row)" if user.groups is None else ", ".join(user.groups) or "(none)"
        if user.impersonate:
            groups += "  [may act for users]"
        print(f"{user.name:<24} {user.role:<8} {pw:<9} {', '.join(user.insert_into) or '-':<16} {groups}")
    return 0


def cmd_store_sql(args: argparse.Namespace) -> int:
    """Run one SQL statement against ``MI_CLICKHOUSE_URL`` and print the result."""
    from marketintel.store import connect

    client = connect()
    result = client.raw_query(args.query, fmt=args.format)
    sys.stdout.write(result.decode() if isinstance(result, bytes) else str(result))
    return 0


def register_store(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi store ...``."""
    store = sub.add_parser("store", help="the ClickHouse store (embedded chDB endpoint by default)")
    ssub = store.add_subparsers(dest="store_command", required=True, metavar="COMMAND")
    p = ssub.add_parser(
        "serve", help="serve the ClickHouse HTTP interface over a chDB directory (foreground)"
    )
    _add_serve_options(p)
    p.set_defaults(func=cmd_store_serve)
    p = ssub.add_parser("start", help="start `store serve` in the background and wait until it answers")
    _add_serve_options(p)
    p.set_defaults(func=cmd_store_start)
    p = ssub.add_parser("stop", help="stop the store cleanly (acknowledged inserts are kept)")
    _add_store_location(p)
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for it to exit")
    p.set_defaults(func=cmd_store_stop)
    p = ssub.add_parser("status", help="is the store running, where, and what it holds")
    _add_store_location(p)
    p.add_argument("--user", default=None, help="user to query as (default: default)")
    p.add_argument("--password", default=None, help="its password")
    p.set_defaults(func=cmd_store_status)
    p = ssub.add_parser("migrate", help="create or update the platform's tables")
    p.add_argument("--cluster", default=None, help="emit ON CLUSTER DDL for this cluster")
    p.set_defaults(func=cmd_store_migrate)
    p = ssub.add_parser("schema", help="print the tables' DDL (or Markdown docs) from the schema specs")
    p.add_argument("--cluster", default=None, help="ON CLUSTER DDL with Replicated and Distributed tables")
    p.add_argument("--database", default="default", help="database name in the DDL")
    p.add_argument("--docs", action="store_true", help="Markdown: every table and column with type and unit")
    p.set_defaults(func=cmd_store_schema)
    p = ssub.add_parser("compact", help="merge each quiet partition into one part (faster FINAL reads)")
    p.add_argument("tables", nargs="*", help="tables (default: every ReplacingMergeTree table of the schema)")
    p.add_argument("--quiet-minutes", type=float, default=60.0, help="skip partitions written more recently")
    p.add_argument("--dry-run", action="store_true", help="only list what would be compacted")
    p.set_defaults(func=cmd_store_compact)
    p = ssub.add_parser("sql", help="run one SQL statement and print the result")
    p.add_argument("query")
    p.add_argument("--format", default="PrettyCompact", help="ClickHouse output format")
    p.set_defaults(func=cmd_store_sql)
    user = ssub.add_parser("user", help="manage the embedded store's users")
    usub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    p = usub.add_parser("set", help="add or replace a user")
    p.add_argument("name")
    p.add_argument("--role", choices=("admin", "writer", "reader"), required=True)
    p.add_argument("--users", type=Path, default=None, help="users file (default: MI_STORE_USERS_FILE)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument(
        "--insert-into",
        nargs="+",
        metavar="TABLE",
        default=None,
        help="let a reader also run plain inserts into these tables (nothing else)",
    )
    p.add_argument(
        "--group",
        action="append",
        default=None,
        metavar="GROUP",
        help="a group of the user (repeat): the user then sees only what the groups' rules open "
        "(`mi access`); --group '' for none. Without --group: a service account that sees every row",
    )
    p.add_argument(
        "--impersonate",
        action="store_true",
        help="let the user run queries as another user (URL parameter execute_as; for services)",
    )
    p.set_defaults(func=cmd_store_user)
    p = usub.add_parser("list", help="list the users: role, password set, insert grants")
    p.add_argument("--users", type=Path, default=None, help="users file (default: MI_STORE_USERS_FILE)")
    p.set_defaults(func=cmd_store_user_list)


def cmd_connectors_list(_args: argparse.Namespace) -> int:
    """List the installed connectors and their datasets, then the catalogues of markets without one."""
    from importlib.metadata import entry_points

    from marketintel.ingest import registry

    names = registry.names()
    if not names:
        print("no connectors installed (they register as entry points in the 'marketintel.connectors' group)")
        return 0
    for name in names:
        catalog = registry.load(name)().discover()
        verified = sum(ds.verified for ds in catalog.datasets)
        print(
            f"{name}: {verified} of {len(catalog.datasets)} datasets verified on recordings; at most one "
            f"request per {catalog.rate_limit_s:g} s"
        )
        for ds in catalog.datasets:
            check = "verified against a recording" if ds.verified else "NOT verified (documented format only)"
            when = f" published {ds.publication}" if ds.publication else ""
            print(f"  {ds.name:<32} -> {ds.table:<12} every {ds.cadence:<6} {ds.timezone:<20} {check}{when}")
    # catalogues of markets without a verified connector (group ``marketintel.catalogues``: a function
    # returning lines), e.g. the emerging markets of ``marketintel.connectors.emerging``
    for ep in sorted(entry_points(group="marketintel.catalogues"), key=lambda e: e.name):
        print(f"\n{ep.name} markets (no recording here):")
        for line in ep.load()():
            print(f"  {line}")
    return 0


def cmd_connectors_parse(args: argparse.Namespace) -> int:
    """Map a saved payload to canonical rows (and write them to --out)."""
    import pandas as pd

    from marketintel.ingest import registry
    from marketintel.ingest.sdk import RawPayload

    ingestor = registry.load(args.source)()
    body = Path(args.file).read_bytes()
    dataset = args.dataset or ingestor.detect_dataset(Path(args.file).name, body)
    raw = RawPayload(
        args.source, dataset, Path(args.file).resolve().as_uri(), body, pd.Timestamp.now(tz="UTC")
    )
    frame = ingestor.map_to_schema(raw)
    print(f"{args.source}/{dataset}: {len(frame):,} rows from {args.file}")
    if args.out:
        out = Path(args.out)
        if out.suffix == ".parquet":
            frame.to_parquet(out, index=False)
        elif out.suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            raise MarketIntelError(f"--out must end in .parquet or .csv, got {out.name!r}")
        print(f"written to {out}")
    else:
        print(frame.head(10).to_string(index=False))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest a window of one dataset into the store (resumes from its checkpoint); exit 1 on quarantine."""
    from marketintel.services.ingest import follow_dataset, ingest_window

    replay = Path(args.replay) if args.replay else None
    if args.follow:
        report = follow_dataset(
            args.source, args.dataset, args.start, args.end, replay=replay, speed=args.speed, on_report=print
        )
    else:
        report = ingest_window(args.source, args.dataset, args.start, args.end, replay=replay, progress=print)
    print(report)
    return 1 if report.quarantined else 0


def register_connectors(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi connectors ...`` and ``mi ingest``."""
    conn = sub.add_parser("connectors", help="the installed data-source connectors")
    csub = conn.add_subparsers(dest="connectors_command", required=True, metavar="COMMAND")
    p = csub.add_parser("list", help="sources, datasets, cadence, time zone, verified or not")
    p.set_defaults(func=cmd_connectors_list)
    p = csub.add_parser("parse", help="map a saved payload to canonical rows")
    p.add_argument("source")
    p.add_argument("file")
    p.add_argument("--dataset", default=None, help="dataset (default: detected from the file)")
    p.add_argument("--out", default=None, help="write the rows to OUT.parquet or OUT.csv")
    p.set_defaults(func=cmd_connectors_parse)
    p = sub.add_parser("ingest", help="ingest a window of one dataset into the store")
    p.add_argument("source")
    p.add_argument("dataset")
    p.add_argument("--start", required=True, help="window start, UTC date or time")
    p.add_argument("--end", required=True, help="window end (exclusive), UTC date or time")
    p.add_argument(
        "--follow", action="store_true", help="follow at the publication cadence from --start until --end"
    )
    p.add_argument(
        "--speed", type=float, default=60.0, help="with --replay --follow: simulated seconds per second"
    )
    p.add_argument("--replay", default=None, help="serve responses from this recordings folder")
    p.set_defaults(func=cmd_ingest)


def register_curves(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi curves ...``."""
    from marketintel.curves.cli import register_curves as register

    register(sub)


def register_scenarios(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi scenario ...``."""
    from marketintel.scenarios.cli import register_scenarios as register

    register(sub)


def register_backtest(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi backtest ...``."""
    from marketintel.backtest.cli import register_backtest as register

    register(sub)


class PartStatus(NamedTuple):
    """One part of the platform in ``mi status``: its name, whether it is up, and what to know about it."""

    part: str
    ok: bool
    text: str


#: entry-point group of the parts above the library (the Prefect server, the flow runner, later the hub): each
#: entry point names a callable returning a list of (part, up?, text) tuples for ``mi status``
STATUS_GROUP = "marketintel.status"
#: entry-point group of the same parts for ``mi stop``: each names a callable that stops its parts (in the
#: order they must stop) and returns a list of lines saying what it did
STOP_GROUP = "marketintel.stop"


def store_status_part() -> PartStatus:
    """Return the store's part of ``mi status``: running?, address, pid, data directory, free disk, log."""
    from marketintel.store.endpoint.process import LOG_FILE, ping, read_state

    url = config.clickhouse_url()
    if not url.is_local_default:
        up = ping(f"{url.scheme}://{url.host}:{url.port}")
        return PartStatus(
            "store", up, f"{url.redacted()} (MI_CLICKHOUSE_URL), {'answers' if up else 'NOT answering'}"
        )
    path = config.store_dir()
    state = read_state(path)
    if state is None:
        return PartStatus("store", False, f"not running for {path} (mi store start)")
    up = ping(state.url)
    disk = _disk_text(Path(state.path), state.min_free_disk_bytes)
    return PartStatus(
        "store",
        up,
        f"{state.url} {'running' if up else 'NOT ANSWERING'} (pid {state.pid}, chDB {state.engine_version}); "
        f"data {state.path}\n{disk}; log {Path(state.path) / LOG_FILE}",
    )


def _plugins(group: str) -> list[tuple[str, Callable[[], list[Any]] | Exception]]:
    """Return the callables of an entry-point group, sorted by name (a load error in place of one)."""
    from importlib.metadata import entry_points

    out: list[tuple[str, Callable[[], list[Any]] | Exception]] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            out.append((ep.name, ep.load()))
        except Exception as exc:  # a broken plugin is reported as such, the other parts still are
            out.append((ep.name, exc))
    return out


def platform_status() -> list[PartStatus]:
    """Return every part's status: the store, then each :data:`STATUS_GROUP` entry point's parts."""
    parts = [store_status_part()]
    for name, func in _plugins(STATUS_GROUP):
        if isinstance(func, Exception):
            parts.append(PartStatus(name, False, f"cannot load its status: {func}"))
            continue
        try:
            parts += [PartStatus(str(p), bool(ok), str(text)) for p, ok, text in func()]
        except Exception as exc:  # one part's failure to answer is that part's status
            parts.append(PartStatus(name, False, f"cannot check: {type(exc).__name__}: {exc}"))
    from marketintel.hub.cli import status_part

    parts.append(PartStatus(*status_part()))
    return parts


def cmd_status(_args: argparse.Namespace) -> int:
    """Print every part of the platform (store, Prefect, flow runner, ...); exit 1 unless every one is up."""
    source = config.data_dir_source()[1]
    print(f"data directory: {config.data_dir()}  (from {source})")
    parts = platform_status()
    for part in parts:
        lines = part.text.splitlines() or [""]
        print(f"{part.part:<12} {'up' if part.ok else 'DOWN':<5} {lines[0]}")
        for line in lines[1:]:
            print(f"{'':<18} {line}")
    return 0 if all(p.ok for p in parts) else 1


def cmd_stop(_args: argparse.Namespace) -> int:
    """Stop every part: each :data:`STOP_GROUP` entry point's (the flow runner, Prefect), then the store."""
    from marketintel.exceptions import StoreNotRunningError
    from marketintel.hub import process as hub
    from marketintel.store.endpoint.process import stop

    failed = False
    stopped_hub = hub.down()
    print(f"hub stopped (pid {stopped_hub.pid})" if stopped_hub else "hub: not running", flush=True)
    for name, func in _plugins(STOP_GROUP):
        try:
            if isinstance(func, Exception):
                raise func
            for line in func():
                print(line, flush=True)
        except Exception as exc:  # stop what can be stopped; say what could not
            print(f"{name}: cannot stop: {type(exc).__name__}: {exc}", flush=True)
            failed = True
    if not config.clickhouse_url().is_local_default:
        print("store: MI_CLICKHOUSE_URL names an external server; not stopped")
        return 1 if failed else 0
    try:
        state = stop(config.store_dir())
    except StoreNotRunningError:
        print("store: not running")
    except MarketIntelError as exc:
        print(f"store: cannot stop: {exc}")
        failed = True
    else:
        print(f"store stopped (pid {state.pid})")
    return 1 if failed else 0


def register_hub(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi hub ...`` (:mod:`marketintel.hub.cli`)."""
    from marketintel.hub.cli import register

    register(sub)


def register_access(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi access ...`` (:mod:`marketintel.access.cli`)."""
    from marketintel.access.cli import register

    register(sub)


def register_platform(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``mi status`` and ``mi stop`` (every part: the store here, the others through entry points)."""
    p = sub.add_parser(
        "status", help="every part: store, Prefect server, flow runner, hub (exit 1 unless every one is up)"
    )
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "stop", help="stop every part: the hub, the flow runner, the Prefect server, then the store"
    )
    p.set_defaults(func=cmd_stop)


#: every library area's registration function, in help order
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [  # type: ignore[type-arg]
    register_store,
    register_connectors,
    register_curves,
    register_scenarios,
    register_backtest,
    register_platform,
    register_hub,
    register_access,
]

#: entry-point group of the areas above the library (flows, the demo, later the hub): each entry point names
#: a ``register(subparsers)`` function, so the library never imports them
CLI_GROUP = "marketintel.cli"


def _register_plugins(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the subcommands registered in the :data:`CLI_GROUP` entry-point group (sorted by name)."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=CLI_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            logging.getLogger("marketintel.cli").warning(
                "mi: cannot load %s (%s): %s", ep.name, ep.value, exc
            )
            continue
        register(sub)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``mi`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="mi",
        description="Market intelligence for power, gas and carbon markets.",
        epilog="Settings come from MI_* environment variables; see the README.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("version", help="print versions")
    p.set_defaults(func=cmd_version)
    for register in COMMANDS:
        register(sub)
    _register_plugins(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mi``; domain errors print their message and exit with status 2."""
    args = build_parser().parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except MarketIntelError as exc:
        print(f"mi: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
