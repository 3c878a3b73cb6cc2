"""The HTTP delivery log: every attempt to deliver an event over HTTP, and each key's queue.

    log = AttemptLog(pool)
    await log.ensure_schema()
    seen = await log.lookup(group, event_id, key_digest)     # state and the key's head
    await log.record(group, position, attempt)               # committed when it returns
    await log.close()

Concurrent callers share statements: every lookup waiting while one runs goes in the next
single SELECT, every record in the next single INSERT (`bus.grouped_statement`).

Two tables in the bus's database, written by the webhook adapter and read by `bus trace` and
`GET /v1/events/{id}/deliveries` (each endpoint's circuit is in `webhook_endpoints`):

- `bus_http_deliveries`: one row per (group, event): pending, delivered or dead-lettered, its
  source position, how many attempts, the retry stage it waits in. Pending rows of one key
  are its queue: only the oldest may be attempted, which keeps per-key order while one of
  them is retried. Keys are stored as SHA-256 digests: a key may be a NIK.
- `bus_http_attempts`: one row per HTTP attempt: when, status, latency, next try.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from bus.database import Connection
from bus.grouped_statement import GroupedStatement

SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_http_deliveries (
    consumer_group   text        NOT NULL,
    event_id         text        NOT NULL,
    key_digest       text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    state            text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    stage            integer     NOT NULL DEFAULT 0,
    last_status      integer,
    next_try_at      timestamptz,
    delivered_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
CREATE INDEX IF NOT EXISTS bus_http_deliveries_queue
    ON bus_http_deliveries (consumer_group, key_digest, source_partition, source_offset)
    WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS bus_http_attempts (
    consumer_group text             NOT NULL,
    event_id       text             NOT NULL,
    attempt        integer          NOT NULL,
    at             timestamptz      NOT NULL,
    status         integer,
    latency_ms     double precision NOT NULL,
    outcome        text             NOT NULL,
    next_try_at    timestamptz,
    PRIMARY KEY (consumer_group, event_id, attempt)
);
"""

PENDING, DELIVERED, DEAD_LETTERED = "pending", "delivered", "dead-lettered"

# One statement for every waiting caller: per (group, event, key) of the arrays, the event's
# state and its key's oldest pending event (the partial index bus_http_deliveries_queue gives
# it with one index probe per request, the primary key gives the state), in request order.
_LOOKUP = """
SELECT d.state, d.attempts, head.event_id, head.stage, head.next_try_at
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
    AS q(consumer_group, event_id, key_digest, n)
LEFT JOIN bus_http_deliveries d
    ON d.consumer_group = q.consumer_group AND d.event_id = q.event_id
LEFT JOIN LATERAL (
    SELECT h.event_id, h.stage, h.next_try_at FROM bus_http_deliveries h
    WHERE h.consumer_group = q.consumer_group AND h.key_digest = q.key_digest
        AND h.state = 'pending'
    ORDER BY h.source_partition, h.source_offset LIMIT 1
) head ON true
ORDER BY q.n
"""

# One statement for the waiting records, so one round trip: the attempts (where a request was
# made) and the events' states, row by row as a single record did before. No two rows of one
# statement are for the same event: ON CONFLICT DO UPDATE cannot touch a row twice (see
# `_rounds`).
_RECORD = """
WITH r AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[],
        $6::text[], $7::integer[], $8::integer[], $9::integer[], $10::timestamptz[],
        $11::timestamptz[], $12::timestamptz[], $13::double precision[], $14::text[],
        $15::boolean[])
    AS r(consumer_group, event_id, key_digest, source_partition, source_offset, state,
        attempts, stage, last_status, next_try_at, delivered_at, at, latency_ms, outcome, sent)
), attempt AS (
    INSERT INTO bus_http_attempts (consumer_group, event_id, attempt, at, status, latency_ms,
        outcome, next_try_at)
    SELECT consumer_group, event_id, attempts, at, last_status, latency_ms, outcome, next_try_at
    FROM r WHERE sent
    ON CONFLICT (consumer_group, event_id, attempt) DO NOTHING
)
INSERT INTO bus_http_deliveries AS d (consumer_group, event_id, key_digest, source_partition,
    source_offset, state, attempts, stage, last_status, next_try_at, delivered_at)
SELECT consumer_group, event_id, key_digest, source_partition, source_offset, state, attempts,
    stage, last_status, next_try_at, delivered_at
FROM r
ON CONFLICT (consumer_group, event_id) DO UPDATE SET
    state = EXCLUDED.state, attempts = EXCLUDED.attempts, stage = EXCLUDED.stage,
    last_status = COALESCE(EXCLUDED.last_status, d.last_status),
    next_try_at = EXCLUDED.next_try_at, delivered_at = EXCLUDED.delivered_at, updated_at = now()
"""


def key_digest(key: bytes | None) -> str:
    """The SHA-256 of a record key, hex: rows are grouped by key without storing it."""
    return hashlib.sha256(key or b"").hexdigest()


@dataclass(frozen=True, slots=True)
class Seen:
    """What the log knows of an event before an attempt: its state and its key's queue head."""

    state: str | None
    attempts: int
    head: str | None
    head_stage: int
    #: When the head of the key's queue is tried next (None: not known yet).
    head_next_try: datetime | None = None

    @property
    def delivered(self) -> bool:
        """True if an earlier attempt got a 2xx: the event is not sent again."""
        return self.state == DELIVERED

    def waits_behind(self, event_id: str) -> bool:
        """True if an older event of the same key is still pending."""
        return self.head is not None and self.head != event_id


@dataclass(frozen=True, slots=True)
class Position:
    """Which event, of which key, from where in the source topic."""

    event_id: str
    key_digest: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt (or none, for an event that only waits) and where it leaves the event."""

    number: int
    at: datetime
    status: int | None
    latency_ms: float
    outcome: str
    state: str
    stage: int
    next_try_at: datetime | None
    #: False when no request was made (the event waits behind another, or for the circuit):
    #: then `number` is the count of attempts so far and only the event's state is stored.
    sent: bool = True


#: What a caller asks: the (group, event id, key digest) to look up.
_Query: TypeAlias = tuple[str, str, str]
#: What a caller records: the group, the event's position and the attempt.
_Record: TypeAlias = tuple[str, Position, Attempt]


class AttemptLog:
    """Reads and writes the HTTP delivery tables of the bus's database.

    Many events are in flight at once: the lookups (and the records) of concurrent callers go
    together in one statement (`bus.grouped_statement`), each caller getting its own answer.
    """

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool
        self._lookups = GroupedStatement(pool, _lookup, name="the attempt log")
        self._records = GroupedStatement(pool, _record, name="the attempt log")

    @property
    def statements(self) -> int:
        """How many lookup and record statements ran so far (each for all callers waiting)."""
        return self._lookups.statements + self._records.statements

    async def ensure_schema(self) -> None:
        """Create the tables if they do not exist."""
        async with self.pool.acquire() as conn:
            await conn.execute(SCHEMA)

    async def lookup(self, group: str, event_id: str, digest: str) -> Seen:
        """The event's state and attempts so far, and the oldest pending event of its key."""
        return await self._lookups((group, event_id, digest))

    async def record(self, group: str, position: Position, attempt: Attempt) -> None:
        """Store the attempt (if one was made) and the event's new state; returns once committed."""
        await self._records((group, position, attempt))

    async def close(self) -> None:
        """Stop; lookups and records still waiting get an error instead of waiting forever."""
        await self._lookups.close()
        await self._records.close()


async def _lookup(conn: Connection, queries: list[_Query]) -> list[Seen]:
    rows = await conn.fetch(_LOOKUP, *(list(column) for column in zip(*queries, strict=True)))
    return [Seen(row[0], row[1] or 0, row[2], row[3] or 0, row[4]) for row in rows]


async def _record(conn: Connection, records: list[_Record]) -> list[None]:
    rounds = _rounds(records)
    if len(rounds) == 1:
        await conn.execute(_RECORD, *_columns(rounds[0]))
    else:
        async with conn.transaction():
            for round_ in rounds:
                await conn.execute(_RECORD, *_columns(round_))
    return [None] * len(records)


def _rounds(records: list[_Record]) -> list[list[_Record]]:
    """The records split so that no round has two for one event, each event's in arrival order.

    Round k holds the k-th record of every event: an event's records are applied one after the
    other, as they would have been one statement each, and records of different events touch
    different rows, so their order does not matter. (Keeping only an event's last record is
    not the same: its position is the first one's, and `last_status` its last non-null one.)
    """
    rounds: list[list[_Record]] = []
    seen: dict[tuple[str, str], int] = {}
    for record in records:
        event = (record[0], record[1].event_id)
        k = seen.get(event, 0)
        seen[event] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(record)
    return rounds


def _columns(records: list[_Record]) -> list[list[Any]]:
    """The parameters of `_RECORD`: one array per column, one element per record."""
    rows = [
        (
            group,
            position.event_id,
            position.key_digest,
            position.partition,
            position.offset,
            attempt.state,
            attempt.number,
            attempt.stage,
            attempt.status,
            attempt.next_try_at,
            attempt.at if attempt.state == DELIVERED else None,
            attempt.at,
            attempt.latency_ms,
            attempt.outcome,
            attempt.sent,
        )
        for group, position, attempt in records
    ]
    return [list(column) for column in zip(*rows, strict=True)]


async def attempt_summaries(conn: Connection, event_id: str) -> dict[str, str]:
    """Per consumer group, a sentence on the event's HTTP delivery, e.g. "delivered on attempt
    3 at 2026-12-02T02:00:00Z"; empty for groups that do not deliver over HTTP."""
    try:
        rows = await conn.fetch(
            "SELECT d.consumer_group, d.state, d.attempts, d.delivered_at, d.next_try_at, "
            "d.last_status FROM bus_http_deliveries d WHERE d.event_id = $1",
            event_id,
        )
    except asyncpg.UndefinedTableError:
        return {}
    return {row[0]: _summary(row[1], row[2], row[3], row[4], row[5]) for row in rows}


def _summary(
    state: str,
    attempts: int,
    delivered_at: datetime | None,
    next_try_at: datetime | None,
    last_status: int | None,
) -> str:
    from bus.reliability.failure import rfc3339

    if state == DELIVERED and delivered_at is not None:
        return f"delivered on attempt {attempts} at {rfc3339(delivered_at)}"
    last = f", last answer {last_status}" if last_status is not None else ""
    if state == DEAD_LETTERED:
        return f"dead-lettered after {attempts} attempt(s){last}"
    when = f", next try at {rfc3339(next_try_at)}" if next_try_at is not None else ""
    return f"{attempts} attempt(s){last}{when}"


async def attempts_of(conn: Connection, group: str, event_id: str) -> list[dict[str, Any]]:
    """Every HTTP attempt of `event_id` by `group`, oldest first, JSON-ready."""
    from bus.reliability.failure import rfc3339

    try:
        rows = await conn.fetch(
            "SELECT attempt, at, status, latency_ms, outcome, next_try_at FROM "
            "bus_http_attempts WHERE consumer_group = $1 AND event_id = $2 ORDER BY attempt",
            group,
            event_id,
        )
    except asyncpg.UndefinedTableError:
        return []
    return [
        {
            "attempt": r[0],
            "at": rfc3339(r[1]),
            "status": r[2],
            "latency_ms": round(r[3], 1),
            "outcome": r[4],
            "next_try_at": rfc3339(r[5]) if r[5] is not None else None,
        }
        for r in rows
    ]
