"""`bus dev`: the whole bus on one machine, on the embedded broker, with a live demo."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.cli import _common
from bus.cli.ingress import dev_part as ingress_part
from bus.cli.monitor import dev_part
from bus.dev.stack import DevOptions, run_dev


def dev(  # noqa: PLR0917 - Typer options, passed by name
    host: Annotated[
        str, typer.Option(help="Address the embedded broker listens on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="BUS_DEV_BROKER_PORT", help="Broker port.")] = 9092,
    bootstrap: Annotated[
        str | None, typer.Option(help="Use this Kafka cluster instead of the embedded broker.")
    ] = None,
    demo: Annotated[bool, typer.Option(help="Run the live licensing demo.")] = True,
    rate: Annotated[float, typer.Option(min=0.1, max=1000, help="Demo events per second.")] = 1.0,
    monitor: Annotated[
        bool, typer.Option(help="Serve the monitor and dashboard on BUS_MONITOR_PORT (8081).")
    ] = True,
    ingress: Annotated[
        bool, typer.Option(help="Serve the HTTP ingress on BUS_INGRESS_PORT (8080).")
    ] = True,
) -> None:
    """Start the embedded broker, create the catalog's topics and run the live demo."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    options = DevOptions(host=host, port=port, external_bootstrap=bootstrap, demo=demo, rate=rate)
    if monitor:
        options.extra_parts.append(dev_part(settings, catalog, bootstrap or f"{host}:{port}"))
    if ingress:
        options.extra_parts.append(
            ingress_part(
                settings, catalog, bootstrap or f"{host}:{port}", embedded_broker=not bootstrap
            )
        )
    with _common.bus_errors():
        asyncio.run(run_dev(options, settings, catalog, _common.out))
