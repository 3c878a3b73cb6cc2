"""The pipelined Kafka send path shared by the SDK, the HTTP ingress and the outbox relay.

    sender = RecordSender(settings)
    await sender.start()
    pending = await sender.send_record(record)   # returns once buffered, not once acknowledged
    delivery = await pending                     # Delivery(event_id, topic, partition, offset)

The buffer is bounded: at most `producer_max_in_flight` records are sent but not yet
acknowledged. When it is full `send_record` waits for an acknowledgement (backpressure)
instead of growing memory; it never drops a record. Every record gets its own future that
ends in a `Delivery` or in a `BusError` (`BrokerUnavailableError`, `PublishError`).
`send_record_nowait` is the same without a coroutine, for when no wait is needed (the
common case); it returns None when the caller must await `send_record` instead.

Each acknowledged batch is counted in the metrics once per (system, event type), for records
that say which system published them.

`RecordSender` does no ownership check: records reach it already built by `build_record` (the
SDK and the ingress check ownership first; the outbox relay publishes rows that `add_event`
checked when they were written).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from bus.broker import clients
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError, BusError, PublishError
from bus.logging import get_logger
from bus.metrics import count_publish_failures, count_published
from bus.publish.batches import DeliveryTimeoutError, OpenBatch, PartitionBatches
from bus.publish.delivery import Delivery
from bus.publish.record import OutgoingRecord

log = get_logger("bus.publish")


class RecordSender:
    """A Kafka producer with a bounded buffer and a `Delivery` future per record."""

    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self._producer = clients.producer(settings)
        self._batches = self._new_batches()
        self._max_in_flight = settings.producer_max_in_flight
        # Senders waiting for room, first come first served; see `_wake_waiters`.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._buffered = 0
        self._started = False

    def _new_batches(self) -> PartitionBatches:
        return PartitionBatches(
            self._producer,
            self.settings.producer_linger_ms,
            self._settle,
            self.settings.producer_delivery_timeout_ms,
        )

    @property
    def started(self) -> bool:
        """True once connected to the cluster and until `stop`."""
        return self._started

    @property
    def buffered(self) -> int:
        """Records sent but not yet acknowledged or failed."""
        return self._buffered

    async def start(self) -> None:
        """Connect to the cluster; raises `BrokerUnavailableError` if it cannot be reached."""
        if self._started:
            return
        try:
            await clients.start_producer(self._producer, self.settings)
        except BusError:
            # A failed start leaves aiokafka's producer unusable: the next start gets a new one.
            self._producer = clients.producer(self.settings)
            self._batches = self._new_batches()
            raise
        self._started = True

    async def stop(self) -> None:
        """Wait for every buffered record to be acknowledged or failed, then disconnect."""
        if self._started:
            try:
                await self.flush()
            finally:
                await clients.stop_producer(self._producer)
                self._started = False

    async def close(self, flush_timeout_s: float) -> None:
        """Stop within `flush_timeout_s` (and a few seconds): records the cluster has not
        acknowledged by then are dropped, never written later; their futures do not settle."""
        if not self._started:
            return
        self._started = False
        try:
            await asyncio.wait_for(asyncio.shield(self._batches.drain()), flush_timeout_s)
        except TimeoutError:
            log.warning("publish.closed_unacknowledged", records=self._buffered)
        finally:
            await clients.stop_producer(self._producer)

    def send_record_nowait(self, record: OutgoingRecord) -> asyncio.Future[Delivery] | None:
        """Buffer one record if that needs no waiting; None if `send_record` must be awaited.

        It must wait when the buffer is full (or others wait for room before it), when the
        topic's partitions are not known yet, or to raise because the sender is not started.
        """
        if (
            self._buffered >= self._max_in_flight
            or self._waiters
            or not self._started
            or (partition := self._batches.partition_of(record.topic, record.key)) is None
        ):
            return None
        return self._append(record, partition)

    async def send_record(self, record: OutgoingRecord) -> asyncio.Future[Delivery]:
        """Buffer one record; returns a future of its `Delivery` without awaiting the ack."""
        if not self._started:
            raise BrokerUnavailableError("the publisher is not connected: call start() first")
        try:
            try:
                partition = await self._batches.load_partition_of(record.topic, record.key)
            except KafkaError as exc:
                raise publish_error(exc, self.settings) from exc
            except ValueError as exc:
                raise PublishError(str(exc)) from exc
            if self._buffered >= self._max_in_flight or self._waiters:
                await self._room()
                # Metadata may have changed while waiting; the topic is known by now.
                now = self._batches.partition_of(record.topic, record.key)
                partition = partition if now is None else now
            # No await between the room check (or the wake-up) and the append: the bound holds.
            return self._append(record, partition)
        finally:
            # Whether this one was buffered, failed or cancelled, the next waiter may have room.
            if self._waiters:
                self._wake_waiters()

    def _append(self, record: OutgoingRecord, partition: int) -> asyncio.Future[Delivery]:
        try:
            delivery: asyncio.Future[Delivery] = self._batches.append(record, partition)
        except ValueError as exc:
            raise PublishError(str(exc)) from exc
        self._buffered += 1
        return delivery

    async def _room(self) -> None:
        """Wait (backpressure) until this sender's turn has come and the buffer has room."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            self._waiters.remove(waiter)

    def _wake_waiters(self) -> None:
        # Wake as many waiters, oldest first, as there is room for. A woken waiter stays in the
        # queue until it runs, so that no new sender takes the room it was woken for.
        room = self._max_in_flight - self._buffered
        for waiter in self._waiters:
            if room <= 0:
                return
            if not waiter.done():
                waiter.set_result(None)
            room -= 1

    def _settle(self, batch: OpenBatch, ack: asyncio.Future[Any]) -> None:
        """Resolve every record of an acknowledged (or failed) batch, in order."""
        pending = batch.pending
        self._buffered -= len(pending)
        if self._waiters:
            self._wake_waiters()
        topic, partition = batch.topic, batch.partition
        if ack.cancelled() or ack.exception() is not None:
            error = ack.exception() if not ack.cancelled() else None
            for future, event_id in zip(pending, batch.event_ids, strict=True):
                if not future.done():
                    future.set_exception(
                        publish_error(error, self.settings)
                        if error is not None
                        else PublishError(f"send of event {event_id} was cancelled")
                    )
            for (system, event_type), count in batch.counts.items():
                count_publish_failures(system, event_type, count)
            return
        offset = ack.result().offset
        for future, event_id in zip(pending, batch.event_ids, strict=True):
            if not future.done():
                future.set_result(Delivery(event_id, topic, partition, offset))
            offset += 1
        for (system, event_type), count in batch.counts.items():
            count_published(system, event_type, topic, count)

    async def flush(self) -> None:
        """Wait until every record buffered so far is acknowledged or failed."""
        if self._started:
            await self._batches.drain()

    async def cluster_reachable(self, timeout: float = 2.0) -> bool:  # noqa: ASYNC109
        """True if the cluster answers a metadata request within `timeout` seconds."""
        try:
            await self.start()
            metadata = await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)
            return bool(metadata.brokers())
        except (BusError, KafkaError, TimeoutError, OSError):
            return False


def publish_error(exc: BaseException, settings: BusSettings) -> Exception:
    """The `BusError` for an aiokafka failure: unreachable cluster or refused event."""
    if isinstance(exc, DeliveryTimeoutError):
        return BrokerUnavailableError(
            f"Kafka at {settings.bootstrap_servers} did not acknowledge the event within "
            f"producer_delivery_timeout_ms={settings.producer_delivery_timeout_ms} "
            "(BUS_PRODUCER_DELIVERY_TIMEOUT_MS). It may still be written when the cluster is "
            "back: publish it again with the same id to be sure; consumers drop the duplicate"
        )
    # Retriable Kafka errors (node not ready, leader moving, request timed out) mean the
    # cluster is unavailable for now, not that it refused this event.
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError) or getattr(
        exc, "retriable", False
    ):
        return BrokerUnavailableError(
            f"Kafka at {settings.bootstrap_servers} did not acknowledge: {exc}"
        )
    return PublishError(f"the broker refused the event: {exc!r}")
