"""`bus outbox relay` as a real process: relays committed rows, wakes on NOTIFY, stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import asyncpg
import pytest

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.outbox import add_event, ensure_schema
from bus.testing import KafkaService, wait_until
from bus.testing.cli import BUS

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"


async def test_bus_outbox_relay_process(
    database: str, kafka: KafkaService, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    env = {
        **os.environ,
        "BUS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "BUS_PRODUCER_IDEMPOTENCE": str(bus_settings.producer_idempotence).lower(),
        "BUS_LOG_FORMAT": "json",
    }
    env.pop("BUS_DATABASE_DSN", None)
    # A long poll interval: only NOTIFY can make the relay pick rows up within the deadline.
    process = await asyncio.create_subprocess_exec(
        BUS, "outbox", "relay", "--dsn", database, "--system", "dpmptsp.sicantik",
        "--poll-interval", "120", env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await ensure_schema(conn)
        example = catalog.event_type(IZIN).example

        async def unsent() -> bool:
            return await conn.fetchval("SELECT count(*) FROM bus_outbox WHERE sent_at IS NULL") == 0

        # The relay creates its listener once connected; give it a first row to prove it is up.
        async with conn.transaction():
            await add_event(conn, IZIN, {**example, "nomor_izin": f"503/CLI/{unique}/0"})
        await wait_until(unsent, timeout=60, message="relay up and first row sent")

        async with conn.transaction():
            for i in range(1, 21):
                await add_event(conn, IZIN, {**example, "nomor_izin": f"503/CLI/{unique}/{i}"})
        await wait_until(unsent, timeout=20, message="NOTIFY woke the relay")
        sent = await conn.fetchval('SELECT count(DISTINCT (partition, "offset")) FROM bus_outbox')
        assert sent == 21
        logged = await conn.fetchval(
            "SELECT count(*) FROM bus_publication_log WHERE via = 'outbox'"
        )
        assert logged == 21
    finally:
        await conn.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
