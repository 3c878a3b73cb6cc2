"""The CloudEvents HTTP binding of one event, in binary (default) or structured content mode.

Binary mode puts the attributes in `ce-*` headers (percent-encoded where the binding's
§3.1.3.2 says: space, `"`, `%` and anything outside printable ASCII) and the granted data, as
JSON, in the body; structured mode sends one `application/cloudevents+json` document. Either
way the body holds only the fields the receiving system's agreement grants, and no attribute
carries the key (it may be a NIK).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from bus.envelope import Envelope, format_time

USER_AGENT = "opd-bus-webhook/1"

#: Characters a binary-mode header value carries as they are.
_PLAIN = frozenset(map(chr, range(0x21, 0x7F))) - {'"', "%"}


def header_value(text: str) -> str:
    """An attribute as a binary-mode header value: each other character as its UTF-8 `%XY`s."""
    if _PLAIN.issuperset(text):
        return text
    return "".join(c if c in _PLAIN else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _attributes(envelope: Envelope) -> dict[str, str]:
    attributes = {
        "specversion": envelope.specversion,
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "time": format_time(envelope.time),
    }
    if envelope.dataschema:
        attributes["dataschema"] = envelope.dataschema
    if envelope.correlation_id:
        attributes["correlationid"] = envelope.correlation_id
    return attributes


def binary(data: BaseModel, envelope: Envelope) -> tuple[dict[str, str], bytes]:
    """Headers and body in binary content mode."""
    headers = {f"ce-{name}": header_value(value) for name, value in _attributes(envelope).items()}
    headers["content-type"] = "application/json"
    if envelope.traceparent:
        headers["traceparent"] = envelope.traceparent
    return headers, data.__pydantic_serializer__.to_json(data)


def structured(data: BaseModel, envelope: Envelope) -> tuple[dict[str, str], bytes]:
    """Headers and body in structured content mode."""
    document: dict[str, Any] = {
        **_attributes(envelope),
        "datacontenttype": "application/json",
        "data": data.model_dump(mode="json"),
    }
    headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
    if envelope.traceparent:
        headers["traceparent"] = envelope.traceparent
    return headers, orjson.dumps(document)
