"""`bus dev`: the whole bus on one machine, on Apache Kafka or the embedded broker, with a demo."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.broker.local import Preference, secure_broker_choice
from bus.cli import _common
from bus.cli.ingress import dev_part as ingress_part
from bus.cli.monitor import dev_part as monitor_part
from bus.dev.console import DevConsole
from bus.dev.stack import DevOptions, run_dev
from bus.logging import configure_logging
from bus.privacy.keys import make_run_keys


def dev(  # noqa: PLR0917 - Typer options, passed by name
    broker: Annotated[
        Preference,
        typer.Option(
            help="auto: Apache Kafka where installed (make kafka), else Tansu; or kafka, tansu."
        ),
    ] = "auto",
    nodes: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="Apache Kafka nodes; from 3 the catalog's topics get RF 3, min.insync.replicas 2.",
        ),
    ] = 1,
    host: Annotated[str, typer.Option(help="Address the broker listens on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="BUS_DEV_BROKER_PORT", help="Client port of the first node.")
    ] = 9092,
    bootstrap: Annotated[
        str | None, typer.Option(help="Use this Kafka cluster instead of starting a broker.")
    ] = None,
    demo: Annotated[bool, typer.Option(help="Run the live licensing demo.")] = True,
    rate: Annotated[float, typer.Option(min=0.1, max=1000, help="Demo events per second.")] = 1.0,
    monitor: Annotated[
        bool, typer.Option(help="Serve the monitor and dashboard on BUS_MONITOR_PORT (8081).")
    ] = True,
    ingress: Annotated[
        bool, typer.Option(help="Serve the HTTP ingress on BUS_INGRESS_PORT (8080).")
    ] = True,
    secure: Annotated[
        bool,
        typer.Option(
            help="Apache Kafka as production runs it: SASL_SSL, ACLs, a SCRAM user per system "
            "(credentials in .bus/dev/credentials.json)."
        ),
    ] = False,
) -> None:
    """Start a broker, create the catalog's topics and run the live demo."""
    make_run_keys()  # masks and pseudonyms keyed for this run, unless keys are configured
    settings = _common.settings()
    # People read `bus dev`, also piped to a file: its own lines and every log line are for
    # people unless BUS_LOG_FORMAT=json, which makes every line JSON. One format per process.
    console = DevConsole(
        configure_logging(settings.log_format, settings.log_level, auto="console"),
        _common.out,
    )
    catalog = _common.catalog(settings)
    options = DevOptions(
        host=host,
        port=port,
        broker=broker,
        nodes=nodes,
        external_bootstrap=bootstrap,
        demo=demo,
        rate=rate,
        database=ingress,
        secure=secure,
    )
    if secure and bootstrap:
        _common.err.print("[bold red]error:[/] --secure starts its own cluster; drop --bootstrap")
        raise typer.Exit(1)
    if secure:
        with _common.bus_errors():
            secure_broker_choice(broker)
    if monitor:
        options.extra_parts.append(monitor_part(catalog, console, ingress=ingress))
    if ingress:
        options.extra_parts.append(ingress_part(catalog, console))
    with _common.bus_errors():
        asyncio.run(run_dev(options, settings, catalog, console))
