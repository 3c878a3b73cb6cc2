"""`bus trace EVENT_ID`: did every subscribing system receive this event?"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bus.catalog import Catalog
from bus.cli import _common
from bus.config import BusSettings
from bus.tracking import (
    DeliveryReport,
    DeliveryState,
    PublishedEvent,
    find_publication,
    trace_event,
)

_STYLE = {
    DeliveryState.DELIVERED: "green",
    DeliveryState.PENDING: "yellow",
    DeliveryState.DEAD_LETTERED: "bold red",
}


def trace(  # noqa: PLR0917 - Typer options, passed by name
    event_id: Annotated[str, typer.Argument(help="The event's id (CloudEvents `id`).")],
    topic: Annotated[
        str | None, typer.Option(help="Where the event is, if it is not in the publication log.")
    ] = None,
    partition: Annotated[int | None, typer.Option(min=0, help="Its partition.")] = None,
    offset: Annotated[int | None, typer.Option(min=0, help="Its offset.")] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Also check this consumer group.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Show, per subscribing group, whether an event is delivered, pending or dead-lettered."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    given = (topic, partition, offset)
    if any(v is not None for v in given) and not all(v is not None for v in given):
        _common.err.print("[bold red]error:[/] give --topic, --partition and --offset together")
        raise typer.Exit(2)
    with _common.bus_errors():
        report = asyncio.run(
            _trace(settings, catalog, event_id, topic, partition, offset, group or [])
        )
    if as_json:
        _common.write_json(report.to_dict())
        return
    _common.out.print(render(report))


async def _trace(  # noqa: PLR0917 - the command's options, in order
    settings: BusSettings,
    catalog: Catalog,
    event_id: str,
    topic: str | None,
    partition: int | None,
    offset: int | None,
    groups: list[str],
) -> DeliveryReport:
    if topic is not None and partition is not None and offset is not None:
        event_type = catalog.event_type(topic)
        event = PublishedEvent(
            event_id, event_type.type, event_type.owner, topic, partition, offset
        )
    else:
        event = await find_publication(settings.database_dsn, event_id)
    return await trace_event(event, settings=settings, catalog=catalog, groups=groups)


def render(report: DeliveryReport) -> Table:
    """A table with one row per subscribing group, titled with the summary."""
    e = report.event
    table = Table(
        "system", "group", "state", "committed", "detail",
        title=f"{e.event_type} {e.event_id} at {e.topic}[{e.partition}]@{e.offset}: "
        f"{report.summary}",
    )  # fmt: skip
    for d in report.deliveries:
        table.add_row(
            d.system,
            d.group,
            Text(d.state.value, style=_STYLE[d.state]),
            "-" if d.committed is None else str(d.committed),
            d.detail,
        )
    return table
