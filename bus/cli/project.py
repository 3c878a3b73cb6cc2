"""`bus project`: write the grant topics of partial agreements from their source topics."""

from __future__ import annotations

import asyncio
import signal

from bus.cli import _common


def project() -> None:
    """Copy each event, reduced to the granted fields, to its grant topics (bus.grant.*)."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    from bus.projection.projector import Projector

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Projector(settings, catalog) as projector:
            _common.err.print(
                f"[bold]projector[/] {len(projector.source_topics)} source topics → grant topics"
            )
            await projector.run(stop)

    with _common.bus_errors():
        asyncio.run(_run())
