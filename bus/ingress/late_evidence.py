"""Evidence the ingress could not write after the broker acknowledged: written later, not lost.

Once the broker has acknowledged an event it is published; answering 503 then would be false,
and a client retrying without an Idempotency-Key would publish it a second time. So when the
publication-log insert (or the completion of an idempotency record) fails after the
acknowledgement, the ingress answers 202 and hands the rows here:

    late = LateEvidence(pool)
    late.add(publications, completion=(system_id, key, response))   # never raises
    await late.close()                                                # a last attempt

A background task retries them every `retry_s` seconds until they are written. What is still
unwritten when the process stops is logged by event id (never data), so an operator can
restore it from the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from bus import publication_log
from bus.ingress import idempotency
from bus.logging import get_logger

log = get_logger("bus.ingress")

__all__ = ["Completion", "LateEvidence"]

#: (system id, idempotency key, response) of a request whose stored response is still missing.
Completion = tuple[str, str, Any]


class LateEvidence:
    """Publication-log rows and idempotency responses retried until the database takes them."""

    def __init__(self, pool: asyncpg.Pool[Any], retry_s: float = 1.0) -> None:
        self._pool = pool
        self._retry_s = retry_s
        self._rows: list[publication_log.Publication] = []
        self._completions: list[Completion] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Rows and responses not written yet."""
        return len(self._rows) + len(self._completions)

    def add(
        self,
        publications: list[publication_log.Publication],
        completion: Completion | None = None,
    ) -> None:
        """Keep `publications` (and `completion`) to write them as soon as the database can."""
        self._rows += publications
        if completion is not None:
            self._completions.append(completion)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="late-evidence")

    async def close(self) -> None:
        """Stop retrying after one last attempt; log what could not be written."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        with contextlib.suppress(Exception):
            await self._write()
        if self.pending:
            log.error(
                "ingress.evidence_unwritten",
                event_ids=[row.event_id for row in self._rows],
                idempotency_keys=len(self._completions),
            )

    async def _run(self) -> None:
        while self.pending:
            await asyncio.sleep(self._retry_s)
            try:
                await self._write()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("ingress.evidence_retry", error=str(exc), pending=self.pending)

    async def _write(self) -> None:
        rows, completions = list(self._rows), list(self._completions)
        if not rows and not completions:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            if rows:
                await publication_log.record_publications(conn, rows)
            for system_id, key, response in completions:
                await idempotency.complete(conn, system_id, key, response)
        del self._rows[: len(rows)]
        del self._completions[: len(completions)]
        log.info("ingress.evidence_written", events=len(rows), idempotency_keys=len(completions))
