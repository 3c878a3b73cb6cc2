"""The SDK publishes at volume: 100,000 pipelined events, every delivery accounted for."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from prometheus_client import REGISTRY
from pydantic import Field

from bus import testing
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog, EventData
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError
from bus.publish import Delivery, Publisher
from bus.testing import KafkaService, own_broker
from schemas.systems import SYSTEMS

pytestmark = pytest.mark.integration

EVENTS = 100_000


class TitikUji(
    EventData,
    type="id.go.riau.bpbd.titik.uji",
    version=1,
    owner="bpbd.sipongi",
    key="titik_id",
    topic={"partitions": 3},
):
    """A load-test point: a topic of its own, so 100,000 records burden no other test."""

    titik_id: str = Field(min_length=1, max_length=32)
    urutan: int = Field(ge=0)
    detected_at: datetime

    example: ClassVar[dict[str, Any]] = {
        "titik_id": "T-1",
        "urutan": 0,
        "detected_at": "2026-11-02T01:42:00+07:00",
    }


@pytest.fixture(scope="module")
def load_catalog() -> Catalog:
    return Catalog(systems=SYSTEMS, event_types=[TitikUji])


async def test_100k_events_every_delivery_accounted_for(
    bus_settings: BusSettings, load_catalog: Catalog
) -> None:
    settings = bus_settings.model_copy(update={"producer_max_in_flight": 5_000})
    await ensure_topics(load_catalog.event_types, settings)
    now = datetime.now(UTC)
    events = [TitikUji(titik_id=f"T-{i % 50}", urutan=i, detected_at=now) for i in range(EVENTS)]
    most_buffered = 0
    async with Publisher("bpbd.sipongi", catalog=load_catalog, settings=settings) as publisher:
        pending: list[asyncio.Future[Delivery]] = []
        for event in events:
            pending.append(await publisher.send(event))
            most_buffered = max(most_buffered, publisher.sender.buffered)
        await publisher.flush()
        assert all(future.done() for future in pending)
        deliveries = [future.result() for future in pending]

    assert len(deliveries) == EVENTS
    assert len({d.event_id for d in deliveries}) == EVENTS
    assert len({(d.topic, d.partition, d.offset) for d in deliveries}) == EVENTS
    # The buffer is bounded: sends waited for acknowledgements instead of piling up.
    assert 0 < most_buffered <= 5_000
    # Pipelining kept order: within each key, offsets grow in the order of sending.
    by_key: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for event, delivery in zip(events, deliveries, strict=True):
        by_key[event.titik_id].append((delivery.partition, delivery.offset))
    for key, positions in by_key.items():
        assert len({p for p, _ in positions}) == 1, f"key {key} spread over partitions"
        offsets = [o for _, o in positions]
        assert offsets == sorted(offsets), f"key {key} out of order"


async def test_an_outage_makes_publish_and_flush_fail_in_time_and_nothing_is_doubled(
    bus_settings: BusSettings, load_catalog: Catalog, kafka: KafkaService
) -> None:
    """The only node stops for 30 s in the middle of publishing, idempotence on.

    aiokafka's idempotent producer retries a batch for ever, so without a delivery deadline
    `publish()` and `flush()` would wait for the whole outage.
    """
    deadline_s = 8.0
    async with own_broker(kafka) as broker:
        settings = bus_settings.model_copy(
            update={
                **broker.client_settings(),
                "producer_delivery_timeout_ms": int(deadline_s * 1000),
            }
        )
        assert settings.producer_idempotence
        await ensure_topics(load_catalog.event_types, settings)
        topic = TitikUji.event_type().topic
        start = await testing.end_offsets(settings, topic)
        now = datetime.now(UTC)
        succeeded: list[str] = []
        failed = [f"outage-{i}" for i in range(201, 301)]
        async with Publisher("bpbd.sipongi", catalog=load_catalog, settings=settings) as publisher:
            for i in range(200):
                succeeded.append((await publisher.publish(titik(i, now))).event_id)
            outage_began = time.monotonic()
            await asyncio.to_thread(broker.pause)

            before = time.monotonic()
            with pytest.raises(BrokerUnavailableError) as refused:
                await publisher.publish(titik(200, now))
            waited = time.monotonic() - before
            assert deadline_s - 1 <= waited < deadline_s + 10, waited
            assert "may still be written" in str(refused.value)
            assert "BUS_PRODUCER_DELIVERY_TIMEOUT_MS" in str(refused.value)

            pending = [
                await publisher.send(titik(i, now), id=f"outage-{i}") for i in range(201, 301)
            ]
            before = time.monotonic()
            await publisher.flush()  # settles every send by its deadline, however long the outage
            assert time.monotonic() - before < deadline_s + 10
            outcomes = await asyncio.gather(*pending, return_exceptions=True)
            assert all(isinstance(o, BrokerUnavailableError) for o in outcomes), outcomes

            # The outage lasts 30 s in all (its length, not a wait for anything); then the
            # cluster is back and publishing resumes.
            await asyncio.sleep(max(0.0, 30 - (time.monotonic() - outage_began)))
            await asyncio.to_thread(broker.resume)
            for i in range(301, 401):
                succeeded.append((await publisher.publish(titik(i, now))).event_id)

        ids = [testing.header(r, "ce_id") for r in await testing.read_to_end(settings, start)]
        counts = Counter(ids)
        # Every acknowledged event is on the topic exactly once ...
        assert [counts[event_id] for event_id in succeeded] == [1] * len(succeeded)
        # ... and an event whose publish failed is there at most once (written late, or not).
        assert all(counts[event_id] <= 1 for event_id in failed)
        assert sum(counts.values()) == len(ids)


def titik(i: int, now: datetime) -> TitikUji:
    return TitikUji(titik_id=f"T-{i % 7}", urutan=i, detected_at=now)


async def test_concurrent_senders_wait_for_room_and_every_event_lands(
    bus_settings: BusSettings, load_catalog: Catalog
) -> None:
    # A tiny buffer and five tasks sending at once: most sends must wait for room, in turn.
    settings = bus_settings.model_copy(update={"producer_max_in_flight": 7})
    await ensure_topics(load_catalog.event_types, settings)
    now = datetime.now(UTC)
    most_buffered = 0
    async with Publisher("bpbd.sipongi", catalog=load_catalog, settings=settings) as publisher:

        async def sender(task: int) -> list[Delivery]:
            nonlocal most_buffered
            pending = []
            for i in range(400):
                event = TitikUji(titik_id=f"C-{task}", urutan=i, detected_at=now)
                pending.append(await publisher.send(event))
                most_buffered = max(most_buffered, publisher.sender.buffered)
            return list(await asyncio.gather(*pending))

        per_task = await asyncio.gather(*(sender(task) for task in range(5)))
        assert publisher.sender.buffered == 0

    assert 0 < most_buffered <= 7
    for deliveries in per_task:
        assert len(deliveries) == 400
        assert len({d.partition for d in deliveries}) == 1  # one key per task
        offsets = [d.offset for d in deliveries]
        assert offsets == sorted(offsets) and len(set(offsets)) == 400


def _published(event_type: str) -> float:
    labels = {
        "system": "bpbd.sipongi",
        "event_type": event_type,
        "topic": TitikUji.event_type().topic,
    }
    return REGISTRY.get_sample_value("bus_events_published_total", labels) or 0.0


async def test_published_events_are_counted_once_each(
    bus_settings: BusSettings, load_catalog: Catalog
) -> None:
    await ensure_topics(load_catalog.event_types, bus_settings)
    event_type = TitikUji.event_type().type
    before = _published(event_type)
    now = datetime.now(UTC)
    async with Publisher("bpbd.sipongi", catalog=load_catalog, settings=bus_settings) as publisher:
        batch = [TitikUji(titik_id=f"M-{i}", urutan=i, detected_at=now) for i in range(250)]
        deliveries = await publisher.publish_batch(batch)
        await publisher.publish(
            {"titik_id": "M-x", "urutan": 1, "detected_at": now.isoformat()}, event_type=event_type
        )
    assert len(deliveries) == 250
    assert _published(event_type) - before == 251
