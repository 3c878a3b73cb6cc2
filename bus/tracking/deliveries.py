"""Delivery tracking: did every subscribing system receive event X?

    report = await trace_event("0b1c…", settings=settings, catalog=catalog)
    report.summary            # "3 of 4 delivered"

The event's position comes from the publication log (or is given). Every consumer group of a
system with an agreement for the event type is then one of:

- DELIVERED: the group's committed offset on the event's partition is past the event, and it is
  neither waiting in a retry topic nor dead-lettered;
- PENDING: the group has not committed past it yet (or never consumed the topic), or the event
  waits in one of the group's retry topics;
- DEAD_LETTERED: the event is in the group's dead-letter topic `bus.dlq.<group>`.

A system's groups are found by name: the group named after the system id (the SDK's default),
or starting with it (`bapenda.sipd.demo`), among the groups the brokers list, the settings name,
or the caller gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.database import Connection
from bus.errors import EventNotFoundError
from bus.lag import LagScanner, candidate_groups
from bus.reliability.naming import (
    DLQ_PREFIX,
    RETRY_PREFIX,
    dlq_topic,
    retry_consumer_group,
    retry_stage,
)
from bus.tracking.dead_letters import DeadLetter, read_dead_letters


class DeliveryState(StrEnum):
    """Where one event stands for one consumer group."""

    DELIVERED = "delivered"
    PENDING = "pending"
    DEAD_LETTERED = "dead-lettered"


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    """Where an event landed, from the publication log or given by an operator."""

    event_id: str
    event_type: str
    source_system: str
    topic: str
    partition: int
    offset: int
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class GroupDelivery:
    """One consumer group's state for the event."""

    system: str
    group: str
    state: DeliveryState
    committed: int | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "system": self.system,
            "group": self.group,
            "state": self.state.value,
            "committed": self.committed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class DeliveryReport:
    """Every subscribing group's state for one event."""

    event: PublishedEvent
    deliveries: tuple[GroupDelivery, ...]

    @property
    def delivered(self) -> int:
        """How many groups have the event."""
        return sum(d.state is DeliveryState.DELIVERED for d in self.deliveries)

    @property
    def summary(self) -> str:
        """For example "3 of 4 delivered, 1 dead-lettered"."""
        text = f"{self.delivered} of {len(self.deliveries)} delivered"
        for state in (DeliveryState.DEAD_LETTERED, DeliveryState.PENDING):
            count = sum(d.state is state for d in self.deliveries)
            if count:
                text += f", {count} {state.value}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The document of `bus trace --json` and `GET /v1/events/{id}/deliveries`."""
        e = self.event
        return {
            "event_id": e.event_id,
            "event_type": e.event_type,
            "source_system": e.source_system,
            "topic": e.topic,
            "partition": e.partition,
            "offset": e.offset,
            "published_at": e.published_at.isoformat() if e.published_at else None,
            "summary": self.summary,
            "delivered": self.delivered,
            "subscribers": len(self.deliveries),
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


async def publication_of(conn: Connection, event_id: str) -> PublishedEvent:
    """The publication log's row for `event_id`; `EventNotFoundError` if there is none."""
    try:
        row = await conn.fetchrow(
            'SELECT event_id, event_type, source_system, topic, partition, "offset", '
            "published_at FROM bus_publication_log WHERE event_id = $1",
            event_id,
        )
    except asyncpg.UndefinedTableError:
        row = None
    if row is None:
        raise EventNotFoundError(event_id)
    return PublishedEvent(
        event_id=row["event_id"],
        event_type=row["event_type"],
        source_system=row["source_system"],
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        published_at=row["published_at"],
    )


async def find_publication(dsn: str | None, event_id: str) -> PublishedEvent:
    """`publication_of` on a connection of its own to `dsn` (the bus's database)."""
    if not dsn:
        raise EventNotFoundError(event_id)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await publication_of(conn, event_id)
    finally:
        await conn.close()


async def deliveries_for(
    conn: Connection, event_id: str, system_id: str, *, settings: BusSettings, catalog: Catalog
) -> DeliveryReport:
    """The delivery report of an event for the system that published it, and only for it.

    Another system's event is reported as not found (`EventNotFoundError`), like an unknown
    id, so a caller cannot learn which events other agencies published.
    """
    event = await publication_of(conn, event_id)
    if event.source_system != system_id:
        raise EventNotFoundError(event_id)
    return await trace_event(event, settings=settings, catalog=catalog)


def _system_of_group(group: str, systems: list[str]) -> str | None:
    matches = [s for s in systems if group == s or group.startswith((f"{s}.", f"{s}-"))]
    return max(matches, key=len, default=None)


async def trace_event(
    event: PublishedEvent,
    *,
    settings: BusSettings,
    catalog: Catalog,
    groups: list[str] | None = None,
) -> DeliveryReport:
    """Each subscribing group's state for `event` (see the module docstring for the rules)."""
    subscribers = [sub.system for sub in catalog.subscribers_of(event.event_type)]
    tp = (event.topic, event.partition)
    async with LagScanner(settings) as scanner:
        names = [
            n
            for n in await candidate_groups(scanner, catalog, groups or [])
            if not n.startswith((DLQ_PREFIX, RETRY_PREFIX))
        ]
        report = await scanner.scan(names, topic=event.topic)
        committed: dict[str, int | None] = {}
        for scanned in report.groups:
            owner = _system_of_group(scanned.group, subscribers)
            row = next((p for p in scanned.partitions if (p.topic, p.partition) == tp), None)
            if owner is not None and (row is not None or scanned.group in (groups or [])):
                committed[scanned.group] = row.committed if row else None
        for subscriber in subscribers:
            if not any(_system_of_group(g, subscribers) == subscriber for g in committed):
                committed[subscriber] = None  # its default group never consumed the topic
        failure_topics = {dlq_topic(g) for g in committed}
        prefixes = tuple(f"{RETRY_PREFIX}{g}." for g in committed)
        ranges = await scanner.log_ranges(
            lambda t: t in failure_topics or (t.startswith(prefixes) and retry_stage(t) > 0)
        )
        retry_report = await scanner.scan([retry_consumer_group(g) for g in committed])
    letters = [
        letter
        for letter in await read_dead_letters(settings, ranges)
        if letter.event_id == event.event_id
    ]
    retry_committed = {
        (g.group, p.topic, p.partition): p.committed
        for g in retry_report.groups
        for p in g.partitions
    }
    deliveries = []
    for group, offset in sorted(committed.items()):
        system = _system_of_group(group, subscribers) or group
        state, detail = _state_of(
            group, offset, event, letters=letters, retry_committed=retry_committed
        )
        deliveries.append(GroupDelivery(system, group, state, offset, detail))
    return DeliveryReport(event, tuple(deliveries))


def _state_of(
    group: str,
    committed: int | None,
    event: PublishedEvent,
    *,
    letters: list[DeadLetter],
    retry_committed: dict[tuple[str, str, int], int | None],
) -> tuple[DeliveryState, str]:
    mine = [letter for letter in letters if letter.topic == dlq_topic(group)]
    if mine:
        last = mine[-1]
        return DeliveryState.DEAD_LETTERED, f"{last.error_class}: {last.error_message}"
    retries = [
        letter
        for letter in letters
        if letter.topic.startswith(f"{RETRY_PREFIX}{group}.") and retry_stage(letter.topic)
    ]
    if retries:
        last = max(retries, key=lambda letter: retry_stage(letter.topic))
        passed = retry_committed.get((retry_consumer_group(group), last.topic, last.partition))
        if passed is None or passed <= last.offset:
            return DeliveryState.PENDING, f"waiting in {last.topic} after {last.error_class}"
    if committed is not None and committed > event.offset:
        return DeliveryState.DELIVERED, ""
    if committed is None:
        return DeliveryState.PENDING, "the group has not consumed this topic yet"
    return DeliveryState.PENDING, f"{event.offset - committed + 1} event(s) to go"
