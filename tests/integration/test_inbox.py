"""The inbox makes an event unique by CloudEvents `source` + `id` (per consumer group), and
migrates a table keyed by (event_id, group) without forgetting what it already applied."""

from __future__ import annotations

import asyncpg
import pytest

from bus.envelope import Envelope
from bus.reliability import Inbox

pytestmark = pytest.mark.integration

TYPE = "id.go.riau.dpmptsp.izin.terbit"

#: The table as releases before source-keyed inboxes created it.
OLD_INBOX_DDL = """
CREATE TABLE bus_inbox (
    event_id       text        NOT NULL,
    consumer_group text        NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, consumer_group)
)
"""


def event(source: str, event_id: str) -> Envelope:
    return Envelope.new(source=source, type=TYPE, id=event_id)


async def claim(inbox: Inbox, envelope: Envelope) -> bool:
    """True if the inbox took `envelope` as new (its effect would be applied)."""
    async with inbox.transaction(envelope) as tx:
        return not tx.duplicate


async def test_the_same_id_from_another_source_is_another_event(database: str) -> None:
    async with asyncpg.create_pool(database, min_size=1, max_size=2) as pool:
        inbox = Inbox(pool, "bapenda.sipd.izin")
        await inbox.ensure_table()
        outcomes = [
            await claim(inbox, event("/riau/dpmptsp/sicantik", "42")),
            await claim(inbox, event("/riau/bkd/simpeg", "42")),
            await claim(inbox, event("/riau/dpmptsp/sicantik", "42")),
            await claim(inbox, event("/riau/bkd/simpeg", "42")),
        ]
        assert await inbox.seen("42", source="/riau/bkd/simpeg")
        assert not await inbox.seen("42", source="/riau/bpbd/sipadu")
        assert await pool.fetchval("SELECT count(*) FROM bus_inbox") == 2
    assert outcomes == [True, True, False, False]


async def test_an_inbox_keyed_by_id_is_migrated_and_keeps_what_it_applied(database: str) -> None:
    async with asyncpg.create_pool(database, min_size=1, max_size=2) as pool:
        await pool.execute(OLD_INBOX_DDL)
        await pool.execute(
            "INSERT INTO bus_inbox (event_id, consumer_group) VALUES ('old-1', 'g'), ('old-2', 'h')"
        )
        inbox = Inbox(pool, "g")
        await inbox.ensure_table()
        await inbox.ensure_table()  # a second start (or a second member) changes nothing
        key = await pool.fetchval(
            "SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey, a.attnum)) "
            "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'bus_inbox'::regclass "
            "AND i.indisprimary"
        )
        # Applied before the migration, its source unknown: still a duplicate from any source.
        old_again = await claim(inbox, event("/riau/dpmptsp/sicantik", "old-1"))
        other_group = await claim(inbox, event("/riau/dpmptsp/sicantik", "old-2"))
        new_one = await claim(inbox, event("/riau/dpmptsp/sicantik", "new-1"))
        new_other_source = await claim(inbox, event("/riau/bkd/simpeg", "new-1"))
    assert key == "source,event_id,consumer_group"
    assert (old_again, other_group, new_one, new_other_source) == (False, True, True, True)


async def test_the_inbox_counts_the_redeliveries_it_absorbed(database: str) -> None:
    async with asyncpg.create_pool(database, min_size=1, max_size=2) as pool:
        inbox = Inbox(pool, "g")
        other = Inbox(pool, "h")
        await inbox.ensure_table()
        first = event("/riau/dpmptsp/sicantik", "1")
        outcomes = [await claim(inbox, first) for _ in range(4)]
        outcomes.append(await claim(inbox, event("/riau/dpmptsp/sicantik", "2")))
        outcomes.append(await claim(other, first))
        assert (await inbox.duplicates(), await other.duplicates()) == (3, 0)
    assert outcomes == [True, False, False, False, True, True]
