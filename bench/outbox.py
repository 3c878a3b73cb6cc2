"""outbox_eps: events/s the outbox relay moves from PostgreSQL to Kafka.

The outbox is filled first (untimed) with `add_event`, as an OPD application does inside its
own transactions; then one `OutboxRelay.run` drains it in rounds of its default batch size
(the clock runs from starting the relay to its last acknowledged row). Each round claims rows
in a transaction, publishes them pipelined, waits for every acknowledgement, writes the
publication log and marks the rows sent, so the figure is the whole at-least-once path, not
only the Kafka send.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bench.catalog import PublishEvent, catalog, payloads
from bus.config import BusSettings
from bus.testing import wait_until
from bus.testing.services import postgres_service

EVENT_TYPE = PublishEvent.event_type()


async def run(settings: BusSettings, events: int) -> float:
    """Fill an outbox with `events` events, then time one relay draining it."""
    from bus import publication_log
    from bus.outbox import OutboxRelay, add_event, ensure_schema

    with postgres_service() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await ensure_schema(conn)
            await publication_log.ensure_schema(conn)
            async with conn.transaction():
                for item in payloads(events):
                    await add_event(conn, EVENT_TYPE.type, item, catalog=catalog)
        finally:
            await conn.close()
        relay = OutboxRelay(dsn, settings=settings)
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(relay.run(stop))
        try:
            await wait_until(
                lambda: relay.stats.sent >= events or task.done(),
                timeout=120,
                interval=0.005,
                message="the relay did not drain the outbox",
            )
            elapsed = time.perf_counter() - started
        finally:
            stop.set()
            await task
        if relay.stats.sent < events:
            raise RuntimeError(f"the relay sent {relay.stats.sent} of {events} events")
        return events / elapsed
