"""The service's settings from the Hub's environment, the per-page authorization and the token re-check."""

from __future__ import annotations

from typing import Any

import pytest

from marketintel.dashboards import registry
from marketintel.dashboards.serve import (
    HubUserCheck,
    authorize_callback,
    dev_settings,
    page_of,
    parse_settings,
    settings_from_env,
)
from marketintel.exceptions import ConfigError

HUB_ENV = {
    "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:10101",
    "JUPYTERHUB_SERVICE_PREFIX": "/services/dashboards/",
    "JUPYTERHUB_CLIENT_ID": "service-dashboards",
    "JUPYTERHUB_API_TOKEN": "s3cret-token",
    "JUPYTERHUB_OAUTH_CALLBACK_URL": "/services/dashboards/oauth_callback",
    "JUPYTERHUB_BASE_URL": "/",
    "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
    "MI_DASHBOARDS_COOKIE_SECRET": "cookie-secret",
    "MI_DASHBOARDS_ORIGINS": "hub.example.org:8000, localhost:8000",
}


def test_oauth_settings_from_the_hub_environment_are_as_the_notes_say() -> None:
    s = settings_from_env(HUB_ENV)
    assert (s.address, s.port, s.prefix) == ("127.0.0.1", 10101, "/services/dashboards")
    assert s.websocket_origins == ("hub.example.org:8000", "localhost:8000")
    assert s.hub_api_url == "http://127.0.0.1:8081/hub/api" and s.recheck_s == 30 and s.dev_groups is None
    assert dict(s.oauth) == {
        "oauth_provider": "generic",
        "oauth_key": "service-dashboards",
        "oauth_secret": "s3cret-token",
        "oauth_redirect_uri": "/services/dashboards/oauth_callback",
        "oauth_extra_params": {
            "AUTHORIZE_URL": "/hub/api/oauth2/authorize",
            "TOKEN_URL": "http://127.0.0.1:8081/hub/api/oauth2/token",
            "USER_URL": "http://127.0.0.1:8081/hub/api/user",
            "USER_KEY": "name",
            "scope": [],
        },
        "login_endpoint": "/oauth_callback",
        "cookie_path": "/services/dashboards/",
        "cookie_secret": "cookie-secret",
    }


def test_hub_under_a_base_url_and_a_recheck_interval() -> None:
    s = settings_from_env({**HUB_ENV, "JUPYTERHUB_BASE_URL": "/jh/", "MI_DASHBOARDS_RECHECK_S": "5"})
    assert s.oauth["oauth_extra_params"]["AUTHORIZE_URL"] == "/jh/hub/api/oauth2/authorize"
    assert s.recheck_s == 5


@pytest.mark.parametrize(
    "missing", ["MI_DASHBOARDS_COOKIE_SECRET", "JUPYTERHUB_CLIENT_ID", "JUPYTERHUB_API_URL"]
)
def test_a_missing_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in HUB_ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        settings_from_env(env)


def test_developer_mode_is_loopback_only_and_needs_groups() -> None:
    s = parse_settings(["--no-auth", "--groups", "traders,quants", "--port", "5010"], env={})
    assert (s.address, s.port, s.dev_groups, dict(s.oauth)) == ("127.0.0.1", 5010, ("traders", "quants"), {})
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1 only"):
        parse_settings(["--no-auth", "--groups", "quants", "--address", "0.0.0.0"], env={})
    with pytest.raises(ConfigError, match="needs --groups"):
        parse_settings(["--no-auth"], env={})
    with pytest.raises(ConfigError, match="--no-auth only"):
        parse_settings(["--groups", "quants"], env=HUB_ENV)
    with pytest.raises(ConfigError, match="unknown groups"):
        dev_settings(["nobody"])
    assert parse_settings(["--port", "9999"], env=HUB_ENV).port == 9999


def test_page_of_a_path() -> None:
    prefix = "/services/dashboards"
    assert page_of("/services/dashboards/explorer", prefix) == "explorer"
    assert page_of("/services/dashboards/backtests/", prefix) == "backtests"
    assert page_of("/services/dashboards/", prefix) == ""


@pytest.mark.parametrize("groups", [["traders"], ["quants"], ["ops"], ["admins"], ["traders", "ops"], []])
def test_developer_mode_authorizes_per_registry(groups: list[str]) -> None:
    callback = authorize_callback(dev_settings(groups or ["ops"]))
    groups = groups or ["ops"]
    for page in registry.PAGES:
        assert callback(None, f"/services/dashboards/{page}") is registry.may_open(groups, page)
    assert callback(None, "/services/dashboards/") is True
    assert callback(None, "/services/dashboards/nonexistent") is False


def test_traders_may_open_the_explorer_not_the_curve_builder() -> None:
    callback = authorize_callback(dev_settings(["traders"]))
    assert callback(None, "/services/dashboards/explorer") is True
    assert callback(None, "/services/dashboards/curve-builder") is False


class FakeHub:
    """The Hub's ``/user``: a user model per live token; counts the calls."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def __call__(self, api_url: str, token: str) -> dict[str, Any] | None:
        self.calls += 1
        return self.users.get(token)


def test_oauth_mode_rechecks_the_token_at_most_every_interval() -> None:
    settings = settings_from_env(HUB_ENV)
    hub, now = FakeHub(), [0.0]
    hub.users["tok"] = {"name": "ann", "groups": ["traders"]}
    check = HubUserCheck(settings.hub_api_url, settings.recheck_s, fetch=hub, clock=lambda: now[0])
    callback = authorize_callback(settings, check, token=lambda: "tok")
    login_info = {"name": "ann", "groups": ["traders"]}

    assert callback(login_info, "/services/dashboards/explorer") is True
    assert callback(login_info, "/services/dashboards/curve-builder") is False  # Panel's 403 page
    assert hub.calls == 1  # cached for the interval

    del hub.users["tok"]  # ann logs out of the Hub: her token is revoked
    now[0] = 29.0
    assert callback(login_info, "/services/dashboards/explorer") is True  # still within the interval
    now[0] = 30.5
    assert callback(login_info, "/services/dashboards/explorer") == (
        "/services/dashboards/oauth_callback?next=/services/dashboards/explorer"
    )  # back through the Hub's login
    assert hub.calls == 2

    hub.users["tok2"] = {"name": "ann", "groups": ["quants"]}  # groups as the Hub says now
    fresh = authorize_callback(settings, check, token=lambda: "tok2")
    assert fresh(login_info, "/services/dashboards/curve-builder") is True
    no_token = authorize_callback(settings, check, token=lambda: None)
    assert isinstance(no_token(login_info, "/services/dashboards/explorer"), str)


def test_an_open_page_ends_when_its_user_logs_out_or_loses_the_group() -> None:
    from marketintel.dashboards.serve import still_allowed

    settings = settings_from_env(HUB_ENV)
    hub, now = FakeHub(), [0.0]
    hub.users["tok"] = {"name": "ann", "groups": ["traders"]}
    check = HubUserCheck(settings.hub_api_url, settings.recheck_s, fetch=hub, clock=lambda: now[0])
    assert still_allowed(check, "tok", "explorer")
    assert not still_allowed(check, "tok", "curve-builder")
    assert not still_allowed(check, None, "explorer")
    hub.users["tok"] = {"name": "ann", "groups": []}  # an admin took her out of traders
    now[0] = 31.0
    assert not still_allowed(check, "tok", "explorer")
    del hub.users["tok"]  # logged out
    now[0] = 62.0
    assert not still_allowed(check, "tok", "explorer")

    def down(api_url: str, token: str) -> dict[str, Any] | None:
        raise OSError("connection refused")

    assert not still_allowed(HubUserCheck(settings.hub_api_url, 30.0, fetch=down), "tok", "explorer")
