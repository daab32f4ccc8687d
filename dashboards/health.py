# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Platform health: the store, Prefect, the hub and the dashboards service, refreshed live.

:class:`Health` reads the four sources through :mod:`marketintel.services.health` (each gives ``up`` or
``down: why``, never an exception) and draws them with :mod:`marketintel.figures.health`. While the page is
open it reads them again every :attr:`Health.refresh_s` seconds, off the event loop, and sends the browser
only what changed: new flow runs are *streamed* onto the durations plot, runs whose state changed and the
counts by state are *patched*, one latency reading is streamed per refresh (the last
:data:`LATENCY_POINTS` kept), and a table is replaced only when its rows differ.

Reads are shared between the sessions of the service: several operators with the page open cost the
sources one read per :data:`SHARED_TTL_S`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pandas as pd
import panel as pn
import param

from marketintel.dashboards.data import shared_read
from marketintel.dashboards.page import PageView
from marketintel.exceptions import MarketIntelError
from marketintel.figures import health as figures
from marketintel.figures.common import display_times, time_label
from marketintel.services import health

__all__ = ["LATENCY_POINTS", "SHARED_TTL_S", "Health", "Snapshot"]

#: latency readings the plot keeps (at the default 5 s refresh: one hour)
LATENCY_POINTS = 720
#: a source read by one session is reused by the others for this long [s]
SHARED_TTL_S = 2.0
#: the "market local" zone of this page, which shows no market: the zone of the platform's Nord Pool and EEX
#: schedules (their cron times are Berlin wall-clock times)
LOCAL_TZ = "Europe/Berlin"
#: the tables figure's measures, as the page offers them
MEASURES = {"size on disk [MiB]": "bytes_on_disk", "rows": "rows", "active parts": "parts"}
#: the flow runs' table columns: frame column -> header
_RUN_HEADERS = {"flow": "flow", "deployment": "deployment", "run_name": "run", "state_name": "state",
                "start_utc": "start", "duration_s": "duration [s]", "message": "message"}  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """One reading of every source."""

    store: health.StoreHealth
    prefect: health.PrefectHealth
    hub: health.HubHealth
    dashboards: health.DashboardsHealth
    at_utc: pd.Timestamp


def _first_line(text: Any, limit: int = 160) -> str:
    """Return the first line of a state message, without Prefect's generic lead-in, cut to ``limit``."""
    line = str(text or "").strip().removeprefix("Flow run encountered an exception: ").splitlines()
    return (line[0][:limit] + ("…" if len(line[0]) > limit else "")) if line else ""


class Health(PageView):
    """The platform's health: four sources, live (see the module's text).

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store (default: the service's client).
    database : str, optional
        Unused (the store's every database is shown); kept for the page interface.
    prefect_api_url : str, optional
        Prefect's API (default ``MI_PREFECT_API_URL`` or the local server).
    hub_api_url, hub_token : str, optional
        The Hub's API and a token that may list users (default: the service's ``JUPYTERHUB_*``).
    **params
        Initial values of the parameters.
    """

    title = "Platform health"
    intro = (
        "The store (tables, disk, query latency), Prefect's flow runs, the hub's users and servers, and this "
        "dashboards service: read every few seconds while the page is open."
    )

    live = param.Boolean(default=True, doc="Read the sources again every refresh_s seconds.")
    refresh_s = param.Number(default=5.0, bounds=(1.0, 300.0), doc="Interval of the live refresh [s].")
    measure = param.Selector(objects=MEASURES, default="bytes_on_disk", doc="What the tables plot shows.")

    def __init__(
        self,
        client: Any = None,
        database: str | None = None,
        *,
        prefect_api_url: str | None = None,
        hub_api_url: str | None = None,
        hub_token: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(client, database, **params)
        self._prefect_url = prefect_api_url
        self._hub = (hub_api_url, hub_token)
        self._reading = False
        self._callback: Any = None
        self.snapshot: Snapshot | None = None
        self.latency_history = pd.DataFrame(
            {"time_utc": pd.Series([], dtype="datetime64[us, UTC]"),
             **{c: pd.Series([], dtype=float) for c in ("p50_s", "p95_s", "p99_s")}}
        )  # fmt: skip
        self.refreshes = 0
        self._status = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-health-status"])
        self._stamp = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#555", "font-size": "0.85em"})
        self._store_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._prefect_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._hub_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._service_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        table = {
            "disabled": True,
            "show_index": False,
            "sizing_mode": "stretch_width",
            "layout": "fit_data_fill",
        }
        self._tables_table = pn.widgets.Tabulator(pd.DataFrame(), height=260, **table)
        self._failures_table = pn.widgets.Tabulator(pd.DataFrame(), height=220, **table)
        self._runs_table = pn.widgets.Tabulator(pd.DataFrame(), height=300, pagination="local", page_size=10,
                                                **table)  # fmt: skip
        self._scheduled_table = pn.widgets.Tabulator(pd.DataFrame(), height=220, **table)
        self._users_table = pn.widgets.Tabulator(pd.DataFrame(), height=200, **table)
        self._renders_table = pn.widgets.Tabulator(pd.DataFrame(), height=160, **table)
        self.state_figure = figures.runs_by_state_figure(
            pd.DataFrame({"state_type": list(health.STATE_TYPES), "runs": [0] * len(health.STATE_TYPES)})
        )
        self.durations_figure = figures.run_durations_figure(self._no_runs(), tz=self.display_tz())
        self.latency_figure = figures.latency_figure(self.latency_history, tz=self.display_tz())
        self.tables_figure = figures.tables_figure(self._no_tables(), measure=self.measure)
        bokeh = {"sizing_mode": "stretch_width"}
        self._state_pane = pn.pane.Bokeh(self.state_figure, height=290, **bokeh)
        self._durations_pane = pn.pane.Bokeh(self.durations_figure, height=310, **bokeh)
        self._latency_pane = pn.pane.Bokeh(self.latency_figure, height=290, **bokeh)
        self._tables_pane = pn.pane.Bokeh(self.tables_figure, **bokeh)
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            self.refresh()  # no browser session (tests, a notebook): read now
        else:  # in a session the page shows at once, loading, and reads once the browser has it
            pn.state.onload(self._tick)
            self._callback = self.every(self._tick, self.refresh_s, start=self.live)  # Panel awaits it

    def market_tz(self) -> str:
        """Return the page's local zone: :data:`LOCAL_TZ` (the platform's own schedules run in it)."""
        return LOCAL_TZ

    # -- data ----------------------------------------------------------------------------------------------
    @staticmethod
    def _no_runs() -> pd.DataFrame:
        """Return a runs frame with no row (what the durations plot starts from)."""
        return pd.DataFrame({
            "start_utc": pd.Series([], dtype="datetime64[us, UTC]"), "duration_s": pd.Series([], dtype=float),
            **{c: pd.Series([], dtype="string")
               for c in ("flow", "deployment", "state_type", "run_name", "run_id")},
        })  # fmt: skip

    @staticmethod
    def _no_tables() -> pd.DataFrame:
        return pd.DataFrame({"database": [], "table": [], "rows": [], "parts": [], "bytes_on_disk": []})

    def read(self) -> Snapshot:
        """Read every source (shared with other sessions for :data:`SHARED_TTL_S`); a source never raises."""
        prefect_url, (hub_url, hub_token) = self._prefect_url, self._hub
        return Snapshot(
            store=shared_read(
                ("health-store", id(self.client)), lambda: health.store_health(self.client), SHARED_TTL_S
            ),
            prefect=shared_read(
                ("health-prefect", prefect_url), lambda: health.prefect_health(prefect_url), SHARED_TTL_S
            ),
            hub=shared_read(
                ("health-hub", hub_url, hub_token),
                lambda: health.hub_health(hub_url, hub_token),
                SHARED_TTL_S,
            ),
            dashboards=health.dashboards_health(),
            at_utc=pd.Timestamp.now(tz="UTC"),
        )

    def refresh(self) -> None:
        """Read every source now and update what the page shows (in the caller's thread)."""
        with self.guard("reading the platform's health"):
            self.apply(self.read())

    async def _tick(self) -> None:
        """Refresh live: read off the event loop, then apply (skipped while a read is under way)."""
        if self._reading:
            return
        self._reading = True
        first = self.snapshot is None
        try:
            if first and self._body is not None:
                self._body.loading = True  # the first reading only: a refresh must not blink the page
            snapshot = await asyncio.to_thread(self.read)
            if first:
                with self.guard("reading the platform's health"):
                    self.apply(snapshot)
            else:
                try:
                    self.apply(snapshot)
                except (MarketIntelError, ValueError, OSError) as exc:
                    self.say(f"**Failed updating the platform's health.** {exc}", "danger")
        finally:
            self._reading = False
            if first and self._body is not None:
                self._body.loading = False

    # -- drawing -------------------------------------------------------------------------------------------
    def apply(self, snap: Snapshot) -> None:
        """Show a reading: patch/stream the figures' sources, replace tables that changed."""
        first = self.snapshot is None
        self.snapshot = snap
        self.refreshes += 1
        with pn.io.hold():
            self._apply_status(snap)
            self._apply_store(snap.store, snap.at_utc, first)
            self._apply_prefect(snap.prefect)
            self._apply_hub(snap.hub)
            self._apply_service(snap.dashboards)

    def _apply_status(self, snap: Snapshot) -> None:
        lines = []
        for status in (snap.store.status, snap.prefect.status, snap.hub.status, snap.dashboards.status):
            colour = "#2ca02c" if status.up else "#d62728"
            mark = f'<span style="color:{colour}">●</span>'
            lines.append(f"| {mark} **{status.source}** | {status.detail} |")
        text = "| source | status |\n|---|---|\n" + "\n".join(lines)
        if self._status.object != text:
            self._status.object = text
        down = [s.text for s in (snap.store.status, snap.prefect.status, snap.hub.status) if not s.up]
        if down:
            self.say("**Some sources are down.** " + " — ".join(down), "warning")
        elif self.message.startswith("**Some sources are down.**"):
            self.clear()
        tz = self.display_tz()
        self._stamp.object = f"Read at {display_times([snap.at_utc], tz)[0]:%Y-%m-%d %H:%M:%S} [{tz}]" + (
            f"; refreshed every {self.refresh_s:g} s." if self.live else "; live refresh off."
        )

    def _apply_store(self, store: health.StoreHealth, at_utc: pd.Timestamp, first: bool) -> None:
        if not store.status.up:
            self._store_note.object = f"**Store {store.status.detail}.** Start it with `mi store start`."
        elif store.tables.empty:
            self._store_note.object = "No table is stored yet. To fill the store run `mi demo`."
        else:
            self._store_note.object = store.metrics_detail and f"Latency not shown: {store.metrics_detail}."
        tables = store.tables
        if not tables.empty:
            data = figures.table_data(tables, self.measure)
            source = figures.source_of(self.tables_figure, "tables")
            if dict(source.data) != data:
                self._set_tables_data(data)
        shown = self._tables_frame(tables)
        if not shown.equals(self._tables_table.value):
            self._tables_table.value = shown
        reading = store.latency[store.latency["kind"] == "all"]
        if len(reading):
            by_q = dict(zip(reading["quantile"], reading["seconds"], strict=True))
            row = pd.DataFrame({"time_utc": [at_utc], "p50_s": [by_q.get(0.5)], "p95_s": [by_q.get(0.95)],
                                "p99_s": [by_q.get(0.99)]})  # fmt: skip
            row = row.astype({"time_utc": "datetime64[us, UTC]"})
            self.latency_history = pd.concat([self.latency_history, row], ignore_index=True).tail(
                LATENCY_POINTS
            )
            figures.source_of(self.latency_figure, "latency").stream(
                figures.latency_data(row, self.display_tz()), rollover=LATENCY_POINTS
            )

    def _set_tables_data(self, data: dict[str, Any]) -> None:
        fig = self.tables_figure
        fig.y_range.factors = data["table"]
        fig.height = max(220, 26 * len(data["table"]) + 90)
        fig.xaxis.axis_label = figures.TABLE_MEASURES[self.measure][0]
        figures.source_of(fig, "tables").data = data

    def _tables_frame(self, tables: pd.DataFrame) -> pd.DataFrame:
        if tables.empty:
            return pd.DataFrame()
        tz = self.display_tz()
        out = pd.DataFrame({
            "database": tables["database"].astype(object), "table": tables["table"].astype(object),
            "engine": tables["engine"].astype(object), "rows": tables["rows"],
            "active parts": tables["parts"],
            "on disk [MiB]": (tables["bytes_on_disk"] / 2**20).round(3),
            f"last modified [{tz}]": display_times(tables["last_modified_utc"], tz),
        })  # fmt: skip
        return out

    def _runs_frame(self, runs: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
        if runs.empty:
            return pd.DataFrame()
        tz = self.display_tz()
        out = pd.DataFrame(index=runs.index)
        for column, header in columns.items():
            values = runs[column]
            if column.endswith("_utc"):
                out[f"{header} [{tz}]"] = display_times(values, tz)
            elif column == "message":
                out[header] = [_first_line(v) for v in values]
            elif column == "duration_s":
                out[header] = values.round(1)
            else:
                out[header] = values.astype(object)
        return out.reset_index(drop=True)

    def _apply_prefect(self, prefect: health.PrefectHealth) -> None:
        if not prefect.status.up:
            self._prefect_note.object = (
                f"**Prefect {prefect.status.detail}.** Start it with `mi prefect up` "
                "(`mi status` shows every part)."
            )
        elif prefect.by_state["runs"].sum() == 0:
            self._prefect_note.object = (
                "No flow run is recorded yet. To fill this part run `mi demo`, or `mi flows start` to run "
                "the scheduled deployments."
            )
        else:
            self._prefect_note.object = ""
        if not prefect.status.up:
            return
        state_source = figures.source_of(self.state_figure, "runs")
        new_counts = figures.state_data(prefect.by_state)
        if list(state_source.data["state"]) != new_counts["state"]:
            state_source.data = new_counts
        else:
            changes = [(i, n) for i, (old, n) in enumerate(zip(state_source.data["runs"], new_counts["runs"],
                                                                strict=True)) if old != n]  # fmt: skip
            if changes:
                state_source.patch({"runs": changes})
        self._update_durations(prefect.runs)
        for widget, frame, columns in (
            (self._runs_table, prefect.runs, _RUN_HEADERS),
            (self._failures_table, prefect.failures, _RUN_HEADERS),
            (self._scheduled_table, prefect.scheduled,
             {"flow": "flow", "deployment": "deployment", "expected_start_utc": "expected start"}),
        ):  # fmt: skip
            shown = self._runs_frame(frame, columns)
            if not shown.equals(widget.value):
                widget.value = shown

    def _update_durations(self, runs: pd.DataFrame) -> None:
        """Stream the runs not drawn yet; patch the drawn ones whose state or duration changed."""
        source = figures.source_of(self.durations_figure, "durations")
        data = figures.durations_data(runs, self.display_tz())
        at = {run_id: i for i, run_id in enumerate(source.data["run_id"])}
        fresh = [i for i, run_id in enumerate(data["run_id"]) if run_id not in at]
        patches: dict[str, list[tuple[int, Any]]] = {}
        for i, run_id in enumerate(data["run_id"]):
            j = at.get(run_id)
            if j is None:
                continue
            for column in ("state", "colour", "duration_s"):
                if source.data[column][j] != data[column][i]:
                    patches.setdefault(column, []).append((j, data[column][i]))
        if patches:
            source.patch(patches)
        if fresh:
            source.stream(
                {k: [v[i] for i in fresh] if isinstance(v, list) else v[fresh] for k, v in data.items()}
            )

    def _apply_hub(self, hub: health.HubHealth) -> None:
        self._hub_note.object = "" if hub.status.up else f"**Hub {hub.status.detail}.**"
        if hub.users.empty:
            shown = pd.DataFrame()
        else:
            tz = self.display_tz()
            shown = pd.DataFrame({
                "user": hub.users["user"].astype(object), "groups": hub.users["groups"].astype(object),
                f"last activity [{tz}]": display_times(hub.users["last_activity_utc"], tz),
                "active": hub.users["active"], "servers running": hub.users["servers_running"],
            })  # fmt: skip
        if not shown.equals(self._users_table.value):
            self._users_table.value = shown

    def _apply_service(self, service: health.DashboardsHealth) -> None:
        rss = f"{service.rss_bytes / 2**20:,.0f} MiB" if service.rss_bytes is not None else "?"
        uptime = f"{service.uptime_s / 3600:,.2f} h" if service.uptime_s is not None else "?"
        self._service_note.object = (
            f"**{service.sessions_active}** sessions open ({service.sessions_opened} opened, "
            f"{service.sessions_closed} closed since start) · **{service.callback_errors}** callback "
            f"errors · resident memory {rss} · up {uptime}"
        )
        renders = service.renders.rename(columns={"mean_render_s": "mean render [s]"})
        if "mean render [s]" in renders:
            renders["mean render [s]"] = renders["mean render [s]"].astype(float).round(2)
        if not renders.equals(self._renders_table.value):
            self._renders_table.value = renders

    # -- reactions -----------------------------------------------------------------------------------------
    @param.depends("measure", watch=True)
    def _measure_changed(self) -> None:
        if self.snapshot is not None and not self.snapshot.store.tables.empty:
            self._set_tables_data(figures.table_data(self.snapshot.store.tables, self.measure))

    @param.depends("tz", watch=True)
    def _tz_changed(self) -> None:
        """Redraw the time axes in the new zone (all their points anew: every time moved)."""
        tz = self.display_tz()
        self.durations_figure.xaxis.axis_label = time_label(tz, "run start")
        self.latency_figure.xaxis.axis_label = time_label(tz)
        figures.source_of(self.latency_figure, "latency").data = figures.latency_data(
            self.latency_history, tz
        )
        source = figures.source_of(self.durations_figure, "durations")
        runs = self.snapshot.prefect.runs if self.snapshot is not None else self._no_runs()
        source.data = (
            figures.durations_data(runs, tz) if not runs.empty else figures.durations_data(self._no_runs())
        )
        if self.snapshot is not None:
            self._tables_table.value = self._tables_frame(self.snapshot.store.tables)
            self._apply_prefect_tables(self.snapshot.prefect)
            self._apply_hub(self.snapshot.hub)

    def _apply_prefect_tables(self, prefect: health.PrefectHealth) -> None:
        self._runs_table.value = self._runs_frame(prefect.runs, _RUN_HEADERS)
        self._failures_table.value = self._runs_frame(prefect.failures, _RUN_HEADERS)
        self._scheduled_table.value = self._runs_frame(
            prefect.scheduled,
            {"flow": "flow", "deployment": "deployment", "expected_start_utc": "expected start"},
        )

    @param.depends("live", "refresh_s", watch=True)
    def _live_changed(self) -> None:
        if self._callback is None:
            return
        self._callback.period = int(self.refresh_s * 1000)
        if self.live and not self._callback.running:
            self._callback.start()
        elif not self.live and self._callback.running:
            self._callback.stop()

    # -- layout --------------------------------------------------------------------------------------------
    def _frame(self, name: str) -> pd.DataFrame:
        snap = self.snapshot
        if snap is None:
            return pd.DataFrame()
        frames = {"runs": snap.prefect.runs, "tables": snap.store.tables, "users": snap.hub.users,
                  "latency": self.latency_history}  # fmt: skip
        return frames[name]

    def controls(self) -> list[Any]:
        """Return the live switch, the refresh interval and the tables plot's measure."""
        return [
            pn.widgets.Switch.from_param(self.param.live, width=50, css_classes=["mi-live"]),
            pn.pane.Markdown("Live: read every source again every few seconds.", margin=(0, 10),
                             styles={"color": "#555", "font-size": "0.85em"}),
            pn.widgets.FloatInput.from_param(self.param.refresh_s, name="Refresh every [s]", width=250),
            pn.widgets.Select.from_param(self.param.measure, name="Tables plot", width=250,
                                         css_classes=["mi-measure"]),
        ]  # fmt: skip

    def main(self) -> list[Any]:
        """Return the status, then the store, Prefect, the hub and the service."""
        section = {"margin": (10, 10, 0, 10)}
        return [
            self._stamp, self._status,
            pn.pane.Markdown("### Store", **section), self._store_note,
            pn.Row(self._tables_pane, self._latency_pane, sizing_mode="stretch_width"),
            self._tables_table, self.downloads("store-tables", lambda: self._frame("tables"), "tables"),
            self.downloads("store-latency", lambda: self._frame("latency"), "latency"),
            pn.pane.Markdown("### Prefect flow runs", **section), self._prefect_note,
            pn.Row(self._state_pane, self._durations_pane, sizing_mode="stretch_width"),
            pn.pane.Markdown("#### Failures", **section), self._failures_table,
            pn.pane.Markdown("#### Next scheduled runs", **section), self._scheduled_table,
            pn.pane.Markdown("#### Latest runs", **section), self._runs_table,
            self.downloads("flow-runs", lambda: self._frame("runs"), "flow runs"),
            pn.pane.Markdown("### Hub", **section), self._hub_note, self._users_table,
            self.downloads("hub-users", lambda: self._frame("users"), "hub users"),
            pn.pane.Markdown("### Dashboards service", **section), self._service_note, self._renders_table,
        ]  # fmt: skip
