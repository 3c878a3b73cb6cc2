"""`bus monitor`: Prometheus `/metrics`, the live dashboard, and its JSON and event stream.

app = create_app(monitor)                  # FastAPI; `serve()` runs it with uvicorn
GET /              the dashboard (plain HTML, JS and CSS shipped in the package)
GET /metrics       Prometheus text format (lag gauges and the SDK's counters)
GET /api/state     the dashboard's JSON document
GET /api/events    server-sent events: the same document after every scan
GET /healthz       200 once the process is up
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import BusError
from bus.logging import get_logger
from bus.monitor.exposition import exposition
from bus.monitor.snapshot import state_document
from bus.monitor.watch import LagMonitor

log = get_logger("bus.monitor")

_STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> bytes:
    return resources.files("bus.monitor").joinpath("static", name).read_bytes()


def create_app(monitor: LagMonitor) -> FastAPI:
    """The monitor's HTTP app over a (started or not) `LagMonitor`."""
    app = FastAPI(title="OPD Bus monitor", docs_url=None, redoc_url=None)
    catalog: Catalog | None = monitor.catalog

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"))

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in _STATIC:
            return Response(status_code=404)
        return Response(_asset(name), media_type=_STATIC[name])

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(exposition(lambda: monitor.state), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/state", summary="The dashboard's document")
    async def state() -> Response:
        return Response(
            _json(state_document(monitor.state, catalog)), media_type="application/json"
        )

    @app.get("/api/events", summary="The dashboard's document after every scan (SSE)")
    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            # A comment first, so proxies and browsers see the stream open at once.
            yield b": opd-bus monitor\n\n"
            updates = monitor.updates()
            while not await request.is_disconnected():
                try:
                    current = await asyncio.wait_for(anext(updates), timeout=15)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                document = _json(state_document(current, catalog))
                yield b"event: state\ndata: " + document + b"\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _json(document: Any) -> bytes:
    return orjson.dumps(document)


async def serve(
    settings: BusSettings,
    catalog: Catalog | None,
    stop: asyncio.Event,
    *,
    host: str | None = None,
    port: int | None = None,
    groups: list[str] | None = None,
    interval_s: float | None = None,
) -> None:
    """Run the monitor (scans and HTTP) until `stop` is set; a `bus dev` part."""
    import uvicorn

    host = host or settings.monitor_host
    port = port if port is not None else settings.monitor_port
    # Bind first: a busy port is a clear BusError here, not uvicorn exiting the process.
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise BusError(
            f"the monitor cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another port with BUS_MONITOR_PORT or --port"
        ) from None
    monitor = LagMonitor(settings, catalog, groups=groups or [], interval_s=interval_s)
    await monitor.start()
    # Dashboards keep an event stream open; do not wait on them for long at shutdown.
    config = uvicorn.Config(
        create_app(monitor), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]), name="bus-monitor-http")
    log.info("monitor listening", host=host, port=port)
    try:
        await asyncio.wait({task, asyncio.create_task(stop.wait())}, return_when="FIRST_COMPLETED")
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
        await monitor.stop()
        listener.close()
