"""HTTP pull: the consumers behind `GET /v1/subscriptions/{group}/events` and `…/ack`.

    GET  /v1/subscriptions/{group}/events?max=100&wait=20     → {"events": [...], "cursor": "…"}
    POST /v1/subscriptions/{group}/ack   {"cursor": "…"}      → {"acknowledged": 42}

`group` is a pull `Delivery` of the catalog (the routes are in `routes/pull.py`). Each group is
a Kafka consumer group: an acknowledgement is an offset commit, so delivery is at least once
and survives restarts of the ingress.

Per-key order: a batch leases the partitions it came from. While a partition is leased, no
other request gets its later events, so one key's events (one partition) are in flight with
one caller at a time, in order. An acknowledgement commits the lease's cursor and frees it; a
lease not acknowledged within the delivery's `visibility_timeout_s` expires, the partition is
rewound to its last commit, and the same events are delivered again.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from pydantic import BaseModel

from bus.broker import clients
from bus.catalog import Catalog, Delivery, EventType
from bus.config import BusSettings
from bus.envelope import format_time
from bus.errors import BusError
from bus.logging import get_logger
from bus.subscribe.grants import granted_view, project
from bus.subscribe.subscriber import decode, validate

log = get_logger("bus.ingress.pull")

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"

#: Longest long-poll a request may ask for, in seconds.
MAX_WAIT_S = 30.0
#: Most events in one response.
MAX_EVENTS = 500
_FETCH_SLICE_MS = 200


@dataclass
class _Lease:
    """Events of one partition handed out and not yet acknowledged."""

    id: int
    first: int
    next: int
    expires: float


@dataclass
class PullGroup:
    """One pull delivery's consumer, with its fetched-but-not-handed-out records and leases."""

    delivery: Delivery
    event_type: EventType
    view: type[BaseModel]
    consumer: AIOKafkaConsumer
    buffered: dict[TopicPartition, list[Record]] = field(default_factory=dict)
    leases: dict[TopicPartition, _Lease] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def take(self, most: int, wait_s: float) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `most` events from unleased partitions, waiting up to `wait_s` for the first."""
        deadline = time.monotonic() + wait_s
        while True:
            async with self.lock:
                self._expire()
                events, cursor = self._hand_out(most)
                if events:
                    return events, cursor
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], None
                # Short slices, so that an acknowledgement never waits for a whole long poll.
                batch = await self.consumer.getmany(
                    timeout_ms=int(min(remaining * 1000, _FETCH_SLICE_MS)), max_records=most
                )
                for tp, records in batch.items():
                    self.buffered.setdefault(tp, []).extend(records)
            if not batch:
                await asyncio.sleep(0)

    def _expire(self) -> None:
        now = time.monotonic()
        assigned = self.consumer.assignment()
        for tp, lease in list(self.leases.items()):
            if tp not in assigned:
                # Another ingress owns the partition now; it re-reads from the last commit.
                del self.leases[tp]
                self.buffered.pop(tp, None)
            elif lease.expires <= now:
                log.info(
                    "pull lease expired: events will be delivered again",
                    group=self.delivery.group,
                    partition=tp.partition,
                    offset=lease.first,
                )
                del self.leases[tp]
                self.buffered.pop(tp, None)
                self.consumer.seek(tp, lease.first)
                self.consumer.resume(tp)
        for tp in list(self.buffered):
            if tp not in assigned:
                del self.buffered[tp]

    def _hand_out(self, most: int) -> tuple[list[dict[str, Any]], str | None]:
        events: list[dict[str, Any]] = []
        taken: dict[TopicPartition, tuple[int, int]] = {}
        for tp, records in self.buffered.items():
            if tp in self.leases or not records or len(events) >= most:
                continue
            chunk, self.buffered[tp] = records[: most - len(events)], records[most - len(events) :]
            events += [e for e in (self._event(r) for r in chunk) if e is not None]
            taken[tp] = (chunk[0].offset, chunk[-1].offset + 1)
        if not taken:
            return [], None
        lease_id = next(_LEASE_IDS)
        expires = time.monotonic() + self.delivery.visibility_timeout_s
        for tp, (first, after) in taken.items():
            self.leases[tp] = _Lease(lease_id, first, after, expires)
            # Fetch nothing more of a leased partition: it is not handed out until released.
            self.consumer.pause(tp)
        positions = ",".join(f"{tp.partition}.{after}" for tp, (_, after) in sorted(taken.items()))
        return events, f"{lease_id}:{positions}"

    def _event(self, record: Record) -> dict[str, Any] | None:
        try:
            envelope = decode(record, self.event_type)
            data = validate(record, self.event_type)
        except BusError as exc:
            # The ingress and the SDK validate before publishing; a record that still fails is
            # left out (and logged) rather than blocking its partition for ever.
            log.warning(
                "pull skipped an invalid record",
                group=self.delivery.group,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
            return None
        return {
            "id": envelope.id,
            "type": envelope.type,
            "source": envelope.source,
            "time": format_time(envelope.time),
            "position": f"{record.partition}.{record.offset}",
            "data": project(self.view, data).model_dump(mode="json"),
        }

    async def acknowledge(self, cursor: str) -> int:
        """Commit the batch's positions and free its leases; the number of events acknowledged."""
        lease_id, positions = _parse_cursor(cursor)
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        count = 0
        async with self.lock:
            for partition, after in positions:
                tp = TopicPartition(self.event_type.topic, partition)
                lease = self.leases.get(tp)
                if lease is None or lease.id != lease_id or not lease.first < after <= lease.next:
                    raise StaleCursorError
                offsets[tp] = OffsetAndMetadata(after, "")
                count += after - lease.first
            try:
                await self.consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                raise StaleCursorError from exc
            for tp, offset in offsets.items():
                lease = self.leases[tp]
                if offset.offset >= lease.next:
                    del self.leases[tp]
                    self.consumer.resume(tp)
                else:
                    lease.first = offset.offset
        return count


_LEASE_IDS = itertools.count(1)


class StaleCursorError(Exception):
    """The cursor's lease expired or moved: its events will be (or were) delivered again."""


def _parse_cursor(cursor: str) -> tuple[int, list[tuple[int, int]]]:
    lease, _, rest = cursor.partition(":")
    try:
        positions = [tuple(map(int, item.split("."))) for item in rest.split(",") if item]
        if not positions or any(len(p) != 2 for p in positions):
            raise ValueError
        return int(lease), [(p[0], p[1]) for p in positions]
    except ValueError:
        raise StaleCursorError from None


class PullGroups:
    """The pull delivery consumers of this ingress process, one per group, made on first use."""

    def __init__(self, settings: BusSettings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._groups: dict[str, PullGroup] = {}
        self._opening = asyncio.Lock()

    async def group(self, delivery: Delivery) -> PullGroup:
        """The started consumer of `delivery`."""
        async with self._opening:
            found = self._groups.get(delivery.group)
            if found is not None:
                return found
            event_type = self.catalog.event_type(delivery.event_type)
            consumer = clients.consumer(self.settings, group_id=delivery.group)
            consumer.subscribe([event_type.topic])
            await consumer.start()
            view = granted_view(self.catalog, delivery.system, event_type.type)
            self._groups[delivery.group] = PullGroup(delivery, event_type, view, consumer)
            return self._groups[delivery.group]

    async def close(self) -> None:
        """Leave every group; unacknowledged events are delivered again from the last commit."""
        groups, self._groups = list(self._groups.values()), {}
        for group in groups:
            await group.consumer.stop()
