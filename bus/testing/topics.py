"""Scratch topics with a known shape: created per test, filled per partition, and a group's
commits placed part-way, so lag and dead-letter views have exact numbers to show; or declared
by a scratch catalog under a unique OPD prefix, for `bus topics plan|apply` to act on.

    await create_topic(settings, topic, 3)
    await produce(settings, topic, [7, 5, 4])                  # records per partition
    await consume_and_commit(settings, topic, group, [3, 5, 1])  # lag 4, 0, 3
    await create_topic(settings, dlq_topic(group), 1)
    await dead_letter(settings, group, event_id, topic)         # one dead letter of `group`
    catalog = scratch_catalog(f"t{unique}", izin_partitions=4)  # topics t<hex>.izin.terbit.v1, …
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.structs import OffsetAndMetadata

from bus.broker import clients
from bus.catalog import Catalog, EventData, System
from bus.config import BusSettings
from bus.envelope import Envelope
from bus.reliability.naming import dlq_topic

__all__ = ["consume_and_commit", "create_topic", "dead_letter", "produce", "scratch_catalog"]

# The event a dead letter stands for: a licence from DPMPTSP's SiCantik, the catalog's example.
_EVENT_TYPE = "id.go.riau.dpmptsp.izin.terbit"
_SOURCE = "/riau/dpmptsp/sicantik"
_WEEK_MS = 7 * 24 * 3600 * 1000


async def create_topic(settings: BusSettings, name: str, partitions: int) -> None:
    """A scratch topic."""
    admin = clients.admin(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def produce(settings: BusSettings, topic: str, counts: list[int]) -> None:
    """`counts[p]` records into each partition `p`.

    Each partition's last record is sent alone (send_and_wait): Tansu reports the high watermark
    as the base offset of the last produce batch + 1, so a single-record last batch makes the end
    offset exact (a documented broker quirk; Kafka is exact either way).
    """
    producer = clients.producer(settings)
    await producer.start()
    try:
        for partition, count in enumerate(counts):
            for i in range(count - 1):
                await producer.send(topic, f"e{i}".encode(), partition=partition)
            await producer.flush()
            if count:
                await producer.send_and_wait(topic, b"last", partition=partition)
    finally:
        await producer.stop()


async def consume_and_commit(
    settings: BusSettings, topic: str, group: str, counts: list[int]
) -> None:
    """Read `counts[p]` records from each partition `p` as `group`, then commit after them."""
    consumer: AIOKafkaConsumer = clients.consumer(settings, group_id=group)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(len(counts))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        offsets = {}
        for tp, count in zip(tps, counts, strict=True):
            if not count:
                continue
            read: list[Any] = []
            while len(read) < count:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=count - len(read))
                read += batch.get(tp, [])
            offsets[tp] = OffsetAndMetadata(read[-1].offset + 1, "")
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def dead_letter(
    settings: BusSettings,
    group: str,
    event_id: str,
    topic: str,
    error_message: str = "target database refused the connection",
) -> None:
    """A dead letter as the reliability path writes it: original headers plus `dlq_*`."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    envelope = Envelope.new(source=_SOURCE, type=_EVENT_TYPE, id=event_id)
    headers = [
        *envelope.to_headers(),
        ("dlq_original_topic", topic.encode()),
        ("dlq_original_partition", b"0"),
        ("dlq_original_offset", b"0"),
        ("dlq_group", group.encode()),
        ("dlq_error_class", b"ConnectionRefusedError"),
        ("dlq_error_message", error_message.encode()),
        ("dlq_attempts", b"4"),
        ("dlq_first_failure_at", now.encode()),
        ("dlq_last_failure_at", now.encode()),
    ]
    producer = clients.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(dlq_topic(group), b"{}", key=b"k", headers=headers)
    finally:
        await producer.stop()


def scratch_catalog(
    opd: str, *, izin_partitions: int = 2, retention_ms: int = _WEEK_MS, with_nib: bool = True
) -> Catalog:
    """A catalog of one system owning one or two event types under the OPD prefix `opd`."""

    class Izin(
        EventData,
        type=f"id.go.riau.{opd}.izin.terbit",
        version=1,
        owner=f"{opd}.app",
        key="nomor",
        topic={"partitions": izin_partitions, "retention_ms": retention_ms},
    ):
        """A scratch licence event."""

        nomor: str
        example: ClassVar[dict[str, Any]] = {"nomor": "1"}

    class Nib(
        EventData,
        type=f"id.go.riau.{opd}.nib.terbit",
        version=1,
        owner=f"{opd}.app",
        key="nib",
        topic={"partitions": 1, "cleanup_policy": "compact"},
    ):
        """A scratch business registration event."""

        nib: str
        example: ClassVar[dict[str, Any]] = {"nib": "1"}

    return Catalog(
        systems=[System(id=f"{opd}.app", opd=opd.upper(), name="scratch system")],
        event_types=[Izin, Nib] if with_nib else [Izin],
    )
