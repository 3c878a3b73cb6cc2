"""The FastStream bridge: catalog-governed handlers on a FastStream `KafkaBroker`.

    from faststream.kafka import KafkaBroker, TestKafkaBroker
    from bus.faststream import catalog_subscriber, publish_event

    broker = KafkaBroker("127.0.0.1:9092")

    @catalog_subscriber(broker, "bapenda.sipd", IzinTerbit, group="bapenda.sipd.izin")
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None: ...

    async with TestKafkaBroker(broker) as test_broker:           # in memory, for unit tests
        await publish_event(test_broker, "dpmptsp.sicantik", IzinTerbit(...))

The handler is the same function a `bus.subscribe.Subscriber` takes: it asks for the event's
data class, `Envelope` and/or the raw `ConsumerRecord` by annotation, and its data is limited to
the fields its system's agreement grants. Registering it without an agreement in the catalog
raises `NoAgreementError`. Each record goes through the same steps as in the subscriber: a
FastStream *decoder* reads the CloudEvents headers into an `Envelope` and validates the value
against the event model; a record that fails either step never reaches the handler and never
stops the consumer: it is logged with its field errors, counted in `stats.invalid` and
committed (the dead-letter path belongs to the bus's own subscriber). A handler that raises
is counted in `stats.failed` and the record is not committed (FastStream seeks back to it).

Which one to use: the bus's own `Subscriber` is the production engine. It fetches batches
(`getmany`), handles partitions concurrently and each partition in order, and commits once per
batch; FastStream commits once per message, which costs a round trip to the group coordinator
for every event (the benchmarks in `bench/` measure the gap). This bridge exists for teams
whose service already runs on FastStream, and so that handler logic can be unit-tested with
FastStream's in-memory `TestKafkaBroker`; anything that claims delivery, ordering or loss
behaviour is tested against a real broker with the `Subscriber`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from faststream.params import NoCast
from pydantic import BaseModel

from bus.catalog import Catalog, EventData, EventType, System, load_catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import (
    EnvelopeError,
    FieldError,
    NoAgreementError,
    NotOwnerError,
    SchemaValidationError,
)
from bus.logging import get_logger, protect_personal_data
from bus.publish import build_record
from bus.subscribe import Handler, SubscriberStats, decode, granted_view, validate
from bus.subscribe.handler import HandlerFunc
from bus.tracing import handling

__all__ = ["CatalogSubscriber", "catalog_subscriber", "publish_event"]

log = get_logger("bus.faststream")

Record = Any  # aiokafka's ConsumerRecord[bytes, bytes]; FastStream builds it in memory too
InvalidCallback = Callable[[Record, str, list[FieldError]], Any]


@dataclass(frozen=True, slots=True)
class _Accepted:
    data: EventData
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: str
    errors: list[FieldError] = field(default_factory=list)


class CatalogSubscriber:
    """Registers one handler of one event type on a FastStream broker, with the bus's rules."""

    def __init__(
        self,
        broker: KafkaBroker,
        system: str,
        event: type[EventData] | str,
        *,
        catalog: Catalog | None = None,
        group: str | None = None,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        on_invalid: InvalidCallback | None = None,
        **options: Any,
    ) -> None:
        settings = BusSettings()
        protect_personal_data(settings)
        self.catalog = catalog or load_catalog(settings.catalog_module)
        self.system: System = self.catalog.system(system)
        self.event_type: EventType = self.catalog.event_type(event)
        if self.catalog.agreement(self.system.id, self.event_type.type) is None:
            raise NoAgreementError(self.system.id, self.event_type.type)
        self.view: type[BaseModel] = granted_view(
            self.catalog, self.system.id, self.event_type.type
        )
        self.group = group or self.system.id
        self.stats = SubscriberStats()
        #: The FastStream subscriber, once a handler is registered (e.g. for `.mock` in tests).
        self.subscriber: Any = None
        self._broker = broker
        self._on_invalid = on_invalid
        self._options = {"auto_offset_reset": auto_offset_reset, **options}

    def __call__(self, func: HandlerFunc) -> HandlerFunc:
        """Register `func` as the handler; returns it unchanged so it can still be called."""
        if self.subscriber is not None:
            raise ValueError(f"{self.event_type.type} already has a handler on this subscriber")
        handler = Handler.wrap(self.event_type, func, view=self.view)

        async def consume(decoded: Annotated[Any, NoCast], message: KafkaMessage) -> None:
            await self._consume(handler, decoded, message.raw_message)

        consume.__name__ = consume.__qualname__ = func.__name__
        self.subscriber = self._broker.subscriber(
            self.event_type.topic,
            group_id=self.group,
            decoder=self._decode,
            # Valid and invalid records are committed once handled or refused; a handler that
            # raises leaves its record uncommitted so it is delivered again.
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=f"{self.group}:{self.event_type.topic}",
            description=self.event_type.description,
            **self._options,
        )(consume)
        return func

    async def _decode(self, message: StreamMessage[Any]) -> _Accepted | _Refused:
        """FastStream decoder: CloudEvents headers → `Envelope`, value → validated event data."""
        record = message.raw_message
        try:
            envelope = decode(record, self.event_type)
            return _Accepted(validate(record, self.event_type), envelope)
        except EnvelopeError as exc:
            return _Refused(str(exc))
        except SchemaValidationError as exc:
            return _Refused(str(exc), exc.errors)

    async def _consume(self, handler: Handler, decoded: Any, record: Record) -> None:
        self.stats.received += 1
        if isinstance(decoded, _Refused):
            await self._invalid(record, decoded)
            return
        assert isinstance(decoded, _Accepted)
        # As in the bus's own subscriber: log lines get the event's ids, and events the handler
        # publishes continue its trace.
        with handling(decoded.envelope):
            try:
                await handler(decoded.data, decoded.envelope, record)
            except Exception as exc:
                self.stats.failed += 1
                log.error(
                    "handler failed; the event is not committed",
                    group=self.group,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=repr(exc),
                )
                raise
        self.stats.handled += 1

    async def _invalid(self, record: Record, refused: _Refused) -> None:
        self.stats.invalid += 1
        self.stats.invalid_reasons.append(refused.reason)
        log.warning(
            "invalid event skipped",
            group=self.group,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=refused.reason,
            errors=[str(e) for e in refused.errors],
        )
        if self._on_invalid is not None:
            result = self._on_invalid(record, refused.reason, refused.errors)
            if asyncio.iscoroutine(result):
                await result


def catalog_subscriber(
    broker: KafkaBroker,
    system: str,
    event: type[EventData] | str,
    *,
    catalog: Catalog | None = None,
    group: str | None = None,
    **options: Any,
) -> CatalogSubscriber:
    """A decorator registering a handler of `event` for `system` on a FastStream broker."""
    return CatalogSubscriber(broker, system, event, catalog=catalog, group=group, **options)


async def publish_event(
    broker: KafkaBroker,
    system: str,
    data: EventData,
    *,
    catalog: Catalog | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """Publish one event through a FastStream broker exactly as the bus's `Publisher` would.

    Validated, enveloped in CloudEvents headers and keyed; ownership is enforced. For tests and
    for FastStream services: production publishing goes through `bus.publish.Publisher`,
    which pipelines sends instead of waiting for each acknowledgement.
    """
    catalog = catalog or load_catalog(BusSettings().catalog_module)
    event_type = catalog.event_type(type(data))
    source = catalog.system(system)
    if event_type.owner != source.id:
        raise NotOwnerError(source.id, event_type.type, event_type.owner)
    record = build_record(event_type, source, data, correlation_id=correlation_id)
    await broker.publish(
        record.value,
        record.topic,
        key=record.key,
        headers={name: value.decode() for name, value in record.headers},
    )
    return record.envelope
