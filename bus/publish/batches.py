"""Per-partition record batches that the bus fills itself and hands to the producer whole.

aiokafka's `send()` costs about as much per record as all of the bus's own work (validation,
envelope, key, serialisation) together: it resolves metadata, partitions, serialises and makes
a future for every record. The bus already has the key and the bytes, so it picks the
partition with Kafka's own key partitioner (`bus.publish.partitioner`), appends each record
straight into an open `BatchBuilder` of that partition and submits the batch with
`send_batch` when it is full, when `linger_ms` has passed since its first record, or on
`flush()`.

Order per partition is kept: batches of one partition are submitted one after the other under
a FIFO lock, in the order they were opened, and Kafka appends a batch's records in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from bus.publish.partitioner import KeyPartitioner
from bus.publish.record import OutgoingRecord


class OpenBatch:
    """One partition's batch being filled: the builder, and per record its future and id."""

    __slots__ = ("builder", "counts", "event_ids", "linger", "partition", "pending", "topic")

    def __init__(self, topic: str, partition: int, builder: Any) -> None:
        self.topic = topic
        self.partition = partition
        self.builder = builder
        self.pending: list[asyncio.Future[Any]] = []
        self.event_ids: list[str] = []
        # Records per (publishing system, event type), for the metrics when the batch settles.
        self.counts: dict[tuple[str, str], int] = {}
        self.linger: asyncio.TimerHandle | None = None


Settle = Callable[[OpenBatch, "asyncio.Future[Any]"], None]


class PartitionBatches:
    """Open batches per topic-partition, submitted in order to one producer."""

    def __init__(self, producer: AIOKafkaProducer, linger_ms: int, settle: Settle) -> None:
        self._producer = producer
        self._partitioner = KeyPartitioner(producer.client.cluster)
        self._linger_s = linger_ms / 1000
        self._settle = settle
        self._open: dict[tuple[str, int], OpenBatch] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._submitting: set[asyncio.Task[None]] = set()
        self._unacknowledged: set[asyncio.Future[Any]] = set()

    def partition_of(self, topic: str, key: bytes) -> int | None:
        """The partition of `key`, or None until the topic's metadata is loaded."""
        return self._partitioner.partition(topic, key)

    async def load_partition_of(self, topic: str, key: bytes) -> int:
        """The partition of `key`, loading the topic's metadata first if needed."""
        partition = self._partitioner.partition(topic, key)
        if partition is None:
            # Raises aiokafka's error if the topic's metadata cannot be had.
            await self._producer.partitions_for(topic)
            partition = self._partitioner.partition(topic, key)
            if partition is None:
                raise ValueError(f"topic {topic} has no partitions")
        return partition

    def append(self, record: OutgoingRecord, partition: int) -> asyncio.Future[Any]:
        """Add one record to its partition's open batch; returns the record's pending future."""
        topic = record.topic
        batch = self._open.get((topic, partition))
        if batch is None:
            batch = self._open_batch(topic, partition)
        if (
            batch.builder.append(
                timestamp=None, key=record.key, value=record.value, headers=record.headers
            )
            is None
        ):
            self._submit(batch)  # full: ship it and start the next one
            batch = self._open_batch(topic, partition)
            if (
                batch.builder.append(
                    timestamp=None, key=record.key, value=record.value, headers=record.headers
                )
                is None
            ):
                del self._open[(topic, partition)]
                raise ValueError(
                    f"event {record.id} ({len(record.value)} bytes) is larger than "
                    "producer_max_batch_bytes allows"
                )
        pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        batch.pending.append(pending)
        batch.event_ids.append(record.id)
        if record.system is not None:
            labels = (record.system, record.type)
            batch.counts[labels] = batch.counts.get(labels, 0) + 1
        return pending

    def submit_all(self) -> None:
        """Ship every open batch now, without waiting for `linger_ms`."""
        for batch in list(self._open.values()):
            self._submit(batch)

    async def drain(self) -> None:
        """Ship every open batch and wait until each is acknowledged or failed and settled."""
        self.submit_all()
        while self._submitting or self._unacknowledged:
            await asyncio.gather(
                *list(self._submitting), *list(self._unacknowledged), return_exceptions=True
            )

    def _open_batch(self, topic: str, partition: int) -> OpenBatch:
        batch = OpenBatch(topic, partition, self._producer.create_batch())
        self._open[(topic, partition)] = batch
        loop = asyncio.get_running_loop()
        if self._linger_s > 0:
            batch.linger = loop.call_later(self._linger_s, self._submit, batch)
        else:
            loop.call_soon(self._submit, batch)
        return batch

    def _submit(self, batch: OpenBatch) -> None:
        slot = (batch.topic, batch.partition)
        if self._open.get(slot) is not batch:
            return  # already submitted (full, flushed, or its linger fired)
        del self._open[slot]
        if batch.linger is not None:
            batch.linger.cancel()
        batch.builder.close()
        task = asyncio.get_running_loop().create_task(self._ship(batch))
        self._submitting.add(task)
        task.add_done_callback(self._submitting.discard)

    async def _ship(self, batch: OpenBatch) -> None:
        lock = self._locks.setdefault((batch.topic, batch.partition), asyncio.Lock())
        async with lock:  # FIFO: batches of a partition reach the producer in opening order
            try:
                ack = await self._producer.send_batch(
                    batch.builder, batch.topic, partition=batch.partition
                )
            except Exception as exc:
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                self._settle(batch, failed)
                return
        self._unacknowledged.add(ack)
        ack.add_done_callback(lambda done: self._acknowledged(batch, done))

    def _acknowledged(self, batch: OpenBatch, ack: asyncio.Future[Any]) -> None:
        self._unacknowledged.discard(ack)
        self._settle(batch, ack)
