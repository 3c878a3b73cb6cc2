"""The outbox relay: publishes committed outbox rows in order per key, marks them sent on ack.

    relay = OutboxRelay("postgresql://.../sicantik", settings=settings)
    await relay.run(stop)          # until `stop` is set; `bus outbox relay --dsn DSN` runs this

One round (`relay_once`) claims up to `batch_size` unsent rows in one transaction, publishes
them pipelined, waits for their acknowledgements (at most `ack_timeout_s`, and no longer once
`stop` is set), records them in the publication log, and only then sets `sent_at` and commits.
While the broker is down nothing is marked and no transaction stays open: rows not acknowledged
in time stay unsent, their records are dropped from the producer, and the relay retries with
exponential backoff until the broker is back.

The relay wakes on `LISTEN bus_outbox` (`add_event` notifies on commit) and also polls every
`poll_interval` seconds, so a lost notification or a dropped listener connection only delays.

Several relays may run on one outbox. Rows are claimed with `FOR UPDATE SKIP LOCKED` in id
order, so two relays never hold the same row, and a row is claimed only if no older unsent row
of the same (topic, key) exists outside the claimer's own batch: when relay A holds rows 5
and 50 of a key, relay B leaves row 150 of that key alone until A has sent them. That keeps
per-key order across relays; the price is that one key is never published by two relays in
parallel, which is what per-key order means anyway.

Every row is checked against the catalog first (`bus.outbox.check`): a row the catalog does not
allow, or one the broker refuses (oversize, unknown topic), is marked failed (`failed_at`, with
the reason in `last_error`, counted in `bus_outbox_refused_total`) and is never published; it
does not hold back later rows of its key, and the rest of the round is committed as usual.
`bus outbox failed` lists such rows. Only an unreachable broker leaves rows unsent for the
next round.

A relay that dies after the broker acknowledged but before its commit (or whose database
dies then) leaves rows unsent. Before sending, a round records the ids it is about to send in
`bus_outbox_sending`, committed at once; the next round looks for such rows on the topic
(`bus.publish.recovery`) and marks the ones it finds sent, with their offsets, instead of
sending them again. Consumers still deduplicate by event id, should a send be doubled some
other way.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bus import publication_log
from bus.catalog import Catalog, load_catalog
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError, BusError, PublishError
from bus.logging import get_logger, protect_personal_data
from bus.outbox.check import RowRefusedError, checked_record, count_refused
from bus.outbox.schema import CHANNEL
from bus.outbox.schema import ensure_schema as ensure_outbox_schema
from bus.publish import Delivery, OutgoingRecord, RecordSender
from bus.publish.recovery import find_published

log = get_logger("bus.outbox.relay")

_CLAIM = """
WITH claimed AS (
    SELECT id, topic, key FROM bus_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND ($2::text IS NULL OR source_system = $2)
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
SELECT o.id, o.event_id, o.event_type, o.source_system, o.source, o.dataschema, o.topic, o.key,
       o.data, o.event_time, o.correlation_id, o.traceparent
FROM bus_outbox o JOIN claimed c ON c.id = o.id
WHERE NOT EXISTS (
    SELECT 1 FROM bus_outbox p
    WHERE p.topic = c.topic AND p.key = c.key AND p.sent_at IS NULL AND p.failed_at IS NULL
      AND p.id < c.id
      AND p.id NOT IN (SELECT id FROM claimed)
)
ORDER BY o.id
"""

#: A database gone or going: reconnect and try again. asyncpg raises InternalClientError
#: ("another operation is in progress") on a connection a server crash broke mid-operation;
#: `make chaos` found the relay dying of it when PostgreSQL was killed under it.
_DATABASE_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
)

_MARK_SENT = """
UPDATE bus_outbox SET sent_at = now(), partition = $2, "offset" = $3,
                      attempts = attempts + 1, last_error = NULL
WHERE id = $1
"""

_MARK_FAILED = "UPDATE bus_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1"

_MARK_REFUSED = """
UPDATE bus_outbox SET failed_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = $1
"""

_UNSENT = "sent_at IS NULL AND failed_at IS NULL AND ($1::text IS NULL OR source_system = $1)"


@dataclass(frozen=True)
class RefusedRow:
    """An outbox row the relay refused: never published, kept with the reason."""

    id: int
    event_id: str
    event_type: str
    source_system: str
    topic: str
    failed_at: datetime
    last_error: str


@dataclass
class RelayStats:
    """What one relay did since it started."""

    sent: int = 0
    rounds: int = 0
    failures: int = 0
    refused: int = 0


class OutboxRelay:
    """Moves events from one database's outbox table to Kafka."""

    def __init__(
        self,
        dsn: str,
        *,
        settings: BusSettings,
        catalog: Catalog | None = None,
        system: str | None = None,
        log_dsn: str | None = None,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        ack_timeout_s: float = 10.0,
    ) -> None:
        protect_personal_data(settings)
        self.dsn = dsn
        self.settings = settings
        self.catalog = catalog or load_catalog(settings.catalog_module)
        self.system = system
        # The publication log belongs in the bus's own database; without one it is kept next
        # to the outbox so that the evidence is never silently skipped.
        self.log_dsn = log_dsn or settings.database_dsn or dsn
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stats = RelayStats()
        # Longest a round waits for acknowledgements with its claim transaction open.
        self.ack_timeout_s = ack_timeout_s
        self.sender = RecordSender(settings)
        self._abandoned = False
        self._stop: asyncio.Event | None = None
        self._conn: asyncpg.Connection[Any] | None = None
        self._log_conn: asyncpg.Connection[Any] | None = None
        self._mark_conn: asyncpg.Connection[Any] | None = None
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, surviving broker and database outages."""
        self._stop = stop
        backoff = self.backoff_initial
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self._connect()
                    await self.sender.start()
                    try:
                        sent, held_back = await self.relay_once()
                    finally:
                        if self._abandoned:
                            await self._drop_unacknowledged()
                except (BusError, *_DATABASE_ERRORS) as exc:
                    self.stats.failures += 1
                    log.warning("outbox.relay_retry", error=str(exc), retry_in_s=round(backoff, 2))
                    if isinstance(exc, _DATABASE_ERRORS):
                        await self._disconnect()
                    await _wait(stop, backoff * random.uniform(0.8, 1.2))
                    backoff = min(backoff * 2, self.backoff_max)
                    continue
                backoff = self.backoff_initial
                if sent >= self.batch_size:
                    continue
                # Rows held back wait for another relay to send older rows of their key; that
                # relay does not notify, so look again soon rather than after a full poll.
                interval = min(self.poll_interval, 0.05) if held_back else self.poll_interval
                await _wait(stop, interval, self._wake)
        finally:
            await self._disconnect()
            # Bounded, so that SIGTERM ends the relay promptly during an outage: rows the
            # cluster has not acknowledged stay unsent, for the next relay to look for.
            with contextlib.suppress(Exception):
                await self.sender.close(flush_timeout_s=2.0)

    async def relay_once(self) -> tuple[int, bool]:
        """Publish one batch of unsent rows; returns (rows sent, whether rows were held back)."""
        conn = await self._connect()
        self.stats.rounds += 1
        failure: BaseException | None = None
        async with conn.transaction():
            rows = await conn.fetch(_CLAIM, self.batch_size, self.system)
            held_back = False
            if not rows:
                held_back = await self._has_claimable_rows(conn)
                return 0, held_back
            records, outcomes = await self._send(conn, rows)
            acked, refused, failed = _settled(rows, outcomes)
            if acked:
                await publication_log.record_publications(
                    await self._log_connection(),
                    (
                        publication_log.Publication.of(
                            records[i], delivery, source_system=rows[i]["source_system"],
                            via="outbox",
                        )
                        for i, delivery in acked
                    ),
                )  # fmt: skip
                await conn.executemany(
                    _MARK_SENT, [(rows[i]["id"], d.partition, d.offset) for i, d in acked]
                )
            if acked or refused:
                await conn.execute(
                    "DELETE FROM bus_outbox_sending WHERE id = ANY($1::bigint[])",
                    [rows[i]["id"] for i, _ in [*acked, *refused]],
                )
            if refused:
                await conn.executemany(
                    _MARK_REFUSED, [(rows[i]["id"], exc.args[0][:1000]) for i, exc in refused]
                )
            if failed:
                await conn.executemany(
                    _MARK_FAILED, [(rows[i]["id"], str(exc)[:500]) for i, exc in failed]
                )
                failure = failed[0][1]
        self.stats.sent += len(acked)
        self.stats.refused += len(refused)
        for i, refusal in refused:
            count_refused(refusal.reason)
            log.warning(
                "outbox.refused", event_id=rows[i]["event_id"], row=rows[i]["id"],
                reason=refusal.reason, error=str(refusal),
            )  # fmt: skip
        if acked:
            log.info("outbox.sent", events=len(acked), last_event_id=rows[acked[-1][0]]["event_id"])
        if failure is not None:
            if isinstance(failure, BusError):
                raise failure
            raise BrokerUnavailableError(f"publishing outbox rows failed: {failure!r}")
        return len(acked), len(rows) < self.batch_size and await self._has_claimable_rows(conn)

    async def _send(
        self, conn: asyncpg.Connection[Any], rows: Sequence[asyncpg.Record]
    ) -> tuple[dict[int, OutgoingRecord], list[Delivery | BaseException]]:
        """Check and send every row pipelined; each row's outcome, never raising part way.

        A round that raised after sending some rows would roll back their claim while the
        broker keeps them, and every later round would publish them again. Rows an earlier
        round sent without living to mark them (`bus_outbox_sending`) are looked for on the
        topic first, and only sent if they are not there.
        """
        uncertain = {
            row["id"]: row["since"]
            for row in await conn.fetch(
                "SELECT id, since FROM bus_outbox_sending WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        }
        landed: dict[str, Delivery] = {}
        if uncertain:
            wanted: dict[str, list[str]] = {}
            for row in rows:
                if row["id"] in uncertain:
                    wanted.setdefault(row["topic"], []).append(row["event_id"])
            landed = await find_published(self.settings, wanted, since=min(uncertain.values()))
            if landed:
                log.info("outbox.found_on_topic", events=len(landed))
        records: dict[int, OutgoingRecord] = {}
        pending: list[asyncio.Future[Delivery] | Delivery | BaseException] = []
        checked: list[tuple[int, OutgoingRecord]] = []
        for i, row in enumerate(rows):
            try:
                records[i] = checked_record(row, self.catalog)
            except RowRefusedError as exc:
                pending.append(exc)
                continue
            if row["event_id"] in landed:
                pending.append(landed[row["event_id"]])
                continue
            checked.append((i, records[i]))
            pending.append(BrokerUnavailableError("not sent"))  # replaced below
        # Durable before the first send: a relay that dies now leaves a trace to look for.
        await self._mark_sending([rows[i]["id"] for i, _ in checked])
        for i, record in checked:
            try:
                pending[i] = await self.sender.send_record(record)
            except PublishError as exc:
                pending[i] = RowRefusedError("broker_refused", f"the broker refused it: {exc}")
            except BusError as exc:
                pending[i] = exc
        # Bounded: the claim transaction stays open while the round waits, and an outage must
        # not keep it open (nor keep SIGTERM waiting). Rows not acknowledged in time stay unsent
        # and in `bus_outbox_sending`; their records are dropped from the sender after the
        # round (`_drop_unacknowledged`), so none is written after the next round looked.
        waiting = [each for each in pending if isinstance(each, asyncio.Future)]
        if waiting:
            await self._acknowledgements(waiting)
        outcomes: list[Delivery | BaseException] = []
        for each in pending:
            if isinstance(each, BaseException | Delivery):
                outcomes.append(each)
                continue
            if not each.done():
                self._abandoned = True
                outcomes.append(
                    BrokerUnavailableError(
                        f"not acknowledged within {self.ack_timeout_s:g} s; the next round "
                        "looks for it on the topic before sending it again"
                    )
                )
                continue
            try:
                outcomes.append(each.result())
            except PublishError as exc:
                outcomes.append(RowRefusedError("broker_refused", f"the broker refused it: {exc}"))
            except Exception as exc:
                outcomes.append(exc)
        return records, outcomes

    async def _acknowledgements(self, waiting: Sequence[asyncio.Future[Delivery]]) -> None:
        """Wait until every one of `waiting` settled, `ack_timeout_s` passed, or `stop` is set."""
        waiters: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(asyncio.wait(waiting))  # cancelling it never cancels `waiting`
        ]
        if self._stop is not None:
            waiters.append(asyncio.ensure_future(self._stop.wait()))
        try:
            await asyncio.wait(
                waiters, timeout=self.ack_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _drop_unacknowledged(self) -> None:
        """Replace the sender, dropping records the cluster has not acknowledged."""
        old, self.sender = self.sender, RecordSender(self.settings)
        self._abandoned = False
        await old.close(flush_timeout_s=0)

    async def pending(self) -> int:
        """Number of unsent rows (of this relay's system, if it has one)."""
        conn = await self._connect()
        count: int = await conn.fetchval(
            f"SELECT count(*) FROM bus_outbox WHERE {_UNSENT}", self.system
        )
        return count

    async def refused_rows(self, limit: int = 100) -> list[RefusedRow]:
        """Rows the relay refused (of this relay's system, if it has one), newest first."""
        conn = await self._connect()
        rows = await conn.fetch(
            "SELECT id, event_id, event_type, source_system, topic, failed_at, last_error "
            "FROM bus_outbox WHERE failed_at IS NOT NULL "
            "AND ($1::text IS NULL OR source_system = $1) ORDER BY id DESC LIMIT $2",
            self.system,
            limit,
        )
        return [RefusedRow(**dict(row)) for row in rows]

    async def _has_claimable_rows(self, conn: asyncpg.Connection[Any]) -> bool:
        return bool(
            await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM bus_outbox WHERE {_UNSENT})", self.system
            )
        )

    async def _connect(self) -> asyncpg.Connection[Any]:
        if self._conn is None or self._conn.is_closed():
            conn: asyncpg.Connection[Any] = await asyncpg.connect(self.dsn, timeout=10)
            try:
                await ensure_outbox_schema(conn)
                await conn.add_listener(CHANNEL, self._notified)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _log_connection(self) -> asyncpg.Connection[Any]:
        if self.log_dsn == self.dsn:
            assert self._conn is not None
            if self._log_conn is None:
                await publication_log.ensure_schema(self._conn)
                self._log_conn = self._conn
            return self._conn
        if self._log_conn is None or self._log_conn.is_closed():
            conn: asyncpg.Connection[Any] = await asyncpg.connect(self.log_dsn, timeout=10)
            await publication_log.ensure_schema(conn)
            self._log_conn = conn
        return self._log_conn

    async def _mark_sending(self, ids: list[int]) -> None:
        """Record, committed at once on a connection of its own, that these rows are being sent."""
        if not ids:
            return
        if self._mark_conn is None or self._mark_conn.is_closed():
            self._mark_conn = await asyncpg.connect(self.dsn, timeout=10)
        await self._mark_conn.execute(
            "INSERT INTO bus_outbox_sending (id, since) SELECT unnest($1::bigint[]), now() "
            "ON CONFLICT (id) DO NOTHING",
            ids,
        )

    async def close(self) -> None:
        """Close the relay's database connections (`run` does this itself when it ends)."""
        await self._disconnect()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        log_conn, self._log_conn = self._log_conn, None
        mark_conn, self._mark_conn = self._mark_conn, None
        for each in {id(c): c for c in (conn, log_conn, mark_conn) if c is not None}.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(each.close(), 5)


def _settled(
    rows: Sequence[asyncpg.Record], outcomes: Sequence[Delivery | BaseException]
) -> tuple[
    list[tuple[int, Delivery]], list[tuple[int, RowRefusedError]], list[tuple[int, BaseException]]
]:
    """Split outcomes into acked, refused and failed.

    A refused row is never published, so the rows after it are in order without it. After a
    key's first failure (broker unreachable), later rows of that key count as failed too, so
    a re-send can never put them before the failed one.
    """
    acked: list[tuple[int, Delivery]] = []
    refused: list[tuple[int, RowRefusedError]] = []
    failed: list[tuple[int, BaseException]] = []
    broken: set[tuple[str, str]] = set()
    for i, (row, outcome) in enumerate(zip(rows, outcomes, strict=True)):
        key = (row["topic"], row["key"])
        if isinstance(outcome, RowRefusedError):
            refused.append((i, outcome))
        elif isinstance(outcome, Delivery) and key not in broken:
            acked.append((i, outcome))
        else:
            broken.add(key)
            error = outcome if isinstance(outcome, BaseException) else None
            failed.append((i, error or BrokerUnavailableError("an older event of its key failed")))
    return acked, refused, failed


async def _wait(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleep up to `seconds`, returning early when `stop` (or `wake`) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
