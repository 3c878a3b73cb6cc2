"""The inbox: the idempotent-effect half of at-least-once delivery, in the consumer's PostgreSQL.

    inbox = Inbox(pool, group="bapenda.sipd.izin")
    await inbox.ensure_table()

    async with inbox.transaction(envelope) as tx:
        if tx.duplicate:
            return                                   # already applied: acknowledge, no effect
        await tx.connection.execute("INSERT INTO wajib_pajak ...", ...)

Kafka delivers an event at least once (a crash between the effect and the offset commit
redelivers it). The inbox row `(event_id, consumer_group)` is inserted in the same transaction
as the handler's effect, so either both are durable or neither is, and a redelivered event finds
its row and is acknowledged without a second effect. Two members handling the same event at
once (during a rebalance) serialise on the row's primary key: the second one sees a duplicate.
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
    event_id       text        NOT NULL,
    consumer_group text        NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, consumer_group)
)
"""

_CLAIM = """
INSERT INTO bus_inbox (event_id, consumer_group) VALUES ($1, $2)
ON CONFLICT (event_id, consumer_group) DO NOTHING
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
        async with self.pool.acquire() as connection:
            await connection.execute(INBOX_DDL)

    @contextlib.asynccontextmanager
    async def transaction(self, envelope: Envelope) -> AsyncIterator[InboxTransaction]:
        """A transaction in which `envelope`'s event is claimed; commits when the block ends."""
        async with self.pool.acquire() as connection, connection.transaction():
            status = await connection.execute(_CLAIM, envelope.id, self.group)
            yield InboxTransaction(connection, envelope.id, duplicate=status == "INSERT 0 0")

    async def seen(self, event_id: str) -> bool:
        """True if this group has already applied `event_id`."""
        async with self.pool.acquire() as connection:
            found = await connection.fetchval(
                "SELECT 1 FROM bus_inbox WHERE event_id = $1 AND consumer_group = $2",
                event_id,
                self.group,
            )
        return found is not None
