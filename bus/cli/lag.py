"""`bus lag`: how far behind every consumer group is, in events and in seconds, with its status."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Column, Table
from rich.text import Text

from bus.catalog import Catalog
from bus.cli import _common
from bus.config import BusSettings
from bus.lag import (
    LagHistory,
    LagReport,
    LagScanner,
    Status,
    active_only,
    candidate_groups,
    rules_from,
)

#: Colours of statuses in tables and on the dashboard.
STATUS_STYLE = {
    Status.OK: "green",
    Status.UNKNOWN: "cyan",
    Status.WARNING: "yellow",
    Status.REWIND: "magenta",
    Status.STALL: "dark_orange",
    Status.STOP: "bold red",
    Status.ERROR: "bold red reverse",
}


def lag(
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Only this group (repeatable).")
    ] = None,
    topic: Annotated[str | None, typer.Option("--topic", "-t", help="Only this topic.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Redraw until Ctrl-C.")] = False,
    interval: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds between scans with --watch.")
    ] = None,
) -> None:
    """Show consumer lag per group, topic and partition, with a Burrow-style status."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    with _common.bus_errors():
        asyncio.run(
            _run(
                settings,
                catalog,
                group or [],
                topic,
                as_json=as_json,
                watch=watch,
                interval=interval or settings.monitor_scan_interval_s,
            )
        )


async def _run(
    settings: BusSettings,
    catalog: Catalog,
    groups: list[str],
    topic: str | None,
    *,
    as_json: bool,
    watch: bool,
    interval: float,
) -> None:
    history = LagHistory(rules_from(settings))
    async with LagScanner(settings) as scanner:

        async def scan() -> LagReport:
            names = groups or await candidate_groups(scanner, catalog)
            return history.update(active_only(await scanner.scan(names, topic=topic), groups))

        if not watch:
            report = await scan()
            if as_json:
                _common.write_json(report.to_dict())
            else:
                _common.out.print(render(report))
                await _print_endpoints(settings)
            return
        live = None if as_json else Live(console=_common.out, auto_refresh=False)
        with live or contextlib.nullcontext(), contextlib.suppress(asyncio.CancelledError):
            while True:
                report = await scan()
                if live is None:
                    _common.write_json(report.to_dict())
                else:
                    live.update(render(report), refresh=True)
                await asyncio.sleep(interval)


async def _print_endpoints(settings: BusSettings) -> None:
    """Webhook endpoints whose circuit is not closed, or that a 410 disabled (from the bus
    database, when `BUS_DATABASE_DSN` is set): lag there is the receiver's, not the bus's."""
    if not settings.database_dsn:
        return
    import asyncpg

    from bus.tracking.webhook_endpoints import read_endpoints

    conn = await asyncpg.connect(settings.database_dsn, timeout=10)
    try:
        troubled = [e for e in await read_endpoints(conn) if e.state != "closed"]
    finally:
        await conn.close()
    if troubled:
        table = Table("group", "endpoint", "failures in a row", title="Webhook endpoints held back")
        for e in troubled:
            label = "disabled (410)" if e.state == "disabled" else f"circuit {e.state}"
            table.add_row(e.group, Text(label, style="bold red"), str(e.consecutive_failures))
        _common.out.print(table)


def render(report: LagReport) -> Group:
    """Rich tables of a lag report: one summary row per group, then its partitions."""
    summary = Table(
        "group", "status", _num("lag"), _num("lag (s)"), "members", "topics", "why",
        title="Consumer groups",
    )  # fmt: skip
    details = Table(
        "group", "topic", _num("partition"), _num("committed"), _num("end"), _num("lag"),
        _num("lag (s)"), "status",
        title="Partitions",
    )  # fmt: skip
    for group in report.groups:
        style = STATUS_STYLE[group.status]
        summary.add_row(
            group.group,
            Text(group.status.value, style=style),
            str(group.lag),
            f"{group.lag_seconds:.1f}",
            "\n".join(m.label for m in group.members) or "none",
            ", ".join(group.topics) or "-",
            group.detail,
        )
        for p in group.partitions:
            details.add_row(
                group.group,
                p.topic,
                str(p.partition),
                "-" if p.committed is None else str(p.committed),
                str(p.end),
                str(p.lag),
                f"{p.lag_seconds:.1f}",
                Text(p.status.value, style=STATUS_STYLE[p.status]),
            )
    if not report.groups:
        return Group(Text("no consumer groups found; name one with --group"))
    return Group(summary, details)


def _num(header: str) -> Column:
    return Column(header, justify="right")
