"""The ingress for tests: served in the test's own event loop (`ingress_server`), or as
`bus ingress` in its own process (`ingress_process`) where a test needs a real process: its exit
status, its logs, its memory, its answer to SIGTERM; and API keys to call it with (`new_key`).

    key_id, token = await new_key(database, "dpmptsp.sicantik")
    async with ingress_process(settings, database) as ingress:
        async with httpx.AsyncClient(base_url=ingress.url) as http:
            ...
    assert ingress.returncode == 0
    assert event_id in ingress.stderr
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bus.broker.process import free_port
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.ingress import create_app
from bus.ingress.keys import create_key, ensure_schema
from bus.ingress.server import serve
from bus.testing.cli import BUS, bus_environment
from bus.testing.waiting import wait_until_serving

__all__ = ["IngressProcess", "ingress_process", "ingress_server", "new_key"]


@dataclass
class IngressProcess:
    """A running `bus ingress`: where it serves and, once it has ended, how."""

    url: str
    process: asyncio.subprocess.Process = field(repr=False)
    #: What the process wrote to stderr (its logs), filled in when it has ended.
    stderr: str = ""

    @property
    def port(self) -> int:
        """The loopback port it serves on."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        """Its process id (for /proc)."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """Its exit status, None while it runs."""
        return self.process.returncode


@contextlib.asynccontextmanager
async def ingress_process(
    settings: BusSettings, database_dsn: str, *, timeout_s: float = 60.0, **env: str
) -> AsyncIterator[IngressProcess]:
    """Start `bus ingress` with `settings` on a free loopback port, JSON logs and `env` on top;
    yield it once `/readyz` answers 200, then stop it with SIGTERM and wait for its end."""
    port = free_port()
    environment = {
        **bus_environment(settings, database_dsn=database_dsn),
        "BUS_INGRESS_PORT": str(port),
        "BUS_LOG_FORMAT": "json",
        **env,
    }
    # Logs go to a file, not a pipe: nobody reads a pipe while the test runs, and a full pipe
    # would block the process mid-request.
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            BUS, "ingress", env=environment, stdout=asyncio.subprocess.DEVNULL, stderr=log
        )
        ingress = IngressProcess(f"http://127.0.0.1:{port}", process)
        try:
            await wait_until_serving(
                f"{ingress.url}/readyz", timeout=timeout_s, message="bus ingress ready"
            )
            yield ingress
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
            log.seek(0)
            ingress.stderr = log.read().decode(errors="replace")


@contextlib.asynccontextmanager
async def ingress_server(
    settings: BusSettings, catalog: Catalog, database_dsn: str
) -> AsyncIterator[str]:
    """The ingress served by uvicorn in this event loop on a free loopback port; yields its
    base URL once `/healthz` answers."""
    app = create_app(settings, catalog, database_dsn=database_dsn)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, "127.0.0.1", port, stop))
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(f"{url}/healthz", message="ingress answers /healthz")
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def new_key(database_dsn: str, system: str) -> tuple[str, str]:
    """(key id, token) of a fresh ingress API key for `system`."""
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database_dsn)
    try:
        await ensure_schema(conn)
        issued = await create_key(conn, system)
    finally:
        await conn.close()
    return issued.key_id, issued.token
