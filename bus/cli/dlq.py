"""`bus dlq ...`: list, show and replay the dead letters of consumer groups."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table

from bus.cli import _common
from bus.config import BusSettings
from bus.errors import BusError
from bus.privacy import redact_text

if TYPE_CHECKING:
    from bus.dlq import DeadLetter, ReplayReport

# bus.dlq is imported inside the functions, after `_common.settings()` has configured logging:
# loggers take their configuration when they are made.

dlq_app = typer.Typer(help="Dead letters: events a consumer group gave up on, and their replay.")

GroupOption = Annotated[
    str | None, typer.Option("--group", "-g", help="Only this consumer group's dead letters.")
]
TopicOption = Annotated[
    str | None,
    typer.Option("--topic", "-t", help="Only dead letters that came from this source topic."),
]


@dlq_app.command("list")
def list_(
    group: GroupOption = None,
    topic: TopicOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """List dead letters: where they came from, why they failed, how often."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    with _common.bus_errors():
        if topic is not None:
            catalog.topic(topic)  # an unknown topic is an error, not an empty list
        letters = asyncio.run(_letters(settings, group, topic))
    if as_json:
        _common.write_json([letter.summary() for letter in letters])
        return
    listing = _common.Listing(
        "Dead letters",
        ("position", "event id", "from", "error", "attempts", "last failure"),
        identifiers=3,
    )
    for letter in letters:
        f = letter.failure
        listing.add(
            letter.position,
            letter.event_id,
            f"{f.original_topic}:{f.original_partition}:{f.original_offset}",
            f"{f.error_class}: {f.error_message[:80]}",
            str(f.attempts),
            f.last_failure_at.isoformat(timespec="seconds"),
        )
    listing.print()
    _common.out.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="TOPIC:PARTITION:OFFSET (from `list`) or event id.")],
    group: GroupOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Show one dead letter with every header; personal data fields are masked."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    with _common.bus_errors():
        letters = asyncio.run(_letters(settings, group, None))
        found = [letter for letter in letters if ref in (letter.position, letter.event_id)]
        if not found:
            raise BusError(f"no dead letter {ref!r}; `bus dlq list` shows what there is")
    letter = found[-1]
    document = {
        **letter.summary(),
        # The key may be a NIK (an event keyed by resident), and a header anything.
        "key": None if letter.key is None else redact_text(letter.key.decode(errors="replace")),
        "headers": {n: redact_text(raw.decode(errors="replace")) for n, raw in letter.headers},
        "data": letter.masked_data(catalog),
    }
    if as_json:
        _common.write_json(document)
        return
    # Values fold onto the next line rather than end in "…": ids and positions stay complete.
    table = Table(
        Column("field", no_wrap=True),
        Column("value", overflow="fold"),
        title=f"Dead letter {letter.position}",
        show_header=False,
    )
    for name in ("position", "key"):
        table.add_row(name, str(document[name]))
    for name, value in document["headers"].items():
        table.add_row(name, value)
    table.add_row("data", str(document["data"]))
    _common.out.print(table)


@dlq_app.command("replay")
def replay_(
    group: GroupOption = None,
    topic: TopicOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be replayed; send nothing.")
    ] = False,
) -> None:
    """Send dead letters back to their group's retry path, once, with their original ids."""
    settings = _common.settings()
    catalog = _common.catalog(settings)
    with _common.bus_errors():
        if topic is not None:
            catalog.topic(topic)
        reports = asyncio.run(_replay(settings, group, topic, dry_run))
    for report in reports:
        verb = "would replay" if report.dry_run else "replayed"
        _common.out.print(
            f"{report.group}: {verb} {len(report.replayed)} dead letter(s) to {report.target}"
            + (f", {report.skipped} of other topics left" if report.skipped else "")
            + (
                f"; {report.expired} older dead letter(s) expired (past the DLQ's retention) "
                "before they could be replayed"
                if report.expired
                else ""
            ),
            highlight=False,
        )
        if report.dry_run:
            for letter in report.replayed:
                _common.out.print(f"  {letter.position}  {letter.event_id}", highlight=False)


async def _letters(settings: BusSettings, group: str | None, topic: str | None) -> list[DeadLetter]:
    from bus.dlq import dlq_topics, read_dead_letters

    topics = await dlq_topics(settings, group)
    if group is not None and not topics:
        raise BusError(f"group {group!r} has no dead-letter topic")
    letters = await read_dead_letters(settings, topics)
    if topic is not None:
        letters = [letter for letter in letters if letter.failure.original_topic == topic]
    return letters


async def _replay(
    settings: BusSettings, group: str | None, topic: str | None, dry_run: bool
) -> list[ReplayReport]:
    from bus.dlq import dlq_topics, replay
    from bus.reliability.naming import group_of_dlq

    topics = await dlq_topics(settings, group)
    if not topics:
        raise BusError(
            f"group {group!r} has no dead-letter topic" if group else "no dead-letter topics"
        )
    reports = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_common.err,
        transient=False,
    ) as progress:
        for dlq in topics:
            name = group_of_dlq(dlq)
            task = progress.add_task(f"replaying {name}", total=None)

            def planned(total: int, task: TaskID = task) -> None:
                progress.update(task, total=total)

            def replayed(_letter: DeadLetter, task: TaskID = task) -> None:
                progress.advance(task)

            reports.append(
                await replay(
                    settings,
                    name,
                    original_topic=topic,
                    dry_run=dry_run,
                    on_planned=planned,
                    on_replayed=replayed,
                )
            )
    return reports
