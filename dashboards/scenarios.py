# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Scenarios: write a scenario with live syntax checking, run it, compare it with its base and other runs.

:class:`Scenarios` is the quants' editor of "what if" cases in the scenario language
(:mod:`marketintel.scenarios`). Everything goes through :mod:`marketintel.services.scenarios`:

- **live checking**: on every edit the text is checked (:func:`~marketintel.services.scenarios.check`,
  with the store, so unknown curves, assumptions and contracts are named with the ones that exist); each
  error is listed with its line and column and marked in the editor's gutter;
- **Run**: :func:`~marketintel.services.scenarios.run` as the logged-in quant's own store user (it stores
  the run in ``scenario_runs`` and the scenario curve in ``curves``; the dashboards service itself only
  reads), its progress lines shown while it runs; then the base and scenario curves with their
  difference, and the comparison contract by contract;
- **Runs**: every tracked run, newest first; pick one and compare it with its base or with another run
  (:func:`~marketintel.services.scenarios.compare`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import panel as pn
import param

from marketintel.calendars.calendar import CALENDARS
from marketintel.dashboards.page import PageView
from marketintel.exceptions import MarketIntelError
from marketintel.figures import scenarios as figures
from marketintel.services import curves as curve_service
from marketintel.services import scenarios as service

__all__ = ["BASE", "EXAMPLE", "Scenarios"]

#: ``compare against`` choice meaning the run's own base
BASE = "its base"
#: runs listed at most
MAX_RUNS = 200
_TABLE_COLUMNS = ["contract", "delivery_start", "delivery_end", "base_price", "scenario_price", "difference",
                  "quote", "requote", "profile"]  # fmt: skip


def _example() -> str:
    import marketintel.scenarios as package

    path = Path(package.__file__).parent / "examples" / "gas-cold-winter.scn"
    lines = path.read_text().splitlines() if path.is_file() else []
    return "\n".join(line for line in lines if not line.startswith("# ")) + "\n"


#: the editor's first text (the packaged example without its header comments)
EXAMPLE = _example()


def _run_label(row: pd.Series) -> str:
    started = pd.Timestamp(row["started_at_utc"])
    return f"{started:%Y-%m-%d %H:%M:%S} {row['scenario']} ({row['status']}, {str(row['run_id'])[:8]})"


def comparison_rows(comparison: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Return a comparison contract by contract as the page's table shows it.

    The columns that answer "what moved" come first (contract, delivery, base, scenario, difference), so
    they are in view at 1280 px; the quotes and the profile follow. The prices' ``unit`` is in the table's
    title, not in every header (headers with units pushed the difference past the page's edge).
    """
    delivery = [
        f"{s} .. {e}" for s, e in zip(comparison["delivery_start"], comparison["delivery_end"], strict=True)
    ]
    priced = {"base_price": "base", "scenario_price": "scenario", "difference": "difference",
              "quote": "quote", "requote": "requote"}  # fmt: skip
    shown = pd.DataFrame({"contract": comparison["contract"], "delivery": delivery})
    for column, name in priced.items():
        shown[name] = comparison[column].to_numpy()
    shown["profile"] = comparison["profile"].to_numpy()
    return shown


class Scenarios(PageView):
    """Edit a scenario with live checking, run it as the user, compare runs with their base or each other.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store (read). Default: the service's read-only client on ``MI_CLICKHOUSE_URL``.
    database : str, optional
        Database of the tables. Default: the client's.
    writer : clickhouse_connect.driver.client.Client, optional
        The client runs write with. Default: the logged-in user's own store credentials, or ``client`` in
        developer mode (no login).
    **params
        Initial values of the parameters below.
    """

    title: ClassVar[str] = "Scenarios"
    intro: ClassVar[str] = (
        "Write a what-if case in the scenario language (base curve, shifts, requotes, assumptions, derived "
        "series): it is checked as you type. Run it to store it as a tracked run and see it against its "
        "base contract by contract; compare any two runs."
    )

    text = param.String(default=EXAMPLE, doc="The scenario's text.")
    run_choice = param.Selector(objects={}, doc="A stored run to compare.")
    against = param.Selector(objects={BASE: ""}, default="", doc="What the run is compared with.")

    def __init__(self, client: Any = None, database: str | None = None, writer: Any = None,
                 **params: Any) -> None:  # fmt: skip
        super().__init__(client, database, **params)
        self.writer = writer
        self.checked: service.CheckResult | None = None
        self.result: service.ScenarioResult | None = None
        self.compared = pd.DataFrame()
        self.runs = pd.DataFrame()
        self.progress: list[str] = []
        #: the unit of each run this page ran (a comparison's table names it)
        self.units: dict[str, str] = {}
        self._editor = pn.widgets.CodeEditor(
            value=self.text, language="python", theme="chrome", height=170, sizing_mode="stretch_width",
            on_keyup=True, print_margin=False, css_classes=["mi-scenario-editor"],
        )  # fmt: skip
        self._editor.param.watch(self._edited, "value")
        self._check_note = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-check"])
        self._run_button = pn.widgets.Button(label="Run scenario", color="primary", width=250,
                                             css_classes=["mi-run"])  # fmt: skip
        self._run_button.on_click(self._on_run)
        self._status = pn.pane.Markdown("", width=250, css_classes=["mi-run-status"])
        self._summary = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-run-summary"])
        self._figure = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=600)
        self._figure_box = pn.Column(self._figure, visible=False, sizing_mode="stretch_width")
        self._table_title = pn.pane.Markdown("", margin=(0, 10), css_classes=["mi-comparison-title"])
        self._table = self._tabulator("mi-comparison", 14)
        self._runs_note = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-runs-note"])
        self._runs_table = self._tabulator("mi-runs", 8)
        self._compare_button = pn.widgets.Button(label="Compare", color="primary", width=250,
                                                 css_classes=["mi-compare"])  # fmt: skip
        self._compare_button.on_click(self._on_compare)
        self._compare_title = pn.pane.Markdown("", margin=(0, 10), css_classes=["mi-compare-title"])
        self._compare_table = self._tabulator("mi-compare-table", 14)
        self.check_text()
        self.read_runs()

    @staticmethod
    def _tabulator(css: str, page_size: int) -> pn.widgets.Tabulator:
        return pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, pagination="local", page_size=page_size,
            sizing_mode="stretch_width", layout="fit_data_fill", visible=False, css_classes=[css],
        )  # fmt: skip

    # -- checking --------------------------------------------------------------------------------------------
    def _edited(self, event: Any) -> None:
        self.text = event.new
        self.check_text()

    def check_text(self) -> service.CheckResult | None:
        """Check the editor's text against the grammar, its meaning and the store; show the errors."""
        try:
            checked = service.check(self.text, self.client)
        except (OSError, ValueError) as exc:  # the store did not answer: the grammar alone
            checked = service.check(self.text)
            self.say(f"**Names not checked against the store.** {exc}", "warning")
        self.checked = checked
        self._editor.annotations = [
            {"row": max(e.line - 1, 0), "column": max(e.column - 1, 0), "text": e.message, "type": "error"}
            for e in checked.errors
        ]
        if checked.ok:
            lines = "\n".join(f"- {s}" for s in checked.statements)
            self._check_note.object = (
                f"**Checks:** scenario *{checked.scenario}*, {len(checked.statements)} statement(s).\n{lines}"
            )
        else:
            errors = "\n".join(f"- **line {e.line}, column {e.column}:** {e.message}" for e in checked.errors)
            self._check_note.object = f"**{len(checked.errors)} error(s)** (not runnable yet):\n{errors}"
        self._run_button.disabled = not checked.ok
        return checked

    # -- running ---------------------------------------------------------------------------------------------
    def _writer(self) -> Any:
        """Return the client a run writes with: the user's own store user (a writer), else the page's."""
        if self.writer is not None:
            return self.writer
        user = pn.state.user
        if user:
            return curve_service.user_store_client(str(user))
        return self.client  # developer mode (serve --no-auth)

    def _user(self) -> str:
        return str(pn.state.user or "scenarios page (no login)")

    def run(self) -> service.ScenarioResult | None:
        """Run the editor's scenario as the user; show the curves, the comparison and the runs."""
        self.clear()
        self.progress = []
        done: list[service.ScenarioResult] = []  # empty when the guard showed an error instead
        with self.guard("running the scenario"):
            started = time.perf_counter()
            done.append(service.run(self.text, client=self._writer(), user=self._user(),
                                    progress=self.progress.append))  # fmt: skip
            self._finish(done[0], time.perf_counter() - started)
        if not done:
            why = self.message.replace("**Failed running the scenario.** ", "")
            self._status.object = f"**Not run.** {why}"
            self.read_runs()  # a run that got as far as the store is listed as failed
            return None
        return done[0]

    async def _on_run(self, _event: Any = None) -> None:
        """Run in a worker thread, showing its progress lines in the page meanwhile."""
        self.clear()
        self.progress = []
        self._run_button.disabled = True
        self._status.object = "Running ..."
        text, user = self.text, self._user()
        outcome: dict[str, Any] = {}
        try:
            writer = self._writer()
        except (MarketIntelError, ValueError, OSError) as exc:
            self.say(f"**Failed running the scenario.** {exc}", "danger")
            self._status.object = f"**Not run.** {exc}"
            self._run_button.disabled = False
            return

        def work() -> None:
            try:
                outcome["result"] = service.run(text, client=writer, user=user, progress=self.progress.append)
            except Exception as exc:  # shown in the page below
                outcome["error"] = exc

        started = time.perf_counter()
        worker = threading.Thread(target=work, name="scenario-run", daemon=True)
        worker.start()
        while worker.is_alive():
            shown = "\n".join(f"- {line}" for line in self.progress[-6:])
            self._status.object = f"Running ... {time.perf_counter() - started:.1f} s\n{shown}"
            await asyncio.sleep(0.25)
        self._run_button.disabled = not (self.checked is not None and self.checked.ok)
        error = outcome.get("error")
        if error is not None:
            self.say(f"**Failed running the scenario.** {error}", "danger")
            self._status.object = f"**Not run.** {error}"
            self.read_runs()  # a run that got as far as the store is listed as failed
            return
        with self.guard("showing the run"):
            self._finish(outcome["result"], time.perf_counter() - started)

    def _finish(self, result: service.ScenarioResult, seconds: float) -> None:
        self.result = result
        self.units[result.run_id] = result.unit
        self._status.object = f"**Done** in {seconds:.1f} s: run `{result.run_id[:8]}` {result.status}." + (
            "\n" + "\n".join(f"- {line}" for line in self.progress[-4:]) if self.progress else ""
        )
        self._show_result()
        self.read_runs(select=result.run_id)

    def _show_result(self) -> None:
        result = self.result
        assert result is not None
        tz, unit = self.display_tz(), result.unit
        fig = figures.comparison_figure(
            result.base, result.result, unit=unit, tz=tz,
            title=f"{result.curve_name}: scenario {result.scenario} against its base",
        )  # fmt: skip
        self._figure.object = fig
        self._figure_box.visible = True
        comparison = result.comparison
        moved = comparison[comparison["difference"].abs() > 1e-9]
        self._table_title.object = (
            f"**Contract by contract**: {len(comparison)} contracts of the base, {len(moved)} moved "
            f"(scenario - base, each curve averaged over the contract's delivery) [{unit}]"
        )
        self._table.value = comparison_rows(comparison, unit)
        self._table.visible = True
        reused = " (the same inputs as an earlier run: nothing new stored)" if result.reused else ""
        self._summary.object = (
            f"**{result.scenario}**: run `{result.run_id}` {result.status}{reused} in "
            f"{result.duration_s:.2f} s; curve **{result.curve_name}** scenario version "
            f"{result.output_version}, prices in {unit}.\n\n{result.message}"
        )

    @param.depends("tz", watch=True)
    def _tz_changed(self) -> None:
        if self.result is not None:
            with self.guard("redrawing in the chosen zone"):
                self._show_result()

    def market_tz(self) -> str:
        """Return the local zone of the shown run's curve (its latest build's calendar), else UTC."""
        if self.result is None:
            return "UTC"
        curves = curve_service.stored_curves(self.client, database=self.database)
        calendar = curves.loc[curves["curve_name"] == self.result.curve_name, "calendar"]
        name = str(calendar.iloc[0]) if len(calendar) else ""
        return CALENDARS[name].tz if name in CALENDARS else "UTC"

    # -- runs and comparisons --------------------------------------------------------------------------------
    def read_runs(self, select: str | None = None) -> pd.DataFrame:
        """Read the tracked runs, newest first, and offer the comparable ones (``ok`` or ``reused``)."""
        with self.guard("reading the scenario runs"):
            self.runs = service.runs(self.client).head(MAX_RUNS)
        if self.runs.empty:
            self._runs_note.object = (
                "No scenario run is stored yet: write one above and press *Run scenario*."
            )
            self._runs_table.visible = False
            self.param.run_choice.objects = {}
            self.param.against.objects = {BASE: ""}
            return self.runs
        usable = self.runs[self.runs["status"].isin(["ok", "reused"])]
        options = {_run_label(r): str(r["run_id"]) for _, r in usable.iterrows()}
        self.param.run_choice.objects = options
        self.param.against.objects = {BASE: "", **options}
        if select in options.values():
            self.run_choice = select
        elif self.run_choice not in options.values():
            self.run_choice = next(iter(options.values()), None)
        counts = self.runs["status"].value_counts()
        self._runs_note.object = (
            f"{len(self.runs)} run(s): "
            + ", ".join(f"{n} {status}" for status, n in counts.items())
            + ". Pick a run and what to compare it with on the left."
        )
        columns = ["started_at_utc", "scenario", "status", "duration_s", "output_curve", "output_version",
                   "created_by", "assumptions", "run_id", "message"]  # fmt: skip
        shown = self.runs[columns].copy()
        shown["started_at_utc"] = pd.to_datetime(shown["started_at_utc"]).dt.strftime("%Y-%m-%d %H:%M:%S")
        shown["duration_s"] = shown["duration_s"].round(2)  # 0.26 s, not 0.258481
        self._runs_table.value = shown.rename(
            columns={"started_at_utc": "started [UTC]", "duration_s": "duration [s]"}
        )
        self._runs_table.visible = True
        return self.runs

    def _on_compare(self, _event: Any = None) -> None:
        self.compare()

    def compare(self) -> pd.DataFrame:
        """Compare the chosen run with its base or with the other chosen run, contract by contract."""
        self.compared = pd.DataFrame()
        if not self.run_choice:
            self.say("No run to compare yet: run a scenario first.", "info")
            return self.compared
        with self.guard("comparing the runs"):
            other = str(self.against) or None
            if other == self.run_choice:
                raise ValueError("choose another run to compare with (or its base)")
            self.compared = service.compare(self.client, str(self.run_choice), other)
        if self.compared.empty:
            self._compare_table.visible = False
            return self.compared
        labels = {v: k for k, v in self.param.run_choice.objects.items()}
        against = labels.get(str(self.against), "its base") if self.against else "its base"
        moved = int((self.compared["difference"].abs() > 1e-9).sum())
        unit = self.units.get(str(self.run_choice), "curve unit")
        self._compare_title.object = (
            f"**{labels.get(str(self.run_choice), self.run_choice)}** against **{against}**: "
            f"{len(self.compared)} contracts, {moved} differ (base = {against})"
        )
        self._compare_table.value = comparison_rows(self.compared, unit)
        self._compare_table.visible = True
        return self.compared

    # -- downloads -------------------------------------------------------------------------------------------
    def comparison_frame(self) -> pd.DataFrame:
        """Return the shown run's comparison contract by contract (or nothing before a run)."""
        return self.result.comparison if self.result is not None else pd.DataFrame(columns=_TABLE_COLUMNS)

    # -- layout ----------------------------------------------------------------------------------------------
    def controls(self) -> list[Any]:
        """Return Run and its status, then the comparison of stored runs."""
        return [
            self._run_button,
            self._status,
            pn.pane.Markdown("**Compare stored runs**", margin=(10, 10, 0, 10)),
            pn.widgets.Select.from_param(self.param.run_choice, label="Run", width=250,
                                         css_classes=["mi-run-choice"]),
            pn.widgets.Select.from_param(self.param.against, label="Against", width=250,
                                         css_classes=["mi-against"]),
            self._compare_button,
        ]  # fmt: skip

    def main(self) -> list[Any]:
        """Return the editor and its check, the run's result, the runs and the comparison."""
        return [
            self._editor,
            self._check_note,
            self._summary,
            self._figure_box,
            self._table_title,
            self._table,
            self.downloads("scenario_comparison", self.comparison_frame, "the comparison", table="curves"),
            pn.pane.Markdown("### Runs"),
            self._runs_note,
            self._runs_table,
            self._compare_title,
            self._compare_table,
        ]
