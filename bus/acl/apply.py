"""Applying ACL bindings through the Kafka admin API (CreateAcls), on a cluster with an authorizer.

aiokafka 0.14 has the CreateAcls protocol messages but no admin method, and its request class
carries one binding per request; all bindings go in one CreateAcls v1 request
(`bus.broker.admin_requests.CreateAcls`).
librdkafka (confluent-kafka) was not used: against a broker that answers CreateAcls without
results (the embedded Tansu broker) it aborts the whole process on an assertion.

Creating a binding that exists is a no-op on Kafka, so applying twice is harmless. A cluster
without an authorizer answers SECURITY_DISABLED; a broker that answers with no result at all
has no working authorizer either; both raise `NoAuthorizerError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka.errors import IncompatibleBrokerVersion, for_code

from bus.acl.bindings import ALLOW, AclBinding
from bus.broker import clients
from bus.broker.admin_requests import CreateAcls
from bus.config import BusSettings
from bus.errors import BrokerLimitationError, BusError, NoAuthorizerError
from bus.logging import get_logger

log = get_logger("bus.acl")

#: Kafka error code of a request that needs an authorizer on a cluster without one.
SECURITY_DISABLED = 54


async def apply_acls(bindings: Sequence[AclBinding], settings: BusSettings) -> int:
    """Create every binding on the cluster; returns how many the cluster accepted."""
    if not bindings:
        return 0
    where = settings.bootstrap_servers
    async with clients.admin_session(settings) as admin:
        try:
            # aiokafka has no public method for CreateAcls; _send_request picks a broker.
            response: Any = await admin._send_request(CreateAcls(_creation(b) for b in bindings))
        except (IncompatibleBrokerVersion, NotImplementedError) as exc:
            raise BrokerLimitationError(
                f"cannot apply ACLs: the broker at {where} does not implement CreateAcls v1 "
                f"(Kafka admin API 30) [{exc}]"
            ) from exc
    results = response.creation_responses
    if results is None or len(results) != len(bindings):
        raise NoAuthorizerError(
            f"cannot apply ACLs: the cluster at {where} has no working authorizer; it answered "
            f"CreateAcls with {0 if results is None else len(results)} results for "
            f"{len(bindings)} bindings (Kafka without an authorizer answers SECURITY_DISABLED). "
            f"{_ENABLE_AUTHORIZER}"
        )
    codes = {code for code, _message in results}
    if SECURITY_DISABLED in codes:
        raise NoAuthorizerError(
            f"cannot apply ACLs: the cluster at {where} has no authorizer (SECURITY_DISABLED). "
            f"{_ENABLE_AUTHORIZER}"
        )
    problems = [
        f"{binding}: {message or for_code(code).__name__}"
        for binding, (code, message) in zip(bindings, results, strict=True)
        if code != 0
    ]
    if problems:
        raise BusError(f"the cluster refused {len(problems)} ACL bindings: {'; '.join(problems)}")
    log.info("acl bindings applied", count=len(bindings), cluster=where)
    return len(bindings)


_ENABLE_AUTHORIZER = (
    "Enable one (KRaft: authorizer.class.name="
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer, with the bus's admin principal "
    "in super.users) and run `bus acl apply` again; until then every client may read and "
    "write every topic."
)


def _creation(binding: AclBinding) -> tuple[int, str, int, str, str, int, int]:
    return (
        int(binding.resource_type),
        binding.resource_name,
        int(binding.pattern_type),
        binding.principal,
        binding.host,
        int(binding.operation),
        ALLOW,
    )
