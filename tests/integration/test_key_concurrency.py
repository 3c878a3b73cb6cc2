"""Different keys of one partition handled concurrently (`key_concurrency`), on real Kafka.

Every test puts all its keys on partition 0 of the licence topic and publishes before its
subscriber starts, so one fetch brings many keys of one partition at once. What is proven: each
key's events are handled in order and once; several keys are in flight at once but never more
than `key_concurrency`; the committed offset never passes a record that has not finished, so a
stop redelivers exactly what the commit did not cover; a failing key's event goes to the retry
topic while the other keys go on.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

import pytest
from aiokafka import TopicPartition

from bus.catalog import Catalog
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.errors import RetryLaterError
from bus.publish import Delivery, Publisher
from bus.reliability import RetryPolicy, retry_topic
from bus.subscribe import Subscriber
from bus.testing import (
    committed_offsets,
    end_offsets,
    header,
    keys_on_partition,
    read_to_end,
    wait_until,
)
from bus.testing.subscribers import running
from schemas import IzinTerbit
from tests.integration.sink_world import SYSTEM, TOPIC, izin, start_group_at_end

pytestmark = pytest.mark.integration

PARTITION = TopicPartition(TOPIC, 0)


def keys(prefix: str, count: int) -> list[str]:
    """`count` licence numbers that all land on `PARTITION`."""
    partitions = IzinTerbit.event_type().topic_settings.partitions
    return keys_on_partition(
        prefix, partition=PARTITION.partition, partitions=partitions, count=count
    )


async def publish_in_turns(
    publisher: Publisher, keys: list[str], events_per_key: int
) -> dict[str, list[Delivery]]:
    """Event `seq` of every key, then `seq + 1` of every key, …; the sequence rides in
    `nilai_investasi`. Returns each key's deliveries, all on `PARTITION`."""
    pending: dict[str, list[asyncio.Future[Delivery]]] = defaultdict(list)
    for seq in range(events_per_key):
        for key in keys:
            pending[key].append(await publisher.send(izin(key, nilai_investasi=seq)))
    deliveries = {key: list(await asyncio.gather(*futures)) for key, futures in pending.items()}
    assert {d.partition for ds in deliveries.values() for d in ds} == {PARTITION.partition}
    return deliveries


async def prepare(
    settings: BusSettings, publisher: Publisher, group: str, prefix: str, count: int
) -> tuple[list[str], dict[str, list[Delivery]]]:
    """`count` keys on `PARTITION`, 10 events each published in turns after `group` starts at
    the end: the keys and their deliveries."""
    names = keys(prefix, count)
    await start_group_at_end(settings, group)
    return names, await publish_in_turns(publisher, names, 10)


async def committed(settings: BusSettings, group: str) -> int:
    """The group's committed offset on `PARTITION`."""
    return (await committed_offsets(settings, group, TOPIC))[PARTITION]


async def end(settings: BusSettings) -> int:
    """The end offset of `PARTITION`."""
    return (await end_offsets(settings, TOPIC))[PARTITION]


async def test_keys_are_handled_concurrently_each_in_order_and_once(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    group = f"keys-order-{unique}"
    prefix = f"503/KEY/{unique}"
    key_names = keys(prefix, 20)
    await start_group_at_end(bus_settings, group)
    await publish_in_turns(dpmptsp, key_names, 25)
    last = await end(bus_settings)
    received: dict[str, list[int]] = defaultdict(list)
    handled: list[tuple[str, int]] = []
    in_flight = most_in_flight = 0
    subscriber = Subscriber(
        SYSTEM, group=group, catalog=catalog, settings=bus_settings, key_concurrency=8
    )

    @subscriber.handler(IzinTerbit)
    async def on_izin(izin: IzinTerbit) -> None:
        nonlocal in_flight, most_in_flight
        key, seq = izin.nomor_izin, int(izin.nilai_investasi)
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        try:
            await asyncio.sleep(random.uniform(0, 0.002))  # the I/O of a webhook call
        finally:
            in_flight -= 1
        handled.append((key, seq))
        received[key].append(seq)

    async with running(subscriber):
        await wait_until(lambda: len(handled) >= 500, timeout=60, message="500 events handled")

        async def all_committed() -> bool:
            return await committed(bus_settings, group) == last

        await wait_until(all_committed, timeout=30, message="the end offset committed")

    assert len(handled) == 500
    assert Counter(handled) == {(key, seq): 1 for key in key_names for seq in range(25)}
    for key in key_names:
        assert received[key] == list(range(25)), f"{key} out of order"
    assert 1 < most_in_flight <= 8
    assert await committed(bus_settings, group) == await end(bus_settings)
    stats = subscriber.stats
    assert (stats.received, stats.handled, stats.failed) == (500, 500, 0)


async def test_stop_commits_only_the_finished_prefix_and_the_rest_comes_again(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    group = f"keys-stop-{unique}"
    (slow, *_), deliveries = await prepare(bus_settings, dpmptsp, group, f"503/KST/{unique}", 3)
    ours = sorted(d.offset for ds in deliveries.values() for d in ds)
    blocked_offset, next_of_slow = (d.offset for d in deliveries[slow][:2])
    release = asyncio.Event()
    started: list[int] = []
    finished: list[int] = []
    first = Subscriber(
        SYSTEM, group=group, catalog=catalog, settings=bus_settings, key_concurrency=4
    )

    @first.handler(IzinTerbit)
    async def hold_the_slow_key(envelope: Envelope) -> None:
        assert envelope.offset is not None
        started.append(envelope.offset)
        if envelope.offset == blocked_offset:
            await release.wait()  # the slow key's first event is in hand when the stop comes
        finished.append(envelope.offset)

    await first.start()
    run = asyncio.create_task(first.run())
    await wait_until(
        lambda: len(finished) == 20, timeout=60, message="the other two keys' 20 events handled"
    )
    assert blocked_offset in started and blocked_offset not in finished
    await first.stop()
    release.set()
    await asyncio.wait_for(run, 30)

    # The event in hand finished; the slow key's next one never started.
    assert sorted(started) == sorted(finished)
    assert next_of_slow not in started
    prefix_end = min(offset for offset in ours if offset not in finished)
    assert prefix_end == next_of_slow
    # Handled but after an unfinished record: done, yet not covered by the commit.
    assert any(offset > prefix_end for offset in finished)
    assert await committed(bus_settings, group) == prefix_end

    redelivered: list[int] = []
    second = Subscriber(SYSTEM, group=group, catalog=catalog, settings=bus_settings)

    @second.handler(IzinTerbit)
    async def collect(envelope: Envelope) -> None:
        assert envelope.offset is not None
        redelivered.append(envelope.offset)

    expected = [offset for offset in ours if offset >= prefix_end]
    async with running(second):
        await wait_until(
            lambda: len(redelivered) >= len(expected), timeout=60, message="the rest delivered"
        )
    assert sorted(redelivered) == expected


async def test_a_failing_key_goes_to_the_retry_topic_and_the_other_keys_go_on(
    dpmptsp: Publisher, bus_settings: BusSettings, catalog: Catalog, unique: str
) -> None:
    group = f"keys-retry-{unique}"
    key_names, deliveries = await prepare(bus_settings, dpmptsp, group, f"503/KRT/{unique}", 5)
    failing = key_names[0]
    refused = deliveries[failing][0]
    handled: list[tuple[str, int]] = []
    # A retry delay far beyond the test: the refused event stays on the retry topic.
    policy = RetryPolicy(attempts=1, topic_delays_s=(120.0,))
    subscriber = Subscriber(
        SYSTEM,
        group=group,
        catalog=catalog,
        settings=bus_settings,
        retry=policy,
        key_concurrency=4,
    )

    @subscriber.handler(IzinTerbit)
    async def deliver(izin: IzinTerbit, envelope: Envelope) -> None:
        if envelope.id == refused.event_id:
            raise RetryLaterError("endpoint answered 503")
        await asyncio.sleep(random.uniform(0, 0.002))  # the I/O of a webhook call
        handled.append((izin.nomor_izin, int(izin.nilai_investasi)))

    last = await end(bus_settings)
    async with running(subscriber):
        await wait_until(lambda: len(handled) >= 49, timeout=60, message="49 events handled")

        async def all_committed() -> bool:
            return await committed(bus_settings, group) == last

        await wait_until(all_committed, timeout=30, message="the end offset committed")

    expected = [(key, seq) for key in key_names for seq in range(10)]
    expected.remove((failing, 0))
    assert sorted(handled) == sorted(expected)
    for key in key_names:
        seqs = [seq for k, seq in handled if k == key]
        assert seqs == sorted(seqs), f"{key} out of order"
    retry_partitions = await end_offsets(bus_settings, retry_topic(group, 1))
    moved = await read_to_end(bus_settings, dict.fromkeys(retry_partitions, 0))
    assert [(r.key, header(r, "ce_id")) for r in moved] == [(failing.encode(), refused.event_id)]
    stats = subscriber.stats
    assert (stats.received, stats.handled, stats.failed, stats.retried, stats.dead_lettered) == (
        50,
        49,
        1,
        1,
        0,
    )
