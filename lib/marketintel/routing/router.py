"""The router: holds one circuit breaker per source and decides, per interval, which source's data to serve.

Per window ``[start, end)`` of a logical series (:meth:`Router.route`):

1. Each candidate's rows are read from the store (finer intervals averaged to the series' resolution) and
   its trust is evaluated (:mod:`.trust`); its **status** is ``open`` (its breaker is open), ``stale``
   (newest row more than ``max_staleness`` before ``min(end, now)``, or no row at all), ``disagrees`` or
   ``ok``.
2. **Disagreement**: a candidate whose agreement ``A`` is below :data:`AGREE_MIN` disagrees. With three or
   more sources the ones that disagree with the median are set aside; with two that disagree, the one
   whose values lie mostly outside the series' plausible ``bounds`` (a unit or scaling error) is set aside,
   and if that does not settle it neither is: the higher priority is served, nothing is blended, and the
   reason says the disagreement is unresolved.
3. Per interval, among the ``ok`` candidates with a value: two or more *trusted* ones (score >=
   ``trust.TRUSTED``) whose values agree within the tolerance are **blended**, ``sum(w_i x_i)`` with
   ``w_i = score_i / sum(score)``; otherwise the highest priority serves (**failover** when a higher one is
   open, stale, disagrees or has no value there).
4. When no candidate can serve an interval, a **synthetic** value (``fidelity = 'synthetic'``, source
   ``synthetic``) is served: ``x(t - k P) * L / M`` with ``P`` one week (or, without a week of history,
   one day), ``k >= 1`` the smallest with ``t - kP`` before the anchor (the end of the newest real value
   before ``t``), ``L`` the mean of the real values over the :data:`LEVEL` before the anchor and ``M`` the
   mean over the same span ``P`` earlier; ``x`` is the real series (at each interval the highest-priority
   source with a value, sources set aside for disagreement excluded). Without that history the interval
   gets no row (decision ``none``).

Every decision is stored in ``routing_decisions`` (one row per interval) and reported to the audit trail
(one event per run of consecutive intervals with the same choice and reason); trust evaluations go to
``routing_trust``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pybreaker

from marketintel.routing import trust as tr
from marketintel.routing.breaker import Clock, SourceBreaker, wall_clock
from marketintel.routing.series import SERIES, Candidate, LogicalSeries, get_series

log = logging.getLogger(__name__)

#: a source whose share of agreeing intervals is below this disagrees
AGREE_MIN = 0.8
#: the span before the anchor whose mean is the synthetic fill's level
LEVEL = pd.Timedelta(hours=6)
#: synthetic shape periods, tried in order
PERIODS = (pd.Timedelta(days=7), pd.Timedelta(days=1))
SERVED_COLUMNS = ["interval_start_utc", "interval_end_utc", "value", "unit", "source", "fidelity"]
AuditSink = Callable[[dict[str, Any]], None]
Fetcher = Callable[[Candidate, pd.Timestamp, pd.Timestamp], object]


class FetchFailed(Exception):  # noqa: N818  (a failure outcome, counted by the breaker)
    """A fetch that returned but is a failure: an empty or unreadable payload."""


@dataclass(frozen=True)
class Decision:
    """What the router served for one interval, and why."""

    series: str
    start: pd.Timestamp
    end: pd.Timestamp
    chosen: str  # candidate key, 'blend', 'synthetic' or 'none'
    reason: str
    alternatives: list[dict[str, Any]]
    weights: dict[str, float]
    value: float | None
    decided_at: pd.Timestamp


@dataclass
class Routed:
    """The outcome of :meth:`Router.route`: served rows, decisions, trust and status per candidate."""

    series: LogicalSeries
    frame: pd.DataFrame
    decisions: list[Decision]
    trust: dict[str, tr.Trust]
    status: dict[str, str]
    unresolved: bool = False
    values: dict[str, pd.Series] = field(default_factory=dict)


def default_audit(user: str = "routing") -> AuditSink:
    """Return the sink reporting routing events to the store's audit trail (``POST /audit``, ``routing``)."""

    def sink(event: dict[str, Any]) -> None:
        from marketintel.access.events import report

        report("routing", user, caller="routing", action=f"route {event['series']}", target=event["series"],
               outcome="ok" if event["chosen"] not in ("synthetic", "none") else "error",
               rows=int(event["intervals"]), detail=json.dumps(event, default=str))  # fmt: skip

    return sink


def _ts(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


class Router:
    """Decides which source serves each interval of a logical series; holds the sources' breakers.

    Parameters
    ----------
    series : dict of str to LogicalSeries, optional
        The declared map (default :data:`~marketintel.routing.series.SERIES`).
    clock : callable
        Returns the current UTC time (breakers' cool-downs, freshness, decision times).
    audit : callable, optional
        Receives one dict per audited run of decisions (default: the store's audit trail).
    fail_max, reset_timeout_s, error_rate : see :class:`~marketintel.routing.breaker.SourceBreaker`
    store : bool
        Write ``routing_trust`` and ``routing_decisions`` (False: decide only).
    """

    def __init__(
        self,
        series: dict[str, LogicalSeries] | None = None,
        *,
        clock: Clock = wall_clock,
        audit: AuditSink | None = None,
        fail_max: int = 3,
        reset_timeout_s: float = 600.0,
        error_rate: float = 0.5,
        store: bool = True,
    ) -> None:
        self.series = SERIES if series is None else series
        self.clock = clock
        self.audit = audit if audit is not None else default_audit()
        self.fail_max = fail_max
        self.reset_timeout_s = reset_timeout_s
        self.error_rate = error_rate
        self.store = store
        self.breakers: dict[str, SourceBreaker] = {}
        self.transitions: list[tuple[str, str, str, datetime]] = []
        self.last_fetch: dict[str, str] = {}

    def now(self) -> pd.Timestamp:
        """Return the clock's time as a UTC timestamp."""
        return _ts(self.clock())

    def breaker(self, key: str) -> SourceBreaker:
        """Return the breaker of source ``key`` (``source/dataset``), made on first use."""
        if key not in self.breakers:
            self.breakers[key] = SourceBreaker(
                key, fail_max=self.fail_max, reset_timeout_s=self.reset_timeout_s,
                error_rate=self.error_rate, clock=self.clock, on_change=self._changed,
            )  # fmt: skip
        return self.breakers[key]

    def _changed(self, name: str, old: str, new: str, at: datetime) -> None:
        self.transitions.append((name, old, new, at))
        log.info("breaker %s: %s -> %s at %s", name, old, new, at)

    # ------------------------------------------------------------------------------------------------
    def fetch(self, series: str, start: Any, end: Any, fetcher: Fetcher) -> dict[str, str]:
        """Fetch the window from every candidate through its breaker; return each one's outcome.

        Outcomes: ``ok``, ``open`` (refused by the breaker: nothing was asked), ``failed: ...`` (counted).
        """
        s = get_series(series, self.series)
        lo, hi = _ts(start), _ts(end)
        out: dict[str, str] = {}
        for c in s.ranked():
            b = self.breaker(c.key)
            was_blocked = b.would_block()
            try:
                b.call(lambda c=c: fetcher(c, lo, hi))  # type: ignore[misc]
                out[c.key] = "ok"
            except pybreaker.CircuitBreakerError as exc:
                cause = exc.__cause__ or exc.__context__
                out[c.key] = (
                    "open"
                    if was_blocked
                    else f"failed: {type(cause).__name__}: {str(cause)[:200]}; breaker opened"
                )
            except Exception as exc:  # any failure of a source counts against it
                out[c.key] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
            self.last_fetch[c.key] = out[c.key]
        return out

    # ------------------------------------------------------------------------------------------------
    def route(self, client: Any, series: str, start: Any, end: Any) -> Routed:
        """Decide and serve ``[start, end)`` of ``series`` from the store (module docstring)."""
        s = get_series(series, self.series)
        lo, hi, now = _ts(start), _ts(end), self.now()
        step = pd.Timedelta(minutes=s.minutes)
        lo = lo.floor(step)
        grid = pd.date_range(lo, hi, freq=step, inclusive="left")
        span_lo = lo - max(PERIODS) - LEVEL
        ranked = s.ranked()
        values: dict[str, pd.Series] = {}
        fidelity: dict[str, pd.Series] = {}
        newest: dict[str, pd.Timestamp | None] = {}
        for c in ranked:
            values[c.key], fidelity[c.key], newest[c.key] = read_candidate(client, s, c, span_lo, hi)
        in_window = {k: v[(v.index >= lo) & (v.index < hi)] for k, v in values.items()}
        upto = min(hi, now)
        expected = grid[grid + step <= upto] if upto < hi else grid
        # trust
        trusts: dict[str, tr.Trust] = {}
        status: dict[str, str] = {}
        for c in ranked:
            f, lag = tr.freshness(newest[c.key], lo, hi, now, s.max_staleness)
            others = [in_window[o.key] for o in ranked if o.key != c.key and not in_window[o.key].empty]
            a, overlap = tr.agreement(in_window[c.key], others, s.tolerance)
            fails, calls = self.breaker(c.key).failures
            trusts[c.key] = tr.Trust(f, tr.completeness(in_window[c.key], expected), a,
                                     tr.reliability(fails, calls), lag, overlap)  # fmt: skip
            b = self.breaker(c.key)
            status[c.key] = "open" if b.state == "open" else "stale" if f < 1.0 else "ok"
        unresolved = self._settle_disagreement(s, ranked, trusts, status, in_window)
        decisions, served = self._decide(s, grid, step, ranked, trusts, status, in_window, values,
                                         fidelity, unresolved, now)  # fmt: skip
        routed = Routed(s, served, decisions, trusts, status, unresolved, values)
        if self.store:
            self._store(client, routed, lo, hi, now)
        self._audit(routed)
        return routed

    def _settle_disagreement(self, s: LogicalSeries, ranked: tuple[Candidate, ...],
                             trusts: dict[str, tr.Trust],
                             status: dict[str, str], win: dict[str, pd.Series]) -> bool:  # fmt: skip
        live = [c.key for c in ranked if status[c.key] == "ok" and trusts[c.key].overlap > 0]
        bad = [k for k in live if trusts[k].agreement < AGREE_MIN]
        if not bad:
            return False
        if len(live) >= 3 and len(bad) < len(live):
            for k in bad:
                status[k] = "disagrees"
            return False
        if s.bounds is not None:
            lo_b, hi_b = s.bounds
            implausible = [k for k in bad if float(((win[k] < lo_b) | (win[k] > hi_b)).mean()) > 0.5]
            if len(implausible) == 1:
                status[implausible[0]] = "disagrees"
                return False
        return True

    def _decide(self, s: LogicalSeries, grid: pd.DatetimeIndex, step: pd.Timedelta,
                ranked: tuple[Candidate, ...], trusts: dict[str, tr.Trust], status: dict[str, str],
                win: dict[str, pd.Series], values: dict[str, pd.Series], fidelity: dict[str, pd.Series],
                unresolved: bool, now: pd.Timestamp) -> tuple[list[Decision], pd.DataFrame]:  # fmt: skip
        real = _real_series([values[c.key] for c in ranked if status[c.key] != "disagrees"])
        decisions: list[Decision] = []
        rows: list[dict[str, Any]] = []
        top = ranked[0].key
        for t in grid:
            at = {c.key: win[c.key].get(t, np.nan) for c in ranked}
            alternatives = [
                {"source": c.key, "priority": c.priority, "status": status[c.key],
                 "score": round(trusts[c.key].score, 6),
                 "value": None if pd.isna(at[c.key]) else float(at[c.key])}
                for c in ranked
            ]  # fmt: skip
            avail = [c.key for c in ranked if status[c.key] == "ok" and not pd.isna(at[c.key])]
            trusted = [k for k in avail if trusts[k].trusted]
            weights: dict[str, float] = {}
            fid = "official"
            if len(trusted) >= 2 and not unresolved and _agree([at[k] for k in trusted], s.tolerance):
                weights = tr.blend_weights({k: trusts[k].score for k in trusted})
                value: float | None = float(sum(w * at[k] for k, w in weights.items()))
                chosen, fid = "blend", "derived"
                reason = f"blend: {len(trusted)} trusted sources agree within {s.tolerance:g}"
            elif avail:
                chosen = avail[0]
                value = float(at[chosen])
                fid = str(fidelity[chosen].get(t, "official"))
                if chosen == top:
                    reason = "priority"
                else:
                    skipped = [
                        f"{c.key} {status[c.key] if status[c.key] != 'ok' else 'has no value'}"
                        for c in ranked[: [c.key for c in ranked].index(chosen)]
                    ]
                    reason = "failover: " + "; ".join(skipped)
                if unresolved:
                    reason += " (sources disagree beyond the tolerance, unresolved: not blended)"
            else:
                value = _synthetic(real, t, step)
                chosen = "synthetic" if value is not None else "none"
                fid = "synthetic"
                why = "; ".join(f"{c.key} {status[c.key] if status[c.key] != 'ok' else 'has no value'}"
                                for c in ranked)  # fmt: skip
                head = (
                    "synthetic: no source usable ("
                    if value is not None
                    else "none: no source usable and no history for a synthetic fill ("
                )
                reason = head + why + ")"
            decisions.append(Decision(s.name, t, t + step, chosen, reason, alternatives, weights, value, now))
            if value is not None:
                rows.append({"interval_start_utc": t, "interval_end_utc": t + step, "value": value,
                             "unit": s.unit, "source": chosen, "fidelity": fid})  # fmt: skip
        frame = pd.DataFrame(rows, columns=SERVED_COLUMNS)
        if frame.empty:
            frame = frame.astype({"value": "float64"})
        return decisions, frame

    # ------------------------------------------------------------------------------------------------
    def _store(
        self, client: Any, routed: Routed, lo: pd.Timestamp, hi: pd.Timestamp, now: pd.Timestamp
    ) -> None:
        from marketintel.store import insert_df

        s = routed.series
        trust_rows = pd.DataFrame([
            {"series": s.name, "source": k, "evaluated_at_utc": now, "freshness": t.freshness,
             "completeness": t.completeness, "agreement": t.agreement, "reliability": t.reliability,
             "score": t.score, "breaker": self.breaker(k).state,
             "detail": json.dumps({"start": str(lo), "end": str(hi), "lag_s": t.lag_s, "overlap": t.overlap,
                                   "status": routed.status[k], "fetch": self.last_fetch.get(k, "")})}
            for k, t in routed.trust.items()
        ])  # fmt: skip
        insert_df(client, "routing_trust", trust_rows)
        if routed.decisions:
            dec = pd.DataFrame([
                {"series": d.series, "interval_start_utc": d.start, "interval_end_utc": d.end,
                 "chosen": d.chosen, "alternatives": json.dumps(d.alternatives),
                 "weights": json.dumps(d.weights), "reason": d.reason, "decided_at_utc": d.decided_at}
                for d in routed.decisions
            ])  # fmt: skip
            insert_df(client, "routing_decisions", dec)

    def _audit(self, routed: Routed) -> None:
        for run in _runs(routed.decisions):
            first, last = run[0], run[-1]
            self.audit({
                "series": first.series, "interval_start_utc": str(first.start),
                "interval_end_utc": str(last.end),
                "intervals": len(run), "chosen": first.chosen, "reason": first.reason,
                "weights": first.weights, "alternatives": first.alternatives,
                "decided_at_utc": str(first.decided_at),
            })  # fmt: skip


def _runs(decisions: list[Decision]) -> list[list[Decision]]:
    """Group consecutive decisions with the same choice, reason and weights."""
    out: list[list[Decision]] = []
    for d in decisions:
        if out and (out[-1][-1].chosen, out[-1][-1].reason, out[-1][-1].weights) == (
            d.chosen,
            d.reason,
            d.weights,
        ):
            out[-1].append(d)
        else:
            out.append([d])
    return out


def _agree(xs: list[float], tolerance: float) -> bool:
    m = float(np.median(xs))
    return all(abs(x - m) <= tolerance * abs(m) for x in xs)


def _real_series(ranked_values: list[pd.Series]) -> pd.Series:
    """Return the real series: at each interval, the first (highest-priority) source with a value."""
    out = pd.Series(dtype="float64", index=pd.DatetimeIndex([], dtype="datetime64[ns, UTC]"))
    for v in ranked_values:
        out = v.astype("float64") if out.empty else out.combine_first(v)
    return out.sort_index()


def _synthetic(real: pd.Series, t: pd.Timestamp, step: pd.Timedelta) -> float | None:
    """Return the synthetic value of interval ``t`` (module docstring), or None without the history."""
    before = real[real.index < t].dropna()
    if before.empty:
        return None
    anchor = before.index[-1] + step
    n = int(LEVEL / step)
    for period in PERIODS:
        k = 1
        while t - k * period >= anchor:
            k += 1
        base = real.get(t - k * period)
        level = real.reindex(pd.date_range(anchor - LEVEL, anchor, freq=step, inclusive="left"))
        ref = real.reindex(
            pd.date_range(anchor - LEVEL - period, anchor - period, freq=step, inclusive="left")
        )
        if base is None or pd.isna(base) or level.isna().any() or ref.isna().any() or len(level) != n:
            continue
        return float(base) * float(level.mean()) / float(ref.mean())
    return None


def read_candidate(client: Any, s: LogicalSeries, c: Candidate, lo: pd.Timestamp, hi: pd.Timestamp
                   ) -> tuple[pd.Series, pd.Series, pd.Timestamp | None]:  # fmt: skip
    """Return one candidate's values and fidelity by interval start (series resolution) in ``[lo, hi)``.

    Finer intervals are averaged to the series' resolution when all of an interval's parts are there; the
    latest publication of each interval wins. Also returns the end of its newest interval at or before
    ``hi`` (any time before; None without rows).
    """
    value = "price" if s.table == "prices" else "value"
    where = (
        "market = {m:String} AND location = {a:String}" if s.table == "prices"
        else "market = {m:String} AND area = {a:String} AND area_to = '' AND variable = {v:String}"
    )  # fmt: skip
    where += (
        " AND source = {src:String}"
        " AND dateDiff('minute', interval_start_utc, interval_end_utc) = {mins:Int32}"
    )
    params = {"m": c.market, "a": c.location_or_area, "v": c.variable, "src": c.source, "mins": c.minutes,
              "lo": lo.to_pydatetime(), "hi": hi.to_pydatetime(), "res": s.minutes}  # fmt: skip
    sql = f"""
        SELECT toStartOfInterval(start, toIntervalMinute({{res:Int32}}), 'UTC') AS t, avg(v) AS value,
               count() AS parts, any(fid) AS fidelity
        FROM (SELECT interval_start_utc AS start, argMax({value}, published_at_utc) AS v,
                     argMax(fidelity, published_at_utc) AS fid
              FROM {s.table} FINAL
              WHERE {where} AND interval_start_utc >= {{lo:DateTime64(3, 'UTC')}}
                AND interval_start_utc < {{hi:DateTime64(3, 'UTC')}}
              GROUP BY interval_start_utc)
        GROUP BY t ORDER BY t
    """
    rows = client.query(sql, parameters=params).result_rows
    need = s.minutes // c.minutes
    full = [r for r in rows if int(r[2]) == need]
    index = pd.DatetimeIndex(
        [_ts(r[0]) for r in full], dtype="datetime64[ns, UTC]", name="interval_start_utc"
    )
    vals = pd.Series([float(r[1]) for r in full], index=index, dtype="float64")
    fids = pd.Series([str(r[3]) for r in full], index=index, dtype="object")
    newest = client.query(
        f"SELECT max(interval_end_utc), count() FROM {s.table} WHERE {where} "
        "AND interval_end_utc <= {hi:DateTime64(3, 'UTC')}",
        parameters=params,
    ).result_rows[0]
    return vals, fids, (_ts(newest[0]) if int(newest[1]) else None)
