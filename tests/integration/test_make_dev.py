"""`make dev` as the README tells a newcomer to run it: `bus dev`, its output sent to a file.

The command runs as a real subprocess in a session of its own, as in a terminal; SIGINT goes
to its whole process group, exactly what Ctrl-C does. Its output goes to a file, not a
terminal, which is where JSON log lines used to creep in between the demo's lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from bus.broker.process import free_port
from bus.testing import wait_until

pytestmark = pytest.mark.integration

BUS = Path(sys.executable).with_name("bus")
REPO = Path(__file__).resolve().parents[2]
PUBLISHED = re.compile(r"dpmptsp\.sicantik\s+→ published izin terbit")
RECEIVED = re.compile(r"(\S+)\s+← izin terbit")
#: The one clock of a `bus dev` console: local time with its zone label (`09:13:01 WIB`).
CLOCK = r"\d\d:\d\d:\d\d (?:[A-Z]{2,5}|[+-]\d{2}(?:\d{2})?)"
#: A line for people: it starts with the clock, or is an indented detail of the line above.
HUMAN = re.compile(rf"^{CLOCK} \S|^  \S")


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
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**env, "COLUMNS": "200", "TERM": "dumb"},
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(errors="replace")


@dataclass
class DevRun:
    """A running `bus dev`: its process, the file its output goes to, and its ports."""

    process: asyncio.subprocess.Process
    output: Path
    broker_port: int
    ingress_port: int

    def lines(self) -> list[str]:
        return self.output.read_text(errors="replace").splitlines()

    async def wait_for(self, found: Callable[[list[str]], bool], message: str) -> list[str]:
        await wait_until(lambda: found(self.lines()), timeout=60, message=message)
        return self.lines()

    async def ctrl_c(self) -> tuple[int, float]:
        """Send SIGINT to the whole process group; (exit code, seconds it took to stop)."""
        os.killpg(self.process.pid, signal.SIGINT)
        started = time.monotonic()
        code = await asyncio.wait_for(self.process.wait(), 10)
        return code, time.monotonic() - started


@contextlib.asynccontextmanager
async def bus_dev(tmp_path: Path, *args: str, **env: str) -> AsyncIterator[DevRun]:
    """`bus dev` as the Makefile's `dev` target runs it, from the repository, output to a file."""
    broker_port, ingress_port = free_port(), free_port()
    output = tmp_path / "dev.log"
    # Not on PATH, as after `make install` without activating the virtualenv: printed hints
    # must work all the same.
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != BUS.parent
    )
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BUS_")},
        "PATH": path,
        "COLUMNS": "200",  # rich wraps at the terminal width; keep one line each
        # Other parts of the stack (ingress, monitor) get free ports too, never fixed ones.
        "BUS_INGRESS_PORT": str(ingress_port),
        "BUS_MONITOR_PORT": str(free_port()),
        **env,
    }
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            str(BUS.relative_to(REPO)) if BUS.is_relative_to(REPO) else str(BUS),
            "dev",
            "--port",
            str(broker_port),
            *args,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=REPO,
            env=environment,
            start_new_session=True,
        )
    run = DevRun(process, output, broker_port, ingress_port)
    try:
        yield run
    finally:
        if process.returncode is None:
            # A failed test still stops bus dev as Ctrl-C does, so that it stops its embedded
            # PostgreSQL (a session of its own, which SIGKILL on the group would leave running).
            os.killpg(process.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


def flowing(lines: list[str]) -> bool:
    """Events published and received by at least two subscriber systems."""
    received = {m[1] for line in lines if (m := RECEIVED.search(line))}
    return any(PUBLISHED.search(line) for line in lines) and len(received) >= 2


@pytest.mark.parametrize("broker", ["auto", "tansu"])
async def test_bus_dev_speaks_to_people_only_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, broker: str
) -> None:
    """`auto` is Apache Kafka on these machines (`make kafka`); Tansu stays the no-Java path."""
    async with bus_dev(tmp_path, "--broker", broker, "--rate", "5") as dev:
        lines = await dev.wait_for(
            lambda lines: flowing(lines) and any("  curl -X POST" in line for line in lines),
            "events flowing and the ingress's curl line printed",
        )
        marker = "kafka.Kafka" if broker == "auto" else f":{dev.broker_port}"
        brokers = {pid: cmd for pid, cmd in children(dev.process.pid).items() if marker in cmd}
        assert len(brokers) == 1, f"expected one broker child, found {brokers}"
        chosen = next(line for line in lines if re.match(rf"^{CLOCK} broker ", line))
        assert f" broker {'apache-kafka' if broker == 'auto' else 'tansu'}" in chosen

        # Other terminals in the same folder use this bus with nothing set by hand: the
        # README's Publisher snippet.
        code, out = await run_here(sys.executable, "-c", SNIPPET)
        assert code == 0, out
        assert "published dpmptsp.izin.terbit.v1" in out

        # Any Kafka client can attach to the dev broker and read the demo's events.
        consumer = AIOKafkaConsumer(
            "dpmptsp.izin.terbit.v1",
            bootstrap_servers=f"127.0.0.1:{dev.broker_port}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        assert dict(record.headers)["ce_type"] == b"id.go.riau.dpmptsp.izin.terbit"
        assert record.key is not None and record.key.startswith(b"503/DPMPTSP/IU/")

        # The printed curl line, as printed: an event through the ingress gets its own line.
        [curl] = [shlex.split(line) for line in lines if line.startswith("  curl -X POST")]
        url, token = curl[3], curl[5].removeprefix("Authorization: Bearer ")
        data = {**json.loads(curl[curl.index("-d") + 1]), "nomor_izin": "503/DEV/INGRESS/1"}
        async with httpx.AsyncClient(timeout=30) as http:
            accepted = await http.post(url, json=data, headers={"Authorization": f"Bearer {token}"})
        assert accepted.status_code == 202, accepted.text
        await dev.wait_for(
            lambda lines: any(
                re.search(r"→ published izin terbit 503/DEV/INGRESS/1 via the ingress", line)
                for line in lines
            ),
            "a → published line for the event sent through the ingress",
        )

        # The "more keys" hint works as pasted (with a real system id for ID), `bus` not on PATH,
        # from another terminal in the same folder.
        prefix = "  more keys, from another terminal in this folder: "
        [hint] = [line for line in lines if line.startswith(prefix)]
        command = hint.removeprefix(prefix).replace("--system ID", "--system bapenda.sipd")
        created = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", command],
            cwd=REPO,
            # Another terminal: no BUS_* variable, and no virtualenv on the PATH.
            env={k: v for k, v in os.environ.items() if k != "PATH" and not k.startswith("BUS_")}
            | {"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith("opdbus_")

        code, stopped_in = await dev.ctrl_c()

    lines = dev.lines()
    output = "\n".join(lines[-30:])
    assert code == 0, f"bus dev exited {code} after SIGINT:\n{output}"
    assert stopped_in < 10
    assert "Traceback" not in "\n".join(lines), output
    for pid, command in brokers.items():
        assert not alive(pid), f"broker process {pid} ({command}) outlived bus dev"

    # One format for people, one labelled clock: demo lines and structlog lines alike.
    not_human = [line for line in lines if line and not HUMAN.match(line)]
    assert not_human == [], not_human
    assert not [line for line in lines if line.lstrip().startswith("{")]
    assert re.match(
        rf"^{CLOCK} \[info\s*\] subscriber started ",
        next(line for line in lines if "subscriber started" in line),
    )
    assert re.match(rf"^{CLOCK} stopped$", lines[-1]), lines[-1]
    # The demo says which field Satu Data does not get, and why.
    assert any(
        "diskominfotik.satudata" in line and "nomor_izin withheld: not in its agreement" in line
        for line in lines
    )
    # A clean Ctrl-C is not a warning.
    assert not [line for line in lines if "key_changes_unheard" in line]


async def test_bus_dev_with_json_logs_writes_only_json(tmp_path: Path) -> None:
    async with bus_dev(tmp_path, "--rate", "5", "--no-monitor", BUS_LOG_FORMAT="json") as dev:

        def events(lines: list[str]) -> list[dict[str, object]]:
            return [json.loads(line) for line in lines if line.endswith("}")]

        await dev.wait_for(
            lambda lines: (
                {"dev.ingress", "demo.published", "demo.received"}
                <= {e["event"] for e in events(lines)}
            ),
            "the ingress and the demo's events as JSON lines",
        )
        code, _ = await dev.ctrl_c()

    lines = dev.lines()
    assert code == 0, "\n".join(lines[-30:])
    documents = [json.loads(line) for line in lines]  # every line: fails on any other
    assert all(str(d["timestamp"]).endswith("Z") for d in documents)
    assert documents[-1]["event"] == "dev.stopped"
    [ingress] = [d for d in documents if d["event"] == "dev.ingress"]
    assert "opdbus_" not in json.dumps(ingress)  # the demo key is for the person, not the log
