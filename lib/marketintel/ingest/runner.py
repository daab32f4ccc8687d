"""Running a connector: archive every payload, quarantine what cannot be parsed, emit, checkpoint.

The order per payload is the contract: (1) the bytes are archived in ``raw_payloads`` as ``pending``;
(2) they are mapped and validated against the target table's spec; (3) the rows are emitted (idempotent:
ReplacingMergeTree on the natural key); (4) the payload is marked ``ok`` and the dataset's watermark moves
to the end of the payload's window. A run killed anywhere restarts from the watermark: windows before it
are complete, the window in flight is fetched again, and its rows replace themselves. A payload that
cannot be parsed is kept as ``quarantined`` with the reason, reported, and the run goes on.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from marketintel.exceptions import MarketIntelError, SchemaError
from marketintel.ingest.sdk import LISTING, Ingestor, ParseError, PullRequest, RawPayload
from marketintel.store import get_table, insert_df, validate_frame


@dataclass
class RunReport:
    """What a run did."""

    source: str
    dataset: str
    run_id: str
    resumed_from_utc: pd.Timestamp | None = None
    payloads: int = 0
    rows: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    watermark_utc: pd.Timestamp | None = None
    seconds: float = 0.0
    partial: list[tuple[str, str]] = field(default_factory=list)  # (url, what was left out and why)

    instruments: int = 0  # instruments seen for the first time and registered in ``instruments``
    #: the window the publisher answered with no rows (not published yet): not checkpointed, asked again
    waiting_for: tuple[str, pd.Timestamp | None] | None = None

    @classmethod
    def combine(cls, reports: list[RunReport], *, source: str, dataset: str, run_id: str = "") -> RunReport:
        """Return one report for consecutive runs of a dataset (a follow): sums, the last watermark.

        Parameters
        ----------
        reports : list of RunReport
            The runs, in order.
        source, dataset : str
            Used when ``reports`` is empty (nothing was due).
        run_id : str
            The caller's run id (default: the first run's).
        """
        if not reports:
            return cls(source, dataset, run_id)
        return cls(
            source,
            dataset,
            run_id or reports[0].run_id,
            resumed_from_utc=reports[0].resumed_from_utc,
            payloads=sum(r.payloads for r in reports),
            rows=sum(r.rows for r in reports),
            quarantined=[q for r in reports for q in r.quarantined],
            watermark_utc=reports[-1].watermark_utc,
            seconds=sum(r.seconds for r in reports),
            partial=[p for r in reports for p in r.partial],
            instruments=sum(r.instruments for r in reports),
            waiting_for=reports[-1].waiting_for,
        )

    def __str__(self) -> str:
        resumed = f", resumed at {self.resumed_from_utc}" if self.resumed_from_utc is not None else ""
        lines = [
            f"{self.source}/{self.dataset}: {self.payloads} payload(s), {self.rows:,} rows, "
            f"{len(self.quarantined)} quarantined, {self.instruments} new instrument(s), "
            f"watermark {self.watermark_utc}{resumed} "
            f"[{self.seconds:.1f} s, run {self.run_id}]"
        ]
        lines += [f"  quarantined {url}: {reason}" for url, reason in self.quarantined]
        lines += [f"  partial {url}: {reason}" for url, reason in self.partial]
        if self.waiting_for is not None:
            url, start = self.waiting_for
            lines.append(f"  no rows yet from {start} ({url}): not checkpointed, the next run asks again")
        return "\n".join(lines)


def read_watermark(client: Any, source: str, dataset: str, stream: str = "") -> pd.Timestamp | None:
    """Return the end of the last window ingested without gaps, or None if nothing was ingested yet."""
    rows = client.query(
        "SELECT watermark_utc FROM checkpoints FINAL "
        "WHERE source = {s:String} AND dataset = {d:String} AND stream = {t:String}",
        parameters={"s": source, "d": dataset, "t": stream},
    ).result_rows
    if not rows:
        return None
    stamp = pd.Timestamp(rows[0][0])  # tz-aware, or naive UTC with clickhouse-connect's default tz_mode
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def write_checkpoint(client: Any, source: str, state: dict[str, Any]) -> None:
    """Write a checkpoint row from ``dataset``, ``watermark_utc`` [, ``stream``, ``state``, ``run_id``]."""
    frame = pd.DataFrame(
        {
            "source": [source],
            "dataset": [state["dataset"]],
            "stream": [state.get("stream", "")],
            "watermark_utc": [pd.Timestamp(state["watermark_utc"]).tz_convert("UTC")],
            "state": [json.dumps(state.get("state", {}), sort_keys=True)],
            "run_id": [state.get("run_id", "")],
            "updated_at_utc": [pd.Timestamp.now(tz="UTC")],
        }
    )
    insert_df(client, "checkpoints", frame)


def archive(client: Any, raw: RawPayload, status: str, reason: str = "") -> None:
    """Store the payload's bytes and status in ``raw_payloads`` (a later status replaces an earlier one)."""
    frame = pd.DataFrame(
        {
            "source": [raw.source],
            "dataset": [raw.dataset],
            "sha256": [raw.sha256],
            "url": [raw.url],
            "request": [json.dumps(raw.meta, sort_keys=True)],
            "http_status": [raw.status],
            "content_type": [raw.content_type],
            "size_bytes": [len(raw.body)],
            "payload": [raw.body],
            "status": [status],
            "reason": [reason],
            "fetched_at_utc": [raw.fetched_at_utc],
            "ingested_at_utc": [pd.Timestamp.now(tz="UTC")],
        }
    )
    insert_df(client, "raw_payloads", frame)


def known_instruments(client: Any, source: str) -> set[str]:
    """Return the ids of the instruments a source has registered."""
    rows = client.query(
        "SELECT DISTINCT instrument_id FROM instruments FINAL WHERE source = {s:String}",
        parameters={"s": source},
    ).result_rows
    return {str(r[0]) for r in rows}


def register_instruments(client: Any, frame: pd.DataFrame, known: set[str]) -> int:
    """Store the instruments of ``frame`` not in ``known`` (updated in place); return how many [rows]."""
    if frame.empty:
        return 0
    new = frame[~frame["instrument_id"].isin(known)].drop_duplicates("instrument_id")
    if new.empty:
        return 0
    insert_df(client, "instruments", new)
    known.update(new["instrument_id"])
    return len(new)


def ingest(
    ingestor: Ingestor,
    request: PullRequest,
    store: Any,
    *,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunReport:
    """Ingest a window of one dataset, resuming from the dataset's watermark.

    Parameters
    ----------
    ingestor : Ingestor
        The connector (with its HTTP client).
    request : PullRequest
        Dataset and window; the part before the stored watermark is skipped.
    store : clickhouse_connect.driver.Client
        The store the payloads, rows and checkpoints are written to.
    run_id : str, optional
        Identifier written with the checkpoints (default: a new UUID).
    progress : callable, optional
        Receives one line per payload (e.g. ``print``).
    """
    t0 = time.perf_counter()
    client = store
    dataset = ingestor.discover().dataset(request.dataset)
    if dataset.table == LISTING:
        raise MarketIntelError(
            f"{ingestor.source}/{dataset.name} is a document listing, read by the connector to find "
            "documents; ingest the dataset it lists instead"
        )
    spec = get_table(dataset.table)
    report = RunReport(ingestor.source, dataset.name, run_id or str(uuid.uuid4()))
    known: set[str] | None = None  # read once, after the first rows are stored (they are not kept waiting)
    watermark = read_watermark(client, ingestor.source, dataset.name)
    if watermark is not None and watermark > request.start_utc:
        report.resumed_from_utc = watermark
        if watermark >= request.end_utc and not request.follow:
            report.watermark_utc = watermark
            report.seconds = time.perf_counter() - t0
            return report
        request = replace(request, start_utc=watermark)
    for raw in ingestor.pull_or_subscribe(request):
        report.payloads += 1
        archive(client, raw, "pending")
        try:
            frame = ingestor.map_to_schema(raw)
            if frame.empty:
                # an answer without rows (ENTSO-E's acknowledgement 999, Nord Pool's 204): the publisher has
                # nothing for this window *yet*. Checkpointing it would leave a gap behind the watermark, so
                # the run stops here and the next one asks again. A payload that carries no window (one
                # zone of several, the window riding on the last) is only archived: the run goes on.
                archive(client, raw, "no_data", "the publisher's answer holds no rows")
                if raw.window_end_utc is None:
                    if progress:
                        progress(f"  {raw.url}: no rows")
                    continue
                report.waiting_for = (raw.url, raw.window_start_utc)
                if progress:
                    progress(f"  {raw.url}: no rows yet; stopping here, the next run asks again")
                break
            validate_frame(spec, frame)
        except (ParseError, SchemaError, ValueError, KeyError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            archive(client, raw, "quarantined", reason)
            report.quarantined.append((raw.url, reason))
            if progress:
                progress(f"  QUARANTINED {raw.url}: {reason}")
        else:
            rows = insert_df(client, dataset.table, frame)
            report.rows += rows
            instruments = ingestor.instruments(frame, dataset)
            if len(instruments):
                known = known_instruments(client, ingestor.source) if known is None else known
                report.instruments += register_instruments(client, instruments, known)
            left_out = str(frame.attrs.get("left_out", ""))
            if left_out:  # what the mapping could not place, kept with the payload and reported
                archive(client, raw, "partial", left_out)
                report.partial.append((raw.url, left_out))
            else:
                archive(client, raw, "ok")
            if progress:
                progress(f"  {raw.url}: {rows:,} rows" + (f" (PARTIAL: {left_out})" if left_out else ""))
        if raw.window_end_utc is not None:
            write_checkpoint(
                client,
                ingestor.source,
                {"dataset": dataset.name, "watermark_utc": raw.window_end_utc, "run_id": report.run_id},
            )
            report.watermark_utc = raw.window_end_utc
    report.seconds = time.perf_counter() - t0
    return report
