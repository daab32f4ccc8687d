"""Per-user rate limits: a moving window per user, reads and exports counted apart, 429 with Retry-After."""

from __future__ import annotations

import time

import pytest

from marketintel.api.limiter import DEFAULT_EXPORT_RATE, DEFAULT_RATE, Limiter
from marketintel.api.problems import Problem


def over(limiter: Limiter, user: str, export: bool = False) -> Problem:
    with pytest.raises(Problem) as caught:
        limiter.check(user, export=export)
    return caught.value


def test_the_allowance_then_429_with_whole_seconds_to_wait() -> None:
    limiter = Limiter("3/second", "1/minute")
    for _ in range(3):
        limiter.check("alice")
    refused = over(limiter, "alice")
    assert refused.status == 429 and refused.extra["limit"] == "3 per 1 second"
    assert "alice" in refused.detail and "requests" in refused.detail
    wait = refused.headers["Retry-After"]
    assert wait.isdigit() and int(wait) >= 1, wait
    body = refused.response().body
    assert b'"status":429' in body and b'"title":"Too many requests"' in body


def test_users_and_the_two_limits_are_counted_apart() -> None:
    limiter = Limiter("2/second", "1/minute")
    limiter.check("alice")
    limiter.check("alice")
    over(limiter, "alice")
    limiter.check("bob")  # another user is not limited by alice's burst
    limiter.check("alice", export=True)  # nor are exports by reads
    refused = over(limiter, "alice", export=True)
    assert "exports" in refused.detail and refused.extra["limit"] == "1 per 1 minute"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_the_window_moves_on() -> None:
    limiter = Limiter("2/second")
    limiter.check("alice")
    limiter.check("alice")
    wait = int(over(limiter, "alice").headers["Retry-After"])
    time.sleep(wait + 0.05)
    limiter.check("alice")  # served again after the stated delay


def test_rates_come_from_the_environment_or_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MI_API_RATE", raising=False)
    monkeypatch.delenv("MI_API_EXPORT_RATE", raising=False)
    default = Limiter()
    assert str(default.rate) == str(Limiter(DEFAULT_RATE).rate) == "100 per 1 second"
    assert str(default.export_rate) == str(Limiter(export_rate=DEFAULT_EXPORT_RATE).export_rate)
    monkeypatch.setenv("MI_API_RATE", "10/minute")
    monkeypatch.setenv("MI_API_EXPORT_RATE", "5 per hour")
    configured = Limiter()
    assert (str(configured.rate), str(configured.export_rate)) == ("10 per 1 minute", "5 per 1 hour")
