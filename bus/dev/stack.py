"""`bus dev`: the embedded broker, the catalog's topics and the live demo, in one process.

Each part is a coroutine taking the shared `stop` event; Ctrl-C (SIGINT) or SIGTERM sets it,
every part winds down, the broker stops last, and the command exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rich.console import Console

from bus.broker.embedded import EmbeddedBroker
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.dev.demo import DEMO_SUBSCRIBERS, demo_subscriber, publish_licences
from bus.publish import Publisher

Part = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class DevOptions:
    """What `bus dev` starts."""

    host: str = "127.0.0.1"
    port: int = 9092
    external_bootstrap: str | None = None
    demo: bool = True
    rate: float = 1.0
    extra_parts: list[Part] = field(default_factory=list)


async def run_dev(
    options: DevOptions, settings: BusSettings, catalog: Catalog, console: Console
) -> None:
    """Run the development stack until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    broker: EmbeddedBroker | None = None
    if options.external_bootstrap:
        settings = settings.model_copy(update={"bootstrap_servers": options.external_bootstrap})
    else:
        broker = EmbeddedBroker(options.host, options.port)
        await asyncio.to_thread(broker.start)
        # Tansu fails aiokafka's idempotent-producer handshake, and answers a group join only
        # after half the session timeout: shape both settings to it, never the product logic.
        settings = settings.model_copy(
            update={
                "bootstrap_servers": broker.bootstrap_servers,
                "producer_idempotence": False,
                "consumer_session_timeout_ms": 3000,
                "consumer_heartbeat_interval_ms": 500,
            }
        )
        console.print(
            f"[bold]embedded broker[/] (Tansu, memory only) on {broker.bootstrap_servers}"
        )
    try:
        created = await ensure_topics(catalog.event_types, settings)
        console.print(
            f"[bold]topics[/] {len(catalog.event_types)} in catalog, {len(created)} created"
        )
        parts: list[Awaitable[None]] = [part(stop) for part in options.extra_parts]
        if options.demo:
            parts.append(_demo(settings, catalog, options.rate, stop, console))
        console.print("[bold]running[/]: Ctrl-C stops everything")
        await asyncio.gather(*parts, stop.wait())
    finally:
        if broker is not None:
            await asyncio.to_thread(broker.stop)
        console.print("[bold]stopped[/]")


async def _demo(
    settings: BusSettings, catalog: Catalog, rate: float, stop: asyncio.Event, console: Console
) -> None:
    subscribers = [
        demo_subscriber(system, action, catalog, settings, console)
        for system, action in DEMO_SUBSCRIBERS.items()
    ]
    await asyncio.gather(*(subscriber.start() for subscriber in subscribers))
    tasks = [asyncio.create_task(s.run()) for s in subscribers]
    try:
        async with Publisher("dpmptsp.sicantik", catalog=catalog, settings=settings) as publisher:
            await publish_licences(publisher, rate, stop, console)
    finally:
        for subscriber in subscribers:
            await subscriber.stop()
        # Bounded: a subscriber leaving its group must not hold up Ctrl-C forever.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=8)
