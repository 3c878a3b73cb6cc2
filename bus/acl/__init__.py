"""ACLs from the catalog: the Kafka bindings it implies (`bus acl plan`), applied (`bus acl apply`).

bindings = acl_bindings(catalog)          # sorted ALLOW bindings; everything else is denied
await apply_acls(bindings, settings)      # CreateAcls on a cluster with an authorizer
"""

from bus.acl.apply import apply_acls
from bus.acl.bindings import AclBinding, Operation, PatternType, ResourceType, acl_bindings
from bus.acl.principals import BUS_PRINCIPAL, check_identity, principal_of, system_of

__all__ = [
    "BUS_PRINCIPAL",
    "AclBinding",
    "Operation",
    "PatternType",
    "ResourceType",
    "acl_bindings",
    "apply_acls",
    "check_identity",
    "principal_of",
    "system_of",
]
