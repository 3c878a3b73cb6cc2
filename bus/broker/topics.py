"""Create the catalog's topics on a cluster; sized down to the cluster when it is smaller."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bus.broker import clients
from bus.catalog import EventType
from bus.config import BusSettings


async def ensure_topics(event_types: Iterable[EventType], settings: BusSettings) -> list[str]:
    """Create every missing topic of `event_types`; return the names created."""
    admin = clients.admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        brokers = max(1, len(admin._client.cluster.brokers()))
        wanted = [et for et in event_types if et.topic not in existing]
        if not wanted:
            return []
        new_topics = []
        for et in wanted:
            ts = et.topic_settings
            replication = min(ts.replication_factor, brokers)
            configs = ts.configs()
            configs["min.insync.replicas"] = str(min(ts.min_insync_replicas, replication))
            new_topics.append(NewTopic(et.topic, ts.partitions, replication, topic_configs=configs))
        response = await admin.create_topics(new_topics)
        created = []
        for topic, code, *_ in response.topic_errors:
            if code in (0, TopicAlreadyExistsError.errno):
                created.append(topic)
            else:
                raise RuntimeError(f"could not create topic {topic}: Kafka error code {code}")
        return created
    finally:
        await admin.close()
