"""The inbox: the idempotent-effect half of at-least-once delivery, in the consumer's PostgreSQL.

    inbox = Inbox(pool, group="bapenda.sipd.izin")
    await inbox.ensure_table()

    async with inbox.transaction(envelope) as tx:
        if tx.duplicate:
            return                                   # already applied: acknowledge, no effect
        await tx.connection.execute("INSERT INTO wajib_pajak ...", ...)

Kafka delivers an event at least once (a crash between the effect and the offset commit
redelivers it). The inbox row `(source, event_id, consumer_group)` is inserted in the same
transaction as the handler's effect, so either both are durable or neither is, and a
redelivered event finds its row and is acknowledged without a second effect. CloudEvents
makes an event unique by `source` + `id`, so the same id from two sources is two events. Two
members handling the same event at once (during a rebalance) serialise on the row's primary
key: the second one sees a duplicate.

Each redelivery a row absorbs is counted in its `duplicates` column (`Inbox.duplicates()`), in
the same transaction: evidence, independent of the primary key, that redeliveries happened and
changed nothing.

`ensure_table` migrates an inbox of an older release, keyed by `(event_id, consumer_group)`:
its rows keep an empty source and still count as applied for that id from any source, so an
event applied before the upgrade is never applied again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bus.envelope import Envelope

INBOX_DDL = """
CREATE TABLE IF NOT EXISTS bus_inbox (
    source         text        NOT NULL,    -- CloudEvents source; '' for rows of old releases
    event_id       text        NOT NULL,
    consumer_group text        NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    duplicates     int         NOT NULL DEFAULT 0,  -- redeliveries this row absorbed
    PRIMARY KEY (source, event_id, consumer_group)
)
"""

#: Inboxes created before `duplicates` was counted.
_ADD_DUPLICATES = "ALTER TABLE bus_inbox ADD COLUMN IF NOT EXISTS duplicates int NOT NULL DEFAULT 0"

#: From the `(event_id, consumer_group)` key of older releases to `(source, event_id, group)`.
_MIGRATE = """
ALTER TABLE bus_inbox ADD COLUMN source text NOT NULL DEFAULT '';
ALTER TABLE bus_inbox ALTER COLUMN source DROP DEFAULT;
ALTER TABLE bus_inbox DROP CONSTRAINT bus_inbox_pkey;
ALTER TABLE bus_inbox ADD PRIMARY KEY (source, event_id, consumer_group);
"""

_SCHEMA_LOCK = 0x0B05_0003

# The event is new when its row is inserted here. Otherwise it is a redelivery: the row (or a
# row of an older release, source '') counts it in `duplicates`, which locks the row as the
# insert would, so two members handling one event still serialise on it.
_CLAIM = """
WITH new AS (
    INSERT INTO bus_inbox (source, event_id, consumer_group)
    SELECT $1, $2, $3
    WHERE NOT EXISTS (
        SELECT 1 FROM bus_inbox WHERE source = '' AND event_id = $2 AND consumer_group = $3
    )
    ON CONFLICT (source, event_id, consumer_group) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM new
"""

_COUNT_DUPLICATE = """
UPDATE bus_inbox SET duplicates = duplicates + 1
WHERE source IN ($1, '') AND event_id = $2 AND consumer_group = $3
"""


@dataclass(frozen=True)
class InboxTransaction:
    """An open transaction on the consumer's database with the event's inbox row claimed."""

    connection: PoolConnectionProxy[asyncpg.Record]
    event_id: str
    duplicate: bool


class Inbox:
    """The `bus_inbox` table of one consumer group in the consumer's own database."""

    def __init__(self, pool: asyncpg.Pool, group: str) -> None:
        self.pool = pool
        self.group = group

    async def ensure_table(self) -> None:
        """Create `bus_inbox` if it does not exist."""
        async with self.pool.acquire() as connection, connection.transaction():
            # Members of a group start together; one of them creates or migrates the table.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await connection.execute(INBOX_DDL)
            # ALTER TABLE takes an exclusive lock even when it changes nothing: only when needed.
            columns = {
                row["column_name"]
                for row in await connection.fetch(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'bus_inbox' AND table_schema = current_schema()"
                )
            }
            if "source" not in columns:
                await connection.execute(_MIGRATE)
            if "duplicates" not in columns:
                await connection.execute(_ADD_DUPLICATES)

    @contextlib.asynccontextmanager
    async def transaction(self, envelope: Envelope) -> AsyncIterator[InboxTransaction]:
        """A transaction in which `envelope`'s event is claimed; commits when the block ends."""
        async with self.pool.acquire() as connection, connection.transaction():
            claimed = await connection.fetchval(_CLAIM, envelope.source, envelope.id, self.group)
            if not claimed:
                await connection.execute(_COUNT_DUPLICATE, envelope.source, envelope.id, self.group)
            yield InboxTransaction(connection, envelope.id, duplicate=not claimed)

    async def duplicates(self) -> int:
        """Redeliveries of already applied events this group's inbox has absorbed."""
        async with self.pool.acquire() as connection:
            count: int = await connection.fetchval(
                "SELECT coalesce(sum(duplicates), 0) FROM bus_inbox WHERE consumer_group = $1",
                self.group,
            )
        return count

    async def seen(self, event_id: str, source: str | None = None) -> bool:
        """True if this group has already applied `event_id` (from `source`, if given)."""
        async with self.pool.acquire() as connection:
            found = await connection.fetchval(
                "SELECT 1 FROM bus_inbox WHERE event_id = $1 AND consumer_group = $2 "
                "AND ($3::text IS NULL OR source = $3 OR source = '') LIMIT 1",
                event_id,
                self.group,
                source,
            )
        return found is not None
