# Panel's constructors and param's Selector parameters are untyped: calls and class parameters of them
# mypy: disable-error-code="no-untyped-call"
"""The dashboards service: every registry page at ``/services/dashboards/<page>``, behind the Hub's OAuth.

The Hub runs it as the managed service ``dashboards`` (``python -m marketintel.dashboards.serve``). It
serves each page of :data:`marketintel.dashboards.registry.PAGES` with :func:`panel.serve` (Panel's JS
and CSS from the service itself, no CDN) and logs users in with Panel's ``generic`` OAuth provider against
the Hub (:func:`settings_from_env` lists the environment it reads).

Authorization
-------------
A page opens for a member of one of its registry groups (:func:`marketintel.dashboards.registry.may_open`);
anyone else gets Panel's authorization error page (403). Logging out of the Hub revokes the user's token,
but Panel's own cookie would still let them in, so the user's access token is re-checked against the Hub's
``/user`` at most every **30 seconds** per token (``MI_DASHBOARDS_RECHECK_S``, :data:`RECHECK_S`): a
revoked token sends the user back through the Hub's login within that interval. The groups used are those
the Hub returns at the re-check, so group changes also apply within it. A page already open re-checks on
the same interval and, once its user logged out (or lost the page's group), replaces its content with a
message to reload (:data:`ENDED`): live updates stop too.

Developer mode
--------------
``python -m marketintel.dashboards.serve --no-auth --groups quants,traders [--port 5006]`` serves the same
pages on 127.0.0.1 without OAuth, as if for a user in those groups.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from typing import Any
from urllib.parse import quote, urlsplit

import panel as pn

from marketintel.dashboards import data, metrics, registry, reports, tail
from marketintel.exceptions import ConfigError
from marketintel.hub import GROUPS

__all__ = [
    "RECHECK_S",
    "HubUserCheck",
    "ServeSettings",
    "authorize_callback",
    "dev_settings",
    "main",
    "page_of",
    "settings_from_env",
]

log = logging.getLogger(__name__)

#: default interval of the re-check of a user's Hub token [s]
RECHECK_S = 30.0
#: Panel's login endpoint under the prefix; the Hub's OAuth callback of the service
LOGIN_ENDPOINT = "/oauth_callback"
#: how long a re-check waits for the Hub [s]
HUB_TIMEOUT_S = 5.0
#: the interface of the developer mode (never another: it has no authentication)
DEV_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class ServeSettings:
    """Where and how the service listens, and how it authenticates.

    Attributes
    ----------
    address, port
        Interface and port to listen on.
    prefix
        URL prefix of every page, without a trailing slash (``/services/dashboards``).
    websocket_origins
        ``host:port`` values allowed as the Origin of the pages' websockets (as users type the Hub's
        address). Empty: Bokeh's default (the service's own address only).
    oauth
        Keyword arguments of :func:`panel.serve` for the OAuth login; empty in developer mode.
    hub_api_url
        The Hub's API (``JUPYTERHUB_API_URL``), for the re-check; empty in developer mode.
    recheck_s
        Interval of the re-check of a user's token [s].
    dev_groups
        Developer mode: the groups of the pretend user. None with OAuth.
    """

    address: str
    port: int
    prefix: str
    websocket_origins: tuple[str, ...] = ()
    oauth: Mapping[str, Any] = field(default_factory=dict)
    hub_api_url: str = ""
    recheck_s: float = RECHECK_S
    dev_groups: tuple[str, ...] | None = None


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigError(
            f"{name} is not set ({why}); the Hub sets it for a managed service, or run "
            "`python -m marketintel.dashboards.serve --no-auth --groups quants` locally"
        )
    return value


def settings_from_env(env: Mapping[str, str] | None = None) -> ServeSettings:
    """Return the service's settings from the environment the Hub gives a managed service.

    Parameters
    ----------
    env : mapping, optional
        The environment; default :data:`os.environ`. Read:

        - ``JUPYTERHUB_SERVICE_URL``: ``http://host:port`` to listen on;
        - ``JUPYTERHUB_SERVICE_PREFIX``: URL prefix (``/services/dashboards/``), also the cookie path;
        - ``JUPYTERHUB_CLIENT_ID`` (OAuth key), ``JUPYTERHUB_API_TOKEN`` (OAuth secret),
          ``JUPYTERHUB_OAUTH_CALLBACK_URL`` (redirect URI);
        - ``JUPYTERHUB_BASE_URL``: the Hub's public base path (``/``), for the authorize URL that
          browsers follow through the proxy;
        - ``JUPYTERHUB_API_URL``: the Hub's API as the service reaches it, for the token and user URLs
          and the re-check;
        - ``MI_DASHBOARDS_COOKIE_SECRET``: signs Panel's cookies (required);
        - ``MI_DASHBOARDS_ORIGINS``: comma-separated ``host:port`` websocket origins (optional);
        - ``MI_DASHBOARDS_RECHECK_S``: re-check interval [s] (default :data:`RECHECK_S`).

    Returns
    -------
    ServeSettings

    Raises
    ------
    ConfigError
        If a required variable is missing or a value is malformed (the message names it).
    """
    env = os.environ if env is None else env
    url = urlsplit(_required(env, "JUPYTERHUB_SERVICE_URL", "where to listen"))
    if not url.hostname or not url.port:
        raise ConfigError(f"JUPYTERHUB_SERVICE_URL must be http://host:port, got {url.geturl()!r}")
    prefix = _required(env, "JUPYTERHUB_SERVICE_PREFIX", "the URL prefix")
    api = _required(env, "JUPYTERHUB_API_URL", "the Hub's API").rstrip("/")
    base = env.get("JUPYTERHUB_BASE_URL", "/") or "/"
    cookie_path = prefix if prefix.endswith("/") else f"{prefix}/"
    oauth = {
        "oauth_provider": "generic",
        "oauth_key": _required(env, "JUPYTERHUB_CLIENT_ID", "the OAuth client id"),
        "oauth_secret": _required(env, "JUPYTERHUB_API_TOKEN", "the OAuth client secret"),
        "oauth_redirect_uri": _required(env, "JUPYTERHUB_OAUTH_CALLBACK_URL", "the OAuth callback"),
        "oauth_extra_params": {
            # browsers follow the authorize URL, so it is the public path through the proxy
            "AUTHORIZE_URL": f"{base.rstrip('/')}/hub/api/oauth2/authorize",
            # the service itself calls these, on the Hub's API address
            "TOKEN_URL": f"{api}/oauth2/token",
            "USER_URL": f"{api}/user",
            "USER_KEY": "name",
            # Panel's default scopes make the Hub answer invalid_scope; none gives the identify scope
            "scope": [],
        },
        "login_endpoint": LOGIN_ENDPOINT,
        "cookie_path": cookie_path,
        "cookie_secret": _required(env, "MI_DASHBOARDS_COOKIE_SECRET", "signs the login cookies"),
    }
    raw_recheck = env.get("MI_DASHBOARDS_RECHECK_S", "") or str(RECHECK_S)
    try:
        recheck = float(raw_recheck)
    except ValueError:
        raise ConfigError(
            f"MI_DASHBOARDS_RECHECK_S must be a number of seconds, got {raw_recheck!r}"
        ) from None
    if recheck < 0:
        raise ConfigError(f"MI_DASHBOARDS_RECHECK_S must be >= 0 s, got {recheck}")
    origins = tuple(o.strip() for o in env.get("MI_DASHBOARDS_ORIGINS", "").split(",") if o.strip())
    return ServeSettings(
        address=url.hostname, port=url.port, prefix="/" + prefix.strip("/"), websocket_origins=origins,
        oauth=oauth, hub_api_url=api, recheck_s=recheck,
    )  # fmt: skip


def dev_settings(
    groups: Sequence[str], port: int = 5006, prefix: str = "/services/dashboards"
) -> ServeSettings:
    """Return the developer mode's settings: no OAuth, 127.0.0.1 only, a user in ``groups``.

    Raises
    ------
    ConfigError
        If a group is not one of the Hub's groups.
    """
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ConfigError(f"unknown groups {unknown}; expected some of {', '.join(GROUPS)}")
    return ServeSettings(DEV_ADDRESS, port, "/" + prefix.strip("/"), dev_groups=tuple(groups))


def page_of(path: str, prefix: str) -> str:
    """Return the page a request path asks for (``''`` for the index), or the path itself if foreign."""
    rest = path[len(prefix) :] if prefix and path.startswith(prefix) else path
    return rest.strip("/").split("/", 1)[0]


# ------------------------------------------------------------------------------------------------------------
# The re-check of a user's Hub token
# ------------------------------------------------------------------------------------------------------------
def _fetch_hub_user(api_url: str, token: str) -> dict[str, Any] | None:
    """Ask the Hub who ``token`` belongs to: the user model, or None when the Hub refuses the token."""
    request = urllib.request.Request(f"{api_url}/user", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT_S) as response:
            user: dict[str, Any] = json.loads(response.read())
            return user
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return None
        raise


class HubUserCheck:
    """The Hub's answer about a token, asked at most once per ``interval_s`` per token.

    Parameters
    ----------
    api_url
        The Hub's API (``JUPYTERHUB_API_URL``).
    interval_s
        How long an answer is reused [s].
    fetch
        ``fetch(api_url, token)``: the user model or None (revoked); default: ``GET {api_url}/user``.
    clock
        Monotonic clock [s].
    """

    def __init__(
        self,
        api_url: str,
        interval_s: float = RECHECK_S,
        fetch: Callable[[str, str], dict[str, Any] | None] = _fetch_hub_user,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_url = api_url
        self.interval_s = interval_s
        self._fetch = fetch
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def user(self, token: str) -> dict[str, Any] | None:
        """Return the Hub's user model of ``token``, or None when the Hub no longer accepts it.

        Raises
        ------
        OSError
            If the Hub does not answer (the caller refuses access: fail closed).
        """
        now = self._clock()
        with self._lock:
            cached = self._cache.get(token)
            if cached is not None and now - cached[0] < self.interval_s:
                return cached[1]
        user = self._fetch(self.api_url, token)
        with self._lock:
            self._cache = {t: v for t, v in self._cache.items() if now - v[0] < self.interval_s}
            self._cache[token] = (now, user)
        return user


# ------------------------------------------------------------------------------------------------------------
# Authorization
# ------------------------------------------------------------------------------------------------------------
AuthorizeCallback = Callable[[dict[str, Any] | None, str], bool | str]


def _groups(user: Mapping[str, Any] | None) -> list[str]:
    groups = (user or {}).get("groups") or []
    return [str(g) for g in groups]


def authorize_callback(
    settings: ServeSettings,
    check: HubUserCheck | None = None,
    token: Callable[[], str | None] = lambda: pn.state.access_token,
) -> AuthorizeCallback:
    """Return Panel's ``authorize_callback(user_info, path)`` for the registry's pages.

    Parameters
    ----------
    settings
        The service's settings: in developer mode the pretend user's groups decide.
    check
        The Hub re-check (OAuth mode); default one on ``settings.hub_api_url``.
    token
        Returns the session's access token (default ``pn.state.access_token``).

    Returns
    -------
    callable
        ``callback(user_info, path)``: True to serve the page, False for Panel's 403 page, or the URL of
        the Hub login to send a user whose token the Hub no longer accepts (a logged-out user).
    """
    if settings.dev_groups is None and check is None:
        check = HubUserCheck(settings.hub_api_url, settings.recheck_s)

    def callback(user_info: dict[str, Any] | None, path: str) -> bool | str:
        page = page_of(path, settings.prefix)
        if settings.dev_groups is not None:
            groups = list(settings.dev_groups)
        else:
            assert check is not None
            access_token = token()
            user = check.user(access_token) if access_token else None
            if user is None:
                return f"{settings.prefix}{LOGIN_ENDPOINT}?next={quote(path)}"
            groups = _groups(user) if "groups" in user else _groups(user_info)
        if page == "":
            return True  # the index lists only the pages the user may open
        return registry.may_open(groups, page)

    return callback


def current_groups(settings: ServeSettings) -> list[str]:
    """Return the groups of the session's user (developer mode: the pretend user's)."""
    if settings.dev_groups is not None:
        return list(settings.dev_groups)
    return _groups(pn.state.user_info)


# ------------------------------------------------------------------------------------------------------------
# Pages
# ------------------------------------------------------------------------------------------------------------
def still_allowed(check: HubUserCheck, token: str | None, page: str) -> bool:
    """Whether the Hub still accepts ``token`` and its user's groups still open ``page``.

    A Hub that does not answer counts as no (fail closed).
    """
    if not token:
        return False
    try:
        user = check.user(token)
    except OSError:
        return False
    return user is not None and registry.may_open(_groups(user), page)


#: what an open page shows once its user logged out of the Hub (or lost the page's group)
ENDED = "Your hub session ended (logged out, or your groups changed). Reload the page to log in again."


#: the navigation bar's links: a flex row that wraps (an admin's ten pages and "Hub home" do not fit one
#: line at 1280 px beside the page title), so no link is ever cut at the window's edge
NAV_STYLE = (
    "display:flex;flex-wrap:wrap;align-items:center;column-gap:18px;row-gap:2px;font-size:15px;"
    "line-height:1.5;white-space:normal;padding:4px 0;"
)
#: the template's header: its items may shrink below the links' one-line width (they wrap instead)
HEADER_CSS = "#header-items { min-width: 0; white-space: normal; } #header { flex-wrap: nowrap; }"


def navigation(settings: ServeSettings, current: str) -> str:
    """Return the HTML of the links to the pages the session's user may open (``current`` highlighted).

    The links wrap onto a second line when they do not fit beside the title (:data:`NAV_STYLE`).
    """
    links = []
    for p in registry.pages_for(current_groups(settings)):
        style = "font-weight:bold;text-decoration:underline;" if p.name == current else ""
        links.append(
            f'<a id="nav-{p.name}" href="{settings.prefix}/{p.name}" title="{p.description}" '
            f'style="color:white;white-space:nowrap;{style}">{p.title}</a>'
        )
    base = settings.prefix.rsplit("/services/", 1)[0] if "/services/" in settings.prefix else ""
    hub = base.rstrip("/") + "/"
    links.append(
        f'<a id="nav-hub" href="{hub}hub/home" style="color:white;white-space:nowrap;margin-left:auto;'
        f'padding-right:8px;">Hub home</a>'
    )  # at the right end of the last line
    return f'<nav class="mi-nav" style="{NAV_STYLE}">' + "".join(links) + "</nav>"


def page_template(settings: ServeSettings, title: str, current: str, content: Any) -> Any:
    """Return the template every page is served in: the title and the navigation above ``content``."""
    template = pn.template.BootstrapTemplate(
        title=title, header_background="#1f3f66", collapsed_sidebar=True, sidebar_width=0,
        favicon=f"{settings.prefix}/static/extensions/panel/images/favicon.ico",  # Panel's, served here
        raw_css=[HEADER_CSS],
    )  # fmt: skip
    template.header.append(pn.pane.HTML(navigation(settings, current), sizing_mode="stretch_width"))  # type: ignore[union-attr]
    template.main.append(content)  # type: ignore[union-attr]
    return template


def _viewer(
    settings: ServeSettings, page: registry.Page, check: HubUserCheck | None = None
) -> Callable[[], pn.viewable.Viewable]:
    def build() -> Any:
        pn.extension("tabulator", sizing_mode="stretch_width", notifications=False)
        module, attribute = page.app.split(":")
        app: pn.viewable.Viewable = getattr(import_module(module), attribute)()
        data.report_event("page", data.current_user(), action=page.name, source="dashboards")
        if check is None:
            return page_template(settings, page.title, page.name, app)
        # an open page re-checks its user too: logging out of the Hub ends it within the interval
        holder = pn.Column(app, sizing_mode="stretch_width")
        token = pn.state.access_token

        def recheck() -> None:
            if not still_allowed(check, token, page.name):
                holder[:] = [pn.pane.Alert(ENDED, alert_type="warning")]
                if callback is not None:
                    callback.stop()

        callback = pn.state.add_periodic_callback(recheck, period=max(int(check.interval_s * 1000), 1000))
        return page_template(settings, page.title, page.name, holder)

    return build


def _index(settings: ServeSettings) -> Callable[[], pn.viewable.Viewable]:
    def build() -> Any:
        pn.extension(sizing_mode="stretch_width")
        mine = registry.pages_for(current_groups(settings))
        lines = [f"- [{p.title}]({settings.prefix}/{p.name}): {p.description}" for p in mine]
        body = "\n".join(lines) or "No dashboard is open to your groups; ask an admin."
        content = pn.Column(pn.pane.Markdown(f"## Dashboards\n\n{body}", margin=(0, 10)))
        return page_template(settings, "Dashboards", "", content)

    return build


def apps(
    settings: ServeSettings, check: HubUserCheck | None = None
) -> dict[str, Callable[[], pn.viewable.Viewable]]:
    """Return :func:`panel.serve`'s applications: the index at ``/`` and every registry page.

    With ``check`` (OAuth mode) each open page re-checks its user every ``check.interval_s`` [s].
    """
    pages: dict[str, Callable[[], pn.viewable.Viewable]] = {"/": _index(settings)}
    pages.update({name: _viewer(settings, page, check) for name, page in registry.PAGES.items()})
    return pages


def _may_read_metrics(check: HubUserCheck | None, token: str) -> bool:
    """Whether a scraper's Hub token belongs to a user of the metrics' page (developer mode: nobody)."""
    return check is not None and still_allowed(check, token, metrics.METRICS_PAGE)


def build_server(settings: ServeSettings) -> Any:
    """Return the Bokeh server of the pages (not started).

    Returns
    -------
    bokeh.server.server.Server
    """
    oauth = settings.dev_groups is None
    check = HubUserCheck(settings.hub_api_url, settings.recheck_s) if oauth else None
    pn.config.authorize_callback = authorize_callback(settings, check)
    titles = {"/": "Dashboards", **{name: page.title for name, page in registry.PAGES.items()}}
    return pn.serve(
        apps(settings, check), port=settings.port, address=settings.address, prefix=settings.prefix,
        websocket_origin=list(settings.websocket_origins) or None, title=titles, show=False, start=False,
        extra_patterns=[*metrics.patterns(settings.prefix, partial(_may_read_metrics, check)),
                        *reports.patterns(settings, check)],
        **dict(settings.oauth),
    )  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m marketintel.dashboards.serve",
        description="Serve the dashboards (as the Hub service 'dashboards', or locally with --no-auth).",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help=f"developer mode: no OAuth, listen on {DEV_ADDRESS} only, as a user in --groups",
    )
    parser.add_argument(
        "--groups", default="", help="developer mode: comma-separated Hub groups, e.g. quants"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: JUPYTERHUB_SERVICE_URL's; dev 5006)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help=f"interface (default: JUPYTERHUB_SERVICE_URL's; dev mode: {DEV_ADDRESS} only)",
    )
    parser.add_argument(
        "--prefix", default=None, help="URL prefix in developer mode (default /services/dashboards)"
    )
    return parser


def parse_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> ServeSettings:
    """Return the settings of a command line (and the environment, with OAuth).

    Raises
    ------
    ConfigError
        On a bad combination (``--groups`` without ``--no-auth``, a developer mode on another interface).
    """
    args = _parser().parse_args(argv)
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    if args.no_auth:
        if not groups:
            raise ConfigError("--no-auth needs --groups (comma-separated, e.g. --groups quants,traders)")
        if args.address not in (None, DEV_ADDRESS):
            raise ConfigError(
                f"--no-auth listens on {DEV_ADDRESS} only (no authentication), not {args.address}"
            )
        return dev_settings(groups, args.port or 5006, args.prefix or "/services/dashboards")
    if groups:
        raise ConfigError("--groups applies to --no-auth only; with OAuth the Hub says who is in which group")
    settings = settings_from_env(env)
    overrides = {k: v for k, v in (("port", args.port), ("address", args.address)) if v is not None}
    return ServeSettings(**{**settings.__dict__, **overrides}) if overrides else settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service until SIGINT or SIGTERM; return the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = parse_settings(argv)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    # A hub started from a non-interactive shell hands its services an ignored SIGINT: take both signals
    # back, so the Hub stops the service in a moment rather than after its kill timeout.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = build_server(settings)
    loop = server.io_loop

    def stop(signum: int, frame: Any) -> None:
        loop.asyncio_loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.start()
    mode = f"developer mode as groups {list(settings.dev_groups)}" if settings.dev_groups else "Hub OAuth"
    log.info("dashboards at http://%s:%d%s/ (%s)", settings.address, settings.port, settings.prefix, mode)
    try:
        loop.start()
    finally:
        tail.stop_all()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
