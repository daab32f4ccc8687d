"""The hub on HTTPS (`mi hub up --ssl-cert --ssl-key`): login, the dashboards' OAuth round trip, the page."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.hub.conftest import platform_env

pytestmark = pytest.mark.slow


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_the_hub_serves_logins_and_dashboards_over_tls(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a test certificate")
    cert, key = _self_signed(tmp_path)
    env = platform_env(tmp_path / "mi-data")
    mi = [sys.executable, "-m", "marketintel.cli"]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*mi, *args], env=env, input=stdin, capture_output=True, text=True, timeout=180)

    try:
        up = run("hub", "up", "--ssl-cert", str(cert), "--ssl-key", str(key))
        assert up.returncode == 0, up.stdout + up.stderr
        url = f"https://127.0.0.1:{env['MI_HUB_PORT']}"
        assert f"hub: {url}/" in up.stdout
        added = run("hub", "user", "add", "tina", "--group", "traders", "--password-stdin",
                    stdin="trader-password-9\n")  # fmt: skip
        assert added.returncode == 0, added.stderr
        trust = ssl.create_default_context(cafile=str(cert))  # the certificate is checked, not waved through
        with httpx.Client(base_url=url, verify=trust, follow_redirects=False, timeout=60) as client:
            client.get("/hub/login")
            answer = client.post("/hub/login", data={
                "username": "tina", "password": "trader-password-9",
                "_xsrf": client.cookies.get("_xsrf", path="/hub/") or "",
            })  # fmt: skip
            assert answer.status_code == 302, answer.text[:300]
            assert all(c.secure for c in client.cookies.jar if c.name.startswith("jupyterhub"))
            target = "/services/dashboards/explorer"
            for _ in range(10):  # the service's OAuth round trip, over TLS
                resp = client.get(target)
                if resp.status_code not in (302, 303):
                    break
                target = str(resp.url.join(resp.headers["location"]))
            assert resp.status_code == 200 and str(resp.url).startswith(f"{url}/services/dashboards/explorer")
            assert "bokeh" in resp.text.lower()
    finally:
        stopped = run("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
