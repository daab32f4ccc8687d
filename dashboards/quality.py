# mypy: disable-error-code="no-untyped-call, var-annotated"
"""The data-quality page: freshness per dataset, check results, completeness per day, quarantine, alerts.

:class:`Quality` reads everything through :mod:`marketintel.services.quality` and
:mod:`marketintel.services.alerts` and draws it with :mod:`marketintel.figures.quality`:

- **Freshness**: each ingested dataset's watermark against its publication cadence (a status per dataset);
- **Check results**: every data-quality check (freshness, completeness, duplicates, anomalies of a
  series) with its status, measured value and finding;
- **Completeness per local day** of the series of one completeness check: the market's local days, so a
  DST day expects 23 or 25 hours of intervals;
- **Quarantined payloads**: what could not be parsed, why, and the first bytes as fetched;
- **Alerts**, with *acknowledge*: the logged-in hub user and the time are stored in ``alert_acks``;
- **Routing**: per logical series (:mod:`marketintel.services.routing`) and candidate source, whether it
  serves now, its latest trust score and components, its circuit breaker's state and the router's last
  decision with its reason.

While ``live`` is on, a periodic callback reads only what is new (results checked after the newest shown,
payloads fetched after the newest shown) and *streams* those rows into the figures' data sources and the
tables; the small freshness and alert listings are re-read and replaced only when they changed. A look
runs every :data:`LIVE_S` seconds in every open page, and the pages of the process share its reads
(:func:`marketintel.dashboards.data.shared_read`): however many pages are open, the store answers one read
of new results per :data:`SHARED_S` and one of each other listing per :data:`SHARED_SLOW_S`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param

from marketintel.dashboards.data import shared_read
from marketintel.dashboards.page import LOCAL, PageView
from marketintel.exceptions import MarketIntelError
from marketintel.figures import quality as figures
from marketintel.services import alerts as alert_service
from marketintel.services import quality as service
from marketintel.services import routing as routing_service

__all__ = ["DEV_USER", "Quality"]

#: how often a live page looks for new results [s]; the pages of one process share each look's reads
LIVE_S = 0.5
#: how long one look's read of new check results is given to the other pages [s] (below :data:`LIVE_S`:
#: a page never gets its own previous answer again)
SHARED_S = 0.4
#: the same for the listings that change rarely and cost more to read (quarantined payloads with their
#: previews, freshness, alerts) [s]: new payloads and alerts show within this, new results within LIVE_S
SHARED_SLOW_S = 2.0
#: acknowledgements stored by this process: part of the alerts' shared-read key, so a page reads the
#: alerts afresh after an acknowledgement instead of another page's answer from just before it
_ack_version = 0
#: check results listed at most [rows]
MAX_RESULTS = 2_000
#: quarantined payloads described in full above their table [payloads]
MAX_CARDS = 5
#: who acknowledges in developer mode (no hub login)
DEV_USER = "developer"
#: what each section is filled by, for its empty state
RUN_CHECKS = "mi flows run data_quality"
RUN_INGEST = "mi flows run ingest"
VIEWS = ("check results", "freshness", "completeness per day", "quarantined payloads", "alerts", "routing")


def _shown(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Return ``frame`` for a table: instants as wall clock of ``tz`` (column names say which), text plain."""
    out = frame.copy()
    renames = {}
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert(tz).dt.tz_localize(None)
            renames[column] = f"{column.removesuffix('_utc')} [{tz}]"
        elif isinstance(out[column].dtype, pd.StringDtype) or out[column].dtype == object:
            out[column] = out[column].astype(object)
    return out.rename(columns=renames)


def _check_label(row: pd.Series) -> str:
    observed = "no data" if pd.isna(row["observed"]) else f"{row['observed']:.4g} {row['unit']}"
    return (
        f"{row['market']} {row['location']}: {row['window_start_utc']:%Y-%m-%d %H:%M} .. "
        f"{row['window_end_utc']:%Y-%m-%d %H:%M} UTC, {row['status']} ({observed}), "
        f"checked {row['checked_at_utc']:%Y-%m-%d %H:%M}"
    )


def _code(text: Any) -> str:
    """Return text for inline Markdown code: one line, no backticks, at most 200 characters."""
    flat = str(text).replace("`", "'").replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= 200 else flat[:200] + " ..."


def _check_key(row: pd.Series) -> str:
    """Return what identifies one check result across reads: series, window and check time."""
    parts = [row["table_name"], row["market"], row["location"], row["check_name"], row["window_start_utc"],
             row["window_end_utc"], row["checked_at_utc"], row["run_id"]]  # fmt: skip
    return "|".join(str(p) for p in parts)


def _alert_label(row: pd.Series) -> str:
    return f"[{row['severity']}] {row['title']} (raised {row['raised_at_utc']:%Y-%m-%d %H:%M} UTC)"


def current_user() -> str:
    """Return who is logged in: the hub user, or :data:`DEV_USER` in developer mode (no OAuth)."""
    user = pn.state.user
    if user:
        return str(user)
    if not pn.config.oauth_provider:
        return DEV_USER
    return ""


class Quality(PageView):
    """Freshness, completeness, duplicates and anomalies, quarantined payloads and alerts, live."""

    title: ClassVar[str] = "Data quality"
    intro: ClassVar[str] = (
        "Is every dataset fresh and complete? Freshness against each dataset's publication cadence, the "
        "data-quality checks of stored series, completeness per local day of the market (23- and 25-hour "
        "days included), payloads that could not be parsed, and alerts to acknowledge."
    )

    check = param.Selector(objects={}, doc="Completeness check whose series is shown per local day.")
    statuses = param.ListSelector(default=["fail", "warn", "pass"], objects=["fail", "warn", "pass"],
                                  doc="Check results listed, by status.")  # fmt: skip
    live = param.Boolean(default=True, doc="Add new results, payloads and alerts as they are stored.")
    alert = param.Selector(objects={}, doc="Alert to acknowledge.")
    note = param.String(default="", doc="What to say with the acknowledgement (optional).")
    view = param.Selector(objects=list(VIEWS), default=VIEWS[0], doc="What 'download this view' saves.")

    def __init__(self, client: Any = None, database: str | None = None, **params: Any) -> None:
        super().__init__(client, database, **params)
        self.results = pd.DataFrame()
        self.freshness = pd.DataFrame()
        self.days = pd.DataFrame()
        self.quarantined = pd.DataFrame()
        self.alerts = pd.DataFrame()
        self.routing = pd.DataFrame()
        self.acknowledged: dict[str, Any] | None = None
        self._callback: Any = None
        self._polled: dict[str, pd.DataFrame] = {}  # the shared answers this page's last look got
        self._checks_fig: Any = None
        self._completeness_fig: Any = None
        self._panes = {
            "freshness": pn.pane.Bokeh(None, sizing_mode="stretch_width"),
            "checks": pn.pane.Bokeh(None, sizing_mode="stretch_width"),
            "completeness": pn.pane.Bokeh(None, sizing_mode="stretch_width"),
        }
        self._notes = {
            name: pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=[f"mi-{name}-note"])
            for name in ("freshness", "checks", "completeness", "quarantine", "alerts", "routing")
        }
        self._tables = {
            name: pn.widgets.Tabulator(
                pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                layout="fit_data_table", pagination="local", page_size=page, visible=False,
                configuration={"columnDefaults": {"maxWidth": 460}},
                css_classes=[f"mi-{name}-table"],
            )
            for name, page in (("freshness", 10), ("checks", 12), ("completeness", 10), ("quarantine", 5),
                               ("alerts", 10), ("routing", 10))
        }  # fmt: skip
        self._ack_button = pn.widgets.Button(label="Acknowledge", color="primary", width=140,
                                             css_classes=["mi-ack"])  # fmt: skip
        self._ack_button.on_click(self._on_acknowledge)
        self._ack_status = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-ack-status"])
        self.reload()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._start_live()

    # -- zone --------------------------------------------------------------------------------------------
    def market_tz(self) -> str:
        """Return the zone of the selected completeness check's market (its local days), else UTC."""
        row = self._selected_check()
        if row is None:
            return "UTC"
        return str(service.check_details(row["details"]).get("tz") or "UTC")

    # -- reads -------------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read every section from the store and draw it."""
        self.clear()
        with self.guard("reading the data-quality results"):
            self.results = self._all_results()
        with self.guard("reading the datasets' freshness"):
            self.freshness = service.dataset_freshness(self.client, database=self.database)
        with self.guard("reading the quarantined payloads"):
            self.quarantined = service.quarantined_with_preview(self.client, database=self.database)
        with self.guard("reading the alerts"):
            self.alerts = alert_service.alerts_with_acks(self.client, database=self.database)
        with self.guard("reading the routing state"):
            self.routing = routing_service.routing_state(self.client)
        self._choose_check()
        with pn.io.hold():
            self._draw_freshness()
            self._draw_checks()
            self._draw_quarantine()
            self._draw_alerts()
            self._draw_routing()
            self._read_completeness()
        if self.results.empty and self.freshness.empty and not self.message:
            self.empty("data-quality result or ingested dataset", f"{RUN_INGEST}` then `{RUN_CHECKS}")

    @param.depends("tz", watch=True)
    def redraw(self) -> None:
        """Draw every section again from what was read (the zone changed: nothing is read again)."""
        with pn.io.hold():
            self._draw_completeness()
            self._draw_freshness()
            self._draw_checks()
            self._draw_quarantine()
            self._draw_alerts()
            self._draw_routing()

    def _all_results(self) -> pd.DataFrame:
        """Every stored check result (newest first), each with its finding in words."""
        from marketintel.services.queries import quality_results

        frame = quality_results(self.client, database=self.database, limit=MAX_RESULTS)
        frame["message"] = [service.finding(d) for d in frame["details"]] if len(frame) else []
        return frame

    def _choose_check(self) -> None:
        """List the completeness checks; keep the choice, else take the latest failure that measured data."""
        checks = self.results[self.results["check_name"] == "completeness"] if len(self.results) else None
        options: dict[str, str] = {}
        if checks is not None:
            for _, row in checks.iterrows():
                options[_check_label(row)] = _check_key(row)
        with param.parameterized.discard_events(self):
            self.param.check.objects = options
            if self.check not in options.values():
                measured = checks[checks["observed"].notna()] if checks is not None else None
                failed = measured[measured["status"] != "pass"] if measured is not None else None
                pick = next(
                    (_check_key(f.iloc[0]) for f in (failed, measured, checks) if f is not None and len(f)),
                    None,
                )
                self.check = pick

    def _selected_check(self) -> pd.Series | None:
        if self.check is None or self.results.empty:
            return None
        for _, row in self.results[self.results["check_name"] == "completeness"].iterrows():
            if _check_key(row) == self.check:
                return row
        return None

    @param.depends("check", watch=True)
    def _read_completeness(self) -> None:
        row = self._selected_check()
        self.days = pd.DataFrame()
        if row is None:
            self._show_completeness(f"No completeness check is stored yet. To fill this run `{RUN_CHECKS}`.")
            return
        details = service.check_details(row["details"])
        if not details.get("cadence") or not details.get("tz"):
            self._show_completeness(f"This check found no data to count: {row['message']}")
            return
        with self.guard("counting the intervals per local day"):
            self.days = service.completeness_by_day(
                self.client, table=str(row["table_name"]), market=str(row["market"]),
                location=str(row["location"]), cadence=str(details["cadence"]), tz=str(details["tz"]),
                start=row["window_start_utc"], end=row["window_end_utc"],
                expected_until=details.get("expected_until_utc"), target_pct=row["threshold"],
                database=self.database,
            )  # fmt: skip
        if self.days.empty:
            self._show_completeness("No whole interval of this check's window was due.")
            return
        self._draw_completeness()
        if self.tz == LOCAL:  # the market's zone is the chosen check's
            self._draw_checks()

    def _draw_completeness(self) -> None:
        """Draw the completeness read last (nothing when there is none: its note says why)."""
        row = self._selected_check()
        if row is None or self.days.empty:
            return
        details = service.check_details(row["details"])
        series = f"{row['market']} {row['location']}"
        title = f"{series}: completeness per local day ({details['cadence']} intervals)"
        fig = figures.completeness_figure(
            self.days, market_tz=str(details["tz"]), target_pct=float(row["threshold"]), title=title,
            tz=self.display_tz(),
        )  # fmt: skip
        self._completeness_fig = self._show_figure("completeness", fig)
        self._notes["completeness"].object = f"Local days of **{details['tz']}**; the check: {row['message']}"
        self._show_table("completeness", self.days)

    def _show_completeness(self, text: str) -> None:
        self._panes["completeness"].object = None
        self._tables["completeness"].visible = False
        self._notes["completeness"].object = text

    def _show_figure(self, name: str, fig: Any) -> Any:
        """Show ``fig`` in the section ``name``; return the figure on screen.

        A figure of the same shape as the one shown (a redraw: another zone, new rows) is copied into
        it, so only the changed values reach the browser; another one replaces it.
        """
        pane = self._panes[name]
        fig.visible = True
        pane.height = int(fig.height)
        return self.show_figure(pane, fig)

    def _show_table(self, name: str, frame: pd.DataFrame) -> None:
        table = self._tables[name]
        table.value = _shown(frame, self.display_tz())
        table.visible = not frame.empty

    # -- drawing -----------------------------------------------------------------------------------------
    def _draw_freshness(self) -> None:
        frame = self.freshness
        if frame.empty:
            self._panes["freshness"].object = None
            self._tables["freshness"].visible = False
            text = f"No dataset has been ingested yet. To fill this run `{RUN_INGEST}`."
            self._notes["freshness"].object = text
            return
        counts = frame["status"].value_counts()
        self._notes["freshness"].object = (
            f"{len(frame)} dataset(s): {counts.get('pass', 0)} fresh, {counts.get('warn', 0)} late, "
            f"{counts.get('fail', 0)} stale (fresh: at most {service.FRESH_CADENCES:g} cadences behind now; "
            f"late: {service.LATE_CADENCES:g})."
        )
        fig = figures.freshness_figure(
            frame, fresh=service.FRESH_CADENCES, late=service.LATE_CADENCES, tz=self.display_tz()
        )
        self._show_figure("freshness", fig)
        columns = ["status", "source", "dataset", "cadence", "watermark_utc", "behind_cadences", "message",
                   "last_fetched_utc", "payloads", "quarantined", "table"]  # fmt: skip
        shown = frame[columns].assign(behind_cadences=frame["behind_cadences"].round(1))
        self._show_table("freshness", shown.rename(columns={"behind_cadences": "behind [cadences]"}))

    def _listed_results(self) -> pd.DataFrame:
        if self.results.empty:
            return self.results
        return self.results[self.results["status"].isin(list(self.statuses))]

    @param.depends("statuses", watch=True)
    def _draw_checks(self) -> None:
        frame = self._listed_results()
        if self.results.empty:
            self._panes["checks"].object = None
            self._tables["checks"].visible = False
            self._notes[
                "checks"
            ].object = f"No data-quality result is stored yet. To fill this run `{RUN_CHECKS}`."
            return
        counts = self.results["status"].value_counts()
        self._notes["checks"].object = (
            f"{len(self.results)} result(s): {counts.get('fail', 0)} failed, {counts.get('warn', 0)} warned, "
            f"{counts.get('pass', 0)} passed; {len(frame)} listed."
        )
        self._checks_fig = self._show_figure("checks", figures.checks_figure(frame, tz=self.display_tz()))
        self._show_table("checks", self._check_rows(frame))

    @staticmethod
    def _check_rows(frame: pd.DataFrame) -> pd.DataFrame:
        columns = ["checked_at_utc", "status", "check_name", "market", "location", "observed", "threshold",
                   "unit", "message", "window_start_utc", "window_end_utc", "table_name",
                   "run_id"]  # fmt: skip
        return frame.loc[:, columns]

    def _draw_quarantine(self) -> None:
        frame = self.quarantined
        if frame.empty:
            self._tables["quarantine"].visible = False
            self._notes["quarantine"].object = "No payload is quarantined: every archived payload was parsed."
            return
        self._notes["quarantine"].object = self._quarantine_note(frame)
        self._show_table("quarantine", self._quarantine_rows(frame))

    def _quarantine_note(self, frame: pd.DataFrame) -> str:
        """Return the quarantine section's text: each of the newest payloads with reason and raw bytes."""
        zone = self.display_tz()
        cards = [
            f"- **{r['source']}/{r['dataset']}** ({r['status']}), fetched "
            f"{pd.Timestamp(r['fetched_at_utc']).tz_convert(zone):%Y-%m-%d %H:%M:%S} {zone}, "
            f"{int(r['size_bytes']):,} bytes from `{r['url']}`  \n  **Reason:** {r['reason']}  \n"
            f"  **Raw bytes:** `{_code(r['preview_text'])}`"
            + (f" hex `{r['preview_hex']}`" if r["preview_hex"] else "")
            for _, r in frame.sort_values("fetched_at_utc", ascending=False).head(MAX_CARDS).iterrows()
        ]
        return (
            f"{len(frame)} payload(s) could not be parsed in full; kept byte for byte in `raw_payloads` "
            f"(raw bytes: the first {service.PREVIEW_BYTES} as text, the first 64 in hex).\n\n"
            + "\n".join(cards)
        )

    @staticmethod
    def _quarantine_rows(frame: pd.DataFrame) -> pd.DataFrame:
        columns = ["fetched_at_utc", "status", "source", "dataset", "reason", "size_bytes", "preview_text",
                   "preview_hex", "http_status", "url", "sha256"]  # fmt: skip
        return frame[columns].rename(columns={"size_bytes": "size [bytes]"})

    def _draw_alerts(self) -> None:
        frame = self.alerts
        if frame.empty:
            self._tables["alerts"].visible = False
            self._notes["alerts"].object = "No alert has been raised."
            self.param.alert.objects = {}
            return
        waiting = frame[frame["state"] != "acknowledged"]
        problem = str(frame.attrs.get("problem", ""))
        text = f"{len(frame)} alert(s), {len(waiting)} not acknowledged. Acknowledging stores who and when."
        if problem:
            text += f" **Acknowledgements not shown:** {problem}."
        self._notes["alerts"].object = text
        columns = ["raised_at_utc", "severity", "state", "acknowledged_by", "acknowledged_at_utc", "title",
                   "note", "category", "message", "updated_at_utc", "alert_id"]  # fmt: skip
        self._show_table("alerts", frame[columns])
        options = {_alert_label(r): str(r["alert_id"]) for _, r in waiting.iterrows()}
        self.param.alert.objects = options
        if self.alert not in options.values():
            self.alert = next(iter(options.values()), None)
        self._ack_button.disabled = not options

    def _draw_routing(self) -> None:
        """Draw the routing section: each declared series' sources, the ones routed first."""
        frame = self.routing
        if frame.empty:
            self._tables["routing"].visible = False
            self._notes["routing"].object = "No logical series is declared to the router."
            return
        routed = frame[frame["last_decided_at_utc"].notna()]
        names = list(dict.fromkeys(routed["series"]))
        served = routed[routed["chosen"].astype(bool)]
        lines = [
            f"- **{r['series']}**: served by **{r['source']}** (breaker {r['breaker']}, trust "
            f"{r['score']:.2f}); last decision {pd.Timestamp(r['last_decided_at_utc']):%Y-%m-%d %H:%M} UTC: "
            f"{r['last_reason']}"
            for _, r in served.iterrows()
        ]
        self._notes["routing"].object = "\n".join([
            f"{frame['series'].nunique()} logical series declared, {len(names)} routed so far "
            "(`read_series` of marketintel.services.routing). Trust = 0.25 freshness + 0.25 completeness "
            "+ 0.30 agreement + 0.20 reliability (trusted from 0.6: may be blended); a breaker opens after "
            "consecutive failures or an error rate and lets a probe through after its cool-down.",
            "",
            *lines,
        ])  # fmt: skip
        order = frame.assign(_routed=frame["last_decided_at_utc"].notna())
        order = order.sort_values(["_routed", "series", "priority"], ascending=[False, True, True])
        columns = ["series", "source", "priority", "chosen", "breaker", "score", "freshness", "completeness",
                   "agreement", "reliability", "evaluated_at_utc", "last_reason",
                   "last_decided_at_utc"]  # fmt: skip
        self._show_table("routing", order[columns].rename(columns={"chosen": "serves now"}))

    # -- acknowledge -------------------------------------------------------------------------------------
    def _on_acknowledge(self, _event: Any = None) -> None:
        self.acknowledge()

    def acknowledge(self, user: str | None = None) -> dict[str, Any] | None:
        """Store that the logged-in user acknowledged the selected alert; show who and when.

        Parameters
        ----------
        user : str, optional
            Who acknowledges (tests); default :func:`current_user`.

        Returns
        -------
        dict or None
            The stored acknowledgement, or None when it could not be stored (the page says why).
        """
        who = user if user is not None else current_user()
        if not self.alert:
            self._ack_status.object = "Choose an alert to acknowledge."
            return None
        if not who:
            self.say("**Not acknowledged.** The page does not know who you are; log in through the hub.")
            return None
        record = self._store_ack(who)
        self.acknowledged = record
        if record is None:
            return None
        when = pd.Timestamp(record["acknowledged_at_utc"]).tz_convert(self.display_tz())
        zone = self.display_tz()
        self._ack_status.object = (
            f"Acknowledged by **{record['acknowledged_by']}** at {when:%Y-%m-%d %H:%M:%S} {zone}."
        )
        self.note = ""
        global _ack_version  # noqa: PLW0603  (one counter per process: every page's shared reads see it)
        _ack_version += 1
        with self.guard("reading the alerts"):
            self.alerts = alert_service.alerts_with_acks(self.client, database=self.database)
        self._draw_alerts()
        return record

    def _store_ack(self, who: str) -> dict[str, Any] | None:
        try:
            return alert_service.acknowledge(
                self.client, str(self.alert), by=who, note=self.note, database=self.database
            )
        except (MarketIntelError, ValueError, OSError) as exc:
            self.say(f"**Not acknowledged.** {exc}", "danger")
            return None

    # -- live --------------------------------------------------------------------------------------------
    def _start_live(self) -> None:
        def tick() -> None:
            self.poll()

        self._callback = self.every(tick, LIVE_S, start=self.live)

    @param.depends("live", watch=True)
    def _live_changed(self) -> None:
        if self._callback is None:
            return
        if self.live and not self._callback.running:
            self._callback.start()
        elif not self.live and self._callback.running:
            self._callback.stop()

    def poll(self) -> dict[str, int]:
        """Read what is new since the last read and stream it in; return how many rows of each were new.

        Returns
        -------
        dict
            ``{"results": n, "payloads": n, "datasets": n, "alerts": n}``: new check results and quarantined
            payloads (streamed), and whether the freshness and alert listings changed (1: replaced).
        """
        counts = {"results": 0, "payloads": 0, "datasets": 0, "alerts": 0}
        try:
            counts["results"] = self._poll_results()
            counts["payloads"] = self._poll_payloads()
            counts["datasets"] = self._poll_freshness()
            counts["alerts"] = self._poll_alerts()
        except (MarketIntelError, ValueError, OSError) as exc:
            self.say(f"**Live update failed.** {exc}", "danger")
        return counts

    def _shared(
        self, what: tuple[Any, ...], read: Callable[[], pd.DataFrame], slow: bool = True
    ) -> pd.DataFrame:
        """Return a live read shared by the process's pages (see :func:`.data.shared_read`).

        ``slow``: given to other pages for :data:`SHARED_SLOW_S`, else :data:`SHARED_S`.
        """
        ttl = SHARED_SLOW_S if slow else SHARED_S
        return shared_read(("quality", id(self.client), self.database, *what), read, ttl)

    def _poll_results(self) -> int:
        if self.results.empty:
            latest = pd.Timestamp("1970-01-01", tz="UTC")
        else:
            latest = pd.Timestamp(self.results["checked_at_utc"].max())
        new = self._shared(
            ("new-checks", latest),
            lambda: service.new_checks(self.client, after=latest, database=self.database),
            slow=False,
        )
        if new.empty:
            return 0
        was_empty = self.results.empty
        self.results = pd.concat([new.iloc[::-1], self.results], ignore_index=True) if not was_empty else new
        listed = new[new["status"].isin(list(self.statuses))]
        if was_empty or self._checks_fig is None:
            self._draw_checks()
        elif len(listed):
            data = figures.checks_source_data(listed, self.display_tz())
            factors = list(self._checks_fig.y_range.factors)
            added = [r for r in dict.fromkeys(data["row"]) if r not in factors]
            if added:
                self._checks_fig.y_range.factors = sorted(set(factors) | set(added), reverse=True)
                self._checks_fig.height += 28 * len(added)
                self._panes["checks"].height = int(self._checks_fig.height)
            self._checks_fig.renderers[0].data_source.stream(data)
            self._tables["checks"].stream(_shown(self._check_rows(listed), self.display_tz()), follow=False)
        self._choose_check()
        return len(new)

    def _poll_payloads(self) -> int:
        since = None if self.quarantined.empty else self.quarantined["fetched_at_utc"].max()
        fresh = self._shared(
            ("quarantined", since),
            lambda: service.quarantined_with_preview(self.client, since=since, database=self.database),
        )
        if fresh is self._polled.get("payloads"):
            return 0
        self._polled["payloads"] = fresh
        known = set(self.quarantined["sha256"]) if len(self.quarantined) else set()
        new = fresh[~fresh["sha256"].isin(known)] if len(fresh) else fresh
        if new.empty:
            return 0
        had_rows = not self.quarantined.empty
        self.quarantined = pd.concat([new, self.quarantined], ignore_index=True)
        if not had_rows:
            self._draw_quarantine()
            return len(new)
        self._notes["quarantine"].object = self._quarantine_note(self.quarantined)
        shown = _shown(self._quarantine_rows(new), self.display_tz())
        self._tables["quarantine"].stream(shown, follow=False)  # only the new rows go to the browser
        return len(new)

    def _poll_freshness(self) -> int:
        fresh = self._shared(
            ("freshness",), lambda: service.dataset_freshness(self.client, database=self.database)
        )
        if fresh is self._polled.get("freshness"):  # the answer this page had last time: nothing new
            return 0
        self._polled["freshness"] = fresh
        key = ["source", "dataset", "watermark_utc", "payloads", "quarantined", "status"]
        if not self.freshness.empty and fresh[key].equals(self.freshness[key]):
            return 0
        self.freshness = fresh
        self._draw_freshness()
        return 1

    def _poll_alerts(self) -> int:
        fresh = self._shared(
            ("alerts", _ack_version),
            lambda: alert_service.alerts_with_acks(self.client, database=self.database),
        )
        if fresh is self._polled.get("alerts"):
            return 0
        self._polled["alerts"] = fresh
        key = ["alert_id", "updated_at_utc", "state", "acknowledged_by"]
        if len(fresh) == len(self.alerts) and fresh[key].equals(self.alerts[key]):
            return 0
        self.alerts = fresh
        self._draw_alerts()
        return 1

    # -- download ----------------------------------------------------------------------------------------
    def view_frame(self) -> pd.DataFrame:
        """Return the frame of the section chosen in ``view`` (what "download this view" saves)."""
        frames = {
            "check results": lambda: self._check_rows(self._listed_results()) if len(self.results) else
            self.results,
            "freshness": lambda: self.freshness,
            "completeness per day": lambda: self.days,
            "quarantined payloads": lambda: self.quarantined.drop(columns=["preview"], errors="ignore"),
            "alerts": lambda: self.alerts,
            "routing": lambda: self.routing,
        }  # fmt: skip
        return frames[str(self.view)]()

    # -- layout ------------------------------------------------------------------------------------------
    def controls(self) -> list[Any]:
        """Return the live toggle, the status filter, the acknowledge form and the download buttons."""
        return [
            pn.widgets.Checkbox.from_param(self.param.live, label="Live (new results without a reload)"),
            pn.widgets.CheckButtonGroup.from_param(self.param.statuses, label="Check results listed"),
            pn.pane.Markdown("**Acknowledge an alert**", margin=(10, 10, 0, 10)),
            pn.widgets.Select.from_param(self.param.alert, label="Alert", css_classes=["mi-alert-select"]),
            pn.widgets.TextInput.from_param(self.param.note, label="Note", placeholder="optional"),
            self._ack_button,
            self._ack_status,
            pn.pane.Markdown("**Download**", margin=(10, 10, 0, 10)),
            pn.widgets.Select.from_param(self.param.view, label="View"),
            pn.Column(*self.downloads("data_quality", self.view_frame).objects, width=250),
        ]

    def main(self) -> list[Any]:
        """Return the sections, top to bottom."""
        return [
            pn.pane.Markdown("### Freshness of every dataset"),
            self._notes["freshness"], self._panes["freshness"], self._tables["freshness"],
            pn.pane.Markdown("### Check results"),
            self._notes["checks"], self._panes["checks"], self._tables["checks"],
            pn.pane.Markdown("### Completeness per local day"),
            pn.widgets.Select.from_param(self.param.check, label="Completeness check", width=700,
                                         css_classes=["mi-check-select"]),
            self._notes["completeness"], self._panes["completeness"], self._tables["completeness"],
            pn.pane.Markdown("### Quarantined payloads"),
            self._notes["quarantine"], self._tables["quarantine"],
            pn.pane.Markdown("### Alerts"),
            self._notes["alerts"], self._tables["alerts"],
            pn.pane.Markdown("### Routing of logical series"),
            self._notes["routing"], self._tables["routing"],
        ]  # fmt: skip
