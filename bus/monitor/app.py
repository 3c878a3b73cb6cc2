"""`bus monitor`: Prometheus `/metrics`, the live dashboard, and its JSON and event stream.

app = create_app(monitor)                  # FastAPI; `serve()` runs it with uvicorn
GET /              the dashboard (plain HTML, JS and CSS shipped in the package)
GET /metrics       Prometheus text format (lag gauges and the SDK's counters)
GET /api/state     the dashboard's JSON document
GET /api/events    server-sent events: the same document after every scan
GET /api/dead-letters/{group}          one group's dead letters (positions, error classes)
POST /api/dead-letters/replay          replay chosen dead letters; recorded in the audit table
GET /healthz       200 once the process is up (the only path open without the token)

Access rules (token, Host allow-list, cross-site writes) are in `bus.monitor.access`.
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
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import BusError
from bus.logging import get_logger
from bus.monitor import audit
from bus.monitor.access import AccessGuard, MonitorAccess
from bus.monitor.exposition import exposition
from bus.monitor.snapshot import state_document
from bus.monitor.watch import LagMonitor
from bus.validation import field_errors

log = get_logger("bus.monitor")

_STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> bytes:
    return resources.files("bus.monitor").joinpath("static", name).read_bytes()


#: Most dead letters one replay request may name, and one group listing returns.
MAX_REPLAY = 500


class ReplayRequest(BaseModel):
    """Body of `POST /api/dead-letters/replay`."""

    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1, max_length=249)
    positions: list[str] = Field(min_length=1, max_length=MAX_REPLAY)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def viewer(request: Request, access: MonitorAccess, monitor: LagMonitor) -> dict[str, Any]:
    """Who is looking, and whether they may replay (and if not, what would let them)."""
    operator = getattr(request.state, "operator", None)
    hint = None
    if operator is None:
        hint = "replaying needs a sign-in: start the monitor with BUS_MONITOR_TOKEN"
    elif monitor.pool is None:
        hint = "replaying needs BUS_DATABASE_DSN, for the audit record of who replayed what"
    return {"operator": operator, "can_replay": hint is None, "replay_hint": hint}


def create_app(monitor: LagMonitor, access: MonitorAccess | None = None) -> FastAPI:
    """The monitor's HTTP app over a (started or not) `LagMonitor`, guarded by `access`."""
    app = FastAPI(title="OPD Bus monitor", docs_url=None, redoc_url=None)
    catalog: Catalog | None = monitor.catalog
    access = access or MonitorAccess.from_settings(monitor.settings, monitor.settings.monitor_host)
    app.add_middleware(AccessGuard, access=access)

    def document(request: Request, state: Any) -> bytes:
        return _json({**state_document(state, catalog), "viewer": viewer(request, access, monitor)})

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
    async def state(request: Request) -> Response:
        return Response(document(request, monitor.state), media_type="application/json")

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
                yield b"event: state\ndata: " + document(request, current) + b"\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/dead-letters/{group}", summary="One group's dead letters")
    async def dead_letters(group: str) -> Response:
        from bus.dlq import dlq_topics, read_dead_letters

        topics = await dlq_topics(monitor.settings, group)
        letters = await read_dead_letters(monitor.settings, topics) if topics else []
        replayed: dict[str, audit.Replay] = {}
        if monitor.pool is not None:
            async with monitor.pool.acquire() as conn:
                replayed = await audit.last_replays_of(conn, group)
        rows = []
        for letter in letters[-MAX_REPLAY:]:
            row = letter.summary()
            del row["error_message"]  # may quote personal data; the class says enough
            last = replayed.get(letter.position)
            row["replayed"] = None if last is None else last.to_dict()
            rows.append(row)
        return Response(
            _json({"group": group, "dead_letters": rows}), media_type="application/json"
        )

    @app.post("/api/dead-letters/replay", summary="Replay chosen dead letters (audited)")
    async def replay(request: Request) -> Response:
        from bus.dlq.replay import replay_selected

        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return problem(415, "JSON needed", "send the body as `Content-Type: application/json`")
        who = viewer(request, access, monitor)
        if not who["can_replay"]:
            return problem(403, "Replay not allowed", who["replay_hint"])
        try:
            wanted = ReplayRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            errors = [{"path": e.path, "message": e.message} for e in field_errors(exc)]
            return problem(422, "Invalid replay request", "see errors", errors=errors)
        assert monitor.pool is not None  # can_replay says so
        async with monitor.pool.acquire() as conn, conn.transaction():
            # The audit row and the replay stand or fall together: if the replay fails the
            # row is rolled back, and no replay is sent without a row being written first.
            try:
                report = await replay_selected(monitor.settings, wanted.group, wanted.positions)
            except BusError as exc:
                return problem(409, "Nothing replayed", str(exc))
            row = await audit.record_replay(
                conn,
                audit.Replay(
                    operator=who["operator"],
                    group=wanted.group,
                    target_topic=report.target,
                    positions=tuple(letter.position for letter in report.replayed),
                    event_ids=tuple(letter.event_id for letter in report.replayed),
                ),
            )
        log.info(
            "dead letters replayed from the dashboard",
            operator=row.operator,
            group=row.group,
            replayed=len(row.positions),
        )
        return Response(
            _json(
                {"replayed": len(row.positions), "target": report.target, "audit": row.to_dict()}
            ),
            media_type="application/json",
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
    access = MonitorAccess.from_settings(settings, host)  # refuses an unguarded monitor
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
    try:
        await monitor.start()
    except BaseException:
        listener.close()
        raise
    # Dashboards keep an event stream open; do not wait on them for long at shutdown.
    config = uvicorn.Config(
        create_app(monitor, access),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
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
