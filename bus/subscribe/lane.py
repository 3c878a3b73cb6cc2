"""A lane: one Kafka consumer of a subscriber, with its commits, pauses and rebalance waits.

A subscriber has two lanes. The source lane consumes the event types' topics in the group
itself; the retry lane consumes the group's retry topics in the group `bus.retry.<group>`, so
waiting for a retry delay (its partition is paused until the record is due) never touches the
source partitions, their assignment or their lag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from bus.logging import get_logger

log = get_logger("bus.subscribe")

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class Lane:
    """One consumer: fetches batches, commits what was finished, pauses partitions on request."""

    def __init__(self, consumer: AIOKafkaConsumer, group: str, assigned: asyncio.Event) -> None:
        self.consumer = consumer
        self.group = group
        self.assigned = assigned
        # Set while no batch is in hand, so a rebalance waits for the batch to be committed.
        self.idle = asyncio.Event()
        self.idle.set()
        self._paused: dict[TopicPartition, asyncio.TimerHandle] = {}

    def listener(self) -> ConsumerRebalanceListener:
        """The rebalance listener to subscribe with."""
        return _RebalanceListener(self)

    async def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit `offsets` of the partitions this member still owns."""
        assigned = self.consumer.assignment()
        owned = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not owned:
            return
        try:
            await self.consumer.commit(owned)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved these partitions to another member: it re-reads from the last
            # commit, and the inbox turns those redeliveries into no-ops.
            log.warning("commit refused after a rebalance", group=self.group, error=repr(exc))

    def pause_until(self, tp: TopicPartition, offset: int, delay_s: float) -> None:
        """Re-read `tp` from `offset`, but not before `delay_s` seconds from now."""
        self.consumer.seek(tp, offset)
        self.consumer.pause(tp)
        if (earlier := self._paused.pop(tp, None)) is not None:
            earlier.cancel()
        self._paused[tp] = asyncio.get_running_loop().call_later(delay_s, self._resume, tp)

    def _resume(self, tp: TopicPartition) -> None:
        self._paused.pop(tp, None)
        if tp in self.consumer.assignment():
            self.consumer.resume(tp)

    def forget(self, partitions: set[TopicPartition] | None = None) -> None:
        """Drop the resume timers of `partitions` (all when None): they are no longer ours."""
        for tp in list(self._paused) if partitions is None else partitions:
            if (timer := self._paused.pop(tp, None)) is not None:
                timer.cancel()


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets a rebalance wait for the batch in hand to be committed, and signals readiness."""

    def __init__(self, lane: Lane) -> None:
        self._lane = lane

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Wait until the batch in hand is handled and committed, then drop resume timers.

        The group waits for this before handing the partitions to another member, so the
        new owner starts after the last commit instead of redoing a whole batch.
        """
        await self._lane.idle.wait()
        self._lane.forget(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Mark the lane as ready."""
        self._lane.assigned.set()
