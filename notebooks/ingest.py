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
from IPython.display import HTML, Markdown, display

from marketintel.config import shared_dir
from marketintel.figures import FigureEmbedder
from marketintel.figures.ingest import ingested_series_figure
from marketintel.flows.recordings import replay_folder
from marketintel.ingest.registry import load
from marketintel.services.ingest import follow_dataset, ingest_window, utc_instant
from marketintel.services.queries import fundamentals, price_series, stored_series
from marketintel.services.store import ensure_store

client = ensure_store().client
window_start, window_end = utc_instant(start, "start"), utc_instant(end, "end")
info = load(source)().discover().dataset(dataset)
display(
    Markdown(
        f"**Source** {source} &nbsp; **Dataset** {dataset}: {info.description} &nbsp; "
        f"**Window** {window_start:%Y-%m-%d %H:%M} .. {window_end:%Y-%m-%d %H:%M} UTC "
        f"(publisher's time zone {info.timezone}, published every {info.cadence}) &nbsp; "
        f"**Store table** `{info.table}`" + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
    )
)

# %%
with tempfile.TemporaryDirectory(prefix="mi-replay-") as tmp:
    folder = Path(tmp) if replay else None
    if folder is not None:
        recording = replay_folder(source, dataset, folder, window_start, window_end)
        print(
            "offline: replaying recorded responses from ../shared/fixtures "
            f"({shared_dir() / 'fixtures'}), no network access"
        )
        print(f"recording: {recording.note}")
    else:
        print(f"live: fetching from the publisher ({source})")
    if follow:  # interval by interval as the clock passes each one's end (replays play at 600x)
        print(f"following {dataset} until {window_end} ({'replayed at 600x' if replay else 'live'})")
        report = follow_dataset(
            source, dataset, window_start, window_end, replay=folder, speed=600.0, run_id=run_id,
            on_report=print,
        )  # fmt: skip
    else:
        report = ingest_window(
            source, dataset, window_start, window_end, replay=folder, run_id=run_id or None, progress=print
        )

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
if info.table in ("prices", "fundamentals"):
    counts = stored_series(client, info.table, window_start, window_end, sources=source)
    counts["n"] = counts["n_rows"]  # one per interval and revision
else:
    counts = pd.DataFrame()
if info.table == "prices" and len(counts):
    preferred = counts[counts["location_type"].isin(["hub", "zone", "system", "bidding_area"])]
    chosen = (preferred if len(preferred) else counts).sort_values(["market", "location"]).head(8)
    parts = [
        price_series(client, m, loc, window_start, window_end).assign(name=loc, value=lambda f: f["price"])
        for m, loc in zip(chosen["market"], chosen["location"], strict=True)
    ]
    series = pd.concat(parts, ignore_index=True)
    what, quantity = "price", "price"
elif info.table == "fundamentals" and len(counts):
    chosen = counts.sort_values(["market", "variable", "area", "area_to"]).head(8)
    parts = [
        fundamentals(client, m, area, [var], window_start, window_end, area_to=to).assign(
            name=f"{var} {area}" + (f" -> {to}" if to else "")
        )
        for m, area, to, var in zip(
            chosen["market"], chosen["area"], chosen["area_to"], chosen["variable"], strict=True
        )
    ]
    series = pd.concat(parts, ignore_index=True)
    what, quantity = "fundamentals", "value"
else:
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
    series = series.assign(name=[f"{m} {n}" for m, n in zip(series["market"], series["name"], strict=True)])
    # each series is drawn on its own interval length (the commonest step between its stamps): a missing
    # interval is a gap in the line, not a slope across it
    fig = ingested_series_figure(
        series, quantity=quantity, tz="UTC", local_tz=info.timezone,
        title=f"{source}/{dataset}: {what}, {window_start:%Y-%m-%d %H:%M} .. {window_end:%Y-%m-%d %H:%M} UTC",
    )  # fmt: skip
    display(HTML(FigureEmbedder().html(fig)))
