"""Typed parameters of the flows; each model equals the ``parameters`` cell of its notebook.

A flow validates its parameters with the model below and hands them to papermill, which injects them into
the notebook's ``parameters`` cell. ``tests/flows/test_notebooks.py`` checks, for every flow, that
papermill's view of the notebook's parameters (names, types, defaults) equals the model's fields, so a
notebook and its flow cannot drift apart.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from marketintel.forecast.models import model_names, model_spec


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(
        "", description="the flow run that executes the notebook (lineage); '' when run by hand"
    )


class IngestParams(_Params):
    """Ingest a window of one dataset of one source (or follow it)."""

    source: str = Field("spp", description="connector name, e.g. spp, pjm, isone")
    dataset: str = Field("lmp_real_time_5min", description="dataset of the source")
    start: str = Field("2025-03-31T13:35:00Z", description="window start, UTC")
    end: str = Field("2025-03-31T13:55:00Z", description="window end (exclusive), UTC")
    replay: bool = Field(
        True, description="serve the recorded responses of ../shared/fixtures instead of the network"
    )
    follow: bool = Field(False, description="follow the dataset at its cadence until end (replays at 600x)")


class CurvesParams(_Params):
    """Build a forward curve from a quotes CSV or from stored settlements."""

    quotes: str = Field(
        "", description="contracts CSV (name,start,end,price[,bid,ask][,profile]); '' = the store"
    )
    product: str = Field("", description="forward_quotes.product when reading the store")
    as_of: str = Field("", description="trade date of the quotes (YYYY-MM-DD); '' = the latest")
    calendar: str = Field("EEX_DE", description="market calendar")
    start: str = Field("", description="first delivery date (local); '' = the strip's first")
    end: str = Field("", description="last delivery date (local); '' = the strip's last")
    granularity: str = Field("daily", description="daily or hourly")
    weights: str = Field("hours", description="hours (power) or days (gas)")
    shape: str = Field("", description="hourly shape CSV for hourly curves ('' = flat)")
    curve_name: str = Field("DE_BASE_DAILY", description="curves.curve_name to store under")


class BacktestParams(_Params):
    """Backtest a model on a market's history and score it."""

    data: str = Field("", description="epftoolbox dataset CSV ('' = ../shared/datasets/epftoolbox/NP.csv)")
    market: str = Field("NP", description="market name")
    model: str = Field("naive", description=f"model: {', '.join(model_names())}")
    window: int = Field(1456, description="LEAR calibration window [days]")
    start: str = Field("2016-12-27", description="first target day")
    days: int = Field(14, description="number of target days")

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        """Refuse a model the registry does not know (the error lists the known ones)."""
        model_spec(value)  # UnknownModelError is a ValueError: pydantic reports it as a validation error
        return value


class DataQualityParams(_Params):
    """Check one stored series: freshness, completeness, duplicates, anomalies."""

    table: str = Field("prices", description="prices or fundamentals")
    market: str = Field("SPP_REAL_TIME_5MIN", description="market of the series")
    location: str = Field("SPPNORTH_HUB", description="location (prices) or area (fundamentals)")
    variable: str = Field("", description="fundamentals variable ('' for prices)")
    cadence: str = Field("5min", description="interval length (pandas offset)")
    publication_lag: str = Field("15min", description="how long after an interval ends it is published")
    tz: str = Field("America/Chicago", description="market time zone (local days for completeness)")
    start: str = Field("2025-03-31T13:35:00Z", description="window start, UTC")
    end: str = Field("2025-03-31T13:55:00Z", description="window end, UTC")


class ScenarioParams(_Params):
    """Run a scenario (its text, or a scenario file) and compare it with its base, contract by contract."""

    scenario: str = Field("", description="the scenario's text; '' = read file")
    file: str = Field(
        "", description="a scenario file (its file names are read next to it); '' with no text: case A's"
    )


#: flow name -> (notebook stem, parameter model)
NOTEBOOKS: dict[str, tuple[str, type[_Params]]] = {
    "ingest": ("ingest", IngestParams),
    "build_curves": ("curves", CurvesParams),
    "backtest": ("backtest", BacktestParams),
    "data_quality": ("data_quality", DataQualityParams),
    "scenario": ("scenario", ScenarioParams),
}
