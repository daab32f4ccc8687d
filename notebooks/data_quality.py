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
# # Data quality of a stored series
#
# Checks one series of the store over a window: is it fresh (published as late as the publication lag
# allows), complete (every interval of the cadence present), free of duplicates, and free of anomalous
# values? Each check passes, warns or fails; the results are appended to the `data_quality` table and
# failures raise alerts.

# %% tags=["parameters"]
run_id: str = ""  # the flow run that executes the notebook (lineage); '' when run by hand
table: str = "prices"  # prices or fundamentals
market: str = "SPP_REAL_TIME_5MIN"  # market of the series
location: str = "SPPNORTH_HUB"  # location (prices) or area (fundamentals)
variable: str = ""  # fundamentals variable ('' for prices)
cadence: str = "5min"  # interval length (pandas offset)
publication_lag: str = "15min"  # how long after an interval ends it is published
tz: str = "America/Chicago"  # market time zone (local days for completeness)
start: str = "2025-03-31T13:35:00Z"  # window start, UTC
end: str = "2025-03-31T13:55:00Z"  # window end, UTC

# %%
import json

import pandas as pd
from IPython.display import HTML, Markdown, display

from marketintel.figures import FigureEmbedder
from marketintel.figures.quality import checked_series_figure, completeness_figure
from marketintel.services.quality import completeness_by_day, finding, run_data_quality
from marketintel.services.queries import fundamentals, price_series
from marketintel.services.store import ensure_store

client = ensure_store().client
outcome = run_data_quality(
    table=table, market=market, location=location, variable=variable, cadence=cadence,
    publication_lag=publication_lag, tz=tz, start=start, end=end, run_id=run_id, client=client,
)  # fmt: skip
results = outcome.results
series_label = f"{market} / {location}" + (f" / {variable}" if variable else "")
display(
    Markdown(
        f"**Series** `{table}`: {series_label} &nbsp; **Window** {outcome.start_utc:%Y-%m-%d %H:%M} .. "
        f"{outcome.end_utc:%Y-%m-%d %H:%M} UTC ({tz} for local days) &nbsp; **Cadence** {cadence}, "
        f"published {publication_lag} after each interval ends"
        + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
    )
)
if outcome.checked_as_of_utc is not None:
    display(
        Markdown(
            f"**Checked as of {outcome.checked_as_of_utc:%Y-%m-%d %H:%M} UTC, not now**: the window lies in "
            "the past (a replayed demo or a historical check), so freshness and completeness are judged at "
            f"the moment the window's last interval was due (window end + {publication_lag} publication lag "
            f"+ one {cadence} interval): had the data arrived by then?"
        )
    )

# %% [markdown]
# ## Checks
#
# Green: pass; amber: warn; red: fail. Observed values and thresholds are in the unit of their row.

# %%
EXPLAIN = {
    "freshness": "how long ago the latest stored interval ended, as of the check time, against one cadence "
    "(after the publication lag): is the feed keeping up?",
    "completeness": "share of the expected intervals (by cadence, per local day, DST-aware) present in the "
    "window, against the target; warns when a single day falls short",
    "duplicates": "rows beyond one per interval and publication; identical re-ingests only warn, "
    "conflicting values fail",
    "anomalies": "values outside the market's price floor and cap (fail), spikes by robust z-score and "
    "flat lines (warn)",
}
COLOURS = {"pass": "#d4edda", "warn": "#fff3cd", "fail": "#f8d7da"}


def explain(check: str) -> str:
    """Return a short explanation of a check by its name."""
    return EXPLAIN.get(check, "")


def number(value: object, unit: object) -> str:
    """Format an observed value or threshold with its unit."""
    if value is None or pd.isna(value):
        return "-"
    return f"{float(value):.4g} {unit or ''}".strip()


shown = pd.DataFrame(
    {
        "check": results["check_name"],
        "status": results["status"],
        "observed [unit]": [number(v, u) for v, u in zip(results["observed"], results["unit"], strict=True)],
        "threshold [unit]": [
            number(v, u) for v, u in zip(results["threshold"], results["unit"], strict=True)
        ],
        "what it checks": [explain(str(c)) for c in results["check_name"]],
        "finding": [finding(d) for d in results["details"]],
    }
)
styled = shown.style.hide(axis="index").map(
    lambda status: f"background-color: {COLOURS.get(status, '#eeeeee')}; font-weight: bold", subset=["status"]
)
display(HTML(styled.to_html()))
counts = outcome.counts()
display(
    Markdown(
        f"**{counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed**; "
        f"{outcome.written} result row(s) appended to `data_quality`, {outcome.alerts} alert(s) raised."
    )
)

# %% [markdown]
# ## Completeness per local day
#
# The market's local calendar days (a daylight-saving day expects 23 or 25 hours of intervals): the share
# of each day's expected intervals that are stored, against the target.

# %%
embedder = FigureEmbedder()  # one per report: BokehJS is inlined once, so the report opens offline
checked = results.set_index("check_name").loc["completeness"]
expected_until = json.loads(str(checked["details"]) or "{}").get("expected_until_utc")
days = completeness_by_day(
    client, table=table, market=market, location=str(checked["location"]), cadence=cadence, tz=tz,
    start=outcome.start_utc, end=outcome.end_utc, expected_until=expected_until,
    target_pct=float(checked["threshold"]),
)  # fmt: skip
if days.empty:
    display(Markdown("**No whole interval of the window was due yet**: nothing to count."))
else:
    fig = completeness_figure(
        days, market_tz=tz, target_pct=float(checked["threshold"]), tz=tz,
        title=f"{series_label}: intervals present per local day ({cadence} intervals)",
    )  # fmt: skip
    display(HTML(embedder.html(fig)))

# %% [markdown]
# ## The series checked

# %%
if table == "prices":
    values = price_series(client, market, location, outcome.start_utc, outcome.end_utc, allow_empty=True)
    values = values.rename(columns={"price": "value"})
else:
    values = fundamentals(
        client, market, location, [variable], outcome.start_utc, outcome.end_utc, allow_empty=True
    )
if values.empty:
    display(Markdown(f"**The store holds no values of {series_label} in the window.**"))
else:
    # every interval of the cadence on the axis: a missing one is a gap in the line and a red band
    unit = values["unit"].iloc[0]
    stored = values.drop_duplicates("interval_start_utc", keep="last")
    grid = pd.date_range(outcome.start_utc, outcome.end_utc, freq=cadence, inclusive="left")
    missing = int((~grid.isin(pd.DatetimeIndex(stored["interval_start_utc"]))).sum())
    fig = checked_series_figure(
        stored, cadence=cadence, start_utc=outcome.start_utc, end_utc=outcome.end_utc, tz=tz,
        title=f"{series_label}: {len(stored):,} stored intervals in the window"
        + (f", {missing} missing (red)" if missing > 0 else ""),
        y_label=f"{'price' if table == 'prices' else variable} [{unit}]",
    )  # fmt: skip
    display(HTML(embedder.html(fig)))
