# mypy: disable-error-code="no-untyped-call, var-annotated"
"""The audit trail, for admins: failed logins, exports, refused queries, unusual activity, the chain's state.

Reads :mod:`marketintel.services.audit` as the logged-in admin. "Verify now" re-computes the hash chain with
the key kept beside the store (the dashboards run on the store's machine) and records the verification in
the trail, as ``mi audit verify`` does.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from marketintel.dashboards.data import current_user, report_event
from marketintel.dashboards.page import PageView
from marketintel.services import audit

__all__ = ["Audit"]


def _table(height: int = 260) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width", height=height,
        layout="fit_data_fill", pagination="local", page_size=10,
    )  # fmt: skip


class Audit(PageView):
    """Who tried what: logins, exports, refusals, unusual volumes; and whether the chain holds."""

    title = "Audit trail"
    intro = (
        "Every login, query, page, export and entitlement change, in a hash chain only the store writes. "
        "Failed logins, exports, refused queries and unusual activity of the last 30 days."
    )

    def __init__(self, client: Any = None, database: str | None = None, **params: Any) -> None:
        super().__init__(client, database, **params)
        self._verify_md = pn.pane.Markdown("", css_classes=["mi-audit-verify"], sizing_mode="stretch_width")
        self._verify_button = pn.widgets.Button(name="Verify the chain now", button_type="primary", width=220)
        self._verify_button.on_click(lambda _e: self.verify_now())
        self._counts = _table(200)
        self._failed = _table()
        self._exports_table = _table()
        self._refused = _table(320)
        self._unusual = _table(200)
        self.reload()

    def reload(self) -> None:
        """Read every section again."""
        with self.guard("reading the audit trail"):
            last = audit.last_verification(self.client)
            self._show_verification(last)
            self._counts.value = audit.counts(self.client)
            self._failed.value = audit.failed_logins(self.client)
            self._exports_table.value = audit.exports(self.client)
            self._refused.value = audit.refused(self.client)
            self._unusual.value = audit.unusual(self.client)

    def _show_verification(self, last: audit.LastVerify) -> None:
        if last.ok is None:
            self._verify_md.object = f"**Chain:** {last.result}"
        else:
            state = "verified" if last.ok else "**BROKEN**"
            self._verify_md.object = (
                f"**Chain {state}** at {last.at_utc:%Y-%m-%d %H:%M:%S} UTC by {last.by}: {last.result}"
            )

    def verify_now(self) -> None:
        """Re-compute the chain (the key is read from beside the store) and record the result."""
        from marketintel import config
        from marketintel.access.audit import verify_store
        from marketintel.store.endpoint.process import audit_dir

        with self.guard("verifying the audit chain"):
            verdict = verify_store(self.client, audit_dir(config.store_dir()))
            report_event("verify", current_user() or "dashboards", action="verify",
                         outcome="ok" if verdict.ok else "error", rows=verdict.checked,
                         detail={"result": str(verdict), "bad_seq": verdict.bad_seq})  # fmt: skip
            self._verify_md.object = (
                "**Chain verified now:** " if verdict.ok else "**Chain BROKEN:** "
            ) + str(verdict)

    def controls(self) -> list[Any]:
        """Return the page's buttons."""
        refresh = pn.widgets.Button(name="Refresh", width=220)
        refresh.on_click(lambda _e: self.reload())
        return [self._verify_button, refresh]

    def main(self) -> list[Any]:
        """Return the sections."""
        return [
            self._verify_md,
            pn.pane.Markdown("### Records today, by kind and outcome"),
            self._counts,
            pn.pane.Markdown("### Failed logins (30 days), by user and source"),
            self._failed,
            pn.pane.Markdown("### Exports by user (30 days): rows and bytes"),
            self._exports_table,
            pn.pane.Markdown("### Refused queries and events (latest first)"),
            self._refused,
            pn.pane.Markdown(
                f"### Unusual activity: a day's rows read above {audit.UNUSUAL_FACTOR:g}x the user's "
                "30-day median"
            ),
            self._unusual,
        ]
