"""The Prefect flows: ingest, build_curves, backtest, data_quality, scenario; each runs its notebook.

A flow validates its parameters (the pydantic models of :mod:`marketintel.flows.params`, which equal the
notebooks' ``parameters`` cells), makes sure the store is up (the embedded one is started when it is the
configured endpoint), executes ``notebooks/<name>.ipynb`` into ``reports/<flow>/<date>/`` and exports a
code-free HTML report beside it. The notebook task retries transient failures (a store or kernel that
does not answer); a notebook that raises fails the flow run after the retries, and every failure also
writes an ``alerts`` row. ``data_quality`` fails its run when a check fails (the results and alerts are in
the store either way).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.context import get_run_context
from pydantic import BaseModel

from marketintel import config
from marketintel.exceptions import MarketIntelError
from marketintel.flows.params import (
    NOTEBOOKS,
    BacktestParams,
    CurvesParams,
    DataQualityParams,
    IngestParams,
    ScenarioParams,
)
from marketintel.services.store import ensure_store

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
#: a transient failure is retried this many times, after these delays [s]
RETRIES, RETRY_DELAYS_S = 2, [5.0, 20.0]


class DataQualityError(MarketIntelError):
    """At least one data-quality check failed (the flow run is marked failed)."""


def _run_id() -> str:
    try:
        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]
    except Exception:  # outside a flow run (a task called by hand)
        return str(uuid.uuid4())


def report_paths(flow_name: str, run_id: str, when: dt.datetime | None = None) -> tuple[Path, Path]:
    """Return where a run's executed notebook and HTML go: ``reports/<flow>/<date>/<flow>-<time>-<run>``."""
    when = when or dt.datetime.now(dt.UTC)
    folder = config.reports_dir() / flow_name / when.strftime("%Y-%m-%d")
    stem = f"{flow_name}-{when.strftime('%H%M%S')}-{run_id[:8]}"
    return folder / f"{stem}.ipynb", folder / f"{stem}.html"


#: failures worth retrying: the kernel or the store went away, or answered too slowly; anything else (a
#: bad parameter, an error in the data) fails the same way again and is reported at once
TRANSIENT = (
    "DeadKernelError", "Kernel died", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
    "TimeoutError", "timed out", "HTTP 503", "Too many concurrent", "RemoteDisconnected",
)  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """Return whether a notebook failure looks transient (worth a retry)."""
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in TRANSIENT)


def _retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


@task(
    retries=RETRIES, retry_delay_seconds=RETRY_DELAYS_S, retry_condition_fn=_retry_transient, log_prints=True
)
def run_notebook(flow_name: str, parameters: dict[str, Any]) -> dict[str, str]:
    """Execute the flow's notebook with ``parameters`` and export its HTML report; return both paths."""
    from marketintel.notebooks import execute, export_html

    stem, model = NOTEBOOKS[flow_name]
    params = model(**parameters)  # validated again: a task can be called on its own
    ipynb, html = report_paths(flow_name, params.run_id or _run_id())
    execute(
        NOTEBOOK_DIR / f"{stem}.ipynb", ipynb, params.model_dump(), cwd=ipynb.parent, what=f"{stem} notebook"
    )
    export_html(ipynb, html, title=f"{flow_name} {params.model_dump_json(exclude={'run_id'})}")
    print(f"report: {html}")
    return {"notebook": str(ipynb), "html": str(html)}


def _alert_on_failure(flow_name: str, params: BaseModel, error: BaseException) -> None:
    """Raise a critical alert for a failed flow run (best effort: the store may be what failed)."""
    from marketintel.services.alerts import raise_alert

    run_id = getattr(params, "run_id", "")
    try:
        raise_alert(
            key=f"flow/{flow_name}/{run_id}", category="flow", severity="critical",
            title=f"flow {flow_name} failed", message=f"{type(error).__name__}: {error}",
            market=str(getattr(params, "market", "")), run_id=run_id,
        )  # fmt: skip
    except Exception as exc:  # pragma: no cover - the store itself is down
        get_run_logger().warning("could not record the failure in alerts: %s", exc)


_RELATIVE = re.compile(r"^(now|today)(?:([+-])(\d+)(min|h|d|m|y))?$")
_UNITS = {"min": "minutes", "h": "hours", "d": "days", "m": "months", "y": "years"}


def resolve_time(text: str, *, date_only: bool = False, now: dt.datetime | None = None) -> str:
    """Resolve ``now``, ``now-15min``, ``today+1d``, ``today+3y`` ... to an ISO time (UTC) or date.

    Anything else (an ISO time or date, or ``""``) is returned as it is.
    """
    import pandas as pd

    match = _RELATIVE.match(text.strip())
    if not match:
        return text
    base = pd.Timestamp(now or dt.datetime.now(dt.UTC))
    base = base.tz_localize("UTC") if base.tzinfo is None else base.tz_convert("UTC")
    if match.group(1) == "today":
        base = base.normalize()
    if match.group(2):
        amount = int(match.group(3)) * (1 if match.group(2) == "+" else -1)
        offset: Any = pd.DateOffset(**{_UNITS[match.group(4)]: amount})  # type: ignore[arg-type]
        base = base + offset
    if date_only:
        return str(base.date())
    return base.strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolved(params: BaseModel) -> BaseModel:
    """Replace relative windows in a flow's parameters by absolute ones (scheduled runs use them)."""
    dates = isinstance(params, CurvesParams)
    fields = {"start", "end", "as_of"} & set(type(params).model_fields)
    update = {f: resolve_time(str(getattr(params, f)), date_only=dates) for f in fields}
    return params.model_copy(update=update)


def _run(flow_name: str, params: BaseModel) -> dict[str, str]:
    logger = get_run_logger()
    params = _resolved(params)
    params = params.model_copy(update={"run_id": params.run_id or _run_id()})  # type: ignore[attr-defined]
    store = ensure_store()  # the local endpoint is started only where it is the configured store
    logger.info("store: %s%s", store.url, " (started)" if store.started else "")
    try:
        return run_notebook(flow_name, params.model_dump())
    except Exception as exc:
        _alert_on_failure(flow_name, params, exc)
        raise


@flow(name="ingest", log_prints=True)
def ingest(params: IngestParams = IngestParams()) -> dict[str, str]:  # noqa: B008 - pydantic defaults are immutable
    """Ingest a window of one dataset (recorded responses when ``replay``) and report what was stored."""
    return _run("ingest", params)


@flow(name="build_curves", log_prints=True)
def build_curves(params: CurvesParams = CurvesParams()) -> dict[str, str]:  # noqa: B008
    """Build and store a forward curve from settlements (a quotes CSV or the store) and report it."""
    return _run("build_curves", params)


@flow(name="backtest", log_prints=True)
def backtest(params: BacktestParams = BacktestParams()) -> dict[str, str]:  # noqa: B008
    """Backtest a model on a market and report its accuracy."""
    return _run("backtest", params)


@flow(name="data_quality", log_prints=True)
def data_quality(params: DataQualityParams = DataQualityParams()) -> dict[str, str]:  # noqa: B008
    """Check a stored series; the run fails when a check fails (results and alerts are stored either way)."""
    from marketintel.services.queries import quality_results

    params = params.model_copy(update={"run_id": params.run_id or _run_id()})
    out = _run("data_quality", params)
    failed = quality_results(ensure_store().client, run_ids=params.run_id, statuses="fail")
    if len(failed):
        names = ", ".join(
            f"{r.check_name} (observed {r.observed}, threshold {r.threshold})" for r in failed.itertuples()
        )
        raise DataQualityError(f"{len(failed)} data-quality check(s) failed: {names}; report {out['html']}")
    return out


@flow(name="scenario", log_prints=True)
def scenario(params: ScenarioParams = ScenarioParams()) -> dict[str, str]:  # noqa: B008
    """Run a scenario (tracked in scenario_runs) and report it against its base, contract by contract."""
    return _run("scenario", params)


FLOWS = {
    "ingest": ingest,
    "build_curves": build_curves,
    "backtest": backtest,
    "data_quality": data_quality,
    "scenario": scenario,
}
