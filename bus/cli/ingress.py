"""`bus ingress`: serve the authenticated HTTP ingress with uvicorn."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from bus.cli import _common


def ingress(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default BUS_INGRESS_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default BUS_INGRESS_PORT).")] = None,
) -> None:
    """Serve POST /v1/events/{type}, /v1/events:batch, /openapi.json, /healthz, /readyz."""
    from bus.ingress import create_app
    from bus.ingress.server import serve

    loaded = _common.settings()
    catalog = _common.catalog(loaded)
    with _common.bus_errors():
        app = create_app(loaded, catalog)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        listen_host, listen_port = host or loaded.ingress_host, port or loaded.ingress_port
        _common.err.print(f"[bold]ingress[/] on http://{listen_host}:{listen_port}")
        await serve(app, listen_host, listen_port, stop)

    with _common.bus_errors():
        asyncio.run(_run())
