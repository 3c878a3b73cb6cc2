"""`bus monitor`: Prometheus `/metrics` and the live dashboard (http://127.0.0.1:8081)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from bus.catalog import Catalog
from bus.cli import _common
from bus.config import BusSettings
from bus.dev.console import DevConsole

# Defaults shown in --help are the settings' own, so the two never disagree.
_DEFAULTS = BusSettings.model_fields


def monitor(
    host: Annotated[
        str, typer.Option(envvar="BUS_MONITOR_HOST", help="Address the dashboard listens on.")
    ] = _DEFAULTS["monitor_host"].default,
    port: Annotated[
        int, typer.Option(envvar="BUS_MONITOR_PORT", help="Port of the dashboard and /metrics.")
    ] = _DEFAULTS["monitor_port"].default,
    interval: Annotated[
        float,
        typer.Option(
            min=0.1, envvar="BUS_MONITOR_SCAN_INTERVAL_S", help="Seconds between lag scans."
        ),
    ] = _DEFAULTS["monitor_scan_interval_s"].default,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            "-g",
            help="Also watch this consumer group (repeatable). The groups the brokers list, "
            "the catalog's subscribers and BUS_MONITOR_GROUPS are watched anyway.",
        ),
    ] = None,
) -> None:
    """Serve `/metrics` and the operators' dashboard until Ctrl-C.

    Operators sign in with BUS_MONITOR_TOKEN (or BUS_MONITOR_TOKEN_FILE); see docs/operations.md.
    """
    settings = _common.settings()
    catalog = _common.catalog(settings)
    _common.log.info("monitor starting", dashboard=f"http://{host}:{port}", metrics="/metrics")
    with _common.bus_errors():
        asyncio.run(
            _run(settings, catalog, host=host, port=port, interval=interval, groups=group or [])
        )


async def _run(
    settings: BusSettings,
    catalog: Catalog,
    *,
    host: str,
    port: int,
    interval: float,
    groups: list[str],
) -> None:
    from bus.monitor import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, catalog, stop, host=host, port=port, groups=groups, interval_s=interval)


def dev_part(
    catalog: Catalog, console: DevConsole, *, ingress: bool = True
) -> Callable[[BusSettings, asyncio.Event], Awaitable[None]]:
    """The monitor as a `bus dev` part, watching the demo's groups on the dev broker.

    Dev mode: without BUS_MONITOR_TOKEN it serves on loopback only, to this machine's browser.
    """
    from bus.dev.demo import DEMO_SUBSCRIBERS
    from bus.monitor import serve

    demo_groups = [f"{system}.demo" for system in DEMO_SUBSCRIBERS]

    async def part(settings: BusSettings, stop: asyncio.Event) -> None:
        update: dict[str, object] = {"monitor_open_on_loopback": True}
        if ingress and not settings.monitor_ingress_urls:
            url = f"http://{settings.ingress_host}:{settings.ingress_port}"
            update["monitor_ingress_urls"] = [url]
        settings = settings.model_copy(update=update)
        url = f"http://{settings.monitor_host}:{settings.monitor_port}"
        console.say(
            "dev.monitor",
            f"[bold]monitor[/] {url}  (dashboard; Prometheus metrics at /metrics)",
            url=url,
        )
        await serve(settings, catalog, stop, groups=demo_groups)

    return part
