"""The publish path as a list of named steps: validate → envelope → key → Kafka record.

Each step is a small function of the previous step's result, so the ingress, the outbox relay
and the SDK all build records the same way. What every record of one event type from one
source shares (topic, key field, the constant CloudEvents headers) is prepared once in a
`RecordTemplate`; per event only the data, the id, the time, the correlation id and the
traceparent are new.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bus.catalog import EventData, EventType, System
from bus.envelope import (
    CONTENT_TYPE,
    SPECVERSION,
    Envelope,
    Headers,
    format_time,
    new_ids,
    time_now_header,
)
from bus.errors import SchemaValidationError
from bus.validation import field_errors, validate_data


class OutgoingRecord:
    """A validated, enveloped event ready to be sent: topic, key, value and headers.

    `id`, `type` and `system` (the publishing system's id, None when unknown) are what the
    send path needs; the full `envelope` is built from the headers only when someone asks for
    it, since the SDK's send path never does.
    """

    __slots__ = ("_envelope", "headers", "id", "key", "system", "topic", "type", "value")

    def __init__(
        self,
        envelope: Envelope | None = None,
        topic: str = "",
        key: bytes = b"",
        value: bytes = b"",
        headers: Headers | None = None,
        *,
        id: str | None = None,
        type: str | None = None,
        system: str | None = None,
    ) -> None:
        if envelope is not None:
            id, type = envelope.id, envelope.type
        elif id is None or type is None:
            raise TypeError("OutgoingRecord needs an envelope, or the event's id and type")
        self._envelope = envelope
        self.id: str = id
        self.type: str = type
        self.system = system
        self.topic = topic
        self.key = key
        self.value = value
        if headers is None:
            headers = envelope.to_headers() if envelope is not None else []
        self.headers: Headers = headers

    @property
    def envelope(self) -> Envelope:
        """The event's CloudEvents attributes, exactly as a consumer will read them."""
        if self._envelope is None:
            self._envelope = Envelope.from_headers(self.headers)
        return self._envelope

    def __repr__(self) -> str:
        return (
            f"OutgoingRecord(id={self.id!r}, type={self.type!r}, topic={self.topic!r}, "
            f"key={self.key!r}, value=<{len(self.value)} bytes>)"
        )


class RecordTemplate:
    """What every record of one event type from one source shares, prepared once."""

    __slots__ = (
        "_content_type",
        "_dataschema",
        "_source",
        "_specversion",
        "_type",
        "_validator",
        "event_type",
        "source",
        "system",
        "topic",
    )

    def __init__(self, event_type: EventType, source: System) -> None:
        self.event_type = event_type
        self.source = source
        self.system = source.id
        self.topic = event_type.topic
        self._validator = event_type.data.__pydantic_validator__
        # Shared, immutable header tuples, in the order and form of `Envelope.to_headers`.
        self._specversion = ("ce_specversion", SPECVERSION.encode())
        self._source = ("ce_source", source.source.encode())
        self._type = ("ce_type", event_type.type.encode())
        self._content_type = ("content-type", CONTENT_TYPE.encode())
        self._dataschema = ("ce_dataschema", event_type.dataschema.encode())

    def record(
        self,
        data: EventData | Mapping[str, Any] | bytes | str,
        *,
        id: str | None = None,
        time: datetime | None = None,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> OutgoingRecord:
        """Validate `data` and build its record (`SchemaValidationError` naming bad fields)."""
        event_type = self.event_type
        if type(data) is dict:
            # The common case, without `validate_data`'s type dispatch: the same validation
            # `model_validate` runs, minus its Python wrapper.
            try:
                model = self._validator.validate_python(data)
            except ValidationError as exc:
                raise SchemaValidationError(
                    event_type.type, field_errors(exc, event_type.example)
                ) from None
        else:
            model = validate_data(event_type, data)
        new_id, new_traceparent = new_ids()
        event_id = id or new_id
        headers: Headers = [
            self._specversion,
            ("ce_id", event_id.encode()),
            self._source,
            self._type,
            ("ce_time", time_now_header() if time is None else format_time(time).encode()),
            self._content_type,
            self._dataschema,
            ("ce_correlationid", (correlation_id or event_id).encode()),
            ("traceparent", (traceparent or new_traceparent).encode()),
        ]
        return OutgoingRecord(
            None,
            self.topic,
            event_type.key_of(model),
            model.__pydantic_serializer__.to_json(model),
            headers,
            id=event_id,
            type=event_type.type,
            system=self.system,
        )


# Event types × systems of one catalog: a small, bounded set.
_TEMPLATES: dict[tuple[str, int, str], RecordTemplate] = {}


def record_template(event_type: EventType, source: System) -> RecordTemplate:
    """The (cached) template of `event_type`'s records published by `source`."""
    slot = (event_type.type, event_type.version, source.id)
    template = _TEMPLATES.get(slot)
    if template is None or template.event_type is not event_type or template.source is not source:
        template = _TEMPLATES[slot] = RecordTemplate(event_type, source)
    return template


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
    return record_template(event_type, source).record(
        data, id=id, time=time, correlation_id=correlation_id, traceparent=traceparent
    )
