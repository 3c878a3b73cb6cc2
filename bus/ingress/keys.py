"""API keys of the HTTP ingress: one system per key, only a hash stored, revocable.

    issued = await create_key(conn, "dpmptsp.sicantik")   # issued.token is shown once
    system = await authenticate(conn, "opdbus_3f9c..._Xy...")  # "dpmptsp.sicantik" or None
    await revoke_key(conn, issued.key_id)

A key reads `opdbus_<key id>_<secret>`. The key id is public (it names the key in `bus keys
list` and in logs); the secret is 256 random bits. Only SHA-256 of the secret is stored: with
that much entropy a fast hash cannot be brute-forced, so a slow password hash (scrypt) would
only cost latency on every request. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from bus.database import Connection

PREFIX = "opdbus"

DDL = """
CREATE TABLE IF NOT EXISTS bus_api_keys (
    key_id      text PRIMARY KEY,
    system_id   text NOT NULL,
    secret_sha256 text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
-- Any change to a key (revoked by `bus keys revoke` or by hand, deleted) is announced, so an
-- ingress that remembers good keys forgets this one at once (bus.ingress.authentication).
CREATE OR REPLACE FUNCTION bus_api_keys_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('bus_api_keys_changed', OLD.key_id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE OR REPLACE TRIGGER bus_api_keys_changed
    AFTER UPDATE OR DELETE ON bus_api_keys
    FOR EACH ROW EXECUTE FUNCTION bus_api_keys_changed();
"""

#: The channel `NOTIFY`ed with a key id whenever that key is updated or deleted.
CHANGED_CHANNEL = "bus_api_keys_changed"

_SCHEMA_LOCK = 0x0B05_0003


async def ensure_schema(conn: Connection) -> None:
    """Create the API key table if it does not exist."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(DDL)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly created key; `token` is the only time the secret exists outside the caller."""

    key_id: str
    system_id: str
    token: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    system_id: str
    description: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(conn: Connection, system_id: str, *, description: str = "") -> IssuedKey:
    """Create a key for `system_id` (checked against the catalog by the caller)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO bus_api_keys (key_id, system_id, secret_sha256, description) "
        "VALUES ($1, $2, $3, $4)",
        key_id,
        system_id,
        _sha256(secret),
        description,
    )
    return IssuedKey(key_id, system_id, f"{PREFIX}_{key_id}_{secret}")


async def revoke_key(conn: Connection, key_id: str) -> bool:
    """Revoke a key at once; False if no active key has this id."""
    status: str = await conn.execute(
        "UPDATE bus_api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return status.endswith(" 1")


async def list_keys(conn: Connection) -> list[ApiKey]:
    """Every key, newest first, without secrets."""
    rows = await conn.fetch(
        "SELECT key_id, system_id, description, created_at, revoked_at FROM bus_api_keys "
        "ORDER BY created_at DESC"
    )
    return [ApiKey(**dict(row)) for row in rows]


def key_id_of(token: str) -> str | None:
    """The public key id inside a presented token, or None if it is not shaped like a key."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


async def authenticate(conn: Connection, token: str) -> tuple[str, str] | None:
    """(key id, system id) of an active key matching `token`, else None."""
    key_id = key_id_of(token)
    if key_id is None:
        return None
    row = await conn.fetchrow(
        "SELECT system_id, secret_sha256 FROM bus_api_keys "
        "WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    secret = token.split("_", 2)[2]
    if row is None or not hmac.compare_digest(row["secret_sha256"], _sha256(secret)):
        return None
    return key_id, str(row["system_id"])
