"""`bus monitor` for tests, served in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from bus.broker.process import free_port
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.monitor import serve
from bus.testing.waiting import wait_until_serving

__all__ = ["monitor_server"]


@contextlib.asynccontextmanager
async def monitor_server(
    settings: BusSettings, catalog: Catalog, groups: list[str], interval_s: float = 0.25
) -> AsyncIterator[str]:
    """`bus monitor` on a free port in this event loop; yields its base URL.

    Dev mode (open on loopback) unless `settings` carry a token, which then guards every page.
    """
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            settings.model_copy(update={"monitor_open_on_loopback": True}),
            catalog,
            stop,
            host="127.0.0.1",
            port=port,
            groups=groups,
            interval_s=interval_s,
        )
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(f"{base}/healthz", timeout=20, message="monitor answers /healthz")
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
