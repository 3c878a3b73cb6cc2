"""webhook_eps, webhook_p99_ms, pull_eps: HTTP delivery to one endpoint, and HTTP pull.

Push: the webhook adapter (`adapters.webhook`, with its attempt log in a throw-away
PostgreSQL) delivers to a receiver that answers 200 at once, in a process of its own (a
minimal asyncio HTTP/1.1 server that accepts keep-alive and pipelined requests). Throughput is
timed at the receiver, from the first to the last request of a pre-filled topic; latency is
the receiver's clock minus each event's `ce_time`, for events published at a steady rate while
the adapter runs. The adapter runs with its defaults (16 keep-alive connections, no
pipelining, 16 keys per partition at once); a second group then measures throughput with 4
connections pipelining up to 8 requests each (`webhook_pipelined_eps`).

Pull: the ingress (in this process) serves `GET /v1/subscriptions/{group}/events?max=100`,
and a client fetches and acknowledges batches of 100 of a pre-filled topic.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import orjson

from bench.catalog import PUBLISHER, SUBSCRIBER, PullEvent, WebhookEvent, catalog, payloads
from bus.broker.embedded import free_port
from bus.catalog import Catalog, Delivery
from bus.config import BusSettings
from bus.publish import Publisher
from bus.subscribe.adapter import AdapterOptions
from bus.testing.services import postgres_service

PUSH_GROUP = f"{SUBSCRIBER}.webhook"
PIPELINED_GROUP = f"{SUBSCRIBER}.webhook-pipelined"
#: The pipelined run's adapter options: fewer connections, several requests in flight on each.
PIPELINED = {"max_connections": "4", "pipeline_depth": "8"}
PULL_GROUP = f"{SUBSCRIBER}.pull"
SECRET_VARIABLE = "BUS_BENCH_WEBHOOK_SECRET"
TIMEOUT_S = 300.0
#: Events per second published while push latency is measured.
LATENCY_RATE = 100


@dataclass(frozen=True)
class WebhookResult:
    """Push events/s, push latency percentiles, pull events/s, and how they were measured."""

    push_eps: float
    p50_ms: float
    p99_ms: float
    pull_eps: float
    pipelined_eps: float
    details: dict[str, Any] = field(default_factory=dict)


def bench_catalog(port: int) -> Catalog:
    """The benchmark catalog with a push delivery to the local receiver and a pull delivery."""
    return catalog.with_deliveries(
        [
            *(
                Delivery(
                    system=SUBSCRIBER,
                    event_type=WebhookEvent.event_type().type,
                    group=group,
                    mode="push",
                    endpoint=f"http://127.0.0.1:{port}/hook",
                    secret=f"env:{SECRET_VARIABLE}",
                    allow_networks=("127.0.0.0/8",),
                )
                for group in (PUSH_GROUP, PIPELINED_GROUP)
            ),
            Delivery(
                system=SUBSCRIBER,
                event_type=PullEvent.event_type().type,
                group=PULL_GROUP,
                mode="pull",
            ),
        ]
    )


async def run(
    settings: BusSettings, events: int, latency_seconds: float, rate: int
) -> WebhookResult:
    """Measure push throughput and latency, then pull throughput."""
    from adapters.webhook import new_secret

    os.environ[SECRET_VARIABLE] = new_secret()
    port = free_port()
    bench = bench_catalog(port)
    # The receiver's own process: it starts at once, no need to wait on it here.
    receiver = subprocess.Popen([sys.executable, "-m", "bench.webhook", str(port)])  # noqa: ASYNC220
    try:
        with postgres_service() as dsn:
            await _wait_for(port)
            push_eps, p50, p99, latency_events, statements = await _push(
                settings, bench, dsn, port, events=events, steady=(latency_seconds, rate)
            )
            pipelined_eps, deepest = await _push_pipelined(settings, bench, dsn, port, events)
            pull_eps = await _pull(settings, bench, dsn, events)
    finally:
        receiver.terminate()
        receiver.wait(10)
    return WebhookResult(
        push_eps=push_eps,
        p50_ms=p50,
        p99_ms=p99,
        pull_eps=pull_eps,
        pipelined_eps=pipelined_eps,
        details={
            "events": events,
            "receiver": "asyncio HTTP/1.1, answers 200 at once, own process",
            "client": "adapters.webhook.transport: 16 keep-alive connections, no pipelining; "
            "16 keys per partition at once",
            "pipelined_client": "4 connections, up to 8 requests in flight on each",
            "pipelined_deepest": deepest,
            "partitions": WebhookEvent.event_type().topic_settings.partitions,
            "latency_events": latency_events,
            # Lookups and records each event made, per statement the attempt log ran: 2.0
            # would mean no two events ever shared one (`bus.grouped_statement`).
            "attempt_log_calls_per_statement": round(2 * events / max(statements, 1), 2),
            "latency_rate_per_s": rate,
            "pull_batch": 100,
        },
    )


async def _fill(settings: BusSettings, event_type: str, count: int, offset: int = 0) -> None:
    async with Publisher(PUBLISHER, catalog=catalog, settings=settings) as publisher:
        for item in payloads(offset + count)[offset:]:
            await publisher.send(item, event_type=event_type)
        await publisher.flush()


async def _push(
    settings: BusSettings,
    bench: Catalog,
    dsn: str,
    port: int,
    *,
    events: int,
    steady: tuple[float, int],
) -> tuple[float, float, float, int, int]:
    from adapters.webhook import webhook

    latency_seconds, rate = steady
    event_type = WebhookEvent.event_type()
    await _fill(settings, event_type.type, events)
    options = _options(bench, dsn, settings, PUSH_GROUP)
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as control,
        webhook(options) as subscriber,
    ):
        task = asyncio.create_task(subscriber.run())
        try:
            stats = await _until(control, events)
            push_eps = (stats["count"] - 1) / max(stats["last"] - stats["first"], 1e-9)
            statements = subscriber.webhook.attempts.statements  # type: ignore[attr-defined]
            await control.post("/reset")
            count = max(1, int(latency_seconds * rate))
            await _steady(settings, event_type.type, (count, rate), offset=events)
            stats = await _until(control, count)
        finally:
            await subscriber.stop()
            await asyncio.wait_for(task, 60)
    latencies = sorted(stats["latencies_ms"])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return push_eps, statistics.median(latencies), p99, count, statements


async def _push_pipelined(
    settings: BusSettings, bench: Catalog, dsn: str, port: int, events: int
) -> tuple[float, int]:
    """Push events/s of a new group with pipelining, and the deepest pipeline it reached."""
    from adapters.webhook import webhook

    options = _options(bench, dsn, settings, PIPELINED_GROUP, **PIPELINED)
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as control,
        webhook(options) as subscriber,
    ):
        await control.post("/reset")
        task = asyncio.create_task(subscriber.run())
        try:
            # The group starts at the topic's beginning: the first `events` requests are timed.
            stats = await _until(control, events)
            deepest: int = subscriber.webhook.client.deepest  # type: ignore[attr-defined]
        finally:
            await subscriber.stop()
            await asyncio.wait_for(task, 60)
    return (stats["count"] - 1) / max(stats["last"] - stats["first"], 1e-9), deepest


def _options(
    bench: Catalog, dsn: str, settings: BusSettings, group: str, **extra: str
) -> AdapterOptions:
    return AdapterOptions(
        event_type=bench.event_type(WebhookEvent.event_type().type),
        group=group,
        settings=settings,
        catalog=bench,
        dsn=dsn,
        extra=extra,
    )


async def _steady(
    settings: BusSettings, event_type: str, pace: tuple[int, int], offset: int
) -> None:
    count, rate = pace
    data = payloads(offset + count)[offset:]
    started = time.perf_counter()
    async with Publisher(PUBLISHER, catalog=catalog, settings=settings) as publisher:
        for i, item in enumerate(data):
            due = started + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            await publisher.send(item, event_type=event_type)
        await publisher.flush()


async def _until(control: httpx.AsyncClient, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        stats: dict[str, Any] = (await control.get("/stats")).json()
        if stats["count"] >= count:
            return stats
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the receiver got fewer than {count} requests in {TIMEOUT_S} s")


async def _pull(settings: BusSettings, bench: Catalog, dsn: str, events: int) -> float:
    from bus.ingress import create_app
    from bus.ingress.keys import create_key, ensure_schema
    from bus.ingress.server import serve

    await _fill(settings, PullEvent.event_type().type, events)
    conn = await asyncpg.connect(dsn)
    try:
        await ensure_schema(conn)
        token = (await create_key(conn, SUBSCRIBER, description="benchmark")).token
    finally:
        await conn.close()
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve(create_app(settings, bench, database_dsn=dsn), "127.0.0.1", port, stop)
    )
    try:
        await _wait_for(port)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
        ) as client:
            received, started = 0, 0.0
            deadline = time.monotonic() + TIMEOUT_S
            while received < events and time.monotonic() < deadline:
                batch = (
                    await client.get(
                        f"/v1/subscriptions/{PULL_GROUP}/events", params={"max": 100, "wait": 1}
                    )
                ).json()
                if batch["events"] and not started:
                    started = time.perf_counter()
                received += len(batch["events"])
                if batch["cursor"]:
                    await client.post(
                        f"/v1/subscriptions/{PULL_GROUP}/ack", json={"cursor": batch["cursor"]}
                    )
            if received < events:
                raise TimeoutError(f"pulled {received} of {events} events")
            return events / (time.perf_counter() - started)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


async def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


# The receiver (`python -m bench.webhook PORT`) -------------------------------------------------

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class _Stats:
    def __init__(self) -> None:
        self.count = 0
        self.first = self.last = 0.0
        self.latencies_ms: list[float] = []

    def seen(self, ce_time: str | None) -> None:
        now = time.time()
        self.count += 1
        self.first = self.first or now
        self.last = now
        if ce_time:
            sent = datetime.fromisoformat(ce_time).timestamp()
            self.latencies_ms.append((now - sent) * 1000)


class _Receiver(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining: answers every request 200, in order."""

    stats = _Stats()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:])
            }
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self._answer(head.split(" ", 2)[:2], headers))

    def _answer(self, request_line: list[str], headers: dict[str, str]) -> bytes:
        method, path = [*request_line, "", ""][:2]
        if path == "/stats":
            s = _Receiver.stats
            body = orjson.dumps(
                {"count": s.count, "first": s.first, "last": s.last, "latencies_ms": s.latencies_ms}
            )
            return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        if path == "/reset":
            _Receiver.stats = _Stats()
        elif method == "POST":
            _Receiver.stats.seen(headers.get("ce-time"))
        return _OK


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Receiver, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
