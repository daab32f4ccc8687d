"""The router on real recordings of two CAISO reports of one series, faults injected through the HTTP client.

CAISO's day-ahead load comes in two OASIS reports: SLD_FCST DAM (CA ISO-TAC, recorded 2016-05-20 15:00 ..
2016-05-21 07:00 UTC) and ENE_SLRS DAM (Caiso_Totals, recorded 2016-05-20 01:00 .. 2016-05-21 01:00 UTC);
they overlap on the ten hours 2016-05-20 15:00 .. 2016-05-21 01:00 UTC and agree there within 2.6 %.
Both are asked per local operating day (2016-05-20 PDT = 07:00 .. 07:00 UTC). Faults (timeouts, 5xx, empty,
stale and scaled payloads) are injected by a double of the HTTP client that serves the real bodies otherwise.
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pybreaker
import pytest

from marketintel.ingest.http import FetchError, HttpClient, Response, request_key
from marketintel.routing.breaker import SourceBreaker
from marketintel.routing.router import Router
from marketintel.routing.series import SERIES
from marketintel.services.routing import read_series, refresh_series, routing_state
from tests.storeproc import StoreProcess

SERIES_NAME = "CAISO_LOAD_DA"
PRIMARY, SECONDARY = "caiso/load_forecast_dam", "caiso/system_load_resource_schedules_dam"
DAY = pd.Timestamp("2016-05-20", tz="America/Los_Angeles")
W = (pd.Timestamp("2016-05-20 07:00", tz="UTC"), pd.Timestamp("2016-05-21 07:00", tz="UTC"))
W2 = (pd.Timestamp("2016-05-21 07:00", tz="UTC"), pd.Timestamp("2016-05-22 07:00", tz="UTC"))
FILES = {
    "SLD_FCST": "oasis_xml_zip/20160520_20160522_SLD_FCST_DAM.zip",
    "ENE_SLRS": "oasis_xml_zip/20160519_20160520_ENE_SLRS_DAM.zip",
}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


def scaled(body: bytes, factor: float) -> bytes:
    """The real OASIS zip with every <VALUE> multiplied by ``factor`` (a unit or scaling error)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(body)) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            text = zin.read(name).decode()
            text = re.sub(
                r"<VALUE>([-0-9.]+)</VALUE>", lambda m: f"<VALUE>{float(m[1]) * factor:.2f}</VALUE>", text
            )
            zout.writestr(name, text)
    return out.getvalue()


class FaultyHttp:
    """The replay client, with faults planned per OASIS query: a list consumed one call at a time.

    Faults: ``timeout`` and ``503`` (the client's errors after its retries), ``empty`` (a 200 with no body),
    ``stale`` (the recorded body of 2016-05-20, whatever day is asked), ``x<factor>`` (the real body scaled).
    """

    def __init__(self, folder: Path, plan: dict[str, list[str]]) -> None:
        self.replay = HttpClient("replay", folder)
        self.plan = plan
        self.asked: list[tuple[str, str]] = []  # (query, start asked)
        self.folder = folder

    def get(self, source: str, url: str, params: dict[str, str] | None = None, **kw: Any) -> Response:
        assert params is not None
        query = params["queryname"]
        self.asked.append((query, params["startdatetime"]))
        fault = self.plan.get(query, []).pop(0) if self.plan.get(query) else ""
        if fault == "timeout":
            raise FetchError(f"{source}: {url} failed after 5 attempts; last: ReadTimeout: timed out")
        if fault == "503":
            raise FetchError(f"{source}: {url} failed after 5 attempts; last: HTTP 503")
        if fault == "empty":
            return Response(url, 200, b"", "application/x-zip-compressed")
        if fault == "stale":
            params = {**params, **_day_params(query)}
        resp = self.replay.get(source, url, params, **kw)
        if fault.startswith("x"):
            return Response(resp.url, resp.status, scaled(resp.body, float(fault[1:])), resp.content_type)
        return resp

    def close(self) -> None:
        self.replay.close()


def _day_params(query: str) -> dict[str, str]:
    from marketintel.connectors.caiso.ingestor import CAISOIngestor

    dataset = {"SLD_FCST": "load_forecast_dam", "ENE_SLRS": "system_load_resource_schedules_dam"}[query]
    p = CAISOIngestor().request_params(dataset, DAY)
    return {"startdatetime": p["startdatetime"], "enddatetime": p["enddatetime"]}


@pytest.fixture
def folder(shared_dir: Path, tmp_path: Path) -> Path:
    """A replay folder of the two real recordings, keyed by the requests the CAISO connector builds."""
    import json

    from marketintel.connectors.caiso.ingestor import OASIS, CAISOIngestor

    out = tmp_path / "replay-caiso"
    out.mkdir()
    index = {}
    for dataset, query in (
        ("load_forecast_dam", "SLD_FCST"),
        ("system_load_resource_schedules_dam", "ENE_SLRS"),
    ):
        params = CAISOIngestor().request_params(dataset, DAY)
        name = Path(FILES[query]).name
        (out / name).write_bytes((shared_dir / "fixtures" / "caiso" / FILES[query]).read_bytes())
        index[request_key("GET", OASIS, params)] = {"file": name, "status": 200, "content_type": ""}
    (out / "index.json").write_text(json.dumps(index))
    return out


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, store: StoreProcess, ch_database: str) -> Any:
    monkeypatch.setenv("MI_CLICKHOUSE_URL", f"{store.url}/{ch_database}")
    from marketintel.services.store import ensure_store

    return ensure_store().client


def _recorded(shared_dir: Path) -> tuple[pd.Series, pd.Series]:
    """The two reports' hourly values as the connector maps them [MW], by interval start."""
    from marketintel.connectors.caiso.mapping import parse_fundamentals

    a = parse_fundamentals((shared_dir / "fixtures" / "caiso" / FILES["SLD_FCST"]).read_bytes())
    b = parse_fundamentals((shared_dir / "fixtures" / "caiso" / FILES["ENE_SLRS"]).read_bytes())
    a = a[(a["area"] == "CA ISO-TAC") & (a["variable"] == "sys_fcst_da_mw")]
    b = b[(b["area"] == "Caiso_Totals") & (b["variable"] == "iso_tot_load_mw")]
    return a.set_index("interval_start_utc")["value"], b.set_index("interval_start_utc")["value"]


def _router(clock: Clock, events: list[dict[str, Any]]) -> Router:
    return Router({SERIES_NAME: SERIES[SERIES_NAME]}, clock=clock, audit=events.append, fail_max=3,
                  reset_timeout_s=600)  # fmt: skip


def _round(client: Any, router: Router, http: FaultyHttp, window: tuple[pd.Timestamp, pd.Timestamp]
           ) -> tuple[dict[str, str], pd.DataFrame]:  # fmt: skip
    outcome = refresh_series(client, SERIES_NAME, *window, http=http, router=router)
    return outcome, read_series(client, SERIES_NAME, *window, router=router)


def _audited_intervals(events: list[dict[str, Any]]) -> int:
    return sum(int(e["intervals"]) for e in events)


def test_breaker_opens_fails_over_recovers_blends_and_sets_aside_a_scaled_source(
    client: Any, folder: Path, shared_dir: Path
) -> None:
    fcst, slrs = _recorded(shared_dir)
    t0 = datetime(2016, 5, 21, 8, 0, tzinfo=UTC)
    clock, events = Clock(t0), []
    router = _router(clock, events)
    http = FaultyHttp(folder, {"SLD_FCST": ["timeout", "503", "empty", "", "x1000", ""]})
    window_hours = pd.date_range(*W, freq="1h", inclusive="left")

    # rounds 1-3: the primary times out, answers 503, then an empty payload: the third failure opens it
    for k, fault in enumerate(("ReadTimeout", "HTTP 503", "empty body; breaker opened")):
        outcome, served = _round(client, router, http, W)
        assert outcome[SECONDARY] == "ok" and fault in outcome[PRIMARY], outcome
        assert router.breakers[PRIMARY].state == ("open" if k == 2 else "closed")
        # failover to ENE_SLRS where it has values (07:00 .. 01:00 UTC: 18 h), nothing else real
        assert list(served["source"].unique()) == [SECONDARY] and len(served) == 18
        np.testing.assert_allclose(served["value"], slrs.reindex(served["interval_start_utc"]).to_numpy())
        assert set(served["fidelity"]) == {"official"}
        clock.advance(minutes=1)
    assert router.transitions == [(PRIMARY, "closed", "open", t0 + timedelta(minutes=2))]
    assert _audited_intervals(events) == 3 * 24  # every interval's decision, in each of the three rounds

    # round 4, within the cool-down: nothing is asked of the primary; the decision says it is open
    clock.at = t0 + timedelta(minutes=5)
    asked = len([q for q, _ in http.asked if q == "SLD_FCST"])
    outcome, served = _round(client, router, http, W)
    assert outcome[PRIMARY] == "open" and len([q for q, _ in http.asked if q == "SLD_FCST"]) == asked
    last = client.query(
        "SELECT chosen, reason FROM routing_decisions FINAL WHERE decided_at_utc = {t:DateTime64(3, 'UTC')} "
        "AND interval_start_utc = '2016-05-20 20:00:00'",
        parameters={"t": clock.at},
    ).result_rows
    assert last == [(SECONDARY, f"failover: {PRIMARY} open")]

    # round 5, cool-down over (opened at t0+2 min, 600 s): the half-open probe succeeds and closes it
    clock.at = t0 + timedelta(minutes=12)
    outcome, served = _round(client, router, http, W)
    assert outcome[PRIMARY] == "ok" and router.breakers[PRIMARY].state == "closed"
    assert [t[1:3] for t in router.transitions] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert router.transitions[1][3] == router.transitions[2][3] == t0 + timedelta(minutes=12)
    # trust: primary F=1, C=16/24, A=1 (10 overlapping hours within 5 %), R=1-3/4; secondary F=1 (lag 6 h
    # <= 12 h), C=18/24, A=1, R=1 (five fetches, no failure)
    s1 = 0.25 * 1 + 0.25 * 16 / 24 + 0.30 * 1 + 0.20 * 0.25
    s2 = 0.25 * 1 + 0.25 * 18 / 24 + 0.30 * 1 + 0.20 * 1
    stored = dict(client.query(
        "SELECT source, score FROM routing_trust FINAL WHERE evaluated_at_utc = {t:DateTime64(3, 'UTC')}",
        parameters={"t": clock.at},
    ).result_rows)  # fmt: skip
    assert stored[PRIMARY] == pytest.approx(s1, abs=1e-12) and stored[SECONDARY] == pytest.approx(
        s2, abs=1e-12
    )
    by = served.set_index("interval_start_utc")
    overlap = pd.date_range("2016-05-20 15:00", "2016-05-21 01:00", freq="1h", inclusive="left", tz="UTC")
    assert (by.loc[overlap, "source"] == "blend").all() and (by.loc[overlap, "fidelity"] == "derived").all()
    expected = (s1 * fcst.reindex(overlap) + s2 * slrs.reindex(overlap)) / (s1 + s2)
    np.testing.assert_allclose(by.loc[overlap, "value"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    weights = client.query(
        "SELECT DISTINCT weights FROM routing_decisions FINAL "
        "WHERE decided_at_utc = {t:DateTime64(3, 'UTC')} "
        "AND chosen = 'blend'",
        parameters={"t": clock.at},
    ).result_rows
    import json

    assert len(weights) == 1 and json.loads(weights[0][0]) == pytest.approx(
        {PRIMARY: s1 / (s1 + s2), SECONDARY: s2 / (s1 + s2)}
    )
    after = window_hours[window_hours >= pd.Timestamp("2016-05-21 01:00", tz="UTC")]
    assert (by.loc[after, "source"] == PRIMARY).all()  # priority where only SLD_FCST has values
    assert len(served) == 24 and "synthetic" not in set(served["fidelity"])

    # round 6: the primary's payload is scaled x1000 (kW for MW): it disagrees, its values are implausible
    # for the series (10..60 GW), so it is set aside and ENE_SLRS serves where it can
    clock.at = t0 + timedelta(minutes=13)
    outcome, served = _round(client, router, http, W)
    assert outcome[PRIMARY] == "ok"
    by = served.set_index("interval_start_utc")
    assert (by.loc[overlap, "source"] == SECONDARY).all() and len(served) == 18
    reasons = {r[0] for r in client.query(
        "SELECT reason FROM routing_decisions FINAL WHERE decided_at_utc = {t:DateTime64(3, 'UTC')} "
        "AND chosen = {c:String}", parameters={"t": clock.at, "c": SECONDARY}).result_rows}  # fmt: skip
    assert reasons == {f"failover: {PRIMARY} disagrees"}
    # round 7: the real payload again: blended again, with the same values as in round 5
    clock.at = t0 + timedelta(minutes=14)
    outcome, served = _round(client, router, http, W)
    assert (served.set_index("interval_start_utc").loc[overlap, "source"] == "blend").all()

    # every decision is stored and audited: 7 rounds x 24 intervals
    assert client.query("SELECT count() FROM routing_decisions FINAL").result_rows[0][0] == 7 * 24
    assert _audited_intervals(events) == 7 * 24
    keys = {"series", "interval_start_utc", "interval_end_utc", "chosen", "alternatives", "reason"}
    assert all(keys <= set(e)
               for e in events)  # fmt: skip
    state = routing_state(client, router=router)
    mine = state[state["series"] == SERIES_NAME].set_index("source")
    assert mine.loc[PRIMARY, "breaker"] == "closed" and bool(mine.loc[PRIMARY, "chosen"])
    assert not bool(mine.loc[SECONDARY, "chosen"]) and mine.loc[PRIMARY, "priority"] == 1
    assert mine.loc[PRIMARY, "last_reason"] == "priority"  # the last interval (06:00 UTC): SLD_FCST alone


def test_synthetic_rows_only_when_every_source_is_down_and_flagged(
    client: Any, folder: Path, shared_dir: Path
) -> None:
    fcst, slrs = _recorded(shared_dir)
    clock, events = Clock(datetime(2016, 5, 21, 8, 0, tzinfo=UTC)), []
    router = _router(clock, events)
    http = FaultyHttp(folder, {"SLD_FCST": ["", "stale"], "ENE_SLRS": ["", "stale"]})
    outcome, served = _round(client, router, http, W)
    assert (
        set(outcome.values()) == {"ok"} and "synthetic" not in set(served["fidelity"]) and len(served) == 24
    )

    # the next day both publishers serve the 2016-05-20 file again (stale): both stale -> synthetic only
    clock.at = datetime(2016, 5, 22, 8, 0, tzinfo=UTC)
    outcome, served = _round(client, router, http, W2)
    assert set(outcome.values()) == {"ok"}
    assert (
        len(served) == 24
        and set(served["source"]) == {"synthetic"}
        and set(served["fidelity"]) == {"synthetic"}
    )
    # x(t - 1 day) * L / M: the real series (SLD_FCST where it has values, else ENE_SLRS), L its mean over
    # the 6 h before the anchor (2016-05-21 07:00), M the mean over the same hours a day earlier
    real = fcst.combine_first(slrs)
    level = real[pd.Timestamp("2016-05-21 01:00", tz="UTC") : pd.Timestamp("2016-05-21 06:00", tz="UTC")]
    ref = real[pd.Timestamp("2016-05-20 01:00", tz="UTC") : pd.Timestamp("2016-05-20 06:00", tz="UTC")]
    assert len(level) == len(ref) == 6
    t = pd.DatetimeIndex(served["interval_start_utc"])
    expected = real.reindex(t - pd.Timedelta(days=1)).to_numpy() * level.mean() / ref.mean()
    np.testing.assert_allclose(served["value"].to_numpy(), expected, rtol=1e-12)
    reasons = client.query(
        "SELECT DISTINCT reason FROM routing_decisions FINAL "
        "WHERE interval_start_utc >= '2016-05-21 07:00:00'"
    ).result_rows
    assert reasons == [(f"synthetic: no source usable ({PRIMARY} stale; {SECONDARY} stale)",)]
    # the real window read again, now: still real rows only (never mixed with the synthetic fill)
    again = read_series(client, SERIES_NAME, *W, router=router)
    assert "synthetic" not in set(again["fidelity"]) and len(again) == 24
    assert _audited_intervals(events) == 3 * 24


def test_breaker_error_rate_and_injected_clock() -> None:
    clock = Clock(datetime(2025, 1, 1, tzinfo=UTC))
    seen: list[tuple[str, str]] = []
    b = SourceBreaker("x/y", fail_max=10, reset_timeout_s=60, error_rate=0.5, window=4, min_calls=4,
                      clock=clock, on_change=lambda n, old, new, at: seen.append((old, new)))  # fmt: skip

    def fail() -> None:
        raise FetchError("HTTP 503")

    for f in (lambda: 1, fail, lambda: 1, fail):
        with contextlib.suppress(FetchError):
            b.call(f)
    assert b.state == "open" and seen == [("closed", "open")]  # 2 of 4 failed: rate 0.5, not 10 in a row
    clock.advance(seconds=59)
    with pytest.raises(pybreaker.CircuitBreakerError):
        b.call(lambda: 1)
    clock.advance(seconds=1)
    assert b.call(lambda: 2) == 2 and b.state == "closed"
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
