"""The hub's logins, audited.

nativeauthenticator's password check, with every login and failed login reported to the store's audit trail
(:mod:`marketintel.access.events`).
"""

from __future__ import annotations

import threading
from typing import Any

from nativeauthenticator import NativeAuthenticator

#: the store address (with a service's credentials: ``impersonate``) the hub reports logins to; None: none
AUDIT_URL: str | None = None


def _report(kind: str, user: str, source: str) -> None:
    if AUDIT_URL is None:
        return
    from marketintel.access.events import report
    from marketintel.config import parse_clickhouse_url

    url = parse_clickhouse_url(AUDIT_URL)
    threading.Thread(
        target=report, args=(kind, user), kwargs={"url": url, "source": source, "caller": "hub",
                                                  "outcome": "ok" if kind == "login" else "refused"},
        daemon=True,
    ).start()  # fmt: skip


class AuditedAuthenticator(NativeAuthenticator):  # type: ignore[misc]
    """nativeauthenticator, reporting each login attempt (user, address, outcome) to the audit trail."""

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        """Check the password as nativeauthenticator does; report the outcome."""
        result = await super().authenticate(handler, data)
        name = str(data.get("username", ""))[:64]
        address = getattr(getattr(handler, "request", None), "remote_ip", "") or ""
        _report("login" if result else "login_failed", name, f"hub {address}".strip())
        return str(result) if result else None
