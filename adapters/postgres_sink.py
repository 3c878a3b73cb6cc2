"""PostgreSQL sink: one event type into one table of an OPD's database, one row per entity.

    bus adapter run postgres-sink --event-type id.go.riau.dpmptsp.izin.terbit \\
        --group bapenda.sipd.izin-sink --system bapenda.sipd --dsn postgresql://.../sipd

The table is derived from the fields the consuming system's agreement grants (column types
from the pydantic field types), keyed by the event type's key field. Each event is upserted
with "newest event time wins" (`ce_time`, ties broken by event id), so an older event that
arrives late never overwrites a newer one. With history on (the default), every applied event
is also appended to `<table>_history`, unique by event id. Each event's effect is written in
one transaction together with its inbox row, so a redelivered event changes nothing.

Adapter options (`--option KEY=VALUE`): `table` (default: the topic, dots as underscores),
`history` (`true`/`false`), `schema` (default `public`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import types
import typing
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from pydantic import BaseModel

from bus.catalog import EventType
from bus.envelope import Envelope
from bus.errors import BusError
from bus.reliability import Inbox
from bus.subscribe import Duplicate, Subscriber
from bus.subscribe.adapter import AdapterOptions

#: Columns the sink adds to every table, after the data fields.
EVENT_ID, EVENT_TIME, UPDATED_AT = "_event_id", "_event_time", "_updated_at"


def column_type(annotation: Any) -> str:
    """The PostgreSQL type of a pydantic field annotation (JSON for anything structured)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return column_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return column_type(members[0]) if len(members) == 1 else "jsonb"
    if origin is not None or not isinstance(annotation, type):
        return "jsonb"
    simple: list[tuple[type, str]] = [
        (bool, "boolean"),  # before int: bool is an int
        (enum.Enum, "text"),
        (str, "text"),
        (int, "bigint"),
        (float, "double precision"),
        (Decimal, "numeric"),
        (dt.datetime, "timestamptz"),  # before date: datetime is a date
        (dt.date, "date"),
        (dt.time, "time"),
    ]
    for python_type, sql_type in simple:
        if issubclass(annotation, python_type):
            return sql_type
    return "jsonb"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class SinkTable:
    """Where and how one event type is stored: table, key column, typed columns, history."""

    name: str
    key: str
    columns: Mapping[str, str]
    history: bool = True
    schema: str = "public"

    @classmethod
    def derive(
        cls,
        event_type: EventType,
        view: type[BaseModel],
        *,
        name: str | None = None,
        history: bool = True,
        schema: str = "public",
    ) -> SinkTable:
        """The table of `event_type` as seen through the consumer's granted `view`."""
        if event_type.key not in view.model_fields:
            raise BusError(
                f"the key field {event_type.key!r} of {event_type.type} is not granted to this "
                "system, so events cannot be upserted by entity"
            )
        columns = {field: column_type(info.annotation) for field, info in view.model_fields.items()}
        return cls(
            name=name or event_type.topic.replace(".", "_").replace("-", "_"),
            key=event_type.key,
            columns=columns,
            history=history,
            schema=schema,
        )

    @property
    def qualified(self) -> str:
        """Schema-qualified, quoted table name."""
        return f"{_ident(self.schema)}.{_ident(self.name)}"

    @property
    def history_qualified(self) -> str:
        """Schema-qualified, quoted history table name."""
        return f"{_ident(self.schema)}.{_ident(self.name + '_history')}"

    def ddl(self) -> list[str]:
        """Statements creating the tables, and adding columns new fields brought."""
        columns = ",\n    ".join(
            f"{_ident(c)} {t}{' PRIMARY KEY' if c == self.key else ''}"
            for c, t in self.columns.items()
        )
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema)}",
            f"""CREATE TABLE IF NOT EXISTS {self.qualified} (
    {columns},
    {EVENT_ID} text NOT NULL,
    {EVENT_TIME} timestamptz NOT NULL,
    {UPDATED_AT} timestamptz NOT NULL DEFAULT now()
)""",
            # A later, backward-compatible schema version may add optional fields.
            *(
                f"ALTER TABLE {self.qualified} ADD COLUMN IF NOT EXISTS {_ident(c)} {t}"
                for c, t in self.columns.items()
            ),
        ]
        if self.history:
            statements.append(
                f"""CREATE TABLE IF NOT EXISTS {self.history_qualified} (
    {EVENT_ID} text PRIMARY KEY,
    {EVENT_TIME} timestamptz NOT NULL,
    entity_key text NOT NULL,
    data jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)"""
            )
        return statements

    def upsert(self) -> str:
        """INSERT … ON CONFLICT that only replaces a row with a newer event."""
        names = [*self.columns, EVENT_ID, EVENT_TIME]
        placeholders = ", ".join(
            f"${i}::jsonb" if self.columns.get(n) == "jsonb" else f"${i}"
            for i, n in enumerate(names, 1)
        )
        updates = ", ".join(f"{_ident(n)} = EXCLUDED.{_ident(n)}" for n in names if n != self.key)
        return (
            f"INSERT INTO {self.qualified} ({', '.join(_ident(n) for n in names)}) "
            f"VALUES ({placeholders}) "
            f"ON CONFLICT ({_ident(self.key)}) DO UPDATE SET {updates}, {UPDATED_AT} = now() "
            # Newest event time wins; the event id breaks ties so every member agrees.
            f"WHERE ({self.qualified}.{EVENT_TIME}, {self.qualified}.{EVENT_ID}) "
            f"< (EXCLUDED.{EVENT_TIME}, EXCLUDED.{EVENT_ID})"
        )

    def append_history(self) -> str:
        """INSERT of one event into the history table (event id unique)."""
        return (
            f"INSERT INTO {self.history_qualified} "
            f"({EVENT_ID}, {EVENT_TIME}, entity_key, data) VALUES ($1, $2, $3, $4::jsonb) "
            f"ON CONFLICT ({EVENT_ID}) DO NOTHING"
        )


def _column_value(value: Any, sql_type: str) -> Any:
    if value is None:
        return None
    if sql_type == "jsonb":
        return orjson.dumps(value).decode()
    if isinstance(value, enum.Enum):
        return value.value
    return value


class PostgresSink:
    """Applies events of one event type to their table, idempotently through the inbox."""

    def __init__(self, pool: asyncpg.Pool, table: SinkTable, inbox: Inbox) -> None:
        self.pool = pool
        self.table = table
        self.inbox = inbox
        self._upsert = table.upsert()
        self._history = table.append_history()

    async def create_tables(self) -> None:
        """Create the inbox, the table and its history table if missing."""
        await self.inbox.ensure_table()
        async with self.pool.acquire() as connection, connection.transaction():
            # Several sink instances may start at once; serialise the DDL between them.
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.table.name)
            for statement in self.table.ddl():
                await connection.execute(statement)

    async def apply(self, data: BaseModel, envelope: Envelope) -> object:
        """Upsert the entity and append the history row, once per event id."""
        fields = data.model_dump(mode="python")
        values = [_column_value(fields.get(c), t) for c, t in self.table.columns.items()]
        async with self.inbox.transaction(envelope) as tx:
            if tx.duplicate:
                return Duplicate
            await tx.connection.execute(self._upsert, *values, envelope.id, envelope.time)
            if self.table.history:
                await tx.connection.execute(
                    self._history,
                    envelope.id,
                    envelope.time,
                    str(fields[self.table.key]),
                    data.model_dump_json(),
                )
        return None


@contextlib.asynccontextmanager
async def postgres_sink(options: AdapterOptions) -> AsyncIterator[Subscriber]:
    """The `postgres-sink` adapter: a subscriber whose handler is a `PostgresSink`."""
    if not options.dsn:
        raise BusError("postgres-sink needs --dsn (or BUS_ADAPTER_DSN)")
    system = options.subscribing_system()
    subscriber = Subscriber(
        system, group=options.group, catalog=options.catalog, settings=options.settings
    )
    event_type = options.event_type
    view = subscriber.view_of(event_type.type)
    table = SinkTable.derive(
        event_type,
        view,
        name=options.extra.get("table"),
        history=options.extra.get("history", "true").lower() in ("1", "true", "yes"),
        schema=options.extra.get("schema", "public"),
    )
    # One connection per partition handled concurrently, plus headroom for the retry lane.
    size = event_type.topic_settings.partitions + 2
    try:
        pool = await asyncpg.create_pool(options.dsn, min_size=1, max_size=size)
    except (OSError, asyncpg.PostgresError) as exc:
        # The DSN may hold a password: name the failure, not the DSN.
        raise BusError(f"postgres-sink cannot connect to its database: {exc}") from None
    try:
        sink = PostgresSink(pool, table, Inbox(pool, options.group))
        await sink.create_tables()

        async def apply(data: BaseModel, envelope: Envelope) -> object:
            return await sink.apply(data, envelope)

        # The handler's data parameter is the consumer's granted view of the event type.
        apply.__annotations__ = {"data": view, "envelope": Envelope, "return": object}
        subscriber.handler(event_type.type)(apply)
        yield subscriber
    finally:
        await pool.close()
