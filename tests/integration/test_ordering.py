"""One entity's events arrive in the order they were published, across a 3-partition topic.

Keys are chosen so every partition carries two keys, and events of all keys are sent
interleaved and pipelined: ordering has to hold inside a partition shared by several keys while
partitions are handled concurrently by the subscriber.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest
from aiokafka.partitioner import DefaultPartitioner

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.publish import Delivery, Publisher
from bus.subscribe import Subscriber
from bus.testing import wait_until
from bus.testing.subscribers import running
from schemas import IzinTerbit

pytestmark = pytest.mark.integration

EVENTS_PER_KEY = 200
KEYS_PER_PARTITION = 2


def keys_covering(partitions: int, unique: str) -> list[str]:
    """License numbers whose Kafka partitions cover every partition, `KEYS_PER_PARTITION` each."""
    by_partition: dict[int, list[str]] = defaultdict(list)
    candidate = 0
    while any(len(by_partition[p]) < KEYS_PER_PARTITION for p in range(partitions)):
        key = f"503/ORD/{unique}/{candidate:04d}"
        partition = DefaultPartitioner()(key.encode(), list(range(partitions)), [])
        if len(by_partition[partition]) < KEYS_PER_PARTITION:
            by_partition[partition].append(key)
        candidate += 1
    return [key for p in range(partitions) for key in by_partition[p]]


def licence(key: str, sequence: int) -> IzinTerbit:
    """The `sequence`-th event of license `key`; the sequence travels as the investment value."""
    return IzinTerbit.model_validate(
        {**IzinTerbit.example, "nomor_izin": key, "nilai_investasi": sequence}
    )


async def test_each_key_arrives_in_order_on_one_partition(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    partitions = IzinTerbit.event_type().topic_settings.partitions
    assert partitions == 3
    keys = keys_covering(partitions, unique)
    received: dict[str, list[int]] = defaultdict(list)
    received_on: dict[str, set[int]] = defaultdict(set)
    subscriber = Subscriber(
        "bapenda.sipd", group=f"ordering-{unique}", catalog=catalog, settings=bus_settings
    )

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit, envelope: Envelope) -> None:
        if izin.nomor_izin not in keys:
            return  # an event of another test on the shared topic
        # Yield now and then so partitions handled concurrently really interleave.
        if random.random() < 0.2:
            await asyncio.sleep(0)
        received[izin.nomor_izin].append(izin.nilai_investasi)
        assert envelope.partition is not None
        received_on[izin.nomor_izin].add(envelope.partition)

    async with running(subscriber):
        pending: dict[str, list[asyncio.Future[Delivery]]] = defaultdict(list)
        for sequence in range(EVENTS_PER_KEY):
            for key in keys:
                pending[key].append(await dpmptsp.send(licence(key, sequence)))
        deliveries = {key: list(await asyncio.gather(*futures)) for key, futures in pending.items()}
        total = len(keys) * EVENTS_PER_KEY
        await wait_until(
            lambda: sum(map(len, received.values())) >= total,
            timeout=60,
            message=f"{total} events received",
        )

    expected = list(range(EVENTS_PER_KEY))
    for key in keys:
        assert received[key] == expected, f"{key} arrived out of order or incomplete"
        # The broker stored the key's events on one partition, at increasing offsets ...
        assert len({d.partition for d in deliveries[key]}) == 1
        offsets = [d.offset for d in deliveries[key]]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        # ... and the subscriber read them from that same partition.
        assert received_on[key] == {deliveries[key][0].partition}
    used = {deliveries[key][0].partition for key in keys}
    assert used == set(range(partitions)), "the keys did not spread over every partition"
