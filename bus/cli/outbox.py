"""`bus outbox ...`: create the outbox table in an OPD database and relay it to Kafka."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, Any

import typer

from bus.cli import _common

outbox_app = typer.Typer(help="Transactional outbox: publish events written in your database.")

Dsn = Annotated[
    str,
    typer.Option("--dsn", envvar="BUS_OUTBOX_DSN", help="PostgreSQL DSN of the OPD's database."),
]


@outbox_app.command("init")
def init(dsn: Dsn) -> None:
    """Create the `bus_outbox` table and its indexes (safe to run again)."""
    from bus.outbox import ensure_schema

    _common.settings()

    async def _init() -> None:
        import asyncpg

        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
        try:
            await ensure_schema(conn)
        finally:
            await conn.close()

    import asyncpg

    try:
        asyncio.run(_init())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _common.err.print(f"[bold red]error:[/] cannot create the outbox table: {exc}")
        raise typer.Exit(1) from None
    _common.out.print("outbox table bus_outbox is ready")


@outbox_app.command("schema")
def schema() -> None:
    """Print the outbox DDL, to apply it with your own migration tool."""
    from bus.outbox import schema_sql

    _common.out.print(schema_sql(), highlight=False, markup=False)


@outbox_app.command("relay")
def relay(
    dsn: Dsn,
    system: Annotated[
        str | None, typer.Option(help="Relay only this system's rows (default: all rows).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per round.")] = 500,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between polls when no NOTIFY arrives.")
    ] = 1.0,
    ack_timeout: Annotated[
        float,
        typer.Option(
            min=0.5,
            help="Seconds a round waits for the broker's acknowledgements with its rows "
            "claimed; unacknowledged rows are tried again in a later round.",
        ),
    ] = 10.0,
) -> None:
    """Publish unsent outbox rows in order per key until Ctrl-C; several relays may run."""
    loaded = _common.settings()  # before importing the relay: its logger binds the config
    from bus.outbox import OutboxRelay

    if system is not None:
        _common.catalog(loaded).system(system)  # an unknown system fails now, not per row

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = OutboxRelay(
            dsn,
            settings=loaded,
            system=system,
            batch_size=batch_size,
            poll_interval=poll_interval,
            ack_timeout_s=ack_timeout,
        )
        _common.log.info("outbox relay started", bootstrap_servers=loaded.bootstrap_servers)
        await runner.run(stop)
        _common.log.info("outbox relay stopped", sent=runner.stats.sent)

    with _common.bus_errors():
        asyncio.run(_run())


@outbox_app.command("failed")
def failed(
    dsn: Dsn,
    system: Annotated[
        str | None, typer.Option(help="Only this system's rows (default: all rows).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many rows.")] = 100,
) -> None:
    """List rows the relay refused (never published), newest first, with the reason."""
    loaded = _common.settings()
    from rich.table import Table

    from bus.outbox import OutboxRelay

    async def _list() -> list[Any]:
        runner = OutboxRelay(dsn, settings=loaded, system=system)
        try:
            return await runner.refused_rows(limit)
        finally:
            await runner.close()

    import asyncpg

    with _common.bus_errors():
        try:
            rows = asyncio.run(_list())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _common.err.print(f"[bold red]error:[/] cannot read the outbox table: {exc}")
            raise typer.Exit(1) from None
    if not rows:
        _common.out.print("no refused outbox rows")
        return
    table = Table("id", "event id", "event type", "system", "refused at", "reason")
    for row in rows:
        table.add_row(
            str(row.id),
            row.event_id,
            row.event_type,
            row.source_system,
            row.failed_at.isoformat(timespec="seconds"),
            row.last_error,
        )
    _common.out.print(table)
    _common.err.print(
        f"{len(rows)} refused row(s); fix the row and set failed_at = NULL to send it again"
    )
