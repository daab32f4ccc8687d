# Panel's constructors and param's Selector parameters are untyped: calls and class parameters of them
# mypy: disable-error-code="no-untyped-call, var-annotated"
"""The market explorer: prices and fundamentals of one market and location, as of any time, live.

:class:`Explorer` holds its state in ``param`` parameters (market, location, window, resolution,
knowledge time, live toggle, fundamentals); its widgets are made from them and every change reads the
store again through :mod:`marketintel.services.queries`. A selection with no data or a bad parameter
shows a message in the page, not a traceback.

"Download this view" (CSV, Parquet) exports the prices and the fundamentals of the selection: behind the
hub as an export job of the download center, run as the user and downloaded from the ``exports`` page
(:func:`marketintel.dashboards.page.download_buttons`); a user without the export right sees a note.

With **live** on, the page shows everything published from the window's start on (the end and the
as-of are set aside) and subscribes to the shared poller of :mod:`marketintel.dashboards.tail`; new rows
are appended to the plot and the table without a reload.

The plots are Bokeh figures on data sources that live as long as the page: a change of selection replaces
the sources' data (a small patch to the browser, no new figure), which keeps an interaction to a few tens of
milliseconds on the server (``benchmarks/hub.py`` measures it in the browser).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.models.annotations import Title
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from panel.viewable import Viewer

from marketintel.dashboards import tail
from marketintel.dashboards.data import user_client
from marketintel.dashboards.page import ExportView, download_buttons
from marketintel.exceptions import EmptyResultError, MarketIntelError
from marketintel.services import queries
from marketintel.services.access import export_rights
from marketintel.services.queries import QueryLimitError, QueryParameterError

__all__ = ["Explorer"]

#: default length of the window, ending with the last stored interval [days]
DEFAULT_DAYS = 7
#: rows a page reads at most for one series [rows]
MAX_ROWS = 200_000
#: fundamentals variables plotted by default [variables]
DEFAULT_VARIABLES = 4
#: end of the window while live: far enough for day-ahead intervals of the coming days [days]
LIVE_HORIZON_DAYS = 400
RESOLUTION_LABELS = {"native (as stored)": "native", "hourly": "hourly", "daily": "daily"}
START = "interval_start_utc"
_PRICE_COLUMNS = {
    "native": ["interval_start_utc", "interval_end_utc", "price", "unit", "revision", "published_at_utc"],
    "bucketed": ["interval_start_utc", "interval_end_utc", "price_avg", "price_min", "price_max",
                 "n_intervals",
                 "unit"],
}  # fmt: skip


def _naive_utc(value: Any) -> pd.Timestamp | None:
    """Return an instant as a naive UTC timestamp (what the date pickers and Bokeh show), None as None."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def _utc(value: Any) -> pd.Timestamp | None:
    """Return a picker's value (naive, meaning UTC) as an aware UTC timestamp."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` for a table: UTC stamps shown without zone (the column names say UTC)."""
    out = df.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert("UTC").dt.tz_localize(None)
        elif isinstance(out[column].dtype, pd.StringDtype):
            out[column] = out[column].astype(object)
    return out


def plot_frame(prices: pd.DataFrame) -> pd.DataFrame:
    """Return the columns the price plot draws from a :func:`~queries.price_series` frame.

    Returns
    -------
    pd.DataFrame
        ``time`` (interval start, naive UTC), ``price`` (the price, or the bucket's time-weighted mean),
        ``low`` and ``high`` (the bucket's range; equal to ``price`` for stored intervals)  [see unit].
        Drawn as steps from each interval's start, so a last row repeats the last interval's values at its
        end: the last interval shows as wide as the others.
    """
    price = prices["price"] if "price" in prices else prices["price_avg"]
    frame = pd.DataFrame(
        {
            "time": pd.DatetimeIndex(prices[START]).tz_convert("UTC").tz_localize(None),
            "price": price.astype(float).to_numpy(),
            "low": prices.get("price_min", price).astype(float).to_numpy(),
            "high": prices.get("price_max", price).astype(float).to_numpy(),
        }
    )
    if frame.empty or "interval_end_utc" not in prices:
        return frame
    last = frame.iloc[[-1]].copy()
    last["time"] = pd.DatetimeIndex(prices["interval_end_utc"].iloc[[-1]]).tz_convert("UTC").tz_localize(None)
    return pd.concat([frame, last], ignore_index=True)


_EMPTY_PLOT = pd.DataFrame(
    {
        "time": pd.Series([], dtype="datetime64[ms]"),
        **{c: pd.Series([], dtype=float) for c in ("price", "low", "high")},
    }
)


def _source_data(frame: pd.DataFrame) -> dict[str, Any]:
    """Return a :func:`plot_frame` as a Bokeh data source's columns (times as naive UTC datetime64)."""
    # copies: pandas may hand out read-only views, and live updates patch these arrays in place
    return {
        "time": frame["time"].to_numpy(dtype="datetime64[ms]", copy=True),
        "price": frame["price"].to_numpy(dtype=float, copy=True),
        "low": frame["low"].to_numpy(dtype=float, copy=True),
        "high": frame["high"].to_numpy(dtype=float, copy=True),
    }


#: the market a visitor lands on when the store has it (the sample of `mi sample`, with its fundamentals);
#: a link picks another (``explorer?market=NEM_DISPATCH_5MIN&location=NSW1``)
DEFAULT_MARKET = "NORDPOOL_DA"


def _url_choice() -> dict[str, str]:
    """Return the market and location asked for in the page's URL (``?market=...&location=...``)."""
    args = getattr(pn.state, "session_args", None) or {}
    out = {}
    for name in ("market", "location"):
        values = args.get(name) or []
        if values:
            raw = values[0]
            out[name] = raw.decode() if isinstance(raw, bytes) else str(raw)
    return out


class Explorer(Viewer):
    """Prices and fundamentals of one market and location over a window, as known at ``as_of``.

    Parameters
    ----------
    client : clickhouse_connect.driver.client.Client, optional
        The store. Default: the service's read-only client on ``MI_CLICKHOUSE_URL``.
    database : str, optional
        Database of the tables. Default: the client's.
    **params
        Initial values of the parameters below.
    """

    market = param.Selector(objects=[], doc="Price market (prices.market), e.g. NORDPOOL_DA.")
    location = param.Selector(objects=[], doc="Location of the market (prices.location).")
    start = param.Date(default=None, doc="Window start [UTC], inclusive.")
    end = param.Date(default=None, doc="Window end [UTC], exclusive.")
    resolution = param.Selector(
        objects=RESOLUTION_LABELS, default="native", doc="Stored intervals, or hourly / daily buckets (UTC)."
    )
    as_of = param.Date(default=None, allow_None=True, doc="Knowledge time [UTC]; empty means now.")
    live = param.Boolean(default=False, doc="Append new rows as they are stored (from the start on).")
    area = param.Selector(objects=[], doc="Fundamentals market and area, 'MARKET / AREA'.")
    variables = param.ListSelector(default=[], objects=[], doc="Fundamentals variables to plot.")
    message = param.String(default="", doc="What the page could not show, and why.")

    def __init__(self, client: Any = None, database: str | None = None, **params: Any) -> None:
        for name, value in _url_choice().items():  # a link such as explorer?market=NEM_DISPATCH_5MIN
            params.setdefault(name, value)
        self._client = client if client is not None else user_client()
        self._database = database
        self._series = pd.DataFrame(columns=["market", "location", "interval_start_utc"])
        self._fundamental_series = pd.DataFrame(columns=["market", "area", "variable", "unit"])
        self._subscription: tail.Subscription | None = None
        self._exports: bool | frozenset[str] | None = None
        self._loading = False
        self._pending: list[str] = []
        self.prices = pd.DataFrame()
        self.fundamentals = pd.DataFrame()
        # the price plot is a Bokeh figure on one data source for the page's life: a selection change or a
        # live row replaces the source's data (a few ms on the server, a small patch to the browser)
        self._price_source = ColumnDataSource(data=_source_data(_EMPTY_PLOT))
        self._price_figure = self._make_price_figure()
        # the figure joins the page with its first rows: an empty datetime figure, even hidden, hung the
        # browser (Chromium 150, Bokeh 3.9) of a user who may read no prices (the pilot of a demo without SPP)
        self._price_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=340, visible=False)
        # fundamentals: one line per variable, each on its own source; the figure is made anew only when
        # the set of variables changes, otherwise the sources get the new data
        self._fundamentals_sources: dict[str, ColumnDataSource] = {}
        self._fundamentals_key: tuple[str, ...] = ()
        self._fundamentals_pane = pn.pane.Bokeh(None, sizing_mode="stretch_width", height=260, visible=False)
        self._table = pn.widgets.Tabulator(
            pd.DataFrame(), pagination="remote", page_size=15, disabled=True, show_index=False,
            sizing_mode="stretch_width", height=460, layout="fit_data_fill",
        )  # fmt: skip
        self._alert = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self._status = pn.pane.Markdown("", sizing_mode="stretch_width", margin=(0, 10))
        super().__init__(**{k: v for k, v in params.items() if k not in ("market", "location")})
        self._loading = True
        try:
            self._discover()
            self._choose("market", params.get("market"))
            self._market_changed()
            self._choose("location", params.get("location"))
            self._location_changed()
        finally:
            self._loading = False
        self._reload()
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(self._session_destroyed)

    # -- choices from the store -------------------------------------------------------------------------
    def _choose(self, name: str, value: Any) -> None:
        """Set ``market`` or ``location`` to an asked value the store has; else say so, keep the default."""
        if value is None:
            return
        known = [str(v) for v in self.param[name].objects]
        if value in known:
            setattr(self, name, value)
        else:
            self._pending.append(
                f"**Unknown {name} {value!r}.** The store has prices of: {', '.join(known)}."
            )

    def _discover(self) -> None:
        """Read which price series exist (markets, locations and their last interval)."""
        try:
            latest = queries.latest_prices(self._client, database=self._database)
        except MarketIntelError as exc:
            self.message = f"The store did not answer: {exc}"
            return
        self._series = latest
        markets = sorted(latest["market"].astype(str).unique())
        self.param.market.objects = markets
        if markets and self.market not in markets:
            self.market = DEFAULT_MARKET if DEFAULT_MARKET in markets else markets[0]
        if not markets:
            self.message = "The store holds no prices yet: load some (`mi sample` or an ingestion flow)."

    @param.depends("market", watch=True)
    def _market_changed(self) -> None:
        rows = self._series[self._series["market"] == self.market]
        locations = sorted(rows["location"].astype(str).unique())
        self.param.location.objects = locations
        if locations and self.location not in locations:
            with param.parameterized.discard_events(self):
                self.location = locations[0]
            self._location_changed()

    @param.depends("location", watch=True)
    def _location_changed(self) -> None:
        """Put the window on the last :data:`DEFAULT_DAYS` days of the series, then pick fundamentals."""
        rows = self._series[
            (self._series["market"] == self.market) & (self._series["location"] == self.location)
        ]
        if rows.empty:
            return
        last = _naive_utc(rows["interval_end_utc"].max())
        assert last is not None
        end = last.ceil("D")
        with param.parameterized.discard_events(self):
            self.param.update(
                end=end.to_pydatetime(), start=(end - pd.Timedelta(days=DEFAULT_DAYS)).to_pydatetime()
            )
        self._discover_fundamentals()
        if not self._loading:
            self._reload()

    def _discover_fundamentals(self) -> None:
        """List the fundamentals stored in the window; prefer the area of the price market and location."""
        if self.start is None or self.end is None or self.start >= self.end:
            return
        try:
            found = queries.stored_series(
                self._client, "fundamentals", _utc(self.start), _utc(self.end), database=self._database
            )
        except MarketIntelError:
            found = self._fundamental_series.iloc[:0]
        self._fundamental_series = found
        areas = sorted(f"{m} / {a}" for m, a in {(str(r.market), str(r.area)) for r in found.itertuples()})
        with param.parameterized.discard_events(self):
            self.param.area.objects = areas
            if self.area not in areas:
                self.area = self._default_area(areas)
        self._area_changed()

    def _default_area(self, areas: list[str]) -> str | None:
        market, location = str(self.market or ""), str(self.location or "")

        def score(choice: str) -> tuple[int, int]:
            m, a = choice.split(" / ", 1)
            same_market = m == market or market.startswith(f"{m}_")
            return (int(same_market), int(a == location))

        return max(areas, key=score) if areas else None

    @param.depends("area", watch=True)
    def _area_changed(self) -> None:
        chosen = self._split_area()
        found = self._fundamental_series
        names: list[str] = []
        if chosen is not None and not found.empty:
            mine = found[(found["market"] == chosen[0]) & (found["area"] == chosen[1])]
            names = sorted(mine["variable"].astype(str).unique())
        with param.parameterized.discard_events(self):
            self.param.variables.objects = names
            self.variables = [v for v in self.variables if v in names] or names[:DEFAULT_VARIABLES]
        if not self._loading:
            self._reload()

    def _split_area(self) -> tuple[str, str] | None:
        if not self.area:
            return None
        market, area = str(self.area).split(" / ", 1)
        return market, area

    # -- reads -------------------------------------------------------------------------------------------
    @param.depends("start", "end", "resolution", "as_of", "live", "variables", watch=True)
    def _reload(self) -> None:
        """Read the selection from the store and redraw; subscribe to the live tail when asked."""
        if self._loading:
            return
        self._close_tail()
        problems, self._pending = self._pending, []
        self.prices = self._read_prices(problems)
        self.fundamentals = self._read_fundamentals(problems)
        self.message = "\n\n".join(problems)
        self._draw()
        if self.live and not self.prices.empty:
            self._open_tail()

    def _window(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None, pd.Timestamp | None]:
        """Return (start, end, as_of) as read: while live, the end is open and as-of is now."""
        start, end, as_of = _utc(self.start), _utc(self.end), _utc(self.as_of)
        if self.live:
            now = pd.Timestamp.now(tz="UTC")
            end, as_of = max(end or now, now) + pd.Timedelta(days=LIVE_HORIZON_DAYS), None
        return start, end, as_of

    def _read_prices(self, problems: list[str]) -> pd.DataFrame:
        if not self.market or not self.location:
            return pd.DataFrame()
        start, end, as_of = self._window()
        try:
            return queries.price_series(
                self._client, str(self.market), str(self.location), start, end,
                resolution=self.resolution, as_of=as_of, database=self._database, limit=MAX_ROWS,
            )  # fmt: skip
        except EmptyResultError as exc:
            problems.append(f"**No prices for this selection.** {exc}")
        except QueryParameterError as exc:
            problems.append(f"**Check the selection.** {exc}")
        except QueryLimitError as exc:
            problems.append(f"**Too many rows to show.** {exc}")
        except MarketIntelError as exc:
            problems.append(f"**The store could not answer.** {exc}")
        return pd.DataFrame()

    def _read_fundamentals(self, problems: list[str]) -> pd.DataFrame:
        chosen = self._split_area()
        if chosen is None or not self.variables:
            return pd.DataFrame()
        start, end, as_of = self._window()
        try:
            return queries.fundamentals(
                self._client, chosen[0], chosen[1], list(self.variables), start, end,
                resolution=self.resolution, aggregates=None if self.resolution == "native" else ["avg"],
                as_of=as_of, database=self._database, limit=MAX_ROWS,
            )  # fmt: skip
        except EmptyResultError as exc:
            problems.append(f"**No fundamentals for this selection.** {exc}")
        except (QueryParameterError, QueryLimitError, MarketIntelError) as exc:
            problems.append(f"**Fundamentals not shown.** {exc}")
        return pd.DataFrame()

    # -- drawing -----------------------------------------------------------------------------------------
    def _unit(self) -> str:
        units = sorted(self.prices["unit"].astype(str).unique()) if "unit" in self.prices else []
        return ", ".join(units) or "?"

    def _make_price_figure(self) -> Any:
        """Return the price figure: the interval's price as steps, the bucket's min-max range as a band."""
        fig = figure(
            title=Title(text="", text_font_size="13pt"), x_axis_type="datetime", height=320,
            sizing_mode="stretch_width", min_border_left=60,
            tools="pan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
            x_axis_label="Interval start [UTC]", y_axis_label="Price",
        )  # fmt: skip
        fig.varea_step(
            x="time", y1="low", y2="high", step_mode="after", source=self._price_source,
            fill_color="#9ec3ea", fill_alpha=0.45,
        )  # fmt: skip
        line = fig.step(
            x="time", y="price", mode="after", source=self._price_source, line_color="#1f5fa8",
            line_width=1.6,
        )  # fmt: skip
        fig.add_tools(
            HoverTool(
                renderers=[line], mode="vline",
                tooltips=[("start (UTC)", "@time{%F %H:%M}"), ("price", "@price{0,0.00}"),
                          ("min", "@low{0,0.00}"), ("max", "@high{0,0.00}")],
                formatters={"@time": "datetime"},
            )
        )  # fmt: skip
        fig.xgrid.grid_line_alpha = fig.ygrid.grid_line_alpha = 0.3
        return fig

    def _label_price_figure(self) -> None:
        self._price_figure.title.text = f"{self.market} {self.location}: price ({self._resolution_label()})"
        self._price_figure.yaxis.axis_label = f"Price [{self._unit()}]"

    def _resolution_label(self) -> str:
        return {"native": "stored intervals", "hourly": "hourly mean", "daily": "daily mean"}[self.resolution]

    def _draw(self) -> None:
        with pn.io.hold():
            self._price_pane.visible = not self.prices.empty
            if not self.prices.empty:
                self._label_price_figure()
                self._price_source.data = _source_data(plot_frame(self.prices))
                if self._price_pane.object is None:
                    self._price_pane.object = self._price_figure
            self._table.value = (
                display_frame(self._table_rows(self.prices)) if not self.prices.empty else pd.DataFrame()
            )
            self._draw_fundamentals()
            self._alert.object = self.message
            self._alert.visible = bool(self.message)
            self._status.object = self._status_text()

    def _draw_fundamentals(self) -> None:
        """Send the fundamentals to their plot; make the figure anew only when the set of series changes."""
        self._fundamentals_pane.visible = not self.fundamentals.empty
        if self.fundamentals.empty:
            return
        data = self._fundamentals_frame()
        parts = {str(name): part for name, part in data.groupby("variable", sort=True)}
        key = (str(self.area), *parts)
        if key != self._fundamentals_key:
            self._fundamentals_sources = {
                name: ColumnDataSource(data={"time": [], "value": []}) for name in parts
            }
            self._fundamentals_key = key
            self._fundamentals_pane.object = self._make_fundamentals_figure(list(parts))
        for name, part in parts.items():
            self._fundamentals_sources[name].data = {
                "time": part["time"].to_numpy(dtype="datetime64[ms]"),
                "value": part["value"].to_numpy(dtype=float),
            }
        figure_ = self._fundamentals_pane.object
        figure_.title.text = f"{self.area}: fundamentals ({self._resolution_label()})"

    def _table_rows(self, prices: pd.DataFrame) -> pd.DataFrame:
        columns = _PRICE_COLUMNS["native" if self.resolution == "native" else "bucketed"]
        return prices[[c for c in columns if c in prices]]

    def _fundamentals_frame(self) -> pd.DataFrame:
        df = self.fundamentals
        value = "value" if "value" in df else "value_avg"
        return pd.DataFrame(
            {
                "time": pd.DatetimeIndex(df[START]).tz_convert("UTC").tz_localize(None),
                "variable": [f"{v} [{u}]" for v, u in zip(df["variable"], df["unit"], strict=True)],
                "value": df[value].astype(float).to_numpy(),
            }
        )

    def _make_fundamentals_figure(self, names: list[str]) -> Any:
        """Return a figure with one line per series ``names`` ("variable [unit]"), legend on the right."""
        units = sorted({name.rsplit(" [", 1)[-1].rstrip("]") for name in names})
        fig = figure(
            title=Title(text="", text_font_size="13pt"), x_axis_type="datetime", height=250,
            sizing_mode="stretch_width", min_border_left=60,
            tools="pan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
            x_axis_label="Interval start [UTC]", y_axis_label=f"Value [{', '.join(units)}]",
        )  # fmt: skip
        lines: list[Any] = []
        for name, color in zip(names, Category10_10 * (len(names) // 10 + 1), strict=False):
            line = fig.line(x="time", y="value", source=self._fundamentals_sources[name], line_width=1.4,
                            line_color=color, legend_label=name)  # fmt: skip
            lines.append(line)
        fig.add_tools(
            HoverTool(renderers=lines, formatters={"@time": "datetime"},
                      tooltips=[("start (UTC)", "@time{%F %H:%M}"), ("value", "@value{0,0.0}")])
        )  # fmt: skip
        fig.add_layout(fig.legend[0], "right")
        fig.legend.click_policy = "hide"
        fig.xgrid.grid_line_alpha = fig.ygrid.grid_line_alpha = 0.3
        return fig

    def _status_text(self) -> str:
        if self.prices.empty:
            return ""
        first, last = self.prices[START].min(), self.prices[START].max()
        as_of = "now" if self.as_of is None or self.live else f"{_naive_utc(self.as_of)} UTC"
        live = " **live**: new rows are appended as they are stored." if self.live else ""
        return (
            f"{len(self.prices):,} rows from {_naive_utc(first)} to {_naive_utc(last)} UTC, "
            f"as known {as_of}.{live}"
        )

    # -- live tail ---------------------------------------------------------------------------------------
    def _open_tail(self) -> None:
        key = tail.TailKey(str(self.market), str(self.location), str(self.resolution))
        since = self.prices[START].max()
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:

            def deliver(event: tail.TailEvent) -> None:
                doc.add_next_tick_callback(partial(self._apply, event))  # thread-safe hand-over

        else:
            deliver = self._apply
        self._subscription = tail.subscribe(
            key, deliver, since, tail.fetch_prices(self._client) if self._database is None else self._fetch
        )

    def _fetch(self, key: tail.TailKey, since: pd.Timestamp) -> pd.DataFrame:
        """Poll of a tail in a named database (tests): as :func:`tail.fetch_prices`."""
        return queries.price_series(
            self._client, key.market, key.location, since, since + pd.Timedelta(days=tail.HORIZON_DAYS),
            resolution=key.resolution, limit=tail.BUFFER_ROWS,  # type: ignore[arg-type]
            allow_empty=True, database=self._database,
        )  # fmt: skip

    def _apply(self, event: tail.TailEvent) -> None:
        """Add a tail's rows to what the page shows (in the session's thread)."""
        if self._subscription is None or self._subscription.closed:
            return
        new = event.new[event.new[START] > self.prices[START].max()] if not self.prices.empty else event.new
        if not event.changed.empty:
            merged = self.prices.set_index(START)
            merged.update(event.changed.set_index(START)[[c for c in merged.columns if c in event.changed]])
            self.prices = merged.reset_index()[self.prices.columns]
        if not new.empty:
            self.prices = pd.concat([self.prices, new[self.prices.columns]], ignore_index=True)
        if event.changed.empty and new.empty:
            return
        with pn.io.hold():
            self._price_pane.visible = True
            if self._price_pane.object is None:
                self._price_pane.object = self._price_figure
            if not event.changed.empty:  # a revised row (rare): everything anew, else only the new rows
                self._label_price_figure()
                self._price_source.data = _source_data(plot_frame(self.prices))
                self._table.value = display_frame(self._table_rows(self.prices))
            else:  # only the new rows go to the browser
                self._stream_plot(_source_data(plot_frame(new)))
                self._table.stream(display_frame(self._table_rows(new)), follow=True)
            self._status.object = self._status_text()

    def _stream_plot(self, added: dict[str, Any]) -> None:
        """Send new plot points only: the old closing point of the steps becomes the first new row.

        The source ends with a closing point (the last interval's end, :func:`plot_frame`); ``added`` is a
        :func:`plot_frame` of the new rows with its own. The old closing point is patched into the first
        new row and the rest streamed, so the source equals :func:`plot_frame` of all rows, and the browser
        receives one patched row and the new ones, not the whole series.
        """
        source = self._price_source
        n = len(source.data["time"])
        if n == 0 or len(added["time"]) == 0:
            source.stream(added)
            return
        source.patch({k: [(n - 1, v[0])] for k, v in added.items()})
        source.stream({k: v[1:] for k, v in added.items()})

    def _close_tail(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def _session_destroyed(self, session_context: Any) -> None:
        self._close_tail()

    # -- downloads ---------------------------------------------------------------------------------------
    def may_export(self, table: str) -> bool:
        """Whether the page's user may export data of governed ``table`` (their entitlement's right)."""
        if self._exports is None:
            self._exports = export_rights(self._client, self._database)
        return self._exports is True or (not isinstance(self._exports, bool) and table in self._exports)

    def price_view(self) -> ExportView | None:
        """Return the prices shown as an export job takes them (None without a selection)."""
        if not self.market or not self.location:
            return None
        start, end, as_of = self._window()
        note = (
            "The file holds the stored intervals, not the buckets shown."
            if self.resolution != "native"
            else ""
        )
        return ExportView("prices", start, end, (str(self.market),), (str(self.location),), as_of, note)

    def fundamentals_view(self) -> ExportView | None:
        """Return the fundamentals' area as an export job takes it (every variable of the area)."""
        chosen = self._split_area()
        if chosen is None:
            return None
        start, end, as_of = self._window()
        note = "The file holds every variable of the area, as stored."
        return ExportView("fundamentals", start, end, (chosen[0],), (chosen[1],), as_of, note)

    def downloads(self) -> pn.Column:
        """Return "download this view": the prices' and the fundamentals' buttons."""
        common = {"may_export": self.may_export}
        return pn.Column(
            pn.pane.Markdown("### Download this view", margin=(10, 10, 0, 10)),
            download_buttons("prices", lambda: self._table_rows(self.prices), "prices", "prices",
                             export=self.price_view, **common),
            download_buttons("fundamentals", lambda: self.fundamentals, "fundamentals", "fundamentals",
                             export=self.fundamentals_view, **common),
            sizing_mode="stretch_width", css_classes=["mi-downloads"],
        )  # fmt: skip

    # -- page --------------------------------------------------------------------------------------------
    def controls(self) -> pn.Column:
        """Return the widgets of the parameters."""
        picker = partial(pn.widgets.DatetimePicker.from_param, enable_seconds=False, width=250)
        return pn.Column(
            pn.pane.Markdown("### Selection", margin=(0, 10)),
            pn.widgets.Select.from_param(self.param.market, label="Market", width=250),
            pn.widgets.Select.from_param(self.param.location, label="Location", width=250),
            pn.pane.Markdown("Resolution", margin=(5, 10, -10, 10)),
            pn.widgets.RadioButtonGroup.from_param(self.param.resolution, label="Resolution", width=250),
            picker(self.param.start, label="Start [UTC]"),
            picker(self.param.end, label="End [UTC] (exclusive)"),
            picker(self.param.as_of, label="As of [UTC] (empty: now)"),
            pn.widgets.Switch.from_param(
                self.param.live, label="Live", width=50, css_classes=["live-switch"]
            ),
            pn.pane.Markdown("Live: from the start on, as known now.", margin=(0, 10),
                             styles={"color": "#555", "font-size": "0.85em"}),
            pn.pane.Markdown("### Fundamentals", margin=(10, 10, 0, 10)),
            pn.widgets.Select.from_param(self.param.area, label="Market / area", width=250),
            pn.widgets.MultiChoice.from_param(self.param.variables, label="Variables", width=250),
            width=280,
        )  # fmt: skip

    def __panel__(self) -> pn.viewable.Viewable:
        """Return the page: controls on the left; message, prices, fundamentals and rows on the right."""
        main = pn.Column(
            self._alert, self._status, self._price_pane, self._fundamentals_pane,
            pn.pane.Markdown("### Rows", margin=(0, 10)), self._table, self.downloads(),
            sizing_mode="stretch_width",
        )  # fmt: skip
        return pn.Column(
            pn.pane.Markdown(
                "## Market explorer\nPrices and fundamentals by market and location, as of any time "
                "(point in time: later revisions stay hidden), with a live tail.",
                margin=(0, 10),
            ),
            pn.Row(self.controls(), main, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
