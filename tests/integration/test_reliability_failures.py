"""Failures never stall a partition: poison goes to the DLQ, transient errors are retried once."""

from __future__ import annotations

import time
from collections import Counter

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.dlq import read_dead_letters
from bus.envelope import Envelope
from bus.errors import PermanentError
from bus.publish import Publisher
from bus.publish.record import build_record
from bus.reliability import Inbox, RetryPolicy, dlq_topic, retry_topic
from bus.subscribe import Duplicate, Subscriber
from bus.testing import as_granted, record_counts, wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit
from tests.integration.sink_world import (
    IZIN,
    SYSTEM,
    TOPIC,
    entities,
    izin,
    sink,
    start_group_at_end,
)

pytestmark = pytest.mark.integration


async def test_poison_event_goes_to_dlq_and_the_partition_goes_on(
    bus_settings: BusSettings, catalog: Catalog, database: str, unique: str
) -> None:
    group = f"poison-{unique}"
    prefix = f"503/PSN/{unique}"
    # A retry delay far above the test's deadline: had the poison event taken the retry path,
    # the events behind it could not all be applied in time.
    settings = bus_settings.model_copy(update={"retry_topic_delays_s": (120.0,)})
    await start_group_at_end(settings, group)
    system = catalog.system("dpmptsp.sicantik")
    et = catalog.event_type(IzinTerbit)
    records = [build_record(et, system, izin(f"{prefix}/{n:05d}")) for n in range(1000)]
    poison = records[500]
    # Valid envelope, invalid data (a 12-digit NIB): what a broken producer could write.
    poison_value = poison.value.replace(b'"9120301234567"', b'"912030123456"')
    assert poison_value != poison.value

    async with sink(settings, catalog, group, database) as subscriber:
        producer: AIOKafkaProducer = clients.producer(settings)
        await producer.start()
        try:
            started = time.monotonic()
            acks = [
                await producer.send(
                    TOPIC,
                    value=poison_value if r is poison else r.value,
                    key=r.key,
                    headers=r.headers,
                    partition=0,
                )
                for r in records
            ]
            metas = [await ack for ack in acks]
        finally:
            await producer.stop()

        # Counted in the table by this test's prefix: the group may also read a few events
        # other tests published just before (see start_group_at_end).
        async def done() -> bool:
            return await entities(database, prefix) == 999 and subscriber.stats.dead_lettered >= 1

        await wait_until(done, timeout=60, message="999 applied and 1 dead-lettered")
        elapsed = time.monotonic() - started

    assert await entities(database, prefix) == 999
    letters = await read_dead_letters(settings, [dlq_topic(group)])
    assert len(letters) == 1
    letter = letters[0]
    headers = dict(letter.headers)
    assert letter.key == poison.key
    # The dead letter keeps only what the group's agreement grants (no nama_pemohon).
    assert letter.value == as_granted(catalog, SYSTEM, IZIN, poison_value)
    assert headers["ce_id"] == poison.envelope.id.encode()
    assert letter.failure.original_topic == TOPIC
    assert letter.failure.original_partition == 0
    assert letter.failure.original_offset == metas[500].offset
    assert letter.failure.group == group
    assert letter.failure.error_class == "bus.errors.SchemaValidationError"
    assert "nib" in letter.failure.error_message
    assert letter.failure.attempts == 1
    for name in ("dlq_first_failure_at", "dlq_last_failure_at"):
        assert headers[name].endswith(b"Z")
    # Straight to the DLQ: nothing went through the retry topic, nothing waited for it.
    assert await record_counts(settings, retry_topic(group, 1)) == {retry_topic(group, 1): 0}
    assert elapsed < 120
    async with asyncpg.create_pool(database) as pool:
        assert not await Inbox(pool, group).seen(poison.envelope.id)
        assert await Inbox(pool, group).seen(records[501].envelope.id)


class Flaky:
    """A handler with an inbox-protected effect that fails its first `failures` calls per key."""

    def __init__(self, pool: asyncpg.Pool, group: str, failures: int, flaky_key: str) -> None:
        self.inbox = Inbox(pool, group)
        self.failures = failures
        self.flaky_key = flaky_key
        self.calls: Counter[str] = Counter()
        self.envelopes: list[Envelope] = []

    async def __call__(self, data: IzinTerbit, envelope: Envelope) -> object:
        self.calls[data.nomor_izin] += 1
        if data.nomor_izin == self.flaky_key:
            self.envelopes.append(envelope)
            if self.calls[data.nomor_izin] <= self.failures:
                raise ConnectionError("target database restarting")
        async with self.inbox.transaction(envelope) as tx:
            if tx.duplicate:
                return Duplicate
            await tx.connection.execute(
                "INSERT INTO applied (nomor_izin, event_id) VALUES ($1, $2)",
                data.nomor_izin,
                envelope.id,
            )
        return None


async def applied(pool: asyncpg.Pool, prefix: str) -> list[tuple[str, int]]:
    """(key, times applied) of every entity under `prefix`."""
    rows = await pool.fetch(
        "SELECT nomor_izin, count(*) FROM applied WHERE nomor_izin LIKE $1 GROUP BY 1 ORDER BY 1",
        prefix + "/%",
    )
    return [(r[0], r[1]) for r in rows]


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        (RetryPolicy(attempts=3, initial_backoff_s=0.05), "in-process"),
        (RetryPolicy(attempts=1, topic_delays_s=(0.5, 0.5, 30.0)), "retry-topics"),
    ],
)
async def test_transient_failure_is_applied_exactly_once(  # noqa: PLR0917 - fixtures
    dpmptsp: Publisher,
    bus_settings: BusSettings,
    catalog: Catalog,
    database: str,
    unique: str,
    policy: RetryPolicy,
    path: str,
) -> None:
    group = f"flaky-{path}-{unique}"
    prefix = f"503/FLK/{unique}"
    flaky_key = f"{prefix}/00000"
    await start_group_at_end(bus_settings, group)
    async with asyncpg.create_pool(database) as pool:
        await pool.execute("CREATE TABLE applied (nomor_izin text, event_id text)")
        handler = Flaky(pool, group, failures=2, flaky_key=flaky_key)
        subscriber = Subscriber(
            SYSTEM, group=group, catalog=catalog, settings=bus_settings, retry=policy
        )
        subscriber.handler(IzinTerbit)(handler.__call__)
        await handler.inbox.ensure_table()
        async with running(subscriber):
            # The flaky event first, then 20 more spread over the partitions by their keys.
            await dpmptsp.publish_batch([izin(f"{prefix}/{n:05d}") for n in range(21)])

            async def all_applied() -> bool:
                return len(await applied(pool, prefix)) == 21

            await wait_until(all_applied, timeout=30, message="21 events applied")
        result = await applied(pool, prefix)

    assert result == [(f"{prefix}/{n:05d}", 1) for n in range(21)]
    assert handler.calls[flaky_key] == 3
    assert subscriber.stats.dead_lettered == 0
    if path == "retry-topics":
        assert subscriber.stats.retried == 2
        # Each retry delivery tells the handler where the event was first published.
        assert {e.topic for e in handler.envelopes} == {TOPIC}
        assert len({e.id for e in handler.envelopes}) == 1
        totals = await record_counts(
            bus_settings, retry_topic(group, 1), retry_topic(group, 2), dlq_topic(group)
        )
        assert totals == {retry_topic(group, 1): 1, retry_topic(group, 2): 1, dlq_topic(group): 0}
    else:
        assert subscriber.stats.retried == 0


async def test_permanent_error_skips_the_retries(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    group = f"permanent-{unique}"
    await start_group_at_end(bus_settings, group)
    subscriber = Subscriber(
        SYSTEM,
        group=group,
        catalog=catalog,
        settings=bus_settings,
        retry=RetryPolicy(attempts=5, topic_delays_s=(60.0,)),
    )
    calls: list[str] = []

    @subscriber.handler(IzinTerbit)
    async def refuse(data: IzinTerbit, envelope: Envelope) -> None:
        calls.append(envelope.id)
        raise PermanentError(f"KBLI {data.kbli} is not taxable here")

    async with running(subscriber):
        delivery = await dpmptsp.publish(izin(f"503/PRM/{unique}"))
        await wait_until(
            lambda: subscriber.stats.dead_lettered == 1, timeout=30, message="dead-lettered"
        )

    assert calls == [delivery.event_id]
    letters = await read_dead_letters(bus_settings, [dlq_topic(group)])
    assert [(lt.event_id, lt.failure.attempts) for lt in letters] == [(delivery.event_id, 1)]
    assert letters[0].failure.error_class == "bus.errors.PermanentError"
    assert letters[0].failure.error_message == "KBLI 47111 is not taxable here"
    assert letters[0].failure.original_offset == delivery.offset
