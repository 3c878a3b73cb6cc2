"""`make dev` smoke test: `bus dev` starts, events flow, Ctrl-C exits 0 and leaves nothing behind.

The command runs as a real subprocess in a session of its own, as in a terminal; SIGINT goes
to its whole process group, exactly what Ctrl-C does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from bus.broker.embedded import free_port
from bus.testing import wait_until

pytestmark = pytest.mark.integration

BUS = Path(sys.executable).with_name("bus")
PUBLISHED = re.compile(r"dpmptsp\.sicantik\s+→ published izin terbit")
RECEIVED = re.compile(r"(\S+)\s+← izin terbit")


def children(pid: int) -> dict[int, str]:
    """Live child processes of `pid` and their command lines, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The command name in field 2 may contain spaces; the parent pid follows its ')'.
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
    return {child: cmd.decode(errors="replace") for child, cmd in found.items()}


def alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


SNIPPET = """
import asyncio
from bus.publish import Publisher
from schemas import IzinTerbit

async def main():
    async with Publisher("dpmptsp.sicantik") as publisher:
        izin = IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": "503/SNIPPET/1"})
        delivery = await publisher.publish(izin)
        print("published", delivery.topic, delivery.event_id)

asyncio.run(main())
"""


async def run_here(*command: str) -> tuple[int, str]:
    """Run a command from the project folder with no BUS_* variable, as in another terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**env, "COLUMNS": "200", "TERM": "dumb"},
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(errors="replace")


@pytest.mark.parametrize("broker", ["auto", "tansu"])
async def test_bus_dev_runs_the_demo_and_stops_cleanly_on_ctrl_c(broker: str) -> None:
    """`auto` is Apache Kafka on these machines (`make kafka`); Tansu stays the no-Java path."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(BUS),
        "dev",
        "--broker",
        broker,
        "--port",
        str(port),
        "--rate",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        # rich wraps lines at the terminal width and colours them; keep one plain line each.
        # Other parts of the stack (ingress, monitor) get free ports too, never fixed ones.
        env={
            **{k: v for k, v in os.environ.items() if k != "BUS_DEV_SETTINGS"},
            "COLUMNS": "200",
            "TERM": "dumb",
            "BUS_INGRESS_PORT": str(free_port()),
            "BUS_MONITOR_PORT": str(free_port()),
        },
        start_new_session=True,
    )
    lines: list[str] = []

    async def read_output() -> None:
        # Drained continuously, so the demo never blocks on a full pipe.
        assert process.stdout is not None
        async for raw in process.stdout:
            lines.append(raw.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read_output())
    try:
        await wait_until(
            lambda: (
                any(PUBLISHED.search(line) for line in lines)
                and len({m[1] for line in lines if (m := RECEIVED.search(line))}) >= 2
            ),
            timeout=60,
            message="events published and received by two subscriber systems",
        )
        marker = "kafka.Kafka" if broker == "auto" else f":{port}"
        brokers = {pid: cmd for pid, cmd in children(process.pid).items() if marker in cmd}
        assert len(brokers) == 1, f"expected one broker child, found {brokers}"
        chosen = next(line for line in lines if line.startswith("broker "))
        assert chosen.startswith("broker apache-kafka" if broker == "auto" else "broker tansu")

        # Other terminals in the same folder use this bus with nothing set by hand: the
        # README's Publisher snippet, and a command that needs the bus's database.
        code, out = await run_here(sys.executable, "-c", SNIPPET)
        assert code == 0, out
        assert "published dpmptsp.izin.terbit.v1" in out
        code, out = await run_here(str(BUS), "keys", "create", "--system", "bapenda.sipd")
        assert code == 0, out

        # Any Kafka client can attach to the dev broker and read the demo's events.
        consumer = AIOKafkaConsumer(
            "dpmptsp.izin.terbit.v1",
            bootstrap_servers=f"127.0.0.1:{port}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        assert dict(record.headers)["ce_type"] == b"id.go.riau.dpmptsp.izin.terbit"
        assert record.key is not None and record.key.startswith(b"503/DPMPTSP/IU/")

        os.killpg(process.pid, signal.SIGINT)
        started = time.monotonic()
        code = await asyncio.wait_for(process.wait(), 10)
        stopped_in = time.monotonic() - started
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        await asyncio.wait_for(reader, 10)

    output = "\n".join(lines[-30:])
    assert code == 0, f"bus dev exited {code} after SIGINT:\n{output}"
    assert stopped_in < 10
    assert "stopped" in lines, output
    assert "Traceback" not in "\n".join(lines), output
    for pid in brokers:
        assert not alive(pid), f"embedded broker {pid} outlived bus dev"
