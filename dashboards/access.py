# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Entitlements, for admins: the rules in force, their history, grant and revoke.

The same operations as ``mi access grant/revoke`` (:mod:`marketintel.access.rules`). The page reads as the
logged-in admin; it writes rules with the dashboards' small writer (``MI_ALERT_ACK_URL``, whose grant covers
``alert_acks`` and ``access_rules`` and nothing else), records the admin as the changer, and reports the
change to the audit trail.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import panel as pn

from marketintel.access import policy, rules
from marketintel.dashboards.data import current_user, report_event
from marketintel.dashboards.page import PageView
from marketintel.hub import GROUPS

__all__ = ["Access"]

_COLUMNS = ["rule_id", "group", "table", "opens", "delay", "history", "export", "version", "changed_by"]


def _rules_frame(found: list[rules.Rule]) -> pd.DataFrame:
    rows = []
    for r in found:
        opens = "; ".join(f"{k}={','.join(v)}" for k, v in r.restrictions().items()) or "every row"
        delay, hist = rules.format_duration(r.delay_s), rules.format_duration(r.history_s)
        export = "yes" if r.export else "no"
        rows.append([r.rule_id, r.group, r.table, opens, delay, hist, export, r.version, r.changed_by])
    return pd.DataFrame(rows, columns=_COLUMNS)


def _split(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").replace("\n", ",").split(",") if v.strip()]


class Access(PageView):
    """Who sees what: the rules in force, and the form that grants and revokes them."""

    title = "Entitlements"
    intro = (
        "Rules granted to groups: markets, locations (names or patterns like `*_HUB`), location types, "
        "variables, products, a publication delay, a history limit, the export right. No rule: nothing of a "
        "table; `admins` see everything. The store applies a change within about a second."
    )

    def __init__(
        self, client: Any = None, database: str | None = None, writer: Any = None, **params: Any
    ) -> None:
        super().__init__(client, database, **params)
        self._writer = writer
        self._rules = pn.widgets.Tabulator(
            pd.DataFrame(columns=_COLUMNS), disabled=True, show_index=False, sizing_mode="stretch_width",
            height=300, layout="fit_data_fill", css_classes=["mi-access-rules"],
        )  # fmt: skip
        self._history = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width", height=240,
            layout="fit_data_fill", pagination="local", page_size=8,
        )  # fmt: skip
        self.group = pn.widgets.Select(
            name="Group", options=[g for g in GROUPS if g != policy.ADMINS], width=250
        )
        self.table = pn.widgets.Select(
            name="Table", options=sorted(policy.GOVERNED), value="prices", width=250
        )
        self.markets = pn.widgets.TextInput(name="Markets (comma-separated; patterns)", width=250)
        self.locations = pn.widgets.TextInput(name="Locations (names or patterns)", width=250)
        self.location_types = pn.widgets.TextInput(name="Location types", width=250)
        self.variables = pn.widgets.TextInput(name="Variables", width=250)
        self.products = pn.widgets.TextInput(name="Products / curves", width=250)
        self.delay = pn.widgets.TextInput(name="Delay (e.g. 1h)", width=250)
        self.history = pn.widgets.TextInput(name="History limit (e.g. 90d)", width=250)
        self.export = pn.widgets.Checkbox(name="May export", width=250)
        self.grant_button = pn.widgets.Button(name="Grant", button_type="primary", width=250)
        self.grant_button.on_click(lambda _e: self.grant())
        self.revoke_id = pn.widgets.Select(name="Rule to revoke", options=[], width=250)
        self.revoke_button = pn.widgets.Button(name="Revoke", button_type="danger", width=250)
        self.revoke_button.on_click(lambda _e: self.revoke())
        self.reload()

    def writer(self) -> Any:
        """Return the client that writes rules (the dashboards' writer, or the page's client in tests)."""
        if self._writer is None:
            url = os.environ.get("MI_ALERT_ACK_URL")
            if url:
                from marketintel.config import parse_clickhouse_url
                from marketintel.store.client import connect

                self._writer = connect(parse_clickhouse_url(url), autogenerate_session_id=False)
            else:
                self._writer = self.client
        return self._writer

    def reload(self) -> None:
        """Read the rules in force and the history again."""
        with self.guard("reading the rules"):
            found = rules.rules_in_force(self.client)
            self._rules.value = _rules_frame(found)
            self.revoke_id.options = [f"{r.rule_id} ({r.group}, {r.table})" for r in found]
            hist = rules.history(self.client)
            cols = [
                "changed_at_utc",
                "rule_id",
                "version",
                "action",
                "group_name",
                "table_name",
                "changed_by",
                "note",
            ]
            self._history.value = hist[cols].iloc[::-1] if not hist.empty else pd.DataFrame(columns=cols)

    def grant(self) -> None:
        """Grant the rule the form describes."""
        who = current_user() or "dashboards"
        with self.guard("granting the rule"):
            rule = rules.make_rule(
                self.group.value, self.table.value, markets=_split(self.markets.value),
                locations=_split(self.locations.value), location_types=_split(self.location_types.value),
                variables=_split(self.variables.value), products=_split(self.products.value),
                delay=self.delay.value or None, history=self.history.value or None, export=self.export.value,
                changed_by=f"{who} (dashboards)",
            )  # fmt: skip
            rules.grant(self.writer(), rule)
            report_event("access_change", who, action="grant", target=rule.group,
                         detail={"rule": rule.rule_id, "describe": rule.describe()})  # fmt: skip
            self.say(f"Granted {rule.describe()}", "info")
            self.reload()

    def revoke(self) -> None:
        """Revoke the chosen rule."""
        who = current_user() or "dashboards"
        choice = self.revoke_id.value
        if not choice:
            self.say("Choose a rule to revoke.", "warning")
            return
        rule_id = str(choice).split(" ", 1)[0]
        with self.guard("revoking the rule"):
            found = {r.rule_id: r for r in rules.rules_in_force(self.client)}
            rule = found.get(rule_id)
            if rule is None:
                raise rules.AccessError(f"rule {rule_id} is not in force any more")
            gone = rules.revoke(self.writer(), rule.group, rule_id, changed_by=f"{who} (dashboards)")
            report_event("access_change", who, action="revoke", target=gone.group, detail={"rule": rule_id})
            self.say(f"Revoked {rule_id} of {gone.group}.", "info")
            self.reload()

    def controls(self) -> list[Any]:
        """Return the grant and revoke forms."""
        return [
            pn.pane.Markdown("**Grant a rule**"), self.group, self.table, self.markets, self.locations,
            self.location_types, self.variables, self.products, self.delay, self.history, self.export,
            self.grant_button, pn.pane.Markdown("**Revoke**"), self.revoke_id, self.revoke_button,
        ]  # fmt: skip

    def main(self) -> list[Any]:
        """Return the rules and the history."""
        return [
            pn.pane.Markdown("### Rules in force"),
            self._rules,
            pn.pane.Markdown("### Every change (latest first)"),
            self._history,
        ]
