"""A lag scan costs a bounded number of broker requests, whatever the partition count."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from bus.broker import clients
from bus.config import BusSettings
from bus.lag import LagScanner
from bus.testing.topics import create_topic

pytestmark = pytest.mark.integration


async def fill(settings: BusSettings, topic: str, partitions: int) -> None:
    """Two records per partition; the last one of each partition alone (exact end on Tansu)."""
    producer = clients.producer(settings)
    await producer.start()
    try:
        for p in range(partitions):
            await producer.send(topic, b"first", partition=p)
        await producer.flush()
        for p in range(partitions):
            await producer.send_and_wait(topic, b"last", partition=p)
    finally:
        await producer.stop()


async def commit_first(settings: BusSettings, topic: str, group: str, partitions: int) -> None:
    """The group committed after the first record of every partition: lag 1 each."""
    consumer = clients.consumer(settings, group_id=group)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(1, "") for tp in tps})
    finally:
        await consumer.stop()


async def counted_scan(settings: BusSettings, group: str, topic: str) -> tuple[Counter[str], int]:
    """Scan `group` with every request the client sends counted by request type."""
    sent: Counter[str] = Counter()
    async with LagScanner(settings) as scanner:
        original = scanner.client.send

        async def send(node_id: int, request: Any, **kwargs: Any) -> Any:
            sent[type(request).__name__] += 1
            return await original(node_id, request, **kwargs)

        scanner.client.send = send
        report = await scanner.scan([group], topic=topic)
    return sent, report.group(group).lag


async def test_a_200_partition_scan_sends_as_few_requests_as_a_2_partition_scan(
    bus_settings: BusSettings, unique: str
) -> None:
    sizes = {"small": 2, "large": 200}
    counts = {}
    for name, partitions in sizes.items():
        topic, group = f"lag.batch.{name}.{unique}", f"lag-batch-{name}-{unique}"
        await create_topic(bus_settings, topic, partitions)
        await fill(bus_settings, topic, partitions)
        await commit_first(bus_settings, topic, group, partitions)
        sent, lag = await counted_scan(bus_settings, group, topic)
        assert lag == partitions  # one unconsumed record per partition, all seen
        counts[name] = sent

    large = counts["large"]
    # One broker: Metadata, FindCoordinator, OffsetFetch, DescribeGroups, ListOffsets, Fetch.
    assert sum(large.values()) <= 6, large
    for request in ("OffsetFetchRequest", "OffsetRequest", "FetchRequest"):
        assert large[request] == 1, large
    assert large == counts["small"]
