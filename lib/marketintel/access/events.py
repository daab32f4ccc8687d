"""Report events to the store's audit trail (``POST /audit``): logins, pages opened, exports, rule changes.

Only the store writes the audit trail; services (store users with ``impersonate = true``) and admins report
what happened outside the store through this endpoint, and the store chains it like its own records.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from typing import Any

from marketintel.config import ClickHouseURL, clickhouse_url

log = logging.getLogger(__name__)


def report(
    kind: str,
    user: str,
    *,
    url: ClickHouseURL | None = None,
    timeout_s: float = 5.0,
    raise_errors: bool = False,
    **fields: Any,
) -> int | None:
    """Report one event; return its sequence number in the chain (None if it could not be reported).

    Parameters
    ----------
    kind : str
        ``login``, ``login_failed``, ``logout``, ``page``, ``api``, ``export``, ``access_change``, ``verify``.
    user : str
        Whom it is about.
    url : ClickHouseURL, optional
        The store and the reporting service's credentials (default ``MI_CLICKHOUSE_URL``).
    timeout_s : float
        How long to wait for the store [s].
    raise_errors : bool
        Raise instead of logging when the store refuses or cannot be reached.
    **fields
        ``caller``, ``source``, ``action``, ``target``, ``outcome``, ``rows``, ``bytes``, ``detail``.
    """
    url = url or clickhouse_url()
    body = json.dumps({"kind": kind, "user": user, **fields}, default=str).encode()
    req = urllib.request.Request(f"{url.scheme}://{url.host}:{url.port}/audit", data=body, method="POST")
    token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return int(json.loads(resp.read())["seq"])
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        detail = exc.read().decode(errors="replace") if isinstance(exc, urllib.error.HTTPError) else str(exc)
        if raise_errors:
            raise RuntimeError(f"the store did not take the audit event: {detail.strip()}") from None
        log.warning("audit event %s of %s not reported: %s", kind, user, detail.strip()[:300])
        return None
