"""The Kafka ACL bindings the catalog implies: who may write, read and join what; nothing else.

    for binding in acl_bindings(catalog):
        print(binding)      # User:bpkad.sipkd ALLOW READ TOPIC LITERAL bapenda.pkb.dibayar.v1

Kafka with an authorizer denies every operation no ACL allows, so these ALLOW bindings are the
whole policy (deny by default). A consumer reads an agreement that grants part of an event from
its grant topic `bus.grant.<system id>.<topic>` (bus.projection), never the source topic. The
principal of a system is `User:<system id>`, its consumer groups are `<system id>` or start with
it (`bapenda.sipd.izin`), and the reliability path's topics and groups are named after the group
(`bus.retry.<group>.<n>`, `bus.dlq.<group>`, groups `bus.retry.<group>` and
`bus.dlq-replay.<group>`); prefix bindings on the system id cover all of them. That is why no
system id may be a prefix of another: a prefix binding of `bapenda.sip` would also match
`bapenda.sipd`'s groups.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from bus.acl.principals import BUS_PRINCIPAL, principal_of
from bus.catalog import Catalog
from bus.errors import CatalogError
from bus.projection.grants import grant_of, projected_grants


class ResourceType(IntEnum):
    """Kafka ACL resource types (protocol codes); the bus grants on the first three."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    """How a binding's resource name matches: exactly, or as a prefix."""

    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka ACL operations (protocol codes); a cluster may hold any of them."""

    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


#: Kafka's permission type ALLOW; the bus never writes DENY bindings (no ACL already denies).
ALLOW = 3


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ALLOW rule: `principal` may do `operation` on a resource, from any host."""

    principal: str
    resource_type: ResourceType
    pattern_type: PatternType
    resource_name: str
    operation: Operation
    host: str = "*"

    def __str__(self) -> str:
        return (
            f"{self.principal} ALLOW {self.operation.name} {self.resource_type.name} "
            f"{self.pattern_type.name} {self.resource_name}"
        )

    def to_dict(self) -> dict[str, str]:
        """JSON form for `bus acl plan --json`, in kafka-acls vocabulary."""
        return {
            "principal": self.principal,
            "permission": "ALLOW",
            "operation": self.operation.name,
            "resource_type": self.resource_type.name,
            "pattern_type": self.pattern_type.name,
            "resource_name": self.resource_name,
            "host": self.host,
        }


def acl_bindings(
    catalog: Catalog, *, bus_principal: str | None = BUS_PRINCIPAL
) -> list[AclBinding]:
    """Every binding the catalog implies, sorted and without duplicates."""
    _check_prefix_free(s.id for s in catalog.systems)
    topic, group, cluster = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
    literal, prefixed = PatternType.LITERAL, PatternType.PREFIXED
    bindings: set[AclBinding] = set()

    def allow(
        principal: str, kind: ResourceType, pattern: PatternType, name: str, *ops: Operation
    ) -> None:
        bindings.update(AclBinding(principal, kind, pattern, name, op) for op in ops)

    for et in catalog.event_types:
        owner = principal_of(et.owner)
        allow(owner, topic, literal, et.topic, Operation.WRITE, Operation.DESCRIBE)
        # Implied by WRITE since Kafka 3.0; older brokers need it for idempotent producers.
        allow(owner, cluster, literal, "kafka-cluster", Operation.IDEMPOTENT_WRITE)
    for sub in catalog.subscriptions:
        reader = principal_of(sub.system)
        # A partial agreement is read from its grant topic, which holds the granted fields
        # only (written by `bus project`); the source topic stays closed to that system.
        grant = grant_of(catalog, sub.system, sub.event_type)
        source = catalog.event_type(sub.event_type).topic
        readable = source if grant is None else grant.topic
        allow(reader, topic, literal, readable, Operation.READ, Operation.DESCRIBE)
    for system_id in sorted({sub.system for sub in catalog.subscriptions}):
        reader = principal_of(system_id)
        # Its consumer groups, its retry lane's groups and its DLQ replay cursors.
        for prefix in (system_id, f"bus.retry.{system_id}", f"bus.dlq-replay.{system_id}"):
            allow(reader, group, prefixed, prefix, Operation.READ)
        # Its retry and dead-letter topics, which the subscriber creates, writes and reads.
        for prefix in (f"bus.retry.{system_id}", f"bus.dlq.{system_id}"):
            allow(
                reader,
                topic,
                prefixed,
                prefix,
                Operation.READ,
                Operation.WRITE,
                Operation.DESCRIBE,
                Operation.CREATE,
            )
    if bus_principal is not None:
        # The ingress and the outbox relay publish on behalf of owners (the SDK checks the
        # ownership); the monitor describes every group; the DLQ tools read, write and replay
        # the bus's own topics under their own groups.
        for et in catalog.event_types:
            allow(bus_principal, topic, literal, et.topic, Operation.WRITE, Operation.DESCRIBE)
        # The projector reads the source topics of partial agreements (its grant topics and
        # group are under `bus.`).
        for grant in projected_grants(catalog):
            allow(bus_principal, topic, literal, grant.event_type.topic, Operation.READ)
        allow(bus_principal, cluster, literal, "kafka-cluster", Operation.IDEMPOTENT_WRITE)
        allow(
            bus_principal,
            topic,
            prefixed,
            "bus.",
            Operation.READ,
            Operation.WRITE,
            Operation.DESCRIBE,
            Operation.CREATE,
        )
        allow(bus_principal, group, literal, "*", Operation.DESCRIBE)
        allow(bus_principal, group, prefixed, "bus.", Operation.READ)
    return sorted(bindings)


def _check_prefix_free(system_ids: Iterable[str]) -> None:
    ids = sorted(system_ids)
    clashes = [
        f"{shorter!r} is a prefix of {longer!r}"
        for shorter, longer in itertools.pairwise(ids)
        if longer.startswith(shorter)
    ]
    if clashes:
        raise CatalogError(
            "system ids must not be prefixes of one another, or a system's PREFIXED ACLs would "
            f"cover the other's groups and topics: {'; '.join(clashes)}"
        )
