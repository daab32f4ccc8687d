"""What the store lets a client's user do, as the entitlement its connections carry says."""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)


def export_rights(client: Any, database: str | None = None) -> bool | frozenset[str]:
    """Return True if the client's user may export everything, else the governed tables they may export.

    Read from the entitlement the store gives the user's connections (``getSetting('log_comment')``):
    ``rls:all`` (admins, ``admins``, service accounts) may export everything; an entitled user the tables
    whose rules carry the export right in ``database`` (default: the client's).
    """
    try:
        text = str(client.query("SELECT getSetting('log_comment')").result_rows[0][0])
    except Exception as exc:  # no entitlement readable: no export
        log.warning("cannot read the export rights: %s", exc)
        return frozenset()
    if not text.startswith("{"):
        return True
    db = database or getattr(client, "database", None) or "default"
    return frozenset(json.loads(text).get("d", {}).get(db, {}).get("x", []))
