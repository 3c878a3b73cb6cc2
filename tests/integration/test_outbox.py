"""The transactional outbox: add_event in the caller's transaction, the relay through outages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from bus import testing
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import NotOwnerError, SchemaValidationError
from bus.outbox import OutboxRelay, add_event, ensure_schema
from bus.testing import KafkaService, own_broker, wait_until
from bus.testing.cli import BUS

pytestmark = pytest.mark.integration

IZIN = "id.go.riau.dpmptsp.izin.terbit"
TOPIC = "dpmptsp.izin.terbit.v1"


def izin(catalog: Catalog, key: str, sequence: int) -> dict[str, Any]:
    """Valid `izin terbit` data whose key is `key` and whose investment value is `sequence`."""
    return {
        **catalog.event_type(IZIN).example,
        "nomor_izin": key,
        "nilai_investasi": sequence,
    }


@contextlib.asynccontextmanager
async def connection(dsn: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def relaying(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def read_events(
    settings: BusSettings, start: dict[TopicPartition, int], wanted: set[str]
) -> list[tuple[str, int, bytes]]:
    """(event id, partition, value) of every record from `start` to the end offsets whose id
    is in `wanted`, duplicates included, in partition order."""
    return [
        (event_id, record.partition, record.value)
        for record in await testing.read_to_end(settings, start)
        if (event_id := testing.header(record, "ce_id")) in wanted
    ]


def assert_in_order_per_key(found: list[tuple[str, int, bytes]]) -> None:
    import orjson

    by_key: dict[str, list[int]] = defaultdict(list)
    for _, _, value in found:
        data = orjson.loads(value)
        by_key[data["nomor_izin"]].append(data["nilai_investasi"])
    for key, sequence in by_key.items():
        assert sequence == sorted(sequence), f"key {key} out of order"


async def test_add_event_commits_and_rolls_back_with_the_business_change(
    database: str, catalog: Catalog
) -> None:
    async with connection(database) as conn:
        await ensure_schema(conn)
        await conn.execute("CREATE TABLE izin (nomor text PRIMARY KEY)")
        async with conn.transaction():
            await conn.execute("INSERT INTO izin VALUES ('503/A/00001')")
            kept = await add_event(conn, IZIN, izin(catalog, "503/A/00001", 1), catalog=catalog)
        with contextlib.suppress(RuntimeError):
            async with conn.transaction():
                await conn.execute("INSERT INTO izin VALUES ('503/A/00002')")
                await add_event(conn, IZIN, izin(catalog, "503/A/00002", 2), catalog=catalog)
                raise RuntimeError("the business change failed")
        rows = await conn.fetch("SELECT event_id, key, topic, sent_at FROM bus_outbox")
        assert [(r["event_id"], r["key"], r["topic"], r["sent_at"]) for r in rows] == [
            (kept, "503/A/00001", TOPIC, None)
        ]


async def test_add_event_refuses_invalid_data_and_foreign_event_types(
    database: str, catalog: Catalog
) -> None:
    async with connection(database) as conn:
        await ensure_schema(conn)
        bad = {**izin(catalog, "503/A/00001", 1), "nib": "12", "kbli": None}
        with pytest.raises(SchemaValidationError) as refused:
            await add_event(conn, IZIN, bad, catalog=catalog)
        assert {e.path for e in refused.value.errors} == {"nib", "kbli"}
        with pytest.raises(NotOwnerError):
            await add_event(
                conn, IZIN, izin(catalog, "503/A/1", 1), system="bkd.simpeg", catalog=catalog
            )
        assert await conn.fetchval("SELECT count(*) FROM bus_outbox") == 0


async def test_relay_keeps_events_through_a_broker_outage(
    database: str, catalog: Catalog, bus_settings: BusSettings, kafka: KafkaService
) -> None:
    izin_type = catalog.event_type(IZIN)
    # An own broker, so that this test can stop it without disturbing the others.
    async with own_broker(kafka) as broker:
        settings = bus_settings.model_copy(
            update={**broker.client_settings(), "request_timeout_ms": 3000}
        )
        await ensure_topics([izin_type], settings)
        start = await testing.end_offsets(settings, TOPIC)
        async with connection(database) as conn:
            await ensure_schema(conn)
            relay = OutboxRelay(
                database,
                settings=settings,
                batch_size=200,
                poll_interval=0.5,
                backoff_max=0.5,
                ack_timeout_s=2.0,
            )
            async with relaying(relay):
                warm_up = await add_event(conn, IZIN, izin(catalog, "503/W/00000", 0))
                await wait_until(lambda: relay.stats.sent == 1, message="warm-up event sent")

                await asyncio.to_thread(broker.pause)
                oldest = asyncio.create_task(oldest_transaction_during(database, stop_after_s=20))
                ids: list[str] = []
                for batch in range(50):
                    async with conn.transaction():
                        for i in range(20):
                            sequence = batch * 20 + i
                            data = izin(catalog, f"503/OUTAGE/{i:05d}", sequence)
                            ids.append(await add_event(conn, IZIN, data, catalog=catalog))
                failures = relay.stats.failures
                await wait_until(
                    lambda: relay.stats.failures > failures + 1,
                    message="relay retried against the stopped broker",
                )
                unsent = await conn.fetchval(
                    "SELECT count(*) FROM bus_outbox WHERE sent_at IS NULL"
                )
                assert unsent == 1000
                assert relay.stats.sent == 1
                # The relay never held its claim transaction open for the outage: at most a
                # round's acknowledgement wait (2 s) and its database work.
                assert await oldest < 6.0

                await asyncio.to_thread(broker.resume)
                await wait_until(
                    lambda: relay.stats.sent == 1001,
                    timeout=90,
                    message="all 1,000 events relayed after the restart",
                )
            assert warm_up not in ids
            assert await conn.fetchval("SELECT count(*) FROM bus_outbox WHERE sent_at IS NULL") == 0
            logged = await conn.fetchval(
                "SELECT count(*) FROM bus_publication_log WHERE via = 'outbox' "
                "AND event_id = ANY($1::text[])",
                ids,
            )
            assert logged == 1000

        found = await read_events(settings, start, set(ids))
        assert len(found) == 1000, "an event was lost or published twice"
        assert {event_id for event_id, _, _ in found} == set(ids)
        assert_in_order_per_key(found)


async def unsent(conn: asyncpg.Connection[Any], expected: int) -> bool:
    """True when exactly `expected` outbox rows are unsent."""
    count = await conn.fetchval("SELECT count(*) FROM bus_outbox WHERE sent_at IS NULL")
    return bool(count == expected)


async def oldest_transaction_during(dsn: str, stop_after_s: float) -> float:
    """The age of the oldest open transaction on `dsn`'s database, sampled for a while."""
    oldest = 0.0
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    try:
        loop = asyncio.get_running_loop()
        until = loop.time() + stop_after_s
        while loop.time() < until:
            age = await conn.fetchval(
                "SELECT coalesce(extract(epoch FROM max(now() - xact_start)), 0) "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            oldest = max(oldest, float(age))
            await asyncio.sleep(0.2)  # a sampling interval, not a wait for anything
    finally:
        await conn.close()
    return oldest


async def test_sigterm_ends_the_relay_promptly_during_an_outage(
    database: str, catalog: Catalog, bus_settings: BusSettings, kafka: KafkaService
) -> None:
    async with own_broker(kafka) as broker, connection(database) as conn:
        settings = bus_settings.model_copy(update=broker.client_settings())
        await ensure_topics([catalog.event_type(IZIN)], settings)
        await ensure_schema(conn)
        await add_event(conn, IZIN, izin(catalog, "503/TERM/W", 0), catalog=catalog)
        relay = await asyncio.create_subprocess_exec(
            BUS, "outbox", "relay", "--dsn", database, "--ack-timeout", "30",
            env={**os.environ, **testing.settings_environment(settings), "BUS_LOG_FORMAT": "json"},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert relay.stderr is not None
        lines: list[bytes] = []

        async def read() -> None:
            assert relay.stderr is not None
            async for line in relay.stderr:
                lines.append(line)

        reader = asyncio.create_task(read())
        try:
            # Started, connected to its database, and a round waiting for acknowledgements.
            await wait_until(
                lambda: unsent(conn, 0), timeout=60, message="the relay sent a first row"
            )
            await asyncio.to_thread(broker.pause)
            async with conn.transaction():
                for i in range(50):
                    data = izin(catalog, f"503/TERM/{i:05d}", i)
                    await add_event(conn, IZIN, data, catalog=catalog)
            await wait_until(
                lambda: conn.fetchval("SELECT count(*) FROM bus_outbox_sending"),
                message="a round sent rows and waits for their acknowledgement",
            )
            relay.send_signal(signal.SIGTERM)
            sent_at = asyncio.get_running_loop().time()
            code = await asyncio.wait_for(relay.wait(), 30)
            took = asyncio.get_running_loop().time() - sent_at
        finally:
            if relay.returncode is None:
                relay.kill()
                await relay.wait()
            await reader
        assert code == 0, b"".join(lines).decode()
        # Well under the round's 30 s acknowledgement wait and the 120 s delivery deadline.
        assert took < 15, took
        assert await conn.fetchval("SELECT count(*) FROM bus_outbox WHERE sent_at IS NULL") == 50


async def test_two_relays_never_publish_an_event_twice(
    database: str, postgres_dsn: str, catalog: Catalog, bus_settings: BusSettings
) -> None:
    start = await testing.end_offsets(bus_settings, TOPIC)
    counted_before = published_count()
    async with bus_database(postgres_dsn) as bus_dsn, connection(database) as conn:
        await ensure_schema(conn)
        ids: list[str] = []
        async with conn.transaction():
            for sequence in range(600):
                key = f"503/TWO/{sequence % 150:05d}"
                ids.append(await add_event(conn, IZIN, izin(catalog, key, sequence)))
        # The publication log goes to the bus's own database, as in production.
        settings = bus_settings.model_copy(update={"database_dsn": bus_dsn})
        first, second = (
            OutboxRelay(database, settings=settings, batch_size=40, poll_interval=0.2)
            for _ in range(2)
        )
        async with relaying(first), relaying(second):
            await wait_until(
                lambda: first.stats.sent + second.stats.sent >= 600,
                timeout=60,
                message="600 events relayed",
            )
        assert first.stats.sent + second.stats.sent == 600
        assert first.stats.sent > 0 and second.stats.sent > 0, "both relays shared the work"
        sent = await conn.fetch('SELECT partition, "offset" FROM bus_outbox')
        assert len({(r["partition"], r["offset"]) for r in sent}) == 600
        async with connection(bus_dsn) as log:
            logged = await log.fetch(
                'SELECT event_id, partition, "offset" FROM bus_publication_log WHERE via = $1',
                "outbox",
            )
        assert {r["event_id"] for r in logged} == set(ids)
        assert {(r["partition"], r["offset"]) for r in logged} == {
            (r["partition"], r["offset"]) for r in sent
        }

    found = await read_events(bus_settings, start, set(ids))
    assert len(found) == 600, "an event was lost or published twice"
    assert_in_order_per_key(found)
    # The relays count what they published under the system that wrote the outbox rows.
    assert published_count() - counted_before == 600


def published_count() -> float:
    labels = {"system": "dpmptsp.sicantik", "event_type": IZIN, "topic": TOPIC}
    return REGISTRY.get_sample_value("bus_events_published_total", labels) or 0.0


@contextlib.asynccontextmanager
async def bus_database(postgres_dsn: str) -> AsyncIterator[str]:
    """A second database on the same server, standing for the bus's own."""
    from bus.testing.plugin import _with_database

    name = f"bus_{uuid.uuid4().hex[:12]}"
    async with connection(postgres_dsn) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(postgres_dsn, name)
    finally:
        async with connection(postgres_dsn) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_row_a_dead_relay_sent_is_found_on_the_topic_not_sent_again(
    database: str, catalog: Catalog, bus_settings: BusSettings
) -> None:
    """A relay killed after the broker's ack but before its commit: the next one finds the
    event on the topic and marks the row sent, with that offset, instead of sending it again."""
    from bus.outbox.check import checked_record
    from bus.publish import RecordSender

    start = await testing.end_offsets(bus_settings, TOPIC)
    async with connection(database) as conn:
        await ensure_schema(conn)
        event_id = await add_event(conn, IZIN, izin(catalog, "503/DEAD/00001", 1))
        row = await conn.fetchrow("SELECT * FROM bus_outbox WHERE event_id = $1", event_id)
        assert row is not None
        # What the dead relay did: record the round, then send; it never committed sent_at.
        await conn.execute(
            "INSERT INTO bus_outbox_sending (id, since) VALUES ($1, now())", row["id"]
        )
        sender = RecordSender(bus_settings)
        await sender.start()
        try:
            delivery = await (await sender.send_record(checked_record(row, catalog)))
        finally:
            await sender.stop()

        relay = OutboxRelay(database, settings=bus_settings)
        await relay.sender.start()
        try:
            sent, _ = await relay.relay_once()
        finally:
            await relay.sender.stop()
            await relay.close()
        marked = await conn.fetchrow(
            'SELECT sent_at, partition, "offset" FROM bus_outbox WHERE id = $1', row["id"]
        )
        left = await conn.fetchval("SELECT count(*) FROM bus_outbox_sending")
    assert sent == 1
    assert marked is not None and marked["sent_at"] is not None
    assert (marked["partition"], marked["offset"]) == (delivery.partition, delivery.offset)
    assert left == 0
    copies = [e for e, _, _ in await read_events(bus_settings, start, {event_id})]
    assert copies == [event_id]
