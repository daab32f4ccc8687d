"""The hub's users: logins (nativeauthenticator), groups and admin flags (the Hub), store credentials.

``mi hub user ...`` talks to the running hub: groups and the admin flag go through the Hub's REST API with
the ``mi-admin`` service's token (so the Hub's admin page and these commands edit the same records), and the
password goes into nativeauthenticator's table of the Hub's database as a bcrypt hash, exactly as its own
sign-up page would store it (authorized, as an admin would). Nothing keeps a password in clear.

Every hub user gets a store user of the same name (``reader``, or ``writer`` when asked) with their groups,
so the store shows them what their groups' entitlement rules open (:mod:`marketintel.access`), and a random
password kept in ``$MI_DATA_DIR/hub/store`` (0600), which the server of a member of
:data:`~marketintel.hub.SERVER_GROUPS` carries in ``MI_CLICKHOUSE_URL``; the dashboards query as the user
through the store's ``execute_as``. With an external ClickHouse
(``MI_CLICKHOUSE_URL`` not the local default) create those users on the server and put each password in
that file.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from marketintel import config
from marketintel.exceptions import ConfigError, MarketIntelError
from marketintel.hub import GROUPS, SERVER_GROUPS, paths
from marketintel.hub.access import ADMIN_SERVICE

#: at least this many characters in a password (nativeauthenticator's ``minimum_password_length``)
MIN_PASSWORD_LENGTH = 10
#: hub names that would collide with the store's own users
RESERVED_NAMES = frozenset({"default", "flows", "dashboards", "dashboards-acks", "admin", "root"})
#: the store user the dashboards service writes alert acknowledgements with (``MI_ALERT_ACK_URL``):
#: a reader that may insert into ``alert_acks`` and ``access_rules`` only (the quality page's
#: acknowledgements, the access page's rules)
ALERT_ACKS_USER = "dashboards-acks"
ALERT_ACKS_TABLES = ("alert_acks", "access_rules")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class HubUserError(MarketIntelError):
    """A hub user command that cannot be done (bad name, group or password; hub not running)."""


@dataclass(frozen=True)
class HubUser:
    """A hub user as ``mi hub user list`` shows it."""

    name: str
    admin: bool
    groups: tuple[str, ...]
    server: bool
    has_password: bool
    store_role: str | None
    last_activity: str | None


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid hub user name, else raise :class:`HubUserError`."""
    if not _NAME.match(name):
        raise HubUserError(
            "user name must be 1-32 lowercase letters, digits, '_' or '-', starting with a letter; "
            f"got {name!r}"
        )
    if name in RESERVED_NAMES:
        raise HubUserError(f"{name!r} is reserved (a store user of the platform); pick another name")
    return name


def check_groups(groups: Iterable[str]) -> list[str]:
    """Return the groups sorted in :data:`GROUPS` order, or raise naming what was expected."""
    wanted = set(groups)
    unknown = sorted(wanted - set(GROUPS))
    if unknown:
        raise HubUserError(f"unknown groups {unknown}; expected some of {list(GROUPS)}")
    return [g for g in GROUPS if g in wanted]


@cache
def _common_passwords() -> frozenset[str]:
    import nativeauthenticator

    path = Path(nativeauthenticator.__file__).with_name("common-credentials.txt")
    return frozenset(path.read_text().splitlines()) if path.exists() else frozenset()


def check_password(password: str) -> str:
    """Return ``password`` if the hub's authenticator would accept it, else raise saying why."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise HubUserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password in _common_passwords():
        raise HubUserError("password is in the list of common passwords; pick another")
    return password


class HubAPI:
    """The running hub's REST API, as the ``mi-admin`` service."""

    def __init__(self, api_url: str, token: str, timeout_s: float = 10.0) -> None:
        self._client = httpx.Client(
            base_url=api_url.rstrip("/"), headers={"Authorization": f"token {token}"}, timeout=timeout_s
        )

    @classmethod
    def connect(cls) -> HubAPI:
        """Connect to the hub of this data directory.

        Raises
        ------
        HubUserError
            If the hub is not running.
        """
        from marketintel.hub.process import read_state

        state = read_state()
        if state is None:
            raise HubUserError(f"the hub is not running for {paths.hub_dir()}: start it with `mi hub up`")
        return cls(state.api_url, paths.secret(f"{ADMIN_SERVICE}.token"))

    def request(self, method: str, path: str, json: Any = None, ok: Sequence[int] = (200, 201, 204)) -> Any:
        """Send one request; return its JSON body (None when empty)."""
        resp = self._client.request(method, path, json=json)
        if resp.status_code not in ok:
            raise HubUserError(f"hub API {method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def close(self) -> None:
        """Close the connection."""
        self._client.close()


def _db_session(hub: Path | None = None) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    db = (hub or paths.hub_dir()) / "jupyterhub.sqlite"
    if not db.exists():
        raise HubUserError(f"no hub database at {db}: start the hub once with `mi hub up`")
    return Session(create_engine(f"sqlite:///{db}"))


def set_password(name: str, password: str) -> None:
    """Store ``name``'s password as nativeauthenticator does (bcrypt), authorized to log in."""
    import bcrypt
    from nativeauthenticator.orm import UserInfo

    hashed = bcrypt.hashpw(check_password(password).encode(), bcrypt.gensalt())
    with _db_session() as db:
        info = UserInfo.find(db, name)
        if info is None:
            db.add(UserInfo(username=name, password=hashed, is_authorized=True))
        else:
            info.password = hashed
            info.is_authorized = True
        db.commit()


def _forget_password(name: str) -> None:
    from nativeauthenticator.orm import UserInfo

    with _db_session() as db:
        info = UserInfo.find(db, name)
        if info is not None:
            db.delete(info)
            db.commit()


def _has_password(names: Iterable[str]) -> set[str]:
    from nativeauthenticator.orm import UserInfo

    wanted = set(names)
    with _db_session() as db:
        return {u.username for u in db.query(UserInfo).all() if u.is_authorized and u.username in wanted}


def _store_role(name: str) -> str | None:
    """Return the role of store user ``name`` in the local store's users file, or None."""
    import tomllib

    path = config.store_users_file()
    if not path.exists():
        return None
    entry = tomllib.loads(path.read_text()).get("users", {}).get(name)
    return str(entry.get("role", "reader")) if entry else None


def _grant_store(
    name: str,
    role: str,
    insert_into: tuple[str, ...] = (),
    *,
    groups: Sequence[str] | None = None,
    impersonate: bool = False,
) -> None:
    """Give ``name`` a store user with a fresh password unless it has one with this role, grant and groups.

    ``groups`` None: a service account (every row); else the user's groups (their entitlement).
    """
    from marketintel.store.endpoint.auth import write_user

    password = paths.store_password(name, create=True)
    assert password is not None
    if not config.clickhouse_url().is_local_default:
        return  # an external server: its users are created there (module docstring)
    path = config.store_users_file()
    import tomllib

    entry = (tomllib.loads(path.read_text()).get("users", {}) if path.exists() else {}).get(name, {})
    digest = hashlib.sha256(password.encode()).hexdigest()
    want_groups = None if groups is None else sorted(set(groups))
    if (
        entry.get("role") != role
        or entry.get("password_sha256_hex") != digest
        or tuple(entry.get("insert_into", ())) != insert_into
        or entry.get("groups") != want_groups
        or bool(entry.get("impersonate", False)) != impersonate
    ):
        write_user(path, name, role, password, insert_into, groups=want_groups, impersonate=impersonate)


def _revoke_store(name: str) -> None:
    from marketintel.store.endpoint.auth import remove_user

    paths.forget_store_password(name)
    if config.clickhouse_url().is_local_default and config.store_users_file().exists():
        remove_user(config.store_users_file(), name)


def ensure_service_store_user(
    name: str, insert_into: Sequence[str] = (), *, impersonate: bool = False
) -> str:
    """Give a platform service (the dashboards) a reader store user; return its store URL.

    Parameters
    ----------
    name
        The store user's name (its password is kept with the hub's store passwords).
    insert_into
        Tables the user may also insert into, and nothing else: plain inserts of inline data (the
        store's users file ``insert_into`` grant), e.g. ``("alert_acks",)`` for the dashboards'
        acknowledgements (:data:`ALERT_ACKS_USER`).
    impersonate
        Let the service query as a hub user (``execute_as``: the user's entitlement), and report audit
        events (pages opened, exports).
    """
    _grant_store(name, "reader", tuple(insert_into), impersonate=impersonate)
    password = paths.store_password(name)
    assert password is not None
    return config.clickhouse_url().with_credentials(name, password)


def store_url(name: str) -> str | None:
    """Return the store URL carrying ``name``'s own credentials, or None if it has none."""
    password = paths.store_password(name)
    return None if password is None else config.clickhouse_url().with_credentials(name, password)


def _sync_groups(api: HubAPI, name: str, groups: Sequence[str]) -> None:
    current = set(api.request("GET", f"/users/{name}")["groups"])
    for group in GROUPS:
        if group in groups and group not in current:
            api.request("POST", f"/groups/{group}/users", {"users": [name]})
        elif group not in groups and group in current:
            api.request("DELETE", f"/groups/{group}/users", {"users": [name]})


def _sync_store(name: str, groups: Sequence[str], store_role: str) -> None:
    """Keep the user's store user in step: same name, same groups; writer only for server users."""
    role = store_role if set(groups) & set(SERVER_GROUPS) else "reader"
    _grant_store(name, role, groups=list(groups))


def add(
    name: str,
    password: str,
    groups: Sequence[str] = (),
    *,
    admin: bool = False,
    store_role: str = "reader",
) -> HubUser:
    """Create a hub user with a password, groups and (for server groups) store credentials.

    Parameters
    ----------
    name
        Lowercase login name.
    password
        At least :data:`MIN_PASSWORD_LENGTH` characters, not a common password.
    groups
        Some of :data:`~marketintel.hub.GROUPS`.
    admin
        Make the user a Hub admin (the admin page: users, groups, servers).
    store_role
        ``reader`` (default) or ``writer``: the store role of a server user's own credentials.

    Raises
    ------
    HubUserError
        For a bad name, group or password, a user that exists already, or a hub that is not running.
    """
    check_name(name)
    groups = check_groups(groups)
    check_password(password)
    if store_role not in ("reader", "writer"):
        raise HubUserError(f"store role must be 'reader' or 'writer', got {store_role!r}")
    api = HubAPI.connect()
    try:
        existing = api.request("GET", f"/users/{name}", ok=(200, 404))
        if existing and existing.get("name") == name:
            raise HubUserError(f"user {name!r} exists already (mi hub user set-groups / set-password)")
        set_password(name, password)
        api.request("POST", f"/users/{name}", {"admin": admin})
        _sync_groups(api, name, groups)
        _sync_store(name, groups, store_role)
        return _describe(api, name)
    finally:
        api.close()


def set_groups(name: str, groups: Sequence[str], *, store_role: str = "reader") -> HubUser:
    """Replace ``name``'s groups (server groups bring store credentials; leaving them revokes them)."""
    groups = check_groups(groups)
    api = HubAPI.connect()
    try:
        if api.request("GET", f"/users/{name}", ok=(200, 404)) is None:
            raise HubUserError(f"no hub user {name!r}")
        _sync_groups(api, name, groups)
        _sync_store(name, groups, store_role)
        return _describe(api, name)
    finally:
        api.close()


def remove(name: str) -> None:
    """Delete a hub user: their server stops, their login and store credentials go; the home folder stays."""
    api = HubAPI.connect()
    try:
        found = api.request("GET", f"/users/{name}", ok=(200, 404))
        if not found or found.get("name") != name:
            raise HubUserError(f"no hub user {name!r}")
        if found.get("server"):
            api.request("DELETE", f"/users/{name}/server", ok=(202, 204))
        api.request("DELETE", f"/users/{name}")
    finally:
        api.close()
    _forget_password(name)
    with contextlib.suppress(ConfigError):  # the store's last user cannot go; the hub user is gone
        _revoke_store(name)


def _describe(api: HubAPI, name: str, model: dict[str, Any] | None = None) -> HubUser:
    model = model or api.request("GET", f"/users/{name}")
    return HubUser(
        name=name,
        admin=bool(model.get("admin")),
        groups=tuple(g for g in GROUPS if g in model.get("groups", [])),
        server=bool(model.get("server")),
        has_password=name in _has_password([name]),
        store_role=_store_role(name) if paths.store_password(name) else None,
        last_activity=model.get("last_activity"),
    )


def list_users() -> list[HubUser]:
    """Return every hub user, sorted by name."""
    api = HubAPI.connect()
    try:
        models = api.request("GET", "/users")
        with_password = _has_password(m["name"] for m in models)
        return [
            HubUser(
                name=m["name"],
                admin=bool(m.get("admin")),
                groups=tuple(g for g in GROUPS if g in m.get("groups", [])),
                server=bool(m.get("server")),
                has_password=m["name"] in with_password,
                store_role=_store_role(m["name"]) if paths.store_password(m["name"]) else None,
                last_activity=m.get("last_activity"),
            )
            for m in sorted(models, key=lambda m: m["name"])
        ]
    finally:
        api.close()


#: default lifetime of a token made by ``mi hub token`` [s] (30 days)
TOKEN_EXPIRES_S = 30 * 24 * 3600


def create_token(name: str, *, note: str = "mi hub token", expires_in_s: int | None = TOKEN_EXPIRES_S) -> str:
    """Make a Hub API token for user ``name`` (for the API: ``Authorization: Bearer <token>``).

    The token carries the user's own permissions (``inherit``), so it opens the API when their groups do,
    and the store shows them what their entitlement opens. It can be revoked on the Hub's token page.

    Parameters
    ----------
    name : str
        An existing hub user.
    note : str
        Shown on the Hub's token page.
    expires_in_s : int, optional
        Lifetime [s]; None: until revoked.

    Raises
    ------
    HubUserError
        If the hub is not running or has no such user.
    """
    check_name(name)
    api = HubAPI.connect()
    try:
        api.request("GET", f"/users/{name}", ok=(200,))
        body: dict[str, Any] = {"note": note, "scopes": ["inherit"]}
        if expires_in_s is not None:
            body["expires_in"] = int(expires_in_s)
        reply = api.request("POST", f"/users/{name}/tokens", json=body)
    finally:
        api.close()
    return str(reply["token"])
