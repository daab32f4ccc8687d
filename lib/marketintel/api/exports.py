"""The download center: export jobs, their files, and signed links that only their owner can use.

``POST /v1/exports`` with a dataset (``prices``, ``fundamentals``, ``forecasts``), filters and a format (CSV,
Parquet) starts a job that reads the store *as the caller* (their entitlement applies) and streams the
rows to a file in ``$MI_DATA_DIR/api/exports`` block by block, so memory stays bounded whatever the size.
``GET /v1/exports/{id}`` gives its state and progress (rows written of the rows counted before it started);
once done it holds a signed link:

    /services/api/v1/exports/{id}/file?signature=...

The signature is itsdangerous' HMAC-SHA256 (``URLSafeTimedSerializer`` with SHA-256) over the file's path,
the user and the expiry; the key lives in ``$MI_DATA_DIR/hub/secrets/api_exports`` (mode 0600, never in
the store). A link is valid for :data:`LINK_TTL_S` (15 minutes, ``MI_API_EXPORT_TTL_S``), only with the
owner's own token or login: a tampered, expired or someone else's link gets 403 and is written to the
audit trail. Files are deleted when their link expires.

Exports need the export right of the caller's entitlement (``mi access grant ... --export``) and count
against the export rate limit (1 per second by default).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from marketintel import config
from marketintel.api import API_SERVICE, VERSION, formats
from marketintel.api.auth import Caller, Who
from marketintel.api.limiter import Limiter
from marketintel.api.problems import Problem, bad_request, forbidden, store_problem
from marketintel.api.store import Clients
from marketintel.services import feeds

log = logging.getLogger(__name__)

#: how long a link (and its file) lives [s]
LINK_TTL_S = int(os.environ.get("MI_API_EXPORT_TTL_S", str(15 * 60)))
#: jobs run at once (the rest queue)
WORKERS = 2
#: the longest window one export may cover [days]
MAX_EXPORT_DAYS = 3660
DATASETS = ("prices", "fundamentals", "forecasts")
#: rows per Parquet row group (the store's blocks are gathered up to it: better compression, bounded memory)
ROW_GROUP = 262_144
SUFFIX = {"csv": "csv", "parquet": "parquet"}
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


class ExportRequest(BaseModel):
    """An export: a dataset, its filters and a file format."""

    dataset: Literal["prices", "fundamentals", "forecasts"] = Field(description="The table to export")
    start: str = Field(description="Window start on interval_start_utc, ISO-8601 (naive = UTC)")
    end: str = Field(description="Window end (exclusive)")
    markets: list[str] = Field(default_factory=list, description="Markets (default: all you may read)")
    locations: list[str] = Field(default_factory=list, description="Locations (areas for fundamentals)")
    as_of: str | None = Field(default=None, description="Knowledge time (default: now)")
    format: Literal["csv", "parquet"] = "csv"


@dataclass
class Job:
    """An export job's state (kept as JSON beside its file)."""

    id: str
    user: str
    dataset: str
    format: str
    filters: dict[str, Any]
    state: str = "queued"  # queued, running, done, failed, expired
    rows: int = 0
    expected_rows: int | None = None
    bytes: int = 0
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    expires_at: float | None = None
    error: str | None = None

    @property
    def filename(self) -> str:
        """The file's name in the exports folder."""
        return f"{self.id}.{SUFFIX[self.format]}"

    def progress(self) -> float | None:
        """Fraction written [0-1], None before the count is known."""
        if self.state == "done":
            return 1.0
        if not self.expected_rows:
            return None
        return min(1.0, self.rows / self.expected_rows)

    def public(self, link: str | None) -> dict[str, Any]:
        """Return the job as the API shows it, with its signed ``link`` (None until done)."""

        def stamp(t: float | None) -> str | None:
            return None if t is None else pd.Timestamp.fromtimestamp(t, tz="UTC").isoformat()

        return {
            "id": self.id,
            "dataset": self.dataset,
            "format": self.format,
            "filters": self.filters,
            "state": self.state,
            "progress": self.progress(),
            "rows": self.rows,
            "expected_rows": self.expected_rows,
            "bytes": self.bytes,
            "created_at": stamp(self.created_at),
            "finished_at": stamp(self.finished_at),
            "expires_at": stamp(self.expires_at),
            "error": self.error,
            "url": link,
        }


def _report(user: str, **fields: Any) -> None:
    """Report an export event of ``user`` to the audit trail in the background (never delays the answer)."""
    from marketintel.access.events import report

    threading.Thread(
        target=report, args=("export", user), kwargs={"caller": "api", **fields}, daemon=True
    ).start()


def folder() -> Path:
    """Return where export files and job states live (created)."""
    path = config.data_dir() / "api" / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def signing_key() -> str:
    """Return the links' signing key (made on first use, mode 0600, outside the store)."""
    from marketintel.hub import paths

    return paths.secret("api_exports")


class ExportCenter:
    """Export jobs of one API process: start, run, sign, serve and clean up.

    Parameters
    ----------
    clients : Clients
        The API's store clients (jobs read as their owner).
    directory : Path, optional
        Default :func:`folder`.
    """

    def __init__(self, clients: Clients, directory: Path | None = None) -> None:
        self.clients = clients
        self.directory = directory or folder()
        self.signer = URLSafeTimedSerializer(
            signing_key(), salt="mi-export-link", signer_kwargs={"digest_method": hashlib.sha256}
        )
        self.prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{API_SERVICE}/").rstrip("/")
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._load()

    # -- life ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers and the clean-up thread."""
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="mi-export")
        self._stop.clear()
        self._sweeper = threading.Thread(target=self._sweep_forever, name="mi-export-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        """Stop taking jobs; running ones finish."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _load(self) -> None:
        """Reload the jobs of a previous run; one that was running is failed (its file is partial)."""
        for path in self.directory.glob("*.json"):
            try:
                job = Job(**json.loads(path.read_text()))
            except (ValueError, TypeError) as exc:
                log.warning("unreadable export job %s: %s", path.name, exc)
                continue
            if job.state in ("queued", "running"):
                job.state, job.error = "failed", "the API restarted while the export ran; start it again"
                (self.directory / job.filename).unlink(missing_ok=True)
                self._save(job)
            self.jobs[job.id] = job

    def _save(self, job: Job) -> None:
        path = self.directory / f"{job.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(job)))
        tmp.replace(path)

    # -- jobs ---------------------------------------------------------------------------------------------
    def submit(self, who: Caller, request: ExportRequest) -> Job:
        """Check and queue an export of ``request`` for ``who``.

        Raises
        ------
        Problem
            400 for a bad window or filter, 403 without the export right or for a market outside the
            caller's entitlement.
        """
        try:
            start, end = pd.Timestamp(request.start), pd.Timestamp(request.end)
            knowledge = None if request.as_of is None else pd.Timestamp(request.as_of)
        except (ValueError, TypeError) as exc:
            raise bad_request(f"start, end and as_of must be ISO-8601 times: {exc}") from None
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
        if end <= start:
            raise bad_request(f"end ({end}) must be after start ({start})")
        if end - start > pd.Timedelta(days=MAX_EXPORT_DAYS):
            raise bad_request(f"an export covers at most {MAX_EXPORT_DAYS} days", limit_days=MAX_EXPORT_DAYS)
        try:
            entitlement = self.clients.entitlement(who.name)
            if not entitlement.may_export(request.dataset):
                raise forbidden(
                    f"{who.name}'s entitlement does not include exports of {request.dataset} "
                    f"(exports allowed: {', '.join(sorted(entitlement.exports)) or 'none'}); ask an admin",
                    allowed=sorted(entitlement.exports),
                )
            for market in request.markets:
                self.clients.require(who.name, request.dataset, market, request.locations or None)
        except Problem as problem:
            if problem.status == 403:  # a refused export is an audit event, as a refused download is
                _report(who.name, action=f"export {request.dataset}.{request.format}", target=request.dataset,
                        outcome="refused", detail=problem.detail)  # fmt: skip
            raise
        filters = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "markets": request.markets,
            "locations": request.locations,
            "as_of": None if knowledge is None else knowledge.isoformat(),
        }
        job = Job(uuid.uuid4().hex[:16], who.name, request.dataset, request.format, filters)
        with self._lock:
            self.jobs[job.id] = job
        self._save(job)
        if self._pool is None:
            raise Problem(
                503, "Exports unavailable", "the export workers are not running", headers={"Retry-After": "5"}
            )
        self._pool.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        """Stream the job's rows from the store to its file (one block in memory at a time)."""
        from marketintel.access.events import report

        job.state = "running"
        self._save(job)
        path = self.directory / job.filename
        partial = path.with_suffix(path.suffix + ".part")
        try:
            client = self.clients.user(job.user)
            f = job.filters
            sql, params = feeds.table_query(
                job.dataset, f["start"], f["end"], markets=f["markets"] or None,
                locations=f["locations"] or None, as_of=f["as_of"],
            )  # fmt: skip
            job.expected_rows = feeds.count_rows(client, sql, params)
            self._save(job)
            writer: Any = None
            pending: list[pa.RecordBatch] = []  # Parquet: blocks gathered into row groups of ROW_GROUP rows
            last_save = time.monotonic()
            for block in feeds.arrow_batches(client, sql, params):
                # CSV stamps as the API writes them (ISO-8601 UTC, ...T...Z); Parquet keeps timestamp types
                batch = formats.iso_stamps(block) if job.format == "csv" else block
                if writer is None:
                    writer = (
                        pacsv.CSVWriter(str(partial), batch.schema)
                        if job.format == "csv"
                        else pq.ParquetWriter(str(partial), batch.schema, compression="zstd")
                    )
                if batch.num_rows and job.format == "csv":
                    writer.write_batch(batch)
                elif batch.num_rows:
                    pending.append(batch)
                    if sum(b.num_rows for b in pending) >= ROW_GROUP:
                        writer.write_table(pa.Table.from_batches(pending))
                        pending.clear()
                job.rows += batch.num_rows
                if time.monotonic() - last_save > 1.0:
                    self._save(job)
                    last_save = time.monotonic()
            if writer is None:  # no batch at all: an empty file with no columns
                pa.Table.from_pylist([]).to_pandas().to_csv(partial, index=False)
            else:
                if pending:
                    writer.write_table(pa.Table.from_batches(pending))
                writer.close()
            partial.replace(path)
            job.bytes = path.stat().st_size
            job.state = "done"
            job.finished_at = time.time()
            job.expires_at = job.finished_at + LINK_TTL_S
            report("export", job.user, caller="api", action=f"export {job.dataset}.{job.format}",
                   target=job.dataset, rows=job.rows, bytes=job.bytes, outcome="ok")  # fmt: skip
        except Exception as exc:
            partial.unlink(missing_ok=True)
            problem = store_problem(exc)
            job.state = "failed"
            job.error = problem.detail if problem is not None else f"{type(exc).__name__}: {exc}"[:500]
            job.finished_at = time.time()
            log.warning("export %s of %s failed: %s", job.id, job.user, job.error)
        finally:
            self._save(job)

    def get(self, who: Caller, job_id: str) -> Job:
        """Return ``who``'s job ``job_id`` (404 for anyone else's: their ids are not disclosed)."""
        job = self.jobs.get(job_id)
        if job is None or job.user != who.name:
            raise Problem(404, "Not found", f"no export {job_id!r} of {who.name}")
        return job

    def mine(self, who: Caller) -> list[Job]:
        """Return ``who``'s jobs, newest first."""
        return sorted((j for j in self.jobs.values() if j.user == who.name), key=lambda j: -j.created_at)

    # -- links --------------------------------------------------------------------------------------------
    def link(self, job: Job) -> str | None:
        """Return the signed link of a finished job (None before it is done or after it expired)."""
        if job.state != "done" or job.expires_at is None:
            return None
        payload = {"p": self._path(job), "u": job.user, "e": int(job.expires_at)}
        return f"{self._path(job)}?signature={self.signer.dumps(payload)}"

    def _path(self, job: Job) -> str:
        return f"{self.prefix}/{VERSION}/exports/{job.id}/file"

    def open(self, who: Caller, job_id: str, signature: str) -> Job:
        """Check a link's signature for ``who``; return its job.

        Raises
        ------
        Problem
            403 (and an audit record) for a tampered, expired or someone else's link.
        """
        from marketintel.access.events import report

        def refuse(why: str) -> Problem:
            _report(who.name, action="download", target=job_id, outcome="refused", detail=why)
            return forbidden(f"this export link cannot be used: {why}")

        job = self.jobs.get(job_id)
        try:
            payload = self.signer.loads(signature, max_age=LINK_TTL_S + 60)
        except SignatureExpired:
            raise refuse("it has expired; start the export again") from None
        except BadSignature:
            raise refuse("its signature does not match (the link was altered)") from None
        if job is None or payload.get("p") != self._path(job):
            raise refuse("it was signed for another file")
        if payload.get("u") != who.name:
            raise refuse(f"it belongs to another user, not {who.name}")
        if time.time() > float(payload.get("e", 0)) or job.state != "done":
            raise refuse("it has expired; start the export again")
        report("export", who.name, caller="api", action=f"download {job.dataset}.{job.format}", target=job.id,
               rows=job.rows, bytes=job.bytes, outcome="ok")  # fmt: skip
        return job

    # -- clean-up -----------------------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Delete the files of expired links and mark their jobs; return how many."""
        now = time.time() if now is None else now
        swept = 0
        for job in list(self.jobs.values()):
            if job.state == "done" and job.expires_at is not None and job.expires_at < now:
                (self.directory / job.filename).unlink(missing_ok=True)
                job.state = "expired"
                self._save(job)
                swept += 1
        return swept

    def _sweep_forever(self) -> None:
        while not self._stop.wait(30.0):
            try:
                self.sweep()
            except OSError as exc:
                log.warning("export clean-up failed: %s", exc)


def routes(router: APIRouter, center: ExportCenter, limits: Limiter) -> None:
    """Add the download center's routes to ``router``."""

    @router.post(
        "/exports", status_code=202, tags=["exports"], summary="Start an export (needs the export right)"
    )
    async def start_export(request: Request, body: ExportRequest, who: Who) -> dict[str, Any]:
        limits.check(who.name, export=True)
        job = await run_in_threadpool(center.submit, who, body)
        return job.public(None)

    @router.get("/exports", tags=["exports"], summary="Your exports, newest first")
    async def list_exports(who: Who) -> dict[str, Any]:
        return {"data": [j.public(center.link(j)) for j in center.mine(who)]}

    @router.get(
        "/exports/{job_id}", tags=["exports"], summary="An export's state, progress and (when done) link"
    )
    async def export_state(job_id: str, who: Who) -> dict[str, Any]:
        job = center.get(who, job_id)
        return job.public(center.link(job))

    @router.get("/exports/{job_id}/file", tags=["exports"], summary="Download an export with its signed link")
    async def export_file(
        request: Request, job_id: str, signature: Annotated[str, Query(min_length=10, max_length=2000)]
    ) -> Response:
        identity = request.app.state.identity
        try:
            who: Caller = await identity.caller(request)
        except Problem as problem:
            # a browser following the link from the exports page logs in through the Hub, then comes back
            if problem.status == 401 and "text/html" in request.headers.get("accept", ""):
                return identity.login_redirect(f"{request.url.path}?{request.url.query}")  # type: ignore[no-any-return]
            raise
        limits.check(who.name)
        job = await run_in_threadpool(center.open, who, job_id, signature)
        path = center.directory / job.filename
        if not path.exists():
            raise forbidden(
                "this export link cannot be used: its file was cleaned up; start the export again"
            )
        name = f"{job.dataset}-{job.id}.{SUFFIX[job.format]}"
        return FileResponse(path, media_type=MEDIA[job.format], filename=name)
