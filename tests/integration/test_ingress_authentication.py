"""The ingress remembers good API keys, yet a revoked key is refused at once (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import structlog

from bus.database import create_pool
from bus.ingress import keys
from bus.ingress.authentication import KeyAuthenticator
from bus.testing import wait_until

pytestmark = pytest.mark.integration

SYSTEM = "dpmptsp.sicantik"


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    opened = await create_pool(database, max_size=3)
    async with opened.acquire() as conn:
        await keys.ensure_schema(conn)
    yield opened
    await opened.close()


@contextlib.asynccontextmanager
async def started(
    pool: asyncpg.Pool[Any], dsn: str, remember_s: float
) -> AsyncIterator[KeyAuthenticator]:
    authenticator = KeyAuthenticator(pool, dsn, remember_s=remember_s)
    await authenticator.start()
    try:
        yield authenticator
    finally:
        await authenticator.close()


async def revoke_unheard(pool: asyncpg.Pool[Any], key_id: str) -> None:
    """Revoke `key_id` with the change notice switched off, as if nobody were told."""
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE bus_api_keys DISABLE TRIGGER bus_api_keys_changed")
        assert await keys.revoke_key(conn, key_id)


async def issue(pool: asyncpg.Pool[Any]) -> keys.IssuedKey:
    async with pool.acquire() as conn:
        return await keys.create_key(conn, SYSTEM)


async def refused(authenticator: KeyAuthenticator, token: str) -> bool:
    return await authenticator.authenticate(token) is None


async def test_a_remembered_key_skips_the_database_until_it_changes(
    pool: asyncpg.Pool[Any], database: str
) -> None:
    issued = await issue(pool)
    async with started(pool, database, remember_s=60) as authenticator:
        assert authenticator.listening
        assert await authenticator.authenticate(issued.token) == (issued.key_id, SYSTEM)
        # Revoked without a change notice: the key is still accepted, which shows it is
        # answered from memory, not from the table.
        await revoke_unheard(pool, issued.key_id)
        assert await authenticator.authenticate(issued.token) == (issued.key_id, SYSTEM)
        # With notices on, any change to the key makes the ingress forget it at once.
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE bus_api_keys ENABLE TRIGGER bus_api_keys_changed")
            await conn.execute(
                "UPDATE bus_api_keys SET description = 'touched' WHERE key_id = $1", issued.key_id
            )
        await wait_until(lambda: refused(authenticator, issued.token), timeout=5)


async def test_revoking_through_the_cli_function_refuses_the_next_request(
    pool: asyncpg.Pool[Any], database: str
) -> None:
    issued, other = await issue(pool), await issue(pool)
    async with started(pool, database, remember_s=60) as authenticator:
        assert await authenticator.authenticate(issued.token) is not None
        assert await authenticator.authenticate(other.token) is not None
        async with pool.acquire() as conn:
            assert await keys.revoke_key(conn, issued.key_id)
        await wait_until(lambda: refused(authenticator, issued.token), timeout=5)
        assert await authenticator.authenticate(other.token) == (other.key_id, SYSTEM)


async def test_nothing_is_remembered_while_changes_cannot_be_heard(
    pool: asyncpg.Pool[Any], database: str
) -> None:
    issued = await issue(pool)
    async with started(pool, database, remember_s=60) as authenticator:
        assert await authenticator.authenticate(issued.token) is not None
        async with pool.acquire() as conn:
            # The LISTEN connection dies; then the key is revoked while nobody listens.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
        await wait_until(lambda: not authenticator.listening, timeout=5)
        async with pool.acquire() as conn:
            assert await keys.revoke_key(conn, issued.key_id)
        assert await authenticator.authenticate(issued.token) is None


async def test_remember_zero_asks_the_database_every_time(
    pool: asyncpg.Pool[Any], database: str
) -> None:
    issued = await issue(pool)
    async with started(pool, database, remember_s=0) as authenticator:
        assert not authenticator.listening
        assert await authenticator.authenticate(issued.token) == (issued.key_id, SYSTEM)
        await revoke_unheard(pool, issued.key_id)
        assert await authenticator.authenticate(issued.token) is None
        assert await authenticator.authenticate("opdbus_nokey_secret") is None


async def test_closing_is_not_losing_the_listen_connection(
    pool: asyncpg.Pool[Any], database: str
) -> None:
    with structlog.testing.capture_logs() as logged:
        async with started(pool, database, remember_s=60) as authenticator:
            assert authenticator.listening
        # asyncpg calls termination listeners with loop.call_soon: one turn of the loop runs
        # any it scheduled while closing (deterministic, not a wait for time to pass).
        await asyncio.sleep(0)
    assert not authenticator.listening
    assert [e["event"] for e in logged if e["event"].startswith("ingress.")] == []
