"""Serving the ingress with uvicorn, standalone (`bus ingress`) or inside `bus dev`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from bus.config import BusSettings
from bus.errors import BusError
from bus.ingress.limits import HeadLimits, guarded_protocol


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Do not install handlers: the embedding process stops the server through `stop`."""
        yield


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run the ingress process's main coroutine on uvloop where it is installed (not Windows)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def serve(
    app: FastAPI, host: str, port: int, stop: asyncio.Event, settings: BusSettings | None = None
) -> None:
    """Serve `app` on host:port until `stop` is set, then shut down gracefully.

    Request heads are limited in size, header count and time (`bus.ingress.limits`); the
    settings default to the app's."""
    settings = settings or app.state.ingress.settings
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        http=guarded_protocol(HeadLimits.from_settings(settings)),
        limit_concurrency=settings.ingress_max_connections,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(_serve_without_exit(server))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        exited = await task
    if exited is not None:
        startup_error = getattr(app.state, "startup_error", None)
        if startup_error is not None:
            raise BusError(f"the ingress could not start: {startup_error}")
        raise BusError(
            f"the ingress could not listen on {host}:{port} (port in use?); "
            "choose another with BUS_INGRESS_PORT"
        )


async def _serve_without_exit(server: uvicorn.Server) -> SystemExit | None:
    # uvicorn calls sys.exit() when the app fails to start or the port cannot be bound. A
    # SystemExit escaping a task would end the whole process (all of `bus dev`), so it is
    # caught inside the task and turned into a readable error by `serve`.
    try:
        await server.serve()
    except SystemExit as exc:
        return exc
    return None
