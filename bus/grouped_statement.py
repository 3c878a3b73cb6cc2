"""Grouped statements: the requests of concurrent callers run together, one statement for all.

    async def insert(conn: Connection, rows: list[Row]) -> list[None]: ...   # one result per row
    inserts = GroupedStatement(pool, insert, name="the publication log writer")
    await inserts(row)          # this caller's own result, or the statement's error
    inserts.statements          # how many times the statement ran (callers / statements)
    await inserts.close()       # callers still waiting get an error instead of waiting forever

With many callers in flight, a statement each costs a pool checkout, a round trip and a session
reset per caller. Here the requests that arrive while one statement runs wait together and all
go in the next, on one connection; each caller still gets exactly its own result, and the
statement's error is raised in every caller it carried, except where the error is about the
data (a constraint, a value the column refuses): then each request of the group runs again on
its own, so one bad request fails only its caller, not everyone who waited with it (the
failed statement was rolled back as a whole). A request always runs in a statement that
starts after it was made: once a caller returns, a later caller's statement sees its
effect. No task lingers between bursts: the one that runs the statements ends when nobody waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg

from bus.database import Connection

__all__ = ["GroupedStatement"]

Request = TypeVar("Request")
Result = TypeVar("Result")

#: Errors about the data of a request, not the database: another request's data may be fine.
_DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class GroupedStatement(Generic[Request, Result]):
    """Runs `statement(conn, requests)` for everyone waiting; it returns one result per request."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        statement: Callable[[Connection, list[Request]], Awaitable[Sequence[Result]]],
        *,
        name: str,
    ) -> None:
        self._pool = pool
        self._statement = statement
        self._name = name
        self._waiting: list[tuple[Request, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: How many times the statement ran, for tests and benchmarks: callers per statement.
        self.statements = 0

    async def __call__(self, request: Request) -> Result:
        """Run `request` with whatever else is waiting; returns its result or raises the error."""
        if self._closed:
            raise self._closed_error()
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=self._name)
        return await done

    async def close(self) -> None:
        """Stop; callers still waiting, or in a running statement, get an error."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._fail(self._take(), self._closed_error())

    async def _drain(self) -> None:
        # Runs while anyone waits; between two checks of `_waiting` nothing else runs, so a
        # caller either finds this task alive or starts a new one.
        while self._waiting:
            # A caller cancelled while it waited has left: its request is not run.
            group = [(request, done) for request, done in self._take() if not done.done()]
            if not group:
                continue
            try:
                results = await self._run(group)
            except asyncio.CancelledError:
                self._fail(group, self._closed_error())
                raise
            except _DATA_ERRORS as exc:
                if len(group) == 1:
                    self._fail(group, exc)
                    continue
                for one in group:  # find the bad request(s): each alone
                    try:
                        [result] = await self._run([one])
                    except _DATA_ERRORS as alone:
                        self._fail([one], alone)
                    else:
                        self._succeed([one], [result])
            except Exception as exc:
                self._fail(group, exc)
            else:
                self._succeed(group, results)

    async def _run(self, group: list[tuple[Request, asyncio.Future[Result]]]) -> Sequence[Result]:
        self.statements += 1
        async with self._pool.acquire() as conn:
            results = await self._statement(conn, [request for request, _ in group])
        if len(results) != len(group):
            raise RuntimeError(f"{self._name}: {len(results)} results for {len(group)} requests")
        return results

    @staticmethod
    def _succeed(
        group: list[tuple[Request, asyncio.Future[Result]]], results: Sequence[Result]
    ) -> None:
        for (_, done), result in zip(group, results, strict=True):
            if not done.done():
                done.set_result(result)

    def _take(self) -> list[tuple[Request, asyncio.Future[Result]]]:
        group, self._waiting = self._waiting, []
        return group

    def _closed_error(self) -> ConnectionError:
        return ConnectionError(f"{self._name} was closed")

    @staticmethod
    def _fail(group: list[tuple[Any, asyncio.Future[Any]]], error: BaseException) -> None:
        for _, done in group:
            if not done.done():
                done.set_exception(error)
