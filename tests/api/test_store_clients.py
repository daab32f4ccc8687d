"""The API's store clients: a burst of one cold caller connects and reads its entitlement once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from marketintel.api import store


def test_concurrent_first_requests_of_a_caller_share_one_connection_and_one_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"connect": 0, "entitlement": 0}
    sentinel = object()

    def connect(self: store.Clients, **settings: Any) -> object:
        calls["connect"] += 1
        time.sleep(0.05)  # the store takes a while: every thread of the burst is waiting by now
        return object()

    def entitlement(client: object) -> object:
        calls["entitlement"] += 1
        time.sleep(0.05)
        return sentinel

    monkeypatch.setattr(store.Clients, "_connect", connect)
    monkeypatch.setattr(store.access, "entitlement", entitlement)
    clients = store.Clients()
    answers: list[object] = []
    threads = [threading.Thread(target=lambda: answers.append(clients.entitlement("ann"))) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert answers == [sentinel] * 40
    assert calls == {"connect": 1, "entitlement": 1}
    clients.entitlement("bob")  # another caller is read on its own
    assert calls == {"connect": 2, "entitlement": 2}
