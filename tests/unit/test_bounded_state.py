"""State a long-running process keeps per event stays bounded, and replay counts what expired."""

from __future__ import annotations

from aiokafka import TopicPartition

from bus.dlq.replay import expired_letters
from bus.subscribe.subscriber import MAX_INVALID_REASONS, SubscriberStats


def test_invalid_reasons_keep_only_the_latest() -> None:
    stats = SubscriberStats()
    for n in range(10_000):
        stats.invalid_reasons.append(f"reason {n}")
    assert len(stats.invalid_reasons) == MAX_INVALID_REASONS
    kept = list(stats.invalid_reasons)
    assert kept == [f"reason {n}" for n in range(10_000 - MAX_INVALID_REASONS, 10_000)]


def test_dead_letters_behind_the_first_offset_left_are_counted_as_expired() -> None:
    a, b, c = (TopicPartition("bus.dlq.g", p) for p in range(3))
    cursor = {a: 5, b: 40}  # c: never replayed
    firsts = {a: 12, b: 30, c: 7}
    assert expired_letters(cursor, firsts) == {a: 7, c: 7}
