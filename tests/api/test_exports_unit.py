"""The download center's links without a hub: signatures, owners, expiry and the clean-up of expired files.

An :class:`~marketintel.api.exports.ExportCenter` on a temporary folder holds one finished job (as its workers
leave it: a file and a JSON state); its signed link opens the file for its owner until it expires, and
``sweep`` deletes the file once it has. Refusals are reported to the audit trail (recorded here, not sent).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner

from marketintel.access import events
from marketintel.api import exports
from marketintel.api.auth import Caller
from marketintel.api.exports import ExportCenter, Job
from marketintel.api.problems import Problem
from marketintel.api.store import Clients

OWNER = Caller(name="alice")


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The audit events the center reports (recorded, not sent to a store)."""
    events_seen: list[dict[str, Any]] = []

    def record(kind: str, user: str, **fields: Any) -> int:
        events_seen.append({"kind": kind, "user": user, **fields})
        return len(events_seen)

    monkeypatch.setattr(events, "report", record)
    return events_seen


@pytest.fixture
def center(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ExportCenter:
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "mi-data"))  # the signing key: hub/secrets/api_exports
    directory = tmp_path / "exports"
    directory.mkdir()
    return ExportCenter(Clients(), directory=directory)


def finished(center: ExportCenter, expires_in_s: float, job_id: str = "0123456789abcdef") -> Job:
    """Add a done job of ``OWNER`` with a file, whose link expires in ``expires_in_s`` (negative: expired)."""
    now = time.time()
    job = Job(job_id, OWNER.name, "prices", "csv", {"start": "2024-01-01T00:00:00+00:00"}, state="done",
              rows=2, expected_rows=2, finished_at=now - 1, expires_at=now + expires_in_s)  # fmt: skip
    (center.directory / job.filename).write_text("price\n1.0\n2.0\n")
    job.bytes = (center.directory / job.filename).stat().st_size
    center.jobs[job.id] = job
    center._save(job)
    return job


def signature(link: str | None) -> str:
    assert link is not None
    return parse_qs(urlsplit(link).query)["signature"][0]


def refusal(center: ExportCenter, who: Caller, job_id: str, sig: str) -> str:
    with pytest.raises(Problem) as caught:
        center.open(who, job_id, sig)
    assert caught.value.status == 403, caught.value.detail
    return caught.value.detail


def wait_for(reported: list[dict[str, Any]], n: int) -> None:
    """Wait for ``n`` audit events (refusals are reported from a thread)."""
    deadline = time.monotonic() + 5
    while len(reported) < n:
        assert time.monotonic() < deadline, reported
        time.sleep(0.01)


def test_the_signing_key_is_a_private_hub_secret(center: ExportCenter, tmp_path: Path) -> None:
    key = tmp_path / "mi-data" / "hub" / "secrets" / "api_exports"
    assert key.is_file() and key.stat().st_mode & 0o077 == 0
    assert ExportCenter(Clients(), directory=center.directory).signer.secret_keys == center.signer.secret_keys


def test_a_link_opens_its_file_for_its_owner_only(
    center: ExportCenter, reported: list[dict[str, Any]]
) -> None:
    job = finished(center, 600)
    link = center.link(job)
    assert link is not None and link.startswith(f"/services/api/v1/exports/{job.id}/file?signature=")
    assert center.open(OWNER, job.id, signature(link)) is job
    assert reported[-1]["outcome"] == "ok" and reported[-1]["target"] == job.id

    detail = refusal(center, Caller(name="bob"), job.id, signature(link))
    assert "another user" in detail
    sig = signature(link)
    tampered = sig[:-5] + ("A" if sig[-5] != "A" else "B") + sig[-4:]
    assert "signature" in refusal(center, OWNER, job.id, tampered)
    other = finished(center, 600, job_id="fedcba9876543210")
    assert "another file" in refusal(center, OWNER, other.id, sig)  # a link is for its own job only
    wait_for(reported, 4)
    refused = [e for e in reported if e["outcome"] == "refused"]
    assert [(e["user"], e["target"]) for e in refused] == [
        ("bob", job.id), ("alice", job.id), ("alice", other.id),
    ]  # fmt: skip
    assert all(e["kind"] == "export" and e["detail"] for e in refused)


def test_an_expired_link_is_refused_and_sweep_deletes_its_file(
    center: ExportCenter, reported: list[dict[str, Any]]
) -> None:
    expired = finished(center, -1)
    alive = finished(center, 600, job_id="fedcba9876543210")
    sig = signature(center.link(expired))
    assert "expired" in refusal(center, OWNER, expired.id, sig)
    wait_for(reported, 1)
    assert reported[0]["outcome"] == "refused" and "expired" in reported[0]["detail"]

    assert center.sweep() == 1
    assert not (center.directory / expired.filename).exists()
    assert (center.directory / alive.filename).exists()  # a live link keeps its file
    assert expired.state == "expired" and center.link(expired) is None
    assert json.loads((center.directory / f"{expired.id}.json").read_text())["state"] == "expired"
    assert "expired" in refusal(center, OWNER, expired.id, sig)
    assert center.sweep() == 0  # once
    # the live one, swept later than its expiry
    assert center.sweep(now=time.time() + 601) == 1
    assert not (center.directory / alive.filename).exists()


def test_a_link_past_the_signers_age_is_refused(
    center: ExportCenter, reported: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = finished(center, 600)
    old = int(time.time()) - exports.LINK_TTL_S - 120  # signed long ago (its payload's expiry aside)
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda _self: old)
        sig = signature(center.link(job))
    assert "expired" in refusal(center, OWNER, job.id, sig)


def test_a_restarted_center_keeps_finished_jobs_and_fails_running_ones(center: ExportCenter) -> None:
    done = finished(center, 600)
    running = Job("aaaaaaaaaaaaaaaa", OWNER.name, "prices", "parquet", {}, state="running")
    (center.directory / running.filename).write_bytes(b"partial")
    center._save(running)
    again = ExportCenter(Clients(), directory=center.directory)
    assert again.jobs[done.id].state == "done"
    assert again.open(OWNER, done.id, signature(again.link(again.jobs[done.id]))).id == done.id
    assert again.jobs[running.id].state == "failed" and "restarted" in str(again.jobs[running.id].error)
    assert not (center.directory / running.filename).exists()
