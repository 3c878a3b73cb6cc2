"""ACLs from the catalog: the Kafka bindings it implies, compared with and applied to a cluster.

bindings = acl_bindings(catalog)                       # sorted ALLOW bindings; the rest is denied
plan = plan_acls(bindings, await cluster_acls(settings))    # add, keep, remove (`bus acl plan`)
await apply_acl_plan(plan, settings, allow_delete=True)     # CreateAcls, DeleteAcls (`apply`)
"""

from bus.acl.apply import AppliedAcls, apply_acl_plan, apply_acls, remove_acls
from bus.acl.bindings import AclBinding, Operation, PatternType, ResourceType, acl_bindings
from bus.acl.plan import AclPlan, ClusterAcls, cluster_acls, plan_acls
from bus.acl.principals import BUS_PRINCIPAL, check_identity, principal_of, system_of

__all__ = [
    "BUS_PRINCIPAL",
    "AclBinding",
    "AclPlan",
    "AppliedAcls",
    "ClusterAcls",
    "Operation",
    "PatternType",
    "ResourceType",
    "acl_bindings",
    "apply_acl_plan",
    "apply_acls",
    "check_identity",
    "cluster_acls",
    "plan_acls",
    "principal_of",
    "remove_acls",
    "system_of",
]
