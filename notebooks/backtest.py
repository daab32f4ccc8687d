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
# # Forecast backtest
#
# A rolling-origin backtest of a day-ahead price model on a market's history: for each target day the
# model is recalibrated with what was published before its issue time (the day before, 10:00 market
# time), forecasts the 24 hours, and is scored against the prices that cleared.

# %% tags=["parameters"]
run_id: str = ""  # the flow run that executes the notebook (lineage); '' when run by hand
data: str = ""  # epftoolbox dataset CSV; '': ../shared/datasets/epftoolbox/<market>.csv
market: str = "NP"  # market name
model: str = "naive"  # a registered model (marketintel.forecast.models.MODELS, `mi backtest run --help`)
window: int = 1456  # LEAR calibration window [days]
start: str = "2016-12-27"  # first target day
days: int = 14  # number of target days

# %%
import html
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown, display

from marketintel.backtest.report import format_value
from marketintel.backtest.scoring import score_frame
from marketintel.figures import FigureEmbedder
from marketintel.figures.backtest import forecast_figure, hourly_mae_figure
from marketintel.services.backtest import flow_report_pattern, record_report, run_and_store_backtest
from marketintel.services.store import ensure_store

outcome = run_and_store_backtest(
    market, model, start, days, window=window, data=data or None, progress=print,
    out_dir=Path.cwd(),
)  # fmt: skip
names, frame, unit, clock = outcome.models, outcome.frame, outcome.unit, outcome.clock
# run by the backtest flow: the run records where the flow exports this report (the accuracy page links it)
report = flow_report_pattern(Path.cwd(), run_id) if run_id else None
if report is not None:
    record_report(ensure_store().client, outcome.run_id, report)
first_day = pd.Timestamp(start)
last_day = first_day + pd.Timedelta(days=days - 1)
display(
    Markdown(
        f"**Market** {market} &nbsp; **Model** {', '.join(names)} &nbsp; "
        f"**Target days** {first_day:%Y-%m-%d} .. {last_day:%Y-%m-%d} ({days} days) &nbsp; "
        f"**Prices** {unit}, hours in {clock}\n\n"
        f"**History** `{outcome.data}` &nbsp; **Backtest run** {outcome.run_id}: "
        f"{outcome.days_forecast} day(s) forecast, {outcome.days_skipped} resumed, "
        f"{outcome.recalibrations} recalibration(s) in {outcome.seconds:.1f} s; forecasts and "
        f"{outcome.stored_metrics} metric rows stored" + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
    )
)

# %% [markdown]
# ## Accuracy over the period
#
# MAE and RMSE are in the price unit. rMAE divides the MAE by that of the weekly seasonal naive (the
# same hour a week earlier); it needs a week of actuals first, so it shows n/a for periods of 7 days or
# less (the accuracy dashboard scores it with the stored week before the period). MAPE leaves out hours
# with a price near zero (counted in the last column) and should not rank models alone.

# %%
scores = score_frame(frame, "Real price", names)
headers = {
    "MAE": f"MAE [{unit}]",
    "rMAE": "rMAE [-]",
    "sMAPE": "sMAPE [%]",
    "RMSE": f"RMSE [{unit}]",
    "MAPE": "MAPE [%]",
    "MAPE_left_out": "MAPE hours left out [h]",
    "WAPE": "WAPE [%]",
    "MASE": "MASE [-]",
}
table = pd.DataFrame(
    {headers[c]: [format_value(v, c) for v in scores[c]] for c in headers if c in scores.columns},
    index=pd.Index(scores.index, name="model"),
).reset_index()
display(HTML(table.to_html(index=False, border=0)))

# %% [markdown]
# ## Forecast against the actual price, last week of the period

# %%
figures = FigureEmbedder()  # Bokeh figures, BokehJS inlined once: the report opens offline
week = frame[pd.DatetimeIndex(frame.index) >= last_day - pd.Timedelta(days=6)]
fig = forecast_figure(
    week, "Real price", names, unit=unit, clock=clock,
    title=f"{market} day-ahead price: forecast vs actual, {week.index[0]:%Y-%m-%d} .. {last_day:%Y-%m-%d}",
)  # fmt: skip
display(HTML(figures.html(fig)))

# %% [markdown]
# ## Error by hour of day
#
# Mean absolute error of each delivery hour over the whole period: where in the day the model misses.

# %%
by_hour = score_frame(frame, "Real price", names, by="hour")["MAE"].unstack("model")
fig = hourly_mae_figure(by_hour[names], unit=unit)
fig.title.text = f"{market}: MAE by delivery hour ({clock}), {first_day:%Y-%m-%d} .. {last_day:%Y-%m-%d}"
display(HTML(figures.html(fig)))
display(
    Markdown(
        f"Forecasts written to `{html.escape(outcome.csv.name if outcome.csv else '')}` next to this report "
        f"({len(frame):,} hours), and stored under backtest run {outcome.run_id}"
        + ("; this report is recorded with the run." if report is not None else ".")
    )
)
