"""An AsyncAPI 3.0.0 document of the whole catalog, for the public and for OPD developers.

    document = asyncapi_document(catalog, settings)
    document["channels"]["dpmptsp.izin.terbit.v1"]["address"]   # 'dpmptsp.izin.terbit.v1'

One channel per event type (address = topic), one message per channel whose payload is the
generated JSON Schema and whose headers are the CloudEvents `ce_*` headers, a `send`
operation for the owning system and a `receive` operation per data-sharing agreement.
Governance facts travel as extensions: `x-owner`, `x-opd`, `x-personal-data`, `x-subscribers`.
Generated from the catalog directly (as FastStream generates from its brokers) so it can never
drift from the schemas.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from bus.catalog import Catalog, EventType, Subscription
from bus.config import BusSettings

ASYNCAPI_VERSION = "3.0.0"
_KAFKA_BINDING = "0.5.0"


def asyncapi_document(catalog: Catalog, settings: BusSettings) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of `catalog`, with servers from `settings`."""
    schemas: dict[str, Any] = {"CloudEventsHeaders": cloudevents_headers_schema()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for et in catalog.event_types:
        channel_id = et.topic
        message_id = _message_id(et)
        subscribers = catalog.subscribers_of(et.type)
        messages[message_id] = _message(catalog, et, subscribers, schemas)
        channels[channel_id] = {
            "address": et.topic,
            "title": et.data.__name__,
            "description": et.description,
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": {
                "kafka": {
                    "topic": et.topic,
                    "partitions": et.topic_settings.partitions,
                    "replicas": et.topic_settings.replication_factor,
                    "topicConfiguration": {
                        "cleanup.policy": [et.topic_settings.cleanup_policy],
                        "retention.ms": et.topic_settings.retention_ms,
                    },
                    "bindingVersion": _KAFKA_BINDING,
                }
            },
            "x-owner": et.owner,
            "x-subscribers": [s.system for s in subscribers],
        }
        message_ref = [{"$ref": f"#/channels/{_escape(channel_id)}/messages/{message_id}"}]
        operations[f"{_op_name(et.owner)}.send.{et.topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{_escape(channel_id)}"},
            "title": f"{et.owner} publishes {et.data.__name__}",
            "summary": f"Only the owning system {et.owner} publishes {et.type}.",
            "messages": message_ref,
            "x-owner": et.owner,
        }
        for sub in subscribers:
            operations[f"{_op_name(sub.system)}.receive.{et.topic}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{_escape(channel_id)}"},
                "title": f"{sub.system} receives {et.data.__name__}",
                "summary": sub.purpose,
                "messages": message_ref,
                "x-subscriber": sub.system,
                "x-purpose": sub.purpose,
                "x-legal-basis": sub.legal_basis,
                "x-granted-fields": sorted(catalog.granted_fields(sub.system, et.type)),
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:id:go:riau:opd-bus",
        "info": {
            "title": "OPD Bus: Riau Province event catalog",
            "version": _package_version(),
            "description": (
                "Domain events shared between the regional agencies (OPD) of Riau Province "
                "through OPD Bus. Every event type has one owning system; other systems "
                "consume it under an approved data-sharing agreement. Events are CloudEvents "
                "1.0 in Kafka binary mode: attributes in `ce_*` headers, data as JSON."
            ),
            "contact": {"name": "Diskominfotik Provinsi Riau (GCIO)"},
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": _servers(settings),
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def cloudevents_headers_schema() -> dict[str, Any]:
    """JSON Schema of the Kafka headers every event carries (CloudEvents binary mode)."""
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes as Kafka headers (binary content mode).",
        "properties": {
            "ce_specversion": {**text, "const": "1.0"},
            "ce_id": {**text, "description": "Unique event id; consumers deduplicate on it."},
            "ce_source": {
                **text,
                "pattern": "^/riau/[a-z0-9_-]+/[a-z0-9_.-]+$",
                "description": "The publishing system, `/riau/<opd>/<system>`.",
            },
            "ce_type": {
                **text,
                "description": "The event type, e.g. id.go.riau.dpmptsp.izin.terbit.",
            },
            "ce_time": {**text, "format": "date-time"},
            "ce_dataschema": {**text, "description": "urn:opd-bus:schema:<type>:v<major>"},
            "ce_correlationid": {**text, "description": "Id shared by every event of one flow."},
            "content-type": {**text, "const": "application/json"},
            "traceparent": {**text, "description": "W3C trace context."},
        },
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
    }


def _message(
    catalog: Catalog, et: EventType, subscribers: tuple[Subscription, ...], schemas: dict[str, Any]
) -> dict[str, Any]:
    system = catalog.system(et.owner)
    return {
        "name": et.type,
        "title": et.data.__name__,
        "summary": et.description.splitlines()[0],
        "description": et.description,
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
        "payload": _payload(et, schemas),
        "correlationId": {"location": "$message.header#/ce_correlationid"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"The `{et.key}` field of the data."},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
        "examples": [
            {
                "name": "example",
                "headers": {
                    "ce_specversion": "1.0",
                    "ce_id": "00000000-0000-4000-8000-000000000000",
                    "ce_source": system.source,
                    "ce_type": et.type,
                    "ce_dataschema": et.dataschema,
                    "content-type": "application/json",
                },
                "payload": et.example,
            }
        ],
        "x-owner": et.owner,
        "x-opd": system.opd,
        "x-version": et.version,
        "x-key": et.key,
        "x-dataschema": et.dataschema,
        "x-compatibility": et.compatibility,
        "x-personal-data": sorted(et.personal_fields),
        "x-subscribers": [
            {
                "system": s.system,
                "purpose": s.purpose,
                "legal_basis": s.legal_basis,
                "fields": sorted(catalog.granted_fields(s.system, et.type)),
            }
            for s in subscribers
        ],
    }


def _payload(et: EventType, schemas: dict[str, Any]) -> dict[str, Any]:
    """The data schema, its `$defs` moved to components so `$ref`s resolve in the document."""
    schema = et.json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})
    renamed: dict[str, str] = {}
    for name, definition in defs.items():
        target = name
        if target in schemas and schemas[target] != definition:
            target = f"{et.data.__name__}.{name}"
        renamed[name] = target
    for name, definition in defs.items():
        schemas[renamed[name]] = _rewrite_refs(definition, renamed)
    return dict(_rewrite_refs(schema, renamed))


def _rewrite_refs(schema: Any, renamed: dict[str, str]) -> Any:
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                name = value.removeprefix("#/$defs/")
                out[key] = f"#/components/schemas/{renamed.get(name, name)}"
            else:
                out[key] = _rewrite_refs(value, renamed)
        return out
    if isinstance(schema, list):
        return [_rewrite_refs(item, renamed) for item in schema]
    return schema


def _servers(settings: BusSettings) -> dict[str, Any]:
    secure = settings.security_protocol in ("SSL", "SASL_SSL")
    servers = {}
    for index, host in enumerate(h.strip() for h in settings.bootstrap_servers.split(",")):
        if not host:
            continue
        servers[f"kafka-{index + 1}"] = {
            "host": host,
            "protocol": "kafka-secure" if secure else "kafka",
            "description": f"Kafka bootstrap server ({settings.security_protocol}).",
        }
    return servers


def _message_id(et: EventType) -> str:
    return f"{et.data.__name__}V{et.version}"


def _op_name(system: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", system)


def _escape(channel_id: str) -> str:
    """A channel id as a JSON Pointer segment."""
    return channel_id.replace("~", "~0").replace("/", "~1")


def _package_version() -> str:
    try:
        return metadata.version("opd-bus")
    except metadata.PackageNotFoundError:
        return "0.0.0"
