"""The processing record's tables in the bus's own database: outcomes, restrictions, audit.

    bus_pdp_processing(subject, event_id, consumer_group, system, outcome, at, detail)
        one row per event about a person per consuming group: delivered, failed or withheld
    bus_pdp_restrictions(id, subject, systems, requested_by, reason, created_at,
                         lifted_at, lifted_by, lift_reason)
    bus_pdp_audit(id, at, action, actor, subject, detail)

`subject` is always the keyed token of a NIK (`bus.privacy.subjects.subject_token`), never the
NIK. Every change to a restriction NOTIFYs `bus_pdp_restrictions`, which subscribers LISTEN on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bus.database import Connection
from bus.errors import BusError

__all__ = [
    "CHANNEL",
    "Outcome",
    "Restriction",
    "active_restrictions",
    "audit",
    "ensure_schema",
    "lift",
    "record_outcomes",
    "restrict",
]

Outcome = Literal["delivered", "failed", "withheld"]
#: NOTIFY channel of restriction changes.
CHANNEL = "bus_pdp_restrictions"

DDL = """
CREATE TABLE IF NOT EXISTS bus_pdp_processing (
    subject        text NOT NULL,
    event_id       text NOT NULL,
    consumer_group text NOT NULL,
    system         text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'withheld')),
    at             timestamptz NOT NULL DEFAULT now(),
    detail         text NOT NULL DEFAULT '',
    PRIMARY KEY (subject, event_id, consumer_group, outcome)
);
CREATE TABLE IF NOT EXISTS bus_pdp_restrictions (
    id           bigserial PRIMARY KEY,
    subject      text NOT NULL,
    systems      text[] NOT NULL,
    requested_by text NOT NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    lifted_at    timestamptz,
    lifted_by    text,
    lift_reason  text
);
CREATE INDEX IF NOT EXISTS bus_pdp_restrictions_active
    ON bus_pdp_restrictions (subject) WHERE lifted_at IS NULL;
CREATE TABLE IF NOT EXISTS bus_pdp_audit (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    action  text NOT NULL,
    actor   text NOT NULL,
    subject text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'
);
"""
_SCHEMA_LOCK = 0x0B05_0013


async def ensure_schema(conn: Connection) -> None:
    """Create the processing record's tables if they do not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(DDL)


@dataclass(frozen=True)
class Restriction:
    """A data subject's request to stop delivery of their events to some systems."""

    id: int
    subject: str
    systems: tuple[str, ...]
    requested_by: str
    reason: str
    created_at: datetime
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the subject stays a token)."""
        return {
            "id": self.id,
            "systems": list(self.systems),
            "requested_by": self.requested_by,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "lifted_at": self.lifted_at.isoformat() if self.lifted_at else None,
            "lifted_by": self.lifted_by,
            "lift_reason": self.lift_reason,
        }


def _restriction(row: Any) -> Restriction:
    return Restriction(
        id=row["id"],
        subject=row["subject"],
        systems=tuple(row["systems"]),
        requested_by=row["requested_by"],
        reason=row["reason"],
        created_at=row["created_at"],
        lifted_at=row["lifted_at"],
        lifted_by=row["lifted_by"],
        lift_reason=row["lift_reason"],
    )


async def audit(
    conn: Connection, action: str, actor: str, subject: str, detail: dict[str, Any]
) -> None:
    """Append one action (report, restrict, lift) to the audit log."""
    await conn.execute(
        "INSERT INTO bus_pdp_audit (action, actor, subject, detail) VALUES ($1, $2, $3, $4)",
        action,
        actor,
        subject,
        json.dumps(detail),
    )


async def restrict(
    conn: Connection, subject: str, systems: Sequence[str], *, requested_by: str, reason: str
) -> Restriction:
    """Record a restriction, audit it and tell the subscribers, in one transaction."""
    if not systems:
        raise BusError("name at least one system whose deliveries stop (--system)")
    if not requested_by.strip() or not reason.strip():
        raise BusError("a restriction records who asked (--by) and why (--reason)")
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO bus_pdp_restrictions (subject, systems, requested_by, reason) "
            "VALUES ($1, $2, $3, $4) RETURNING *",
            subject,
            sorted(set(systems)),
            requested_by.strip(),
            reason.strip(),
        )
        restriction = _restriction(row)
        await audit(conn, "restrict", requested_by, subject, restriction.to_dict())
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return restriction


async def lift(
    conn: Connection, restriction_id: int, *, lifted_by: str, reason: str
) -> Restriction:
    """Lift an active restriction; deliveries resume with the next event."""
    if not lifted_by.strip() or not reason.strip():
        raise BusError("lifting a restriction records who (--by) and why (--reason)")
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE bus_pdp_restrictions SET lifted_at = now(), lifted_by = $2, lift_reason = $3 "
            "WHERE id = $1 AND lifted_at IS NULL RETURNING *",
            restriction_id,
            lifted_by.strip(),
            reason.strip(),
        )
        if row is None:
            raise BusError(f"no active restriction with id {restriction_id}")
        restriction = _restriction(row)
        await audit(conn, "lift", lifted_by, restriction.subject, restriction.to_dict())
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return restriction


async def active_restrictions(conn: Connection, system: str | None = None) -> list[Restriction]:
    """Restrictions not lifted, all or only those naming `system`."""
    rows = await conn.fetch(
        "SELECT * FROM bus_pdp_restrictions WHERE lifted_at IS NULL "
        "AND ($1::text IS NULL OR $1 = ANY (systems)) ORDER BY id",
        system,
    )
    return [_restriction(r) for r in rows]


async def record_outcomes(
    conn: Connection, rows: Iterable[tuple[str, str, str, str, Outcome, str]]
) -> None:
    """Insert (subject, event id, group, system, outcome, detail) rows; repeats keep the first."""
    batch = list(rows)
    if batch:
        await conn.executemany(
            "INSERT INTO bus_pdp_processing (subject, event_id, consumer_group, system, outcome, "
            "detail) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            batch,
        )
