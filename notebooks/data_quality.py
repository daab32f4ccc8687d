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

from marketintel.backtest.report import FigureEmbedder
from marketintel.quality import parse_cadence, run_checks, write_results
from marketintel.quality.checks import parse_lag
from marketintel.store import connect, migrate

client = connect()
migrate(client)
start_utc = (
    pd.Timestamp(start).tz_convert("UTC") if pd.Timestamp(start).tzinfo else pd.Timestamp(start, tz="UTC")
)
end_utc = pd.Timestamp(end).tz_convert("UTC") if pd.Timestamp(end).tzinfo else pd.Timestamp(end, tz="UTC")
now = pd.Timestamp.now(tz="UTC")
# A window that ended more than a day ago is a replayed or historical one: judged at the real clock, its
# freshness would always fail. It is judged as of the moment its last interval was due instead: the
# window's end plus the publication lag plus one cadence (as of the bare window end, completeness would
# expect none of the window's intervals yet).
historical = end_utc < now - pd.Timedelta(days=1)
due_utc = end_utc + parse_lag(publication_lag) + parse_cadence(cadence)
now_utc = due_utc if historical else None
series_label = f"{market} / {location}" + (f" / {variable}" if variable else "")
display(
    Markdown(
        f"**Series** `{table}`: {series_label} &nbsp; **Window** {start_utc:%Y-%m-%d %H:%M} .. "
        f"{end_utc:%Y-%m-%d %H:%M} UTC ({tz} for local days) &nbsp; **Cadence** {cadence}, "
        f"published {publication_lag} after each interval ends"
        + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
    )
)
if historical:
    display(
        Markdown(
            f"**Checked as of {due_utc:%Y-%m-%d %H:%M} UTC, not now**: the window lies in the past (a "
            "replayed demo or a historical check), so freshness and completeness are judged at the moment "
            f"the window's last interval was due (window end + {publication_lag} publication lag + one "
            f"{cadence} interval): had the data arrived by then?"
        )
    )

# %%
results = run_checks(
    client,
    table=table,
    market=market,
    location=location,
    variable=variable,
    cadence=cadence,
    publication_lag=publication_lag,
    tz=tz,
    start_utc=start_utc,
    end_utc=end_utc,
    now_utc=now_utc,
    run_id=run_id,
)
written, alerts = write_results(client, results, run_id=run_id)

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
counts = results["status"].value_counts()
display(
    Markdown(
        f"**{counts.get('pass', 0)} passed, {counts.get('warn', 0)} warned, "
        f"{counts.get('fail', 0)} failed**; "
        f"{written} result row(s) appended to `data_quality`, {alerts} alert(s) raised."
    )
)

# %% [markdown]
# ## The series checked

# %%
window = {
    "m": market,
    "l": location,
    "v": variable,
    "a": start_utc.tz_localize(None),
    "b": end_utc.tz_localize(None),
}
if table == "prices":
    values = client.query_df(
        "SELECT interval_start_utc, price AS value, unit FROM prices FINAL WHERE market = {m:String} "
        "AND location = {l:String} AND interval_start_utc >= {a:DateTime64(3, 'UTC')} "
        "AND interval_start_utc < {b:DateTime64(3, 'UTC')} ORDER BY interval_start_utc",
        parameters=window,
    )
else:
    values = client.query_df(
        "SELECT interval_start_utc, value, unit FROM fundamentals FINAL WHERE market = {m:String} "
        "AND area = {l:String} AND variable = {v:String} AND interval_start_utc >= {a:DateTime64(3, 'UTC')} "
        "AND interval_start_utc < {b:DateTime64(3, 'UTC')} ORDER BY interval_start_utc",
        parameters=window,
    )
if values.empty:
    display(Markdown(f"**The store holds no values of {series_label} in the window.**"))
else:
    stamps = pd.DatetimeIndex(values["interval_start_utc"]).tz_convert(tz).tz_localize(None)
    unit = values["unit"].iloc[0]
    fig = go.Figure(go.Scatter(x=stamps, y=values["value"], mode="lines+markers", name=series_label))
    fig.update_layout(
        title=f"{series_label}: {len(values):,} stored intervals in the window",
        xaxis_title=f"interval start ({tz})",
        yaxis_title=f"{'price' if table == 'prices' else variable} [{unit}]",
        height=400,
        margin={"t": 60},
    )
    display(HTML(FigureEmbedder().html(fig)))
