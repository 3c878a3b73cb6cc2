"""`bus ingress`: serve the authenticated HTTP ingress with uvicorn."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from bus.catalog import Catalog
from bus.cli import _common
from bus.config import BusSettings
from bus.dev.console import DevConsole

if TYPE_CHECKING:
    from bus.publish import Delivery, OutgoingRecord

_DEMO_SYSTEM = "dpmptsp.sicantik"
_DEMO_TYPE = "id.go.riau.dpmptsp.izin.terbit"


def ingress(
    host: Annotated[
        str, typer.Option(envvar="BUS_INGRESS_HOST", help="Address the ingress listens on.")
    ] = BusSettings.model_fields["ingress_host"].default,
    port: Annotated[
        int, typer.Option(envvar="BUS_INGRESS_PORT", help="Port the ingress listens on.")
    ] = BusSettings.model_fields["ingress_port"].default,
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
        _common.log.info("ingress listening", url=f"http://{host}:{port}")
        await serve(app, host, port, stop)

    with _common.bus_errors():
        run(_run())


def dev_part(
    catalog: Catalog, console: DevConsole
) -> Callable[[BusSettings, asyncio.Event], Awaitable[None]]:
    """The ingress as a `bus dev` part, with a demo API key for DPMPTSP printed at start so a
    newcomer can curl it at once (the stack's database holds the keys)."""

    async def part(settings: BusSettings, stop: asyncio.Event) -> None:
        assert settings.database_dsn is not None  # `bus dev` starts one for the ingress
        await _serve_with_demo_key(settings, catalog, settings.database_dsn, console, stop=stop)

    return part


async def _serve_with_demo_key(
    settings: BusSettings,
    catalog: Catalog,
    dsn: str,
    console: DevConsole,
    *,
    stop: asyncio.Event,
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
    from bus.dev.demo import say_published

    def published(records: Sequence[OutgoingRecord], deliveries: Sequence[Delivery]) -> None:
        for record, delivery in zip(records, deliveries, strict=True):
            event_type = catalog.event_type(record.type or delivery.topic)
            say_published(console, event_type, record.key, delivery, via="ingress")

    app = create_app(settings, catalog, database_dsn=dsn, on_published=published)
    url = f"http://{settings.ingress_host}:{settings.ingress_port}"
    example = orjson.dumps(catalog.event_type(_DEMO_TYPE).example).decode()
    curl = (
        f"curl -X POST {url}/v1/events/{_DEMO_TYPE} -H 'Authorization: Bearer {issued.token}' "
        f"-H 'Content-Type: application/json' -d '{example}'"
    )
    # A line that works as pasted: the `bus` of this installation, on PATH or not; it finds
    # this bus through .bus/dev/bus.env.
    more_keys = f"{_common.bus_command()} keys create --system ID"
    console.say(
        "dev.ingress",
        f"[bold]ingress[/] {url}  (OpenAPI at {url}/docs)",
        details=[
            f"more keys, from another terminal in this folder: {more_keys}",
            f"demo API key for {_DEMO_SYSTEM}: {issued.token}",
            curl,
        ],
        # The demo key is shown to the person at the terminal, never written into a log.
        url=url,
        more_keys=more_keys,
    )
    await serve(app, settings.ingress_host, settings.ingress_port, stop)
