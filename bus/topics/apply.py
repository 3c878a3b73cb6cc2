"""Applying a topic plan: create topics, alter configs, add partitions; never lose data unasked.

    plan = await plan_topics(catalog.event_types, settings)
    changes = await apply_plan(plan, settings)                     # refuses shrinks, growth
    changes = await apply_plan(plan, settings, allow_add_partitions=True)   # grows topics
    changes = await apply_plan(plan, settings, allow_delete=True)  # recreates and deletes

Steps run in that order, each idempotent, so a failed apply is finished by running it again. A
shrink (Kafka cannot remove partitions) or a topic the catalog dropped is only acted on with
`allow_delete`; without it a plan that has a shrink is refused before anything changes. More
partitions move keys to other partitions (per-key order breaks for events in flight), so a plan
that adds partitions is refused unless `allow_add_partitions`; the retry and dead-letter topics
of the groups consuming a grown topic are grown with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    IncompatibleBrokerVersion,
    KafkaError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)

from bus.broker import clients
from bus.broker.admin_requests import IncrementalAlterConfigs
from bus.catalog import Catalog, EventType
from bus.config import BusSettings
from bus.errors import (
    BrokerLimitationError,
    BusError,
    TopicChangeRefusedError,
)
from bus.logging import get_logger
from bus.topics.observe import observe
from bus.topics.plan import FAILURE_PREFIXES, TopicPlan, TopicSpec, desired_topics, diff

log = get_logger("bus.topics")


@dataclass
class AppliedChanges:
    """What an apply changed on the broker, by step."""

    created: list[str] = field(default_factory=list)
    configs_altered: list[str] = field(default_factory=list)
    partitions_added: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        """True when the apply changed nothing."""
        return not (
            self.created
            or self.configs_altered
            or self.partitions_added
            or self.recreated
            or self.deleted
        )

    def summary(self) -> str:
        """One line naming what was done, for messages and logs."""
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (
                ("created", self.created),
                ("altered configs of", self.configs_altered),
                ("added partitions to", self.partitions_added),
                ("recreated", self.recreated),
                ("deleted", self.deleted),
            )
            if names
        ]
        return "; ".join(parts) or "nothing changed"


async def plan_topics(
    event_types: Iterable[EventType],
    settings: BusSettings,
    *,
    read_configs: bool = True,
    consumers: Mapping[str, Collection[str]] | None = None,
) -> TopicPlan:
    """Compare the catalog's topics with the broker's; delete candidates are OPD-prefixed.

    `consumers` (topic → systems with an agreement, `consumers_by_topic(catalog)`) names whose
    retry and dead-letter topics grow with a topic.
    """
    event_types = list(event_types)
    async with clients.admin_session(settings) as admin:
        cluster = await observe(
            admin,
            only={et.topic for et in event_types},
            # Failure topics matter only when their groups are known (one per test group, and
            # a cluster may hold many): `ensure_topics` never asks.
            prefixes=FAILURE_PREFIXES if consumers else (),
            read_configs=read_configs,
        )
    return diff(
        desired_topics(event_types, cluster.brokers),
        cluster,
        managed_opds={et.opd for et in event_types},
        consumers=consumers,
    )


async def apply_plan(
    plan: TopicPlan,
    settings: BusSettings,
    *,
    allow_delete: bool = False,
    allow_add_partitions: bool = False,
) -> AppliedChanges:
    """Make the broker match `plan`; raises a `BusError` naming the step that could not run."""
    if plan.shrink and not allow_delete:
        raise TopicChangeRefusedError("; ".join(plan.errors))
    if (plan.add_partitions or plan.failure_partitions) and not allow_add_partitions:
        grown = plan.warnings or [
            f"{c.topic}: {c.current} → {c.wanted} partitions (sized like its source topics); "
            "run `bus topics apply --allow-add-partitions`"
            for c in plan.failure_partitions
        ]
        raise TopicChangeRefusedError("refused to add partitions: " + "; ".join(grown))
    done = AppliedChanges()
    async with clients.admin_session(settings) as admin:
        try:
            await _create(admin, plan.create, done.created)
            await _alter_configs(admin, plan, done.configs_altered, settings.bootstrap_servers)
            if allow_add_partitions:
                await _add_partitions(
                    admin, plan, done.partitions_added, settings.bootstrap_servers
                )
            if allow_delete:
                await _recreate(admin, plan, done.recreated)
                await _delete(admin, plan.delete, done.deleted)
        except BusError as exc:
            if done.nothing:
                raise
            raise type(exc)(f"{exc} (already applied: {done.summary()})") from exc
    log.info("topics applied", changes=done.summary())
    return done


async def _create(admin: AIOKafkaAdminClient, specs: Iterable[TopicSpec], done: list[str]) -> None:
    new_topics = [
        NewTopic(
            spec.name, spec.partitions, spec.replication_factor, topic_configs=dict(spec.configs)
        )
        for spec in specs
    ]
    if not new_topics:
        return
    response = await admin.create_topics(new_topics)
    problems = []
    for topic, code, *rest in response.topic_errors:
        if code in (0, TopicAlreadyExistsError.errno):
            done.append(topic)
        else:
            message = rest[0] if rest and rest[0] else for_code(code).__name__
            problems.append(f"{topic}: {message}")
    if problems:
        raise BusError(f"could not create topics: {'; '.join(problems)}")
    await _until_listed(admin, {topic.name for topic in new_topics}, present=True)


async def _alter_configs(
    admin: AIOKafkaAdminClient, plan: TopicPlan, done: list[str], where: str
) -> None:
    changed: dict[str, dict[str, str]] = {}
    for change in plan.alter_configs:
        changed.setdefault(change.topic, {})[change.name] = change.wanted
    if not changed:
        return
    topics = sorted(changed)
    try:
        # Only the changed entries are set; overrides the catalog does not manage are kept.
        response: Any = await admin._send_request(IncrementalAlterConfigs(changed))
        results = [(code, message, name) for code, message, _type, name in response.responses]
    except IncompatibleBrokerVersion:
        results = await _alter_configs_legacy(admin, plan, topics, where)
    problems = [
        f"{name}: {message or for_code(code).__name__}"
        for code, message, name in results
        if code != 0
    ]
    if problems:
        raise BusError(f"could not alter topic configs: {'; '.join(problems)}")
    done.extend(topics)


async def _alter_configs_legacy(
    admin: AIOKafkaAdminClient, plan: TopicPlan, topics: list[str], where: str
) -> list[tuple[int, str | None, str]]:
    # Brokers before Kafka 2.3. AlterConfigs replaces a topic's whole set of overrides, so
    # every entry the catalog manages is sent, not only the changed ones.
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, topic, dict(plan.desired[topic].configs))
        for topic in topics
    ]
    try:
        responses = await admin.alter_configs(resources)
    except IncompatibleBrokerVersion as exc:
        raise BrokerLimitationError(
            f"cannot change the config of {', '.join(topics)}: the broker at {where} implements "
            "neither IncrementalAlterConfigs (Kafka admin API 44) nor AlterConfigs (API 33) "
            f"[{exc}]. Change the config with the broker's own tools"
        ) from exc
    return [
        (code, message, name)
        for response in responses
        for code, message, _type, name, *_ in response.resources
    ]


async def _add_partitions(
    admin: AIOKafkaAdminClient, plan: TopicPlan, done: list[str], where: str
) -> None:
    changes = plan.add_partitions + plan.failure_partitions
    if not changes:
        return
    wanted = {change.topic: NewPartitions(change.wanted) for change in changes}
    described = ", ".join(f"{c.topic} {c.current} → {c.wanted}" for c in changes)
    try:
        await admin.create_partitions(wanted)
    except IncompatibleBrokerVersion as exc:
        raise BrokerLimitationError(
            f"cannot add partitions ({described}): the broker at {where} does not "
            f"implement CreatePartitions (Kafka admin API 37) [{exc}]; Apache Kafka does. "
            "On this broker a topic only gets more partitions by being deleted (losing its "
            "events) and created again by `bus topics apply`"
        ) from exc
    except KafkaError as exc:
        raise BusError(f"could not add partitions ({described}): {exc}") from exc
    done.extend(sorted(wanted))


async def _recreate(admin: AIOKafkaAdminClient, plan: TopicPlan, done: list[str]) -> None:
    names = [change.topic for change in plan.shrink]
    if not names:
        return
    await _delete(admin, names, [])
    await _create(admin, [plan.desired[name] for name in names], done)


async def _delete(admin: AIOKafkaAdminClient, names: Collection[str], done: list[str]) -> None:
    if not names:
        return
    response = await admin.delete_topics(list(names))
    problems = [
        f"{topic}: {for_code(code).__name__}"
        for topic, code, *_ in response.topic_error_codes
        if code not in (0, UnknownTopicOrPartitionError.errno)
    ]
    if problems:
        raise BusError(f"could not delete topics: {'; '.join(problems)}")
    # Deletion completes asynchronously on Kafka; recreating too early fails.
    await _until_listed(admin, set(names), present=False)
    done.extend(sorted(names))


async def _until_listed(
    admin: AIOKafkaAdminClient, names: set[str], *, present: bool, timeout_s: float = 30.0
) -> None:
    """Wait until the cluster metadata shows (or no longer shows) `names`."""
    deadline = time.monotonic() + timeout_s
    while True:
        listed = set(await admin.list_topics())
        missing = names - listed if present else names & listed
        if not missing:
            return
        if time.monotonic() > deadline:
            state = "appear" if present else "disappear"
            raise BusError(f"topics {sorted(missing)} did not {state} within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


def consumers_by_topic(catalog: Catalog) -> dict[str, list[str]]:
    """Topic → the systems with an agreement on its event type."""
    return {
        et.topic: [sub.system for sub in catalog.subscribers_of(et.type)]
        for et in catalog.event_types
    }
