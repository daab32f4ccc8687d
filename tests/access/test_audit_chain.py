"""The audit hash chain: a clean chain verifies; every kind of tampering names the first bad record."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from marketintel.access.audit import GENESIS, Chain, Record, now_text, verify

KEY = bytes(range(32))
START = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)


def build(n: int = 60, key: bytes = KEY) -> tuple[list[Record], dict[int, dict[str, str]]]:
    """``n`` records one hour apart (so they span several days), and the anchors of each day's first."""
    chain = Chain(key)
    records, anchors = [], {}
    for i in range(n):
        at = now_text(START + timedelta(hours=i))
        rec, anchor = chain.append(Record(0, at, "query", f"user{i % 3}", action=f"fp{i}", rows=i))
        records.append(rec)
        if anchor is not None:
            anchors[rec.seq] = anchor
    return records, anchors


def test_a_clean_chain_verifies() -> None:
    records, anchors = build()
    verdict = verify(records, KEY, anchors=anchors, head=(60, records[-1].hash))
    assert verdict.ok and verdict.checked == 60 and (verdict.first_seq, verdict.last_seq) == (1, 60), verdict
    assert records[0].prev_hash == GENESIS and len(anchors) == 4  # 1 Dec 22:00 .. 4 Dec 09:00


def test_a_changed_field_is_named() -> None:
    records, anchors = build()
    records[24] = dataclasses.replace(records[24], rows=999_999)
    verdict = verify(records, KEY, anchors=anchors)
    assert not verdict.ok and verdict.bad_seq == 25 and "changed" in verdict.reason


def test_a_deleted_record_is_named() -> None:
    records, anchors = build()
    del records[9]
    verdict = verify(records, KEY, anchors=anchors)
    assert not verdict.ok and verdict.bad_seq == 10 and "missing" in verdict.reason


def test_a_forged_record_is_named_even_with_a_recomputed_hash_without_the_key() -> None:
    records, anchors = build()
    forged = dataclasses.replace(records[30], user="mallory", action="forged")
    forged = dataclasses.replace(forged, hash=__import__("hashlib").sha256(forged.canonical()).hexdigest())
    verdict = verify([*records[:30], forged, *records[31:]], KEY, anchors=anchors)
    assert not verdict.ok and verdict.bad_seq == 31
    inserted = dataclasses.replace(records[30], action="extra")  # a second record 31
    verdict = verify([*records[:31], inserted, *records[31:]], KEY, anchors=anchors)
    assert not verdict.ok and verdict.bad_seq == 31
    # a whole forged chain made with another key does not verify either
    other, _ = build(key=b"k" * 32)
    assert verify(other, KEY).bad_seq == 1


def test_two_reordered_records_are_named() -> None:
    records, anchors = build()
    a, b = records[40], records[41]
    swapped = [dataclasses.replace(b, seq=a.seq), dataclasses.replace(a, seq=b.seq)]
    verdict = verify([*records[:40], *swapped, *records[42:]], KEY, anchors=anchors)
    assert not verdict.ok and verdict.bad_seq == 41


def test_a_truncated_tail_is_named_against_the_writers_head() -> None:
    records, anchors = build()
    verdict = verify(records[:55], KEY, anchors=anchors, head=(60, records[-1].hash))
    assert not verdict.ok and verdict.bad_seq == 56 and "tail" in verdict.reason
    assert verify(records[:55], KEY, anchors=anchors).ok  # without the head, the cut is invisible


def test_the_chain_stays_verifiable_across_the_retention_cut() -> None:
    records, anchors = build()
    first_of_day = min(s for s in anchors if s > 1)  # retention drops whole days
    kept = [r for r in records if r.seq >= first_of_day]
    verdict = verify(kept, KEY, anchors=anchors, head=(60, records[-1].hash))
    assert verdict.ok and verdict.first_seq == first_of_day and "anchored" in str(verdict)
    # a cut that is not a day's start has no anchor; a forged anchor does not verify
    assert verify(kept[1:], KEY, anchors=anchors).bad_seq == first_of_day + 1
    bad = {first_of_day: dict(anchors[first_of_day], signature="0" * 64)}
    assert verify(kept, KEY, anchors=bad).reason == "its anchor's signature is wrong"


def test_since_checks_from_the_record_before() -> None:
    records, _ = build()
    assert verify(records[20:], KEY, previous=records[19]).ok
    changed = dataclasses.replace(records[19], user="x")
    assert verify(records[20:], KEY, previous=changed).bad_seq == 20


@pytest.mark.parametrize("n", [1, 2])
def test_short_chains(n: int) -> None:
    records, anchors = build(n)
    assert verify(records, KEY, anchors=anchors, head=(n, records[-1].hash)).ok
    assert verify([], KEY, head=(n, records[-1].hash)).bad_seq == 1
