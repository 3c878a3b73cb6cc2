"""The pipelined Kafka send path shared by the SDK, the HTTP ingress and the outbox relay.

    sender = RecordSender(settings)
    await sender.start()
    pending = await sender.send_record(record)   # returns once buffered, not once acknowledged
    delivery = await pending                     # Delivery(event_id, topic, partition, offset)

The buffer is bounded: at most `producer_max_in_flight` records are sent but not yet
acknowledged. When it is full `send_record` waits for an acknowledgement (backpressure)
instead of growing memory; it never drops a record. Every record gets its own future that
ends in a `Delivery` or in a `BusError` (`BrokerUnavailableError`, `PublishError`).

`RecordSender` does no ownership check: records reach it already built by `build_record` (the
SDK and the ingress check ownership first; the outbox relay publishes rows that `add_event`
checked when they were written).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from bus.broker import clients
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError, BusError, PublishError
from bus.publish.batches import OpenBatch, PartitionBatches
from bus.publish.delivery import Delivery
from bus.publish.record import OutgoingRecord


class RecordSender:
    """A Kafka producer with a bounded buffer and a `Delivery` future per record."""

    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self._producer = clients.producer(settings)
        self._batches = self._new_batches()
        self._in_flight = asyncio.Semaphore(settings.producer_max_in_flight)
        self._buffered = 0
        self._started = False

    def _new_batches(self) -> PartitionBatches:
        return PartitionBatches(self._producer, self.settings.producer_linger_ms, self._settle)

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
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            # A failed start leaves aiokafka's producer unusable: the next start gets a new one.
            self._producer = clients.producer(self.settings)
            self._batches = self._new_batches()
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from exc
        self._started = True

    async def stop(self) -> None:
        """Wait for every buffered record to be acknowledged or failed, then disconnect."""
        if self._started:
            try:
                await self.flush()
            finally:
                await self._producer.stop()
                self._started = False

    async def send_record(self, record: OutgoingRecord) -> asyncio.Future[Delivery]:
        """Buffer one record; returns a future of its `Delivery` without awaiting the ack."""
        if not self._started:
            raise BrokerUnavailableError("the publisher is not connected: call start() first")
        await self._in_flight.acquire()
        try:
            partition = await self._batches.partition_of(record.topic, record.key)
            delivery: asyncio.Future[Delivery] = self._batches.append(record, partition)
        except KafkaError as exc:
            self._in_flight.release()
            raise publish_error(exc, self.settings) from exc
        except ValueError as exc:
            self._in_flight.release()
            raise PublishError(str(exc)) from exc
        except BaseException:
            self._in_flight.release()
            raise
        self._buffered += 1
        return delivery

    def _settle(self, batch: OpenBatch, ack: asyncio.Future[Any]) -> None:
        """Resolve every record of an acknowledged (or failed) batch, in order."""
        count = len(batch.events)
        self._buffered -= count
        for _ in range(count):
            self._in_flight.release()
        if ack.cancelled() or ack.exception() is not None:
            error = ack.exception() if not ack.cancelled() else None
            for pending, event_id in batch.events:
                if not pending.done():
                    pending.set_exception(
                        publish_error(error, self.settings)
                        if error is not None
                        else PublishError(f"send of event {event_id} was cancelled")
                    )
            return
        base = ack.result().offset
        for index, (pending, event_id) in enumerate(batch.events):
            if not pending.done():
                pending.set_result(Delivery(event_id, batch.topic, batch.partition, base + index))

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
    # Retriable Kafka errors (node not ready, leader moving, request timed out) mean the
    # cluster is unavailable for now, not that it refused this event.
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError) or getattr(
        exc, "retriable", False
    ):
        return BrokerUnavailableError(
            f"Kafka at {settings.bootstrap_servers} did not acknowledge: {exc}"
        )
    return PublishError(f"the broker refused the event: {exc!r}")
