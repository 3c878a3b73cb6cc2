"""The publication log: one row per event the ingress, the outbox relay or the SDK published.

    await ensure_schema(conn)
    await record_publications(conn, [Publication.of(record, delivery, via="ingress")])

It lives in the bus's own PostgreSQL database (`BUS_DATABASE_DSN`) and is the basis for
delivery tracking (`bus trace`) and audit evidence: which system published which event, where
it landed, when, and a SHA-256 of its data (never the data itself, which may be personal).
A row is written only after the broker acknowledged the event. Table:

    bus_publication_log(
        event_id text PRIMARY KEY, event_type text, source_system text, topic text,
        partition int, "offset" bigint, published_at timestamptz DEFAULT now(),
        data_sha256 text, via text  -- 'ingress' | 'outbox' | 'sdk'
    )
    bus_publication_subjects(subject text, event_id text)  -- keyed NIK tokens, see bus.pdp
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from bus.database import Connection
from bus.grouped_statement import GroupedStatement
from bus.privacy.subjects import subjects_in
from bus.publish import Delivery, OutgoingRecord

Via = Literal["ingress", "outbox", "sdk"]

DDL = """
CREATE TABLE IF NOT EXISTS bus_publication_log (
    event_id      text PRIMARY KEY,
    event_type    text NOT NULL,
    source_system text NOT NULL,
    topic         text NOT NULL,
    partition     int NOT NULL,
    "offset"      bigint NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now(),
    data_sha256   text NOT NULL,
    via           text NOT NULL CHECK (via IN ('ingress', 'outbox', 'sdk'))
);
CREATE INDEX IF NOT EXISTS bus_publication_log_by_system
    ON bus_publication_log (source_system, published_at);
-- Which events are about which person (bus.privacy.subjects): a keyed token, never the NIK.
CREATE TABLE IF NOT EXISTS bus_publication_subjects (
    subject   text NOT NULL,
    event_id  text NOT NULL,
    PRIMARY KEY (subject, event_id)
);
"""

# Concurrent `CREATE TABLE IF NOT EXISTS` can still collide in the catalog; a transaction-level
# advisory lock makes schema creation safe when several processes start at once.
_SCHEMA_LOCK = 0x0B05_0001


async def ensure_schema(conn: Connection) -> None:
    """Create the publication log table and its index if they do not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(DDL)


@dataclass(frozen=True, slots=True)
class Publication:
    """One acknowledged event as the log records it."""

    event_id: str
    event_type: str
    source_system: str
    topic: str
    partition: int
    offset: int
    data_sha256: str
    via: Via
    #: Tokens of the people the event is about (`bus.privacy.subjects`), for `bus pdp report`.
    subjects: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, record: OutgoingRecord, delivery: Delivery, *, source_system: str, via: Via
    ) -> Publication:
        """The log entry for `record`, acknowledged as `delivery`."""
        return cls(
            event_id=record.envelope.id,
            event_type=record.envelope.type,
            source_system=source_system,
            topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            data_sha256=data_sha256(record.value),
            via=via,
            subjects=subjects_in(record.type, record.value),
        )


def data_sha256(value: bytes) -> str:
    """Hex SHA-256 of the event data exactly as it was put on the topic."""
    return hashlib.sha256(value).hexdigest()


async def record_publications(conn: Connection, publications: Iterable[Publication]) -> None:
    """Insert log rows; an event id logged before (a re-send after a crash) keeps its first row."""
    publications = list(publications)
    rows = [
        (p.event_id, p.event_type, p.source_system, p.topic, p.partition, p.offset,
         p.data_sha256, p.via)
        for p in publications
    ]  # fmt: skip
    if rows:
        await conn.executemany(
            "INSERT INTO bus_publication_log (event_id, event_type, source_system, topic, "
            'partition, "offset", data_sha256, via) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) '
            "ON CONFLICT (event_id) DO NOTHING",
            rows,
        )
    subjects = [(subject, p.event_id) for p in publications for subject in p.subjects]
    if subjects:
        await conn.executemany(
            "INSERT INTO bus_publication_subjects (subject, event_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            subjects,
        )


class GroupedLogWriter:
    """Writes the rows of concurrent callers together: one pooled insert for all who are waiting.

        writer = GroupedLogWriter(pool)
        await writer.write(publications)    # returns once these rows are committed

    The HTTP ingress answers 202 only once an event's log row is committed; with many requests
    in flight, each waiting for its own insert meant a pool checkout, an insert and a session
    reset per request. Here the rows that arrive while one insert runs all go in the next
    (`executemany` sends them as one pipeline, see `bus.grouped_statement`), and every caller
    still gets its own outcome: the insert's error is raised in each caller whose rows it carried
    (an error about the data only in the caller whose rows caused it; `bus.grouped_statement`).
    """

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._inserts = GroupedStatement(pool, _insert, name="the publication log writer")

    @property
    def statements(self) -> int:
        """How many inserts ran so far (each for every caller waiting when it started)."""
        return self._inserts.statements

    async def write(self, publications: Iterable[Publication]) -> None:
        """Insert `publications` with whatever else is waiting; raises what the insert raised."""
        await self._inserts(list(publications))

    async def close(self) -> None:
        """Stop; callers still waiting get an error instead of waiting forever."""
        await self._inserts.close()


async def _insert(conn: Connection, groups: list[list[Publication]]) -> list[None]:
    await record_publications(conn, (p for publications in groups for p in publications))
    return [None] * len(groups)
