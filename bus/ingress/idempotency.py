"""Idempotency-Key for the ingress: the same key and body give the same event ids, once.

A request with `Idempotency-Key: K` from system S takes a PostgreSQL session advisory lock on
(S, K) for its whole duration, so concurrent retries queue instead of racing. Under the lock:

- no row yet: the event ids are chosen and stored *before* publishing, so a retry after a
  failure (503, a crash) publishes the very same ids (consumers dedupe by id);
- a row with the same request hash and a stored response: that response is returned, nothing
  is published again;
- a row with a different request hash: 422, the key was reused for another request (as in
  the IETF "Idempotency-Key" draft).

Keys are scoped per system: two systems may use the same key string independently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from bus.database import Connection

DDL = """
CREATE TABLE IF NOT EXISTS bus_idempotency (
    system_id       text NOT NULL,
    idempotency_key text NOT NULL,
    request_sha256  text NOT NULL,
    event_ids       text[] NOT NULL,
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (system_id, idempotency_key)
);
"""

_SCHEMA_LOCK = 0x0B05_0004
_KEY_LOCK_CLASS = 0x0B06


async def ensure_schema(conn: Connection) -> None:
    """Create the idempotency table if it does not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(DDL)


def request_sha256(method: str, path: str, body: bytes) -> str:
    """Fingerprint of a request: the same key with another fingerprint is a conflict."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What an earlier request with the same key left behind."""

    request_sha256: str
    event_ids: list[str]
    response: Any | None
    created_at: datetime | None = None


async def lock(conn: Connection, system_id: str, key: str) -> None:
    """Wait for and take the (system, key) lock on this connection's session."""
    await conn.execute(
        "SELECT pg_advisory_lock($1, hashtext($2))", _KEY_LOCK_CLASS, f"{system_id}\n{key}"
    )


async def unlock(conn: Connection, system_id: str, key: str) -> None:
    """Release the (system, key) lock."""
    await conn.execute(
        "SELECT pg_advisory_unlock($1, hashtext($2))", _KEY_LOCK_CLASS, f"{system_id}\n{key}"
    )


async def find(conn: Connection, system_id: str, key: str) -> StoredRequest | None:
    """The earlier request under this key, if any."""
    row = await conn.fetchrow(
        "SELECT request_sha256, event_ids, response, created_at FROM bus_idempotency "
        "WHERE system_id = $1 AND idempotency_key = $2",
        system_id,
        key,
    )
    if row is None:
        return None
    response = orjson.loads(row["response"]) if row["response"] is not None else None
    return StoredRequest(row["request_sha256"], list(row["event_ids"]), response, row["created_at"])


async def remember(
    conn: Connection,
    system_id: str,
    key: str,
    fingerprint: str,
    event_ids: list[str],
) -> None:
    """Store the chosen event ids before publishing them."""
    await conn.execute(
        "INSERT INTO bus_idempotency (system_id, idempotency_key, request_sha256, event_ids) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        system_id,
        key,
        fingerprint,
        event_ids,
    )


async def complete(conn: Connection, system_id: str, key: str, response: Any) -> None:
    """Store the response that every later retry gets."""
    await conn.execute(
        "UPDATE bus_idempotency SET response = $3::jsonb "
        "WHERE system_id = $1 AND idempotency_key = $2",
        system_id,
        key,
        orjson.dumps(response).decode(),
    )
