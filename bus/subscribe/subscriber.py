"""The subscribing SDK: a consumer group that validates, hands events to handlers, then commits.

    subscriber = Subscriber(system="bapenda.sipd", group="bapenda.sipd.izin")

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None: ...

    await subscriber.run()          # until subscriber.stop()

The consume path is a list of named steps per record: decode the envelope → validate the data
→ handle. Records are fetched in batches (`getmany`); partitions of a batch are handled
concurrently, records of one partition strictly in order (so one entity's events, which share
a key and so a partition, are never reordered); offsets are committed once per batch, only up
to the last record whose handling finished. A record that cannot be decoded or validated never
stops the subscriber: it is logged with its field errors, counted, and passed to `on_invalid`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from pydantic import BaseModel, ValidationError

from bus.broker import clients
from bus.catalog import Catalog, EventData, EventType, load_catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import (
    BrokerUnavailableError,
    BusError,
    EnvelopeError,
    FieldError,
    NoAgreementError,
    SchemaValidationError,
)
from bus.logging import get_logger
from bus.subscribe.grants import granted_view
from bus.subscribe.handler import Handler, HandlerFunc
from bus.validation import field_errors

log = get_logger("bus.subscribe")

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class HandlerFailedError(BusError):
    """A handler kept failing after every in-process attempt; the record was not committed."""


@dataclass
class SubscriberStats:
    """Counters of what this subscriber has seen since it started."""

    received: int = 0
    handled: int = 0
    invalid: int = 0
    failed: int = 0
    invalid_reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetryPolicy:
    """In-process attempts for a failing handler, with exponential backoff and full jitter."""

    attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt + 1`."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)


InvalidCallback = Callable[[Record, str, list[FieldError]], Any]


class Subscriber:
    """One consumer group of one system, delivering its agreed event types to handlers."""

    def __init__(
        self,
        system: str,
        group: str | None = None,
        *,
        catalog: Catalog | None = None,
        settings: BusSettings | None = None,
        retry: RetryPolicy | None = None,
        on_invalid: InvalidCallback | None = None,
        enforce_agreements: bool = True,
    ) -> None:
        self.settings = settings or BusSettings()
        self.catalog = catalog or load_catalog(self.settings.catalog_module)
        self.system = self.catalog.system(system)
        self.group = group or self.system.id
        self.retry = retry or RetryPolicy()
        self.stats = SubscriberStats()
        self.enforce_agreements = enforce_agreements
        self._on_invalid = on_invalid
        self._handlers: dict[str, Handler] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._running = False
        self.assigned = asyncio.Event()

    # Registration ---------------------------------------------------------------------------

    def handler(self, ref: type[EventData] | str) -> Callable[[HandlerFunc], HandlerFunc]:
        """Register the decorated async function as the handler of one event type."""
        event_type = self._agreed(ref)

        def register(func: HandlerFunc) -> HandlerFunc:
            if event_type.topic in self._handlers:
                raise ValueError(f"{event_type.type} already has a handler in this subscriber")
            self._handlers[event_type.topic] = Handler.wrap(
                event_type, func, view=self.view_of(event_type.data)
            )
            return func

        return register

    def view_of(self, ref: type[EventData] | str) -> type[BaseModel]:
        """The model this subscriber's handlers receive for `ref`: only the granted fields."""
        if not self.enforce_agreements:
            return self.catalog.event_type(ref).data
        return granted_view(self.catalog, self.system.id, ref)

    def _agreed(self, ref: type[EventData] | str) -> EventType:
        event_type = self.catalog.event_type(ref)
        if (
            self.enforce_agreements
            and self.catalog.agreement(self.system.id, event_type.type) is None
        ):
            raise NoAgreementError(self.system.id, event_type.type)
        return event_type

    @property
    def topics(self) -> list[str]:
        """Topics this subscriber consumes."""
        return list(self._handlers)

    # Lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the consumer group; raises `BrokerUnavailableError` if Kafka cannot be reached."""
        if not self._handlers:
            raise BusError(f"subscriber {self.group!r} has no handlers; register one first")
        self._consumer = clients.consumer(self.settings, group_id=self.group)
        self._consumer.subscribe(self.topics, listener=_AssignmentListener(self.assigned))
        try:
            await self._consumer.start()
        except KafkaError as exc:
            await self._consumer.stop()
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from exc
        log.info("subscriber started", group=self.group, system=self.system.id, topics=self.topics)

    async def run(self) -> None:
        """Consume until `stop()` is called, then commit and leave the group."""
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
        self._running = True
        try:
            while not self._stopping.is_set():
                batch = await self._consumer.getmany(
                    timeout_ms=self.settings.consumer_fetch_timeout_ms,
                    max_records=self.settings.consumer_max_records,
                )
                if batch:
                    await self._process_batch(batch)
        finally:
            self._running = False
            await self._consumer.stop()
            self._consumer = None
            log.info("subscriber stopped", group=self.group, **_stats_fields(self.stats))

    async def stop(self) -> None:
        """Ask `run()` to finish the batch in hand, commit it and leave the group."""
        self._stopping.set()

    async def __aenter__(self) -> Subscriber:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        if self._consumer is not None and not self._running:
            await self._consumer.stop()
            self._consumer = None

    # Consume path ---------------------------------------------------------------------------

    async def _process_batch(self, batch: Mapping[TopicPartition, list[Record]]) -> None:
        results = await asyncio.gather(
            *(self._process_partition(records) for records in batch.values()),
            return_exceptions=True,
        )
        offsets = {
            tp: OffsetAndMetadata(next_offset, "")
            for tp, next_offset in zip(batch, results, strict=True)
            if isinstance(next_offset, int)
        }
        if offsets:
            assert self._consumer is not None
            await self._consumer.commit(offsets)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _process_partition(self, records: list[Record]) -> int:
        """Handle one partition's records in order; return the offset to commit."""
        done: int = -1
        try:
            for record in records:
                await self._process_record(record)
                done = record.offset
        except BaseException:
            if done >= 0:
                # Commit what was handled before the failure, then let the error stop the run.
                assert self._consumer is not None
                tp = TopicPartition(records[0].topic, records[0].partition)
                await self._consumer.commit({tp: OffsetAndMetadata(done + 1, "")})
            raise
        return done + 1

    async def _process_record(self, record: Record) -> None:
        self.stats.received += 1
        handler = self._handlers[record.topic]
        try:
            envelope = decode(record, handler.event_type)
            data = validate(record, handler.event_type)
        except EnvelopeError as exc:
            await self._invalid(record, str(exc), [])
            return
        except SchemaValidationError as exc:
            await self._invalid(record, str(exc), exc.errors)
            return
        with structlog.contextvars.bound_contextvars(
            event_id=envelope.id, correlation_id=envelope.correlation_id
        ):
            await self._handle(handler, data, envelope, record)

    async def _handle(
        self, handler: Handler, data: EventData, envelope: Envelope, record: Record
    ) -> None:
        attempt = 1
        while True:
            try:
                await handler(data, envelope, record)
                self.stats.handled += 1
                return
            except Exception as exc:
                if attempt >= self.retry.attempts:
                    self.stats.failed += 1
                    log.error(
                        "handler failed; stopping without committing this event",
                        group=self.group,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        attempts=attempt,
                        error=repr(exc),
                    )
                    raise HandlerFailedError(
                        f"handler for {handler.event_type.type} failed {attempt} times at "
                        f"{record.topic}[{record.partition}]@{record.offset}: {exc!r}"
                    ) from exc
                await asyncio.sleep(self.retry.backoff(attempt))
                attempt += 1

    async def _invalid(self, record: Record, reason: str, errors: list[FieldError]) -> None:
        self.stats.invalid += 1
        self.stats.invalid_reasons.append(reason)
        log.warning(
            "invalid event skipped",
            group=self.group,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            errors=[str(e) for e in errors],
        )
        if self._on_invalid is not None:
            result = self._on_invalid(record, reason, errors)
            if asyncio.iscoroutine(result):
                await result


def decode(record: Record, event_type: EventType) -> Envelope:
    """Step 1: read the CloudEvents envelope and check it is the topic's event type."""
    envelope = Envelope.from_headers(record.headers or ())
    if envelope.type != event_type.type:
        raise EnvelopeError(
            f"ce_type {envelope.type!r} does not belong on topic {record.topic} ({event_type.type})"
        )
    return envelope.at(record.topic, record.partition, record.offset, record.key)


def validate(record: Record, event_type: EventType) -> EventData:
    """Step 2: validate the record value against the event type's schema, from bytes in one step."""
    if record.value is None:
        raise SchemaValidationError(event_type.type, [FieldError("$", "record has no value")])
    try:
        return event_type.data.model_validate_json(record.value)
    except ValidationError as exc:
        raise SchemaValidationError(event_type.type, field_errors(exc)) from None


class _AssignmentListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Sets an event once the group has assigned partitions, so callers can wait for readiness."""

    def __init__(self, assigned: asyncio.Event) -> None:
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to do: offsets are committed after every batch, before the next fetch."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Mark the subscriber as ready."""
        self._assigned.set()


def _stats_fields(stats: SubscriberStats) -> dict[str, int]:
    return {
        "received": stats.received,
        "handled": stats.handled,
        "invalid": stats.invalid,
        "failed": stats.failed,
    }
