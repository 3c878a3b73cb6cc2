"""`bus trace EVENT_ID`: did every subscribing system receive this event?"""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer
from rich.table import Table
from rich.text import Text

from bus.catalog import Catalog
from bus.cli import _common
from bus.config import BusSettings
from bus.tracking import DeliveryReport, DeliveryState, locate, trace_event
from bus.tracking.attempts import attempt_summaries
from bus.tracking.locate import SEARCH_TIMEOUT_S

_STYLE = {
    DeliveryState.DELIVERED: "green",
    DeliveryState.PENDING: "yellow",
    DeliveryState.DEAD_LETTERED: "bold red",
    DeliveryState.UNKNOWN: "bold magenta",
}


def trace(  # noqa: PLR0917 - Typer options, passed by name
    event_id: Annotated[
        str, typer.Argument(help="The event's id (CloudEvents `id`), or its first characters.")
    ],
    topic: Annotated[
        str | None,
        typer.Option(help="Where the event is (alone: the only topic to search for it)."),
    ] = None,
    partition: Annotated[int | None, typer.Option(min=0, help="Its partition.")] = None,
    offset: Annotated[int | None, typer.Option(min=0, help="Its offset.")] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Also check this consumer group.")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds allowed for each read of topics before answering 'unknown'."
        ),
    ] = SEARCH_TIMEOUT_S,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Show, per subscribing group, whether an event is delivered, pending or dead-lettered."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    if (partition is not None or offset is not None) and (
        topic is None or partition is None or offset is None
    ):
        _common.err.print(
            "[bold red]error:[/] give --partition and --offset together, with --topic"
        )
        raise typer.Exit(2)
    with _common.bus_errors():
        report = asyncio.run(
            _trace(settings, catalog, event_id, (topic, partition, offset), group or [], timeout)
        )
    if as_json:
        _common.write_json(report.to_dict())
        return
    _common.out.print(render(report))


async def _trace(  # noqa: PLR0917 - the command's options, in order
    settings: BusSettings,
    catalog: Catalog,
    event_id: str,
    position: tuple[str | None, int | None, int | None],
    groups: list[str],
    timeout_s: float,
) -> DeliveryReport:
    topic, partition, offset = position
    event = await locate(
        event_id,
        settings=settings,
        catalog=catalog,
        topic=topic,
        partition=partition,
        offset=offset,
        timeout_s=timeout_s,
    )
    report = await trace_event(
        event, settings=settings, catalog=catalog, groups=groups, timeout_s=timeout_s
    )
    if not settings.database_dsn:
        return report
    conn = await asyncpg.connect(settings.database_dsn, timeout=10)
    try:
        return report.with_http(await attempt_summaries(conn, event.event_id))
    finally:
        await conn.close()


def render(report: DeliveryReport) -> Table:
    """A table with one row per subscribing group, titled with the summary."""
    e = report.event
    table = Table(
        "system", "group", "state", "committed", "detail",
        title=f"{e.event_type} {e.event_id} at {e.topic}[{e.partition}]@{e.offset} "
        f"(from the {e.located_by}): {report.summary}",
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
