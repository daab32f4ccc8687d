"""The HTTP API and download center through the real hub: ``/services/api/v1/...`` as programs call it.

Every request goes through the Hub's proxy to the managed service ``api`` with a token that ``mi hub token``
made, and what it answers is checked against the store read directly with an admin client and the
services' own query functions: the four formats of a price series agree with ``queries.price_series``, an
export's file holds the store's rows, a row inserted into the store reaches a WebSocket subscriber.

Found while writing these (2026-12-07): the docs page ``/services/api/docs`` was blank offline, because
FastAPI's Swagger UI page loads its JavaScript and CSS from a CDN; the API now serves them itself.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import websockets

from marketintel.services import curves as curve_service
from marketintel.services import queries
from marketintel.store.insert import insert_df
from tests.hub.browsing import Screens, admin_client, login, wait_until
from tests.hub.conftest import WAIT_S, Platform

pytestmark = pytest.mark.slow

V1 = "/services/api/v1"
MARKET, LOCATION = "NORDPOOL_DA", "SYS"
#: the demo's Nord Pool system prices: 672 hourly rows, 2018-11-26T23:00Z .. 2018-12-24T22:00Z
WINDOW = {
    "market": MARKET,
    "location": LOCATION,
    "start": "2018-11-26T00:00:00Z",
    "end": "2018-12-25T00:00:00Z",
}
DEMO_ROWS = 672
MEDIA = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


class Api:
    """The API through the hub's proxy, with one ``mi hub token`` per user (made on first use)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.http = httpx.Client(base_url=platform.url, timeout=WAIT_S)
        self.tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self.tokens:
            done = self.platform.mi("hub", "token", user)
            assert done.returncode == 0, done.stdout + done.stderr
            self.tokens[user] = done.stdout.strip()
        return self.tokens[user]

    def headers(self, user: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return {**auth, **(extra or {})}

    def get(self, path: str, user: str | None = "demo-trader", *, headers: dict[str, str] | None = None,
            **kw: Any) -> httpx.Response:  # fmt: skip
        return self.http.get(path if path.startswith("/services") else V1 + path,
                             headers=self.headers(user, headers), **kw)  # fmt: skip

    def post(self, path: str, user: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(V1 + path, headers=self.headers(user), json=body)


@pytest.fixture(scope="module")
def api(platform: Platform) -> Iterator[Api]:
    client = Api(platform)
    yield client
    client.http.close()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Check that ``response`` is an RFC 9457 problem of ``status``; return its body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"], body
    return dict(body)


# ------------------------------------------------------------------------------------------------------------
# Tokens
# ------------------------------------------------------------------------------------------------------------
def test_mi_hub_token_opens_the_api_and_no_token_or_a_bad_one_is_401(platform: Platform, api: Api) -> None:
    done = platform.mi("hub", "token", "demo-trader")
    assert done.returncode == 0, done.stdout + done.stderr
    token = done.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32,}", token), done.stdout
    assert "Authorization: Bearer" in done.stderr
    me = api.http.get(V1 + "/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "demo-trader" and "traders" in me.json()["groups"]
    assert "prices" in me.json()["exports"]
    api.tokens["demo-trader"] = token  # the other tests' token of the trader

    missing = problem(api.get("/me", None), 401)
    assert "mi hub token" in missing["detail"]
    assert api.get("/me", None).headers["www-authenticate"].startswith("Bearer")
    problem(api.get("/me", None, headers={"Authorization": "Bearer not-a-hub-token-0123456789"}), 401)
    problem(api.get("/prices/ticks", None, params=WINDOW), 401)  # data routes too, before any validation
    # only the trusted dashboards service may act for someone else: a user's header is refused, not ignored
    acting = problem(api.get("/me", headers={"X-MI-Act-For": "demo-admin"}), 403)
    assert "act for" in acting["detail"]
    assert api.get("/services/api/health", None).json()["status"] == "ok"  # liveness needs no token


# ------------------------------------------------------------------------------------------------------------
# Prices in four formats
# ------------------------------------------------------------------------------------------------------------
def _decoded(fmt: str, response: httpx.Response) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return the rows of a response in ``fmt`` and its metadata (JSON's meta, Arrow's schema metadata)."""
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith(MEDIA[fmt]), response.headers
    if fmt == "json":
        body = response.json()
        return pd.DataFrame(body["data"]), body["meta"]
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(response.content)), json.loads(response.headers["x-units"])
    table = (
        pq.read_table(io.BytesIO(response.content))
        if fmt == "parquet"
        else pa.ipc.open_stream(response.content).read_all()
    )
    meta = json.loads((table.schema.metadata or {})[b"marketintel"])
    return table.to_pandas(), meta


def _normalized(df: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """Return ``df``'s columns as ``like`` types them: UTC stamps [ms], float numbers, strings."""
    out = {}
    for name in like.columns:
        column, model = df[name], like[name]
        if isinstance(model.dtype, pd.DatetimeTZDtype):
            out[name] = pd.to_datetime(column, utc=True).astype("datetime64[ms, UTC]")
        elif pd.api.types.is_numeric_dtype(model.dtype):
            out[name] = pd.to_numeric(column.astype(object).where(column.notna(), None)).astype("float64")
        else:
            out[name] = column.astype("string")
    return pd.DataFrame(out).reset_index(drop=True)


@pytest.mark.parametrize(
    ("resolution", "native", "rows"), [("raw", "native", DEMO_ROWS), ("hourly", "hourly", DEMO_ROWS),
                                       ("daily", "daily", 29)],
)  # fmt: skip
def test_ticks_in_json_csv_parquet_and_arrow_agree_with_the_store(
    platform: Platform, api: Api, resolution: str, native: str, rows: int
) -> None:
    stored = queries.price_series(
        admin_client(platform), MARKET, LOCATION, WINDOW["start"], WINDOW["end"], resolution=native
    )
    assert len(stored) == rows
    units = {"price": " | ".join(sorted(set(stored["unit"])))}
    expected = _normalized(stored, stored)
    for fmt, media in MEDIA.items():
        response = api.get("/prices/ticks", params={**WINDOW, "resolution": resolution},
                           headers={"Accept": media})  # fmt: skip
        df, meta = _decoded(fmt, response)
        assert list(df.columns) == list(stored.columns), fmt
        if fmt in ("json", "csv"):  # text stamps: ISO-8601 in UTC with a Z
            for name in ("interval_start_utc", "interval_end_utc"):
                assert all(ISO_Z.match(str(v)) for v in df[name]), (fmt, df[name].head(3).tolist())
        if fmt == "csv":
            assert meta == units, fmt
        else:
            assert meta["units"] == units and meta["resolution"] == resolution, (fmt, meta)
        pd.testing.assert_frame_equal(_normalized(df, stored), expected, check_exact=False, rtol=1e-12,
                                      obj=f"{fmt} {resolution}")  # fmt: skip


def test_format_parameter_overrides_accept_and_an_unacceptable_accept_is_406(api: Api) -> None:
    response = api.get(
        "/prices/ticks", params={**WINDOW, "format": "csv"}, headers={"Accept": "application/json"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    assert len(pd.read_csv(io.BytesIO(response.content))) == DEMO_ROWS
    parquet = api.get("/prices/ticks", params={**WINDOW, "format": "parquet"}, headers={"Accept": "text/csv"})
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == DEMO_ROWS
    assert (
        api.get("/prices/ticks", params=WINDOW, headers={"Accept": "*/*"}).json()["meta"]["market"] == MARKET
    )
    refused = problem(api.get("/prices/ticks", params=WINDOW, headers={"Accept": "image/png"}), 406)
    offered = [m.split(";")[0] for m in refused["allowed"]]  # media types (CSV's with its charset)
    assert sorted(offered) == sorted(MEDIA.values()), refused
    assert "image/png" in refused["detail"]
    bad = problem(api.get("/prices/ticks", params={**WINDOW, "format": "xlsx"}), 400)
    assert "format" in bad["detail"]


# ------------------------------------------------------------------------------------------------------------
# Errors and entitlements
# ------------------------------------------------------------------------------------------------------------
def test_bad_parameters_are_400_problems_that_say_what_is_allowed(api: Api) -> None:
    unknown = problem(api.get("/prices/ticks", params={**WINDOW, "market": "NO_SUCH_MARKET"}), 400)
    assert MARKET in unknown["allowed"] and "NO_SUCH_MARKET" in unknown["detail"], unknown
    long = problem(api.get("/prices/ticks", params={**WINDOW, "end": "2019-12-31T00:00:00Z"}), 400)
    assert long["limit_days"] == 31 and "31 days" in long["detail"], long
    hourly = api.get(
        "/prices/ticks", params={**WINDOW, "end": "2019-06-01T00:00:00Z", "resolution": "hourly"}
    )
    assert hourly.status_code == 200, hourly.text  # 187 days: within the hourly limit (366 days)
    assert len(hourly.json()["data"]) == DEMO_ROWS
    for start in ("not-a-time", "2018-13-45T00:00:00Z"):
        bad = problem(api.get("/prices/ticks", params={**WINDOW, "start": start}), 400)
        assert "start" in bad["detail"] and "ISO-8601" in bad["detail"], bad
    backwards = problem(api.get("/prices/ticks", params={**WINDOW, "end": "2018-11-01T00:00:00Z"}), 400)
    assert "must be after" in backwards["detail"]
    missing = problem(api.get("/prices/ticks", params={"market": MARKET}), 400)
    assert {e["parameter"] for e in missing["errors"]} >= {"location", "start", "end"}, missing
    problem(api.get("/prices/ticks", params={**WINDOW, "resolution": "weekly"}), 400)


def test_the_pilot_asking_for_nord_pool_gets_403_naming_the_entitlement(api: Api) -> None:
    refused = problem(api.get("/prices/ticks", "demo-pilot", params=WINDOW), 403)
    assert "entitlement" in refused["detail"] and MARKET in refused["detail"], refused
    assert refused["allowed"] and all(m.startswith("SPP") for m in refused["allowed"]), refused
    problem(api.get("/prices/latest", "demo-pilot", params={"market": MARKET}), 403)
    problem(api.get("/curves/forward", "demo-pilot", params={"product": "ANY"}), 403)  # no curves at all


def test_listings_answer_the_trader(platform: Platform, api: Api) -> None:
    for path in ("/instruments", "/alerts", "/quality"):
        response = api.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert "data" in response.json() and "meta" in response.json(), path
    # pages: the next cursor leads to the following rows, never the same ones
    first = api.get("/instruments", params={"limit": 5}).json()
    assert first["meta"]["rows"] == 5 and first["meta"]["next"], first["meta"]
    second = api.get("/instruments", params={"limit": 5, "cursor": first["meta"]["next"]}).json()
    ids = [r["instrument_id"] for r in first["data"]], [r["instrument_id"] for r in second["data"]]
    assert ids[0] == sorted(ids[0]) and ids[1] and min(ids[1]) > max(ids[0]), ids
    latest = api.get("/prices/latest", params={"market": MARKET})
    assert latest.status_code == 200, latest.text[:500]
    stored = queries.latest_prices(admin_client(platform), MARKET)
    assert [r["location"] for r in latest.json()["data"]] == stored["location"].tolist()
    assert [r["price"] for r in latest.json()["data"]] == stored["price"].tolist()
    problem(api.get("/quality", params={"cursor": "not-a-cursor"}), 400)
    problem(api.get("/alerts", params={"status": "lost"}), 400)


def test_curves_backtests_forecasts_and_fundamentals_of_the_demo_pipeline(
    platform: Platform, api: Api
) -> None:
    admin = admin_client(platform)
    stored_curves = curve_service.stored_curves(admin)
    runs = queries.backtest_runs(admin)
    if stored_curves.empty or runs.empty:
        pytest.skip("the demo ran without ../shared (--no-pipeline): no curves or backtests stored")
    curve = str(stored_curves["curve_name"].iloc[0])
    response = api.get("/curves/forward", params={"product": curve})
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    points = queries.curve_points(admin, curve)
    assert body["meta"]["rows"] == len(points) == len(body["data"]) > 0
    assert body["meta"]["lineage"]["run_id"] == str(points["run_id"].iloc[0])
    assert body["meta"]["units"] == {"value": str(points["unit"].iloc[0])}
    monthly = api.get("/curves/forward", params={"product": curve, "granularity": "monthly"})
    assert monthly.status_code == 200 and 0 < monthly.json()["meta"]["rows"] <= len(points)
    assert (
        "NO_SUCH_CURVE"
        in problem(api.get("/curves/forward", params={"product": "NO_SUCH_CURVE"}), 404)["detail"]
    )

    run = runs.iloc[0]
    metrics = api.get(f"/backtests/{run['run_id']}/metrics")
    assert metrics.status_code == 200, metrics.text[:500]
    assert len(metrics.json()["data"]) == len(queries.backtest_metrics(admin, str(run["run_id"]))) > 0
    problem(api.get("/backtests/no-such-run/metrics"), 404)

    forecasts = api.get("/forecasts", params={"market": str(run["market"]), "location": str(run["location"])})
    assert forecasts.status_code == 200, forecasts.text[:500]
    assert len(forecasts.json()["data"]) > 0
    problem(api.get("/forecasts", params={"market": "NO_SUCH_MARKET"}), 400)

    found = admin.query(
        "SELECT market, area, variable, min(interval_start_utc) FROM fundamentals GROUP BY ALL "
        "ORDER BY market, area, variable LIMIT 1"
    ).result_rows
    if not found:
        pytest.skip("the demo stored no fundamentals")
    market, area, variable, first = found[0]
    start = pd.Timestamp(first)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    params = {"market": market, "area": area, "variable": variable, "start": start.isoformat(),
              "end": (start + pd.Timedelta(days=7)).isoformat()}  # fmt: skip
    fundamentals = api.get("/fundamentals", params=params)
    assert fundamentals.status_code == 200, fundamentals.text[:500]
    stored = queries.fundamentals(admin, market, area, [variable], params["start"], params["end"])
    assert len(fundamentals.json()["data"]) == len(stored) > 0
    too_long = {**params, "end": (start + pd.Timedelta(days=400)).isoformat()}
    assert problem(api.get("/fundamentals", params=too_long), 400)["limit_days"] == 31


# ------------------------------------------------------------------------------------------------------------
# Rate limits
# ------------------------------------------------------------------------------------------------------------
def test_a_burst_of_one_user_is_limited_with_retry_after_and_another_user_is_not(
    platform: Platform, api: Api
) -> None:
    trader, quant = api.headers("demo-trader"), api.headers("demo-quant")

    async def burst() -> tuple[list[httpx.Response], list[httpx.Response]]:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
        async with httpx.AsyncClient(base_url=platform.url + V1, timeout=WAIT_S, limits=limits) as client:
            mine = [client.get("/me", headers=trader) for _ in range(250)]
            other = [client.get("/me", headers=quant) for _ in range(5)]
            # the other user's requests go out in the middle of the burst
            answers = await asyncio.gather(*mine[:125], *other, *mine[125:])
        return [*answers[:125], *answers[130:]], list(answers[125:130])

    mine, other = asyncio.run(burst())
    statuses = [r.status_code for r in mine]
    assert set(statuses) <= {200, 429}, sorted(set(statuses))
    assert statuses.count(429) > 0 and statuses.count(200) > 0, statuses.count(429)
    assert [r.status_code for r in other] == [200] * 5, [r.text[:200] for r in other]
    limited = [r for r in mine if r.status_code == 429]
    waits = []
    for response in limited:
        body = problem(response, 429)
        assert "demo-trader" in body["detail"] and body["limit"], body
        waits.append(int(response.headers["retry-after"]))  # whole seconds (an int() of "1.5" fails)
    assert min(waits) >= 1, waits
    time.sleep(max(waits))  # after the stated delay the user is served again
    assert api.get("/me").status_code == 200


# ------------------------------------------------------------------------------------------------------------
# Download center
# ------------------------------------------------------------------------------------------------------------
def _start_export(api: Api, user: str, body: dict[str, Any]) -> httpx.Response:
    """POST an export, waiting out the export rate limit (1 per second) once if it answers 429."""
    response = api.post("/exports", user, body)
    if response.status_code == 429:
        time.sleep(int(response.headers["retry-after"]))
        response = api.post("/exports", user, body)
    return response


def _finished(api: Api, job_id: str) -> dict[str, Any]:
    """Poll an export until it is done or failed; return its last state (progress checked on the way)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        state = api.get(f"/exports/{job_id}").json()
        assert state["progress"] is None or 0.0 <= state["progress"] <= 1.0, state
        if state["state"] in ("done", "failed"):
            return dict(state)
        assert time.monotonic() < deadline, f"export {job_id} still {state['state']} after {WAIT_S:.0f} s"
        time.sleep(0.2)


def test_exports_download_with_their_owners_token_only_and_refusals_are_audited(
    platform: Platform, api: Api
) -> None:
    admin = admin_client(platform)
    stored = queries.price_series(admin, MARKET, LOCATION, WINDOW["start"], WINDOW["end"])
    expected = _normalized(stored, stored)
    body = {"dataset": "prices", "start": WINDOW["start"], "end": WINDOW["end"], "markets": [MARKET],
            "locations": [LOCATION]}  # fmt: skip
    links = {}
    for fmt in ("csv", "parquet"):
        started = _start_export(api, "demo-trader", {**body, "format": fmt})
        assert started.status_code == 202, started.text
        assert started.json()["state"] in ("queued", "running") and started.json()["url"] is None
        state = _finished(api, started.json()["id"])
        assert state["state"] == "done", state
        assert state["progress"] == 1.0 and state["rows"] == state["expected_rows"] == DEMO_ROWS, state
        assert state["url"].startswith(f"{V1}/exports/{state['id']}/file?signature="), state["url"]
        download = api.get(state["url"])
        assert download.status_code == 200, download.text[:500]
        df = (
            pd.read_csv(io.BytesIO(download.content))
            if fmt == "csv"
            else pq.read_table(io.BytesIO(download.content)).to_pandas()
        )
        # the export holds the table's columns: the series' own, and how close to the publisher each row is
        assert set(df.columns) == {*stored.columns, "fidelity"}, sorted(df.columns)
        assert (df["fidelity"] == "official").all()
        df = df.sort_values("interval_start_utc", kind="stable")
        pd.testing.assert_frame_equal(_normalized(df, stored), expected, check_exact=False, rtol=1e-12,
                                      obj=f"export {fmt}")  # fmt: skip
        links[fmt] = state

    job = links["csv"]
    url = job["url"]
    query = urlsplit(url).query
    signature = query.split("=", 1)[1]
    # one character in the middle of the HMAC (the last dot-separated part) changed
    head, mac = signature.rsplit(".", 1)
    i = len(mac) // 2
    tampered = f"{head}.{mac[:i]}{'A' if mac[i] != 'A' else 'B'}{mac[i + 1 :]}"
    altered = problem(api.get(url.replace(signature, tampered)), 403)
    assert "signature" in altered["detail"], altered
    someone_else = problem(api.get(url, "demo-quant"), 403)
    assert "another user" in someone_else["detail"], someone_else
    problem(api.get(f"/exports/{job['id']}", "demo-quant"), 404)  # nor is the job shown to them
    problem(api.get(url, None), 401)

    no_right = problem(_start_export(api, "demo-ops", {**body, "format": "csv"}), 403)
    assert "export" in no_right["detail"] and no_right["allowed"] == [], no_right
    problem(_start_export(api, "demo-pilot", {**body, "format": "csv"}), 403)

    def refusals() -> set[tuple[str, str]]:
        rows = admin.query(
            "SELECT user, detail FROM mi_system.audit_log WHERE kind = 'export' AND outcome = 'refused' "
            "AND target = {t:String}",
            parameters={"t": job["id"]},
        ).result_rows
        return {(str(u), str(d)) for u, d in rows}

    wait_until(lambda: len(refusals()) >= 2, "the refused downloads in the audit trail", timeout_s=15)
    users = {u for u, _ in refusals()}
    assert users == {"demo-trader", "demo-quant"}, refusals()
    assert any("signature" in d for u, d in refusals() if u == "demo-trader"), refusals()
    shown = platform.mi("audit", "show", "--kind", "export", "--user", "demo-quant")
    assert shown.returncode == 0, shown.stderr
    assert job["id"] in shown.stdout and "refused" in shown.stdout, shown.stdout


# ------------------------------------------------------------------------------------------------------------
# The price stream
# ------------------------------------------------------------------------------------------------------------
def test_a_new_price_row_reaches_the_websocket_and_the_pilot_is_refused(platform: Platform, api: Api) -> None:
    url = platform.url.replace("http://", "ws://") + f"{V1}/stream/prices?market={MARKET}&location={LOCATION}"
    admin = admin_client(platform)
    price = 4321.25
    row = pd.DataFrame([{
        "market": MARKET, "location": LOCATION, "location_type": "system",
        "interval_start_utc": pd.Timestamp("2018-12-24T23:00:00Z"),
        "interval_end_utc": pd.Timestamp("2018-12-25T00:00:00Z"),
        "price": price, "energy": None, "congestion": None, "loss": None, "currency": "EUR",
        "unit": "EUR/MWh", "revision": "api-stream-test", "source": "test_api",
        "published_at_utc": pd.Timestamp.now(tz="UTC"),
    }])  # fmt: skip

    async def subscribe() -> tuple[dict[str, Any], dict[str, Any], float]:
        headers = {"Authorization": f"Bearer {api.token('demo-trader')}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            began = time.monotonic()
            await asyncio.to_thread(insert_df, admin, "prices", row)
            while True:  # within 5 s of the insert, the row (other rows may come first)
                remaining = 5.0 - (time.monotonic() - began)
                message = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, remaining)))
                assert message["type"] in ("rows", "lagged"), message
                mine = [r for r in message.get("data", []) if r["revision"] == "api-stream-test"]
                if mine:
                    return first, mine[0], time.monotonic() - began

    async def refused(user: str | None) -> tuple[dict[str, Any], int | None]:
        headers = {"Authorization": f"Bearer {api.token(user)}"} if user else {}
        async with websockets.connect(url, additional_headers=headers) as ws:
            message = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), WAIT_S)
            return message, ws.close_code

    try:
        subscribed, pushed, delay = asyncio.run(subscribe())
    finally:  # the demo's data as the other tests of the hub expect it
        admin.command(
            "DELETE FROM prices WHERE market = {m:String} AND revision = 'api-stream-test'",
            parameters={"m": MARKET},
        )
        left = "SELECT count() FROM prices WHERE market = {m:String} AND revision = 'api-stream-test'"
        assert int(admin.command(left, parameters={"m": MARKET})) == 0
    assert subscribed["type"] == "subscribed" and subscribed["market"] == MARKET, subscribed
    assert subscribed["locations"] == [LOCATION]
    assert delay < 5.0
    assert pushed["price"] == price and pushed["location"] == LOCATION and pushed["market"] == MARKET, pushed
    assert pushed["interval_start_utc"] == "2018-12-24T23:00:00.000Z", pushed
    assert pushed["interval_end_utc"] == "2018-12-25T00:00:00.000Z", pushed
    assert (pushed["currency"], pushed["unit"]) == ("EUR", "EUR/MWh"), pushed
    assert ISO_Z.match(pushed["ingested_at_utc"]), pushed

    message, code = asyncio.run(refused("demo-pilot"))
    assert message["type"] == "error" and message["status"] == 403, message
    assert "entitlement" in message["detail"] and MARKET in message["detail"], message
    assert code == 4403
    message, code = asyncio.run(refused(None))
    assert (message["type"], message["status"], code) == ("error", 401, 4401), message


# ------------------------------------------------------------------------------------------------------------
# The docs in a browser (last: Playwright's sync API keeps an event loop in this thread until the module ends)
# ------------------------------------------------------------------------------------------------------------
def test_the_docs_render_for_a_logged_in_trader(platform: Platform, screens: Screens) -> None:
    page = screens.page("docs")
    login(page, platform, "demo-trader")
    answer = page.goto(f"{platform.url}/services/api/docs")  # through the Hub's OAuth, back to the docs
    assert answer is not None and answer.status == 200, answer and answer.status
    assert page.url == f"{platform.url}/services/api/docs", page.url
    page.get_by_text(f"{V1}/prices/ticks", exact=True).first.wait_for()
    assert page.locator(".opblock").count() >= 10  # the routes, listed
    assert page.get_by_text("Market Intelligence API").count() > 0
    screens.snap(page, "api-docs")

    stranger = screens.page("docs-anonymous")  # no login: the Hub's login form, not the docs
    stranger.goto(f"{platform.url}/services/api/docs")
    assert urlsplit(stranger.url).path == "/hub/login", stranger.url
