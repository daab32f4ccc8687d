"""JupyterHub configuration of the platform: ``mi hub up`` starts ``jupyterhub -f jupyterhub_config.py``.

One machine: JupyterHub 5.5 with configurable-http-proxy (npm, in ./node_modules), logins by
nativeauthenticator, JupyterLab servers for quants (local processes, culled when idle), the Panel
dashboards as the Hub-managed service ``dashboards`` at /services/dashboards/<page>, and the HTTP API and
download center as the Hub-managed service ``api`` at /services/api/ (docs at /services/api/docs).

Who may do what comes from one place: the dashboards registry (``dashboards/registry.py``) through
``marketintel.hub.access.hub_access`` (roles and groups below). ``mi hub up`` passes the address and ports in
``MI_HUB_*`` variables; state and secrets live under ``$MI_DATA_DIR/hub`` (see ``marketintel.hub.paths``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nativeauthenticator

from marketintel import config as mi_config
from marketintel.dashboards.registry import PAGES, page_groups, pages_for
from marketintel.hub import API_SERVICE, DASHBOARDS_SERVICE, SERVER_GROUPS, paths
from marketintel.hub import auth as hub_auth
from marketintel.hub.access import ADMIN_SERVICE, CULLER_SERVICE, hub_access
from marketintel.hub.process import HubPorts
from marketintel.hub.spawn import pre_spawn_hook
from marketintel.hub.users import (
    ALERT_ACKS_TABLES,
    ALERT_ACKS_USER,
    MIN_PASSWORD_LENGTH,
    ensure_service_store_user,
)

c = get_config()  # type: ignore[name-defined]  # noqa: F821

hub_dir = paths.hub_dir()
venv_bin = Path(sys.executable).parent
ports = HubPorts.from_environment()
ip = os.environ.get("MI_HUB_IP", "127.0.0.1")

# --- addresses: the proxy faces users; the Hub, the proxy's API and the services stay on loopback ---
c.JupyterHub.ip = ip
c.JupyterHub.port = ports.public
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = ports.api
c.JupyterHub.ssl_cert = os.environ.get("MI_HUB_SSL_CERT", "")
c.JupyterHub.ssl_key = os.environ.get("MI_HUB_SSL_KEY", "")
c.ConfigurableHTTPProxy.command = [str(paths.proxy_command())]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{ports.proxy_api}"
c.ConfigurableHTTPProxy.auth_token = paths.secret("proxy_token")
c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "proxy.pid")

# --- state and secrets under $MI_DATA_DIR/hub (mode 0600) ---
c.JupyterHub.db_url = f"sqlite:///{hub_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub_dir / "secrets" / "cookie_secret")
paths.secret("cookie_secret")
c.JupyterHub.pid_file = str(hub_dir / "jupyterhub.pid")

# --- logins: per-user bcrypt passwords; 5 failed logins lock a name for 60 s; admins approve sign-ups ---
# nativeauthenticator's check, with every login and failed login reported to the store's audit trail
c.JupyterHub.authenticator_class = "marketintel.hub.auth.AuditedAuthenticator"
c.NativeAuthenticator.minimum_password_length = MIN_PASSWORD_LENGTH
c.NativeAuthenticator.check_common_password = True
c.NativeAuthenticator.allowed_failed_logins = 5
c.NativeAuthenticator.seconds_before_next_try = 60
c.NativeAuthenticator.open_signup = False
c.NativeAuthenticator.enable_signup = True  # a sign-up waits for an admin's approval at /hub/authorize
c.Authenticator.allow_all = True  # any user with an approved password; what they see is their groups'

# --- who may do what: groups, roles, services from the dashboards registry ---
access = hub_access(page_groups())
c.JupyterHub.load_groups = access.groups
c.JupyterHub.load_roles = access.roles


def _pages(user: object) -> list[dict[str, str]]:
    """Return the dashboards a user may open, for the Hub home page."""
    groups = [g.name for g in getattr(user, "groups", [])]
    return [{"name": p.name, "title": p.title, "description": p.description} for p in pages_for(groups)]


def _can_spawn(user: object) -> bool:
    return any(g.name in SERVER_GROUPS for g in getattr(user, "groups", []))


# our home page first, then nativeauthenticator's login, sign-up and authorization pages
c.JupyterHub.template_paths = [
    str(Path(paths.__file__).with_name("templates")),
    str(Path(nativeauthenticator.__file__).parent / "templates"),
]
c.JupyterHub.template_vars = {
    "mi_pages": _pages,
    "mi_can_spawn": _can_spawn,
    "mi_dashboards_url": f"/services/{DASHBOARDS_SERVICE}/",
}


def _default_url(handler: object) -> str:
    """Quants land in JupyterLab; everybody else on the Hub home page with their dashboards."""
    user = getattr(handler, "current_user", None)
    return "/hub/spawn" if user is not None and _can_spawn(user) else "/hub/home"


c.JupyterHub.default_url = _default_url

# --- quants' servers: JupyterLab on this machine, their own store credentials, culled when idle ---
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(hub_dir / "home" / "{username}")
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
c.Spawner.default_url = "/lab"
c.Spawner.pre_spawn_hook = pre_spawn_hook
# the server's JUPYTERHUB_API_TOKEN: the Hub's default server scopes plus the API, so the API's client
# (marketintel.client.Client()) works in a quant's notebook with no token to paste (MI_API_URL: via the proxy)
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    f"access:services!service={API_SERVICE}",
]
_scheme = "https" if os.environ.get("MI_HUB_SSL_CERT") else "http"
_api_host = "127.0.0.1" if ip in ("", "0.0.0.0") else ip
c.Spawner.environment = {"MI_API_URL": f"{_scheme}://{_api_host}:{ports.public}/services/{API_SERVICE}"}
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.JupyterHub.cleanup_servers = True

# --- services: the dashboards (Panel, Hub OAuth), the API, the idle culler, mi-admin (mi hub user ...) ---
origins = {f"127.0.0.1:{ports.public}", f"localhost:{ports.public}", f"{ip}:{ports.public}"}
dashboards_store = ensure_service_store_user(DASHBOARDS_SERVICE, impersonate=True)
hub_auth.AUDIT_URL = dashboards_store  # the hub reports logins as the dashboards' service account
service_env = {
    "MI_DATA_DIR": str(mi_config.data_dir()),
    # pages read as the logged-in user (execute_as): the store applies that user's entitlements
    "MI_CLICKHOUSE_URL": dashboards_store,
    "MI_DASHBOARDS_ACT_FOR_USERS": "1",
    "MI_HUB_CUSTOMER_GROUPS": os.environ.get("MI_HUB_CUSTOMER_GROUPS", ""),
    # acknowledging an alert (the quality page): a reader that may insert into alert_acks only
    "MI_ALERT_ACK_URL": ensure_service_store_user(ALERT_ACKS_USER, insert_into=ALERT_ACKS_TABLES),
    "MI_DASHBOARDS_COOKIE_SECRET": paths.secret("dashboards_cookie"),
    "MI_DASHBOARDS_ORIGINS": ",".join(sorted(origins)),
    "MI_DASHBOARDS_RECHECK_S": os.environ.get("MI_DASHBOARDS_RECHECK_S", "30"),
    # the health page reads flow runs from Prefect's API (the service's environment is filtered)
    "MI_PREFECT_API_URL": mi_config.prefect_api_url(),
    # "download this view" starts export jobs in the API's download center, acting for the user (with the
    # service's own Hub token and X-MI-Act-For); the API listens on loopback with its routes under its prefix
    "MI_API_URL": f"http://127.0.0.1:{ports.service_api}/services/{API_SERVICE}",
    "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
}
# the HTTP API and download center (FastAPI): reads as the caller with their Hub token or OAuth login
api_store = ensure_service_store_user(API_SERVICE, impersonate=True)
api_env = {
    "MI_DATA_DIR": str(mi_config.data_dir()),
    "MI_CLICKHOUSE_URL": api_store,
    **{k: v for k, v in os.environ.items() if k.startswith("MI_API_") and k != "MI_API_PORT"},
    "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
}  # fmt: skip
commands = {
    API_SERVICE: {
        "url": f"http://127.0.0.1:{ports.service_api}",
        "command": [sys.executable, "-m", "marketintel.api.serve"],
        "environment": api_env,
        "api_token": paths.secret(f"{API_SERVICE}.token"),
        "info": {"docs": f"/services/{API_SERVICE}/docs"},
    },
    DASHBOARDS_SERVICE: {
        "url": f"http://127.0.0.1:{ports.dashboards}",
        "command": [sys.executable, "-m", "marketintel.dashboards.serve"],
        "environment": service_env,
        "api_token": paths.secret(f"{DASHBOARDS_SERVICE}.token"),
        "info": {"pages": sorted(PAGES)},
    },
    CULLER_SERVICE: {
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=3600", "--cull-every=300"],
    },
    ADMIN_SERVICE: {"api_token": paths.secret(f"{ADMIN_SERVICE}.token")},
}
c.JupyterHub.services = [{**spec, **commands[spec["name"]]} for spec in access.services]
c.JupyterHub.log_level = os.environ.get("MI_HUB_LOG_LEVEL", "INFO")
