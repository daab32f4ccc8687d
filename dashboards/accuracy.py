# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Forecast accuracy: the stored backtest runs, and the accuracy of one in figures.

:class:`Accuracy` lists every backtest run with its stored overall metrics by market and model
(:func:`marketintel.services.backtest.accuracy_runs`), and for the chosen run reads its forecasts and the
actual prices (:func:`~marketintel.services.backtest.run_frame`) to draw, with the figure builders of
:mod:`marketintel.figures.backtest` (the same as the HTML reports'):

- one metric by hour of day, month or horizon, every model beside the weekly seasonal naive;
- the rolling MAE and rMAE over a trailing window, with the accuracy alerts' thresholds;
- the multivariate Diebold-Mariano and Giacomini-White p-value matrices;
- the forecasts against the actual over a chosen week.

A run whose flow exported an HTML report links to it (served by :mod:`marketintel.dashboards.reports`).
Times are drawn in UTC or the market's zone, the user's choice.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource

from marketintel.dashboards.page import PageView
from marketintel.figures import backtest as figures
from marketintel.services import backtest as service

__all__ = ["FILL", "Accuracy", "run_label"]

#: how to fill the page when no backtest is stored
FILL = "mi flows run backtest --set model=lear --set days=7"
#: "all" in the market and model filters
ALL = "all"
#: the metrics offered, with their units (``price`` is the run's price unit)
METRIC_UNITS = {
    "MAE": "price",
    "RMSE": "price",
    "rMAE": "-",
    "MASE": "-",
    "sMAPE": "%",
    "WAPE": "%",
    "MAPE": "%",
}
#: what the grouping choice is called in the page -> the service's grouping
GROUPING_LABELS = {"hour of day": "hour", "month": "month", "horizon": "horizon"}
_RUN_COLUMNS = ["market", "location", "model", "first_day", "last_day", "status", "report", "MAE", "rMAE",
                "sMAPE", "RMSE", "unit", "run_id"]  # fmt: skip


def run_label(row: Any) -> str:
    """Return how a run is named in the page: ``LEAR 1456 on NP/NP, 2016-12-27 .. 2017-01-02 (9befc9be)``."""
    return (
        f"{row['model']} on {row['market']}/{row['location']}, {row['first_day']} .. {row['last_day']} "
        f"({str(row['run_id'])[:8]})"
    )


def report_href(run_id: str) -> str:
    """Return the link of a run's HTML report, relative to the page (``reports/<run id>``)."""
    return f"reports/{run_id}"


class Accuracy(PageView):
    """Stored backtest runs and the accuracy of one of them.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store. Default: the service's read-only client on ``MI_CLICKHOUSE_URL``.
    database : str, optional
        Database of the tables. Default: the client's.
    **params
        Initial values of the parameters below (``market``, ``model``, ``run``, ``metric``, ``grouping``,
        ``window_days``, ``week``, ``tz``).
    """

    title = "Forecast accuracy"
    intro = (
        "Backtest runs from the store: their metrics by market and model; for one run the error by hour, "
        "month or horizon, the rolling accuracy against the alert thresholds, the Diebold-Mariano and "
        "Giacomini-White tests, and the forecasts against the actual in a chosen week."
    )

    market = param.Selector(objects=[ALL], default=ALL, doc="Market of the runs listed.")
    model = param.Selector(objects=[ALL], default=ALL, doc="Model of the runs listed.")
    run = param.Selector(objects={}, doc="The run drawn (newest first).")
    metric = param.Selector(objects=list(METRIC_UNITS), default="MAE", doc="Metric of the grouped bars.")
    grouping = param.Selector(objects=GROUPING_LABELS, default="hour", doc="Groups of the bars.")
    window_days = param.Selector(objects=[1, 7, 14, 28], default=7, doc="Rolling window [days].")
    week = param.Selector(objects=[], doc="First day of the week drawn (market zone).")

    def __init__(self, client: Any = None, database: str | None = None, **params: Any) -> None:
        super().__init__(client, database, **{k: v for k, v in params.items() if k == "tz"})
        self.runs = pd.DataFrame(columns=_RUN_COLUMNS)
        self.shown: service.RunFrame | None = None
        self.groups = pd.DataFrame()
        self.rolling = pd.DataFrame()
        self.pvalues: dict[str, pd.DataFrame] = {}
        self.week_rows = pd.DataFrame()
        self._loading = True
        self._table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, pagination="remote", page_size=8, selectable=1,
            sizing_mode="stretch_width", layout="fit_data_fill", formatters={"report": {"type": "html"}},
            css_classes=["mi-runs"],
        )  # fmt: skip
        self._table.param.watch(self._row_selected, "selection")
        self._header = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["mi-run-header"])
        self._groups_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=360)
        self._rolling_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=600)
        self._week_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=380)
        self._dm_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=260)
        self._gw_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=260)
        self._notes = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-accuracy-notes"])
        # a Bokeh pane hands its visibility to its figure: the boxes around the panes are shown or hidden
        self._run_box = pn.Column(
            self._header, self._groups_pane, self._rolling_pane, self._week_pane,
            pn.Row(self._dm_pane, self._gw_pane, sizing_mode="stretch_width"), self._notes,
            self.downloads("forecasts", self.view_frame, "the run's hours", table="forecasts"),
            visible=False, sizing_mode="stretch_width",
        )  # fmt: skip
        self._week_source: ColumnDataSource | None = None
        try:
            self._discover()
            for name in ("market", "model"):
                if params.get(name) in self.param[name].objects:
                    setattr(self, name, params[name])
            self._filter()
            if params.get("run") is not None and params["run"] in self.param.run.objects.values():
                self.run = params["run"]
            for name in ("metric", "grouping", "window_days"):
                if name in params:
                    setattr(self, name, params[name])
        finally:
            self._loading = False
        self._load_run()
        if params.get("week") is not None and params["week"] in self.param.week.objects:
            self.week = params["week"]

    # -- zone ---------------------------------------------------------------------------------------------
    def market_tz(self) -> str:
        """Return the zone of the run shown (its market's), UTC before one is read."""
        return self.shown.tz if self.shown is not None else "UTC"

    # -- the runs -----------------------------------------------------------------------------------------
    def _discover(self) -> None:
        """Read the stored runs with their overall metrics; offer their markets and models."""
        self.runs = pd.DataFrame(columns=_RUN_COLUMNS)
        with self.guard("listing the stored backtests"):
            self.runs = service.accuracy_runs(self.client, database=self.database)
            self.param.market.objects = [ALL, *sorted(self.runs["market"].astype(str).unique())]
            self.param.model.objects = [ALL, *sorted(self.runs["model"].astype(str).unique())]
            if self.runs.empty:
                self.empty("backtest run", FILL)

    def listed(self) -> pd.DataFrame:
        """Return the runs the market and model filters keep (one row per run and model)."""
        rows = self.runs
        if self.market != ALL:
            rows = rows[rows["market"] == self.market]
        if self.model != ALL:
            rows = rows[rows["model"] == self.model]
        return rows.reset_index(drop=True)

    @param.depends("market", "model", watch=True)
    def _filter(self) -> None:
        """List the runs the filters keep; keep the chosen run if it is listed, else the newest."""
        rows = self.listed()
        shown = rows.drop_duplicates("run_id")
        choices = {run_label(r): str(r["run_id"]) for _, r in shown.iterrows()}
        table = rows.reindex(columns=_RUN_COLUMNS).copy()
        table["report"] = [
            f'<a href="{report_href(r)}" target="_blank">open</a>' if p else ""
            for r, p in zip(rows["run_id"], rows["report"], strict=True)
        ]
        self._table.value = table
        with param.parameterized.discard_events(self):
            self.param.run.objects = choices
            if self.run not in choices.values():
                self.run = next(iter(choices.values()), None)
        if not self._loading:
            self._load_run()

    def _row_selected(self, event: Any) -> None:
        if event.new:
            self.run = str(self.listed()["run_id"].iloc[event.new[0]])

    # -- the run ------------------------------------------------------------------------------------------
    @param.depends("run", watch=True)
    def _load_run(self) -> None:
        """Read the chosen run's forecasts and actuals; draw everything."""
        if self._loading:
            return
        self.shown, self._week_source = None, None
        self._run_box.visible = False
        self._header.object = ""
        if not self.run:
            return
        self.clear()
        with self.guard(f"reading backtest run {self.run}"):
            try:
                self.shown = service.run_frame(self.client, str(self.run), database=self.database)
            except service.NoActualsError as exc:
                self._stored_only(str(exc))
                return
            weeks = service.run_weeks(self.shown)
            days = len(self.shown.forecasts()) // 24
            with param.parameterized.discard_events(self):
                self.param.week.objects = weeks
                self.week = weeks[-1] if weeks else None
                if days < 2 * int(self.window_days):  # a short run: daily windows show how it went
                    self.window_days = 1
            self._header.object = self._header_html()
            self._run_box.visible = True
            self._draw_groups()
            self._draw_rolling()
            self._draw_tests()
            self._draw_week(new_figure=True)

    def _stored_only(self, why: str) -> None:
        """Show what the store holds for a run without actuals: its MAE by hour as stored."""
        self.say(f"{why}. Shown: its stored MAE by hour of day (market clock) and overall metrics.", "info")
        self.groups = service.stored_grouped_metrics(
            self.client, str(self.run), "hour", database=self.database
        )
        self._header.object = self._header_html()
        for pane in (self._rolling_pane, self._week_pane, self._dm_pane, self._gw_pane):
            pane.object = None
        self._notes.object = ""
        if not self.groups.empty:
            unit = str(self.runs[self.runs["run_id"] == self.run]["unit"].iloc[0])
            fig = figures.metric_by_group_figure(
                self.groups, metric="MAE", unit=unit, group="hour of day (market clock, as stored)"
            )
            self.show_figure(self._groups_pane, fig)
        self._run_box.visible = True

    def _header_html(self) -> str:
        run = self.runs[self.runs["run_id"] == self.run].iloc[0]
        link = (
            f' &nbsp; <a class="mi-report-link" href="{report_href(str(self.run))}" target="_blank">'
            "Open the run's HTML report</a>"
            if run["report"]
            else " &nbsp; (no HTML report recorded: runs of the backtest flow record theirs)"
        )
        listed = self.runs[self.runs["run_id"] == self.run]
        models = ", ".join(html.escape(str(m)) for m in listed["model"])
        return (
            f"<p><b>Run</b> {html.escape(str(self.run))} &nbsp; <b>Models</b> {models} &nbsp; "
            f"<b>Market</b> {html.escape(str(run['market']))}/{html.escape(str(run['location']))} "
            f"({html.escape(str(run['tz']))}) &nbsp; <b>Target days</b> {run['first_day']} .. "
            f"{run['last_day']} &nbsp; <b>Status</b> {html.escape(str(run['status']))}{link}</p>"
        )

    def _unit(self, metric: str) -> str:
        unit = METRIC_UNITS[metric]
        return self.shown.unit if unit == "price" and self.shown is not None else unit

    @param.depends("metric", "grouping", watch=True)
    def _draw_groups(self) -> None:
        if self.shown is None or self._loading:
            return
        with self.guard(f"scoring by {self.grouping}"):
            self.groups = service.grouped_metrics(
                self.shown, str(self.grouping), tz=self.display_tz(), metric=str(self.metric)
            )
            name, unit = service.GROUPINGS[str(self.grouping)]
            if self.grouping != "horizon":
                name = f"{name} ({self.display_tz()})"
            fig = figures.metric_by_group_figure(
                self.groups, metric=str(self.metric), unit=self._unit(str(self.metric)), group=name,
                group_unit=unit,
            )  # fmt: skip
            self.show_figure(self._groups_pane, fig)

    @param.depends("window_days", watch=True)
    def _draw_rolling(self) -> None:
        if self.shown is None or self._loading:
            return
        with self.guard(f"computing the rolling accuracy over {self.window_days} days"):
            self.rolling = service.rolling_accuracy(self.shown, int(self.window_days))
            self._plot_rolling()

    def _plot_rolling(self) -> None:
        """Draw the rolling accuracy computed last."""
        assert self.shown is not None
        fig = figures.rolling_figure(
            self.rolling, self.shown.models, window_days=int(self.window_days), unit=self.shown.unit,
            tz=self.display_tz(),
        )  # fmt: skip
        self.show_figure(self._rolling_pane, fig)

    def _draw_tests(self) -> None:
        assert self.shown is not None
        self.pvalues = {}
        self._dm_pane.object = self._gw_pane.object = None
        self._notes.object = (
            "Tests: cell (row, column) is the p-value of 'the column forecast is more accurate than the row "
            "forecast' on daily mean absolute errors; coloured below 0.10, black above. The weekly naive "
            f"({service.NAIVE}) is a competitor in every run."
        )
        try:
            self.pvalues = service.pairwise_pvalues(self.shown)
        except ValueError as exc:  # MarketIntelError is one: the run is too short or incomplete
            self._notes.object = f"**Tests not computed.** {exc}"
            return
        self._dm_pane.object = figures.pvalue_figure(self.pvalues["DM"], "Diebold-Mariano p-values [-]")
        self._gw_pane.object = figures.pvalue_figure(self.pvalues["GW"], "Giacomini-White p-values [-]")

    @param.depends("week", watch=True)
    def _week_changed(self) -> None:
        if not self._loading:
            self._draw_week()

    @param.depends("tz", watch=True)
    def _tz_changed(self) -> None:
        """Redraw what has time axes or local groups, in one message to the browser."""
        if self._loading or self.shown is None:
            return
        with pn.io.hold():
            self._draw_groups()
            if self.rolling is not None and len(self.rolling):
                self._plot_rolling()
            self._draw_week()

    def _draw_week(self, new_figure: bool = False) -> None:
        """Draw the chosen week: a new figure for a new run, else new data in the same figure's source."""
        if self.shown is None or not self.week:
            return
        with self.guard(f"reading the week of {self.week}"):
            self.week_rows = service.forecast_week(self.shown, str(self.week))
            models = [*self.shown.models, service.NAIVE]
            tz = self.display_tz()
            title = f"Forecasts against the actual, week of {self.week}"
            if new_figure or self._week_source is None:
                fig = figures.forecast_figure(
                    self.week_rows, service.ACTUAL, models, title=title, unit=self.shown.unit, tz=tz
                )
                self._week_source = fig.select_one({"name": "forecast_vs_actual"})
                self._week_pane.object = fig
            else:
                fig = self._week_pane.object
                fig.title.text = title
                fig.xaxis[0].axis_label = f"delivery start [{tz}]"
                self._week_source.data = figures.forecast_source_data(
                    self.week_rows, service.ACTUAL, models, tz
                )

    # -- download -----------------------------------------------------------------------------------------
    def view_frame(self) -> pd.DataFrame:
        """Return the shown run's hours: actual, weekly naive and every model (UTC and display times)."""
        if self.shown is None:
            return pd.DataFrame()
        rows = self.shown.forecasts().reset_index()
        rows.insert(1, f"interval_start [{self.display_tz()}]", pd.DatetimeIndex(
            rows["interval_start_utc"]).tz_convert(self.display_tz()).strftime("%Y-%m-%d %H:%M"))  # fmt: skip
        return rows

    # -- layout -------------------------------------------------------------------------------------------
    def controls(self) -> list[Any]:
        """Return the filters, the run and the figures' choices."""
        return [
            pn.widgets.Select.from_param(self.param.market, name="Market", width=250),
            pn.widgets.Select.from_param(self.param.model, name="Model", width=250),
            pn.widgets.Select.from_param(self.param.run, name="Run", width=250),
            pn.widgets.Select.from_param(self.param.metric, name="Metric", width=250),
            pn.widgets.RadioButtonGroup.from_param(self.param.grouping, name="By", width=250),
            pn.widgets.Select.from_param(self.param.window_days, name="Rolling window [days]", width=250),
            pn.widgets.Select.from_param(self.param.week, name="Week from (market days)", width=250),
        ]

    def main(self) -> list[Any]:
        """Return the runs table with its download, then the chosen run's figures."""
        return [
            pn.pane.Markdown("### Backtest runs (overall metrics as stored)", margin=(0, 10)),
            self._table,
            self.downloads("backtest_runs", self.listed, "the runs", table="forecasts"),
            self._run_box,
        ]
