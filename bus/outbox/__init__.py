"""The transactional outbox: events written with business data, published by a relay."""

from bus.outbox.relay import OutboxRelay, RelayStats
from bus.outbox.schema import CHANNEL, TABLE, ensure_schema, schema_sql
from bus.outbox.writer import add_event

__all__ = [
    "CHANNEL",
    "TABLE",
    "OutboxRelay",
    "RelayStats",
    "add_event",
    "ensure_schema",
    "schema_sql",
]
