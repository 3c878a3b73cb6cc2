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


async def start_group_at_end(settings: BusSettings, group: str, topics: Iterable[str]) -> None:
    """Commit the current end offset of every partition of `topics` for `group`."""
    consumer = clients.consumer(settings, group_id=group)
    await consumer.start()
    try:
        await consumer.topics()  # loads metadata for every topic, so partitions are known
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)  # committing needs an assignment, even with a group id
        ends = await consumer.end_offsets(partitions)
        # Tansu reports the base offset of the last produce batch + 1 as the end: at worst the
        # group then also sees the rest of that one batch, never misses a later event.
        await consumer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
    finally:
        await consumer.stop()
