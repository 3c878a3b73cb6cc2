"""lag_scan_s: one `bus lag` scan of 50 groups × 20 topics × 12 partitions, and how it grows.

Each scenario runs on a broker of its own (the scan reads the cluster's whole metadata, so
other benchmarks' topics would blur the curve). Every partition holds a few records; every
group has committed, on every partition of every topic, an offset a few records behind the
log end, so each group lags everywhere and the scan reads every kind of offset it reads in
production (committed, log end, timestamp of the first unconsumed record). Groups are made
with manual assignment and explicit commits, which is what the broker stores for any group,
without paying a group join per group.

The figure is the wall time of `LagScanner.scan` on a connected scanner — the public entry
point `bus lag` calls — median of the rounds; `cold_s` adds connecting, as a fresh `bus lag`
process does.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

from aiokafka.admin import NewTopic
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from bench.environment import local_broker
from bus.broker import clients
from bus.broker.local import BrokerChoice
from bus.config import BusSettings
from bus.lag import LagScanner

RECORDS_PER_PARTITION = 8
LAGGING_BY = 3


@dataclass(frozen=True)
class LagScan:
    """Seconds for one scan of `groups` groups over `topics` × `partitions` partitions."""

    groups: int
    topics: int
    partitions_per_topic: int
    scan_s: float
    cold_s: float
    rows: int

    @property
    def partitions(self) -> int:
        """Partitions in the cluster."""
        return self.topics * self.partitions_per_topic


async def scenario(
    base: BusSettings,
    choice: BrokerChoice,
    *,
    groups: int,
    topics: int,
    partitions: int,
    rounds: int,
) -> LagScan:
    """Start a broker of the chosen kind, build the scenario, and time `rounds` scans."""
    async with local_broker(choice) as broker:
        settings = base.model_copy(update=broker.client_settings())
        names = [f"bench.lag.t{t:03d}" for t in range(topics)]
        group_ids = [f"bench.lag.g{g:03d}" for g in range(groups)]
        await _fill(settings, names, partitions)
        await _commit(settings, group_ids, names, partitions)
        cold: list[float] = []
        warm: list[float] = []
        rows = 0
        for _ in range(rounds):
            started = time.perf_counter()
            async with LagScanner(settings) as scanner:
                connected = time.perf_counter()
                report = await scanner.scan(group_ids)
                done = time.perf_counter()
            cold.append(done - started)
            warm.append(done - connected)
            rows = sum(len(g.partitions) for g in report.groups)
        expected = groups * topics * partitions
        if rows != expected:
            raise RuntimeError(f"lag scan saw {rows} group partitions, expected {expected}")
        return LagScan(
            groups, topics, partitions, statistics.median(warm), statistics.median(cold), rows
        )


async def _fill(settings: BusSettings, topics: list[str], partitions: int) -> None:
    admin = clients.admin(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    finally:
        await admin.close()
    producer = clients.producer(settings)
    await producer.start()
    try:
        for topic in topics:
            for partition in range(partitions):
                for i in range(RECORDS_PER_PARTITION - 1):
                    await producer.send(topic, b"x" * 100, partition=partition, key=b"%d" % i)
        await producer.flush()
        # Some brokers report the base offset of the last produce batch as the log end: one
        # single-record batch per partition at the end makes the end offset exact on any broker.
        await asyncio.gather(
            *(
                producer.send_and_wait(topic, b"x" * 100, partition=partition)
                for topic in topics
                for partition in range(partitions)
            )
        )
    finally:
        await producer.stop()


async def _commit(
    settings: BusSettings, groups: list[str], topics: list[str], partitions: int
) -> None:
    offsets = {
        TopicPartition(t, p): OffsetAndMetadata(RECORDS_PER_PARTITION - LAGGING_BY, "")
        for t in topics
        for p in range(partitions)
    }
    for group in groups:
        consumer = clients.consumer(settings, group_id=group)
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit(offsets)
        finally:
            await consumer.stop()


#: Groups in each point of the growth curve, and partitions per topic there.
CURVE_GROUPS = 10
CURVE_TOPIC_PARTITIONS = 10


def describe(scan: LagScan) -> dict[str, float | int]:
    """One scan as it appears in the results document."""
    return {
        "groups": scan.groups,
        "topics": scan.topics,
        "partitions": scan.partitions,
        "group_partitions": scan.rows,
        "scan_s": round(scan.scan_s, 4),
        "cold_s": round(scan.cold_s, 4),
    }
