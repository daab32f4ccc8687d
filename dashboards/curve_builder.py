# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Curve builder: build a forward curve interactively, look at it and its per-contract report, then save it.

:class:`CurveBuilder` builds with :func:`marketintel.services.curves.build_and_store_curve` (``store=False``)
from a product's stored settlements as of a trade date, or from an uploaded quotes CSV, with the options of
``mi curves build``: granularity, weights, settlements or bid/ask bands, and what to do with quotes that
contradict each other. Contradicting quotes are explained contract by contract in the page (the engine's
report), not as a traceback. A build that looks right is saved as a new version with its lineage by
:func:`~marketintel.services.curves.save_curve`.

Saving writes as the logged-in quant's own store user
(:func:`~marketintel.services.curves.user_store_client`): the dashboards service itself only reads. A
quant whose store user is a reader is told which admin command makes it a writer; the store's role check
decides either way, and its query log names who wrote.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

from marketintel.calendars.calendar import CALENDARS
from marketintel.curves.build import InconsistentContractsError
from marketintel.dashboards.page import PageView
from marketintel.figures import curves as figures
from marketintel.services import curves as service

__all__ = ["CurveBuilder"]

STORED, UPLOAD = "stored settlements", "quotes file"
QUOTES = {"settlements": False, "bid/ask bands": True, "auto (bands when a price is missing)": None}
INCONSISTENT = {"explain and stop": "fail", "reprice as closely as possible (least squares)": "least-squares"}
_REPORT_COLUMNS = ["contract", "profile", "start", "end", "price", "bid", "ask", "target", "repriced",
                   "error", "residual_vs_quote", "status"]  # fmt: skip


class CurveBuilder(PageView):
    """Build a forward curve from stored settlements or an uploaded quotes file; save it with lineage.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store (read). Default: the service's read-only client on ``MI_CLICKHOUSE_URL``.
    database : str, optional
        Database of the tables. Default: the client's.
    writer : clickhouse_connect.driver.client.Client, optional
        The client saving builds. Default: the logged-in user's own store credentials, or ``client`` in
        developer mode (no login).
    **params
        Initial values of the parameters below.
    """

    title = "Curve builder"
    intro = (
        "Build a maximum-smoothness forward curve from a product's stored settlements or from a quotes file; "
        "check how it reprices every contract, then save it as a new version with its lineage."
    )

    source = param.Selector(objects=[STORED, UPLOAD], default=STORED, doc="Where the quotes come from.")
    product = param.Selector(objects=[], doc="forward_quotes.product, e.g. NG (Henry Hub).")
    trade_date = param.Selector(objects=[], doc="Trade date of the settlements (the curve's as-of).")
    file_as_of = param.Date(default=None, allow_None=True, doc="Trade date of a quotes file; empty: today.")
    calendar = param.Selector(objects=sorted(CALENDARS), default="HENRY_HUB", doc="Market calendar.")
    granularity = param.Selector(objects=["daily", "hourly"], default="daily", doc="Curve resolution.")
    weights = param.Selector(objects=["days", "hours"], default="days", doc="Gas: days; power: hours.")
    quotes = param.Selector(objects=list(QUOTES), default="settlements", doc="Fit settlements or bands.")
    on_inconsistent = param.Selector(objects=list(INCONSISTENT), default="explain and stop",
                                     doc="What to do with quotes that contradict each other.")  # fmt: skip
    tolerance = param.Number(
        default=1e-6, bounds=(0, None), doc="Contradiction accepted as rounding [price]."
    )
    start = param.Date(default=None, allow_None=True, doc="First delivery date (local); empty: the strip's.")
    end = param.Date(default=None, allow_None=True, doc="Last delivery date (local); empty: the strip's.")
    curve_name = param.String(
        default="", doc="curves.curve_name to save under; empty: <product>_<granularity>."
    )

    def __init__(
        self, client: Any = None, database: str | None = None, writer: Any = None, **params: Any
    ) -> None:
        super().__init__(client, database, **{k: v for k, v in params.items() if k not in ("product",)})
        self.writer = writer
        self.products = pd.DataFrame()
        self.result: service.CurveResult | None = None
        self.report = pd.DataFrame()
        self.inconsistency = pd.DataFrame()
        #: the uploaded quotes file: its (cleaned) name and content
        self.upload: tuple[str, bytes] | None = None
        self._file = pn.widgets.FileInput(accept=".csv", label="Quotes file (CSV)", width=250, visible=False)
        self._file.param.watch(self._uploaded, "value")
        self._file_date = pn.widgets.DatePicker.from_param(
            self.param.file_as_of, label="Trade date of the file (empty: today)", width=250, visible=False
        )
        self._build_button = pn.widgets.Button(label="Build curve", color="primary", width=250,
                                               css_classes=["mi-build"])  # fmt: skip
        self._build_button.on_click(lambda _event: self._run(self.build))
        self._save_button = pn.widgets.Button(label="Save as a new version", color="success", width=250,
                                              disabled=True, css_classes=["mi-save"])  # fmt: skip
        self._save_button.on_click(lambda _event: self._run(self.save))
        # what Save did, beside the button (the page's message line may be scrolled out of view)
        self._save_note = pn.pane.Markdown("", width=250, css_classes=["mi-save-note"])
        self._summary = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-build-summary"])
        self._curve_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=440)
        self._hourly_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=310)
        self._errors_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=310)
        # a Bokeh pane hands its visibility to the figure it shows: boxes around them are shown or hidden
        self._curve_box, self._hourly_box, self._errors_box = (
            pn.Column(pane, visible=False, sizing_mode="stretch_width")
            for pane in (self._curve_pane, self._hourly_pane, self._errors_pane)
        )
        self._report_title = pn.pane.Markdown("", margin=(0, 10), css_classes=["mi-report-title"])
        self._built = (pd.Timestamp.now(tz="UTC"), 0.0)  # when the curve shown was built, in how long [s]
        self._table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, pagination="remote", page_size=12,
            sizing_mode="stretch_width", layout="fit_data_fill", visible=False, css_classes=["mi-report"],
        )  # fmt: skip
        self._discover(params.get("product"))

    @staticmethod
    def _run(action: Any) -> None:
        """Run a button's action (its return value is for callers from code)."""
        action()

    # -- zone ---------------------------------------------------------------------------------------------
    def market_tz(self) -> str:
        """Return the chosen calendar's zone."""
        return CALENDARS[self.calendar].tz

    # -- choices ------------------------------------------------------------------------------------------
    def _discover(self, product: str | None) -> None:
        with self.guard("listing the quoted products"):
            self.products = service.quoted_products(self.client, database=self.database)
            names = self.products["product"].astype(str).tolist()
            self.param.product.objects = names
            if not names:
                self.empty(
                    "forward quote", "mi ingest cme_settlements ... (or `mi demo`); or upload a quotes file"
                )
                return
            if product is not None and product not in names:
                self.say(f"**Unknown product {product!r}.** The store has quotes of: {', '.join(names)}.")
            chosen = product if product in names else ("NG" if "NG" in names else names[0])
            if self.product == chosen:
                self._product_changed()
            else:
                self.product = chosen

    @param.depends("product", watch=True)
    def _product_changed(self) -> None:
        rows = self.products[self.products["product"] == self.product]
        if rows.empty:
            return
        days = [str(d) for d in rows["trade_dates"].iloc[0]]
        self.param.trade_date.objects = days
        self.trade_date = days[0] if days else None
        self.calendar = service.calendar_for_product(str(self.product))

    @param.depends("calendar", watch=True)
    def _calendar_changed(self) -> None:
        gas = CALENDARS[self.calendar].commodity == "gas"
        self.weights = "days" if gas else "hours"

    @param.depends("source", watch=True)
    def _source_changed(self) -> None:
        self._file.visible = self._file_date.visible = self.source == UPLOAD

    def _uploaded(self, event: Any) -> None:
        if not event.new:
            return
        stem = (
            re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self._file.filename or "quotes.csv").name) or "quotes.csv"
        )
        self.upload = (stem if stem.endswith(".csv") else f"{stem}.csv", bytes(event.new))
        self.source = UPLOAD
        self.say(
            f"Quotes file **{self._file.filename}** received ({len(event.new):,} bytes): press Build.", "info"
        )

    # -- building -----------------------------------------------------------------------------------------
    def options(self, folder: Path) -> dict[str, Any]:
        """Return the keyword arguments of :func:`~marketintel.services.curves.build_and_store_curve`.

        Parameters
        ----------
        folder : Path
            Where an uploaded quotes file is written for the build (a temporary folder).
        """
        common: dict[str, Any] = {
            "calendar": self.calendar, "granularity": self.granularity, "weights": self.weights,
            "bid_ask": QUOTES[self.quotes], "on_inconsistent": INCONSISTENT[self.on_inconsistent],
            "tolerance": float(self.tolerance), "start": self.start or None, "end": self.end or None,
            "curve_name": self.curve_name or None, "store": False, "client": self.client,
        }  # fmt: skip
        if self.source == UPLOAD:
            if self.upload is None:
                raise ValueError(
                    "no quotes file uploaded yet: choose a CSV (name,start,end,price[,bid,ask][,profile])"
                )
            path = folder / self.upload[0]
            path.write_bytes(self.upload[1])
            return {**common, "quotes": path, "as_of": self.file_as_of or None}
        if not self.product:
            raise ValueError("no product chosen (the store has no forward quotes)")
        return {**common, "product": self.product, "as_of": dt.date.fromisoformat(str(self.trade_date))}

    def build(self) -> service.CurveResult | None:
        """Build the curve with the chosen options and show it (nothing is stored)."""
        self.clear()
        self.result, self.inconsistency = None, pd.DataFrame()
        self._save_button.disabled = True
        self._save_note.object = ""
        with self.guard("building the curve"):
            try:
                started = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="mi-curve-builder-") as folder:
                    self.result = service.build_and_store_curve(**self.options(Path(folder)))
                self._built = (pd.Timestamp.now(tz="UTC"), time.perf_counter() - started)
            except InconsistentContractsError as exc:
                self.inconsistency = exc.report.copy()
                self._show_inconsistency(str(exc))
                return None
            self._show_result()
            self._save_button.disabled = False
        return self.result

    def _show_inconsistency(self, message: str) -> None:
        lines = message.splitlines()
        details = [f"- {x.strip()}" for x in lines[1:] if x.startswith(" ")]
        fix = (
            "Fix the quotes, or choose *reprice as closely as possible (least squares)* under "
            "*Inconsistent quotes* to build the closest curve that prices every contract consistently."
        )
        text = "\n".join([f"**No curve was built: {lines[0]}**", "", *details, "", fix])
        self.say(text, "danger")
        for box in (self._curve_box, self._hourly_box, self._errors_box):
            box.visible = False
        self._summary.object = ""
        self._report_title.object = "**The contradicting quotes** (the engine's report)"
        self._table.value = self.inconsistency
        self._table.visible = True

    def _show_result(self) -> None:
        result = self.result
        assert result is not None
        build, unit, tz = result.build, result.unit, self.display_tz()
        points = service.build_points(build)
        contracts = service.build_contracts(build)
        self.report = contracts
        hourly = build.granularity == "hourly"
        blocks = service.block_averages(points, build.calendar) if hourly else None
        sources = figures.curve_sources(points, contracts, blocks=blocks, tz=tz)
        state = f"saved as version {result.stored.version}" if result.stored is not None else "not saved"
        curve_fig = figures.curve_figure(
            sources, unit=unit, tz=tz, label="built curve",
            title=f"{result.curve_name}: {build.granularity} curve as of {result.trade_date} ({state})",
        )  # fmt: skip
        self.show_figure(self._curve_pane, curve_fig)
        self._curve_box.visible = True
        self._hourly_box.visible = hourly
        if hourly:
            self.show_figure(self._hourly_pane, figures.hourly_figure(points, unit=unit, tz=tz))
        self.show_figure(self._errors_pane, figures.repricing_figure(contracts, unit=unit))
        self._errors_box.visible = True
        ok = int((contracts["status"] == "ok").sum())
        at, seconds = self._built
        self._report_title.object = (
            f"**Per-contract report**: {ok} of {len(contracts)} contracts reprice within 1e-8 {unit} "
            f"(built {at:%H:%M:%S} UTC in {seconds:.2f} s)"
        )
        quoted = [c for c in _REPORT_COLUMNS if c not in ("bid", "ask") or contracts[c].notna().any()]
        shown = contracts[quoted].assign(
            error=contracts["error"].map("{:.2e}".format),
            residual_vs_quote=contracts["residual_vs_quote"].map("{:.2e}".format),
        )
        self._table.value = shown.rename(
            columns={c: f"{c} [{unit}]" for c in ("price", "bid", "ask", "target", "repriced", "error",
                                                   "residual_vs_quote")}
        )  # fmt: skip
        self._table.visible = True
        adjusted = len(build.inconsistencies)
        self._summary.object = "\n".join([
            f"**{result.curve_name}** from {result.origin}: {len(contracts)} contracts, delivery "
            f"{result.start} .. {result.end}, calendar {build.calendar.name} ({build.calendar.tz}), "
            f"prices in {unit}, as of {result.as_of_utc:%Y-%m-%d %H:%M} UTC.",
            "",
            f"Method {build.method}, solver {build.solver}; largest repricing error "
            f"{build.max_reprice_error:.2e} {unit}; inputs sha256 `{build.input_sha256[:16]}…`; built in "
            f"{build.timings_ms.get('total', float('nan')):.0f} ms."
            + (f" **{adjusted} contradicting quote(s) reconciled by least squares.**" if adjusted else ""),
        ])  # fmt: skip

    @param.depends("tz", watch=True)
    def _tz_changed(self) -> None:
        if self.result is not None:
            with self.guard("redrawing in the chosen zone"):
                self._show_result()

    # -- saving -------------------------------------------------------------------------------------------
    def save(self) -> service.CurveResult | None:
        """Save the shown build as a new version with its lineage, as the logged-in user."""
        if self.result is None:
            self.say("Build a curve first; then save it.", "info")
            return None
        user = pn.state.user
        saved: service.CurveResult | None = None
        self._save_note.object = ""
        with self.guard("saving the curve"):
            if self.writer is not None:
                writer = self.writer
            elif user:
                writer = service.user_store_client(str(user))
            else:  # developer mode (serve --no-auth): the page's own client
                writer = self.client
            saved = service.save_curve(self.result, writer, built_by=str(user or "curve builder (no login)"))
            self.result = saved
            self._show_result()  # the title says which version it now is
            stored = saved.stored
            assert stored is not None
            self._save_button.disabled = True
            self.say(
                f"Saved **{saved.curve_name}** version {stored.version} as of "
                f"{saved.as_of_utc:%Y-%m-%d %H:%M} UTC ({stored.rows:,} rows, run `{stored.run_id}`). "
                "It is listed on the Forward curves page.",
                "info",
            )
        self._save_note.object = (
            f"Saved as version {saved.stored.version}." if saved is not None and saved.stored is not None
            else "**Not saved.** " + self.message.replace("**Failed saving the curve.** ", "")
        )  # fmt: skip
        return saved

    # -- downloads ----------------------------------------------------------------------------------------
    def view_frame(self) -> pd.DataFrame:
        """Return the built curve's points (or nothing before a build)."""
        if self.result is None:
            return pd.DataFrame(columns=["delivery_start_utc", "delivery_end_utc", "value"])
        frame = service.build_points(self.result.build)
        frame["unit"] = self.result.unit
        return frame

    def report_frame(self) -> pd.DataFrame:
        """Return the per-contract report (or the contradiction report of a failed build)."""
        return self.inconsistency if self.result is None else self.report

    # -- layout -------------------------------------------------------------------------------------------
    def controls(self) -> list[Any]:
        """Return the quotes' source and the build options, then Build and Save."""
        return [
            pn.widgets.RadioButtonGroup.from_param(self.param.source, label="Quotes from", width=250),
            pn.widgets.Select.from_param(self.param.product, label="Product", width=250),
            pn.widgets.Select.from_param(self.param.trade_date, label="Trade date (as of)", width=250),
            self._file,
            self._file_date,
            pn.widgets.Select.from_param(self.param.calendar, label="Calendar", width=250),
            pn.widgets.Select.from_param(self.param.granularity, label="Granularity", width=250),
            pn.widgets.Select.from_param(
                self.param.weights, label="Weights (gas: days, power: hours)", width=250
            ),
            pn.widgets.Select.from_param(self.param.quotes, label="Fit", width=250),
            pn.widgets.Select.from_param(self.param.on_inconsistent, label="Inconsistent quotes", width=250),
            pn.widgets.FloatInput.from_param(self.param.tolerance, label="Tolerance [price]", width=250),
            pn.widgets.DatePicker.from_param(
                self.param.start, label="First delivery day (optional)", width=250
            ),
            pn.widgets.DatePicker.from_param(self.param.end, label="Last delivery day (optional)", width=250),
            pn.widgets.TextInput.from_param(self.param.curve_name, label="Curve name", width=250),
            self._build_button,
            self._save_button,
            self._save_note,
        ]

    def main(self) -> list[Any]:
        """Return the build summary, the curve, the report and its errors, the downloads."""
        return [
            self._summary,
            self._curve_box,
            self._hourly_box,
            self._report_title,
            self._table,
            self._errors_box,
            self.downloads("built_curve", self.view_frame, "the curve", table="curves"),
            self.downloads("curve_report", self.report_frame, "the report", table="curves"),
        ]
