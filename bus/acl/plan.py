"""The difference between the ACLs the catalog implies and the cluster's: add, keep, remove.

    current = await cluster_acls(settings)               # DescribeAcls
    plan = plan_acls(acl_bindings(catalog), current)     # pure: no I/O
    plan.add, plan.keep, plan.remove

The catalog is the whole policy, so every ALLOW binding on the cluster that it does not imply
is to be removed: typically the READ of an agreement that was revoked, or the bindings of a
system that left the catalog. `bus acl apply` removes them only with `--allow-delete`. DENY
bindings are never the bus's (deny is the default); an operator's DENY only narrows access,
so it is listed as unmanaged and left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import IncompatibleBrokerVersion, for_code
from aiokafka.protocol.admin import DescribeAclsRequest

from bus.acl.bindings import ALLOW, AclBinding, Operation, PatternType, ResourceType
from bus.broker import clients
from bus.config import BusSettings
from bus.errors import BrokerLimitationError, BusError, NoAuthorizerError

__all__ = ["AclPlan", "ClusterAcls", "cluster_acls", "plan_acls"]

#: Kafka's "match anything" code in ACL filters (resource, pattern, operation, permission).
_ANY = 1
#: Kafka error code of an ACL request on a cluster without an authorizer.
SECURITY_DISABLED = 54

ENABLE_AUTHORIZER = (
    "Enable one (KRaft: authorizer.class.name="
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer, with the bus's admin principal "
    "in super.users) and run `bus acl apply` again; until then every client may read and "
    "write every topic."
)


@dataclass(frozen=True)
class ClusterAcls:
    """What DescribeAcls found: ALLOW bindings the bus can manage, and everything else."""

    allowed: list[AclBinding]
    unmanaged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AclPlan:
    """Bindings to create, those already there, and those the catalog no longer implies."""

    add: list[AclBinding]
    keep: list[AclBinding]
    remove: list[AclBinding]
    unmanaged: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True if the cluster's ALLOW bindings are exactly the catalog's."""
        return not self.add and not self.remove

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `bus acl plan --json`."""
        return {
            "empty": self.empty,
            "add": [b.to_dict() for b in self.add],
            "keep": [b.to_dict() for b in self.keep],
            "remove": [b.to_dict() for b in self.remove],
            "unmanaged": self.unmanaged,
        }


def plan_acls(desired: Iterable[AclBinding], current: ClusterAcls) -> AclPlan:
    """Compare the catalog's bindings with the cluster's."""
    wanted, present = set(desired), set(current.allowed)
    return AclPlan(
        add=sorted(wanted - present),
        keep=sorted(wanted & present),
        remove=sorted(present - wanted),
        unmanaged=sorted(current.unmanaged),
    )


async def cluster_acls(settings: BusSettings, purpose: str = "read ACLs") -> ClusterAcls:
    """Every ACL binding on the cluster (DescribeAcls with a match-all filter); errors say
    `cannot <purpose>`."""
    where = settings.bootstrap_servers
    request = DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ANY)
    async with clients.admin_session(settings) as admin:
        try:
            response: Any = await admin._send_request(request)
        except (IncompatibleBrokerVersion, NotImplementedError) as exc:
            raise BrokerLimitationError(
                f"cannot {purpose}: the broker at {where} does not implement DescribeAcls v1 "
                f"(Kafka admin API 29) [{exc}]"
            ) from exc
    if response.error_code == SECURITY_DISABLED:
        raise NoAuthorizerError(
            f"cannot {purpose}: the cluster at {where} has no authorizer (SECURITY_DISABLED). "
            f"{ENABLE_AUTHORIZER}"
        )
    if response.error_code:
        raise BusError(
            f"the cluster at {where} refused DescribeAcls: "
            f"{response.error_message or for_code(response.error_code).__name__}"
        )
    return _read(response.resources)


def _read(resources: Sequence[Any]) -> ClusterAcls:
    allowed: list[AclBinding] = []
    unmanaged: list[str] = []
    for resource_type, name, pattern_type, acls in resources:
        for principal, host, operation, permission in acls:
            try:
                binding = AclBinding(
                    principal,
                    ResourceType(resource_type),
                    PatternType(pattern_type),
                    name,
                    Operation(operation),
                    host,
                )
            except ValueError:
                binding = None
            if binding is not None and permission == ALLOW:
                allowed.append(binding)
            else:
                kind = "ALLOW" if permission == ALLOW else "DENY"
                unmanaged.append(
                    f"{principal} {kind} operation={operation} resource_type={resource_type} "
                    f"pattern_type={pattern_type} {name} host={host}"
                )
    return ClusterAcls(allowed, unmanaged)
