# Panel's constructors and param's Selector parameters are untyped: calls and class parameters of them
# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Backtests: the stored backtest runs, and the accuracy metrics of the selected one.

:class:`Backtests` lists runs with :func:`marketintel.services.queries.backtest_runs` and shows the
metrics of the chosen run (:func:`~marketintel.services.queries.backtest_metrics`) as a table and a bar
plot, for one grouping (``all`` by default: one value per metric over the whole backtest).
"""

from __future__ import annotations

from typing import Any

import holoviews as hv  # type: ignore[import-untyped]
import holoviews.plotting.bokeh  # type: ignore[import-untyped]  # registers the Bokeh backend
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from marketintel.dashboards.data import store_client
from marketintel.dashboards.explorer import display_frame
from marketintel.exceptions import MarketIntelError
from marketintel.services import queries

__all__ = ["Backtests"]

hv.Store.set_current_backend("bokeh")

#: runs listed at most [rows]
MAX_RUNS = 500
_RUN_COLUMNS = ["run_id", "model", "market", "location", "variable", "benchmark", "status",
                "issue_start_utc", "issue_end_utc", "started_at_utc", "finished_at_utc"]  # fmt: skip
_METRIC_COLUMNS = ["metric", "group_by", "group_value", "benchmark", "value", "unit", "n_obs"]


class Backtests(Viewer):
    """Stored backtest runs and the metrics of one.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store. Default: the service's read-only client on ``MI_CLICKHOUSE_URL``.
    database : str, optional
        Database of the tables. Default: the client's.
    **params
        Initial values of the parameters below.
    """

    run_id = param.Selector(objects=[], doc="The run whose metrics are shown (newest first).")
    group_by = param.Selector(objects=["all"], default="all", doc="Grouping of the metrics ('all': overall).")
    message = param.String(default="", doc="What the page could not show, and why.")

    def __init__(self, client: Any = None, database: str | None = None, **params: Any) -> None:
        self._client = client if client is not None else store_client()
        self._database = database
        self.runs = pd.DataFrame()
        self.metrics = pd.DataFrame()
        self._runs_table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, selectable=1, pagination="remote", page_size=10,
            sizing_mode="stretch_width", height=330,
        )  # fmt: skip
        self._metrics_table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, pagination="remote", page_size=15,
            sizing_mode="stretch_width", height=480,
        )  # fmt: skip
        self._plot = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=340)
        self._alert = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        super().__init__(**{k: v for k, v in params.items() if k != "run_id"})
        self._runs_table.param.watch(self._row_selected, "selection")
        self._load_runs()
        if params.get("run_id") in self.param.run_id.objects:
            self.run_id = params["run_id"]

    def _load_runs(self) -> None:
        try:
            self.runs = queries.backtest_runs(self._client, database=self._database, limit=MAX_RUNS)
        except MarketIntelError as exc:
            self.message = f"**The store could not answer.** {exc}"
            self._show_message()
            return
        ids = self.runs["run_id"].astype(str).tolist()
        self.param.run_id.objects = ids
        self._runs_table.value = display_frame(self.runs[[c for c in _RUN_COLUMNS if c in self.runs]])
        if not ids:
            self.message = "No backtest run is stored yet: run one (`mi backtest run` or the backtest flow)."
            self._show_message()
        elif self.run_id not in ids:
            self.run_id = ids[0]
        else:
            self._load_metrics()

    def _row_selected(self, event: Any) -> None:
        if event.new:
            self.run_id = str(self.runs["run_id"].iloc[event.new[0]])

    @param.depends("run_id", watch=True)
    def _run_changed(self) -> None:
        self._load_metrics()
        if self.run_id is not None and not self.runs.empty:
            row = self.runs.index[self.runs["run_id"] == self.run_id].tolist()
            if row and self._runs_table.selection != row[:1]:
                self._runs_table.selection = row[:1]

    @param.depends("group_by", watch=True)
    def _load_metrics(self) -> None:
        """Read the run's metrics; offer its groupings; draw the table and the bars."""
        self.message = ""
        self.metrics = pd.DataFrame()
        if self.run_id is not None:
            try:
                every = queries.backtest_metrics(self._client, str(self.run_id), database=self._database)
            except MarketIntelError as exc:
                self.message = f"**The store could not answer.** {exc}"
                every = pd.DataFrame()
            if not every.empty:
                groupings = sorted(every["group_by"].astype(str).unique(), key=lambda g: (g != "all", g))
                with param.parameterized.discard_events(self):
                    self.param.group_by.objects = groupings
                    if self.group_by not in groupings:
                        self.group_by = groupings[0]
                self.metrics = every[every["group_by"] == self.group_by].reset_index(drop=True)
            elif not self.message:
                self.message = (
                    f"Run {self.run_id} has no stored metrics (it may still be running, or failed)."
                )
        self._metrics_table.value = display_frame(
            self.metrics[[c for c in _METRIC_COLUMNS if c in self.metrics]]
        )
        self._plot.object = self._bars() if not self.metrics.empty else None
        self._show_message()

    def _bars(self) -> hv.Bars:
        df = self.metrics
        data = pd.DataFrame(
            {
                "metric": [
                    f"{m} [{u}]" if u else str(m) for m, u in zip(df["metric"], df["unit"], strict=True)
                ],
                "group": [
                    f"{g}" + (f" vs {b}" if b else "")
                    for g, b in zip(df["group_value"], df["benchmark"], strict=True)
                ],
                "value": df["value"].astype(float).to_numpy(),
            }
        )
        kdims = ["metric", "group"] if data["group"].nunique() > 1 else ["metric"]
        return hv.Bars(data, kdims=kdims, vdims=[hv.Dimension("value", label="Value [see metric]")]).opts(
            title=f"Run {self.run_id}: metrics ({self.group_by})", tools=["hover"], responsive=True,
            xrotation=30, ylabel="Value [unit of each metric]", xlabel="Metric [unit]", show_grid=True,
            color="#1f5fa8", multi_level=False,
        )  # fmt: skip

    def _show_message(self) -> None:
        self._alert.object = self.message
        self._alert.visible = bool(self.message)

    def __panel__(self) -> pn.viewable.Viewable:
        """Return the page: runs (select one), then its metrics as bars and as a table."""
        return pn.Column(
            pn.pane.Markdown("## Backtests\nStored backtest runs, newest first; select one for its metrics.",
                             margin=(0, 10)),
            self._alert,
            self._runs_table,
            pn.Row(
                pn.widgets.Select.from_param(self.param.run_id, label="Run", width=320),
                pn.widgets.Select.from_param(self.param.group_by, label="Grouping", width=200),
            ),
            self._plot,
            pn.pane.Markdown("### Metrics", margin=(0, 10)),
            self._metrics_table,
            sizing_mode="stretch_width",
        )  # fmt: skip
