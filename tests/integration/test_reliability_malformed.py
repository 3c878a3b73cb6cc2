"""A retry record whose `dlq_*` headers are malformed is dead-lettered with the reason; the
subscriber goes on (it used to raise `KeyError` and crash-loop on every restart)."""

from __future__ import annotations

import pytest

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Publisher
from bus.publish.record import build_record
from bus.reliability import RetryPolicy, dlq_topic, retry_topic
from bus.subscribe import Subscriber
from bus.testing import end_offsets, read_to_end, wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit
from tests.integration.sink_world import SYSTEM, izin, start_group_at_end

pytestmark = pytest.mark.integration

MALFORMED = {
    "no first failure": [("dlq_original_topic", b"dpmptsp.izin.terbit.v1")],
    "bad attempts": [
        ("dlq_original_topic", b"dpmptsp.izin.terbit.v1"),
        ("dlq_attempts", b"many"),
        ("dlq_first_failure_at", b"2026-11-22T21:00:00.000Z"),
        ("dlq_last_failure_at", b"2026-11-22T21:00:00.000Z"),
    ],
    "bad time": [
        ("dlq_original_topic", b"dpmptsp.izin.terbit.v1"),
        ("dlq_first_failure_at", b"yesterday"),
        ("dlq_last_failure_at", b"2026-11-22T21:00:00.000Z"),
        ("retry_not_before", b"soon"),
    ],
}


async def test_malformed_failure_headers_are_dead_lettered_and_the_subscriber_goes_on(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    group = f"malformed-{unique}"
    await start_group_at_end(bus_settings, group)
    subscriber = Subscriber(
        SYSTEM,
        group=group,
        catalog=catalog,
        settings=bus_settings,
        retry=RetryPolicy(attempts=1, topic_delays_s=(0.1,)),
    )
    handled: list[str] = []

    @subscriber.handler(IzinTerbit)
    async def handle(data: IzinTerbit, envelope: Envelope) -> None:
        handled.append(envelope.id)

    system = catalog.system("dpmptsp.sicantik")
    event_type = catalog.event_type(IzinTerbit)
    broken = {
        name: build_record(event_type, system, izin(f"503/MAL/{unique}/{n}"))
        for n, name in enumerate(MALFORMED)
    }
    async with running(subscriber, retries=True):
        producer = clients.producer(bus_settings)
        await producer.start()
        try:
            for name, record in broken.items():
                await producer.send_and_wait(
                    retry_topic(group, 1),
                    record.value,
                    key=record.key,
                    headers=record.headers + MALFORMED[name],
                )
        finally:
            await producer.stop()
        after = await dpmptsp.publish(izin(f"503/MAL/{unique}/after"))
        await wait_until(
            lambda: subscriber.stats.dead_lettered == 3 and after.event_id in handled,
            timeout=30,
            message="3 malformed records dead-lettered and the next event handled",
        )
        # Leaving the block fails if the subscriber stopped (it used to crash-loop).

    assert handled == [after.event_id]
    dlq = dict.fromkeys(await end_offsets(bus_settings, dlq_topic(group)), 0)
    letters = await read_to_end(bus_settings, dlq)
    by_id = {dict(r.headers)["ce_id"].decode(): dict(r.headers) for r in letters}
    assert len(letters) == 3
    expected = {
        "no first failure": b"dlq_first_failure_at",
        "bad attempts": b"dlq_attempts",
        "bad time": b"dlq_first_failure_at",
    }
    for name, record in broken.items():
        headers = by_id[record.id]
        assert headers["dlq_error_class"] == b"bus.reliability.failure.MalformedFailureError"
        assert expected[name] in headers["dlq_error_message"]
        assert headers["dlq_original_topic"] == retry_topic(group, 1).encode()
