"""Create a consumer group's retry and dead-letter topics, sized like its source topics.

They get as many partitions as the largest source topic: retried and dead-lettered records keep
their key, so the default partitioner keeps one entity's failures in one partition, in order,
and retry consumption spreads over the group's members like the source topics do.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bus.broker import clients
from bus.config import BusSettings
from bus.reliability.naming import dlq_topic, retry_topics


async def ensure_failure_topics(
    group: str,
    source_topics: Iterable[str],
    stages: int,
    settings: BusSettings,
    *,
    retention_ms: int | None = None,
) -> list[str]:
    """Create `group`'s missing retry and dead-letter topics; return the names created.

    Dead letters are kept for `BUS_DLQ_RETENTION_MS` if set, else `retention_ms` (the source
    topics' retention), else the broker's default.
    """
    admin = clients.admin(settings)
    await admin.start()
    try:
        cluster = await admin._client.fetch_all_metadata()
        partitions = max(
            (len(cluster.partitions_for_topic(t) or ()) for t in source_topics), default=1
        )
        partitions = max(partitions, 1)
        brokers = max(1, len(cluster.brokers()))
        replication = min(3, brokers)
        common = {"min.insync.replicas": str(min(2, replication))}
        wanted = {t: dict(common) for t in retry_topics(group, stages)}
        wanted[dlq_topic(group)] = dict(common)
        if kept := settings.dlq_retention_ms or retention_ms:
            wanted[dlq_topic(group)]["retention.ms"] = str(kept)
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, replication, topic_configs=configs)
            for name, configs in wanted.items()
            if name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
        created = []
        for topic, code, *_ in response.topic_errors:
            if code == 0:
                created.append(topic)
            elif code != TopicAlreadyExistsError.errno:  # another member created it first
                raise RuntimeError(f"could not create topic {topic}: Kafka error code {code}")
        return created
    finally:
        await admin.close()
