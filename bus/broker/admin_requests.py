"""Kafka admin requests aiokafka 0.14 lacks, built on its protocol classes.

- `IncrementalAlterConfigs` (API 44, v0; Kafka 2.3+): set single topic config entries, leaving
  the topic's other overrides alone (the older AlterConfigs replaces them all).
- `DeleteAcls` (API 31, v1): many exact-match filters in one request (aiokafka's carries one).
- `AlterUserScramCredentials` (API 51, v0): create or change SCRAM users (`bus.broker.scram`).
- `CreateAcls` (API 30, v1, the first version with PREFIXED patterns): all bindings in one
  request (aiokafka's own request class carries one), with a response decoder that tolerates a
  body holding only the throttle time, which brokers without ACL support have been seen to send.

Send them with an admin client's `_send_request`: aiokafka negotiates the version and raises
`IncompatibleBrokerVersion` if the broker does not advertise the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from io import BytesIO

from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    CreateAclsResponse_v1,
    DeleteAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    Boolean,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
    TaggedFields,
)

#: IncrementalAlterConfigs operation: set the entry to the given value.
SET = 0
#: ConfigResource type of a topic.
TOPIC = 2


class IncrementalAlterConfigsResponse_v0(Response):  # type: ignore[misc]  # noqa: N801
    API_KEY = 44
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "responses",
            Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
            ),
        ),
    )


class IncrementalAlterConfigsRequest_v0(RequestStruct):  # type: ignore[misc]  # noqa: N801
    API_KEY = 44
    API_VERSION = 0
    RESPONSE_TYPE = IncrementalAlterConfigsResponse_v0
    SCHEMA = Schema(
        (
            "resources",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                (
                    "configs",
                    Array(
                        ("name", String("utf-8")),
                        ("config_operation", Int8),
                        ("value", String("utf-8")),
                    ),
                ),
            ),
        ),
        ("validate_only", Boolean),
    )


class IncrementalAlterConfigs(Request[IncrementalAlterConfigsRequest_v0]):  # type: ignore[misc]
    """Set config entries of topics: `{topic: {name: value}}`."""

    API_KEY = 44

    def __init__(self, topics: Mapping[str, Mapping[str, str]]) -> None:
        self._resources = [
            (TOPIC, topic, [(name, SET, value) for name, value in sorted(entries.items())])
            for topic, entries in sorted(topics.items())
        ]

    def build(
        self, request_struct_class: type[IncrementalAlterConfigsRequest_v0]
    ) -> IncrementalAlterConfigsRequest_v0:
        """The request at the negotiated version (v0 is the only one built)."""
        return request_struct_class(self._resources, False)


class CreateAclsResult(CreateAclsResponse_v1):  # type: ignore[misc]
    """CreateAcls v1 response that tolerates a body holding only the throttle time."""

    @classmethod
    def decode(cls, data: BytesIO | bytes) -> CreateAclsResult:
        """Decode; a body too short for the results array gives `creation_responses=None`."""
        raw = data.read() if isinstance(data, BytesIO) else data
        if len(raw) < 8:
            throttle = Int32.decode(BytesIO(raw)) if len(raw) >= 4 else 0
            return cls(throttle, None)
        return super().decode(BytesIO(raw))  # type: ignore[no-any-return]


class _CreateAclsRequest_v1(CreateAclsRequest_v1):  # type: ignore[misc]  # noqa: N801
    RESPONSE_TYPE = CreateAclsResult


#: One ACL creation: (resource type, name, pattern type, principal, host, operation, permission).
AclCreation = tuple[int, str, int, str, str, int, int]


class CreateAcls(Request[_CreateAclsRequest_v1]):  # type: ignore[misc]
    """Create many ACL bindings in one request."""

    API_KEY = 30

    def __init__(self, creations: Iterable[AclCreation]) -> None:
        self._creations = list(creations)

    def build(self, request_struct_class: type[_CreateAclsRequest_v1]) -> _CreateAclsRequest_v1:
        """The request at the negotiated version (v1 is the only one built)."""
        return request_struct_class(self._creations)


#: One ACL deletion filter, matching one binding exactly: (resource type, name, pattern type,
#: principal, host, operation, permission).
AclFilter = tuple[int, str, int, str, str, int, int]


class DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    """Delete the bindings matching each filter, all filters in one request (API 31, v1).

    aiokafka's own request class carries one filter; v1 is the first version with pattern
    types, and v0 is gone from Kafka 4 (KIP-896)."""

    API_KEY = 31

    def __init__(self, filters: Iterable[AclFilter]) -> None:
        self._filters = list(filters)

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        """The request at the negotiated version (v1 is the only one built)."""
        return request_struct_class(self._filters)


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # noqa: N801
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # noqa: N801
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


#: One SCRAM credential to set: (user, mechanism code, iterations, salt, salted password).
ScramUpsertion = tuple[str, int, int, bytes, bytes]


class AlterUserScramCredentials(Request[AlterUserScramCredentialsRequest_v0]):  # type: ignore[misc]
    """Set (and delete) SCRAM credentials of users (API 51, v0, KIP-554; Kafka 2.7+).

    The broker receives the salted password only, never the password (RFC 5802)."""

    API_KEY = 51

    def __init__(
        self, upsertions: Iterable[ScramUpsertion], deletions: Iterable[tuple[str, int]] = ()
    ) -> None:
        no_tags: dict[int, bytes] = {}
        self._upsertions: list[tuple[object, ...]] = [(*u, no_tags) for u in upsertions]
        self._deletions: list[tuple[object, ...]] = [(*d, no_tags) for d in deletions]

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        """The request at the negotiated version (v0 is the only one)."""
        return request_struct_class(self._deletions, self._upsertions, {})
