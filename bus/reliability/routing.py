"""Moving a failed event onward: to the next retry topic of its group, or to the group's DLQ.

The send is acknowledged (`acks=all`) before the caller goes on, so an event is on its retry or
dead-letter topic before any later offset of its partition is committed: a failure is never
skipped by a commit (the FastStream pitfall, faststream#2618).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bus.broker import clients
from bus.config import BusSettings
from bus.errors import DeadLetterError, RetryLaterError
from bus.logging import get_logger
from bus.reliability.failure import Failure, with_failure
from bus.reliability.naming import dlq_topic, retry_topic
from bus.reliability.policy import RetryPolicy

log = get_logger("bus.reliability")


class FailureRouter:
    """Sends failed records of one consumer group to its retry topics and dead-letter topic."""

    def __init__(self, group: str, policy: RetryPolicy, settings: BusSettings) -> None:
        self.group = group
        self.policy = policy
        self._producer: AIOKafkaProducer = clients.producer(
            settings, client_id=f"{settings.client_id}-failures"
        )
        self._settings = settings

    async def start(self) -> None:
        """Connect the producer."""
        await clients.start_producer(self._producer, self._settings)

    async def stop(self) -> None:
        """Disconnect the producer (every send was already awaited)."""
        await clients.stop_producer(self._producer)

    async def route(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]],
        failure: Failure,
        stage: int,
        error: BaseException,
        permanent: bool = False,
    ) -> str:
        """Send the record to its next retry topic or the DLQ; return the topic once acked."""
        next_stage = (
            None if permanent else self.policy.next_stage(stage, error, failure.first_failure_at)
        )
        if isinstance(error, RetryLaterError) and next_stage is not None:
            # The handler may park the event on a later stage (behind an earlier event of
            # its key), never on an earlier one, and never past the last.
            next_stage = min(max(next_stage, error.stage or 0), self.policy.stages)
        if next_stage is None:
            topic = dlq_topic(self.group)
        else:
            topic = retry_topic(self.group, next_stage)
            not_before = datetime.now(UTC) + timedelta(seconds=self.policy.delay_of(next_stage))
            if isinstance(error, RetryLaterError) and error.not_before is not None:
                not_before = error.not_before
            failure = replace(failure, retry_not_before=not_before)
        await self.send(topic, key=key, value=value, headers=with_failure(headers, failure))
        log.warning(
            "event moved to dead-letter topic" if next_stage is None else "event moved to retry",
            group=self.group,
            topic=topic,
            original_topic=failure.original_topic,
            original_partition=failure.original_partition,
            original_offset=failure.original_offset,
            attempts=failure.attempts,
            error_class=failure.error_class,
        )
        return topic

    async def send(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> None:
        """Send one record and wait for the broker's acknowledgement."""
        try:
            await self._producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except KafkaError as exc:
            raise DeadLetterError(
                f"could not move a failed event to {topic}: {exc!r}; it stays uncommitted"
            ) from exc
