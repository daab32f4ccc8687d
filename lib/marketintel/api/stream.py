"""The WebSocket price stream: new rows of a subscription pushed as they land, with backpressure.

``ws://<hub>/services/api/v1/stream/prices?market=SPP_RT&location=SPP_NORTH_HUB`` (repeat ``location``;
none: every location the caller may read). Authenticate with ``Authorization: Bearer`` on the upgrade
request, the API's login cookie, or ``?token=`` (browsers cannot set headers on a WebSocket).

Messages (JSON text):

- ``{"type": "subscribed", "market": ..., "locations": [...], "from": <watermark>}`` once;
- ``{"type": "rows", "data": [{...price row...}], "sent_at": ...}`` for every batch of new rows: new
  intervals and revisions, each once, oldest first (stamps ISO-8601 UTC);
- ``{"type": "lagged", "dropped_rows": N}`` when this client read too slowly and N rows were dropped for it
  (its queue holds :data:`QUEUE` messages); the stream then goes on with the newest rows;
- ``{"type": "error", ...}`` (a problem) before the server closes the socket.

Each subscription polls the store as its caller every :data:`POLL_S` seconds for rows ingested after its
watermark (with a :data:`OVERLAP_S` look-back and de-duplication, so a row whose insert commits late is
not missed), so a row reaches the client within about one poll plus the read. A slow client fills only
its own queue: the poller never waits for a socket, and other clients are not slowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from marketintel.api import formats
from marketintel.api.auth import HubIdentity
from marketintel.api.limiter import Limiter
from marketintel.api.problems import Problem, store_problem
from marketintel.api.store import Clients
from marketintel.services import feeds

log = logging.getLogger(__name__)

#: how often a subscription reads the store [s]
POLL_S = 0.25
#: look-back of each poll on ingested_at_utc, for inserts that commit after a later one [s]
OVERLAP_S = 2.0
#: messages a client's queue holds before the oldest are dropped for it
QUEUE = 64


class _Seen:
    """Keys of rows pushed within the look-back, so the overlap does not push a row twice."""

    def __init__(self) -> None:
        self.keys: dict[tuple[Any, ...], pd.Timestamp] = {}

    def fresh(self, df: pd.DataFrame, horizon: pd.Timestamp) -> pd.DataFrame:
        for key, at in list(self.keys.items()):
            if at < horizon:
                del self.keys[key]
        if df.empty:
            return df
        keys = list(
            zip(df["location"], df["interval_start_utc"], df["revision"], df["published_at_utc"],
                df["ingested_at_utc"], strict=True)
        )  # fmt: skip
        mask = [k not in self.keys for k in keys]
        for key, at in zip(keys, df["ingested_at_utc"], strict=True):
            self.keys[key] = at
        return df[mask]


def routes(router: APIRouter, hub: HubIdentity, clients: Clients, limits: Limiter) -> None:
    """Add ``/stream/prices`` to ``router``."""

    @router.websocket("/stream/prices")
    async def stream_prices(
        ws: WebSocket,
        market: Annotated[str, Query()],
        location: Annotated[list[str] | None, Query()] = None,
        token: Annotated[str | None, Query()] = None,
    ) -> None:
        if token and "authorization" not in ws.headers:
            ws.scope["headers"] = [*ws.scope["headers"], (b"authorization", f"Bearer {token}".encode())]
        try:
            who = await hub.caller(ws)
            limits.check(who.name)
            await run_in_threadpool(clients.require, who.name, "prices", market, location)
            client = await run_in_threadpool(clients.user, who.name)
            start = await run_in_threadpool(feeds.last_ingested, client, market)
        except Problem as problem:
            await ws.accept()
            body = {
                "type": "error",
                "status": problem.status,
                "title": problem.title,
                "detail": problem.detail,
            }
            await ws.send_text(json.dumps(body))
            await ws.close(code=4000 + problem.status)
            return
        await ws.accept()
        watermark = start if start is not None else pd.Timestamp.now(tz="UTC")
        await ws.send_text(
            json.dumps(
                {
                    "type": "subscribed",
                    "market": market,
                    "locations": location or [],
                    "from": watermark.isoformat(),
                }
            )
        )
        queue: deque[str] = deque()
        dropped = 0
        ready = asyncio.Event()
        closed = asyncio.Event()

        async def sender() -> None:
            nonlocal dropped
            while not closed.is_set():
                await ready.wait()
                ready.clear()
                while queue:
                    if dropped:
                        lost, dropped = dropped, 0
                        await ws.send_text(json.dumps({"type": "lagged", "dropped_rows": lost}))
                    await ws.send_text(queue.popleft())

        async def receiver() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await ws.receive_text()  # pings and anything else the client sends are ignored

        seen = _Seen()
        # rows already in the look-back when the subscription starts are history, not news: mark them seen
        horizon = watermark - pd.Timedelta(seconds=OVERLAP_S)
        try:
            seen.fresh(await run_in_threadpool(feeds.new_prices, client, market, location, horizon), horizon)
        except Exception as exc:  # the poller retries; a store error here only loses the de-duplication
            log.warning("price stream of %s: first read failed: %s", who.name, exc)

        async def poller() -> None:
            nonlocal watermark, dropped
            while not closed.is_set():
                began = time.monotonic()
                since = watermark - pd.Timedelta(seconds=OVERLAP_S)
                try:
                    df = await run_in_threadpool(feeds.new_prices, client, market, location, since)
                except Exception as exc:
                    problem = store_problem(exc)
                    if problem is None:
                        raise
                    await asyncio.sleep(
                        (problem.headers and float(problem.headers.get("Retry-After", 1))) or 1
                    )
                    continue
                fresh = seen.fresh(df, since)
                if not fresh.empty:
                    watermark = max(watermark, pd.Timestamp(fresh["ingested_at_utc"].max()))
                    rows = "[" + formats.rows_json(next(formats.frame_batches(fresh))) + "]"
                    now = pd.Timestamp.now(tz="UTC").isoformat()
                    message = f'{{"type":"rows","sent_at":"{now}","data":{rows}}}'
                    queue.append(message)
                    while len(queue) > QUEUE:  # backpressure: this client is slow; drop its oldest
                        dropped += json.loads(queue.popleft()).get("data", []).__len__()
                    ready.set()
                await asyncio.sleep(max(0.0, POLL_S - (time.monotonic() - began)))

        tasks = [asyncio.create_task(t()) for t in (sender, receiver, poller)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None and not isinstance(task.exception(), WebSocketDisconnect):
                    log.warning("price stream of %s ended: %s", who.name, task.exception())
        finally:
            closed.set()
            ready.set()
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
