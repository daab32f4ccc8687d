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
start: str = ""  # first delivery date (local); '': the strip's first
end: str = ""  # last delivery date (local); '': the strip's last
granularity: str = "daily"  # daily or hourly
weights: str = "hours"  # hours (power) or days (gas)
shape: str = ""  # hourly shape CSV (datetime_utc,shape) for hourly curves; '': flat
curve_name: str = "DE_BASE_DAILY"  # curves.curve_name to store under

# %%
import pandas as pd
from IPython.display import HTML, Markdown, display

from marketintel.config import shared_dir
from marketintel.curves.build import InconsistentContractsError
from marketintel.figures import FigureEmbedder
from marketintel.figures.curves import curve_figure, curve_sources, hourly_figure, repricing_figure
from marketintel.services.curves import (
    block_averages,
    build_and_store_curve,
    build_contracts,
    build_points,
)

if not (quotes or product):  # neither a file nor a product: the shared reference case A
    quotes = str(shared_dir() / "curves" / "caseA_daily" / "contracts.csv")
    display(Markdown(f"No quotes file or product given: the shared case A contracts (`{quotes}`)."))
try:
    result = build_and_store_curve(
        quotes=quotes or None,
        product=product or None,
        as_of=as_of or None,
        calendar=calendar,
        start=start or None,
        end=end or None,
        granularity=granularity,
        weights=weights,
        shape=shape or None,
        curve_name=curve_name,
        run_id=run_id or None,
        progress=print,
    )
except InconsistentContractsError as exc:
    display(Markdown("**The quotes contradict each other; no curve was built:**"))
    display(HTML(exc.report.to_html(index=False, border=0)))
    raise
build, unit, trade_date, cal = result.build, result.unit, result.trade_date, result.build.calendar
stored = result.stored
bid_ask = build.method.endswith("bid_ask")
display(
    Markdown(
        f"**Quotes** {result.origin}: {len(build.fits)} contracts{' (bid/ask bands)' if bid_ask else ''}\n\n"
        f"**Curve** `{result.curve_name}`, {granularity}, {result.start} .. {result.end} delivery, "
        f"calendar {cal.name} ({cal.tz}), weights by {weights}, prices in {unit} &nbsp; "
        f"**As of** {trade_date} (cutoff {result.as_of_utc:%Y-%m-%d %H:%M} UTC)"
        + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
    )
)
ignored = build.parameters["ignored_outside_window"]
if ignored:
    display(
        Markdown(
            f"{len(ignored)} contract(s) deliver outside {result.start} .. {result.end} and are left out."
        )
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
scroll = "max-height: 26em; overflow-y: auto" if len(table) > 24 else ""  # a long strip scrolls in place
display(HTML(f'<div style="{scroll}">{table.to_html(index=False, border=0)}</div>'))
worst = fits.loc[fits["error"].abs().idxmax()] if len(fits) else None
if worst is not None:
    display(
        Markdown(
            f"{len(fits)} contracts, {int((fits['status'] == 'ok').sum())} repriced within tolerance; "
            f"largest error {abs(float(worst['error'])):.2e} {unit} "
            f"({worst['contract']}, {worst['profile']})."
        )
    )

# %% [markdown]
# ## The curve

# %%
figures = FigureEmbedder()
points, contracts = build_points(build), build_contracts(build)
hourly = build.granularity == "hourly"
blocks = block_averages(points, cal) if hourly else None  # daily base, peak and off-peak of an hourly curve
title = f"{result.curve_name}: {build.granularity} forward curve as of {trade_date} ({cal.name})"
sources = curve_sources(points, contracts, blocks=blocks, tz=cal.tz)
display(HTML(figures.html(curve_figure(sources, unit=unit, tz=cal.tz, title=title, label="curve"))))
display(
    Markdown(
        "Orange bars: the quoted contracts over their delivery periods"
        + ("; the curve drawn as its daily base, peak and off-peak averages." if hourly else ".")
    )
)
if hourly:
    display(HTML(figures.html(hourly_figure(points, unit=unit, tz=cal.tz, title="hourly prices (shape)"))))
display(HTML(figures.html(repricing_figure(contracts, unit=unit))))

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
            f"{result.curve_name} version {stored.version} as of {result.as_of_utc:%Y-%m-%d %H:%M} UTC "
            f"({stored.rows:,} rows)"
            if stored
            else "not stored",
            stored.run_id if stored else "-",
            f"{build.timings_ms.get('total', float('nan')):.1f}",
        ],
    }
)
display(HTML(summary.to_html(index=False, border=0)))
if len(build.inconsistencies):
    display(Markdown(f"**Warning**: {len(build.inconsistencies)} inconsistent quote(s) reconciled:"))
    display(HTML(build.inconsistencies.to_html(index=False, border=0)))
