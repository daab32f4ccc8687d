"""Users of the embedded store.

With no users file, the store behaves like a fresh ClickHouse server on loopback: the ``default`` user has
full access without a password. A users file (TOML) defines users with roles and SHA-256 password hashes
(as ClickHouse's ``password_sha256_hex``)::

    [users.default]
    password_sha256_hex = "..."   # omit for no password (allowed on loopback only)
    role = "admin"                # admin: everything

    [users.flows]
    password_sha256_hex = "..."
    role = "writer"               # reads, inserts, SET/USE, OPTIMIZE; no DDL

    [users.dashboard]
    password_sha256_hex = "..."
    role = "reader"               # reads only; writes and DDL are refused (ClickHouse readonly=2)

    [users.dashboards-acks]
    password_sha256_hex = "..."
    role = "reader"
    insert_into = ["alert_acks"]  # and plain inserts into these tables (any database), nothing else

    [users.alice]
    password_sha256_hex = "..."
    role = "reader"
    groups = ["quants", "pilot"]  # entitled: sees what these groups' rules open (marketintel.access)

    [users.dashboards]
    password_sha256_hex = "..."
    role = "reader"
    impersonate = true            # may run a query as another user (URL parameter execute_as=NAME)

A user with ``groups`` is *entitled*: the store shows them only the rows their groups' rules open
(:mod:`marketintel.access.policy`), unless one of the groups is ``admins`` or the role is ``admin``. A user
without ``groups`` is a service account and sees every row its role may read. A user with ``impersonate``
may send ``execute_as=NAME``: the query then runs with NAME's entitlement (and the caller's role), and the
query log names NAME; this is the endpoint's counterpart of ClickHouse's ``EXECUTE AS`` with the
``IMPERSONATE`` grant.

A reader's ``insert_into`` grant allows exactly ``INSERT INTO [db.]table [(columns)] [SETTINGS ...]
FORMAT fmt`` / ``VALUES`` with the data inline or in the request body (what clickhouse-connect sends), into
a listed table; ``INSERT ... SELECT``, ``INSERT INTO FUNCTION``, other tables and everything else a reader
may not run stay refused. Such an insert runs on a writable connection with the reader's limits, and the
Values format does not evaluate expressions there (``input_format_values_interpret_expressions = 0``).

``mi store user set NAME --role ROLE [--insert-into TABLE ...]`` writes such entries. When the endpoint
listens beyond loopback, every user must have a password, or it refuses to start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from marketintel.exceptions import ConfigError
from marketintel.store.endpoint.errors import ClickHouseError
from marketintel.store.endpoint.limits import RoleLimits, role_limits
from marketintel.store.endpoint.sqltext import Kind, insert_target

ROLES = ("admin", "writer", "reader")
#: statement kinds each role may run
ALLOWED: dict[str, frozenset[Kind]] = {
    "admin": frozenset(Kind),
    "writer": frozenset({Kind.READ, Kind.INSERT, Kind.SESSION, Kind.WRITE}),
    # readers run on read-only engine connections (readonly=2), which also refuse what the lexer cannot name
    "reader": frozenset({Kind.READ, Kind.SESSION, Kind.UNKNOWN}),
}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: settings a granted insert runs with (and may not change): Values data stays data, never expressions
GRANTED_INSERT_SETTINGS = {
    "input_format_values_interpret_expressions": "0",
    "input_format_values_deduce_templates_of_expressions": "0",
}


@dataclass(frozen=True)
class User:
    """A store user: name, role and password hash (empty: no password)."""

    name: str
    role: str
    password_sha256_hex: str = ""
    #: tables a reader may also insert into (plain inserts of inline data only; see the module docstring)
    insert_into: tuple[str, ...] = ()
    #: the user's groups (entitled user); None: a service account that sees every row its role may read
    groups: tuple[str, ...] | None = None
    #: may run queries as another user (``execute_as``)
    impersonate: bool = False
    #: who authenticated, when this user is acting for another (``execute_as``); '' otherwise
    caller: str = ""

    @property
    def entitled(self) -> bool:
        """Whether the store filters this user's rows by their groups' entitlement rules."""
        return self.groups is not None and self.role != "admin" and "admins" not in self.groups

    def check_password(self, password: str) -> bool:
        """Whether ``password`` is this user's password (constant-time comparison)."""
        if not self.password_sha256_hex:
            return password == ""
        digest = hashlib.sha256(password.encode()).hexdigest()
        return hmac.compare_digest(digest, self.password_sha256_hex.lower())

    def authorize(self, kind: Kind) -> None:
        """Raise READONLY / ACCESS_DENIED if the role may not run a statement of this kind."""
        if kind in ALLOWED[self.role]:
            return
        if self.role == "reader":
            raise ClickHouseError.named("READONLY", f"{self.name}: Cannot execute query in readonly mode")
        raise ClickHouseError.named(
            "ACCESS_DENIED",
            f"{self.name}: Not enough privileges. Role '{self.role}' may not run {kind.value.upper()} "
            "statements; use a user with role 'admin'",
        )

    def granted_insert(self, kind: Kind, statement: str, inline_data: bool) -> bool:
        """Whether this statement runs only through the user's ``insert_into`` grant; raise if it may not run.

        Parameters
        ----------
        kind : Kind
            The statement's kind.
        statement : str
            The statement; for an INSERT with data, without its ``FORMAT name`` / ``VALUES`` and data.
        inline_data : bool
            Whether the INSERT's data follows the statement (``FORMAT`` / ``VALUES``), rather than a
            ``SELECT``.

        Returns
        -------
        bool
            False when the role itself allows the statement; True for an INSERT the grant allows (it must
            run on a writable connection).

        Raises
        ------
        ClickHouseError
            READONLY / ACCESS_DENIED as :meth:`authorize`; ACCESS_DENIED naming the granted tables for an
            INSERT the grant does not cover.
        """
        if kind is not Kind.INSERT or kind in ALLOWED[self.role] or not self.insert_into:
            self.authorize(kind)
            return False
        allowed = ", ".join(self.insert_into)
        target = insert_target(statement) if inline_data else None
        if target is None:
            raise ClickHouseError.named(
                "ACCESS_DENIED",
                f"{self.name}: Not enough privileges. Role '{self.role}' may only run plain INSERT INTO "
                f"<table> [(columns)] FORMAT <format> / VALUES with the data inline, into: {allowed} "
                "(no INSERT ... SELECT, INSERT INTO FUNCTION or other clauses)",
            )
        if target.table not in self.insert_into:
            where = f"{target.database}.{target.table}" if target.database else target.table
            raise ClickHouseError.named(
                "ACCESS_DENIED",
                f"{self.name}: Not enough privileges. To execute this query, it's necessary to have the "
                f"grant INSERT ON {where}; role '{self.role}' may insert only into: {allowed}",
            )
        locked = sorted(set(target.settings) & set(GRANTED_INSERT_SETTINGS))
        if locked:
            raise ClickHouseError.named(
                "READONLY", f"{self.name}: Cannot modify '{locked[0]}' setting in readonly mode"
            )
        return True


_log = logging.getLogger("marketintel.store.endpoint")


def _stamp(path: Path | None) -> tuple[int, int] | None:
    """Return (mtime [ns], size [bytes]) of ``path``, or None when it is absent."""
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class Users:
    """The users of one endpoint."""

    def __init__(
        self, users: dict[str, User], source: Path | None, limits: dict[str, RoleLimits] | None = None
    ) -> None:
        self.users = users
        self.source = source
        #: each role's limits (defaults, overridden by the file's ``[limits.ROLE]`` tables)
        self.limits = limits or role_limits(None)
        #: the file these users were read from or will be (set by :meth:`load`), and its stamp then
        self.watched: Path | None = source
        self._stamp = _stamp(source)

    def reloaded(self) -> Users:
        """Return these users, or the watched file's users if it changed since they were read.

        A running store calls this per request, so users added, removed or given a new password take
        effect at the next request (a ``stat`` of the file; ClickHouse reloads ``users.xml`` the same way).
        Role limits keep the values read at start: the engine's settings are fixed then. A file that no
        longer parses is logged and ignored, so a bad edit does not lock everybody out.
        """
        if self.watched is None or _stamp(self.watched) == self._stamp:
            return self
        try:
            fresh = Users.load(self.watched)
        except ConfigError as exc:
            _log.error("users file changed but cannot be read, keeping the previous users: %s", exc)
            self._stamp = _stamp(self.watched)
            return self
        fresh.limits = self.limits
        _log.info("users file %s changed: users %s", self.watched, ", ".join(sorted(fresh.users)))
        return fresh

    @classmethod
    def default(cls) -> Users:
        """Return the configuration of a fresh ClickHouse server: ``default`` without a password."""
        return cls({"default": User("default", "admin")}, None)

    @classmethod
    def load(cls, path: Path | None) -> Users:
        """Read a users file; a missing file means the default configuration.

        Raises
        ------
        ConfigError
            If the file is not valid TOML or names an unknown role.
        """
        if path is None or not path.exists():
            fresh = cls.default()
            fresh.watched = path
            return fresh
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"users file {path} is not valid TOML: {exc}") from None
        users: dict[str, User] = {}
        for name, entry in (data.get("users") or {}).items():
            role = entry.get("role", "reader")
            if role not in ROLES:
                raise ConfigError(
                    f"users file {path}: user {name!r} has role {role!r}; expected one of {ROLES}"
                )
            pw = str(entry.get("password_sha256_hex", ""))
            if pw and (len(pw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in pw)):
                raise ConfigError(
                    f"users file {path}: user {name!r} password_sha256_hex must be 64 hex digits"
                )
            grant = entry.get("insert_into", [])
            if not isinstance(grant, list) or not all(isinstance(t, str) and t for t in grant):
                raise ConfigError(
                    f"users file {path}: user {name!r} insert_into must be a list of table names"
                )
            if grant and role != "reader":
                raise ConfigError(
                    f"users file {path}: user {name!r} has insert_into but role {role!r}; the grant "
                    "widens a reader only (a writer inserts anywhere already)"
                )
            groups = entry.get("groups")
            if groups is not None and (
                not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups)
            ):
                raise ConfigError(f"users file {path}: user {name!r} groups must be a list of group names")
            impersonate = entry.get("impersonate", False)
            if not isinstance(impersonate, bool):
                raise ConfigError(f"users file {path}: user {name!r} impersonate must be true or false")
            users[name] = User(
                name, role, pw, tuple(grant), tuple(groups) if groups is not None else None, impersonate
            )
        if not users:
            raise ConfigError(f"users file {path} defines no [users.NAME] table")
        try:
            limits = role_limits(data.get("limits"))
        except ConfigError as exc:
            raise ConfigError(f"users file {path}: {exc}") from None
        return cls(users, path, limits)

    def check_exposure(self, host: str) -> None:
        """Refuse passwordless users when listening beyond loopback.

        Raises
        ------
        ConfigError
            If ``host`` is not a loopback address and some user has no password.
        """
        if host in LOOPBACK:
            return
        open_users = sorted(u.name for u in self.users.values() if not u.password_sha256_hex)
        if open_users:
            raise ConfigError(
                f"refusing to listen on {host}: users {open_users} have no password. Set passwords with "
                "`mi store user set NAME --role ROLE` (users file: MI_STORE_USERS_FILE), "
                "or listen on 127.0.0.1"
            )

    def authenticate(self, name: str | None, password: str | None) -> User:
        """Return the user for these credentials.

        Raises
        ------
        ClickHouseError
            REQUIRED_PASSWORD or AUTHENTICATION_FAILED, with ClickHouse's wording.
        """
        name = name or "default"
        user = self.users.get(name)
        if user is not None and user.password_sha256_hex and password is None:
            raise ClickHouseError.named("REQUIRED_PASSWORD", f"{name}: Password required for user {name}")
        if user is None or not user.check_password(password or ""):
            raise ClickHouseError.named(
                "AUTHENTICATION_FAILED",
                f"{name}: Authentication failed: password is incorrect, or there is no user with such name",
            )
        return user


def credentials(headers: dict[str, str], params: dict[str, str]) -> tuple[str | None, str | None]:
    """Extract (user, password) from a request the ways ClickHouse accepts them.

    ``Authorization: Basic``, ``X-ClickHouse-User`` / ``X-ClickHouse-Key`` headers, or ``user`` /
    ``password`` URL parameters.
    """
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except ValueError:
            raise ClickHouseError.named(
                "AUTHENTICATION_FAILED", "Malformed Basic authorization header"
            ) from None
        return user, password
    if "x-clickhouse-user" in headers:
        return headers["x-clickhouse-user"], headers.get("x-clickhouse-key")
    if "user" in params:
        return params["user"], params.get("password")
    return None, params.get("password")


def _write_users_file(
    path: Path, users: dict[str, dict[str, object]], limits: dict[str, dict[str, object]]
) -> None:
    """Write a users file (mode 0600, replaced atomically so a running store never reads half a file)."""
    lines = ["# Users of the embedded ClickHouse store (written by `mi store user set` / `mi hub user`).", ""]
    for uname, entry in users.items():
        lines.append(f"[users.{uname}]")
        lines.append(f'role = "{entry.get("role", "reader")}"')
        if entry.get("password_sha256_hex"):
            lines.append(f'password_sha256_hex = "{entry["password_sha256_hex"]}"')
        if entry.get("insert_into"):
            lines.append(f"insert_into = {json.dumps(list(entry['insert_into']))}")  # type: ignore[call-overload]
        if entry.get("groups") is not None:
            lines.append(f"groups = {json.dumps(list(entry['groups']))}")  # type: ignore[call-overload]
        if entry.get("impersonate"):
            lines.append("impersonate = true")
        lines.append("")
    for role, settings in limits.items():
        lines.append(f"[limits.{role}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines))
    tmp.chmod(0o600)
    tmp.replace(path)


def _read_users_file(path: Path) -> tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]:
    if not path.exists():
        return {}, {}
    data = tomllib.loads(path.read_text())
    return dict(data.get("users") or {}), dict(data.get("limits") or {})


def write_user(
    path: Path,
    name: str,
    role: str,
    password: str,
    insert_into: tuple[str, ...] | list[str] = (),
    *,
    groups: tuple[str, ...] | list[str] | None = None,
    impersonate: bool = False,
) -> None:
    """Add or replace a user in a users file (created if missing), storing only the password's hash.

    ``insert_into`` grants a reader plain inserts into these tables (module docstring); empty: none.
    ``groups`` makes the user entitled (sees only what the groups' rules open); None: a service account.
    ``impersonate`` lets the user run queries as another user (``execute_as``).

    A new file starts with the ``default`` user of a fresh server (admin, no password: loopback only), as
    adding a user to ClickHouse keeps its ``default`` user; ``[limits.ROLE]`` tables are kept. A running
    store picks the change up at its next request (:meth:`Users.reloaded`).

    Raises
    ------
    ConfigError
        If the role is unknown, the name is not a plain identifier, or a role other than reader gets
        ``insert_into``.
    """
    if role not in ROLES:
        raise ConfigError(f"role must be one of {ROLES}, got {role!r}")
    if insert_into and role != "reader":
        raise ConfigError(f"insert_into widens a reader only; role {role!r} gets none")
    bad = [t for t in insert_into if not t.replace("_", "").isalnum()]
    if bad:
        raise ConfigError(f"insert_into takes table names (letters, digits, '_'), got {bad}")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"user name must be letters, digits, '_' or '-', got {name!r}")
    existing, limits = _read_users_file(path)
    if not existing and name != "default":
        existing["default"] = {"role": "admin"}
    bad_groups = [g for g in groups or () if not g.replace("_", "").replace("-", "").isalnum()]
    if bad_groups:
        raise ConfigError(f"groups are letters, digits, '_' or '-', got {bad_groups}")
    existing[name] = {"role": role, "password_sha256_hex": hashlib.sha256(password.encode()).hexdigest()}
    if insert_into:
        existing[name]["insert_into"] = list(insert_into)
    if groups is not None:
        existing[name]["groups"] = sorted(set(groups))
    if impersonate:
        existing[name]["impersonate"] = True
    _write_users_file(path, existing, limits)


def remove_user(path: Path, name: str) -> bool:
    """Remove a user from a users file; return whether it was there.

    Raises
    ------
    ConfigError
        If ``name`` is the file's last user (a users file must define one).
    """
    existing, limits = _read_users_file(path)
    if name not in existing:
        return False
    if len(existing) == 1:
        raise ConfigError(f"{name!r} is the only user of {path}; a users file must keep one")
    del existing[name]
    _write_users_file(path, existing, limits)
    return True
