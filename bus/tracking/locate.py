"""Where an event is: the publication log, a position an operator gives (checked), or the topics.

    event = await locate("0b1c2d3e", settings=settings, catalog=catalog)   # a short id will do

In that order:

1. the publication log (`BUS_DATABASE_DSN`), where the ingress and the outbox relay record every
   event they publish: by the whole id, else by an id prefix (the demo prints 8 characters);
2. a position given with `--topic/--partition/--offset`: the record there is read, and must
   carry the event's id: a made-up id or a wrong offset is an error, never a trace;
3. otherwise the event types' topics (or the one `--topic`) are read to their end offsets,
   looking for a record whose `ce_id` is the id or starts with it. Events published with the
   SDK are found this way: the topic is the record of what was published, and an OPD
   application publishing through the SDK holds no credentials to the bus's database.

A search that cannot finish in time, and a prefix that several events share, are errors
(`EventTraceError`) that say so: "not found" is only ever said after reading everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from bus.broker import clients
from bus.broker.reading import IncompleteReadError, read_to_end
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.database import Connection
from bus.errors import EventNotFoundError, EventTraceError, UnknownEventTypeError

__all__ = [
    "PublishedEvent",
    "find_publication",
    "locate",
    "publication_of",
    "record_at",
    "search_topics",
]

#: Prefix matches listed in an "ambiguous id" error.
_SHOWN_MATCHES = 5
#: Longest `bus trace` reads topics looking for an event before it answers "unknown".
SEARCH_TIMEOUT_S = 60.0

_COLUMNS = 'event_id, event_type, source_system, topic, partition, "offset", published_at'


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    """Where an event landed, and how that was found out (`located_by`)."""

    event_id: str
    event_type: str
    source_system: str
    topic: str
    partition: int
    offset: int
    published_at: datetime | None = None
    located_by: str = "publication log"


def _from_row(row: Any) -> PublishedEvent:
    return PublishedEvent(
        event_id=row["event_id"],
        event_type=row["event_type"],
        source_system=row["source_system"],
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        published_at=row["published_at"],
    )


async def publication_of(conn: Connection, event_id: str) -> PublishedEvent:
    """The publication log's row for exactly `event_id`; `EventNotFoundError` if there is none."""
    try:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM bus_publication_log WHERE event_id = $1", event_id
        )
    except asyncpg.UndefinedTableError:
        row = None
    if row is None:
        raise EventNotFoundError(event_id)
    return _from_row(row)


async def find_publication(dsn: str | None, event_id: str) -> PublishedEvent:
    """The publication of `event_id`, or of the one event whose id starts with it."""
    if not dsn:
        raise EventNotFoundError(
            event_id, "not looked up: BUS_DATABASE_DSN is not set, so there is no publication log"
        )
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        try:
            return await publication_of(conn, event_id)
        except EventNotFoundError:
            pass
        try:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM bus_publication_log WHERE starts_with(event_id, $1) "
                f"ORDER BY event_id LIMIT {_SHOWN_MATCHES + 1}",
                event_id,
            )
        except asyncpg.UndefinedTableError:
            rows = []
    finally:
        await conn.close()
    if not rows:
        raise EventNotFoundError(event_id)
    if len(rows) > 1:
        raise _ambiguous(event_id, [r["event_id"] for r in rows], "in the publication log")
    return _from_row(rows[0])


async def locate(
    event_id: str,
    *,
    settings: BusSettings,
    catalog: Catalog,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    timeout_s: float = SEARCH_TIMEOUT_S,
) -> PublishedEvent:
    """The event `event_id` (whole or a prefix), found as the module docstring says."""
    if topic is not None and partition is not None and offset is not None:
        return await record_at(settings, catalog, event_id, topic, partition, offset, timeout_s)
    try:
        return await find_publication(settings.database_dsn, event_id)
    except EventNotFoundError as exc:
        logged = exc.where
    topics = [topic] if topic is not None else sorted({et.topic for et in catalog.event_types})
    return await search_topics(
        settings, catalog, event_id, topics, timeout_s=timeout_s, not_logged=logged
    )


async def record_at(  # noqa: PLR0917 - a position is four values
    settings: BusSettings,
    catalog: Catalog,
    event_id: str,
    topic: str,
    partition: int,
    offset: int,
    timeout_s: float = SEARCH_TIMEOUT_S,
) -> PublishedEvent:
    """The event at `topic[partition]@offset`, checked to be `event_id` (or to start with it)."""
    tp = TopicPartition(topic, partition)
    consumer = clients.consumer(settings, group_id=None)
    await consumer.start()
    try:
        partitions = await clients.topic_partitions(consumer, topic)
        if not partitions:
            raise EventTraceError(f"topic {topic!r} does not exist")
        if tp not in partitions:
            raise EventTraceError(
                f"{topic} has no partition {partition} (it has {len(partitions)})"
            )
        end = (await consumer.end_offsets([tp]))[tp]
        first = (await consumer.beginning_offsets([tp]))[tp]
        if offset >= end:
            raise EventTraceError(
                f"offset {offset} is past the end of {topic}[{partition}]: its end offset is "
                f"{end}, so no event is at that offset; check the position"
            )
        if offset < first:
            raise EventTraceError(
                f"offset {offset} of {topic}[{partition}] is no longer on the topic (retention "
                f"removed everything before offset {first}): the event there cannot be checked"
            )
        found = None
        try:
            records = read_to_end(consumer, [tp], start={tp: offset}, timeout_s=timeout_s)
            async with aclosing(records):
                async for record in records:
                    found = record
                    break
        except IncompleteReadError as exc:
            raise EventTraceError(f"unknown: {exc}") from None
    finally:
        await clients.stop_consumer(consumer)
    if found is None or found.offset != offset:
        raise EventTraceError(
            f"{topic}[{partition}] holds no event at offset {offset} (a transaction marker or "
            "a compacted record is there)"
        )
    record_id = _header(found.headers, "ce_id")
    if record_id is None or not _matches(record_id, event_id):
        raise EventTraceError(
            f"the record at {topic}[{partition}]@{offset} is "
            + (f"event {record_id!r}" if record_id else "not a CloudEvent (no ce_id header)")
            + f", not {event_id!r}: check the id and the position"
        )
    return _event_of(found, catalog, f"record at {topic}[{partition}]@{offset}, id checked")


async def search_topics(
    settings: BusSettings,
    catalog: Catalog,
    event_id: str,
    topics: Sequence[str],
    *,
    timeout_s: float = SEARCH_TIMEOUT_S,
    not_logged: str = "not in the publication log",
) -> PublishedEvent:
    """The record of `topics` whose `ce_id` is `event_id` or, failing that, starts with it."""
    consumer = clients.consumer(settings, group_id=None)
    await consumer.start()
    matches: list[Any] = []
    read = 0
    try:
        tps = await clients.topic_partitions(consumer, *topics)
        records = read_to_end(consumer, tps, timeout_s=timeout_s)
        async with aclosing(records):
            async for record in records:
                read += 1
                record_id = _header(record.headers, "ce_id")
                if record_id == event_id:
                    matches = [record]
                    break
                if record_id is not None and record_id.startswith(event_id):
                    matches.append(record)
    except IncompleteReadError as exc:
        if not matches:
            raise EventTraceError(
                f"unknown: event {event_id!r} is {not_logged}, and {exc} ({read} records read, "
                "none of them the event); give its position with --topic, --partition and "
                "--offset"
            ) from None
    finally:
        await clients.stop_consumer(consumer)
    where = ", ".join(topics) or "no topic"
    if not matches:
        raise EventNotFoundError(
            event_id, f"{not_logged}, nor on {where} ({read} records read to their end offsets)"
        )
    ids = sorted({_header(m.headers, "ce_id") or "" for m in matches})
    if len(ids) > 1:
        raise _ambiguous(event_id, ids, f"on {where}")
    first = min(matches, key=lambda m: (m.topic, m.partition, m.offset))
    return _event_of(first, catalog, f"search of {where}")


def _event_of(record: Any, catalog: Catalog, located_by: str) -> PublishedEvent:
    event_type = _header(record.headers, "ce_type") or ""
    try:
        source_system = catalog.event_type(event_type).owner
    except UnknownEventTypeError:
        source_system = _header(record.headers, "ce_source") or "?"
    return PublishedEvent(
        event_id=_header(record.headers, "ce_id") or "",
        event_type=event_type,
        source_system=source_system,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        published_at=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        located_by=located_by,
    )


def _header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> str | None:
    for key, raw in headers or ():
        if key == name:
            return (raw or b"").decode(errors="replace")
    return None


def _matches(record_id: str, given: str) -> bool:
    return record_id == given or record_id.startswith(given)


def _ambiguous(event_id: str, ids: list[str], where: str) -> EventTraceError:
    shown = ", ".join(ids[:_SHOWN_MATCHES]) + (", ..." if len(ids) > _SHOWN_MATCHES else "")
    return EventTraceError(
        f"{len(ids)}{'+' if len(ids) > _SHOWN_MATCHES else ''} events {where} have an id "
        f"starting with {event_id!r} ({shown}): give more of the id"
    )
