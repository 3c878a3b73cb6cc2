"""`bus pdp ...`: a data subject's processing report, and restricting processing (UU 27/2022).

Every command is written to the audit log under `--by`. A NIK given as `-` is read from stdin,
which keeps it out of the shell's history and the process list.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

import typer

from bus.cli import _common
from bus.database import Connection

pdp_app = typer.Typer(help="Personal data: processing report per person, restrictions.")

T = TypeVar("T")

Nik = Annotated[str, typer.Option("--nik", help="The person's NIK (16 digits), or - for stdin.")]
By = Annotated[str, typer.Option("--by", help="Who asks: the officer's name or id (audited).")]


def _nik(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value.strip()


def _run(work: Callable[[Connection], Awaitable[T]]) -> T:
    import asyncpg

    from bus.pdp.store import ensure_schema
    from bus.publication_log import ensure_schema as ensure_log

    loaded = _common.settings()
    if not loaded.database_dsn:
        _common.err.print("[bold red]error:[/] set BUS_DATABASE_DSN (the bus's own database)")
        raise typer.Exit(1)
    dsn = loaded.database_dsn

    async def run() -> T:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn, timeout=10)
        try:
            await ensure_log(conn)
            await ensure_schema(conn)
            return await work(conn)
        finally:
            await conn.close()

    with _common.bus_errors():
        try:
            return asyncio.run(run())
        except (OSError, asyncpg.PostgresError) as exc:
            _common.err.print(f"[bold red]error:[/] cannot use the bus database: {exc}")
            raise typer.Exit(1) from None


@pdp_app.command("report")
def report(
    nik: Nik,
    by: By,
    output: Annotated[
        Literal["json", "csv"], typer.Option("--format", help="json or csv.")
    ] = "json",
) -> None:
    """Which events carried a person's data, who received which fields, when, and why."""
    from bus.pdp.report import processing_report

    catalog = _common.catalog(_common.settings())
    value = _nik(nik)
    found = _run(lambda conn: processing_report(conn, value, catalog, actor=by))
    if output == "csv":
        sys.stdout.write(found.csv())
    else:
        _common.write_json(found.to_dict())


@pdp_app.command("restrict")
def restrict(
    nik: Nik,
    system: Annotated[
        list[str], typer.Option("--system", help="A system that must stop receiving (repeat).")
    ],
    by: By,
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. the request's number).")],
) -> None:
    """Stop delivering events about a person to the named systems, until lifted."""
    from bus.errors import BusError
    from bus.pdp.store import restrict as record
    from bus.privacy.subjects import subject_token

    catalog = _common.catalog(_common.settings())
    value = _nik(nik)
    with _common.bus_errors():
        if not (value.isdigit() and len(value) == 16):
            raise BusError("nik must be 16 digits")
        for name in system:
            catalog.system(name)
    restriction = _run(
        lambda conn: record(conn, subject_token(value), system, requested_by=by, reason=reason)
    )
    _common.out.print(
        f"restriction {restriction.id}: no more deliveries to {', '.join(restriction.systems)} "
        "until `bus pdp lift` is run",
        highlight=False,
    )


@pdp_app.command("lift")
def lift(
    restriction_id: Annotated[int, typer.Argument(help="The restriction's id.")],
    by: By,
    reason: Annotated[str, typer.Option("--reason", help="Why it is lifted.")],
) -> None:
    """Lift a restriction: deliveries resume with the next event."""
    from bus.pdp.store import lift as record

    done = _run(lambda conn: record(conn, restriction_id, lifted_by=by, reason=reason))
    _common.out.print(f"restriction {done.id} lifted", highlight=False)
