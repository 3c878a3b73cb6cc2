"""The publishing SDK: typed events in, acknowledged deliveries out, sends pipelined.

    async with Publisher(system="dpmptsp.sicantik") as publisher:
        delivery = await publisher.publish(IzinTerbit(...))      # waits for the broker's ack
        pending = await publisher.send(IzinTerbit(...))          # returns once buffered
        deliveries = await publisher.publish_batch(events)       # one ack wait for all
        results = await publisher.publish_batch(events, return_exceptions=True)
        await publisher.flush()                                  # everything sent is settled

`send` never waits for the broker per event: records are appended to per-partition batches
(`bus.publish.batches`) and acknowledged together. The buffer is bounded: at most
`producer_max_in_flight` events are sent but not yet acknowledged; when it is full, `send`
waits (backpressure) instead of growing memory or dropping events. Each event's future ends
in a `Delivery` (topic, partition, offset) or a `BusError` saying why that event was not
acknowledged; `bus_events_published_total` and `bus_publish_failures_total` count them a
batch at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, overload

from bus.acl.principals import check_identity
from bus.catalog import Catalog, EventData, EventType, load_catalog
from bus.config import BusSettings
from bus.errors import BusError, NotOwnerError
from bus.logging import get_logger, protect_personal_data
from bus.publish.delivery import Delivery
from bus.publish.record import OutgoingRecord, RecordTemplate, record_template
from bus.publish.sender import RecordSender
from bus.tracing import current_traceparent

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
        protect_personal_data(self.settings)  # in production, refuses to start without keys
        self.catalog = catalog or load_catalog(self.settings.catalog_module)
        self.system = self.catalog.system(system)
        self.sender = RecordSender(self.settings)
        # Per event type (as named in `send`, or as the data's class): its checked template.
        self._templates: dict[str | type, RecordTemplate] = {}

    async def start(self) -> None:
        """Connect to the cluster; raises `BrokerUnavailableError` if it cannot be reached, and
        `IdentityMismatchError` if the credentials are another system's."""
        check_identity(self.settings, self.system.id)
        await self.sender.start()

    async def stop(self) -> None:
        """Wait for every sent event to be acknowledged or failed, then disconnect."""
        await self.sender.stop()

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
        template = self._templates.get(event_type if event_type is not None else type(data))
        if template is None:
            template = self._template_of(data, event_type)
        return template.record(
            data,
            id=id,
            time=time,
            correlation_id=correlation_id,
            traceparent=traceparent or current_traceparent(),
        )

    def _template_of(
        self, data: EventData | Mapping[str, Any] | bytes | str, event_type: str | None
    ) -> RecordTemplate:
        # Once per event type (or class) named: look it up, check ownership, keep the template.
        if event_type is None:
            if not isinstance(data, EventData):
                raise TypeError("event_type is required when data is not an EventData instance")
            template = record_template(self.event_type_of(data), self.system)
            self._templates[type(data)] = template
        else:
            template = record_template(self.event_type_of(event_type), self.system)
            self._templates[event_type] = template
        return template

    async def send_record(self, record: OutgoingRecord) -> asyncio.Future[Delivery]:
        """Buffer a prepared record; returns a future of its `Delivery` without awaiting the ack."""
        pending = self.sender.send_record_nowait(record)
        if pending is None:
            pending = await self.sender.send_record(record)
        return pending

    async def send(
        self,
        data: EventData | Mapping[str, Any] | bytes | str,
        *,
        event_type: str | None = None,
        id: str | None = None,
        time: datetime | None = None,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> asyncio.Future[Delivery]:
        """Validate, envelope and queue one event; await the returned future for its `Delivery`."""
        record = self.prepare(
            data,
            event_type=event_type,
            id=id,
            time=time,
            correlation_id=correlation_id,
            traceparent=traceparent,
        )
        return await self.send_record(record)

    async def publish(
        self,
        data: EventData | Mapping[str, Any] | bytes | str,
        *,
        event_type: str | None = None,
        id: str | None = None,
        time: datetime | None = None,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> Delivery:
        """Publish one event and wait until the broker acknowledged it."""
        pending = await self.send(
            data,
            event_type=event_type,
            id=id,
            time=time,
            correlation_id=correlation_id,
            traceparent=traceparent,
        )
        return await pending

    @overload
    async def publish_batch(
        self, events: Iterable[EventData], *, return_exceptions: Literal[False] = False
    ) -> list[Delivery]: ...

    @overload
    async def publish_batch(
        self, events: Iterable[EventData], *, return_exceptions: Literal[True]
    ) -> list[Delivery | BusError]: ...

    async def publish_batch(
        self, events: Iterable[EventData], *, return_exceptions: bool = False
    ) -> list[Delivery] | list[Delivery | BusError]:
        """Publish many events pipelined; returns their deliveries in the same order.

        Every event is validated before the first is sent, so a bad event fails the whole
        batch without half of it on the topic. With `return_exceptions=True` a send the broker
        did not acknowledge is returned as its `BusError` in that event's place instead of
        raising, so the caller sees exactly which events landed.
        """
        records = [self.prepare(event) for event in events]
        # Each send awaits only when the buffer is full (or the topic's metadata is not loaded).
        futures = [await self.send_record(record) for record in records]
        if not return_exceptions:
            return list(await asyncio.gather(*futures))
        settled = await asyncio.gather(*futures, return_exceptions=True)
        results: list[Delivery | BusError] = []
        for outcome in settled:
            if isinstance(outcome, Delivery | BusError):
                results.append(outcome)
            else:
                raise outcome
        return results

    async def flush(self) -> None:
        """Wait until every event sent so far is acknowledged or failed."""
        await self.sender.flush()
