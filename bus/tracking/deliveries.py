"""Delivery tracking: did every subscribing system receive event X?

    event = await locate("0b1c2d3e", settings=settings, catalog=catalog)
    report = await trace_event(event, settings=settings, catalog=catalog)
    report.summary            # "2 of 3 delivered": subscribing systems, over their groups

The event's position comes from `bus.tracking.locate`. Every consumer group of a system with an
agreement for the event type is then one of:

- DELIVERED: the group's committed offset on the event's partition is past the event, and its
  newest failure record (retry or dead letter), if any, was handled since;
- PENDING: the group has not committed past it yet (or never consumed the topic), or the event
  waits in one of the group's retry topics;
- DEAD_LETTERED: the group's newest failure record of the event is in its dead-letter topic
  `bus.dlq.<group>` (a replayed dead letter is followed by a newer retry record);
- UNKNOWN: what decides the state could not be read: the group's committed offsets, or its
  retry and dead-letter topics up to their end offsets within the time allowed. The detail says
  why; a state that was not seen is never reported.

A system's groups are found by name: the group named after the system id (the SDK's default),
or starting with it (`bapenda.sipd.demo`), among the groups the brokers list, the settings name,
or the caller gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bus.broker.reading import IncompleteReadError
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.database import Connection
from bus.dlq.reader import DeadLetter, read_dead_letters
from bus.errors import EventNotFoundError
from bus.lag import LagScanner, candidate_groups
from bus.reliability.naming import (
    DLQ_PREFIX,
    RETRY_PREFIX,
    dlq_topic,
    retry_consumer_group,
    retry_stage,
)
from bus.tracking.attempts import attempt_summaries
from bus.tracking.locate import PublishedEvent, publication_of

#: Longest `bus trace` reads the retry and dead-letter topics before it answers "unknown".
FAILURE_READ_TIMEOUT_S = 30.0


class DeliveryState(StrEnum):
    """Where one event stands for one consumer group."""

    DELIVERED = "delivered"
    PENDING = "pending"
    DEAD_LETTERED = "dead-lettered"
    UNKNOWN = "unknown"


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
    def systems(self) -> dict[str, DeliveryState]:
        """Each subscribing system's state, over all of its groups.

        Dead-lettered if any of its groups dead-lettered the event, else pending if any group
        has yet to get it, else unknown if any group's state could not be read, else delivered:
        a system with two groups (its service and a demo) counts once.
        """
        states: dict[str, set[DeliveryState]] = {}
        for d in self.deliveries:
            states.setdefault(d.system, set()).add(d.state)
        precedence = (DeliveryState.DEAD_LETTERED, DeliveryState.PENDING, DeliveryState.UNKNOWN)
        return {
            system: next((s for s in precedence if s in found), DeliveryState.DELIVERED)
            for system, found in states.items()
        }

    @property
    def delivered(self) -> int:
        """How many subscribing systems have the event (in every one of their groups)."""
        return sum(state is DeliveryState.DELIVERED for state in self.systems.values())

    @property
    def summary(self) -> str:
        """For example "2 of 3 delivered, 1 dead-lettered": subscribing systems, not groups."""
        systems = self.systems
        text = f"{self.delivered} of {len(systems)} delivered"
        for state in (DeliveryState.DEAD_LETTERED, DeliveryState.PENDING, DeliveryState.UNKNOWN):
            count = sum(s is state for s in systems.values())
            if count:
                text += f", {count} {state.value}"
        return text

    def with_http(self, summaries: dict[str, str]) -> DeliveryReport:
        """This report with the HTTP delivery log's word for webhook groups (`attempts.py`):
        the offset says the adapter took the event, the log whether the endpoint has it."""
        states = {
            "delivered on": DeliveryState.DELIVERED,
            "dead-letter": DeliveryState.DEAD_LETTERED,
        }
        deliveries = []
        for delivery in self.deliveries:
            summary = summaries.get(delivery.group)
            if summary is None:
                deliveries.append(delivery)
                continue
            state = next(
                (s for prefix, s in states.items() if summary.startswith(prefix)),
                DeliveryState.PENDING,
            )
            deliveries.append(
                GroupDelivery(delivery.system, delivery.group, state, delivery.committed, summary)
            )
        return DeliveryReport(self.event, tuple(deliveries))

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
            "located_by": e.located_by,
            "summary": self.summary,
            "delivered": self.delivered,
            "subscribers": len(self.systems),
            "systems": {system: state.value for system, state in self.systems.items()},
            "groups": len(self.deliveries),
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


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
    report = await trace_event(event, settings=settings, catalog=catalog)
    return report.with_http(await attempt_summaries(conn, event_id))


def _system_of_group(group: str, systems: list[str]) -> str | None:
    matches = [s for s in systems if group == s or group.startswith((f"{s}.", f"{s}-"))]
    return max(matches, key=len, default=None)


async def trace_event(
    event: PublishedEvent,
    *,
    settings: BusSettings,
    catalog: Catalog,
    groups: list[str] | None = None,
    timeout_s: float = FAILURE_READ_TIMEOUT_S,
) -> DeliveryReport:
    """Each subscribing group's state for `event` (see the module docstring for the rules)."""
    subscribers = [sub.system for sub in catalog.subscribers_of(event.event_type)]
    tp = (event.topic, event.partition)
    unknown: dict[str, str] = {}
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
            if owner is None:
                continue
            if scanned.error:
                committed[scanned.group] = None
                unknown[scanned.group] = f"its committed offsets could not be read: {scanned.error}"
                continue
            row = next((p for p in scanned.partitions if (p.topic, p.partition) == tp), None)
            if row is not None or scanned.group in (groups or []):
                committed[scanned.group] = row.committed if row else None
        for subscriber in subscribers:
            if not any(_system_of_group(g, subscribers) == subscriber for g in committed):
                committed[subscriber] = None  # its default group never consumed the topic
        failure_topics = {dlq_topic(g) for g in committed}
        prefixes = tuple(f"{RETRY_PREFIX}{g}." for g in committed)
        ranges = await scanner.log_ranges(
            lambda t: t in failure_topics or (t.startswith(prefixes) and retry_stage(t) > 0)
        )
        topics = sorted({t for t, _ in ranges})
        retry_report = await scanner.scan([retry_consumer_group(g) for g in committed])
    try:
        records = await read_dead_letters(settings, topics, timeout_s=timeout_s)
    except IncompleteReadError as exc:
        records = exc.partial
        for group in committed:
            unread = {tp: at for tp, at in exc.unread.items() if _failure_topic_of(group, tp.topic)}
            if unread:
                mine = IncompleteReadError(unread, exc.timeout_s)
                unknown.setdefault(group, f"its failure records were not all read: {mine}")
    letters = [r for r in records if r.event_id == event.event_id]
    retry_committed = {
        (g.group, p.topic, p.partition): p.committed
        for g in retry_report.groups
        for p in g.partitions
    }
    for g in retry_report.groups:
        if g.error:
            for group in committed:
                if g.group == retry_consumer_group(group):
                    unknown.setdefault(group, f"its retry offsets could not be read: {g.error}")
    deliveries = []
    for group, offset in sorted(committed.items()):
        system = _system_of_group(group, subscribers) or group
        if group in unknown:
            state, detail = DeliveryState.UNKNOWN, unknown[group]
        else:
            state, detail = _state_of(
                group, offset, event, letters=letters, retry_committed=retry_committed
            )
        deliveries.append(GroupDelivery(system, group, state, offset, detail))
    return DeliveryReport(event, tuple(deliveries))


def _failure_topic_of(group: str, topic: str) -> bool:
    return topic == dlq_topic(group) or (
        topic.startswith(f"{RETRY_PREFIX}{group}.") and retry_stage(topic) > 0
    )


def _state_of(
    group: str,
    committed: int | None,
    event: PublishedEvent,
    *,
    letters: list[DeadLetter],
    retry_committed: dict[tuple[str, str, int], int | None],
) -> tuple[DeliveryState, str]:
    # The newest failure record of the event decides: a replayed dead letter is followed by a
    # newer retry record, and a retry that failed again by a newer retry or dead letter.
    mine = [letter for letter in letters if _failure_topic_of(group, letter.topic)]
    if mine:
        last = max(mine, key=lambda r: (r.timestamp, r.topic == dlq_topic(group)))
        failure = f"{last.failure.error_class}: {last.failure.error_message}"
        if last.topic == dlq_topic(group):
            return DeliveryState.DEAD_LETTERED, failure
        passed = retry_committed.get((retry_consumer_group(group), last.topic, last.partition))
        if passed is None or passed <= last.offset:
            return DeliveryState.PENDING, f"waiting in {last.topic} after {failure}"
        return DeliveryState.DELIVERED, f"after {last.failure.attempts} failed attempt(s)"
    if committed is not None and committed > event.offset:
        return DeliveryState.DELIVERED, ""
    if committed is None:
        return DeliveryState.PENDING, "the group has not consumed this topic yet"
    return DeliveryState.PENDING, f"{event.offset - committed + 1} event(s) to go"
