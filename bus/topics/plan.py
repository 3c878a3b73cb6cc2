"""The topic plan: what must change on the broker so that its topics match the catalog.

    desired = desired_topics(catalog.event_types, brokers=cluster.brokers)
    plan = diff(desired, cluster, managed_opds={"dpmptsp", ...})
    plan.create, plan.alter_configs                          # what `apply` does
    plan.add_partitions, plan.failure_partitions             # only with --allow-add-partitions
    plan.shrink, plan.delete                                 # only with --allow-delete

Adding partitions moves keys to other partitions, so events of one key published before and
after the change may be consumed out of order; `apply` does it only when asked, and grows the
retry and dead-letter topics of the groups that consume a grown topic with it (they are sized
like their source topics, see `bus.reliability.topics`).

Pure functions over plain data: reading the broker is `bus.topics.observe`, changing it is
`bus.topics.apply`. Replication factor and `min.insync.replicas` are clamped to the number of
brokers, so the catalog's production settings (3 and 2) also describe a one-broker dev cluster.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.catalog import EventType
from bus.reliability.naming import DLQ_PREFIX, RETRY_PREFIX, group_of_failure_topic

#: Prefixes of the reliability topics that `observe` must describe too.
FAILURE_PREFIXES = (RETRY_PREFIX, DLQ_PREFIX)

#: Names of catalog topics, `<opd>.<entity>.<event>.v<major>`: only these can be delete candidates.
_CATALOG_TOPIC = re.compile(r"^(?P<opd>[a-z0-9]+)(\.[a-z0-9_]+){2,}\.v\d+$")


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the catalog wants it on this cluster."""

    name: str
    event_type: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `bus topics plan --json`."""
        return {
            "topic": self.name,
            "event_type": self.event_type,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "configs": dict(self.configs),
        }


@dataclass(frozen=True)
class ObservedTopic:
    """A topic as the broker has it; `configs` is None when the broker could not say."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] | None


@dataclass(frozen=True)
class ClusterState:
    """What the broker reported: its size, its topics, and why configs are unknown if they are."""

    brokers: int
    topics: Mapping[str, ObservedTopic]
    configs_unknown_reason: str | None = None
    #: Every topic name on the broker, when more were listed than described.
    names: frozenset[str] | None = None

    @property
    def all_names(self) -> frozenset[str]:
        """Every topic name on the broker, described or not."""
        return self.names if self.names is not None else frozenset(self.topics)


@dataclass(frozen=True)
class PartitionChange:
    """A partition count to change: an increase Kafka can do, or a shrink it cannot."""

    topic: str
    current: int
    wanted: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `bus topics plan --json`."""
        return {"topic": self.topic, "current": self.current, "wanted": self.wanted}


@dataclass(frozen=True)
class ConfigChange:
    """One topic config entry whose broker value differs from the catalog's."""

    topic: str
    name: str
    current: str | None
    wanted: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `bus topics plan --json`; `current` null means the broker default."""
        return {
            "topic": self.topic,
            "config": self.name,
            "current": self.current,
            "wanted": self.wanted,
        }


@dataclass(frozen=True)
class TopicPlan:
    """Every difference between the catalog and the broker, grouped by what applying it means."""

    brokers: int
    create: tuple[TopicSpec, ...] = ()
    add_partitions: tuple[PartitionChange, ...] = ()
    alter_configs: tuple[ConfigChange, ...] = ()
    #: Retry and dead-letter topics smaller than the largest source topic of their group.
    failure_partitions: tuple[PartitionChange, ...] = ()
    #: Fewer partitions than the broker has: Kafka cannot shrink, only delete and recreate.
    shrink: tuple[PartitionChange, ...] = ()
    #: Topics under a catalog OPD's prefix that the catalog no longer declares.
    delete: tuple[str, ...] = ()
    #: Topics whose config could not be read, so config drift is unknown.
    configs_unknown: tuple[str, ...] = ()
    configs_unknown_reason: str | None = None
    #: Differences `apply` does not change, such as the replication factor.
    notes: tuple[str, ...] = ()
    #: The desired topics, changed or not, so a caller can find a spec by name.
    desired: Mapping[str, TopicSpec] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the broker matches the catalog: applying would change nothing."""
        return not (
            self.create
            or self.add_partitions
            or self.failure_partitions
            or self.alter_configs
            or self.shrink
            or self.delete
        )

    @property
    def warnings(self) -> list[str]:
        """Changes that need `--allow-add-partitions`, and what they do to key order, in words."""
        return [
            f"{change.topic}: {change.current} → {change.wanted} partitions moves keys to other "
            "partitions; events of one key published before and after the change may be "
            "consumed out of order. Let consumers drain the topic first, then run "
            "`bus topics apply --allow-add-partitions`"
            for change in self.add_partitions
        ]

    @property
    def errors(self) -> list[str]:
        """Changes that need `--allow-delete`, in words."""
        return [
            f"{change.topic}: the catalog wants {change.wanted} partitions but the topic has "
            f"{change.current}; Kafka cannot remove partitions, so the topic must be deleted and "
            "recreated (its events are lost): run `bus topics apply --allow-delete`"
            for change in self.shrink
        ]

    def to_dict(self) -> dict[str, Any]:
        """The plan as the JSON document printed by `bus topics plan --json`."""
        return {
            "brokers": self.brokers,
            "empty": self.empty,
            "create": [spec.to_dict() for spec in self.create],
            "add_partitions": [change.to_dict() for change in self.add_partitions],
            "failure_partitions": [change.to_dict() for change in self.failure_partitions],
            "alter_configs": [change.to_dict() for change in self.alter_configs],
            "shrink": [change.to_dict() for change in self.shrink],
            "delete": list(self.delete),
            "configs_unknown": list(self.configs_unknown),
            "configs_unknown_reason": self.configs_unknown_reason,
            "errors": self.errors,
            "warnings": self.warnings,
            "notes": list(self.notes),
        }


def desired_topics(event_types: Iterable[EventType], brokers: int) -> list[TopicSpec]:
    """The catalog's topics sized for a cluster of `brokers` brokers, sorted by name."""
    brokers = max(1, brokers)
    specs = []
    for et in event_types:
        settings = et.topic_settings
        replication = min(settings.replication_factor, brokers)
        configs = settings.configs()
        # min.insync.replicas above the replication factor would refuse every acks=all write.
        configs["min.insync.replicas"] = str(min(settings.min_insync_replicas, replication))
        specs.append(
            TopicSpec(
                name=et.topic,
                event_type=et.type,
                partitions=settings.partitions,
                replication_factor=replication,
                configs=configs,
            )
        )
    return sorted(specs, key=lambda spec: spec.name)


def diff(
    desired: Iterable[TopicSpec],
    cluster: ClusterState,
    *,
    managed_opds: Collection[str] = (),
    consumers: Mapping[str, Collection[str]] | None = None,
) -> TopicPlan:
    """The plan that turns `cluster` into `desired`; topics of `managed_opds` may be deleted.

    `consumers` maps a topic to the systems with an agreement on it: the retry and dead-letter
    topics of their groups (`<system>` or `<system>.<anything>`) are grown with it.
    """
    wanted = {spec.name: spec for spec in desired}
    create: list[TopicSpec] = []
    add: list[PartitionChange] = []
    shrink: list[PartitionChange] = []
    alter: list[ConfigChange] = []
    unknown: list[str] = []
    notes: list[str] = []
    for name, spec in sorted(wanted.items()):
        observed = cluster.topics.get(name)
        if observed is None:
            create.append(spec)
            continue
        if spec.partitions > observed.partitions:
            add.append(PartitionChange(name, observed.partitions, spec.partitions))
        elif spec.partitions < observed.partitions:
            shrink.append(PartitionChange(name, observed.partitions, spec.partitions))
        if observed.replication_factor != spec.replication_factor:
            notes.append(
                f"{name}: replication factor is {observed.replication_factor}, the catalog wants "
                f"{spec.replication_factor}; change it with a partition reassignment "
                "(kafka-reassign-partitions), `bus topics apply` does not"
            )
        if observed.configs is None:
            unknown.append(name)
            continue
        for key, value in sorted(spec.configs.items()):
            current = observed.configs.get(key)
            if current != value:
                alter.append(ConfigChange(name, key, current, value))
    failure = _failure_growth(wanted, cluster, consumers or {})
    delete = sorted(
        name
        for name in cluster.all_names
        if name not in wanted
        and (match := _CATALOG_TOPIC.match(name)) is not None
        and match["opd"] in managed_opds
    )
    return TopicPlan(
        brokers=cluster.brokers,
        create=tuple(create),
        add_partitions=tuple(add),
        failure_partitions=tuple(failure),
        alter_configs=tuple(alter),
        shrink=tuple(shrink),
        delete=tuple(delete),
        configs_unknown=tuple(unknown),
        configs_unknown_reason=cluster.configs_unknown_reason if unknown else None,
        notes=tuple(notes),
        desired=wanted,
    )


def _failure_growth(
    wanted: Mapping[str, TopicSpec],
    cluster: ClusterState,
    consumers: Mapping[str, Collection[str]],
) -> list[PartitionChange]:
    """Retry and dead-letter topics with fewer partitions than their group's largest source."""
    sizes: dict[str, int] = {}  # system → largest desired source topic it consumes
    for topic, systems in consumers.items():
        if topic in wanted:
            for system in systems:
                sizes[system] = max(sizes.get(system, 0), wanted[topic].partitions)
    changes = []
    for name, observed in sorted(cluster.topics.items()):
        group = group_of_failure_topic(name)
        if group is None:
            continue
        size = max(
            (n for system, n in sizes.items() if group == system or group.startswith(system + ".")),
            default=0,
        )
        if size > observed.partitions:
            changes.append(PartitionChange(name, observed.partitions, size))
    return changes
