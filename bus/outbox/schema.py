"""The outbox table's DDL, shipped as `bus/outbox/schema.sql` and applied by `bus outbox init`."""

from __future__ import annotations

from importlib import resources

from bus.database import Connection

#: Table the outbox helper writes and the relay reads.
TABLE = "bus_outbox"
#: LISTEN/NOTIFY channel `add_event` notifies on commit, so relays wake at once.
CHANNEL = "bus_outbox"

_SCHEMA_LOCK = 0x0B05_0002


def schema_sql() -> str:
    """The DDL of the outbox table and its indexes (idempotent: `IF NOT EXISTS`)."""
    return resources.files("bus.outbox").joinpath("schema.sql").read_text(encoding="utf-8")


async def ensure_schema(conn: Connection) -> None:
    """Create the outbox table and indexes if they do not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(schema_sql())
