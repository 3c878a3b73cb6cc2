"""The one reader of failure records: dead letters (`bus.dlq.<group>`) and retry records.

    letters = await read_dead_letters(settings, ["bus.dlq.bapenda.sipd"])            # everything
    newest = await read_dead_letters(settings, topics, last=20)                      # dashboard
    letters = await read_dead_letters(settings, topics, timeout_s=10)                # bus trace

Every partition is read without joining a group, from its start (or `start`) to the end offset
it had when the read began, so a record that is there is never missed. A read that cannot reach
those ends before `timeout_s` raises `IncompleteReadError` (`bus.broker.reading`) naming the
partitions it could not finish: callers say "unknown", never "no dead letter". The failure a
record carries is parsed by `Failure.from_headers` on the `dlq_*` constants of
`bus.reliability.failure`, the module that writes them; event data is decoded only when asked
for, and then masked (it may be personal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.broker import clients
from bus.broker.reading import IncompleteReadError, read_to_end
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import UnknownEventTypeError
from bus.privacy import mask, redact
from bus.reliability.failure import Failure
from bus.reliability.naming import DLQ_PREFIX, dlq_topic, group_of_dlq

__all__ = [
    "DeadLetter",
    "IncompleteReadError",
    "dlq_topics",
    "is_dead_letter_topic",
    "read_dead_letters",
]


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter (or retry) topic and the failure it records."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    failure: Failure

    @property
    def position(self) -> str:
        """`topic:partition:offset`, the reference `bus dlq show` accepts."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def ce(self) -> dict[str, str]:
        """The record's CloudEvents headers (`ce_*`), decoded."""
        return {
            name: raw.decode(errors="replace")
            for name, raw in self.headers
            if name.startswith("ce_")
        }

    @property
    def event_id(self) -> str:
        """The original event id (`ce_id`), or `?` if the record had none."""
        return self.ce.get("ce_id", "?")

    @property
    def event_type(self) -> str:
        """The original event type (`ce_type`), or `?`."""
        return self.ce.get("ce_type", "?")

    @property
    def group(self) -> str:
        """The consumer group that gave up: its `dlq_group` header, else the topic's name."""
        if self.failure.group not in {"", "?"}:
            return self.failure.group
        return group_of_dlq(self.topic) if is_dead_letter_topic(self.topic) else "?"

    def masked_data(self, catalog: Catalog) -> Any:
        """The event data with personal fields and values masked; a note if it is not JSON."""
        if self.value is None:
            return None
        try:
            data = orjson.loads(self.value)
        except orjson.JSONDecodeError:
            return f"<{len(self.value)} bytes, not JSON>"
        try:
            personal = catalog.event_type(self.event_type).personal_fields
        except UnknownEventTypeError:
            personal = catalog.personal_field_names
        if isinstance(data, dict):
            return {k: mask(v) if k in personal else redact(v) for k, v in data.items()}
        return redact(data)

    def summary(self) -> dict[str, Any]:
        """The fields `bus dlq list --json` and the dashboard show for this record (no data)."""
        f = self.failure
        return {
            "position": self.position,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "original_topic": f.original_topic,
            "original_partition": f.original_partition,
            "original_offset": f.original_offset,
            "group": self.group,
            "error_class": f.error_class,
            "error_message": f.error_message,
            "attempts": f.attempts,
            "first_failure_at": f.first_failure_at.isoformat(),
            "last_failure_at": f.last_failure_at.isoformat(),
        }


def is_dead_letter_topic(topic: str) -> bool:
    """True for `bus.dlq.<group>` topics."""
    return topic.startswith(DLQ_PREFIX)


async def dlq_topics(settings: BusSettings, group: str | None = None) -> list[str]:
    """The dead-letter topics on the cluster, or only `group`'s."""
    admin = clients.admin(settings)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(DLQ_PREFIX))
    finally:
        await admin.close()
    if group is not None:
        wanted = dlq_topic(group)
        return [t for t in topics if t == wanted]
    return topics


async def read_dead_letters(
    settings: BusSettings,
    topics: Iterable[str],
    *,
    start: Mapping[TopicPartition, int] | None = None,
    last: int | None = None,
    timeout_s: float | None = None,
    consumer: AIOKafkaConsumer | None = None,
) -> list[DeadLetter]:
    """Every record of `topics` up to their end offsets, in (topic, partition, offset) order.

    A partition is read from `start` (default: its first offset), or only its `last` records.
    With `timeout_s`, a read that has not reached every end offset by then raises
    `IncompleteReadError`, whose `partial` holds the dead letters read until then.
    """
    own = consumer is None
    if consumer is None:
        consumer = clients.consumer(settings, group_id=None)
        await consumer.start()
    letters: list[DeadLetter] = []
    try:
        tps = await clients.topic_partitions(consumer, *sorted(set(topics)))
        records = read_to_end(consumer, tps, start=start, last=last, timeout_s=timeout_s)
        async for record in records:
            letters.append(_dead_letter(record))
    except IncompleteReadError as exc:
        raise IncompleteReadError(exc.unread, exc.timeout_s, _ordered(letters)) from None
    finally:
        if own:
            await clients.stop_consumer(consumer)
    return _ordered(letters)


def _ordered(letters: list[DeadLetter]) -> list[DeadLetter]:
    return sorted(letters, key=lambda d: (d.topic, d.partition, d.offset))


def _dead_letter(record: Any) -> DeadLetter:
    headers = tuple((name, raw or b"") for name, raw in record.headers or ())
    timestamp = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    try:
        failure = Failure.from_headers(headers)
    except (KeyError, ValueError) as exc:  # dlq_* headers another tool wrote badly
        failure = _unknown_failure(timestamp, f"malformed dlq_* headers: {exc!r}")
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=timestamp,
        key=record.key,
        value=record.value,
        headers=headers,
        # A record some other tool wrote to the topic has no failure headers: unknown failure.
        failure=failure or _unknown_failure(timestamp, "record without dlq_* headers"),
    )


def _unknown_failure(at: datetime, why: str) -> Failure:
    return Failure(
        original_topic="?",
        original_partition=-1,
        original_offset=-1,
        group="?",
        error_class="?",
        error_message=why,
        attempts=0,
        first_failure_at=at,
        last_failure_at=at,
    )
