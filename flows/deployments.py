"""Deployments of the flows, with their schedules (cron with an explicit time zone, never implicit UTC).

- real-time ingestion every 5 minutes (SPP's RTBM LMP posts each interval within minutes of its end);
- curves after each exchange's settlement publication: EEX German power around 17:30 CET, so 18:30
  Europe/Berlin on weekdays; NYMEX Henry Hub settles at 14:30 ET, so 15:00 America/New_York;
- backtests nightly (03:00 Europe/Oslo, after the Nord Pool day is complete);
- data quality hourly, a few minutes past the hour;
- the world's live publishers on their own publication schedules, read from each dataset's
  ``publication`` cron and time zone (:func:`published`): day-ahead prices after the SDAC auction
  (ENTSO-E and Nord Pool at 12:50 CET, OMIE at 13:05 Madrid), JEPX after its 10:00 JST auction, NEM
  dispatch prices every 5 minutes (AEST), EMC's USEP every half hour (SGT). Day-ahead runs ask from
  yesterday to the day after tomorrow: the runner resumes from the watermark and stops at the first day
  not yet published, so a late auction is asked again at the next run and never leaves a gap.

Relative windows (``now-15min``, ``now``) in the parameters are resolved by the flows at run time.
"""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron

from marketintel.flows.params import BacktestParams, CurvesParams, DataQualityParams, IngestParams
from marketintel.flows.pipeline import FLOWS


def published(source: str, dataset: str) -> tuple[str, str]:
    """Return the cron and time zone the publisher issues ``dataset`` on (its ``Dataset.publication``).

    Raises
    ------
    ValueError
        When the dataset declares no publication schedule.
    """
    from marketintel.ingest import registry

    spec = registry.load(source)().discover().dataset(dataset)
    if not spec.publication:
        raise ValueError(f"{source}/{dataset} declares no publication schedule (Dataset.publication)")
    return spec.publication, spec.timezone


def _live(source: str, dataset: str, name: str, start: str, end: str) -> tuple[str, str, str, str, Any]:
    cron, tz = published(source, dataset)
    return ("ingest", name, cron, tz,
            IngestParams(source=source, dataset=dataset, start=start, end=end, replay=False))  # fmt: skip


#: (flow, deployment name, cron, time zone, parameters)
SCHEDULES: list[tuple[str, str, str, str, Any]] = [
    (
        "ingest", "spp-rtbm-lmp-every-5-min", "*/5 * * * *", "America/Chicago",
        IngestParams(source="spp", dataset="lmp_real_time_5min", start="now-15min", end="now", replay=False),
    ),
    (
        "ingest", "spp-day-ahead-lmp-daily", "30 14 * * *", "America/Chicago",
        IngestParams(
            source="spp", dataset="lmp_day_ahead_hourly", start="today+1d", end="today+2d", replay=False
        ),
    ),
    (
        "build_curves", "eex-de-base-after-settlement", "30 18 * * 1-5", "Europe/Berlin",
        CurvesParams(
            product="DE_BASE", calendar="EEX_DE", start="today+1d", end="today+3y", curve_name="DE_BASE_DAILY"
        ),
    ),
    (
        "build_curves", "nymex-henry-hub-after-settlement", "0 15 * * 1-5", "America/New_York",
        CurvesParams(
            product="NG", calendar="HENRY_HUB", weights="days", start="today+1m", end="today+2y",
            curve_name="HENRY_HUB_DAILY",
        ),
    ),
    (
        "backtest", "np-lear-1456-nightly", "0 3 * * *", "Europe/Oslo",
        BacktestParams(market="NP", model="lear", window=1456, start="2016-12-27", days=28),
    ),
    (
        "data_quality", "spp-rtbm-hub-hourly", "7 * * * *", "America/Chicago",
        DataQualityParams(start="now-1d", end="now"),
    ),
    _live("entsoe", "day_ahead_prices", "entsoe-day-ahead-after-sdac", "today-1d", "today+2d"),
    _live("nordpool", "day_ahead_15min", "nordpool-day-ahead-after-sdac", "today-1d", "today+2d"),
    _live("omie", "marginal_price_15min", "omie-day-ahead-after-sdac", "today-1d", "today+2d"),
    _live("jepx", "spot_prices_30min", "jepx-spot-after-auction", "today-1d", "today+2d"),
    _live("nem", "dispatch_price", "nem-dispatch-price-every-5-min", "now-30min", "now"),
    _live("emcsg", "usep_30min", "emc-usep-every-30-min", "now-2h", "now"),
]  # fmt: skip


def deployments() -> list[Any]:
    """Return the runner deployments of every scheduled flow."""
    out = []
    for flow_name, name, cron, tz, params in SCHEDULES:
        flow: Any = FLOWS[flow_name]
        out.append(
            flow.to_deployment(
                name=name,
                schedule=Cron(cron, timezone=tz),
                parameters={"params": params.model_dump()},
                description=f"{flow_name}: {params.model_dump_json(exclude={'run_id'})}",
                tags=[flow_name],
            )
        )
    return out


def register() -> list[str]:
    """Register the deployments with the Prefect API (no runner: the UI lists them and their schedules)."""
    return [str(deployment.apply()) for deployment in deployments()]


def serve() -> None:
    """Register the deployments and run them on their schedules in this process (blocks)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments())
