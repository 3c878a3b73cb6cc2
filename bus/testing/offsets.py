"""Start a fresh consumer group at the end of its topics, so a test sees only its own events.

Topics are shared across a test session; a new group that starts at `earliest` would first
work through every event earlier tests left there.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bus.broker import clients
from bus.config import BusSettings

__all__ = ["start_group_at_end"]


async def start_group_at_end(
    settings: BusSettings, group: str, topics: Iterable[str]
) -> dict[TopicPartition, int]:
    """Commit the current end offset of every partition of `topics` for `group`; returns them."""
    consumer = clients.consumer(settings, group_id=group)
    await consumer.start()
    try:
        partitions = await clients.topic_partitions(consumer, *topics)
        consumer.assign(partitions)  # committing needs an assignment, even with a group id
        ends = await consumer.end_offsets(partitions)
        # (Tansu reports the base offset of the last produce batch + 1 as the end: there the
        # group may also see the rest of that one batch, but never misses a later event.)
        await consumer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
        return dict(ends)
    finally:
        await consumer.stop()
