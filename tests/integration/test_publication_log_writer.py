"""GroupedLogWriter: each caller returns once its rows are committed; errors reach every caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from bus import publication_log
from bus.database import create_pool
from bus.publication_log import GroupedLogWriter, Publication
from bus.testing import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    opened = await create_pool(database, max_size=3)
    async with opened.acquire() as conn:
        await publication_log.ensure_schema(conn)
    yield opened
    await opened.close()


def publication(n: int) -> Publication:
    return Publication(f"ev-{n}", "t", "dpmptsp.sicantik", "topic", 0, n, "00" * 32, "ingress")


async def logged(pool: asyncpg.Pool[Any], ids: list[str]) -> int:
    async with pool.acquire() as conn:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM bus_publication_log WHERE event_id = ANY($1)", ids
        )
        return found


async def test_each_caller_returns_once_its_rows_are_committed(pool: asyncpg.Pool[Any]) -> None:
    writer = GroupedLogWriter(pool)

    async def caller(n: int) -> int:
        rows = [publication(n * 10 + i) for i in range(3)]
        await writer.write(rows)
        return await logged(pool, [p.event_id for p in rows])

    try:
        assert await asyncio.gather(*(caller(n) for n in range(40))) == [3] * 40
    finally:
        await writer.close()


async def test_a_failed_insert_fails_every_caller_it_carried_then_the_writer_goes_on(
    pool: asyncpg.Pool[Any],
) -> None:
    writer = GroupedLogWriter(pool)
    try:
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE bus_publication_log RENAME TO moved_away")
        outcomes = await asyncio.gather(
            *(writer.write([publication(n)]) for n in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, asyncpg.UndefinedTableError) for o in outcomes), outcomes
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE moved_away RENAME TO bus_publication_log")
        await writer.write([publication(99)])
        assert await logged(pool, ["ev-99"]) == 1
    finally:
        await writer.close()


async def test_callers_waiting_when_it_closes_get_an_error(pool: asyncpg.Pool[Any]) -> None:
    writer = GroupedLogWriter(pool)
    async with pool.acquire() as conn, conn.transaction():
        # Hold the table so that the insert waits on the lock, then close the writer under it.
        await conn.execute("LOCK TABLE bus_publication_log IN ACCESS EXCLUSIVE MODE")
        pending = asyncio.create_task(writer.write([publication(1)]))
        await wait_until(lambda: insert_waits_on_a_lock(pool), timeout=10)
        await writer.close()
        with pytest.raises(ConnectionError, match="closed"):
            await pending
    with pytest.raises(ConnectionError, match="closed"):
        await writer.write([publication(2)])


async def insert_waits_on_a_lock(pool: asyncpg.Pool[Any]) -> bool:
    async with pool.acquire() as conn:
        waiting: bool = await conn.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO bus_publication_log%'"
        )
        return waiting
