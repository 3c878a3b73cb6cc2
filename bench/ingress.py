"""ingress_eps: events/s the HTTP ingress accepts, served by one `bus ingress` process.

The ingress runs as its own process (`bus ingress`, uvicorn, default INFO logging to a
discarded stderr), on the benchmark's broker and a throw-away PostgreSQL holding its API key;
the load comes from this process over a real loopback socket with `httpx.AsyncClient`, so
client and server each have a process, as in production. Each request is
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
import httpx

from bench.catalog import PUBLISHER, PublishEvent, payloads
from bus.broker.embedded import free_port
from bus.config import BusSettings
from bus.testing.services import postgres_service

EVENT_TYPE = PublishEvent.event_type()
#: Requests in flight. The ingress's database pool holds 10 connections and each request
#: takes one twice; at 8 in flight it serves ~260 events/s here, at 32 only ~150 (the requests
#: queue for connections), so 8 measures the ingress rather than the queue.
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
            base = f"http://127.0.0.1:{port}"
            limits = httpx.Limits(
                max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY
            )
            async with httpx.AsyncClient(
                base_url=base,
                headers={"Authorization": f"Bearer {issued.token}"},
                limits=limits,
                timeout=30,
            ) as client:
                await _ready(client, server)
                data = payloads(events)
                await _single(client, data[: min(200, events)])  # warm-up, untimed
                single = await _single(client, data)
                batched = await _batched(client, data)
        finally:
            server.terminate()
            server.wait(10)
    return IngressResult(
        eps=single,
        details={
            "server": "bus ingress (uvicorn, one process, INFO logs)",
            "client": f"httpx.AsyncClient over a loopback socket, {CONCURRENCY} in flight",
            "events": events,
            "single_event_eps": round(single),
            "batch_eps": round(batched),
            "batch_size": BATCH,
        },
    )


def _serve(settings: BusSettings, dsn: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "BUS_PRODUCER_IDEMPOTENCE": str(settings.producer_idempotence).lower(),
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


async def _ready(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"bus ingress exited with code {server.returncode}")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("bus ingress was not ready within 60 s")


async def _post(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    try:
        return await client.post(path, json=body)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # Usually uvicorn closing an idle keep-alive connection just as the client reused it.
        # Sent once more on a new connection; should the first attempt have been accepted after
        # all, an event is published twice, which the throughput figure does not care about.
        return await client.post(path, json=body)


async def _single(client: httpx.AsyncClient, data: list[dict[str, Any]]) -> float:
    path = f"/v1/events/{EVENT_TYPE.type}"
    queue = iter(data)

    async def worker() -> None:
        for item in queue:
            response = await _post(client, path, item)
            if response.status_code != 202:
                raise RuntimeError(f"ingress answered {response.status_code}: {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(data) / (time.perf_counter() - started)


async def _batched(client: httpx.AsyncClient, data: list[dict[str, Any]]) -> float:
    batches = iter(
        [
            {"events": [{"type": EVENT_TYPE.type, "data": item} for item in data[i : i + BATCH]]}
            for i in range(0, len(data), BATCH)
        ]
    )

    async def worker() -> None:
        for body in batches:
            response = await _post(client, "/v1/events:batch", body)
            if response.status_code != 202:
                raise RuntimeError(f"ingress answered {response.status_code}: {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, CONCURRENCY // 2))))
    return len(data) / (time.perf_counter() - started)
