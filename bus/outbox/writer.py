"""`add_event`: put an event in the outbox inside the OPD system's own database transaction.

    async with conn.transaction():
        await conn.execute("UPDATE izin SET status = 'terbit' WHERE nomor = $1", nomor)
        await add_event(conn, "id.go.riau.dpmptsp.izin.terbit", izin_data)

The data is validated against the catalog before the row is written, so a bad event fails the
caller's transaction (`SchemaValidationError`) instead of reaching the relay. The event and the
business change commit or roll back together; the relay publishes it after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bus.catalog import Catalog, EventData, load_catalog
from bus.config import BusSettings
from bus.database import Connection
from bus.errors import NotOwnerError
from bus.outbox.schema import CHANNEL
from bus.publish import OutgoingRecord, build_record

# Namespace (first int) of the per-key advisory locks `add_event` takes.
_KEY_LOCK_CLASS = 0x0B05

_INSERT = """
INSERT INTO bus_outbox (event_id, event_type, source_system, source, dataschema, topic, key,
                        data, event_time, correlation_id, traceparent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""


async def add_event(
    conn: Connection,
    event_type: str | type[EventData],
    data: EventData | Mapping[str, Any] | bytes | str,
    *,
    system: str | None = None,
    catalog: Catalog | None = None,
    id: str | None = None,
    time: datetime | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
) -> str:
    """Validate `data` and add it to the outbox in `conn`'s transaction; returns the event id.

    `system` (default: the event type's owner) must own the event type (`NotOwnerError`).
    """
    catalog = catalog or load_catalog(BusSettings().catalog_module)
    et = catalog.event_type(event_type)
    source = catalog.system(system or et.owner)
    if et.owner != source.id:
        raise NotOwnerError(source.id, et.type, et.owner)
    record = build_record(
        et,
        source,
        data,
        id=id,
        time=time,
        correlation_id=correlation_id,
        traceparent=traceparent,
    )
    if conn.is_in_transaction():
        await _insert(conn, record.envelope.id, et.type, source.id, record)
    else:
        async with conn.transaction():
            await _insert(conn, record.envelope.id, et.type, source.id, record)
    return record.envelope.id


async def _insert(
    conn: Connection,
    event_id: str,
    event_type: str,
    system: str,
    record: OutgoingRecord,
) -> None:
    key = record.key.decode()
    # Ids come from a sequence at insert time, commits happen later: two transactions writing
    # the same key could commit in the opposite order of their ids. Holding a per-key lock
    # until commit makes id order equal commit order for each key, which the relay relies on.
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _KEY_LOCK_CLASS, f"{record.topic}/{key}"
    )
    envelope = record.envelope
    await conn.execute(
        _INSERT,
        event_id,
        event_type,
        system,
        envelope.source,
        envelope.dataschema,
        record.topic,
        key,
        record.value.decode(),
        envelope.time,
        envelope.correlation_id,
        envelope.traceparent,
    )
    # Delivered only when the transaction commits; a rolled-back event wakes nobody.
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
