"""The CloudEvents 1.0 envelope in Kafka binary content mode.

Attributes travel as `ce_*` headers, the data is the record value as JSON, and the record key
is the event type's key field. `Envelope.to_headers` and `Envelope.from_headers` are exact
inverses; anything a client nobody here wrote produces in the same mode is accepted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bus.errors import EnvelopeError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = list[tuple[str, bytes]]

_REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type")


def new_traceparent() -> str:
    """A fresh W3C traceparent (version 00, sampled) for an event that starts a trace."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def child_traceparent(parent: str | None) -> str:
    """A traceparent continuing `parent`'s trace with a new span id, or a fresh one."""
    if parent and len(parent) == 55 and parent[2] == "-":
        return f"{parent[:36]}{os.urandom(8).hex()}{parent[52:]}"
    return new_traceparent()


@dataclass(frozen=True, slots=True)
class Envelope:
    """CloudEvents attributes of one event, plus where it was read from when consumed."""

    id: str
    source: str
    type: str
    time: datetime
    dataschema: str | None = None
    correlation_id: str | None = None
    traceparent: str | None = None
    specversion: str = SPECVERSION
    datacontenttype: str = CONTENT_TYPE
    extensions: dict[str, str] = field(default_factory=dict)
    # Position of the record, set only on consumed events.
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None

    @classmethod
    def new(
        cls,
        *,
        source: str,
        type: str,
        dataschema: str | None = None,
        id: str | None = None,
        time: datetime | None = None,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> Envelope:
        """A new envelope; the id doubles as correlation id when none is given."""
        event_id = id or str(uuid.uuid4())
        return cls(
            id=event_id,
            source=source,
            type=type,
            time=time or datetime.now(UTC),
            dataschema=dataschema,
            correlation_id=correlation_id or event_id,
            traceparent=traceparent or new_traceparent(),
        )

    def to_headers(self) -> Headers:
        """Kafka headers in CloudEvents binary content mode."""
        headers: Headers = [
            ("ce_specversion", self.specversion.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", _format_time(self.time).encode()),
            ("content-type", self.datacontenttype.encode()),
        ]
        if self.dataschema:
            headers.append(("ce_dataschema", self.dataschema.encode()))
        if self.correlation_id:
            headers.append(("ce_correlationid", self.correlation_id.encode()))
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        headers.extend((f"ce_{name}", value.encode()) for name, value in self.extensions.items())
        return headers

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes | None]]) -> Envelope:
        """Parse binary-mode headers; raises `EnvelopeError` naming what is missing or wrong."""
        values: dict[str, str] = {}
        try:
            for name, raw in headers:
                values[name] = raw.decode() if raw is not None else ""
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header is not UTF-8: {exc}") from None
        missing = [name for name in _REQUIRED if not values.get(name)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
        if values["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"ce_specversion {values['ce_specversion']!r} is not {SPECVERSION}")
        content_type = (
            values.get("content-type") or values.get("ce_datacontenttype") or CONTENT_TYPE
        )
        if not content_type.startswith(CONTENT_TYPE):
            raise EnvelopeError(f"content-type {content_type!r} is not {CONTENT_TYPE}")
        raw_time = values.get("ce_time")
        try:
            time = datetime.fromisoformat(raw_time) if raw_time else datetime.now(UTC)
        except ValueError:
            raise EnvelopeError(f"ce_time {raw_time!r} is not an RFC 3339 timestamp") from None
        known = {*_REQUIRED, "ce_time", "ce_dataschema", "ce_correlationid", "ce_datacontenttype"}
        extensions = {
            name[3:]: value
            for name, value in values.items()
            if name.startswith("ce_") and name not in known
        }
        return cls(
            id=values["ce_id"],
            source=values["ce_source"],
            type=values["ce_type"],
            time=time,
            dataschema=values.get("ce_dataschema"),
            correlation_id=values.get("ce_correlationid"),
            traceparent=values.get("traceparent"),
            specversion=SPECVERSION,
            datacontenttype=CONTENT_TYPE,
            extensions=extensions,
        )

    def at(self, topic: str, partition: int, offset: int, key: bytes | None) -> Envelope:
        """This envelope with the position of the record it was read from."""
        return replace(self, topic=topic, partition=partition, offset=offset, key=key)


def _format_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")
