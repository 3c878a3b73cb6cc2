"""`bus dev`: a broker, the bus's database, the catalog's topics and the live demo, in one process.

The broker is Apache Kafka where it is installed (`make kafka`), else the embedded Tansu broker
(`--broker` chooses; `bus.broker.local` decides what each needs). While it runs, `bus dev`
writes `.bus/dev/bus.env`: commands and SDK code started in the same folder read it through
`BusSettings` and so use this broker and database with nothing set by hand.

Each part is a coroutine taking the final settings and the shared `stop` event; Ctrl-C (SIGINT)
or SIGTERM sets it, every part winds down, the broker stops last, and the command exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from bus.broker.local import LocalBroker, Preference, choose_broker
from bus.broker.secure_cluster import SecureCluster
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.config import DEV_SETTINGS_FILE, BusSettings
from bus.dev.console import DevConsole
from bus.dev.demo import DEMO_SUBSCRIBERS, demo_subscriber, publish_licences
from bus.dev.secure import secure_broker, service_settings
from bus.publish import Publisher

#: A part of the stack: runs with the stack's settings until `stop` is set.
Part = Callable[[BusSettings, asyncio.Event], Awaitable[None]]


@dataclass
class DevOptions:
    """What `bus dev` starts."""

    host: str = "127.0.0.1"
    port: int = 9092
    broker: Preference = "auto"
    nodes: int = 1
    external_bootstrap: str | None = None
    demo: bool = True
    rate: float = 1.0
    #: Start an embedded PostgreSQL for the parts that need one, unless BUS_DATABASE_DSN is set.
    database: bool = True
    extra_parts: list[Part] = field(default_factory=list)
    #: `--secure`: Apache Kafka with SASL_SSL, ACLs and a user per system (bus.dev.secure).
    secure: bool = False
    cluster: SecureCluster | None = None


async def run_dev(
    options: DevOptions, settings: BusSettings, catalog: Catalog, console: DevConsole
) -> None:
    """Run the development stack until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with _broker(options, catalog, console) as update:
        settings = settings.model_copy(update=update)
        async with _database(options, settings, console, stop) as dsn:
            if dsn is None and options.database and not settings.database_dsn:
                return  # Ctrl-C while the database was starting
            settings = settings.model_copy(update={"database_dsn": dsn})
            with _shared_settings(settings, console):
                created = await ensure_topics(catalog.event_types, settings.as_admin())
                console.say(
                    "dev.topics",
                    f"[bold]topics[/] {len(catalog.event_types)} in catalog, "
                    f"{len(created)} created",
                    in_catalog=len(catalog.event_types),
                    created=len(created),
                )
                parts = [part(settings, stop) for part in options.extra_parts]
                if options.cluster is not None:
                    parts.append(_projector(settings, catalog, stop))
                if options.demo:
                    parts.append(_demo(options, settings, catalog, stop, console))
                console.say("dev.running", "[bold]running[/]: Ctrl-C stops everything")
                await asyncio.gather(*parts, stop.wait())
    console.say("dev.stopped", "[bold]stopped[/]")


@contextlib.asynccontextmanager
async def _broker(
    options: DevOptions, catalog: Catalog, console: DevConsole
) -> AsyncIterator[dict[str, object]]:
    """Start the chosen broker (or use `--bootstrap`); yields the settings its clients need."""
    if options.secure:
        async with secure_broker(
            options.host, options.port, options.nodes, catalog, console
        ) as cluster:
            options.cluster = cluster
            yield service_settings(cluster)
        return
    if options.external_bootstrap:
        console.say(
            "dev.broker",
            f"[bold]broker[/] {options.external_bootstrap} (--bootstrap)",
            bootstrap_servers=options.external_bootstrap,
        )
        yield {"bootstrap_servers": options.external_bootstrap}
        return
    choice = choose_broker(options.broker)
    broker = LocalBroker(choice, host=options.host, port=options.port, nodes=options.nodes)
    await asyncio.to_thread(broker.start)
    try:
        nodes = broker.cluster.nodes if broker.cluster is not None else []
        console.say(
            "dev.broker",
            f"[bold]broker[/] {escape(broker.describe())}, chosen {escape(choice.reason)}",
            details=[
                f"node {node.node_id} {node.address}  pid {node.pid}  log {node.log_path}"
                for node in nodes
            ]
            or [f"{broker.bootstrap_servers}  (memory only)"],
            broker=broker.describe(),
            chosen=choice.reason,
            bootstrap_servers=broker.bootstrap_servers,
        )
        yield broker.client_settings()
    finally:
        await asyncio.to_thread(broker.stop)


@contextlib.asynccontextmanager
async def _database(
    options: DevOptions, settings: BusSettings, console: DevConsole, stop: asyncio.Event
) -> AsyncIterator[str | None]:
    """The bus's database: BUS_DATABASE_DSN, else an embedded PostgreSQL gone at exit."""
    if settings.database_dsn or not options.database:
        yield settings.database_dsn
        return
    from bus.database import embedded_postgres

    database = embedded_postgres()
    try:
        dsn = await asyncio.to_thread(database.__enter__)
    except Exception:
        # Ctrl-C on a terminal signals the whole process group, initdb included: a start cut
        # short by the same Ctrl-C that stops `bus dev` is not an error.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2)
        if stop.is_set():
            yield None
            return
        raise
    console.say("dev.database", "[bold]database[/] embedded PostgreSQL, gone at exit")
    try:
        yield dsn
    finally:
        await asyncio.to_thread(database.__exit__, None, None, None)


@contextlib.contextmanager
def _shared_settings(settings: BusSettings, console: DevConsole) -> Iterator[None]:
    """Write `.bus/dev/bus.env` for other terminals in this folder; remove it at exit."""
    path = Path(DEV_SETTINGS_FILE)
    lines = [f"# written by bus dev (pid {os.getpid()}); removed when it stops"]
    values = settings.model_dump(
        include={
            "bootstrap_servers",
            "database_dsn",
            "producer_idempotence",
            "consumer_session_timeout_ms",
            "consumer_heartbeat_interval_ms",
            # --secure: the bus's own user and the admin, with their passwords in files.
            "security_protocol",
            "ssl_cafile",
            "sasl_mechanism",
            "sasl_username",
            "sasl_password_file",
            "admin_sasl_username",
            "admin_sasl_password_file",
        }
    )
    lines += [
        f"BUS_{name.upper()}={str(value).lower() if isinstance(value, bool) else value}"
        for name, value in sorted(values.items())
        if value is not None
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only: the file holds the dev database's DSN.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    console.say(
        "dev.settings",
        f"[bold]settings[/] {path}: commands and SDK code run in this folder use this bus",
        path=str(path),
    )
    try:
        yield
    finally:
        # Only our own file: another `bus dev` started since then may have replaced it.
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8").startswith(lines[0]):
                path.unlink()


async def _projector(settings: BusSettings, catalog: Catalog, stop: asyncio.Event) -> None:
    from bus.projection.projector import Projector

    async with Projector(settings, catalog) as projector:
        await projector.run(stop)


async def _demo(
    options: DevOptions,
    settings: BusSettings,
    catalog: Catalog,
    stop: asyncio.Event,
    console: DevConsole,
) -> None:
    cluster, rate = options.cluster, options.rate
    # --secure: each demo subscriber connects as its own system, as it would in production.
    subscribers = [
        demo_subscriber(
            system,
            action,
            catalog,
            settings if cluster is None else cluster.settings_for(system, settings),
            console,
        )
        for system, action in DEMO_SUBSCRIBERS.items()
    ]
    await asyncio.gather(*(subscriber.start() for subscriber in subscribers))
    tasks = [asyncio.create_task(s.run()) for s in subscribers]
    try:
        async with Publisher("dpmptsp.sicantik", catalog=catalog, settings=settings) as publisher:
            await publish_licences(publisher, rate, stop, console)
    finally:
        for subscriber in subscribers:
            await subscriber.stop()
        # Bounded: a subscriber leaving its group must not hold up Ctrl-C forever.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=8)
