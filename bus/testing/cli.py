"""Running the `bus` command as an operator does, from async tests, against the test services.

result = await run_bus(settings, "trace", event_id, "--json")
assert result.returncode == 0, result.stderr
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bus.config import BusSettings

__all__ = ["BUS", "CliResult", "run_bus"]

#: The `bus` executable of the running interpreter's environment.
BUS = str(Path(sys.executable).with_name("bus"))


@dataclass(frozen=True)
class CliResult:
    """Exit status and output of one `bus` command."""

    returncode: int
    stdout: str
    stderr: str


async def run_bus(
    settings: BusSettings, *args: str, database_dsn: str | None = None, timeout_s: float = 120.0
) -> CliResult:
    """Run `bus *args` against `settings`' broker (and `database_dsn`, else none at all).

    The subprocess does not block the event loop, so subscribers of the test keep running.
    """
    env = {
        **os.environ,
        "BUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "BUS_PRODUCER_IDEMPOTENCE": str(settings.producer_idempotence).lower(),
        "BUS_DATABASE_DSN": database_dsn or "",
    }
    process = await asyncio.create_subprocess_exec(
        BUS,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())
