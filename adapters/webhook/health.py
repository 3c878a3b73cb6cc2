"""What the webhook adapter tells the operators about its endpoint: `bus_webhook_endpoints`.

One row per push delivery (named by its group, never by its URL, which may carry a token), in
the table the dashboard and `bus lag` read (`bus.tracking.webhook_endpoints`). The row is
written at once when the circuit changes or a 410 disables the endpoint, and otherwise at most
every `REFRESH_S` seconds, so that `last_attempt_at` stays fresh without a write per request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bus.tracking import webhook_endpoints
from bus.tracking.webhook_endpoints import EndpointState, State

#: Longest a fresh attempt waits before it shows in the endpoint's row.
REFRESH_S = 5.0


class EndpointHealth:
    """The endpoint's row: its state, failures in a row, last answer, last success."""

    def __init__(self, pool: asyncpg.Pool[Any], group: str, system: str) -> None:
        self.pool = pool
        self.row = EndpointState(group, group, system, "closed")
        self._written = -REFRESH_S

    async def load(self) -> State | None:
        """Create the table if needed; the state last reported for this endpoint, if any."""
        async with self.pool.acquire() as conn:
            await webhook_endpoints.ensure_schema(conn)
            rows = await webhook_endpoints.read_endpoints(conn)
        found = [row for row in rows if row.endpoint == self.row.endpoint]
        if found:
            self.row = found[0]
            return found[0].state
        return None

    async def attempted(self, status: int | None, error_class: str | None) -> None:
        """Note one attempt's answer (None: no answer, `error_class` says why)."""
        now = datetime.now(UTC)
        ok = status is not None and 200 <= status < 300
        self.row = EndpointState(
            self.row.endpoint,
            self.row.group,
            self.row.system,
            self.row.state,
            0 if ok else self.row.consecutive_failures + 1,
            status,
            None if ok else error_class,
            now,
            now if ok else self.row.last_success_at,
        )
        if time.monotonic() - self._written >= REFRESH_S:
            await self._write()

    async def became(self, state: State) -> None:
        """The endpoint's state changed: write it now."""
        row = self.row
        self.row = EndpointState(
            row.endpoint,
            row.group,
            row.system,
            state,
            row.consecutive_failures,
            row.last_status,
            row.last_error_class,
            row.last_attempt_at,
            row.last_success_at,
        )
        await self._write()

    async def _write(self) -> None:
        self._written = time.monotonic()
        async with self.pool.acquire() as conn:
            await webhook_endpoints.report_endpoint(conn, self.row)
