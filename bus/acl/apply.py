"""Making the cluster's ACLs the catalog's: CreateAcls for the missing, DeleteAcls for the rest.

    plan = plan_acls(acl_bindings(catalog), await cluster_acls(settings))
    applied = await apply_acl_plan(plan, settings, allow_delete=True)

aiokafka 0.14 has the ACL protocol messages but no admin methods, and its request classes
carry one binding each; all bindings go in one request (`bus.broker.admin_requests`).
librdkafka (confluent-kafka) was not used: against a broker that answers CreateAcls without
results (some Kafka-compatible brokers do) it aborts the whole process on an assertion.

Creating a binding that exists is a no-op on Kafka, so applying twice is harmless. Bindings
are created before any is deleted, so a binding that moves is never missing in between. A
cluster without an authorizer answers SECURITY_DISABLED; a broker that answers with no result
at all has no working authorizer either; both raise `NoAuthorizerError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import IncompatibleBrokerVersion, for_code

from bus.acl.bindings import ALLOW, AclBinding
from bus.acl.plan import ENABLE_AUTHORIZER, SECURITY_DISABLED, AclPlan
from bus.broker import clients
from bus.broker.admin_requests import CreateAcls, DeleteAcls
from bus.config import BusSettings
from bus.errors import BrokerLimitationError, BusError, NoAuthorizerError
from bus.logging import get_logger

__all__ = ["AppliedAcls", "apply_acl_plan", "apply_acls"]

log = get_logger("bus.acl")


@dataclass(frozen=True)
class AppliedAcls:
    """What `apply_acl_plan` changed, and what it left because deleting was not allowed."""

    created: int
    removed: int
    left: list[AclBinding]


async def apply_acl_plan(
    plan: AclPlan, settings: BusSettings, *, allow_delete: bool = False
) -> AppliedAcls:
    """Create the plan's missing bindings; delete the extra ones only if `allow_delete`."""
    created = await apply_acls(plan.add, settings)
    removed = 0
    if allow_delete and plan.remove:
        removed = await remove_acls(plan.remove, settings)
    return AppliedAcls(created, removed, [] if allow_delete else list(plan.remove))


async def apply_acls(bindings: Sequence[AclBinding], settings: BusSettings) -> int:
    """Create every binding on the cluster; returns how many the cluster accepted."""
    if not bindings:
        return 0
    response = await _send(CreateAcls(_binding(b) for b in bindings), settings, "CreateAcls v1", 30)
    results = response.creation_responses
    _check(results, bindings, settings, "CreateAcls")
    _refusals(bindings, results, "the cluster refused")
    log.info("acl bindings applied", count=len(bindings), cluster=settings.bootstrap_servers)
    return len(bindings)


async def remove_acls(bindings: Sequence[AclBinding], settings: BusSettings) -> int:
    """Delete exactly these bindings; returns how many the cluster deleted."""
    if not bindings:
        return 0
    response = await _send(DeleteAcls(_binding(b) for b in bindings), settings, "DeleteAcls v1", 31)
    results = response.filter_responses
    _check(results, bindings, settings, "DeleteAcls")
    _refusals(bindings, results, "the cluster refused to delete")
    deleted = sum(len(matching) for _code, _message, matching in results)
    log.info("acl bindings removed", count=deleted, cluster=settings.bootstrap_servers)
    return deleted


async def _send(request: Any, settings: BusSettings, name: str, api_key: int) -> Any:
    async with clients.admin_session(settings) as admin:
        try:
            # aiokafka has no public method for ACLs; _send_request picks a broker.
            return await admin._send_request(request)
        except (IncompatibleBrokerVersion, NotImplementedError) as exc:
            raise BrokerLimitationError(
                f"cannot apply ACLs: the broker at {settings.bootstrap_servers} does not "
                f"implement {name} (Kafka admin API {api_key}) [{exc}]"
            ) from exc


def _check(
    results: Sequence[Any] | None,
    bindings: Sequence[AclBinding],
    settings: BusSettings,
    name: str,
) -> None:
    where = settings.bootstrap_servers
    if results is None or len(results) != len(bindings):
        raise NoAuthorizerError(
            f"cannot apply ACLs: the cluster at {where} has no working authorizer; it answered "
            f"{name} with {0 if results is None else len(results)} results for "
            f"{len(bindings)} bindings (Kafka without an authorizer answers SECURITY_DISABLED). "
            f"{ENABLE_AUTHORIZER}"
        )
    if SECURITY_DISABLED in {result[0] for result in results}:
        raise NoAuthorizerError(
            f"cannot apply ACLs: the cluster at {where} has no authorizer (SECURITY_DISABLED). "
            f"{ENABLE_AUTHORIZER}"
        )


def _refusals(bindings: Sequence[AclBinding], results: Sequence[Any], refused: str) -> None:
    # Each result starts with (error code, error message), one per binding, in order.
    problems = [
        f"{binding}: {result[1] or for_code(result[0]).__name__}"
        for binding, result in zip(bindings, results, strict=True)
        if result[0] != 0
    ]
    if problems:
        raise BusError(f"{refused} {len(problems)} ACL bindings: {'; '.join(problems)}")


def _binding(binding: AclBinding) -> tuple[int, str, int, str, str, int, int]:
    return (
        int(binding.resource_type),
        binding.resource_name,
        int(binding.pattern_type),
        binding.principal,
        binding.host,
        int(binding.operation),
        ALLOW,
    )
