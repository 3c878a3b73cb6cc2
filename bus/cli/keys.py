"""`bus keys ...`: API keys of the HTTP ingress (one system per key; only a hash is stored)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from bus.cli import _common
from bus.database import Connection
from bus.pdp import PDP_OFFICER

keys_app = typer.Typer(help="API keys for the HTTP ingress.")

T = TypeVar("T")

Dsn = Annotated[
    str | None,
    typer.Option(
        "--dsn", envvar="BUS_DATABASE_DSN", help="PostgreSQL DSN of the bus's own database."
    ),
]


def _with_connection(dsn: str | None, work: Callable[[Connection], Awaitable[T]]) -> T:
    if not dsn:
        _common.err.print("[bold red]error:[/] set BUS_DATABASE_DSN or pass --dsn")
        raise typer.Exit(1)

    async def _run() -> T:
        import asyncpg

        from bus.ingress import keys

        conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
        try:
            await keys.ensure_schema(conn)
            return await work(conn)
        finally:
            await conn.close()

    import asyncpg

    try:
        return asyncio.run(_run())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        _common.err.print(f"[bold red]error:[/] cannot use the bus database: {exc}")
        raise typer.Exit(1) from None


@keys_app.command("create")
def create(
    system: Annotated[
        str, typer.Option("--system", help="Catalog id of the key's system, or pdp-officer.")
    ],
    dsn: Dsn = None,
    description: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create a key for SYSTEM and print it once on stdout; only its hash is stored."""
    from bus.ingress import keys

    loaded = _common.settings()
    with _common.bus_errors():
        if system != PDP_OFFICER:  # the officer's own key (`bus pdp`), not a system's
            _common.catalog(loaded).system(system)
    issued = _with_connection(
        dsn or loaded.database_dsn,
        lambda conn: keys.create_key(conn, system, description=description),
    )
    _common.err.print(
        f"key [bold]{issued.key_id}[/] for {issued.system_id}; it is shown only now, store it"
    )
    print(issued.token)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="Key id, as shown by `bus keys list`.")],
    dsn: Dsn = None,
) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    from bus.ingress import keys

    loaded = _common.settings()
    if not _with_connection(dsn or loaded.database_dsn, lambda c: keys.revoke_key(c, key_id)):
        _common.err.print(f"[bold red]error:[/] no active key {key_id!r}")
        raise typer.Exit(1)
    _common.out.print(f"key {key_id} revoked")


@keys_app.command("list")
def list_(
    dsn: Dsn = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List keys (ids, systems, state); secrets are never shown."""
    from bus.ingress import keys

    loaded = _common.settings()
    found = _with_connection(dsn or loaded.database_dsn, keys.list_keys)
    if as_json:
        _common.write_json(
            [
                {
                    "key_id": k.key_id,
                    "system": k.system_id,
                    "description": k.description,
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k in found
            ]
        )
        return
    listing = _common.Listing(
        "API keys", ("key id", "system", "created", "state", "description"), identifiers=2
    )
    for k in found:
        listing.add(
            k.key_id,
            k.system_id,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}",
            k.description,
        )
    listing.print()
