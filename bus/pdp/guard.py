"""A subscriber's part of the processing record: withhold restricted subjects, note outcomes.

    guard = SubjectGuard(dsn, system="dinkes.sikda", group="dinkes.sikda")
    await guard.start()                        # loads restrictions, LISTENs for changes
    subjects = guard.subjects(event_type, data)
    if subjects and guard.withholds(subjects): ...   # not delivered, noted as withheld
    guard.note(subjects, event_id, "delivered")
    await guard.flush()                        # before the offsets are committed

Only events of types with subject fields (a NIK) cost anything; the restricted set is held in
memory and reloaded whenever a restriction changes (NOTIFY), so a check is a set look-up.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from bus.database import create_pool
from bus.logging import get_logger
from bus.pdp.store import CHANNEL, Outcome, active_restrictions, ensure_schema, record_outcomes
from bus.privacy.subjects import subjects_of

__all__ = ["SubjectGuard"]

log = get_logger("bus.pdp")


class SubjectGuard:
    """Restrictions and processing outcomes of one consumer group of one system."""

    def __init__(self, dsn: str, *, system: str, group: str) -> None:
        self.dsn = dsn
        self.system = system
        self.group = group
        #: Subject token → id of the active restriction that names this system.
        self.restricted: dict[str, int] = {}
        self._pending: list[tuple[str, str, str, str, Outcome, str]] = []
        self._pool: asyncpg.Pool[Any] | None = None
        self._listener: asyncpg.Connection[Any] | None = None

    async def start(self) -> None:
        """Create the tables if needed, load the active restrictions, LISTEN for changes."""
        self._pool = await create_pool(self.dsn, max_size=2)
        async with self._pool.acquire() as conn:
            await ensure_schema(conn)
        self._listener = await asyncpg.connect(self.dsn, timeout=10)
        await self._listener.add_listener(CHANNEL, self._changed)
        await self.reload()

    async def stop(self) -> None:
        """Write what is pending and close the connections."""
        try:
            await self.flush()
        finally:
            if self._listener is not None:
                await self._listener.close()
                self._listener = None
            if self._pool is not None:
                await self._pool.close()
                self._pool = None

    async def reload(self) -> None:
        """Read the active restrictions naming this system."""
        assert self._pool is not None
        async with self._pool.acquire() as conn:
            found = await active_restrictions(conn, self.system)
        self.restricted = {r.subject: r.id for r in found}

    def _changed(self, *_: object) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        task.add_done_callback(
            lambda t: (
                t.cancelled()
                or t.exception() is None
                or log.warning("restrictions not reloaded", error=repr(t.exception()))
            )
        )

    @staticmethod
    def subjects(event_type: str, data: object) -> tuple[str, ...]:
        """Subject tokens of an event's data; () for types that carry no NIK."""
        return subjects_of(event_type, data)

    def withholds(self, subjects: tuple[str, ...]) -> int | None:
        """The id of a restriction that stops this event for this system, if any."""
        for subject in subjects:
            if (restriction := self.restricted.get(subject)) is not None:
                return restriction
        return None

    def note(
        self, subjects: tuple[str, ...], event_id: str, outcome: Outcome, detail: str = ""
    ) -> None:
        """Remember an outcome, written by the next `flush`."""
        self._pending.extend(
            (subject, event_id, self.group, self.system, outcome, detail) for subject in subjects
        )

    async def flush(self) -> None:
        """Write the remembered outcomes; raises if the database refuses (nothing is committed)."""
        if not self._pending or self._pool is None:
            return
        rows, self._pending = self._pending, []
        try:
            async with self._pool.acquire() as conn:
                await record_outcomes(conn, rows)
        except BaseException:
            self._pending[:0] = rows
            raise
