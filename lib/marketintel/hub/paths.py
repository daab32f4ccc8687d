"""Where the hub keeps its state, and its secrets (each a file of mode 0600 under ``$MI_DATA_DIR/hub``).

Layout of ``$MI_DATA_DIR/hub``::

    hub.json                      the running hub: pid, URL, log (written by ``mi hub up``)
    hub.log                       JupyterHub's log (the proxy and the services log into it too)
    jupyterhub.sqlite             users, groups, tokens; nativeauthenticator's password hashes
    secrets/cookie_secret         the Hub's cookie secret                                  (0600)
    secrets/proxy_token           the Hub <-> configurable-http-proxy token                (0600)
    secrets/<service>.token       fixed API tokens of the dashboards and mi-admin services (0600)
    secrets/dashboards_cookie     the dashboards service's cookie secret                   (0600)
    store/<user>                  each server user's store password (and the dashboards')  (0600)
    home/<user>/                  a quant's home folder (JupyterLab starts there)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from marketintel import config

#: the clone: jupyterhub_config.py and node_modules/ live here
PROJECT_DIR = config.REPO_ROOT


def hub_dir() -> Path:
    """Return the hub's state directory, ``$MI_DATA_DIR/hub`` (``MI_HUB_DIR`` overrides)."""
    raw = os.environ.get("MI_HUB_DIR")
    return Path(raw).expanduser().resolve() if raw else config.data_dir() / "hub"


def config_file() -> Path:
    """Return the hub's configuration file (``jupyterhub_config.py`` of the clone; ``MI_HUB_CONFIG``)."""
    raw = os.environ.get("MI_HUB_CONFIG")
    return Path(raw).expanduser().resolve() if raw else PROJECT_DIR / "jupyterhub_config.py"


def proxy_command() -> Path:
    """Return configurable-http-proxy as installed by ``make setup`` into the clone's ``node_modules``."""
    return PROJECT_DIR / "node_modules" / ".bin" / "configurable-http-proxy"


def _private_file(path: Path, make: bool) -> str | None:
    """Read a secret file, creating it with a fresh random value when ``make`` (mode 0600, dir 0700)."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()
    if not make:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def secret(name: str, hub: Path | None = None) -> str:
    """Return the hub secret ``name`` (``secrets/<name>``), created on first use (64 hex digits, 0600)."""
    value = _private_file((hub or hub_dir()) / "secrets" / name, make=True)
    assert value is not None
    return value


def store_password(user: str, hub: Path | None = None, *, create: bool = False) -> str | None:
    """Return the store password kept for hub user ``user`` (created when ``create``), or None."""
    return _private_file((hub or hub_dir()) / "store" / user, make=create)


def forget_store_password(user: str, hub: Path | None = None) -> None:
    """Delete the store password kept for ``user``."""
    ((hub or hub_dir()) / "store" / user).unlink(missing_ok=True)


def home_dir(user: str, hub: Path | None = None) -> Path:
    """Return the home folder of a server user (JupyterLab's root directory)."""
    return (hub or hub_dir()) / "home" / user
