"""AttemptLog with many callers in flight: one statement for all who wait, each its own answer.

The webhook adapter looks up and records every event; with many events in flight those calls
are grouped (`bus.grouped_statement`). These tests count what the statements did, on a real
PostgreSQL, independently of the log's own reading code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bus.database import create_pool
from bus.testing import wait_until
from bus.tracking.attempts import (
    DEAD_LETTERED,
    DELIVERED,
    PENDING,
    Attempt,
    AttemptLog,
    Position,
    Seen,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
T1, T2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    opened = await create_pool(database, max_size=4)
    yield opened
    await opened.close()


@pytest.fixture
async def log(pool: asyncpg.Pool[Any]) -> AsyncIterator[AttemptLog]:
    attempt_log = AttemptLog(pool)
    await attempt_log.ensure_schema()
    yield attempt_log
    await attempt_log.close()


async def put(
    pool: asyncpg.Pool[Any],
    group: str,
    event_id: str,
    key: str,
    *,
    at: tuple[int, int],
    state: str,
    attempts: int = 0,
    stage: int = 0,
    next_try: datetime | None = None,
) -> None:
    """A delivery row written directly, not through the log under test."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO bus_http_deliveries (consumer_group, event_id, key_digest, "
            "source_partition, source_offset, state, attempts, stage, next_try_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            group,
            event_id,
            key,
            *at,
            state,
            attempts,
            stage,
            next_try,
        )


async def test_concurrent_lookups_share_one_statement_and_each_gets_its_own_answer(
    pool: asyncpg.Pool[Any], log: AttemptLog
) -> None:
    # Key k1 of group g: three pending events; by partition first, then offset, p0 is the head.
    await put(pool, "g", "p0", "k1", at=(0, 10), state=PENDING, attempts=2, stage=3, next_try=T0)
    await put(pool, "g", "p1", "k1", at=(0, 11), state=PENDING, attempts=0, stage=3, next_try=T0)
    await put(pool, "g", "p2", "k1", at=(1, 1), state=PENDING, attempts=0, stage=0)
    # Key k2: one delivered (not a head), one pending behind it.
    await put(pool, "g", "d0", "k2", at=(0, 5), state=DELIVERED, attempts=1)
    await put(pool, "g", "q0", "k2", at=(0, 20), state=PENDING, attempts=1, stage=1, next_try=T1)
    # Key k3: nothing pending.
    await put(pool, "g", "x0", "k3", at=(0, 7), state=DEAD_LETTERED, attempts=5, stage=4)
    # Another group, same key k1 and the same event id p0: its own queue.
    await put(pool, "h", "p0", "k1", at=(0, 99), state=DELIVERED, attempts=1)
    await put(pool, "h", "r0", "k1", at=(0, 100), state=PENDING, attempts=1, stage=2, next_try=T2)

    k1_head = ("p0", 3, T0)
    cases: list[tuple[tuple[str, str, str], Seen]] = [
        (("g", "p0", "k1"), Seen(PENDING, 2, *k1_head)),
        (("g", "p1", "k1"), Seen(PENDING, 0, *k1_head)),
        (("g", "p2", "k1"), Seen(PENDING, 0, *k1_head)),
        (("g", "new", "k1"), Seen(None, 0, *k1_head)),
        (("g", "d0", "k2"), Seen(DELIVERED, 1, "q0", 1, T1)),
        (("g", "q0", "k2"), Seen(PENDING, 1, "q0", 1, T1)),
        (("g", "x0", "k3"), Seen(DEAD_LETTERED, 5, None, 0, None)),
        (("g", "new", "k4"), Seen(None, 0, None, 0, None)),
        (("h", "p0", "k1"), Seen(DELIVERED, 1, "r0", 2, T2)),
        (("h", "p1", "k1"), Seen(None, 0, "r0", 2, T2)),
    ]
    asked = [cases[n % len(cases)] for n in range(200)]

    answers = await asyncio.gather(*(log.lookup(*query) for query, _ in asked))

    assert answers == [seen for _, seen in asked]
    # All 200 calls are made before the event loop first runs the statement's task.
    assert log.statements == 1


async def test_lookups_arriving_while_a_statement_runs_go_together_in_the_next(
    pool: asyncpg.Pool[Any], log: AttemptLog
) -> None:
    await put(pool, "g", "p0", "k1", at=(0, 1), state=PENDING, attempts=1, stage=1)
    async with pool.acquire() as conn, conn.transaction():
        # The first statement waits on this lock; 50 callers arrive meanwhile.
        await conn.execute("LOCK TABLE bus_http_deliveries IN ACCESS EXCLUSIVE MODE")
        first = asyncio.create_task(log.lookup("g", "p0", "k1"))
        await wait_until(lambda: waits_on_a_lock(pool, "%unnest%"), timeout=10)
        # Created now, they run at the next await (the COMMIT below), before the lock is gone.
        rest = [asyncio.create_task(log.lookup("g", f"e{n}", "k1")) for n in range(50)]
    assert await first == Seen(PENDING, 1, "p0", 1, None)
    assert await asyncio.gather(*rest) == [Seen(None, 0, "p0", 1, None)] * 50
    assert log.statements == 2


def attempt(
    number: int, state: str, status: int | None, stage: int = 0, *, sent: bool = True
) -> Attempt:
    at = T0 + timedelta(seconds=number)
    next_try = at + timedelta(minutes=stage) if state == PENDING else None
    return Attempt(number, at, status, 12.5, f"outcome {status}", state, stage, next_try, sent)


#: The records one event gets, in order, for each kind of event in the batch.
HISTORIES: list[list[Attempt]] = [
    # Delivered at the first attempt.
    [attempt(1, DELIVERED, 200)],
    # Waits behind its key's head (no request), then 500, then delivered.
    [
        attempt(0, PENDING, None, 1, sent=False),
        attempt(1, PENDING, 500, 2),
        attempt(2, DELIVERED, 200, 2),
    ],
    # 503, then the circuit opens (no request: the 503 stays the last answer), then dead.
    [
        attempt(1, PENDING, 503, 1),
        attempt(1, PENDING, None, 2, sent=False),
        attempt(1, DEAD_LETTERED, None, 2, sent=False),
    ],
    # Two failed attempts, still pending.
    [attempt(1, PENDING, 429, 1), attempt(2, PENDING, 500, 2)],
    # 410 Gone: dead-lettered at once.
    [attempt(1, DEAD_LETTERED, 410)],
]


async def test_concurrent_records_write_exactly_what_one_record_at_a_time_did(
    pool: asyncpg.Pool[Any], log: AttemptLog
) -> None:
    events = [(f"ev-{n}", HISTORIES[n % len(HISTORIES)]) for n in range(150)]
    # An event's records arrive in order, interleaved with other events' (round-robin).
    calls: list[tuple[Position, Attempt]] = []
    for step in range(3):
        for n, (event_id, history) in enumerate(events):
            if step < len(history):
                # The first record's position stays: the later ones' offsets are ignored.
                position = Position(event_id, f"key-{n % 7}", n % 3, 1000 + n + step)
                calls.append((position, history[step]))
    assert len(calls) == 300

    await asyncio.gather(*(log.record("g", position, a) for position, a in calls))

    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bus_http_deliveries") == len(events)
        sent = sum(a.sent for _, history in events for a in history)
        assert await conn.fetchval("SELECT count(*) FROM bus_http_attempts") == sent
        rows = await conn.fetch(
            "SELECT event_id, state, attempts, stage, last_status, next_try_at, delivered_at, "
            "source_offset FROM bus_http_deliveries"
        )
        attempts = await conn.fetch(
            "SELECT event_id, attempt, status FROM bus_http_attempts ORDER BY event_id, attempt"
        )
    final = {row["event_id"]: tuple(row)[1:] for row in rows}
    expected = {}
    for n, (event_id, history) in enumerate(events):
        last = history[-1]
        statuses = [a.status for a in history if a.status is not None]
        expected[event_id] = (
            last.state,
            last.number,
            last.stage,
            statuses[-1] if statuses else None,
            last.next_try_at,
            last.at if last.state == DELIVERED else None,
            1000 + n,
        )
    assert final == expected
    assert sorted(tuple(row) for row in attempts) == sorted(
        (event_id, a.number, a.status) for event_id, history in events for a in history if a.sent
    )
    # One batch; its three rounds (an event's 1st, 2nd, 3rd record) run in one transaction.
    assert log.statements == 1


async def test_each_caller_sees_its_own_record_as_soon_as_it_returns(
    pool: asyncpg.Pool[Any], log: AttemptLog
) -> None:
    async def caller(n: int) -> tuple[Seen, Seen]:
        position = Position(f"ev-{n}", f"key-{n}", 0, n)
        await log.record("g", position, attempt(1, PENDING, 500, 1))
        pending = await log.lookup("g", position.event_id, position.key_digest)
        await log.record("g", position, attempt(2, DELIVERED, 200, 1))
        return pending, await log.lookup("g", position.event_id, position.key_digest)

    outcomes = await asyncio.gather(*(caller(n) for n in range(100)))

    next_try = T0 + timedelta(seconds=1, minutes=1)
    assert outcomes == [
        (Seen(PENDING, 1, f"ev-{n}", 1, next_try), Seen(DELIVERED, 2, None, 0, None))
        for n in range(100)
    ]
    # Four calls per caller, each a statement for all 100: 4, not 400.
    assert log.statements == 4


async def test_a_failed_statement_fails_its_callers_a_bad_row_only_its_own_then_it_goes_on(
    pool: asyncpg.Pool[Any], log: AttemptLog
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE bus_http_deliveries RENAME TO moved_away")
    lookups = await asyncio.gather(
        *(log.lookup("g", f"ev-{n}", "k") for n in range(20)), return_exceptions=True
    )
    assert [type(o) for o in lookups] == [asyncpg.UndefinedTableError] * 20
    records = await asyncio.gather(
        *(
            log.record("g", Position(f"ev-{n}", "k", 0, n), attempt(1, DELIVERED, 200))
            for n in range(20)
        ),
        return_exceptions=True,
    )
    assert [type(o) for o in records] == [asyncpg.UndefinedTableError] * 20
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE moved_away RENAME TO bus_http_deliveries")

    # One record breaks a constraint (state is NOT NULL): the statement fails, then each
    # record runs alone, and only the bad one fails: one bad row is no poison for the others.
    bad = Attempt(1, T0, 200, 1.0, "ok", None, 0, None)  # type: ignore[arg-type]
    calls = [(Position(f"ev-{n}", "k", 0, n), attempt(1, DELIVERED, 200)) for n in range(19)]
    calls.insert(7, (Position("ev-bad", "k", 0, 99), bad))
    before = log.statements
    outcomes = await asyncio.gather(
        *(log.record("g", position, a) for position, a in calls), return_exceptions=True
    )
    assert [type(o) for o in outcomes] == [type(None)] * 7 + [asyncpg.NotNullViolationError] + [
        type(None)
    ] * 12
    assert log.statements - before == 1 + 20
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bus_http_deliveries") == 19
        assert await conn.fetchval("SELECT count(*) FROM bus_http_attempts") == 19
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM bus_http_deliveries WHERE event_id = 'ev-bad'"
            )
            == 0
        )

    await log.record("g", Position("ev-1", "k", 0, 1), attempt(1, DELIVERED, 200))
    assert await log.lookup("g", "ev-1", "k") == Seen(DELIVERED, 1, None, 0, None)


async def test_callers_waiting_when_it_closes_get_an_error(
    pool: asyncpg.Pool[Any], log: AttemptLog
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE bus_http_deliveries IN ACCESS EXCLUSIVE MODE")
        running = asyncio.create_task(
            log.record("g", Position("ev-1", "k", 0, 1), attempt(1, DELIVERED, 200))
        )
        await wait_until(
            lambda: waits_on_a_lock(pool, "%INSERT INTO bus_http_deliveries%"), timeout=10
        )
        waiting = asyncio.create_task(
            log.record("g", Position("ev-2", "k", 0, 2), attempt(1, DELIVERED, 200))
        )
        lookup = asyncio.create_task(log.lookup("g", "ev-1", "k"))
        await wait_until(
            lambda: waits_on_a_lock(pool, "%unnest($1::text[], $2::text[], $3::text[])%"),
            timeout=10,
        )
        await log.close()
        for task in (running, waiting, lookup):
            with pytest.raises(ConnectionError, match="the attempt log was closed"):
                await task
    with pytest.raises(ConnectionError, match="the attempt log was closed"):
        await log.lookup("g", "ev-1", "k")
    with pytest.raises(ConnectionError, match="the attempt log was closed"):
        await log.record("g", Position("ev-3", "k", 0, 3), attempt(1, DELIVERED, 200))


async def waits_on_a_lock(pool: asyncpg.Pool[Any], query: str) -> bool:
    """True if a statement matching `query` (a LIKE pattern) waits on a lock."""
    async with pool.acquire() as conn:
        waiting: bool = await conn.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE $1",
            query,
        )
        return waiting
