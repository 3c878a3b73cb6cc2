"""Webhook endpoint states: what each push endpoint's circuit breaker says, for the dashboard.

    await ensure_schema(conn)
    await report_endpoint(conn, EndpointState("bapenda.sipd.izin", "bapenda.sipd", "open", ...))
    states = await read_endpoints(conn)

The webhook adapter writes a row whenever an endpoint's state changes (and after attempts, so
`last_attempt_at` stays fresh); `bus monitor` reads them every scan. One row per endpoint, in
the bus's own PostgreSQL database. `endpoint` is a name (the subscription's group, or group and
host), never a URL with its query string, which may carry a secret. Table:

    bus_webhook_endpoints(
        endpoint text PRIMARY KEY, consumer_group text, system text,
        state text  -- 'closed' (delivering) | 'open' (circuit open) | 'half_open' (probing)
                    -- | 'disabled' (the receiver answered 410)
        consecutive_failures int, last_status int, last_error_class text,
        last_attempt_at timestamptz, last_success_at timestamptz, updated_at timestamptz
    )
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bus.database import Connection

__all__ = ["EndpointState", "State", "ensure_schema", "read_endpoints", "report_endpoint"]

State = Literal["closed", "open", "half_open", "disabled"]

DDL = """
CREATE TABLE IF NOT EXISTS bus_webhook_endpoints (
    endpoint             text PRIMARY KEY,
    consumer_group       text NOT NULL,
    system               text NOT NULL,
    state                text NOT NULL
                         CHECK (state IN ('closed', 'open', 'half_open', 'disabled')),
    consecutive_failures int NOT NULL DEFAULT 0,
    last_status          int,
    last_error_class     text,
    last_attempt_at      timestamptz,
    last_success_at      timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
"""

_SCHEMA_LOCK = 0x0B05_0015


@dataclass(frozen=True)
class EndpointState:
    """One endpoint as its adapter last reported it. Error class only: messages may be personal."""

    endpoint: str
    group: str
    system: str
    state: State
    consecutive_failures: int = 0
    last_status: int | None = None
    last_error_class: str | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "endpoint": self.endpoint,
            "group": self.group,
            "system": self.system,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "last_status": self.last_status,
            "last_error_class": self.last_error_class,
            "last_attempt_at": _iso(self.last_attempt_at),
            "last_success_at": _iso(self.last_success_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def ensure_schema(conn: Connection) -> None:
    """Create the table if it does not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(DDL)


async def report_endpoint(conn: Connection, state: EndpointState) -> None:
    """Insert or replace the row of `state.endpoint`."""
    await conn.execute(
        "INSERT INTO bus_webhook_endpoints (endpoint, consumer_group, system, state, "
        "consecutive_failures, last_status, last_error_class, last_attempt_at, last_success_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (endpoint) DO UPDATE SET "
        "consumer_group = EXCLUDED.consumer_group, system = EXCLUDED.system, "
        "state = EXCLUDED.state, consecutive_failures = EXCLUDED.consecutive_failures, "
        "last_status = EXCLUDED.last_status, last_error_class = EXCLUDED.last_error_class, "
        "last_attempt_at = EXCLUDED.last_attempt_at, last_success_at = EXCLUDED.last_success_at, "
        "updated_at = now()",
        state.endpoint,
        state.group,
        state.system,
        state.state,
        state.consecutive_failures,
        state.last_status,
        state.last_error_class,
        state.last_attempt_at,
        state.last_success_at,
    )


async def read_endpoints(conn: Connection) -> list[EndpointState]:
    """Every endpoint's latest state, by endpoint name; none if the table does not exist yet."""
    exists = await conn.fetchval("SELECT to_regclass('bus_webhook_endpoints') IS NOT NULL")
    if not exists:
        return []
    rows = await conn.fetch(
        "SELECT endpoint, consumer_group, system, state, consecutive_failures, last_status, "
        "last_error_class, last_attempt_at, last_success_at FROM bus_webhook_endpoints "
        "ORDER BY endpoint"
    )
    return [
        EndpointState(
            r["endpoint"],
            r["consumer_group"],
            r["system"],
            r["state"],
            r["consecutive_failures"],
            r["last_status"],
            r["last_error_class"],
            r["last_attempt_at"],
            r["last_success_at"],
        )
        for r in rows
    ]
