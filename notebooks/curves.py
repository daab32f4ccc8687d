# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Forward curve build
#
# A maximum-smoothness forward curve that reprices every quoted contract: each contract's price equals the
# hour-weighted (power) or day-weighted (gas) average of the curve over its delivery period and profile,
# with DST-correct hour counts from the market calendar. The build is stored in the `curves` table with
# its lineage in `curve_runs` (inputs hash, method, solver, largest repricing error).

# %% tags=["parameters"]
run_id: str = ""  # the flow run that executes the notebook (lineage); '' when run by hand
quotes: str = ""  # contracts CSV: name,start,end,price[,bid,ask][,profile]; '': the store
product: str = ""  # forward_quotes.product when reading the store
as_of: str = ""  # trade date of the quotes (YYYY-MM-DD); '': the latest
calendar: str = "EEX_DE"  # market calendar
start: str = "2025-02-01"  # first delivery date (local)
end: str = "2027-12-31"  # last delivery date (local)
granularity: str = "daily"  # daily or hourly
weights: str = "hours"  # hours (power) or days (gas)
shape: str = ""  # hourly shape CSV (datetime_utc,shape) for hourly curves; '': flat
curve_name: str = "DE_BASE_DAILY"  # curves.curve_name to store under

# %%
import datetime as dt
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML, Markdown, display

from marketintel.backtest.report import FigureEmbedder
from marketintel.calendars import contracts_from_quotes, get_calendar, read_contracts_csv
from marketintel.config import shared_dir
from marketintel.curves.build import InconsistentContractsError, build_curve
from marketintel.curves.store import read_quotes, write_build
from marketintel.store import connect, migrate
from marketintel.timeutils import local_to_utc

#: currency and price unit of quotes read from a CSV (stored quotes carry their own)
UNITS = {
    "GB": ("GBP", "GBP/MWh"),
    "NBP": ("GBp", "GBp/therm"),
    "HENRY_HUB": ("USD", "USD/MMBtu"),
    "AESO": ("CAD", "CAD/MWh"),
    "IESO": ("CAD", "CAD/MWh"),
}

started = pd.Timestamp.now(tz="UTC")
cal = get_calendar(calendar)
client = connect()
migrate(client)
if quotes:
    contracts = read_contracts_csv(Path(quotes), cal)
    origin = f"quotes file `{quotes}`"
    trade_date = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    currency, unit = UNITS.get(
        cal.name, ("USD", "USD/MWh") if cal.tz.startswith("America/") else ("EUR", "EUR/MWh")
    )
elif product:
    if as_of:
        trade_date = dt.date.fromisoformat(as_of)
    else:
        latest = client.query(
            "SELECT max(trade_date), count() FROM forward_quotes FINAL WHERE product = {p:String}",
            parameters={"p": product},
        ).result_rows[0]
        if not latest[1]:
            raise LookupError(f"the store has no forward quotes of product {product!r}")
        trade_date = latest[0]
    stored = read_quotes(client, product, trade_date)
    contracts = contracts_from_quotes(stored)
    origin = f"stored settlements of `{product}` ({stored['market'].iloc[0]}) traded {trade_date}"
    currency, unit = str(stored["currency"].iloc[0]), str(stored["unit"].iloc[0])
else:
    path = shared_dir() / "curves" / "caseA_daily" / "contracts.csv"
    contracts = read_contracts_csv(path, cal)
    origin = f"the shared case A contracts (`{path}`): no quotes file or product given"
    trade_date = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    currency, unit = "EUR", "EUR/MWh"
# the information cutoff: the end of the trade date, market time
as_of_utc = pd.Timestamp(
    local_to_utc(pd.DatetimeIndex([pd.Timestamp(trade_date) + pd.Timedelta(days=1)]), cal.tz)[0]
)
shape_series = None
if shape:
    raw = pd.read_csv(shape)
    shape_series = pd.Series(
        raw["shape"].to_numpy(dtype=float),
        index=pd.DatetimeIndex(pd.to_datetime(raw["datetime_utc"], utc=True)),
    )
bid_ask = any(c.price is None for c in contracts)
display(
    Markdown(
        f"**Quotes** {origin}: {len(contracts)} contracts{' (bid/ask bands)' if bid_ask else ''}\n\n"
        f"**Curve** `{curve_name}`, {granularity}, {start} .. {end} delivery, calendar {cal.name} "
        f"({cal.tz}), weights by {weights}, prices in {unit} &nbsp; **As of** {trade_date} "
        f"(cutoff {as_of_utc:%Y-%m-%d %H:%M} UTC)" + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
    )
)

# %%
try:
    build = build_curve(
        contracts,
        cal,
        start,
        end,
        granularity=granularity,
        weights=weights,
        shape=shape_series,
        bid_ask=bid_ask,
    )
except InconsistentContractsError as exc:
    display(Markdown("**The quotes contradict each other; no curve was built:**"))
    display(HTML(exc.report.to_html(index=False, border=0)))
    raise
ignored = build.parameters["ignored_outside_window"]
if ignored:
    display(Markdown(f"{len(ignored)} contract(s) deliver outside {start} .. {end} and are left out."))
build_run_id, version, rows = write_build(
    client,
    build,
    curve_name,
    as_of_utc,
    currency=currency,
    unit=unit,
    run_id=run_id or None,
    started_at_utc=started,
)

# %% [markdown]
# ## Repricing check
#
# Every contract repriced on the built curve: the average of the curve over the contract's delivery days
# and profile hours, against the quote (or the bid/ask band). The error is the distance outside the quote
# or band; a curve is accepted when every contract reprices exactly.

# %%
fits = build.fits
quoted = fits["price"].where(fits["price"].notna(), (fits["bid"] + fits["ask"]) / 2)
table = pd.DataFrame(
    {
        "contract": fits["contract"],
        "profile": fits["profile"],
        "delivery (local dates)": [f"{s} .. {e}" for s, e in zip(fits["start"], fits["end"], strict=True)],
        f"quoted [{unit}]": quoted.map("{:.4f}".format),
        f"repriced [{unit}]": fits["repriced"].map("{:.4f}".format),
        f"error [{unit}]": fits["error"].map("{:.2e}".format),
        "status": fits["status"],
    }
)
display(HTML(table.to_html(index=False, border=0)))

# %% [markdown]
# ## The curve

# %%
figures = FigureEmbedder()
fig = go.Figure()
if build.granularity == "hourly" and build.hourly is not None:
    x = pd.DatetimeIndex(build.hourly["datetime_local"]).tz_localize(None)
    fig.add_trace(go.Scatter(x=x, y=build.hourly["price"], name="hourly price", mode="lines"))
    x_title = f"delivery hour ({cal.tz})"
else:
    for column in build.daily.columns:
        name = "daily base" if column == "price" else f"daily {column}"
        fig.add_trace(go.Scatter(x=build.daily.index, y=build.daily[column], name=name, mode="lines"))
    x_title = f"delivery date ({cal.tz})"
for row, q in zip(fits.itertuples(), quoted, strict=True):  # the contracts inside the window
    fig.add_trace(
        go.Scatter(
            x=[pd.Timestamp(row.start), pd.Timestamp(row.end) + pd.Timedelta(days=1)],
            y=[q, q],
            mode="lines",
            line={"color": "grey", "dash": "dot", "width": 1},
            name=f"{row.contract} {row.profile}",
            legendgroup="quotes",
            showlegend=False,
            hovertemplate=f"{row.contract} ({row.profile}): %{{y:.2f}} {unit}<extra></extra>",
        )
    )
fig.update_layout(
    title=f"{curve_name}: {build.granularity} forward curve as of {trade_date} ({cal.name})",
    xaxis_title=x_title,
    yaxis_title=f"price [{unit}]",
    height=480,
    margin={"t": 60},
)
display(HTML(figures.html(fig)))
display(Markdown("Dotted grey lines: the quoted contracts over their delivery periods."))

# %% [markdown]
# ## Build

# %%
summary = pd.DataFrame(
    {
        "item": [
            "method",
            "solver",
            "delivery blocks",
            f"max repricing error [{unit}]",
            "inputs sha256",
            "stored as",
            "build run id",
            "build time [ms]",
        ],
        "value": [
            build.method,
            build.solver,
            ", ".join(build.blocks.names),
            f"{build.max_reprice_error:.3g}",
            build.input_sha256,
            f"{curve_name} version {version} as of {as_of_utc:%Y-%m-%d %H:%M} UTC ({rows:,} rows)",
            build_run_id,
            f"{build.timings_ms.get('total', float('nan')):.1f}",
        ],
    }
)
display(HTML(summary.to_html(index=False, border=0)))
if len(build.inconsistencies):
    display(Markdown(f"**Warning**: {len(build.inconsistencies)} inconsistent quote(s) reconciled:"))
    display(HTML(build.inconsistencies.to_html(index=False, border=0)))
