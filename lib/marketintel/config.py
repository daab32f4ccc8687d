"""Settings from environment variables (``MI_*``), read in one place.

Every setting has a default that works on a fresh clone: the embedded store on 127.0.0.1 and a data
directory found by :func:`data_dir`: ``MI_DATA_DIR`` if set; else the ``data_dir`` of the venv's own
settings file ``<sys.prefix>/marketintel.toml``, which ``make`` writes when it sets up ``.venv`` (the
clone's ``./data``), so ``mi`` run by ``make``, typed in a shell or started in a notebook kernel of that venv
finds the same store; else ``~/.local/share/marketintel``.

========================  ====================================================================
variable                  meaning
========================  ====================================================================
``MI_DATA_DIR``           where the platform keeps its state (the store's data directory, logs); default:
                          ``data_dir`` in ``<sys.prefix>/marketintel.toml``, else ``~/.local/share/...``
``MI_CLICKHOUSE_URL``     the ClickHouse HTTP endpoint, ``http://user:password@host:port/database``
``MI_STORE_HOST``         interface the embedded store listens on (default ``127.0.0.1``)
``MI_STORE_PORT``         port of the embedded store (default ``18123``)
``MI_STORE_USERS_FILE``   TOML file with the store's users (default ``$MI_DATA_DIR/store/users.toml``)
``MI_STORE_CLUSTER``      cluster name: when set, DDL is emitted ``ON CLUSTER`` with Replicated engines
``MI_SHARED_DIR``         the read-only shared inputs (fixtures, datasets); default ``shared_dir`` of
                          ``<sys.prefix>/marketintel.toml``, else ``../shared`` beside the clone
``MI_PREFECT_PORT``       port of the local Prefect server (default ``4200``)
``MI_PREFECT_API_URL``    a Prefect API to use instead of the local server (``http://host:port/api``)
``MI_REPORTS_DIR``        where flows write executed notebooks and HTML reports (default ``./reports``)
========================  ====================================================================
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from marketintel.exceptions import ConfigError

DEFAULT_STORE_HOST = "127.0.0.1"
DEFAULT_STORE_PORT = 18123
#: The repository root when running from a source checkout (``lib/marketintel/config.py`` -> root).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: name of the settings file of a Python environment, in its ``sys.prefix`` (``make`` writes it into .venv)
VENV_CONFIG_NAME = "marketintel.toml"
#: the data directory when neither ``MI_DATA_DIR`` nor the venv's settings file names one
DEFAULT_DATA_DIR = Path("~/.local/share/marketintel")


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def venv_config_file(prefix: Path | str | None = None) -> Path:
    """Return the settings file of the Python environment at ``prefix`` (default ``sys.prefix``)."""
    return Path(prefix if prefix is not None else sys.prefix) / VENV_CONFIG_NAME


def venv_config(prefix: Path | str | None = None) -> dict[str, str]:
    """Return the settings of ``<prefix>/marketintel.toml`` (``data_dir``, ``shared_dir``), {} if absent.

    Raises
    ------
    ConfigError
        If the file exists but is not valid TOML, or a value is not a string.
    """
    path = venv_config_file(prefix)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix or delete it (`make setup` rewrites it)") from None
    bad = {k: v for k, v in raw.items() if not isinstance(v, str)}
    if bad:
        raise ConfigError(f"{path}: every setting must be a string path, got {bad!r}")
    return {k: str(v) for k, v in raw.items() if v != ""}


def data_dir_source(prefix: Path | str | None = None) -> tuple[Path, str]:
    """Return the data directory (unresolved, not created) and where it came from.

    The first of: ``MI_DATA_DIR``; ``data_dir`` in ``<prefix>/marketintel.toml`` (``prefix`` defaults to
    ``sys.prefix``, the venv: ``make`` writes the clone's ``./data`` there); ``~/.local/share/marketintel``.
    A relative ``data_dir`` in the file is relative to the file's folder.
    """
    raw = _env("MI_DATA_DIR")
    if raw:
        return Path(raw).expanduser(), "MI_DATA_DIR"
    from_file = venv_config(prefix).get("data_dir")
    if from_file:
        config_file = venv_config_file(prefix)
        return config_file.parent / Path(from_file).expanduser(), str(config_file)
    return DEFAULT_DATA_DIR.expanduser(), "default"


def data_dir(prefix: Path | str | None = None) -> Path:
    """Return the platform's state directory, created if missing.

    ``MI_DATA_DIR`` if set; else ``data_dir`` of the venv's ``<sys.prefix>/marketintel.toml``; else
    ``~/.local/share/marketintel`` (see :func:`data_dir_source`).
    """
    path = data_dir_source(prefix)[0]
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def store_dir() -> Path:
    """Return the default data directory of the embedded store (``$MI_DATA_DIR/store``)."""
    return data_dir() / "store"


def store_host() -> str:
    """Return the interface the embedded store listens on (``MI_STORE_HOST``)."""
    return _env("MI_STORE_HOST") or DEFAULT_STORE_HOST


def store_port() -> int:
    """Return the port of the embedded store (``MI_STORE_PORT``)."""
    raw = _env("MI_STORE_PORT")
    if raw is None:
        return DEFAULT_STORE_PORT
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"MI_STORE_PORT must be an integer port in 1..65535, got {raw!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"MI_STORE_PORT must be in 1..65535, got {port}")
    return port


def store_users_file() -> Path:
    """Return the users file of the embedded store (``MI_STORE_USERS_FILE``)."""
    raw = _env("MI_STORE_USERS_FILE")
    return Path(raw).expanduser() if raw else store_dir() / "users.toml"


def store_cluster() -> str | None:
    """Return the ClickHouse cluster name for DDL (``MI_STORE_CLUSTER``), or None for a single node."""
    return _env("MI_STORE_CLUSTER")


def shared_dir(prefix: Path | str | None = None) -> Path:
    """Return the shared read-only inputs folder.

    ``MI_SHARED_DIR`` if set; else ``shared_dir`` of the venv's ``<sys.prefix>/marketintel.toml``; else
    ``<repo>/../shared``.
    """
    raw = _env("MI_SHARED_DIR")
    if raw:
        return Path(raw).expanduser().resolve()
    from_file = venv_config(prefix).get("shared_dir")
    if from_file:
        return (venv_config_file(prefix).parent / Path(from_file).expanduser()).resolve()
    return (REPO_ROOT.parent / "shared").resolve()


@dataclass(frozen=True)
class ClickHouseURL:
    """A parsed ClickHouse HTTP endpoint address."""

    scheme: str
    host: str
    port: int
    username: str
    password: str
    database: str

    @property
    def is_local_default(self) -> bool:
        """Whether this is the embedded store's default address."""
        return self.host in ("127.0.0.1", "localhost") and self.port == store_port()

    def with_credentials(self, username: str, password: str) -> str:
        """Return this address as a URL that logs in as ``username`` with ``password``."""
        auth = f"{quote(username, safe='')}:{quote(password, safe='')}"
        return f"{self.scheme}://{auth}@{self.host}:{self.port}/{self.database}"

    def redacted(self) -> str:
        """Return the URL with the password replaced by ``***`` (safe to print)."""
        auth = quote(self.username) + (":***" if self.password else "")
        return f"{self.scheme}://{auth}@{self.host}:{self.port}/{self.database}"


def clickhouse_url() -> ClickHouseURL:
    """Parse ``MI_CLICKHOUSE_URL`` (default: the embedded store at ``http://127.0.0.1:18123/default``).

    Raises
    ------
    ConfigError
        If the URL is not ``http(s)://[user[:password]@]host[:port][/database]``.
    """
    return parse_clickhouse_url(_env("MI_CLICKHOUSE_URL") or f"http://{store_host()}:{store_port()}/default")


def parse_clickhouse_url(raw: str) -> ClickHouseURL:
    """Parse a store address ``http(s)://[user[:password]@]host[:port][/database]``.

    Raises
    ------
    ConfigError
        If it is not one.
    """
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"MI_CLICKHOUSE_URL must look like http://user:password@host:8123/database, got {raw!r}"
        )
    try:
        port = parts.port or (8443 if parts.scheme == "https" else 8123)
    except ValueError:
        raise ConfigError(f"MI_CLICKHOUSE_URL has an invalid port: {raw!r}") from None
    database = parts.path.strip("/") or "default"
    return ClickHouseURL(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        database=database,
    )


DEFAULT_PREFECT_PORT = 4200


def prefect_port() -> int:
    """Return the port of the local Prefect server (``MI_PREFECT_PORT``)."""
    raw = _env("MI_PREFECT_PORT")
    try:
        port = int(raw) if raw else DEFAULT_PREFECT_PORT
    except ValueError:
        raise ConfigError(f"MI_PREFECT_PORT must be an integer port in 1..65535, got {raw!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"MI_PREFECT_PORT must be in 1..65535, got {port}")
    return port


def prefect_api_url() -> str:
    """Return the Prefect API the flows report to (``MI_PREFECT_API_URL``, default the local server)."""
    return _env("MI_PREFECT_API_URL") or f"http://127.0.0.1:{prefect_port()}/api"


def prefect_home() -> Path:
    """Return the local Prefect server's home (``$MI_DATA_DIR/prefect``: settings, SQLite database)."""
    path = data_dir() / "prefect"
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_dir() -> Path:
    """Return where flows write executed notebooks and HTML reports (``MI_REPORTS_DIR``)."""
    raw = _env("MI_REPORTS_DIR")
    return Path(raw).expanduser().resolve() if raw else (Path.cwd() / "reports").resolve()
