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
# # Scenario against its base
#
# A "what if" case written in the scenario language (`marketintel.scenarios`: a base curve, shifts of its
# delivery days, requoted contracts, assumptions, derived series) run as a tracked run: the run is stored in
# `scenario_runs` with the text's hash, the assumptions' versions, the base's lineage and the code version,
# and the scenario curve in `curves` tagged with the scenario's name (a rerun of the same inputs is
# recognised and reuses the stored output). Below: the scenario against its base contract by contract, both
# curves and their difference, and the earlier runs of the scenario.

# %% tags=["parameters"]
run_id: str = ""  # the flow run that executes the notebook (lineage); '' when run by hand
scenario: str = ""  # the scenario's text; '': read file
file: str = ""  # a scenario file (its file names are read next to it); '' with no text: case A's

# %%
import contextlib
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown, display

from marketintel.config import shared_dir
from marketintel.exceptions import MarketIntelError
from marketintel.figures import FigureEmbedder
from marketintel.figures.scenarios import comparison_figure
from marketintel.services import scenarios
from marketintel.services.store import ensure_store

client = ensure_store().client
if scenario:
    text, folder, origin = scenario, Path.cwd(), "the text given"
elif file:
    path = Path(file).expanduser().resolve()
    text, folder, origin = path.read_text(), path.parent, f"`{path}`"
else:  # neither: a scenario on the shared reference case A contracts (runs anywhere)
    case_a = shared_dir() / "curves" / "caseA_daily" / "contracts.csv"
    text = (
        'scenario "caseA-example"\n'
        f'base quotes "{case_a}" daily weights hours calendar EEX_DE from 2025-02-01 to 2027-12-31 '
        "as of 2025-01-31\n"
        "shift 2026-01-01..2026-03-31 by +15%    # a cold first quarter\n"
        "shift 2026-12-01..2027-02-28 by +2.5    # a dearer next winter [EUR/MWh]\n"
        "requote Q-2026-Q1 = 110                 # the quarter requoted: the curve is rebuilt\n"
    )
    folder, origin = Path.cwd(), "the shared case A example (no scenario or file given)"
display(Markdown(f"**Scenario** from {origin}:\n\n```\n{text.rstrip()}\n```"))
with contextlib.chdir(folder):  # file names in a scenario are read next to it
    checked = scenarios.check(text, client)
    if not checked.ok:
        errors = pd.DataFrame(
            [{"line": e.line, "column": e.column, "error": e.message} for e in checked.errors]
        )
        display(Markdown("**The scenario does not check; it was not run:**"))
        display(HTML(errors.to_html(index=False, border=0)))
        raise MarketIntelError("the scenario does not check: " + "; ".join(str(e) for e in checked.errors))
    who = f"flow {run_id}" if run_id else "notebook"
    result = scenarios.run(text, client=client, user=who, progress=print)
unit = result.unit
display(
    Markdown(
        f"**Run** `{result.run_id}` of scenario **{result.scenario}**: {result.status}"
        f"{' (the same inputs as an earlier run: nothing new stored)' if result.reused else ''}, "
        f"{result.duration_s:.2f} s &nbsp; **Curve** `{result.curve_name}` scenario version "
        f"{result.output_version}, prices in {unit}"
        + (f" &nbsp; **Flow run** {run_id}" if run_id else "")
        + f"\n\n{result.message}"
    )
)
display(Markdown("\n".join(f"- {s}" for s in checked.statements)))

# %% [markdown]
# ## Contract by contract
#
# Each contract of the base's quotes: the base curve's and the scenario curve's average over its delivery
# period (by the base's weights: days for gas, hours for power), their difference, the base's quote and the
# requoted price where the scenario requotes it.

# %%
comparison = result.comparison
table = pd.DataFrame(
    {
        "contract": comparison["contract"],
        "profile": comparison["profile"],
        "delivery (local dates)": [
            f"{s} .. {e}"
            for s, e in zip(comparison["delivery_start"], comparison["delivery_end"], strict=True)
        ],
        f"quote [{unit}]": comparison["quote"].map("{:.4f}".format),
        f"requote [{unit}]": comparison["requote"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}"),
        f"base [{unit}]": comparison["base_price"].map("{:.4f}".format),
        f"scenario [{unit}]": comparison["scenario_price"].map("{:.4f}".format),
        f"difference [{unit}]": comparison["difference"].map("{:+.4f}".format),
    }
)
scroll = "max-height: 30em; overflow-y: auto" if len(table) > 24 else ""  # a long strip scrolls in place
display(HTML(f'<div style="{scroll}">{table.to_html(index=False, border=0)}</div>'))
moved = comparison[comparison["difference"].abs() > 1e-9]
display(
    Markdown(
        f"{len(comparison)} contracts, {len(moved)} moved; the largest move "
        + (
            f"{moved['difference'].abs().max():.4f} {unit} "
            f"({moved.loc[moved['difference'].abs().idxmax(), 'contract']})."
            if len(moved)
            else "none."
        )
    )
)

# %% [markdown]
# ## The curves
#
# The scenario curve over its base (dashed), each a value per delivery day (or hour), and below, on the
# same axis, the scenario minus the base.

# %%
figures = FigureEmbedder()
fig = comparison_figure(
    result.base, result.result, unit=unit, tz="UTC",
    title=f"{result.curve_name}: scenario {result.scenario} against its base",
)  # fmt: skip
display(HTML(figures.html(fig)))
for name, frame in result.derived.items():
    display(Markdown(f"Derived series **{name.upper()}**: {len(frame):,} values, stored with the scenario."))

# %% [markdown]
# ## Runs of this scenario
#
# Every tracked run of the scenario, newest first: a run whose inputs (text, assumptions' versions, base
# build, code version) equal an earlier successful run's is `reused`.

# %%
history = scenarios.runs(client, result.scenario).head(20)
shown = history[["run_id", "status", "started_at_utc", "duration_s", "output_curve", "output_version",
                 "assumptions", "created_by", "inputs_sha256"]].copy()  # fmt: skip
shown["inputs_sha256"] = shown["inputs_sha256"].astype(str).str[:16]
shown["duration_s"] = shown["duration_s"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
display(HTML(shown.rename(columns={"duration_s": "duration [s]"}).to_html(index=False, border=0)))
