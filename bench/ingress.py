"""ingress_eps: events/s the HTTP ingress accepts, served by one `bus ingress` process.

The ingress runs as its own process (`bus ingress`, uvicorn, default INFO logging to a
discarded stderr), on the benchmark's broker and a throw-away PostgreSQL holding its API key;
the load comes from this process over real loopback sockets (`KeepAlive`, a minimal HTTP/1.1
client), so client and server each have a process, as in production. Each request is
`POST /v1/events/{type}` with one ~120-byte event and a 202 means the broker acknowledged it,
so requests are kept concurrent (`CONCURRENCY` in flight). The batch endpoint
(`POST /v1/events:batch`, `BATCH` events per request) is measured the same way and reported in
the details.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench.catalog import PUBLISHER, PublishEvent, payloads
from bus.broker.process import free_port
from bus.config import BusSettings
from bus.testing.services import postgres_service, settings_environment

EVENT_TYPE = PublishEvent.event_type()
#: Requests in flight: enough to keep one ingress process busy while each request waits
#: for the broker's acknowledgement (linger included).
CONCURRENCY = 8
BATCH = 100
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class IngressResult:
    """Accepted events per second and how they were sent."""

    eps: float
    details: dict[str, Any] = field(default_factory=dict)


async def run(settings: BusSettings, events: int) -> IngressResult:
    """Serve the ingress in a child process and time `events` single-event POSTs."""
    from bus.ingress import keys

    with postgres_service() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await keys.ensure_schema(conn)
            issued = await keys.create_key(conn, PUBLISHER, description="benchmark")
        finally:
            await conn.close()
        port = free_port()
        server = _serve(settings, dsn, port)
        try:
            await _ready(port, server)
            headers = {"Authorization": f"Bearer {issued.token}"}
            data = payloads(events)
            await _single(port, headers, data[: min(200, events)])  # warm-up, untimed
            single = await _single(port, headers, data)
            batched = await _batched(port, headers, data)
        finally:
            server.terminate()
            server.wait(10)
    return IngressResult(
        eps=single,
        details={
            "server": "bus ingress (uvicorn with httptools and uvloop, one process, INFO logs)",
            "client": f"keep-alive HTTP/1.1 connections over loopback, {CONCURRENCY} in flight",
            "events": events,
            "single_event_eps": round(single),
            "batch_eps": round(batched),
            "batch_size": BATCH,
        },
    )


def _serve(settings: BusSettings, dsn: str, port: int) -> subprocess.Popen[bytes]:
    # The benchmark's own settings (its broker's among them), but the ingress's default
    # INFO logging, as in production.
    own = {k: v for k, v in settings_environment(settings).items() if k != "BUS_LOG_LEVEL"}
    env = {
        **os.environ,
        **own,
        "BUS_CATALOG_MODULE": "bench.catalog",
        "BUS_DATABASE_DSN": dsn,
        "BUS_LOG_FORMAT": "json",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    bus = Path(sys.executable).with_name("bus")
    return subprocess.Popen(
        [str(bus), "ingress", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _ready(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"bus ingress exited with code {server.returncode}")
        try:
            async with KeepAlive(port, {}) as connection:
                if (await connection.request("GET", "/readyz"))[0] == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("bus ingress was not ready within 60 s")


class KeepAlive:
    """One keep-alive HTTP/1.1 connection that sends a request and reads its whole answer.

    The load generator shares two cores with the server: httpx spent more CPU per request
    (1.7 ms) than the ingress itself, so the figure measured the client. This client does only
    what the benchmark needs: JSON bodies, Content-Length answers, reconnecting when the server
    closes an idle connection.
    """

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aenter__(self) -> KeepAlive:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """(status, body) of one request; sent once more on a fresh connection if the server
        had closed this one (an event may then be published twice: throughput does not care)."""
        payload = b"" if body is None else orjson.dumps(body)
        message = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.head}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        for attempt in (1, 2):
            if self.streams is None:
                self.streams = await asyncio.open_connection("127.0.0.1", self.port)
            reader, writer = self.streams
            try:
                writer.write(message)
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("the server closed the connection")
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                return int(status_line.split()[1]), await reader.readexactly(length)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                self.streams = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


async def _load(
    port: int, headers: dict[str, str], path: str, bodies: list[Any], connections: int
) -> float:
    """Send every body over `connections` keep-alive connections; bodies per second."""
    queue = iter(bodies)

    async def worker() -> None:
        async with KeepAlive(port, headers) as connection:
            for body in queue:
                status, answer = await connection.request("POST", path, body)
                if status != 202:
                    raise RuntimeError(f"ingress answered {status}: {answer[:300]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return len(bodies) / (time.perf_counter() - started)


async def _single(port: int, headers: dict[str, str], data: list[dict[str, Any]]) -> float:
    return await _load(port, headers, f"/v1/events/{EVENT_TYPE.type}", data, CONCURRENCY)


async def _batched(port: int, headers: dict[str, str], data: list[dict[str, Any]]) -> float:
    bodies = [
        {"events": [{"type": EVENT_TYPE.type, "data": item} for item in data[i : i + BATCH]]}
        for i in range(0, len(data), BATCH)
    ]
    eps_of_batches = await _load(
        port, headers, "/v1/events:batch", bodies, max(1, CONCURRENCY // 2)
    )
    return eps_of_batches * len(data) / len(bodies)
