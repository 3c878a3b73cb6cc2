"""Applying ACL bindings through the Kafka admin API (CreateAcls), on a cluster with an authorizer.

aiokafka 0.14 has the CreateAcls protocol messages but no admin method, and its request class
carries one binding per request; this module sends all bindings in one CreateAcls v1 request.
librdkafka (confluent-kafka) was not used: against a broker that answers CreateAcls without
results (the embedded Tansu broker) it aborts the whole process on an assertion.

Creating a binding that exists is a no-op on Kafka, so applying twice is harmless. A cluster
without an authorizer answers SECURITY_DISABLED; a broker that answers with no result at all
has no working authorizer either; both raise `NoAuthorizerError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Any

from aiokafka.errors import IncompatibleBrokerVersion, KafkaError, for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1, CreateAclsResponse_v1
from aiokafka.protocol.api import Request
from aiokafka.protocol.types import Int32

from bus.acl.bindings import ALLOW, AclBinding
from bus.broker import clients
from bus.config import BusSettings
from bus.errors import BrokerLimitationError, BrokerUnavailableError, BusError, NoAuthorizerError
from bus.logging import get_logger

log = get_logger("bus.acl")

#: Kafka error code of a request that needs an authorizer on a cluster without one.
SECURITY_DISABLED = 54


class _CreateAclsResult(CreateAclsResponse_v1):  # type: ignore[misc]
    """CreateAcls v1 response that tolerates a body holding only the throttle time."""

    @classmethod
    def decode(cls, data: BytesIO | bytes) -> _CreateAclsResult:
        raw = data.read() if isinstance(data, BytesIO) else data
        if len(raw) < 8:
            # Not a Kafka answer; seen from brokers with no ACL support. None = no results.
            throttle = Int32.decode(BytesIO(raw)) if len(raw) >= 4 else 0
            return cls(throttle, None)
        return super().decode(BytesIO(raw))  # type: ignore[no-any-return]


class _CreateAclsV1(CreateAclsRequest_v1):  # type: ignore[misc]
    RESPONSE_TYPE = _CreateAclsResult


class _CreateAcls(Request[_CreateAclsV1]):  # type: ignore[misc]
    """All bindings in one request; v1 is the first version with PREFIXED patterns."""

    API_KEY = 30

    def __init__(self, bindings: Sequence[AclBinding]) -> None:
        self._creations = [
            (
                int(b.resource_type),
                b.resource_name,
                int(b.pattern_type),
                b.principal,
                b.host,
                int(b.operation),
                ALLOW,
            )
            for b in bindings
        ]

    def build(self, request_struct_class: type[_CreateAclsV1]) -> _CreateAclsV1:
        return request_struct_class(self._creations)


async def apply_acls(bindings: Sequence[AclBinding], settings: BusSettings) -> int:
    """Create every binding on the cluster; returns how many the cluster accepted."""
    if not bindings:
        return 0
    where = settings.bootstrap_servers
    admin = clients.admin(settings)
    try:
        await admin.start()
    except KafkaError as exc:
        await admin.close()
        raise BrokerUnavailableError(f"cannot reach Kafka at {where}: {exc}") from exc
    try:
        # aiokafka has no public method for CreateAcls; _send_request picks a broker.
        response: Any = await admin._send_request(_CreateAcls(bindings))
    except (IncompatibleBrokerVersion, NotImplementedError) as exc:
        raise BrokerLimitationError(
            f"cannot apply ACLs: the broker at {where} does not implement CreateAcls v1 "
            f"(Kafka admin API 30) [{exc}]"
        ) from exc
    finally:
        await admin.close()
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
