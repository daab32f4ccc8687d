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
# # Ingestion run
#
# One window of one dataset of one source, through the connector SDK: every payload is archived in
# `raw_payloads` before it is parsed, payloads that cannot be parsed are quarantined with their reason,
# rows are stored idempotently (re-running the window adds nothing), and the dataset's watermark moves
# after each payload so that an interrupted run resumes where it stopped.

# %% tags=["parameters"]
run_id: str = ""  # the flow run that executes the notebook (lineage); '' when run by hand
source: str = "spp"  # connector name, e.g. spp, pjm, isone
dataset: str = "lmp_real_time_5min"  # dataset of the source
start: str = "2025-03-31T13:35:00Z"  # window start, UTC
end: str = "2025-03-31T13:55:00Z"  # window end (exclusive), UTC
replay: bool = True  # serve the recorded responses of ../shared/fixtures instead of the network
follow: bool = False  # follow the dataset at its cadence until end (replays play at 600x)

# %%
import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML, Markdown, display

from marketintel.backtest.report import FigureEmbedder
from marketintel.config import shared_dir
from marketintel.connectors.base import PullRequest
from marketintel.connectors.http import HttpClient
from marketintel.connectors.recordings import replay_folder
from marketintel.connectors.registry import load
from marketintel.connectors.runner import ingest
from marketintel.store import connect, migrate

client = connect()
migrate(client)
request = PullRequest(dataset, pd.Timestamp(start), pd.Timestamp(end))
ingestor_class = load(source)
info = ingestor_class().discover().dataset(dataset)
display(
    Markdown(
        f"**Source** {source} &nbsp; **Dataset** {dataset}: {info.description} &nbsp; "
        f"**Window** {request.start_utc:%Y-%m-%d %H:%M} .. {request.end_utc:%Y-%m-%d %H:%M} UTC "
        f"(publisher's time zone {info.timezone}, published every {info.cadence}) &nbsp; "
        f"**Store table** `{info.table}`" + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
    )
)

# %%
with tempfile.TemporaryDirectory(prefix="mi-replay-") as tmp:
    if replay:
        recording = replay_folder(source, dataset, Path(tmp))
        print(
            "offline: replaying recorded responses from ../shared/fixtures "
            f"({shared_dir() / 'fixtures'}), no network access"
        )
        print(
            f"recording: {recording.note}; it covers {recording.start_utc:%Y-%m-%d %H:%M} .. "
            f"{recording.end_utc:%Y-%m-%d %H:%M} UTC"
        )
        if request.start_utc < recording.start_utc or request.end_utc > recording.end_utc:
            raise ValueError(
                f"the window {request.start_utc} .. {request.end_utc} is outside the recording "
                f"{recording.start_utc} .. {recording.end_utc}; choose a window inside it or replay=False"
            )
        http = HttpClient("replay", Path(tmp))
    else:
        print(f"live: fetching from the publisher ({source})")
        http = HttpClient("live")
    try:
        if follow:  # interval by interval as the clock passes each one's end
            from marketintel.connectors.follow import ReplayClock, WallClock
            from marketintel.connectors.follow import follow as follow_dataset
            from marketintel.connectors.runner import RunReport

            clock = ReplayClock(request.start_utc, speed=600.0) if replay else WallClock()
            print(f"following {dataset} until {request.end_utc} ({'replayed at 600x' if replay else 'live'})")
            runs = follow_dataset(
                ingestor_class(http=http, store=client), dataset, request.start_utc, clock=clock,
                until_utc=request.end_utc, on_report=print,
            )  # fmt: skip
            report = RunReport(
                source, dataset, run_id or (runs[0].run_id if runs else ""),
                runs[0].resumed_from_utc if runs else None, sum(r.payloads for r in runs),
                sum(r.rows for r in runs), [q for r in runs for q in r.quarantined],
                runs[-1].watermark_utc if runs else None, sum(r.seconds for r in runs),
            )  # fmt: skip
        else:
            report = ingest(
                ingestor_class(http=http, store=client), request, run_id=run_id or None, progress=print
            )
    finally:
        http.close()

# %% [markdown]
# ## What the run did
#
# Payloads fetched, rows stored and payloads quarantined (kept in `raw_payloads` with the reason, not
# stored as rows). A window ingested before is skipped from its watermark on: the run then fetches
# nothing and the chart below shows what the store already holds.


# %%
def utc(stamp: pd.Timestamp | None) -> str:
    """Format an instant as YYYY-MM-DD HH:MM (UTC), '-' for none."""
    return "-" if stamp is None else f"{stamp.tz_convert('UTC'):%Y-%m-%d %H:%M}"


summary = pd.DataFrame(
    {
        "payloads [files]": [report.payloads],
        "rows stored [rows]": [f"{report.rows:,}"],
        "quarantined [files]": [len(report.quarantined)],
        "watermark (UTC)": [utc(report.watermark_utc)],
        "resumed from (UTC)": [utc(report.resumed_from_utc)],
        "duration [s]": [f"{report.seconds:.2f}"],
        "ingest run id": [report.run_id],
    }
)
display(HTML(summary.to_html(index=False, border=0)))
if report.quarantined:
    display(Markdown("**Quarantined payloads**"))
    quarantined = pd.DataFrame(report.quarantined, columns=["payload URL", "reason"])
    display(HTML(quarantined.to_html(index=False, border=0)))

# %% [markdown]
# ## The ingested series

# %%
window = {"s": source, "a": request.start_utc.tz_localize(None), "b": request.end_utc.tz_localize(None)}
in_window = (
    "source = {s:String} AND interval_start_utc >= {a:DateTime64(3, 'UTC')} "
    "AND interval_start_utc < {b:DateTime64(3, 'UTC')}"
)
if info.table == "prices":
    counts = client.query_df(
        f"SELECT market, location, any(location_type) AS location_type, count() AS n FROM prices FINAL "
        f"WHERE {in_window} GROUP BY market, location",
        parameters=window,
    )
    preferred = counts[counts["location_type"].isin(["hub", "zone", "system", "bidding_area"])]
    chosen = (preferred if len(preferred) else counts).sort_values(["market", "location"]).head(8)
    series = client.query_df(
        f"SELECT market, location AS name, interval_start_utc, price AS value, unit FROM prices FINAL "
        f"WHERE {in_window} AND (market, location) IN {{k:Array(Tuple(String, String))}} "
        f"ORDER BY market, location, interval_start_utc",
        parameters={**window, "k": list(zip(chosen["market"], chosen["location"], strict=True))},
    )
    what, quantity = "price", "price"
elif info.table == "fundamentals":
    counts = client.query_df(
        f"SELECT market, area, area_to, variable, count() AS n FROM fundamentals FINAL "
        f"WHERE {in_window} GROUP BY market, area, area_to, variable",
        parameters=window,
    )
    chosen = counts.sort_values(["market", "variable", "area", "area_to"]).head(8)
    keys = list(zip(chosen["market"], chosen["area"], chosen["area_to"], chosen["variable"], strict=True))
    series = client.query_df(
        f"SELECT market, concat(variable, ' ', area, if(area_to = '', '', concat(' -> ', area_to))) AS name, "
        f"interval_start_utc, value, unit FROM fundamentals FINAL WHERE {in_window} "
        f"AND (market, area, area_to, variable) IN {{k:Array(Tuple(String, String, String, String))}} "
        f"ORDER BY market, name, interval_start_utc",
        parameters={**window, "k": keys},
    )
    what, quantity = "fundamentals", "value"
else:
    counts = pd.DataFrame()
    series = pd.DataFrame()
    what, quantity = info.table, "value"

if series.empty:
    display(Markdown(f"**No `{info.table}` rows of {source} in the window**: nothing to chart."))
else:
    total = int(counts["n"].sum())
    display(
        Markdown(
            f"The store holds {total:,} `{info.table}` rows of {source} in the window "
            f"({len(counts):,} series); the chart shows {series['name'].nunique()} of them"
            + (" (the trading hubs and zones)." if info.table == "prices" and len(preferred) else ".")
        )
    )
    units = sorted(series["unit"].unique())
    fig = go.Figure()
    for (market, name), part in series.groupby(["market", "name"], sort=False):
        unit = part["unit"].iloc[0]
        stamps = pd.DatetimeIndex(part["interval_start_utc"]).tz_convert("UTC")
        local = stamps.tz_convert(info.timezone).strftime("%Y-%m-%d %H:%M %Z")
        fig.add_trace(
            go.Scatter(
                x=stamps.tz_localize(None),
                y=part["value"],
                name=f"{market} {name}",
                mode="lines+markers",
                customdata=local,
                hovertemplate=f"%{{x}} UTC (%{{customdata}}): %{{y:.2f}} {unit}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"{source}/{dataset}: {what}, {request.start_utc:%Y-%m-%d %H:%M} .. "
        f"{request.end_utc:%Y-%m-%d %H:%M} UTC",
        xaxis_title="interval start, time (UTC)",
        yaxis_title=f"{quantity} [{', '.join(units)}]",
        height=450,
        margin={"t": 60},
    )
    display(HTML(FigureEmbedder().html(fig)))
