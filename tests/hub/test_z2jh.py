"""deploy/z2jh/values.yaml describes the same authorization as the one-machine hub.

The groups, roles and services of ``values.yaml`` must equal ``hub_access(page_groups())`` after one
documented mapping: z2jh runs jupyterhub-idle-culler itself when ``cull.enabled`` (service and role
``jupyterhub-idle-culler``, no description, ``admin:users`` added only with ``cull.users``), where the
one-machine hub has its own service and role ``idle-culler``. Nothing here installs the chart.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from tornado import web
from traitlets.config import Config

from marketintel.dashboards.registry import page_groups
from marketintel.hub import DASHBOARDS_SERVICE, SERVER_GROUPS
from marketintel.hub import access as hub_access_module
from marketintel.hub.access import CULLER_SERVICE, HubAccess, hub_access

Z2JH = Path(__file__).resolve().parents[2] / "deploy" / "z2jh"
#: the name z2jh gives the culler's service and role (jupyterhub/files/hub/jupyterhub_config.py of the chart)
Z2JH_CULLER = "jupyterhub-idle-culler"
#: the scopes z2jh's culler role has; ``admin:users`` is added when ``cull.users`` is true
Z2JH_CULLER_SCOPES = ("list:users", "read:users:activity", "read:servers", "delete:servers")
#: defaults of the service keys that hub_access sets, for a values.yaml entry that leaves one out
SERVICE_DEFAULTS = {"admin": False, "oauth_no_confirm": False, "display": True}


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> list[Any]:
    """Return the documents of ``path``, refusing duplicate keys."""
    with path.open() as fh:
        return list(yaml.load_all(fh, Loader=_UniqueKeyLoader))  # a SafeLoader subclass


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    (doc,) = load_yaml(Z2JH / "values.yaml")
    return dict(doc)


def z2jh_authorization(values: dict[str, Any]) -> HubAccess:
    """Return the groups, roles and services the chart's jupyterhub_config.py builds from ``values``."""
    hub = values["hub"]
    groups = copy.deepcopy(hub["config"]["JupyterHub"]["load_groups"])
    roles = [{"name": name, **role} for name, role in copy.deepcopy(hub.get("loadRoles") or {}).items()]
    services = [{"name": name, **svc} for name, svc in copy.deepcopy(hub.get("services") or {}).items()]
    cull = values.get("cull") or {}
    if cull.get("enabled"):
        scopes = [*Z2JH_CULLER_SCOPES, *(["admin:users"] if cull.get("users") else [])]
        roles.append({"name": Z2JH_CULLER, "scopes": scopes, "services": [Z2JH_CULLER]})
        services.append({"name": Z2JH_CULLER})
    return HubAccess(groups=groups, roles=roles, services=services)


def expected_on_z2jh(access: HubAccess) -> HubAccess:
    """Return ``access`` with the culler renamed to z2jh's (and without a description, as z2jh's has none)."""

    def rename(name: str) -> str:
        return Z2JH_CULLER if name == CULLER_SERVICE else name

    roles = []
    for role in copy.deepcopy(access.roles):
        if role["name"] == CULLER_SERVICE:
            role.pop("description", None)
        role["name"] = rename(role["name"])
        if "services" in role:
            role["services"] = [rename(s) for s in role["services"]]
        roles.append(role)
    services = [{**svc, "name": rename(svc["name"])} for svc in copy.deepcopy(access.services)]
    return HubAccess(groups=copy.deepcopy(access.groups), roles=roles, services=services)


def _role_view(role: dict[str, Any]) -> dict[str, Any]:
    """What a role grants: order does not matter in its lists."""
    view: dict[str, Any] = {k: sorted(role.get(k) or []) for k in ("scopes", "groups", "services", "users")}
    view["description"] = role.get("description")
    return view


def differences(values: dict[str, Any], access: HubAccess) -> list[str]:
    """Return how the chart's authorization from ``values`` differs from ``access`` (empty: the same)."""
    want, have = expected_on_z2jh(access), z2jh_authorization(values)
    out: list[str] = []
    if have.groups != want.groups:
        out.append(f"groups: values.yaml has {have.groups}, generated {want.groups}")
    want_roles = {r["name"]: _role_view(r) for r in want.roles}
    have_roles = {r["name"]: _role_view(r) for r in have.roles}
    for name in sorted(want_roles.keys() - have_roles.keys()):
        out.append(f"role {name!r} is generated but missing from values.yaml: {want_roles[name]}")
    for name in sorted(have_roles.keys() - want_roles.keys()):
        out.append(f"role {name!r} is in values.yaml but not generated: {have_roles[name]}")
    for name in sorted(want_roles.keys() & have_roles.keys()):
        for key, wanted in want_roles[name].items():
            if have_roles[name][key] != wanted:
                out.append(
                    f"role {name!r} {key}: values.yaml has {have_roles[name][key]}, generated {wanted}"
                )
    want_svcs = {s["name"]: s for s in want.services}
    have_svcs = {s["name"]: s for s in have.services}
    for name in sorted(want_svcs.keys() ^ have_svcs.keys()):
        where = "values.yaml lacks" if name in want_svcs else "values.yaml has an extra"
        out.append(f"{where} service {name!r}")
    for name in sorted(want_svcs.keys() & have_svcs.keys()):
        for key, wanted in want_svcs[name].items():
            got = have_svcs[name].get(key, SERVICE_DEFAULTS.get(key))
            if got != wanted:
                out.append(f"service {name!r} {key}: values.yaml has {got!r}, generated {wanted!r}")
    return out


# ------------------------------------------------------------------------------------------------------------
def test_values_yaml_equals_generated_authorization(values: dict[str, Any]) -> None:
    assert differences(values, hub_access(page_groups())) == []


def test_culler_mapping_is_the_documented_one(values: dict[str, Any]) -> None:
    assert values["cull"]["enabled"] is True
    assert values["cull"]["timeout"] == 3600
    assert CULLER_SERVICE not in values["hub"]["loadRoles"]
    assert CULLER_SERVICE not in values["hub"]["services"]
    generated = next(r for r in hub_access(page_groups()).roles if r["name"] == CULLER_SERVICE)
    assert tuple(generated["scopes"]) == Z2JH_CULLER_SCOPES


def test_a_group_losing_its_last_page_is_reported(values: dict[str, Any]) -> None:
    pages = {name: [g for g in groups if g != "ops"] for name, groups in copy.deepcopy(page_groups()).items()}
    found = differences(values, hub_access(pages))
    assert found
    assert any("dashboards-viewer" in d and "'ops'" in d for d in found), found


def test_a_changed_role_scope_is_reported(values: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_access_module, "USER_SCOPES", (*hub_access_module.USER_SCOPES, "servers!user"))
    found = differences(values, hub_access(page_groups()))
    assert any(d.startswith("role 'user' scopes") for d in found), found


def test_a_removed_service_flag_is_reported(values: dict[str, Any]) -> None:
    changed = copy.deepcopy(values)
    del changed["hub"]["services"][DASHBOARDS_SERVICE]["oauth_no_confirm"]
    found = differences(changed, hub_access(page_groups()))
    assert found == [
        f"service {DASHBOARDS_SERVICE!r} oauth_no_confirm: values.yaml has False, generated True"
    ]


def test_nativeauthenticator_settings(values: dict[str, Any]) -> None:
    config = values["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "nativeauthenticator.NativeAuthenticator"
    native = config["NativeAuthenticator"]
    assert native["open_signup"] is False
    assert native["allowed_failed_logins"] > 0
    assert native["seconds_before_next_try"] > 0
    # JupyterHub 5 admits nobody without allow config; NativeAuthenticator's approval is the gate
    assert config["Authenticator"]["allow_all"] is True


def _spawn_hook(values: dict[str, Any]) -> Any:
    (snippet,) = values["hub"]["extraConfig"].values()
    c = Config()
    namespace: dict[str, Any] = {"c": c}
    exec(compile(snippet, "hub.extraConfig", "exec"), namespace)
    assert namespace["MI_SERVER_GROUPS"] == set(SERVER_GROUPS)
    return c.KubeSpawner.pre_spawn_hook


def _spawner(name: str, *groups: str) -> SimpleNamespace:
    user = SimpleNamespace(name=name, groups=[SimpleNamespace(name=g) for g in groups])
    return SimpleNamespace(user=user, environment={})


def test_extra_config_refuses_to_spawn_outside_the_server_groups(values: dict[str, Any]) -> None:
    hook = _spawn_hook(values)
    with pytest.raises(web.HTTPError) as refused:
        hook(_spawner("tina", "traders", "ops"))
    assert refused.value.status_code == 403
    quant = _spawner("Quinn_Q", "quants")
    hook(quant)
    secret = quant.environment["MI_CLICKHOUSE_URL"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "mi-store-quinn-q", "key": "url"}


def test_profiles_for_quants(values: dict[str, Any]) -> None:
    profiles = values["singleuser"]["profileList"]
    assert sum(bool(p.get("default")) for p in profiles) == 1
    for profile in profiles:
        override = profile["kubespawner_override"]
        assert {"cpu_guarantee", "mem_guarantee"} <= override.keys(), profile["display_name"]


def test_dashboards_deployment_matches_the_service(values: dict[str, Any]) -> None:
    docs = {d["kind"]: d for d in load_yaml(Z2JH / "dashboards.yaml")}
    assert docs.keys() == {"Deployment", "Service"}
    deployment, service = docs["Deployment"], docs["Service"]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["hub.jupyter.org/network-access-hub"] == "true"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-m", "marketintel.dashboards.serve"]
    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTERHUB_API_URL"]["value"] == "http://hub:8081/hub/api"
    assert env["JUPYTERHUB_CLIENT_ID"]["value"] == f"service-{DASHBOARDS_SERVICE}"
    assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == f"/services/{DASHBOARDS_SERVICE}/"
    token = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "hub", "key": f"hub.services.{DASHBOARDS_SERVICE}.apiToken"}
    hub_service = values["hub"]["services"][DASHBOARDS_SERVICE]
    (port,) = service["spec"]["ports"]
    assert hub_service["url"] == f"http://{service['metadata']['name']}:{port['port']}"
    assert hub_service["oauth_client_id"] == env["JUPYTERHUB_CLIENT_ID"]["value"]
    assert hub_service["oauth_redirect_uri"] == env["JUPYTERHUB_OAUTH_CALLBACK_URL"]["value"]
