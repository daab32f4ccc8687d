"""The shared HTTP client: rate limits, retries with backoff, record and replay (against a local server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from marketintel.ingest.http import FetchError, HttpClient, RecordingMissingError


class _Publisher(BaseHTTPRequestHandler):
    calls: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        n = self.calls[path] = self.calls.get(path, 0) + 1
        if path == "/flaky" and n <= 2:
            self._reply(429, b"slow down", {"Retry-After": "0"})
        elif path == "/down":
            self._reply(503, b"maintenance")
        elif path == "/missing":
            self._reply(404, b"no such report")
        elif path == "/slow":
            time.sleep(0.5)
            self._reply(200, b"late")
        else:
            self._reply(200, f"data for {self.path}".encode(), {"Content-Type": "text/csv"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = self.rfile.read(length).decode()
        self.calls[self.path] = self.calls.get(self.path, 0) + 1
        self._reply(200, f"answer to {form}".encode(), {"Content-Type": "application/json"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def publisher() -> Iterator[str]:
    _Publisher.calls = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Publisher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_retries_on_429_and_5xx_then_gives_up_with_the_reason(publisher: str) -> None:
    http = HttpClient(retries=3, backoff_s=0.01)
    assert http.get("src", f"{publisher}/flaky", min_interval_s=0).body == b"data for /flaky"
    assert _Publisher.calls["/flaky"] == 3
    with pytest.raises(FetchError, match=r"failed after 4 attempts; last: HTTP 503"):
        http.get("src", f"{publisher}/down", min_interval_s=0)
    with pytest.raises(FetchError, match="HTTP 404: no such report"):
        http.get("src", f"{publisher}/missing", min_interval_s=0)
    assert _Publisher.calls["/missing"] == 1  # a 404 is an answer, not a transient failure
    slow = HttpClient(retries=1, backoff_s=0.01, timeout_s=0.1)
    with pytest.raises(FetchError, match="ReadTimeout"):
        slow.get("src", f"{publisher}/slow", min_interval_s=0)
    http.close()
    slow.close()


def test_rate_limit_is_per_source(publisher: str) -> None:
    http = HttpClient()
    t0 = time.monotonic()
    for _ in range(3):
        http.get("caiso", f"{publisher}/a", min_interval_s=0.25)
    assert time.monotonic() - t0 >= 0.5
    t1 = time.monotonic()
    # another source does not wait: with a shared limiter this would wait up to 60 s (a bound, not a timing)
    http.get("pjm", f"{publisher}/b", min_interval_s=60)
    http.get("isone", f"{publisher}/b", min_interval_s=60)
    assert time.monotonic() - t1 < 30
    http.close()


def test_record_then_replay_checks_the_request(publisher: str, tmp_path: Path) -> None:
    rec = HttpClient("record", tmp_path / "rec")
    live = rec.get("src", f"{publisher}/report", {"day": "2024-03-31", "node": "HUB"}, min_interval_s=0)
    with pytest.raises(FetchError, match="HTTP 404"):
        rec.get("src", f"{publisher}/missing", min_interval_s=0)
    rec.close()
    replay = HttpClient("replay", tmp_path / "rec")
    again = replay.get("src", f"{publisher}/report", {"node": "HUB", "day": "2024-03-31"})  # order-free
    assert (again.body, again.status, again.content_type) == (live.body, 200, "text/csv")
    with pytest.raises(RecordingMissingError, match=r"day=2024-04-01[\s\S]*recorded:[\s\S]*day=2024-03-31"):
        replay.get("src", f"{publisher}/report", {"day": "2024-04-01", "node": "HUB"})
    with pytest.raises(FetchError, match=r"HTTP 404 \(recorded\)"):  # replayed refusals stay errors
        replay.get("src", f"{publisher}/missing")
    assert _Publisher.calls == {"/report": 1, "/missing": 1}  # replay never touched the network


def test_form_posts_record_and_replay_without_their_volatile_fields(publisher: str, tmp_path: Path) -> None:
    rec = HttpClient("record", tmp_path / "rec")
    form = {"_nstmp_requestType": "systemload", "_nstmp_startDate": "03/17/2025", "_nstmp_formDate": "1"}
    live = rec.post("src", f"{publisher}/ws", form, min_interval_s=0, volatile=("_nstmp_formDate",))
    assert live.body.startswith(b"answer to ") and b"systemload" in live.body  # the form reached the server
    rec.close()
    replay = HttpClient("replay", tmp_path / "rec")
    later = {**form, "_nstmp_formDate": "1742222222"}  # a new cache-busting stamp: same recorded request
    assert replay.post("src", f"{publisher}/ws", later, volatile=("_nstmp_formDate",)).body == live.body
    with pytest.raises(RecordingMissingError, match="POST"):
        replay.post(
            "src",
            f"{publisher}/ws",
            {**later, "_nstmp_startDate": "03/18/2025"},
            volatile=("_nstmp_formDate",),
        )
    assert _Publisher.calls == {"/ws": 1}


def test_secret_query_parameters_are_sent_but_never_recorded(publisher: str, tmp_path: Path) -> None:
    rec = HttpClient("record", tmp_path / "rec")
    params = {"documentType": "A44"}
    live = rec.get("src", f"{publisher}/api", params, min_interval_s=0, secret_params={"securityToken": "s3"})
    assert b"securityToken=s3" in live.body  # the server got the token
    assert "s3" not in live.url and "documentType=A44" in live.url
    rec.close()
    index = (tmp_path / "rec" / "index.json").read_text()  # (this test server echoes the query in the body)
    assert "s3" not in index and "securityToken" not in index
    replay = HttpClient("replay", tmp_path / "rec")  # replays without the token
    assert replay.get("src", f"{publisher}/api", params).body == live.body
