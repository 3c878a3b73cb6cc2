"""`bus adapter ...`: list installed adapters and run one as a long-lived consumer."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from bus.cli import _common

if TYPE_CHECKING:
    from bus.subscribe import Subscriber
    from bus.subscribe.adapter import AdapterFactory, AdapterOptions

adapter_app = typer.Typer(help="Adapters: deliver events into OPD systems (sinks).")

# The subscribing machinery is imported inside the commands, after `_common.settings()` has
# configured logging: loggers take their configuration when they are made.


@adapter_app.command("list")
def list_() -> None:
    """List the adapters installed through the `opd_bus.adapters` entry points."""
    from bus.subscribe.adapter import installed_adapters

    for name, target in sorted(installed_adapters().items()):
        _common.out.print(f"{name}\t{target}", highlight=False)


@adapter_app.command("run")
def run(  # noqa: PLR0917 - each Typer option is a parameter
    name: Annotated[str, typer.Argument(help="Adapter name, e.g. postgres-sink.")],
    event_type: Annotated[
        str, typer.Option("--event-type", help="Event type (or its topic) to consume.")
    ],
    group: Annotated[str, typer.Option("--group", help="Consumer group of this adapter.")],
    dsn: Annotated[
        str | None, typer.Option("--dsn", envvar="BUS_ADAPTER_DSN", help="Target database DSN.")
    ] = None,
    system: Annotated[
        str | None, typer.Option("--system", help="Consuming system (its agreement applies).")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Adapter-specific KEY=VALUE, repeatable."),
    ] = None,
) -> None:
    """Run adapter NAME until SIGTERM or Ctrl-C, then finish the in-flight event and commit."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    from bus.subscribe.adapter import AdapterOptions, load_adapter

    with _common.bus_errors():
        factory = load_adapter(name)
        options = AdapterOptions(
            event_type=catalog.event_type(event_type),
            group=group,
            settings=settings,
            catalog=catalog,
            system=system,
            dsn=dsn,
            extra=_key_values(option or []),
        )
        asyncio.run(serve(factory, options))


async def serve(factory: AdapterFactory, options: AdapterOptions) -> None:
    """Run the adapter's subscriber; SIGTERM/SIGINT stop it gracefully (commit, leave group)."""
    async with factory(options) as subscriber:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stopper(subscriber, signum))
        try:
            await subscriber.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)


def _stopper(subscriber: Subscriber, signum: int) -> Callable[[], None]:
    from bus.logging import get_logger

    log = get_logger("bus.adapter")
    stopping: set[asyncio.Task[None]] = set()

    def on_signal() -> None:
        log.info("stopping: finishing in-flight events", signal=signal.Signals(signum).name)
        task = asyncio.ensure_future(subscriber.stop())
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    return on_signal


def _key_values(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--option {pair!r} is not KEY=VALUE")
        values[key.strip()] = value.strip()
    return values
