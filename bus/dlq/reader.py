"""Reading dead-letter topics without joining any group: every record from a start to the end."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import UnknownEventTypeError
from bus.logging import mask
from bus.reliability.failure import Failure
from bus.reliability.naming import DLQ_PREFIX, dlq_topic


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic and the failure it records."""

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

    def masked_data(self, catalog: Catalog) -> Any:
        """The event data with its type's personal fields masked; a note if it is not JSON."""
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
            return {k: mask(v) if k in personal else v for k, v in data.items()}
        return data

    def summary(self) -> dict[str, Any]:
        """The fields `bus dlq list --json` prints for this record (no event data)."""
        f = self.failure
        return {
            "position": self.position,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "original_topic": f.original_topic,
            "original_partition": f.original_partition,
            "original_offset": f.original_offset,
            "group": f.group,
            "error_class": f.error_class,
            "error_message": f.error_message,
            "attempts": f.attempts,
            "first_failure_at": f.first_failure_at.isoformat(),
            "last_failure_at": f.last_failure_at.isoformat(),
        }


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
    consumer: AIOKafkaConsumer | None = None,
) -> list[DeadLetter]:
    """Every record of `topics` from `start` (default: the beginning) up to their end offsets."""
    own = consumer is None
    if consumer is None:
        consumer = clients.consumer(settings, group_id=None)
        await consumer.start()
    try:
        tps = await clients.topic_partitions(consumer, *topics)
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        firsts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max((start or {}).get(tp, 0), firsts[tp]))
        letters: list[DeadLetter] = []
        remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    letters.append(_dead_letter(record))
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return letters
    finally:
        if own:
            await consumer.stop()


def _dead_letter(record: Any) -> DeadLetter:
    headers = tuple((name, raw or b"") for name, raw in record.headers or ())
    timestamp = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    # A record some other tool wrote to the topic has no failure headers; show it as unknown.
    failure = Failure.from_headers(headers) or Failure(
        original_topic="?",
        original_partition=-1,
        original_offset=-1,
        group="?",
        error_class="?",
        error_message="record without dlq_* headers",
        attempts=0,
        first_failure_at=timestamp,
        last_failure_at=timestamp,
    )
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=timestamp,
        key=record.key,
        value=record.value,
        headers=headers,
        failure=failure,
    )
