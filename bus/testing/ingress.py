"""`bus ingress` as its own process, for tests that need a real process: its exit status, its
logs, its memory, its answer to SIGTERM.

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

from bus.broker.process import free_port
from bus.config import BusSettings
from bus.testing.cli import BUS, bus_environment
from bus.testing.waiting import wait_until_serving

__all__ = ["IngressProcess", "ingress_process"]


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
