"""The publish path as a list of named steps: validate → envelope → key → Kafka record.

Each step is a small function of the previous step's result, so the ingress, the outbox relay
and the SDK all build records the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.catalog import EventData, EventType, System
from bus.envelope import Envelope, Headers
from bus.validation import validate_data


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A validated, enveloped event ready to be sent: topic, key, value and headers."""

    envelope: Envelope
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def build_record(
    event_type: EventType,
    source: System,
    data: EventData | Mapping[str, Any] | bytes | str,
    *,
    id: str | None = None,
    time: datetime | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
) -> OutgoingRecord:
    """Validate `data`, wrap it in a CloudEvents envelope and key it by the declared key field."""
    model = validate_data(event_type, data)
    envelope = Envelope.new(
        source=source.source,
        type=event_type.type,
        dataschema=event_type.dataschema,
        id=id,
        time=time,
        correlation_id=correlation_id,
        traceparent=traceparent,
    )
    return OutgoingRecord(
        envelope=envelope,
        topic=event_type.topic,
        key=event_type.key_of(model),
        value=model.__pydantic_serializer__.to_json(model),
        headers=envelope.to_headers(),
    )
