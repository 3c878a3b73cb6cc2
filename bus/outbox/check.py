"""The relay's check of one outbox row against the catalog, before anything is published.

`add_event` validates what it writes, but the table also takes hand-written SQL rows (see
docs/publishing.md), so the relay trusts nothing in a row: the event type must be in the
catalog, the publishing system must exist and own it, the CloudEvents source, topic,
dataschema and key must be the ones the catalog gives, and the data must validate. A row that
fails any of these is refused (`RowRefusedError`, with a reason that names the column and what was
expected; field errors name the path, never the value, which may be personal).

    record = checked_record(row, catalog)      # the record to publish, or RowRefusedError
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import asyncpg
from prometheus_client import Counter

from bus.catalog import Catalog
from bus.envelope import Envelope
from bus.errors import BusError, CatalogError, SchemaValidationError
from bus.publish import OutgoingRecord
from bus.validation import validate_data

#: An outbox row as asyncpg returns it, or any mapping of its columns.
Row: TypeAlias = "Mapping[str, Any] | asyncpg.Record"

__all__ = ["REFUSED", "RowRefusedError", "checked_record", "count_refused"]

#: Outbox rows the relay refused, by reason (a fixed vocabulary, never row content).
REFUSED = Counter(
    "bus_outbox_refused_total",
    "Outbox rows the relay refused and marked failed instead of publishing.",
    ["reason"],
)


class RowRefusedError(BusError):
    """An outbox row the relay will never publish, with the reason it is stored under."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def count_refused(reason: str) -> None:
    """Count one refused row under `reason` in `bus_outbox_refused_total`."""
    REFUSED.labels(reason=reason).inc()


def checked_record(row: Row, catalog: Catalog) -> OutgoingRecord:
    """The record `row` describes, if the catalog allows it; else `RowRefusedError`."""
    try:
        event_type = catalog.event_type(row["event_type"])
    except CatalogError:
        raise RowRefusedError(
            "unknown_event_type", f"event_type {row['event_type']!r} is not in the catalog"
        ) from None
    if event_type.type != row["event_type"]:
        raise RowRefusedError(
            "unknown_event_type",
            f"event_type {row['event_type']!r} is a topic name; write {event_type.type!r}",
        )
    try:
        system = catalog.system(row["source_system"])
    except CatalogError:
        raise RowRefusedError(
            "unknown_system", f"source_system {row['source_system']!r} is not in the catalog"
        ) from None
    if event_type.owner != system.id:
        raise RowRefusedError(
            "not_owner",
            f"source_system {system.id!r} does not own {event_type.type!r} "
            f"(its owner is {event_type.owner!r})",
        )
    _expect(row, "source", system.source, "wrong_source")
    _expect(row, "topic", event_type.topic, "wrong_topic")
    if row["dataschema"] is not None:
        _expect(row, "dataschema", event_type.dataschema, "wrong_dataschema")
    data = row["data"]
    try:
        model = validate_data(event_type, data)
    except SchemaValidationError as exc:
        raise RowRefusedError(
            "invalid_data", f"data does not match {event_type.type}: {exc}"
        ) from None
    key = event_type.key_of(model).decode()
    if row["key"] != key:
        # The value is not repeated: a key field may hold personal data.
        raise RowRefusedError(
            "wrong_key", f"key is not the value of the key field {event_type.key!r} of the data"
        )
    envelope = Envelope(
        id=row["event_id"],
        source=system.source,
        type=event_type.type,
        time=row["event_time"],
        dataschema=event_type.dataschema,
        correlation_id=row["correlation_id"],
        traceparent=row["traceparent"],
    )
    return OutgoingRecord(
        envelope=envelope,
        topic=event_type.topic,
        key=key.encode(),
        # The data as written, byte for byte: it validated, and the row is the evidence.
        value=data.encode() if isinstance(data, str) else bytes(data),
        headers=envelope.to_headers(),
        system=system.id,  # counted in bus_events_published_total under it
    )


def _expect(row: Row, column: str, expected: str, reason: str) -> None:
    if row[column] != expected:
        raise RowRefusedError(reason, f"{column} is {row[column]!r}, the catalog says {expected!r}")
