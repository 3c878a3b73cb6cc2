"""Reading dead-letter topics (`bus.dlq.<group>`): what failed, for which group, and why.

    letters = await read_dead_letters(settings, {("bus.dlq.bapenda.sipd", 0): (0, 12)}, last=20)

A dead letter keeps the original CloudEvents headers (`ce_id`, `ce_type`, ...) and adds the
`dlq_*` headers written by the reliability path; nothing here decodes the data itself, which
may hold personal data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import TopicPartition

from bus.broker import clients
from bus.config import BusSettings
from bus.reliability.naming import DLQ_PREFIX, group_of_dlq

TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered event, described by its headers."""

    group: str
    topic: str
    partition: int
    offset: int
    event_id: str
    event_type: str
    original_topic: str
    error_class: str
    error_message: str
    attempts: int
    last_failure_at: str

    @classmethod
    def of(
        cls, topic: str, partition: int, offset: int, headers: Sequence[tuple[str, bytes | None]]
    ) -> DeadLetter:
        """A dead letter from a record's position and headers (missing headers read as '')."""
        values = {name: (raw or b"").decode(errors="replace") for name, raw in headers}
        attempts = values.get("dlq_attempts", "")
        return cls(
            group=values.get("dlq_group")
            or (group_of_dlq(topic) if is_dead_letter_topic(topic) else ""),
            topic=topic,
            partition=partition,
            offset=offset,
            event_id=values.get("ce_id", ""),
            event_type=values.get("ce_type", ""),
            original_topic=values.get("dlq_original_topic", ""),
            error_class=values.get("dlq_error_class", ""),
            error_message=values.get("dlq_error_message", ""),
            attempts=int(attempts) if attempts.isdigit() else 0,
            last_failure_at=values.get("dlq_last_failure_at", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def is_dead_letter_topic(topic: str) -> bool:
    """True for `bus.dlq.<group>` topics."""
    return topic.startswith(DLQ_PREFIX)


async def read_dead_letters(
    settings: BusSettings,
    ranges: Mapping[TP, tuple[int, int]],
    *,
    last: int | None = None,
    timeout_s: float = 10.0,
) -> list[DeadLetter]:
    """Dead letters in `ranges` ((start, end) per partition), or only the `last` of each."""
    wanted = {
        tp: (max(start, end - last) if last is not None else start, end)
        for tp, (start, end) in ranges.items()
        if end > start
    }
    if not wanted:
        return []
    consumer = clients.consumer(settings, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        tps = {tp: TopicPartition(*tp) for tp in wanted}
        consumer.assign(list(tps.values()))
        for tp, (start, _) in wanted.items():
            consumer.seek(tps[tp], start)
        remaining = {tp for tp in wanted}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition, records in batch.items():
                tp = (partition.topic, partition.partition)
                end = wanted[tp][1]
                for record in records:
                    if record.offset < end:
                        letters.append(
                            DeadLetter.of(
                                record.topic, record.partition, record.offset, record.headers
                            )
                        )
                if records and records[-1].offset >= end - 1:
                    remaining.discard(tp)
                    consumer.pause(partition)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda d: (d.last_failure_at, d.topic, d.offset))
