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

Every submitted batch is settled exactly once: by the broker's acknowledgement, by a refusal, or
by its delivery deadline (`producer_delivery_timeout_ms`). The deadline exists because an
idempotent aiokafka producer retries a batch for ever while the cluster is down; without it
`publish()` and `flush()` would hang for the whole outage. A batch past its deadline may still
be written later (aiokafka keeps it); if it is, that is logged, never settled a second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

from bus.logging import get_logger
from bus.publish.partitioner import KeyPartitioner
from bus.publish.record import OutgoingRecord

log = get_logger("bus.publish")


class DeliveryTimeoutError(KafkaTimeoutError):  # type: ignore[misc]
    """A batch was not acknowledged within `producer_delivery_timeout_ms`."""


class OpenBatch:
    """One partition's batch being filled: the builder, and per record its future and id."""

    __slots__ = (
        "builder",
        "counts",
        "deadline",
        "event_ids",
        "linger",
        "partition",
        "pending",
        "settled",
        "topic",
    )

    def __init__(self, topic: str, partition: int, builder: Any) -> None:
        self.topic = topic
        self.partition = partition
        self.builder = builder
        self.pending: list[asyncio.Future[Any]] = []
        self.event_ids: list[str] = []
        # Records per (publishing system, event type), for the metrics when the batch settles.
        self.counts: dict[tuple[str, str], int] = {}
        self.linger: asyncio.TimerHandle | None = None
        self.deadline: asyncio.TimerHandle | None = None
        #: Set once the batch is settled: acknowledged, refused or past its deadline.
        self.settled: asyncio.Future[None] | None = None


Settle = Callable[[OpenBatch, "asyncio.Future[Any]"], None]


class PartitionBatches:
    """Open batches per topic-partition, submitted in order to one producer."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        linger_ms: int,
        settle: Settle,
        delivery_timeout_ms: int = 120_000,
    ) -> None:
        self._producer = producer
        self._partitioner = KeyPartitioner(producer.client.cluster)
        self._linger_s = linger_ms / 1000
        self._delivery_timeout_s = delivery_timeout_ms / 1000
        self._settle = settle
        self._open: dict[tuple[str, int], OpenBatch] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._unsettled: set[OpenBatch] = set()

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
        """Ship every open batch and wait until each is settled (at most its delivery deadline)."""
        self.submit_all()
        while self._unsettled:
            await asyncio.gather(
                *(batch.settled for batch in list(self._unsettled) if batch.settled)
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
        loop = asyncio.get_running_loop()
        batch.settled = loop.create_future()
        self._unsettled.add(batch)
        batch.deadline = loop.call_later(self._delivery_timeout_s, self._expire, batch)
        task = loop.create_task(self._ship(batch))
        # The task settles its batch; holding the batch holds the task until then.
        batch.settled.add_done_callback(lambda _: task)

    async def _ship(self, batch: OpenBatch) -> None:
        lock = self._locks.setdefault((batch.topic, batch.partition), asyncio.Lock())
        async with lock:  # FIFO: batches of a partition reach the producer in opening order
            if batch.settled is None or batch.settled.done():
                return  # past its deadline before it reached the producer: never sent
            try:
                ack = await self._producer.send_batch(
                    batch.builder, batch.topic, partition=batch.partition
                )
            except Exception as exc:
                self._finish(batch, _failed(exc))
                return
        ack.add_done_callback(lambda done: self._finish(batch, done))

    def _expire(self, batch: OpenBatch) -> None:
        seconds = self._delivery_timeout_s
        self._finish(
            batch, _failed(DeliveryTimeoutError(f"no acknowledgement within {seconds:g} s"))
        )

    def _finish(self, batch: OpenBatch, ack: asyncio.Future[Any]) -> None:
        """Settle `batch` the first time; a late acknowledgement after its deadline is logged."""
        if batch.settled is None or batch.settled.done():
            if not ack.cancelled() and ack.exception() is None:
                log.warning(
                    "publish.acknowledged_after_deadline",
                    topic=batch.topic,
                    partition=batch.partition,
                    offset=ack.result().offset,
                    event_ids=batch.event_ids,
                )
            return
        if batch.deadline is not None:
            batch.deadline.cancel()
        self._unsettled.discard(batch)
        batch.settled.set_result(None)
        self._settle(batch, ack)


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(exc)
    return failed
