"""The hub as its users and operators meet it, over HTTP: `mi hub`, logins, groups, roles, the service gate.

The browser tests (test_browser.py) look at the same platform as a person does; these check the rules.
"""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest

from tests.hub.conftest import Platform

pytestmark = pytest.mark.slow


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_leaves_the_hub_up_with_one_user_per_group_and_private_secrets(platform: Platform) -> None:
    out = platform.demo_stdout
    for line in (
        "demo-trader  traders: explorer, exports, curves, accuracy",
        "demo-quant   quants: explorer, exports, curves, curve-builder, scenarios, accuracy, quality; "
        "JupyterLab",
        "demo-ops     ops: quality, health",
        "demo-admin   admins (Hub admin): explorer, exports, curves, curve-builder, scenarios, accuracy, "
        "quality, access, audit, health",
        "demo-pilot   customers-spp: explorer, exports",
        "demo-delayed customers-delayed: explorer, exports",
    ):
        assert line in out, out
    hub = platform.data_dir / "hub"
    assert _mode(hub / "demo-users.txt") == 0o600
    demo_users = {"demo-trader", "demo-quant", "demo-ops", "demo-admin", "demo-pilot", "demo-delayed"}
    assert set(platform.passwords) == demo_users
    secrets = sorted((hub / "secrets").iterdir())
    assert {p.name for p in secrets} >= {"cookie_secret", "proxy_token", "dashboards.token", "mi-admin.token"}
    assert all(_mode(p) == 0o600 for p in secrets) and _mode(hub / "secrets") == 0o700
    store_passwords = sorted((hub / "store").iterdir())
    # every hub user has a store user (their groups: their entitlement), and the dashboards service
    assert {p.name for p in store_passwords} >= {"dashboards", "dashboards-acks", *demo_users}
    assert all(_mode(p) == 0o600 for p in store_passwords)
    users = tomllib.loads((platform.data_dir / "store" / "users.toml").read_text())["users"]
    assert users["dashboards"]["role"] == users["demo-admin"]["role"] == "reader"
    assert users["demo-quant"]["role"] == "writer"  # the demo quant saves curves from the curve builder
    assert users["dashboards-acks"]["role"] == "reader"
    assert users["dashboards-acks"]["insert_into"] == ["alert_acks", "access_rules"]
    assert users["dashboards"]["impersonate"] is True and "groups" not in users["dashboards"]
    assert users["demo-trader"] == {**users["demo-trader"], "role": "reader", "groups": ["traders"]}
    assert users["demo-pilot"]["groups"] == ["customers-spp"]
    assert users["default"]["role"] == "admin"  # the flows and `mi` keep working
    for secret in secrets:  # no secret leaks into the hub's log
        assert secret.read_text().strip() not in (hub / "hub.log").read_text()


def test_hub_up_is_idempotent_and_status_shows_every_part(platform: Platform) -> None:
    state = json.loads((platform.data_dir / "hub" / "hub.json").read_text())
    again = platform.mi("hub", "up")
    assert again.returncode == 0, again.stderr
    assert f"pid {state['pid']}" in again.stdout  # the same hub, not a second one
    status = platform.mi("hub", "status")
    assert status.returncode == 0 and "dashboards service up" in status.stdout, status.stdout
    assert "API up at" in status.stdout, status.stdout
    every = platform.mi("status")
    lines = {line.split()[0]: line for line in every.stdout.splitlines() if line and not line[0].isspace()}
    assert " up " in lines["hub"] and " up " in lines["store"], every.stdout


def test_listening_beyond_loopback_needs_tls_or_insecure(platform: Platform, tmp_path: Path) -> None:
    refused = platform.mi("hub", "up", "--ip", "0.0.0.0", "--port", "1")
    assert refused.returncode == 2 and "without TLS" in refused.stderr, refused.stderr
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    half = platform.mi("hub", "up", "--ip", "0.0.0.0", "--ssl-cert", str(cert))
    assert half.returncode == 2 and "go together" in half.stderr, half.stderr


def test_logins_are_per_user_passwords_and_wrong_ones_are_refused(platform: Platform) -> None:
    client, answer = platform.login("demo-trader")
    assert answer.status_code == 302 and answer.headers["location"].endswith("/hub/home")
    assert client.get("/hub/home").status_code == 200
    client, answer = platform.login("demo-trader", "not-the-password")
    assert answer.status_code != 302 and "Invalid username or password" in answer.text
    assert "jupyterhub-session-id" not in client.cookies
    assert client.get("/hub/home").status_code == 302  # not logged in: sent to the login page
    _, answer = platform.login("demo-trader", platform.password("demo-quant"))  # another user's password
    assert answer.status_code != 302


def test_failed_logins_lock_the_name(platform: Platform) -> None:
    added = platform.mi("hub", "user", "add", "locked1", "--group", "traders", "--password-stdin",
                        stdin="right-password-1\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    platform.extra_users["locked1"] = "right-password-1"
    for _ in range(5):
        _, answer = platform.login("locked1", "wrong-password-x")
        assert answer.status_code != 302
    _, answer = platform.login("locked1")  # the right password, too soon after 5 failures
    assert answer.status_code != 302, "the name should be locked for 60 s after 5 failed logins"


def test_traders_and_ops_have_no_server_quants_do(platform: Platform) -> None:
    for user in ("demo-trader", "demo-ops"):
        client, _ = platform.login(user)
        home = client.get("/hub/home")
        assert 'id="start"' not in home.text
        xsrf = client.cookies.get("_xsrf", path="/hub/") or ""
        spawn = client.post(f"/hub/api/users/{user}/server", headers={"X-XSRFToken": xsrf})
        assert spawn.status_code == 403, spawn.text
    trader_home = platform.login("demo-trader")[0].get("/hub/home").text
    assert 'id="dashboard-explorer"' in trader_home and 'id="dashboard-curve-builder"' not in trader_home
    ops_home = platform.login("demo-ops")[0].get("/hub/home").text
    assert 'id="dashboard-health"' in ops_home and 'id="dashboard-explorer"' not in ops_home
    quant, answer = platform.login("demo-quant")
    assert answer.headers["location"].endswith("/hub/spawn")  # quants land in JupyterLab
    quant_home = quant.get("/hub/home").text
    assert 'id="start"' in quant_home and 'id="dashboard-curve-builder"' in quant_home


def _follow(client: object, url: str, limit: int = 10) -> tuple[int, str]:
    """Follow redirects by hand (the OAuth dance crosses the Hub and the service); return the last answer."""
    import httpx

    assert isinstance(client, httpx.Client)
    for _ in range(limit):
        resp = client.get(url)
        if resp.status_code not in (301, 302, 303, 307):
            return resp.status_code, str(resp.url)
        url = str(resp.url.join(resp.headers["location"]))
    raise AssertionError(f"too many redirects from {url}")


def test_the_hub_refuses_the_dashboards_to_a_user_in_no_group(platform: Platform) -> None:
    added = platform.mi("hub", "user", "add", "nogroup1", "--password-stdin", stdin="nogroup-password-1\n")
    assert added.returncode == 0 and "in no group" in added.stdout, added.stdout + added.stderr
    platform.extra_users["nogroup1"] = "nogroup-password-1"
    client, answer = platform.login("nogroup1")
    assert answer.status_code == 302
    code, url = _follow(client, "/services/dashboards/explorer")
    assert code == 403 and "/hub/api/oauth2/authorize" in url, (code, url)
    trader, _ = platform.login("demo-trader")
    code, url = _follow(trader, "/services/dashboards/explorer")
    assert code == 200 and url.endswith("/services/dashboards/explorer"), (code, url)


def test_admins_manage_users_in_the_admin_page_too(platform: Platform) -> None:
    admin, _ = platform.login("demo-admin")
    assert admin.get("/hub/admin").status_code == 200
    xsrf = admin.cookies.get("_xsrf", path="/hub/") or ""
    listed = admin.get("/hub/api/users", headers={"X-XSRFToken": xsrf})
    assert listed.status_code == 200 and {"demo-trader", "demo-quant"} <= {u["name"] for u in listed.json()}
    trader, _ = platform.login("demo-trader")
    assert trader.get("/hub/admin").status_code == 403


def test_user_commands_manage_groups_store_credentials_and_removal(platform: Platform) -> None:
    def mi(*args: str, stdin: str | None = None) -> str:
        done = platform.mi("hub", "user", *args, stdin=stdin)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    users_file = platform.data_dir / "store" / "users.toml"
    mi("add", "quant9", "--group", "quants", "--group", "traders", "--password-stdin",
       stdin="quant9-password\n")  # fmt: skip
    assert "quant9" in tomllib.loads(users_file.read_text())["users"]
    listing = mi("list")
    row = next(line for line in listing.splitlines() if line.startswith("quant9 "))
    assert "traders,quants" in row and "set" in row and "reader" in row, listing
    assert tomllib.loads(users_file.read_text())["users"]["quant9"]["groups"] == ["quants", "traders"]
    mi("set-groups", "quant9", "traders")  # leaves the server group: a reader with the trader's entitlement
    entry = tomllib.loads(users_file.read_text())["users"]["quant9"]
    assert (entry["role"], entry["groups"]) == ("reader", ["traders"])
    for bad, message in (
        (("add", "quant9", "--password-stdin"), "exists already"),
        (("add", "Bad Name", "--password-stdin"), "lowercase"),
        (("add", "default", "--password-stdin"), "reserved"),
        (("add", "short1", "--password-stdin"), "at least 10"),
    ):
        password = "short\n" if "short1" in bad else "quant9-password\n"
        failed = platform.mi("hub", "user", *bad, stdin=password)
        assert failed.returncode == 2 and message in failed.stderr, (bad, failed.stderr)
    unknown = platform.mi("hub", "user", "set-groups", "quant9", "wizards")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
    mi("remove", "quant9")  # the hub user and their store user go
    assert "quant9" not in mi("list")
    assert "quant9" not in tomllib.loads(users_file.read_text())["users"]
    assert not (platform.data_dir / "hub" / "store" / "quant9").exists()
    _, answer = platform.login("quant9", "quant9-password")
    assert answer.status_code != 302
