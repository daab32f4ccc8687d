"""Reads shared by the sessions of one process: one store read per interval, "unchanged" by identity."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from marketintel.dashboards import data


@pytest.fixture(autouse=True)
def _nothing_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "_shared", {})


def test_a_read_is_shared_within_its_interval_and_made_again_after() -> None:
    answers = iter([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})])
    calls = []

    def read() -> pd.DataFrame:
        calls.append(time.monotonic())
        return next(answers)

    first = data.shared_read(("k",), read, ttl_s=0.2)
    assert data.shared_read(("k",), read, ttl_s=0.2) is first and len(calls) == 1
    time.sleep(0.25)
    same = data.shared_read(("k",), read, ttl_s=0.2)
    assert len(calls) == 2 and same is first  # read again, equal: the object pages already hold
    time.sleep(0.25)
    changed = data.shared_read(("k",), read, ttl_s=0.2)
    assert len(calls) == 3 and changed is not first and changed["a"].tolist() == [2]


def test_keys_are_read_apart_and_frames_differing_in_dtype_are_not_equal() -> None:
    ints = data.shared_read(("ints",), lambda: pd.DataFrame({"a": [1, 2]}), ttl_s=60)
    floats = data.shared_read(("floats",), lambda: pd.DataFrame({"a": [1.0, 2.0]}), ttl_s=60)
    assert ints is not floats
    assert not data._equal(ints, floats)
    assert data._equal(ints, pd.DataFrame({"a": [1, 2]}))
    assert not data._equal(ints, pd.DataFrame({"b": [1, 2]}))
