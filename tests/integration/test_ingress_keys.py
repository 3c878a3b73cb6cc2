"""`bus keys` and `bus outbox init` on a real PostgreSQL: a key is shown once, stored hashed."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson
import pytest
import structlog
from typer.testing import CliRunner

from bus.cli import app
from bus.ingress.keys import authenticate

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def logging_config() -> Iterator[None]:
    """The commands configure logging to CliRunner's stderr, closed once they return: put the
    session's configuration back so later tests do not log to a closed stream."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def _run() -> list[asyncpg.Record]:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(_run())


def test_keys_create_list_revoke(database: str) -> None:
    runner = CliRunner()
    env = {"BUS_DATABASE_DSN": database}
    created = runner.invoke(app, ["keys", "create", "--system", "bkd.simpeg"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("opdbus_") and "\n" not in token
    key_id = token.split("_")[1]
    assert key_id in created.stderr

    rows = query(database, "SELECT * FROM bus_api_keys")
    assert len(rows) == 1
    secret = token.split("_", 2)[2]
    assert rows[0]["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(dict(rows[0]))

    async def check(presented: str) -> tuple[str, str] | None:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
        try:
            return await authenticate(conn, presented)
        finally:
            await conn.close()

    assert asyncio.run(check(token)) == (key_id, "bkd.simpeg")
    assert asyncio.run(check(token + "x")) is None

    listed = runner.invoke(app, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [entry] = orjson.loads(listed.stdout)
    assert (entry["key_id"], entry["system"], entry["revoked_at"]) == (key_id, "bkd.simpeg", None)
    assert secret not in listed.stdout

    assert runner.invoke(app, ["keys", "revoke", key_id], env=env).exit_code == 0
    assert asyncio.run(check(token)) is None
    assert runner.invoke(app, ["keys", "revoke", key_id], env=env).exit_code == 1

    unknown = runner.invoke(app, ["keys", "create", "--system", "nope.nope"], env=env)
    assert unknown.exit_code == 1
    assert "unknown system" in unknown.stderr


def test_outbox_init_creates_the_documented_table(database: str) -> None:
    runner = CliRunner()
    for _ in range(2):  # safe to run again
        result = runner.invoke(app, ["outbox", "init", "--dsn", database])
        assert result.exit_code == 0, result.output
    columns = {
        row["column_name"]
        for row in query(
            database,
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'bus_outbox'",
        )
    }
    assert {"id", "event_id", "event_type", "topic", "key", "data", "sent_at", "offset"} <= columns
