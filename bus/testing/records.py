"""Read what is really on a topic: end offsets, committed offsets, every record up to the end.

Tests count effects with these, independently of the code under test. `read_to_end` reads each
partition up to the end offset it had when called, never stopping at the first match, so an
event written twice is seen twice.

    start = await end_offsets(settings, topic)
    ...                                              # publish
    records = await read_to_end(settings, start)     # everything published since `start`
    copies = count_by_ce_id(records)                 # {(ce_source, ce_id): copies}
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition

from bus.broker import clients
from bus.config import BusSettings

__all__ = [
    "ce_identity",
    "committed_offsets",
    "count_by_ce_id",
    "end_offsets",
    "header",
    "lost_and_doubled",
    "read_to_end",
    "record_counts",
]


async def end_offsets(settings: BusSettings, *topics: str) -> dict[TopicPartition, int]:
    """The end offset of every partition of `topics` right now."""
    consumer = clients.consumer(settings, group_id=None)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(await clients.topic_partitions(consumer, *topics)))
    finally:
        await clients.stop_consumer(consumer)


async def record_counts(settings: BusSettings, *topics: str) -> dict[str, int]:
    """How many records each of `topics` ever received: the sum of its partitions' end offsets."""
    totals: Counter[str] = Counter()
    for tp, end in (await end_offsets(settings, *topics)).items():
        totals[tp.topic] += end
    return {topic: totals[topic] for topic in topics}


async def committed_offsets(
    settings: BusSettings, group: str, *topics: str
) -> dict[TopicPartition, int]:
    """`group`'s committed offset on every partition of `topics` (0 where it has none)."""
    consumer = clients.consumer(settings, group_id=group)
    await consumer.start()
    try:
        return {
            tp: (await consumer.committed(tp)) or 0
            for tp in await clients.topic_partitions(consumer, *topics)
        }
    finally:
        await clients.stop_consumer(consumer)


async def read_to_end(
    settings: BusSettings, start: Mapping[TopicPartition, int], deadline_s: float = 60.0
) -> list[Any]:
    """Every record from `start` up to each partition's end offset now, in partition order."""
    consumer = clients.consumer(settings, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(start))
        remaining = {tp: end for tp, end in ends.items() if end > start[tp]}
        consumer.assign(list(remaining))
        for tp in remaining:
            consumer.seek(tp, start[tp])
        found: dict[TopicPartition, list[Any]] = {tp: [] for tp in start}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while remaining:
            if loop.time() > deadline:
                raise TimeoutError(f"records up to the end offsets not read in {deadline_s} s")
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=200)).items():
                for record in records:
                    if record.offset < remaining.get(tp, 0):
                        found[tp].append(record)
                if await consumer.position(tp) >= remaining[tp]:
                    del remaining[tp]
                    consumer.pause(tp)
        return [record for tp in start for record in found[tp]]
    finally:
        await clients.stop_consumer(consumer)


def header(record: Any, name: str) -> str | None:
    """A record header as text, or None."""
    for key, value in record.headers or ():
        if key == name:
            return None if value is None else bytes(value).decode()
    return None


def ce_identity(record: Any) -> tuple[str, str]:
    """(ce_source, ce_id) of a record: what makes a CloudEvent unique."""
    return header(record, "ce_source") or "", header(record, "ce_id") or ""


def count_by_ce_id(records: Sequence[Any]) -> Counter[tuple[str, str]]:
    """How many copies of each (ce_source, ce_id) `records` hold."""
    return Counter(ce_identity(record) for record in records)


def lost_and_doubled(
    expected: Iterable[tuple[str, str]], copies: Mapping[tuple[str, str], int]
) -> tuple[int, int]:
    """(events of `expected` with no copy, events of `expected` with more than one copy)."""
    wanted = set(expected)
    lost = sum(1 for identity in wanted if copies.get(identity, 0) == 0)
    doubled = sum(1 for identity in wanted if copies.get(identity, 0) > 1)
    return lost, doubled
