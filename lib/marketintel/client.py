"""A thin Python client of the platform's HTTP API: DataFrames in, Arrow under the hood.

For programs and notebooks outside the hub (and inside it: a quant's server has ``MI_API_URL`` and a token
that opens the API in ``JUPYTERHUB_API_TOKEN``):

>>> from marketintel.client import Client  # doctest: +SKIP
>>> api = Client("http://127.0.0.1:8000", token)  # doctest: +SKIP
>>> api.ticks("SPP_RT", ["SPP_NORTH_HUB"], "2024-06-01", "2024-06-02")  # doctest: +SKIP

Every read asks for Arrow IPC (``Accept: application/vnd.apache.arrow.stream``) and returns a
:class:`pandas.DataFrame` whose timestamps are tz-aware UTC; the answer's metadata (units, knowledge time,
lineage) is in ``df.attrs``. Errors come back as :class:`APIError` with the API's problem+json ``detail``
(what was wrong and what is allowed). Answers 429 and 503 are retried after their ``Retry-After``, a few
times, before they are raised.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa

from marketintel.exceptions import MarketIntelError

__all__ = ["APIError", "Client"]

ARROW = "application/vnd.apache.arrow.stream"


class APIError(MarketIntelError):
    """The API refused a request.

    Attributes
    ----------
    status : int
        HTTP status (400 bad parameter, 401 token, 403 entitlement, 404, 413 too large, 429, 503).
    title, detail : str
        The problem's title and what was wrong.
    problem : dict
        The whole problem+json body (``allowed``, ``limit``, ...).
    """

    def __init__(self, status: int, title: str, detail: str, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.problem = problem


def _api_base(url: str) -> str:
    base = url.rstrip("/")
    return base if base.endswith("/services/api") else base + "/services/api"


class Client:
    """The API of one hub, as one user.

    Parameters
    ----------
    url : str, optional
        The hub's address (``http://127.0.0.1:8000``) or the API's (``.../services/api``). Default
        ``MI_API_URL``.
    token : str, optional
        A Hub API token (``mi hub token NAME`` or the Hub's token page). Default ``MI_API_TOKEN``, else
        ``JUPYTERHUB_API_TOKEN`` (a quant's server).
    timeout_s : float
        Per-request timeout [s].
    retries : int
        How often a 429 or 503 is retried after its ``Retry-After`` before :class:`APIError` is raised.

    Raises
    ------
    ValueError
        Without a URL or a token.
    """

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout_s: float = 120.0, retries: int = 3
    ) -> None:
        url = url or os.environ.get("MI_API_URL")
        token = token or os.environ.get("MI_API_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN")
        if not url:
            raise ValueError("no API URL: pass url='http://<hub>' or set MI_API_URL")
        if not token:
            raise ValueError(
                "no token: pass token=... (make one with `mi hub token NAME`) or set MI_API_TOKEN"
            )
        self.url = _api_base(url)
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.url + "/v1", headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    # -- plumbing -----------------------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            response = self._http.request(method, path, **kwargs)
            if response.status_code in (429, 503) and attempt < self.retries:
                time.sleep(min(30.0, float(response.headers.get("retry-after", "1") or 1)))
                continue
            if response.status_code >= 400:
                try:
                    body = response.json()
                except ValueError:
                    body = {"title": response.reason_phrase, "detail": response.text[:500]}
                raise APIError(
                    response.status_code, str(body.get("title", "")), str(body.get("detail", "")), body
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _frame(self, path: str, params: dict[str, Any]) -> pd.DataFrame:
        query = {k: v for k, v in params.items() if v is not None}
        response = self._send("GET", path, params=query, headers={"Accept": ARROW})
        table = pa.ipc.open_stream(response.content).read_all()
        meta = json.loads((table.schema.metadata or {}).get(b"marketintel", b"{}"))
        df: pd.DataFrame = table.to_pandas(types_mapper=None)
        df.attrs.update(meta)
        return df

    def _pages(self, path: str, params: dict[str, Any]) -> pd.DataFrame:
        """Read every page of a listing (following ``next``)."""
        frames = []
        cursor = None
        while True:
            page = self._frame(path, {**params, "cursor": cursor})
            frames.append(page)
            cursor = page.attrs.get("next")
            if not cursor:
                break
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        out.attrs = {k: v for k, v in frames[0].attrs.items() if k != "next"}
        return out

    # -- reads --------------------------------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        """Return who the token belongs to and what their entitlement opens."""
        return dict(self._send("GET", "/me").json())

    def ticks(
        self,
        market: str,
        locations: str | Sequence[str],
        start: Any,
        end: Any,
        *,
        resolution: str = "raw",
        as_of: Any = None,
    ) -> pd.DataFrame:
        """Return prices of ``market`` at ``locations`` in ``[start, end)`` (``raw``, ``hourly``, ``daily``).

        ``as_of`` hides revisions published later. Prices are in ``df.attrs["units"]["price"]``.
        """
        places = [locations] if isinstance(locations, str) else list(locations)
        return self._frame(
            "/prices/ticks",
            {"market": market, "location": places, "start": _stamp(start), "end": _stamp(end),
             "resolution": resolution, "as_of": _stamp(as_of)},
        )  # fmt: skip

    def latest(self, market: str, locations: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Return the latest price of each location of ``market`` (default: all you may read)."""
        places = [locations] if isinstance(locations, str) else locations
        return self._frame("/prices/latest", {"market": market, "location": places})

    def instruments(
        self, market: str | Sequence[str] | None = None, type: str | None = None, location: str | None = None
    ) -> pd.DataFrame:
        """Return instruments (every page), filtered by market, location type and name or glob pattern."""
        markets = [market] if isinstance(market, str) else market
        return self._pages("/instruments", {"market": markets, "type": type, "location": location})

    def curve(
        self, product: str, *, as_of: Any = None, version: int | None = None, granularity: str = "native"
    ) -> pd.DataFrame:
        """Return a forward curve version (``df.attrs["lineage"]``: its run, cutoff, version)."""
        return self._frame(
            "/curves/forward",
            {"product": product, "as_of": _stamp(as_of), "version": version, "granularity": granularity},
        )

    def fundamentals(
        self,
        market: str,
        variables: str | Sequence[str],
        area: str,
        start: Any,
        end: Any,
        *,
        resolution: str = "raw",
        as_of: Any = None,
    ) -> pd.DataFrame:
        """Return fundamentals (load, generation, ...) of ``area`` in ``[start, end)``."""
        names = [variables] if isinstance(variables, str) else list(variables)
        return self._frame(
            "/fundamentals",
            {"market": market, "variable": names, "area": area, "start": _stamp(start), "end": _stamp(end),
             "resolution": resolution, "as_of": _stamp(as_of)},
        )  # fmt: skip

    def forecasts(self, market: str, **filters: Any) -> pd.DataFrame:
        """Return stored forecasts of ``market`` (filters: location, model, variable, start, end, as_of)."""
        return self._frame("/forecasts", {"market": market, **{k: _stamp(v) for k, v in filters.items()}})

    def backtest_metrics(self, run_id: str, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Return the accuracy metrics of a backtest run."""
        return self._frame(f"/backtests/{run_id}/metrics", {"metric": list(metrics) if metrics else None})

    def quality(self, **filters: Any) -> pd.DataFrame:
        """Return data-quality results, newest first (filters: table, market, status, latest_only)."""
        return self._pages("/quality", filters)

    def alerts(self, **filters: Any) -> pd.DataFrame:
        """Return alerts, newest first (filters: status, severity, market, since)."""
        return self._pages("/alerts", {k: _stamp(v) for k, v in filters.items()})

    # -- exports ------------------------------------------------------------------------------------------
    def export(
        self,
        dataset: str,
        start: Any,
        end: Any,
        *,
        markets: Sequence[str] = (),
        locations: Sequence[str] = (),
        as_of: Any = None,
        format: str = "parquet",
        path: str | Path | None = None,
        wait_s: float = 3600.0,
    ) -> Path:
        """Export a dataset through the download center and download the file; return its path.

        Needs the export right. The file is streamed to ``path`` (default: the current folder, the name the
        API gives it) without holding it in memory.
        """
        body = {"dataset": dataset, "start": _stamp(start), "end": _stamp(end), "markets": list(markets),
                "locations": list(locations), "as_of": _stamp(as_of), "format": format}  # fmt: skip
        job = self._send("POST", "/exports", json=body).json()
        deadline = time.monotonic() + wait_s
        while job["state"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"export {job['id']} not done after {wait_s:.0f} s (state {job['state']})")
            time.sleep(0.5)
            job = self._send("GET", f"/exports/{job['id']}").json()
        if job["state"] != "done":
            raise APIError(500, "Export failed", str(job.get("error")), job)
        target = Path(path) if path is not None else Path(f"{dataset}-{job['id']}.{format}")
        link = self.url.rsplit("/services/api", 1)[0] + job["url"]
        with self._http.stream("GET", link) as response:
            if response.status_code >= 400:
                response.read()
                raise APIError(response.status_code, "Download refused", response.text[:500], {})
            with target.open("wb") as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
        return target

    def close(self) -> None:
        """Close the connection."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stamp(value: Any) -> Any:
    """Return a time as ISO-8601 text (naive values are UTC); other values unchanged."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()
    return value
