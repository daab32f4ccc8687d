"""The one HTTP client of every connector: per-source rate limits, retries, and a recorder.

Modes
-----
``live``
    Requests go to the publisher.
``record``
    Requests go to the publisher and each response is written to the recordings folder.
``replay``
    Responses come from the recordings folder; a request that was not recorded fails with the list of
    what was, so a connector that builds a different request than before is caught.

A recording folder holds ``index.json`` (request key -> response file, status, content type) and the
response bodies, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

import httpx

from marketintel.exceptions import MarketIntelError

Mode = Literal["live", "record", "replay"]
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class FetchError(MarketIntelError):
    """A request failed after its retries, or was refused by the publisher."""


class RecordingMissingError(FetchError):
    """Replay: the connector asked for a request that is not in the recording."""


@dataclass(frozen=True)
class Response:
    """What came back: status, body and content type, for the URL asked."""

    url: str
    status: int
    body: bytes
    content_type: str


def request_key(method: str, url: str, params: dict[str, str] | None) -> str:
    """Return the canonical form of a request (method, URL, sorted parameters)."""
    query = urlencode(sorted((params or {}).items()))
    return f"{method.upper()} {url}" + (f"?{query}" if query else "")


class HttpClient:
    """Shared HTTP client with per-source rate limits, retries with exponential backoff, and a recorder.

    Parameters
    ----------
    mode : {"live", "record", "replay"}
        See the module docstring.
    recordings : Path, optional
        The recordings folder (required for ``record`` and ``replay``).
    timeout_s : float
        Per-request timeout [s].
    retries : int
        Retries after a timeout, a connection error, HTTP 429 or 5xx.
    backoff_s : float
        First retry delay [s]; doubled each time, or the server's ``Retry-After`` when it gives one.
    """

    def __init__(
        self,
        mode: Mode = "live",
        recordings: Path | None = None,
        *,
        timeout_s: float = 60.0,
        retries: int = 4,
        backoff_s: float = 1.0,
    ) -> None:
        if mode not in ("live", "record", "replay"):
            raise ValueError(f"mode must be 'live', 'record' or 'replay', got {mode!r}")
        if mode != "live" and recordings is None:
            raise ValueError(f"mode {mode!r} needs a recordings folder")
        self.mode = mode
        self.recordings = recordings
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=True) if mode != "replay" else None
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._index: dict[str, dict[str, str | int]] = {}
        if recordings is not None and (recordings / "index.json").exists():
            self._index = json.loads((recordings / "index.json").read_text())
        self.requests = 0

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            self._client.close()

    def _wait_turn(self, source: str, min_interval_s: float) -> None:
        with self._lock:
            now = time.monotonic()
            due = self._last.get(source, -1e9) + min_interval_s
            self._last[source] = max(now, due)
        if due > now:
            time.sleep(due - now)

    def get(
        self,
        source: str,
        url: str,
        params: dict[str, str] | None = None,
        *,
        min_interval_s: float = 1.0,
        headers: dict[str, str] | None = None,
        secret_params: dict[str, str] | None = None,
    ) -> Response:
        """GET ``url`` for ``source``, at most one request per ``min_interval_s`` for that source.

        ``headers`` and ``secret_params`` (API keys and tokens the publisher wants in the query, such as
        ENTSO-E's ``securityToken``) are sent but are not part of the recorded request, so that recordings
        hold no secrets and replay without them.

        Raises
        ------
        RecordingMissingError
            In replay, when the request was not recorded.
        FetchError
            When retries are exhausted or the publisher answers 4xx (other than 429).
        """
        return self._fetch("GET", source, url, params, None, min_interval_s, headers, (), secret_params)

    def post(
        self,
        source: str,
        url: str,
        data: dict[str, str],
        *,
        min_interval_s: float = 1.0,
        headers: dict[str, str] | None = None,
        volatile: tuple[str, ...] = (),
    ) -> Response:
        """POST the form ``data`` to ``url`` for ``source`` (web clients that answer forms only).

        ``volatile`` names form fields left out of the recorded request (a cache-busting timestamp, say),
        so that a recording replays whatever their value.

        Raises
        ------
        RecordingMissingError
            In replay, when the request was not recorded.
        FetchError
            When retries are exhausted or the publisher answers 4xx (other than 429).
        """
        return self._fetch("POST", source, url, None, data, min_interval_s, headers, volatile)

    def _fetch(
        self,
        method: str,
        source: str,
        url: str,
        params: dict[str, str] | None,
        data: dict[str, str] | None,
        min_interval_s: float,
        headers: dict[str, str] | None,
        volatile: tuple[str, ...],
        secret_params: dict[str, str] | None = None,
    ) -> Response:
        recorded = params if data is None else {k: v for k, v in data.items() if k not in volatile}
        sent = {**(params or {}), **secret_params} if secret_params else params
        key = request_key(method, url, recorded)
        if self.mode == "replay":
            return self._replay(key, url)
        assert self._client is not None
        delay = self.backoff_s
        last_problem = ""
        for attempt in range(self.retries + 1):
            self._wait_turn(source, min_interval_s)
            self.requests += 1
            try:
                if method == "GET":
                    resp = self._client.get(url, params=sent, headers=headers)
                else:
                    resp = self._client.post(url, params=params, data=data, headers=headers)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code not in RETRY_STATUSES:
                    shown = resp.url
                    for name in secret_params or {}:
                        shown = shown.copy_remove_param(name)
                    out = Response(
                        str(shown), resp.status_code, resp.content, resp.headers.get("content-type", "")
                    )
                    if self.mode == "record":
                        self._record(key, out)
                    if resp.status_code >= 400:
                        raise FetchError(
                            f"{source}: {url} answered HTTP {resp.status_code}: {resp.text[:200]}"
                        )
                    return out
                last_problem = f"HTTP {resp.status_code}"
                retry_after = resp.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        raise FetchError(f"{source}: {url} failed after {self.retries + 1} attempts; last: {last_problem}")

    def _record(self, key: str, resp: Response) -> None:
        assert self.recordings is not None
        self.recordings.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:16] + ".body"
        (self.recordings / name).write_bytes(resp.body)
        with self._lock:
            self._index[key] = {"file": name, "status": resp.status, "content_type": resp.content_type}
            (self.recordings / "index.json").write_text(json.dumps(self._index, indent=1, sort_keys=True))

    def _replay(self, key: str, url: str) -> Response:
        entry = self._index.get(key)
        if entry is None:
            known = "\n  ".join(sorted(self._index)) or "(the recording is empty)"
            raise RecordingMissingError(
                f"not in the recording {self.recordings}: {key}\nrecorded:\n  {known}"
            )
        assert self.recordings is not None
        self.requests += 1
        body = (self.recordings / str(entry["file"])).read_bytes()
        status = int(entry["status"])
        if status >= 400:  # as live: a recorded refusal is an error, not data
            raise FetchError(f"{url} answered HTTP {status} (recorded): {body[:200]!r}")
        return Response(url, status, body, str(entry.get("content_type", "")))
