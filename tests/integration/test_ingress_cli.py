"""`bus ingress` as a real process: serves on BUS_INGRESS_PORT, publishes, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bus.broker.embedded import free_port
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.ingress.keys import create_key, ensure_schema
from bus.testing import KafkaService, wait_until

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"


async def test_bus_ingress_serves_until_sigterm(
    database: str, kafka: KafkaService, bus_settings: BusSettings, catalog: Catalog
) -> None:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database)
    try:
        await ensure_schema(conn)
        token = (await create_key(conn, "dpmptsp.sicantik")).token
    finally:
        await conn.close()
    port = free_port()
    env = {
        **os.environ,
        "BUS_DATABASE_DSN": database,
        "BUS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "BUS_PRODUCER_IDEMPOTENCE": str(bus_settings.producer_idempotence).lower(),
        "BUS_INGRESS_PORT": str(port),
        "BUS_LOG_FORMAT": "json",
    }
    bus = Path(sys.executable).with_name("bus")
    process = await asyncio.create_subprocess_exec(
        str(bus), "ingress", env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(ready, timeout=60, message="bus ingress ready")
            response = await http.post(
                f"/v1/events/{IZIN}",
                json=catalog.event_type(IZIN).example,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 202, response.text
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
    assert process.stderr is not None
    logs = (await process.stderr.read()).decode()
    assert response.json()["id"] in logs  # the request log names the event id
    assert "Siti Aminah" not in logs  # and never the data
