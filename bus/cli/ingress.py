"""`bus ingress`: serve the authenticated HTTP ingress with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
import typer

from bus.catalog import Catalog
from bus.cli import _common
from bus.config import BusSettings

_DEMO_SYSTEM = "dpmptsp.sicantik"
_DEMO_TYPE = "id.go.riau.dpmptsp.izin.terbit"


def ingress(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default BUS_INGRESS_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default BUS_INGRESS_PORT).")] = None,
) -> None:
    """Serve POST /v1/events/{type}, /v1/events:batch, /openapi.json, /healthz, /readyz."""
    # Settings (and so logging) first: loggers bind their configuration when first made.
    loaded = _common.settings()
    catalog = _common.catalog(loaded)
    from bus.ingress import create_app
    from bus.ingress.server import run, serve

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
        run(_run())


def dev_part(
    settings: BusSettings, catalog: Catalog, bootstrap: str, *, embedded_broker: bool
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """The ingress as a `bus dev` part: its own embedded PostgreSQL unless BUS_DATABASE_DSN is
    set, and a demo API key for DPMPTSP printed at start so a newcomer can curl it at once."""
    update: dict[str, object] = {"bootstrap_servers": bootstrap}
    if embedded_broker:
        update["producer_idempotence"] = False  # Tansu fails aiokafka's idempotent handshake
    dev_settings = settings.model_copy(update=update)

    async def part(stop: asyncio.Event) -> None:
        from bus.database import embedded_postgres

        database = None
        dsn = dev_settings.database_dsn
        if not dsn:
            database = embedded_postgres()
            try:
                dsn = await asyncio.to_thread(database.__enter__)
            except Exception:
                # Ctrl-C on a terminal signals the whole process group, initdb included: a
                # start cut short by the same Ctrl-C that stops `bus dev` is not an error.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=2)
                if stop.is_set():
                    return
                raise
        try:
            await _serve_with_demo_key(
                dev_settings, catalog, dsn, embedded=database is not None, stop=stop
            )
        finally:
            if database is not None:
                await asyncio.to_thread(database.__exit__, None, None, None)

    return part


async def _serve_with_demo_key(
    settings: BusSettings, catalog: Catalog, dsn: str, *, embedded: bool, stop: asyncio.Event
) -> None:
    import asyncpg

    from bus.ingress import create_app, keys
    from bus.ingress.server import serve

    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    try:
        await keys.ensure_schema(conn)
        issued = await keys.create_key(conn, _DEMO_SYSTEM, description="bus dev demo key")
    finally:
        await conn.close()
    app = create_app(settings, catalog, database_dsn=dsn)
    url = f"http://{settings.ingress_host}:{settings.ingress_port}"
    example = orjson.dumps(catalog.event_type(_DEMO_TYPE).example).decode()
    where = "embedded PostgreSQL, gone at exit" if embedded else "BUS_DATABASE_DSN"
    _common.out.print(f"[bold]ingress[/] {url}  (OpenAPI at {url}/docs; keys in {where})")
    if embedded:
        _common.out.print(f"  more keys: BUS_DATABASE_DSN='{dsn}' bus keys create --system ID")
    _common.out.print(f"  demo API key for {_DEMO_SYSTEM}: [bold]{issued.token}[/]")
    _common.out.print(
        f"  curl -X POST {url}/v1/events/{_DEMO_TYPE} -H 'Authorization: Bearer {issued.token}' "
        f"-H 'Content-Type: application/json' -d '{example}'",
        highlight=False,
        markup=False,
    )
    await serve(app, settings.ingress_host, settings.ingress_port, stop)
