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
import plotly.graph_objects as go
from IPython.display import HTML, Markdown, display

from marketintel.figures import FigureEmbedder
from marketintel.services.quality import run_data_quality
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


def finding(text: object) -> str:
    """Return the check's message from its details JSON (or the details as 'key: value' pairs)."""
    try:
        parsed = json.loads(str(text)) if text else {}
    except ValueError:
        return str(text)
    if not isinstance(parsed, dict):
        return str(parsed)
    if parsed.get("message"):
        return str(parsed["message"])
    return "; ".join(f"{k}: {v}" for k, v in parsed.items())


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
    # every interval of the cadence on the axis: a missing one is a gap in the line, not a slope across it
    grid = pd.date_range(outcome.start_utc, outcome.end_utc, freq=cadence, inclusive="left")
    stored = values.set_index(pd.DatetimeIndex(values["interval_start_utc"]))["value"]
    shown = stored[~stored.index.duplicated(keep="last")].reindex(grid)
    unit = values["unit"].iloc[0]
    fig = go.Figure(
        go.Scatter(
            x=grid.tz_convert(tz).tz_localize(None), y=shown, mode="lines+markers", name=series_label,
            connectgaps=False,
        )
    )  # fmt: skip
    missing = int(shown.isna().sum())
    fig.update_layout(
        title=f"{series_label}: {len(values):,} stored intervals in the window"
        + (f", {missing} missing (gaps)" if missing else ""),
        xaxis_title=f"interval start ({tz})",
        yaxis_title=f"{'price' if table == 'prices' else variable} [{unit}]",
        height=400,
        margin={"t": 60},
    )
    display(HTML(FigureEmbedder().html(fig)))
