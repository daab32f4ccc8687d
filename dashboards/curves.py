# mypy: disable-error-code="no-untyped-call, var-annotated"
"""Forward curves: one stored version of a curve, its quoted contracts, earlier versions and its lineage.

:class:`Curves` lists the stored curves (:func:`marketintel.services.curves.stored_curves`), reads the
chosen version with its contracts and lineage (:func:`~marketintel.services.curves.curve_version`) and
draws it with the figure builders of :mod:`marketintel.figures.curves`: the curve (for an hourly power
curve its daily base, peak and off-peak averages, and the hourly shape below), the quoted contracts over
their delivery periods, each contract's repricing error, and any earlier versions chosen as overlays (how
the curve moved from one as-of to the next). The lineage says what made the version: inputs hash,
method, solver, code version and the flow run, linked to the Prefect UI.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from marketintel.dashboards.page import PageView
from marketintel.figures import curves as figures
from marketintel.figures.common import display_times
from marketintel.services import curves as service

__all__ = ["Curves", "build_label"]

#: how to fill the page when no curve is stored
FILL = (
    "mi flows run build_curves --set product=NG --set as_of=2014-12-29 --set calendar=HENRY_HUB "
    "--set weights=days --set curve_name=HENRY_HUB_DAILY"
)
_CONTRACT_COLUMNS = ["contract", "profile", "start", "end", "target", "repriced", "error", "status"]


def build_label(as_of_utc: Any, version: int) -> str:
    """Return how a build is named in the page: ``2014-12-30 06:00 UTC v2``."""
    return f"{pd.Timestamp(as_of_utc):%Y-%m-%d %H:%M} UTC v{int(version)}"


class Curves(PageView):
    """One stored version of a forward curve, its contracts, earlier versions and lineage.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store. Default: the service's read-only client on ``MI_CLICKHOUSE_URL``.
    database : str, optional
        Database of the tables. Default: the client's.
    **params
        Initial values of the parameters below (``curve``, ``as_of``, ``version``, ``overlays``, ``tz``).
    """

    title = "Forward curves"
    intro = (
        "A stored forward curve as of a date: the quoted contracts over their delivery periods, how "
        "closely the curve reprices each, earlier versions for comparison, and what built it."
    )

    curve = param.Selector(objects=[], doc="The curve (curves.curve_name), e.g. HENRY_HUB_DAILY.")
    as_of = param.Selector(objects=[], doc="Information cutoff of the version shown [UTC].")
    version = param.Selector(objects=[], doc="Build number at that cutoff (the latest by default).")
    overlays = param.ListSelector(default=[], objects=[], doc="Other builds drawn under the shown one.")

    def __init__(self, client: Any = None, database: str | None = None, **params: Any) -> None:
        super().__init__(client, database, **{k: v for k, v in params.items() if k == "tz"})
        self.catalogue = pd.DataFrame()
        self.builds = pd.DataFrame()
        self.shown: service.CurveVersion | None = None
        self.blocks: pd.DataFrame | None = None
        self.overlay_points: dict[str, pd.DataFrame] = {}
        self._busy_loading = False
        self._pending: list[str] = []
        self._curve_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=440)
        self._hourly_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=310)
        self._errors_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=310)
        # a Bokeh pane hands its visibility to the figure it shows: boxes around them are shown or hidden
        self._curve_box, self._hourly_box, self._errors_box = (
            pn.Column(pane, visible=False, sizing_mode="stretch_width")
            for pane in (self._curve_pane, self._hourly_pane, self._errors_pane)
        )
        self._lineage = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["mi-lineage"])
        self._table = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, pagination="remote", page_size=12,
            sizing_mode="stretch_width", layout="fit_data_fill", visible=False,
        )  # fmt: skip
        self._busy_loading = True
        try:
            self._discover()  # the curves, and the default one (chosen silently)
            self._choose("curve", params.get("curve"))
            self._curve_changed()  # its builds, and the latest as-of and version
            if self._choose("as_of", params.get("as_of")):
                self._as_of_changed()
            self._choose("version", params.get("version"))
            if "overlays" in params:
                self.overlays = [o for o in params["overlays"] if o in self.param.overlays.objects]
        finally:
            self._busy_loading = False
        self._load()
        if self._pending and not self.message:
            self.say(" ".join(self._pending))

    # -- zone ---------------------------------------------------------------------------------------------
    def market_tz(self) -> str:
        """Return the shown curve's market zone (its calendar's), UTC before one is read."""
        return self.shown.calendar.tz if self.shown is not None else "UTC"

    # -- choices ------------------------------------------------------------------------------------------
    def _choose(self, name: str, value: Any) -> bool:
        """Set parameter ``name`` to an asked value the store has (silently); else note it. Return if set."""
        if value is None:
            return False
        known = [str(v) for v in self.param[name].objects]
        if str(value) not in known:
            self._pending.append(f"**Unknown {name} {value!r}.** Stored: {', '.join(known) or 'none'}.")
            return False
        with param.parameterized.discard_events(self):
            setattr(self, name, str(value))
        return True

    def _discover(self) -> None:
        with self.guard("listing the stored curves"):
            self.catalogue = service.stored_curves(self.client, database=self.database)
            names = self.catalogue["curve_name"].astype(str).tolist()
            self.param.curve.objects = names
            if not names:
                self.empty("forward curve", FILL)
                return
            if self.curve not in names:
                preferred = [n for n in names if n.startswith("HENRY_HUB")]
                with param.parameterized.discard_events(self):
                    self.curve = (preferred or names)[0]

    @param.depends("curve", watch=True)
    def _curve_changed(self) -> None:
        if not self.curve:
            return
        with self.guard(f"listing the builds of {self.curve}"):
            self.builds = service.curve_builds(self.client, self.curve, database=self.database)
            cutoffs = pd.DatetimeIndex(self.builds["as_of_utc"]).unique()
            labels = [f"{t:%Y-%m-%d %H:%M} UTC" for t in cutoffs]
            self.param.as_of.objects = labels
            self.param.overlays.objects = [
                build_label(t, int(v))
                for t, v in zip(self.builds["as_of_utc"], self.builds["version"], strict=True)
            ]
            held, self._busy_loading = self._busy_loading, True  # no redraw of the old curve meanwhile
            try:
                self.overlays = []
            finally:
                self._busy_loading = held
            with param.parameterized.discard_events(self):
                self.as_of = labels[0] if labels else None
            self._as_of_changed()

    @param.depends("as_of", watch=True)
    def _as_of_changed(self) -> None:
        rows = self._builds_at(self.as_of)
        versions = [str(int(v)) for v in rows["version"]] if len(rows) else []
        self.param.version.objects = versions
        with param.parameterized.discard_events(self):
            self.version = versions[0] if versions else None
        self._version_changed()

    @param.depends("version", watch=True)
    def _version_changed(self) -> None:
        self._load()

    def _builds_at(self, label: str | None) -> pd.DataFrame:
        if label is None or self.builds.empty:
            return self.builds.iloc[0:0]
        cutoff = pd.Timestamp(label.removesuffix(" UTC"), tz="UTC")
        return self.builds[pd.DatetimeIndex(self.builds["as_of_utc"]) == cutoff]

    # -- reading ------------------------------------------------------------------------------------------
    def _load(self) -> None:
        """Read the chosen version (and the overlays), then draw."""
        if self._busy_loading or not self.curve or self.as_of is None or self.version is None:
            return
        self.clear()
        with self.guard(f"reading {self.curve} as of {self.as_of} v{self.version}"):
            cutoff = pd.Timestamp(self.as_of.removesuffix(" UTC"), tz="UTC")
            self.shown = service.curve_version(
                self.client, self.curve, cutoff, int(self.version), builds=self.builds, database=self.database
            )
            hourly = self.shown.granularity == "hourly"
            self.blocks = service.block_averages(self.shown.points, self.shown.calendar) if hourly else None
            self.overlay_points = {}
            self._read_overlays()
            self._draw(rebuild=True)
            self._show_lineage()

    @param.depends("overlays", watch=True)
    def _overlays_changed(self) -> None:
        if self._busy_loading or self.shown is None:
            return
        with self.guard("reading the overlaid versions"):
            self._read_overlays()
            self._draw()

    def _read_overlays(self) -> None:
        shown = build_label(self.shown.as_of_utc, self.shown.version) if self.shown else ""
        wanted = [o for o in self.overlays if o != shown]
        for label in list(self.overlay_points):
            if label not in wanted:
                del self.overlay_points[label]
        for label in wanted:
            if label in self.overlay_points:
                continue
            stamp, _, number = label.rpartition(" v")
            other = service.curve_version(
                self.client, self.curve, pd.Timestamp(stamp.removesuffix(" UTC"), tz="UTC"), int(number),
                builds=self.builds, database=self.database,
            )  # fmt: skip
            if self.blocks is not None:  # an hourly curve is compared by its daily base
                blocks = service.block_averages(other.points, other.calendar)
                self.overlay_points[label] = pd.DataFrame({
                    "delivery_start_utc": blocks["start_utc"],
                    "delivery_end_utc": pd.DatetimeIndex(blocks["start_utc"]) + pd.Timedelta(days=1),
                    "value": blocks["base"],
                })  # fmt: skip
            else:
                self.overlay_points[label] = other.points

    # -- drawing ------------------------------------------------------------------------------------------
    @param.depends("tz", watch=True)
    def _tz_changed(self) -> None:
        if self.shown is not None:
            with self.guard("redrawing in the chosen zone"):
                self._draw()

    def sources(self) -> dict[str, dict[str, Any]]:
        """Return the data the curve figure draws now (:func:`marketintel.figures.curves.curve_sources`)."""
        assert self.shown is not None
        return figures.curve_sources(
            self.shown.points, self.shown.contracts, overlays=self.overlay_points, blocks=self.blocks,
            tz=self.display_tz(),
        )  # fmt: skip

    def _title(self) -> str:
        assert self.shown is not None
        shown, cal = self.shown, self.shown.calendar
        return f"{shown.curve_name}: {shown.granularity} curve {shown.label} ({cal.name}, {cal.tz})"

    def _draw(self, rebuild: bool = False) -> None:
        shown = self.shown
        if shown is None:
            return
        tz, sources = self.display_tz(), self.sources()
        fig = self._curve_pane.object
        if rebuild or fig is None or not figures.update_curve_figure(fig, sources, tz):
            fig = figures.curve_figure(sources, unit=shown.unit, tz=tz, title=self._title(),
                                       label=build_label(shown.as_of_utc, shown.version))  # fmt: skip
            self._curve_pane.object = fig
        else:
            fig.title.text = self._title()
        self._curve_box.visible = True
        hourly = self.blocks is not None
        self._hourly_box.visible = hourly
        if hourly:
            hourly_fig = figures.hourly_figure(
                shown.points, unit=shown.unit, tz=tz, title=f"{shown.curve_name}: hourly prices (shape)"
            )
            self.show_figure(self._hourly_pane, hourly_fig)
        if rebuild or self._errors_pane.object is None:
            self._errors_pane.object = figures.repricing_figure(
                shown.contracts,
                unit=shown.unit,
                title=f"repricing error per contract ({len(shown.contracts)})",
            )
        self._errors_box.visible = len(shown.contracts) > 0
        table = shown.contracts[_CONTRACT_COLUMNS].assign(error=shown.contracts["error"].map("{:.2e}".format))
        table = table.rename(columns={c: f"{c} [{shown.unit}]" for c in ("target", "repriced", "error")})
        self._table.value = table
        self._table.visible = True

    def _show_lineage(self) -> None:
        shown = self.shown
        if shown is None:
            return
        line = shown.lineage
        run_id = str(line["run_id"])
        link = None if line["built_by"] else service.flow_run_link(run_id)
        if link is None:
            origin = (
                f"saved from the curve builder by {line['built_by']}"
                if line["built_by"]
                else "not a flow run"
            )
            run = f"`{run_id}` ({origin})"
        else:
            state = f", {link.state}" if link.state else ""
            name = f" {link.name}" if link.name else ""
            run = f"[{run_id}]({link.url}){name}{state} (open in the Prefect UI)"
        error = float("nan") if line["max_reprice_error"] is None else float(line["max_reprice_error"])
        self._lineage.object = "\n".join([
            f"**Lineage of the version shown** ({shown.curve_name} {shown.label})",
            "",
            "| what | value |",
            "|---|---|",
            f"| flow run | {run} |",
            f"| method | {line['method']} |",
            f"| solver | {line['solver']} |",
            f"| inputs sha256 | `{line['input_sha256']}` ({int(line['input_quotes'])} quotes) |",
            f"| largest repricing error | {error:.2e} {shown.unit} |",
            f"| code version | {line['code_version']} |",
            f"| built | {pd.Timestamp(line['finished_at_utc']):%Y-%m-%d %H:%M:%S} UTC |",
        ])  # fmt: skip

    # -- downloads ----------------------------------------------------------------------------------------
    def view_frame(self) -> pd.DataFrame:
        """Return the shown version as a table: delivery in UTC and in the display zone, value, unit."""
        if self.shown is None:
            return pd.DataFrame(columns=["delivery_start_utc", "delivery_end_utc", "value"])
        points = self.shown.points
        tz = self.display_tz()
        local = display_times(points["delivery_start_utc"], tz)
        frame = pd.DataFrame({
            "curve_name": self.shown.curve_name,
            "as_of_utc": self.shown.as_of_utc,
            "version": self.shown.version,
            "delivery_start_utc": points["delivery_start_utc"],
            "delivery_end_utc": points["delivery_end_utc"],
            f"delivery_start [{tz}]": local.strftime("%Y-%m-%d %H:%M"),
            "value": points["value"],
            "unit": self.shown.unit,
        })  # fmt: skip
        return frame

    def contracts_frame(self) -> pd.DataFrame:
        """Return the shown version's contracts and their repricing."""
        return pd.DataFrame() if self.shown is None else self.shown.contracts.copy()

    # -- layout -------------------------------------------------------------------------------------------
    def controls(self) -> list[Any]:
        """Curve, as-of, version and overlays."""
        return [
            pn.widgets.Select.from_param(self.param.curve, label="Curve (product)", width=250),
            pn.widgets.Select.from_param(self.param.as_of, label="As of (cutoff)", width=250),
            pn.widgets.Select.from_param(self.param.version, label="Version", width=250),
            pn.widgets.MultiChoice.from_param(self.param.overlays, label="Overlay other builds", width=250),
        ]

    def main(self) -> list[Any]:
        """Return the curve, the hourly shape, the lineage, the contracts, their errors, the downloads."""
        return [
            self._curve_box,
            self._hourly_box,
            self._lineage,
            pn.pane.Markdown("#### Quoted contracts and their repricing", margin=(0, 10)),
            self._table,
            self._errors_box,
            self.downloads(f"curve_{self.curve or 'none'}", self.view_frame, "the curve", table="curves"),
            self.downloads(
                f"contracts_{self.curve or 'none'}", self.contracts_frame, "the contracts", table="curves"
            ),
        ]
