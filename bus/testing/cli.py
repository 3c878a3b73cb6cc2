"""Running the `bus` command as an operator does, from async tests, against the test services;
and `bus catalog` as CI runs it, against a proposed catalog module.

result = await run_bus(settings, "trace", event_id, "--json")
assert result.returncode == 0, result.stderr

checked = bus_catalog("check", "--json", module="proposed_catalog", path=tmp_path)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus.config import BusSettings
from bus.testing.services import settings_environment

__all__ = [
    "BUS",
    "CliResult",
    "bus_catalog",
    "bus_environment",
    "bus_output",
    "first_documents",
    "run_bus",
]

#: The `bus` executable of the running interpreter's environment.
BUS = str(Path(sys.executable).with_name("bus"))


@dataclass(frozen=True)
class CliResult:
    """Exit status and output of one `bus` command."""

    returncode: int
    stdout: str
    stderr: str


def bus_environment(
    settings: BusSettings, *, database_dsn: str | None = None, columns: int | None = None
) -> dict[str, str]:
    """The environment of a `bus` command run against `settings` (and `database_dsn`, else
    none at all); `columns` widens the terminal tables are drawn for, so no cell is wrapped."""
    env = {
        **os.environ,
        **settings_environment(settings),
        "BUS_DATABASE_DSN": database_dsn or "",
    }
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return env


async def run_bus(
    settings: BusSettings,
    *args: str,
    database_dsn: str | None = None,
    columns: int | None = None,
    timeout_s: float = 120.0,
) -> CliResult:
    """Run `bus *args` to its end, with `bus_environment`'s settings.

    The subprocess does not block the event loop, so subscribers of the test keep running.
    """
    process = await asyncio.create_subprocess_exec(
        BUS,
        *args,
        env=bus_environment(settings, database_dsn=database_dsn, columns=columns),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


async def bus_output(settings: BusSettings, *args: str, timeout_s: float = 120.0) -> str:
    """The stdout of `bus *args` (see `run_bus`), which must exit 0; its stderr says why not."""
    result = await run_bus(settings, *args, timeout_s=timeout_s)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def first_documents(
    settings: BusSettings, *args: str, count: int, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """The first `count` JSON documents a command that keeps printing (`--watch --json`)
    writes, one indented document after another; the command is then terminated."""
    process = await asyncio.create_subprocess_exec(
        BUS,
        *args,
        env=bus_environment(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    documents: list[dict[str, Any]] = []
    lines: list[str] = []
    try:
        while len(documents) < count:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout_s)).decode()
            assert line, f"bus {' '.join(args)} exited early"
            lines.append(line)
            if line.rstrip("\n") == "}":  # the end of one indented document
                documents.append(json.loads("".join(lines)))
                lines.clear()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout_s)
    return documents


def bus_catalog(*args: str, module: str | None = None, path: Path | None = None) -> CliResult:
    """Run `bus catalog *args` to its end, on catalog `module` (importable from `path`).

    Synchronous and without the test services: the catalog commands need no broker, as in CI.
    """
    env = {**os.environ, "BUS_LOG_FORMAT": "console", "COLUMNS": "200"}
    if module is not None:
        env["BUS_CATALOG_MODULE"] = module
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [BUS, "catalog", *args], check=False, capture_output=True, text=True, env=env, timeout=120
    )
    return CliResult(done.returncode, done.stdout, done.stderr)
