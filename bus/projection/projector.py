"""The projector (`bus project`): copies each event, reduced to the granted fields, to the grant
topics of the agreements that receive part of it.

    async with Projector(settings, catalog) as projector:
        await projector.run(stop)

It reads the source topics as the bus's own principal, in consumer group `bus.projector`.
Each record is checked like a subscriber checks it (envelope, owner's `ce_source`, schema);
a record that fails is not projected (its consumers could not use it either) and is logged by
id. A valid one goes to every grant topic of its type, to the same partition number, with the
same key and headers, its value holding only the granted fields. Offsets are committed once
every projected record is acknowledged, so nothing is lost: after a crash a record may be
projected twice, with the same event id, which subscribers' inboxes recognise.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import TracebackType
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from bus.broker import clients
from bus.catalog import Catalog
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError, BusError, EnvelopeError, SchemaValidationError
from bus.logging import get_logger
from bus.projection.grants import Grant, projected_grants
from bus.subscribe.grants import granted_view, project
from bus.subscribe.subscriber import decode, validate

__all__ = ["PROJECTOR_GROUP", "Projector"]

log = get_logger("bus.projection")

#: The projector's consumer group (under the bus principal's `bus.` group prefix).
PROJECTOR_GROUP = "bus.projector"


class Projector:
    """Writes grant topics from source topics, at least once, in partition order."""

    def __init__(self, settings: BusSettings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._grants: dict[str, list[Grant]] = defaultdict(list)
        for grant in projected_grants(catalog):
            self._grants[grant.event_type.topic].append(grant)
        self._owners = {et.topic: catalog.system(et.owner).source for et in catalog.event_types}
        self.projected = 0
        self.skipped = 0
        self._consumer: Any = None
        self._producer: Any = None

    @property
    def source_topics(self) -> list[str]:
        """The source topics that have at least one grant topic."""
        return sorted(self._grants)

    async def start(self) -> None:
        """Create missing grant topics, then join the group and connect the producer."""
        try:
            await self._ensure_grant_topics()
            self._producer = clients.producer(self.settings)
            self._consumer = clients.consumer(self.settings, group_id=PROJECTOR_GROUP)
            self._consumer.subscribe(self.source_topics)
            await asyncio.gather(self._producer.start(), self._consumer.start())
        except KafkaError as exc:
            await self.stop()
            raise clients.unreachable(self.settings, exc) from exc
        log.info("projector started", topics=self.source_topics)

    async def stop(self) -> None:
        """Leave the group and flush the producer."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._producer is not None:
            await clients.stop_producer(self._producer)
            self._producer = None

    async def __aenter__(self) -> Projector:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Project batches until `stop` is set."""
        while not stop.is_set():
            await self.project_once(timeout_ms=500)

    async def project_once(self, timeout_ms: int = 500) -> int:
        """Project one fetched batch and commit it; returns how many records were written."""
        if self._consumer is None or self._producer is None:
            raise BusError("the projector is not started")
        batches: dict[
            TopicPartition, list[ConsumerRecord[bytes, bytes]]
        ] = await self._consumer.getmany(timeout_ms=timeout_ms)
        sends = []
        for records in batches.values():
            for record in records:
                for grant, value in self._project(record):
                    sends.append(
                        await self._producer.send(
                            grant.topic,
                            value=value,
                            key=record.key,
                            headers=list(record.headers or ()),
                            partition=record.partition,
                        )
                    )
        try:
            await asyncio.gather(*sends)
        except KafkaError as exc:
            raise BrokerUnavailableError(f"grant topics did not acknowledge: {exc}") from exc
        if batches:
            await self._consumer.commit(
                {
                    tp: OffsetAndMetadata(records[-1].offset + 1, "")
                    for tp, records in batches.items()
                }
            )
        self.projected += len(sends)
        return len(sends)

    def _project(self, record: ConsumerRecord[bytes, bytes]) -> list[tuple[Grant, bytes]]:
        grants = self._grants.get(record.topic, [])
        if not grants:
            return []
        event_type = grants[0].event_type
        try:
            decode(record, event_type, self._owners[record.topic])
            data = validate(record, event_type)
        except (EnvelopeError, SchemaValidationError) as exc:
            self.skipped += 1
            # The reason names fields and headers, never their values (they may be personal).
            log.warning(
                "projection.skipped",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=type(exc).__name__,
            )
            return []
        # Through the system's granted view: its fields, and a pseudonym in place of each field
        # the agreement grants `pseudonymous` (bus.privacy.pseudonym), never that value itself.
        return [
            (grant, project(granted_view(self.catalog, grant.system, event_type.type), data)
             .model_dump_json().encode())
            for grant in grants
        ]  # fmt: skip

    async def _ensure_grant_topics(self) -> None:
        admin = clients.admin(self.settings)
        await admin.start()
        try:
            cluster = await admin._client.fetch_all_metadata()
            brokers = max(1, len(cluster.brokers()))
            existing = set(await admin.list_topics())
            missing: list[NewTopic] = []
            for source, grants in self._grants.items():
                partitions = len(cluster.partitions_for_topic(source) or ())
                if not partitions:
                    raise BusError(
                        f"source topic {source} does not exist; run `bus topics apply` first"
                    )
                settings = grants[0].event_type.topic_settings
                replication = min(settings.replication_factor, brokers)
                configs = {
                    **settings.configs(),
                    "min.insync.replicas": str(min(settings.min_insync_replicas, replication)),
                }
                missing.extend(
                    NewTopic(g.topic, partitions, replication, topic_configs=configs)
                    for g in grants
                    if g.topic not in existing
                )
            if missing:
                response = await admin.create_topics(missing)
                for topic, code, *_ in response.topic_errors:
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise BusError(f"could not create grant topic {topic}: Kafka error {code}")
        finally:
            await admin.close()
