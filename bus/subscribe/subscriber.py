"""The subscribing SDK: a consumer group that validates, hands events to handlers, then commits.

    subscriber = Subscriber(system="bapenda.sipd", group="bapenda.sipd.izin")

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None: ...

    await subscriber.run()          # until subscriber.stop()

The consume path is a list of named steps per record: decode the envelope → validate the data
→ handle. Records are fetched in batches (`getmany`); partitions of a batch are handled
concurrently. Records with the same key (one entity's events, which share a key and so a
partition) are always handled strictly in offset order. By default a partition's records are
all handled one after another; with `key_concurrency` > 1 (`BUS_CONSUMER_KEY_CONCURRENCY`) up to
that many different keys of one partition are handled concurrently, each key still in order,
which is what I/O-bound handlers (an HTTP call per event) need. Offsets are committed once per
batch, only up to the first record whose handling has not finished: a commit never passes an
unfinished record, so after a crash or a stop every unfinished record is delivered again. What
is the same for a partition's records (the handler, whether an OpenTelemetry SDK records spans)
is looked up once per batch, and counters and metrics are added once per batch (once per key
of a batch when keys are handled concurrently).

A failure never stops the subscriber and never stalls its partition (see docs/reliability.md):
a record that cannot be decoded or validated, or whose handler raises `PermanentError`, goes
straight to the group's dead-letter topic `bus.dlq.<group>`; a handler that keeps failing after
the policy's in-process attempts moves the record to the retry topic `bus.retry.<group>.1`,
which the subscriber also consumes, delivering it again once its delay has passed (that
partition is paused meanwhile, the others go on), then to `.2`, … and finally to the DLQ. The
move is acknowledged by the broker before any later offset of the partition is committed.
`stop()` lets each in-flight handler finish, commits, and leaves the group.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from time import perf_counter
from types import TracebackType
from typing import Any, TypeAlias

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from pydantic import BaseModel, ValidationError

from bus.acl.principals import check_identity
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
    RetryLaterError,
    SchemaValidationError,
)
from bus.logging import get_logger, protect_personal_data
from bus.metrics import count_consumed, observe_handler_seconds
from bus.pdp.guard import SubjectGuard
from bus.privacy import personal_values
from bus.privacy.subjects import SUBJECT_FIELDS
from bus.projection.grants import Grant, grant_of, reads_grant_topics
from bus.reliability.failure import Failure, MalformedFailureError, first_failure
from bus.reliability.naming import retry_consumer_group, retry_stage, retry_topics
from bus.reliability.policy import RetryPolicy
from bus.reliability.routing import FailureRouter
from bus.reliability.topics import ensure_failure_topics
from bus.subscribe.grants import granted_view
from bus.subscribe.handler import Handler, HandlerFunc
from bus.subscribe.lane import Lane
from bus.subscribe.minimised import (
    GRANTED_TO,
    granted_value,
    is_minimised,
    personal_values_in,
)
from bus.tracing import consume_span, handled_event, sdk_configured
from bus.validation import field_errors

log = get_logger("bus.subscribe")

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


#: Invalid events whose reasons `SubscriberStats` keeps: a long-running subscriber fed a stream
#: of bad events must not grow without bound (the metric counts them all).
MAX_INVALID_REASONS = 100


@dataclass
class SubscriberStats:
    """Counters of what this subscriber has seen since it started.

    `received`, `handled` and `duplicates` grow once a partition's batch is done; the failure
    counters as each failure happens.
    """

    received: int = 0
    handled: int = 0
    duplicates: int = 0
    invalid: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    #: Events not delivered because their data subject restricted processing (`bus pdp`).
    withheld: int = 0
    #: The reasons of the last `MAX_INVALID_REASONS` invalid events, oldest first.
    invalid_reasons: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_INVALID_REASONS))


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
        key_concurrency: int | None = None,
    ) -> None:
        self.settings = settings or BusSettings()
        if key_concurrency is None:
            key_concurrency = self.settings.consumer_key_concurrency
        if key_concurrency < 1:
            raise ValueError(
                f"key_concurrency must be at least 1 (1 handles a partition's records one "
                f"after another), not {key_concurrency}"
            )
        #: Keys of one source partition handled at once; 1 is strictly sequential.
        self.key_concurrency = key_concurrency
        protect_personal_data(self.settings)  # in production, refuses to start without keys
        self.catalog = catalog or load_catalog(self.settings.catalog_module)
        self.system = self.catalog.system(system)
        self.group = group or self.system.id
        self.retry = retry or RetryPolicy.from_settings(self.settings)
        self.stats = SubscriberStats()
        self.enforce_agreements = enforce_agreements
        self._on_invalid = on_invalid
        self._handlers: dict[str, Handler] = {}
        # Topic → the CloudEvents source of its owner: records from anyone else are refused.
        self._owner_sources: dict[str, str] = {}
        # Grant topic → the view its records are validated against (bus.projection).
        self._granted_models: dict[str, type[BaseModel]] = {}
        self._source: Lane | None = None
        self._retries: Lane | None = None
        self._router: FailureRouter | None = None
        self._guard: SubjectGuard | None = None
        self._stopping = asyncio.Event()
        self._running = False
        self.assigned = asyncio.Event()
        self.retries_assigned = asyncio.Event()

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """Source-topic partitions the group assigns to this member now (empty when stopped)."""
        if self._source is None:
            return frozenset()
        return frozenset(self._source.consumer.assignment())

    # Registration ---------------------------------------------------------------------------

    def handler(self, ref: type[EventData] | str) -> Callable[[HandlerFunc], HandlerFunc]:
        """Register the decorated async function as the handler of one event type."""
        event_type = self._agreed(ref)

        def register(func: HandlerFunc) -> HandlerFunc:
            view = self.view_of(event_type.data)
            grant = self._grant_of(event_type)
            topic = event_type.topic if grant is None else grant.topic
            if topic in self._handlers:
                raise ValueError(f"{event_type.type} already has a handler in this subscriber")
            self._handlers[topic] = Handler.wrap(event_type, func, view=view)
            self._owner_sources[topic] = self.catalog.system(event_type.owner).source
            if grant is not None:
                self._granted_models[topic] = view  # the grant topic carries the view's fields
            return func

        return register

    def _grant_of(self, event_type: EventType) -> Grant | None:
        if not self.enforce_agreements or not reads_grant_topics(self.settings):
            return None
        return grant_of(self.catalog, self.system.id, event_type.type)

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
        """Source topics this subscriber consumes (its retry topics come on top)."""
        return list(self._handlers)

    @property
    def retry_topics(self) -> list[str]:
        """This group's retry topics, `bus.retry.<group>.1` first."""
        return retry_topics(self.group, self.retry.stages)

    # Lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the consumer group; raises `BrokerUnavailableError` if Kafka cannot be reached."""
        if not self._handlers:
            raise BusError(f"subscriber {self.group!r} has no handlers; register one first")
        check_identity(self.settings, self.system.id, self.group)
        try:
            await ensure_failure_topics(
                self.group,
                self.topics,
                self.retry.stages,
                self.settings,
                # Dead letters are kept no longer than the events they came from.
                retention_ms=max(
                    h.event_type.topic_settings.retention_ms for h in self._handlers.values()
                ),
            )
        except KafkaError as exc:
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from exc
        self._router = FailureRouter(self.group, self.retry, self.settings)
        self._source = Lane(
            clients.consumer(self.settings, group_id=self.group), self.group, self.assigned
        )
        self._source.consumer.subscribe(self.topics, listener=self._source.listener())
        retry_group = retry_consumer_group(self.group)
        self._retries = Lane(
            clients.consumer(self.settings, group_id=retry_group),
            retry_group,
            self.retries_assigned,
        )
        self._retries.consumer.subscribe(self.retry_topics, listener=self._retries.listener())
        try:
            await self._router.start()
            if self.settings.database_dsn and any(t in SUBJECT_FIELDS for t in self._types()):
                # Events about people: withhold restricted ones, record every outcome.
                self._guard = SubjectGuard(
                    self.settings.database_dsn, system=self.system.id, group=self.group
                )
                await self._guard.start()
            await asyncio.gather(self._source.consumer.start(), self._retries.consumer.start())
        except (KafkaError, BusError, OSError, asyncpg.PostgresError) as exc:
            await self._close()
            raise BrokerUnavailableError(
                f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from exc
        log.info("subscriber started", group=self.group, system=self.system.id, topics=self.topics)

    async def run(self) -> None:
        """Consume until `stop()` is called, then commit and leave the group."""
        if self._source is None:
            await self.start()
        assert self._source is not None and self._retries is not None
        self._running = True
        lanes = [
            asyncio.create_task(self._consume(self._source)),
            asyncio.create_task(self._consume(self._retries)),
        ]
        try:
            done, _ = await asyncio.wait(lanes, return_when=asyncio.FIRST_EXCEPTION)
            # One lane failed (or both stopped): stop the other one gracefully as well.
            self._stopping.set()
            await asyncio.gather(*lanes, return_exceptions=True)
            for task in done:
                task.result()
        finally:
            self._running = False
            for task in lanes:
                task.cancel()
            await self._close()
            log.info("subscriber stopped", group=self.group, **_stats_fields(self.stats))

    async def _consume(self, lane: Lane) -> None:
        while not self._stopping.is_set():
            batch = await lane.consumer.getmany(
                timeout_ms=self.settings.consumer_fetch_timeout_ms,
                max_records=self.settings.consumer_max_records,
            )
            if batch:
                lane.idle.clear()
                try:
                    await self._process_batch(lane, batch)
                finally:
                    lane.idle.set()

    async def _close(self) -> None:
        for lane in (self._source, self._retries):
            if lane is not None:
                lane.forget()
                # Leaving the group hands its partitions to the other members at once.
                await lane.consumer.stop()
        self._source = self._retries = None
        if self._router is not None:
            await self._router.stop()
            self._router = None
        if self._guard is not None:
            await self._guard.stop()
            self._guard = None

    def _types(self) -> set[str]:
        return {handler.event_type.type for handler in self._handlers.values()}

    async def stop(self) -> None:
        """Ask `run()` to let in-flight handlers finish, commit what was done, leave the group."""
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
        if not self._running:
            await self._close()

    # Consume path ---------------------------------------------------------------------------

    async def _process_batch(
        self, lane: Lane, batch: Mapping[TopicPartition, list[Record]]
    ) -> None:
        results = await asyncio.gather(
            *(self._process_partition(lane, tp, records) for tp, records in batch.items()),
            return_exceptions=True,
        )
        offsets = {
            tp: OffsetAndMetadata(next_offset, "")
            for tp, next_offset in zip(batch, results, strict=True)
            if isinstance(next_offset, int)
        }
        if self._guard is not None:
            await self._guard.flush()  # the processing record before the offsets move on
        await lane.commit(offsets)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _process_partition(
        self, lane: Lane, tp: TopicPartition, records: list[Record]
    ) -> int | None:
        """Handle one partition's records (in order per key); return the offset to commit."""
        progress = _Progress()
        try:
            if retry_stage(tp.topic):
                # Always sequential: a retry partition is paused at its first record that is
                # not due yet, which only holds back nothing due sooner if records are taken
                # in offset order (they become due in that order).
                await self._process_retried(lane, tp, records, progress)
            elif self.key_concurrency > 1:
                await self._process_keys(tp.topic, records, progress)
            else:
                await self._process_source(tp.topic, records, progress)
        except BaseException:
            if progress.done is not None:
                # Commit what was handled or moved before the failure, then let the error
                # (the broker refused a retry or dead-letter send) stop the run.
                if self._guard is not None:
                    await self._guard.flush()
                await lane.commit({tp: OffsetAndMetadata(progress.done + 1, "")})
            raise
        return None if progress.done is None else progress.done + 1

    async def _process_record(self, record: Record) -> None:
        """Handle one record on its own, as a partition batch of one."""
        if retry_stage(record.topic):
            await self._process_retried_record(record)
        else:
            await self._process_source(record.topic, [record], _Progress())

    async def _process_keys(self, topic: str, records: list[Record], progress: _Progress) -> None:
        """Handle a source partition's records by key: each key's records in order, up to
        `key_concurrency` keys at once; `progress` ends at the last record before the first
        unfinished one."""
        if not records:
            return
        by_key: dict[bytes | None, list[Record]] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record)
        # In order of each key's first record, so the committable prefix grows soonest.
        queues = deque(_KeyQueue(queue) for queue in by_key.values())
        all_queues = list(queues)
        halt = _Halt(self._stopping)

        async def work() -> None:
            while queues and not halt.is_set():
                queue = queues.popleft()
                try:
                    await self._process_source(topic, queue.records, queue.progress, halt)
                except BaseException as exc:
                    # Other keys finish the record in hand and start no new one.
                    if halt.error is None:
                        halt.error = exc
                    raise

        workers = min(self.key_concurrency, len(all_queues))
        try:
            await asyncio.gather(*(work() for _ in range(workers)), return_exceptions=True)
        finally:
            progress.done = _finished_prefix(records, all_queues)
        if halt.error is not None:
            raise halt.error  # the first, once every other key's record in hand finished

    async def _process_source(
        self,
        topic: str,
        records: list[Record],
        progress: _Progress,
        halt: _Halt | None = None,
    ) -> None:
        """Handle a source partition's records in order: decode → validate → handle, each.

        This is the subscriber's hot path, so what is the same for every record of the batch
        (handler, event type, whether spans are recorded) is looked up once, counters and
        metrics are added up once, and a handler's first attempt is awaited right here; only
        invalid records and failing handlers leave the loop for the paths below.
        """
        handler = self._handlers.get(topic)
        if handler is None:
            # Only subscribed topics are fetched, and each has a handler; stay safe anyway.
            for record in records:
                self.stats.received += 1
                error = EnvelopeError(f"no handler for topic {topic!r} in this group")
                await self._dead_letter(record, None, error)
                progress.done = record.offset
            return
        event_type, call = handler.event_type, handler.call
        stopping = self._stopping if halt is None else halt
        owner = self._owner_sources[topic]
        granted = self._granted_models.get(topic)
        guard = self._guard if event_type.type in SUBJECT_FIELDS else None
        subjects: tuple[str, ...] = ()
        traced = sdk_configured()
        seconds: list[float] = []
        received = failed = duplicates = 0
        done: int | None = None
        try:
            for record in records:
                if stopping.is_set():
                    break  # graceful stop: the in-flight record finished, start no new one
                received += 1
                try:
                    envelope = decode(record, event_type, owner)
                    data = (
                        validate(record, event_type)
                        if granted is None
                        else validate_granted(record, event_type, granted)
                    )
                except EnvelopeError as exc:
                    await self._invalid(record, None, exc, [])
                    done = record.offset
                    continue
                except SchemaValidationError as exc:
                    await self._invalid(record, None, exc, exc.errors)
                    done = record.offset
                    continue
                if guard is not None:
                    subjects = guard.subjects(event_type.type, data)
                    if subjects and self._withheld(guard, subjects, envelope):
                        done = record.offset
                        continue
                started = perf_counter()
                if traced:
                    with consume_span(envelope, group=self.group, topic=topic):
                        result = await self._handle(handler, data, envelope, record, None)
                else:
                    # `handling(envelope)` inline: a context manager per record costs more
                    # than the variable itself.
                    token = handled_event.set(envelope)
                    try:
                        result = await call(data, envelope, record)
                    except Exception as exc:
                        result = await self._handle_failure(
                            handler, data, envelope, record, exc, failure=None
                        )
                    finally:
                        handled_event.reset(token)
                seconds.append(perf_counter() - started)
                if result is _FAILED:
                    failed += 1
                elif result is Duplicate:
                    duplicates += 1
                if subjects and guard is not None and result is not _FAILED:
                    guard.note(subjects, envelope.id, "delivered")
                done = record.offset
        finally:
            progress.done = done
            stats = self.stats
            stats.received += received
            stats.handled += len(seconds) - failed
            stats.duplicates += duplicates
            self._count_handled(topic, seconds, failed)

    async def _process_retried(
        self, lane: Lane, tp: TopicPartition, records: list[Record], progress: _Progress
    ) -> None:
        """Handle a retry partition's records in order, each once it is due."""
        for record in records:
            if self._stopping.is_set():
                break
            if self._defer_until_due(lane, tp, record):
                break
            await self._process_retried_record(record)
            progress.done = record.offset

    def _defer_until_due(self, lane: Lane, tp: TopicPartition, record: Record) -> bool:
        """Pause a retry partition whose next record is not due yet; True if it was paused."""
        try:
            failure = Failure.from_headers(record.headers or ())
        except MalformedFailureError:
            return False  # due now: `_process_retried_record` dead-letters it
        if failure is None or failure.retry_not_before is None:
            return False
        wait = (failure.retry_not_before - datetime.now(UTC)).total_seconds()
        if wait <= 0:
            return False
        # Records of a retry partition become due in order (same delay, appended in time
        # order), so waiting for the head never delays a record that is due sooner.
        lane.pause_until(tp, record.offset, wait)
        return True

    async def _process_retried_record(self, record: Record) -> None:
        """Deliver a record of a retry topic again, as an event of the topic it came from."""
        self.stats.received += 1
        try:
            failure = Failure.from_headers(record.headers or ())
        except MalformedFailureError as exc:
            # Not retried: nothing says when or where from. The dead letter gets fresh headers.
            await self._invalid(record, None, exc, [])
            return
        source = failure.original_topic if failure is not None else record.topic
        handler = self._handlers.get(source)
        if handler is None:
            await self._dead_letter(
                record, failure, EnvelopeError(f"no handler for topic {source!r} in this group")
            )
            return
        try:
            envelope = decode(record, handler.event_type, self._owner_sources[source])
            granted = self._granted_models.get(source)
            if granted is None and handler.view is not None and is_minimised(record.headers or ()):
                granted = handler.view  # a dead letter kept as the group's grant, replayed
            data = (
                validate(record, handler.event_type)
                if granted is None
                else validate_granted(record, handler.event_type, granted)
            )
        except EnvelopeError as exc:
            await self._invalid(record, failure, exc, [])
            return
        except SchemaValidationError as exc:
            await self._invalid(record, failure, exc, exc.errors)
            return
        guard = self._guard
        subjects = guard.subjects(handler.event_type.type, data) if guard is not None else ()
        if guard is not None and subjects and self._withheld(guard, subjects, envelope):
            return
        if failure is not None:
            # Handlers see where the event was first published, not the retry topic.
            envelope = replace(
                envelope,
                topic=failure.original_topic,
                partition=failure.original_partition,
                offset=failure.original_offset,
            )
        started = perf_counter()
        with consume_span(envelope, group=self.group, topic=source):
            result = await self._handle(handler, data, envelope, record, failure)
        seconds = [perf_counter() - started]
        failed = int(result is _FAILED)
        if guard is not None and subjects and not failed:
            guard.note(subjects, envelope.id, "delivered")
        self.stats.handled += 1 - failed
        self.stats.duplicates += int(result is Duplicate)
        self._count_handled(source, seconds, failed)

    def _count_handled(self, topic: str, seconds: list[float], failed: int) -> None:
        """Metrics of handler runs: one per run in `seconds`, `failed` of which gave up."""
        if not seconds:
            return
        if handled := len(seconds) - failed:
            count_consumed(self.group, topic, "handled", events=handled)
        if failed:
            count_consumed(self.group, topic, "failed", events=failed)
        observe_handler_seconds(self.group, topic, seconds)

    async def _handle(
        self,
        handler: Handler,
        data: BaseModel,
        envelope: Envelope,
        record: Record,
        failure: Failure | None,
    ) -> Any:
        """The handler's result, after retries in process; `_FAILED` if the record moved on."""
        try:
            return await handler.call(data, envelope, record)
        except Exception as exc:
            return await self._handle_failure(handler, data, envelope, record, exc, failure=failure)

    async def _handle_failure(
        self,
        handler: Handler,
        data: BaseModel,
        envelope: Envelope,
        record: Record,
        error: Exception,
        *,
        failure: Failure | None,
    ) -> Any:
        """After a failed first attempt: attempt again with backoff, else move the record on."""
        attempt = 1
        while True:
            if (
                self.retry.is_permanent(error)
                or isinstance(error, RetryLaterError)
                or attempt >= self.retry.attempts
            ):
                self.stats.failed += 1
                # The event's own personal values are masked wherever the error quotes them.
                with personal_values(personal_values_in(handler.event_type, data, None)):
                    log.warning(
                        "handler failed",
                        group=self.group,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        attempts=attempt,
                        error=repr(error),
                    )
                    await self._move_on(record, failure, error, attempt, data=data)
                return _FAILED
            await asyncio.sleep(self.retry.backoff(attempt))
            attempt += 1
            try:
                return await handler.call(data, envelope, record)
            except Exception as exc:
                error = exc

    async def _move_on(
        self,
        record: Record,
        failure: Failure | None,
        error: BaseException,
        attempts: int,
        *,
        permanent: bool = False,
        data: BaseModel | None = None,
    ) -> None:
        """Send a failed record, minimised to the group's grant, on to a retry topic or the DLQ."""
        assert self._router is not None
        now = datetime.now(UTC)
        if failure is None:
            failure = first_failure(
                record.topic,
                record.partition,
                record.offset,
                group=self.group,
                error=error,
                attempts=attempts,
            )
        else:
            failure = failure.again(error, attempts, now)
        value, headers = self._minimised(record, failure, data)
        topic = await self._router.route(
            key=record.key,
            value=value,
            headers=headers,
            failure=failure,
            stage=retry_stage(record.topic),
            error=error,
            permanent=permanent,
        )
        if retry_stage(topic):
            self.stats.retried += 1
        else:
            self.stats.dead_lettered += 1
            handler = self._handlers.get(failure.original_topic)
            if self._guard is not None and data is not None and handler is not None:
                subjects = self._guard.subjects(handler.event_type.type, data)
                event_id = dict(record.headers or ()).get("ce_id") or b""
                self._guard.note(subjects, event_id.decode(), "failed", failure.error_class)

    def _withheld(self, guard: SubjectGuard, subjects: tuple[str, ...], envelope: Envelope) -> bool:
        """True (and noted) when a restriction stops this event for this system."""
        restriction = guard.withholds(subjects)
        if restriction is None:
            return False
        guard.note(subjects, envelope.id, "withheld", f"restriction {restriction}")
        self.stats.withheld += 1
        log.info(
            "event withheld: its data subject restricted processing",
            group=self.group,
            restriction=restriction,
        )
        return True

    def _minimised(
        self, record: Record, failure: Failure, data: BaseModel | None
    ) -> tuple[bytes | None, list[tuple[str, bytes]]]:
        """The record's value and headers as the group may keep them: its grant only."""
        headers = [(name, raw or b"") for name, raw in record.headers or ()]
        handler = self._handlers.get(failure.original_topic)
        view = handler.view if handler is not None else None
        if view is None or view is handler.event_type.data or is_minimised(headers):  # type: ignore[union-attr]
            return record.value, headers
        value = granted_value(view, record.value, data)
        return value, [*headers, (GRANTED_TO, self.system.id.encode())]

    async def _dead_letter(
        self, record: Record, failure: Failure | None, error: BaseException
    ) -> None:
        await self._move_on(record, failure, error, 1, permanent=True)

    async def _invalid(
        self,
        record: Record,
        failure: Failure | None,
        error: BusError,
        errors: list[FieldError],
    ) -> None:
        reason = str(error)
        self.stats.invalid += 1
        count_consumed(self.group, record.topic, "invalid")
        self.stats.invalid_reasons.append(reason)
        handler = self._handlers.get(failure.original_topic if failure else record.topic)
        values = personal_values_in(handler.event_type, None, record.value) if handler else []
        with personal_values(values):
            log.warning(
                "invalid event moved to dead-letter topic",
                group=self.group,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
                errors=[str(e) for e in errors],
            )
            await self._dead_letter(record, failure, error)
        if self._on_invalid is not None:
            result = self._on_invalid(record, reason, errors)
            if asyncio.iscoroutine(result):
                await result


class _Progress:
    """How far the handling of a partition's records got: the last finished offset."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done: int | None = None


class _KeyQueue:
    """The records of one key in a partition's batch, in offset order, and how far they got."""

    __slots__ = ("progress", "records")

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.progress = _Progress()

    def first_unfinished(self) -> int | None:
        """The offset of the first record not handled yet, None if all were."""
        done = self.progress.done
        for record in self.records:
            offset: int = record.offset
            if done is None or offset > done:
                return offset
        return None


class _Halt:
    """Tells one partition's keys to start no new record: the subscriber stops, or a key failed."""

    __slots__ = ("error", "stopping")

    def __init__(self, stopping: asyncio.Event) -> None:
        self.stopping = stopping
        #: The first error a key's handling raised.
        self.error: BaseException | None = None

    def is_set(self) -> bool:
        """True once no new record may start."""
        return self.error is not None or self.stopping.is_set()


def _finished_prefix(records: list[Record], queues: list[_KeyQueue]) -> int | None:
    """`_Progress.done` of a partition's batch handled by key: the offset just before its first
    unfinished record (the last one if all finished; None if the first did not)."""
    unfinished = [offset for q in queues if (offset := q.first_unfinished()) is not None]
    if not unfinished:
        last: int = records[-1].offset
        return last
    first = min(unfinished)
    # Offsets may have gaps (compaction, transaction markers): `first - 1` commits `first`.
    return None if first == records[0].offset else first - 1


#: What `_handle` returns when the handler gave up and the record moved to a retry topic or DLQ.
_FAILED = object()


class _DuplicateMarker:
    """Type of `Duplicate`."""

    def __repr__(self) -> str:
        return "Duplicate"


#: Returned by a handler that recognised a redelivered event (for example through the inbox):
#: the subscriber counts it in `stats.duplicates` instead of as a new effect.
Duplicate = _DuplicateMarker()


def decode(record: Record, event_type: EventType, source: str | None = None) -> Envelope:
    """Step 1: read the CloudEvents envelope and check it is the topic's event type (and, if
    `source` is given, that the owner published it: a forged ce_source is refused)."""
    envelope = Envelope.from_headers(
        record.headers or (),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
    )
    if envelope.type != event_type.type:
        raise EnvelopeError(
            f"ce_type {envelope.type!r} does not belong on topic {record.topic} ({event_type.type})"
        )
    if source is not None and envelope.source != source:
        raise EnvelopeError(
            f"ce_source {envelope.source!r} is not the owner of {event_type.type} ({source}); "
            "only the owning system publishes it, so the record is refused as forged"
        )
    return envelope


def validate(record: Record, event_type: EventType) -> EventData:
    """Step 2: validate the record value against the event type's schema, from bytes in one step."""
    if record.value is None:
        raise SchemaValidationError(event_type.type, [FieldError("$", "record has no value")])
    try:
        # The model's own validator, called with the value alone: `model_validate_json` is the
        # same validation, but passes five keyword arguments on to it, ~1 µs per record.
        data: EventData = event_type.data.__pydantic_validator__.validate_json(record.value)
        return data
    except ValidationError as exc:
        raise SchemaValidationError(
            event_type.type, field_errors(exc, event_type.example)
        ) from None


def validate_granted(record: Record, event_type: EventType, view: type[BaseModel]) -> BaseModel:
    """Step 2 on a grant topic: the record holds the granted fields only; validate the view."""
    if record.value is None:
        raise SchemaValidationError(event_type.type, [FieldError("$", "record has no value")])
    try:
        return view.model_validate_json(record.value)
    except ValidationError as exc:
        raise SchemaValidationError(event_type.type, field_errors(exc)) from None


def _stats_fields(stats: SubscriberStats) -> dict[str, int]:
    return {
        "received": stats.received,
        "handled": stats.handled,
        "duplicates": stats.duplicates,
        "invalid": stats.invalid,
        "failed": stats.failed,
        "retried": stats.retried,
        "dead_lettered": stats.dead_lettered,
    }
