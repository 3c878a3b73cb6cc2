"""The replay audit: every replay started from the dashboard, with who, when and what.

    await ensure_schema(conn)
    await record_replay(conn, Replay(operator="rina", group="bapenda.sipd", ...))
    rows = await recent_replays(conn, limit=20)

Lives in the bus's own PostgreSQL database (`BUS_DATABASE_DSN`). It names dead letters by
position and event id only, never by their data. Table:

    bus_monitor_replays(
        id bigserial PRIMARY KEY, replayed_at timestamptz DEFAULT now(), operator text,
        consumer_group text, target_topic text, positions text[], event_ids text[]
    )
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.database import Connection

__all__ = ["Replay", "ensure_schema", "last_replays_of", "recent_replays", "record_replay"]

DDL = """
CREATE TABLE IF NOT EXISTS bus_monitor_replays (
    id             bigserial PRIMARY KEY,
    replayed_at    timestamptz NOT NULL DEFAULT now(),
    operator       text NOT NULL,
    consumer_group text NOT NULL,
    target_topic   text NOT NULL,
    positions      text[] NOT NULL,
    event_ids      text[] NOT NULL
);
"""

# See bus.publication_log: concurrent CREATE TABLE IF NOT EXISTS can collide without it.
_SCHEMA_LOCK = 0x0B05_0016


@dataclass(frozen=True)
class Replay:
    """One replay from the dashboard: who asked, which group, which dead letters, to where."""

    operator: str
    group: str
    target_topic: str
    positions: tuple[str, ...]
    event_ids: tuple[str, ...]
    replayed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields for the dashboard."""
        return {
            "operator": self.operator,
            "group": self.group,
            "target_topic": self.target_topic,
            "positions": list(self.positions),
            "event_ids": list(self.event_ids),
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
        }


async def ensure_schema(conn: Connection) -> None:
    """Create the audit table if it does not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(DDL)


async def record_replay(conn: Connection, replay: Replay) -> Replay:
    """Insert one audit row; returns it with the database's `replayed_at`."""
    replayed_at = await conn.fetchval(
        "INSERT INTO bus_monitor_replays "
        "(operator, consumer_group, target_topic, positions, event_ids) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING replayed_at",
        replay.operator,
        replay.group,
        replay.target_topic,
        list(replay.positions),
        list(replay.event_ids),
    )
    return Replay(
        replay.operator,
        replay.group,
        replay.target_topic,
        replay.positions,
        replay.event_ids,
        replayed_at,
    )


_COLUMNS = "operator, consumer_group, target_topic, positions, event_ids, replayed_at"


async def recent_replays(conn: Connection, limit: int = 20) -> list[Replay]:
    """The newest audit rows, newest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM bus_monitor_replays ORDER BY replayed_at DESC, id DESC LIMIT $1",
        limit,
    )
    return [_replay(r) for r in rows]


async def last_replays_of(conn: Connection, group: str) -> dict[str, Replay]:
    """Per dead-letter position of `group`, the latest replay that sent it."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM bus_monitor_replays WHERE consumer_group = $1 ORDER BY id",
        group,
    )
    return {position: replay for replay in map(_replay, rows) for position in replay.positions}


def _replay(row: Any) -> Replay:
    return Replay(
        row["operator"],
        row["consumer_group"],
        row["target_topic"],
        tuple(row["positions"]),
        tuple(row["event_ids"]),
        row["replayed_at"],
    )
