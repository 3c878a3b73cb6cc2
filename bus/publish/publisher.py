"""The publishing SDK: typed events in, acknowledged deliveries out, sends pipelined.

    async with Publisher(system="dpmptsp.sicantik") as publisher:
        delivery = await publisher.publish(IzinTerbit(...))      # waits for the broker's ack
        pending = await publisher.send(IzinTerbit(...))          # returns once queued
        deliveries = await publisher.publish_batch(events)       # one ack wait for all

`send` never waits for the broker per event: records are batched by the Kafka producer and
acknowledged together; a bounded number of unacknowledged events (`producer_max_in_flight`)
applies backpressure instead of growing memory without limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.structs import RecordMetadata

from bus.broker import clients
from bus.catalog import Catalog, EventData, EventType, load_catalog
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError, NotOwnerError, PublishError
from bus.logging import get_logger
from bus.publish.delivery import Delivery
from bus.publish.record import OutgoingRecord, build_record

log = get_logger("bus.publish")


class Publisher:
    """Publishes the event types owned by one system."""

    def __init__(
        self,
        system: str,
        *,
        catalog: Catalog | None = None,
        settings: BusSettings | None = None,
    ) -> None:
        self.settings = settings or BusSettings()
        self.catalog = catalog or load_catalog(self.settings.catalog_module)
        self.system = self.catalog.system(system)
        self._producer = clients.producer(self.settings)
        self._in_flight = asyncio.Semaphore(self.settings.producer_max_in_flight)
        self._pending: set[asyncio.Future[Delivery]] = set()
        self._started = False

    async def start(self) -> None:
        """Connect to the cluster; raises `BrokerUnavailableError` if it cannot be reached."""
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from exc
        self._started = True

    async def stop(self) -> None:
        """Wait for every sent event to be acknowledged, then disconnect."""
        if self._started:
            try:
                await self.flush()
            finally:
                await self._producer.stop()
                self._started = False

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def event_type_of(self, ref: EventData | type[EventData] | str) -> EventType:
        """The catalog entry for `ref`, checked to be owned by this publisher's system."""
        if isinstance(ref, EventData):
            ref = type(ref)
        event_type = self.catalog.event_type(ref)
        if event_type.owner != self.system.id:
            raise NotOwnerError(self.system.id, event_type.type, event_type.owner)
        return event_type

    def prepare(
        self,
        data: EventData | Mapping[str, Any] | bytes | str,
        *,
        event_type: str | None = None,
        id: str | None = None,
        time: datetime | None = None,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> OutgoingRecord:
        """Validate and envelope one event without sending it (`SchemaValidationError` if bad)."""
        if event_type is None:
            if not isinstance(data, EventData):
                raise TypeError("event_type is required when data is not an EventData instance")
            et = self.event_type_of(data)
        else:
            et = self.event_type_of(event_type)
        return build_record(
            et,
            self.system,
            data,
            id=id,
            time=time,
            correlation_id=correlation_id,
            traceparent=traceparent,
        )

    async def send_record(self, record: OutgoingRecord) -> asyncio.Future[Delivery]:
        """Queue a prepared record; returns a future of its `Delivery` without awaiting the ack."""
        await self._in_flight.acquire()
        try:
            ack = await self._producer.send(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
        except KafkaError as exc:
            self._in_flight.release()
            raise _publish_error(exc, self.settings) from exc
        except BaseException:
            self._in_flight.release()
            raise
        delivery: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._pending.add(delivery)
        ack.add_done_callback(lambda done: self._settle(done, delivery, record))
        return delivery

    def _settle(
        self,
        ack: asyncio.Future[RecordMetadata],
        delivery: asyncio.Future[Delivery],
        record: OutgoingRecord,
    ) -> None:
        self._in_flight.release()
        self._pending.discard(delivery)
        if delivery.done():
            return
        if ack.cancelled():
            delivery.set_exception(
                PublishError(f"send of event {record.envelope.id} was cancelled")
            )
        elif (exc := ack.exception()) is not None:
            delivery.set_exception(_publish_error(exc, self.settings))
        else:
            meta = ack.result()
            delivery.set_result(
                Delivery(record.envelope.id, meta.topic, meta.partition, meta.offset)
            )

    async def send(
        self, data: EventData | Mapping[str, Any] | bytes | str, **options: Any
    ) -> asyncio.Future[Delivery]:
        """Validate, envelope and queue one event; await the returned future for its `Delivery`."""
        return await self.send_record(self.prepare(data, **options))

    async def publish(
        self, data: EventData | Mapping[str, Any] | bytes | str, **options: Any
    ) -> Delivery:
        """Publish one event and wait until the broker acknowledged it."""
        return await (await self.send(data, **options))

    async def publish_batch(self, events: Iterable[EventData]) -> list[Delivery]:
        """Publish many events pipelined; returns their deliveries in the same order.

        Every event is validated before the first is sent, so a bad event fails the whole
        batch without half of it on the topic.
        """
        records = [self.prepare(event) for event in events]
        futures = [await self.send_record(record) for record in records]
        return list(await asyncio.gather(*futures))

    async def flush(self) -> None:
        """Wait until every event sent so far is acknowledged or failed."""
        await self._producer.flush()
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def _publish_error(exc: BaseException, settings: BusSettings) -> Exception:
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError):
        return BrokerUnavailableError(
            f"Kafka at {settings.bootstrap_servers} did not acknowledge: {exc}"
        )
    return PublishError(f"the broker refused the event: {exc!r}")
