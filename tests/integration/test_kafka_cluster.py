"""A 3-node Apache Kafka cluster: RF 3, min.insync.replicas 2, acks=all, idempotence on.

A partition's leader is killed with SIGKILL while 20,000 events are published through the SDK
and a `Subscriber` consumes them. An independent raw reader then reads every partition to its
end offset and groups the records by `ce_id`: every event whose publish succeeded must be there
exactly once, and the handler must have seen each one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from aiokafka import TopicPartition

from bus import testing
from bus.broker import clients
from bus.broker.topics import ensure_topics
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import BrokerUnavailableError, BusError
from bus.publish import Delivery, Publisher
from bus.subscribe import Subscriber
from bus.testing import KafkaService, own_broker, wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit

pytestmark = pytest.mark.integration

EVENTS = 20_000
TOPIC = IzinTerbit.event_type().topic


def izin(i: int) -> IzinTerbit:
    return IzinTerbit.model_validate({**IzinTerbit.example, "nomor_izin": f"503/HA/{i:06d}"})


async def leader_of(settings: BusSettings, tp: TopicPartition) -> int:
    """The node id leading `tp` now."""
    async with clients.admin_session(settings) as admin:
        cluster = await admin._client.fetch_all_metadata()
    leader = cluster.leader_for_partition(tp)
    assert leader is not None and leader >= 0
    return int(leader)


async def topic_shape(settings: BusSettings, topic: str) -> tuple[int, str]:
    """(replication factor, min.insync.replicas) of `topic` on the cluster."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    async with clients.admin_session(settings) as admin:
        [described] = await admin.describe_topics([topic])
        [configs] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    replicas = {len(p["replicas"]) for p in described["partitions"]}
    assert len(replicas) == 1
    entries = {entry[0]: entry[1] for entry in configs.resources[0][4]}
    return replicas.pop(), entries["min.insync.replicas"]


async def test_a_leader_killed_mid_stream_loses_and_doubles_nothing(
    bus_settings: BusSettings, catalog: Catalog, kafka: KafkaService, unique: str
) -> None:
    async with own_broker(kafka, nodes=3) as broker:
        assert broker.cluster is not None
        settings = bus_settings.model_copy(update=broker.client_settings())
        assert settings.producer_idempotence and settings.producer_acks == "all"
        await ensure_topics(catalog.event_types, settings)
        assert await topic_shape(settings, TOPIC) == (3, "2")

        handled: Counter[str] = Counter()
        subscriber = Subscriber("bapenda.sipd", f"ha-{unique}", catalog=catalog, settings=settings)

        @subscriber.handler(IzinTerbit)
        async def count(event: IzinTerbit, envelope: Envelope) -> None:
            handled[envelope.id] += 1

        succeeded: list[str] = []
        failed = 0
        victim = await leader_of(settings, TopicPartition(TOPIC, 0))
        async with (
            running(subscriber),
            Publisher("dpmptsp.sicantik", catalog=catalog, settings=settings) as publisher,
        ):
            for chunk in range(EVENTS // 1000):
                if chunk == 5:
                    # SIGKILL the leader of partition 0 with batches in flight.
                    pending = [await publisher.send(izin(i)) for i in range(-500, 0)]
                    broker.cluster.node(victim).kill()
                    for outcome in await asyncio.gather(*pending, return_exceptions=True):
                        if isinstance(outcome, Delivery):
                            succeeded.append(outcome.event_id)
                        else:
                            failed += 1
                events = [izin(chunk * 1000 + i) for i in range(1000)]
                for outcome in await publisher.publish_batch(events, return_exceptions=True):
                    if isinstance(outcome, BusError):
                        failed += 1
                    else:
                        succeeded.append(outcome.event_id)
            assert await leader_of(settings, TopicPartition(TOPIC, 0)) != victim
            await wait_until(
                lambda: set(succeeded) <= set(handled),
                timeout=120,
                message="the handler saw every acknowledged event",
            )

        on_topic = Counter(
            testing.header(record, "ce_id")
            for record in await testing.read_to_end(
                settings, dict.fromkeys(await testing.end_offsets(settings, TOPIC), 0)
            )
        )
        # acks=all with idempotence: producer retries across the failover wrote nothing twice.
        assert len(succeeded) + failed == EVENTS + 500
        assert failed == 0, f"{failed} publishes failed although 2 of 3 replicas stayed up"
        assert [on_topic[event_id] for event_id in succeeded] == [1] * len(succeeded)
        assert sum(on_topic.values()) == len(succeeded)
        assert set(handled) == set(succeeded)

        # Two of three nodes down: min.insync.replicas=2 cannot be met; publishing fails
        # with a clear error within the delivery deadline instead of waiting for ever.
        short = settings.model_copy(
            update={"producer_delivery_timeout_ms": 8000, "request_timeout_ms": 5000}
        )
        survivors = [node for node in broker.cluster.nodes if node.running]
        survivors[0].kill()
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError) as refused:
            async with Publisher("dpmptsp.sicantik", catalog=catalog, settings=short) as late:
                await late.publish(izin(EVENTS + 1))
        assert time.monotonic() - started < 30
        assert "Kafka at" in str(refused.value)

        # After a restart, everything resumes.
        await asyncio.to_thread(broker.resume)
        async with Publisher("dpmptsp.sicantik", catalog=catalog, settings=settings) as publisher:
            delivery = await publisher.publish(izin(EVENTS + 2))
        assert delivery.topic == TOPIC
