"""API key checks that do not cost a database round trip per request, yet see revocations at once.

    authenticator = KeyAuthenticator(pool, dsn, remember_s=60)
    await authenticator.start()                       # LISTEN for key changes
    found = await authenticator.authenticate(token)   # (key id, system id) or None

A key that checked out is remembered (by the SHA-256 of the presented token, never the token)
for at most `remember_s` seconds. The `bus_api_keys` table NOTIFYs every change to a key
(`bus.ingress.keys`), and a dedicated connection LISTENs: a revoked key is forgotten as soon as
the revocation commits. While that connection is down nothing is remembered, so a revocation
can never be missed; every request then asks the database, as with `remember_s=0`.

With a `FailureThrottle`, a token that is not remembered is refused without a database lookup
(`AuthenticationThrottledError`) once its client address or key id has failed too often,
unless that very token checked out within the last hour: guessers cannot lock publishers out.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import asyncpg

from bus.errors import AuthenticationThrottledError
from bus.ingress import keys
from bus.ingress.throttle import FailureThrottle
from bus.logging import get_logger

log = get_logger("bus.ingress")

#: Shortest pause between attempts to re-open the LISTEN connection.
_RELISTEN_AFTER_S = 5.0
#: Most keys remembered at once; a busy province has dozens.
_MAX_REMEMBERED = 10_000
#: How long a token that checked out is exempt from the failure throttle (still checked).
_TRUSTED_S = 3600.0


class KeyAuthenticator:
    """Checks bearer tokens against `bus_api_keys`, remembering good keys until they change."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        dsn: str,
        *,
        remember_s: float,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self._pool = pool
        self._throttle = throttle
        # token SHA-256 → until when it is exempt from the throttle [monotonic seconds]
        self._trusted: dict[str, float] = {}
        self._dsn = dsn
        self._remember_s = remember_s
        # token SHA-256 → (key id, system id, forget at [monotonic seconds])
        self._remembered: dict[str, tuple[str, str, float]] = {}
        # Bumped by every change notice: a lookup that started before a notice is not kept.
        self._generation = 0
        self._listener: asyncpg.Connection[Any] | None = None
        self._listen_attempted = -_RELISTEN_AFTER_S

    @property
    def listening(self) -> bool:
        """True while key changes are heard, so good keys may be remembered."""
        return self._listener is not None and not self._listener.is_closed()

    async def start(self) -> None:
        """Open the LISTEN connection (if remembering is on); failures only disable remembering."""
        if self._remember_s > 0:
            await self._listen()

    async def close(self) -> None:
        """Stop listening and forget every key."""
        listener, self._listener = self._listener, None
        self._forget_all()
        if listener is not None and not listener.is_closed():
            # Closing it on purpose is not losing it: no `key_changes_unheard` warning.
            listener.remove_termination_listener(self._lost)
            await listener.close()

    async def authenticate(self, token: str, address: str | None = None) -> tuple[str, str] | None:
        """(key id, system id) of the active key `token` presents, else None; raises
        `AuthenticationThrottledError` if `address` or the key id failed too often."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        found = self._remembered.get(digest)
        if found is not None:
            key_id, system_id, forget_at = found
            if time.monotonic() < forget_at and self.listening:
                return key_id, system_id
            del self._remembered[digest]
        claimed_id = keys.key_id_of(token)
        counted = self._throttle is not None and self._trusted.get(digest, 0.0) < time.monotonic()
        if counted and self._throttle is not None:
            wait = self._throttle.attempt(address, claimed_id)
            if wait is not None:
                raise AuthenticationThrottledError(wait)
        if self._remember_s > 0 and not self.listening:
            await self._listen()
        generation = self._generation
        async with self._pool.acquire() as conn:
            checked = await keys.authenticate(conn, token)
        if checked is not None:
            self._trust(digest)
            if counted and self._throttle is not None:
                self._throttle.succeeded(address, claimed_id)
        else:
            self._trusted.pop(digest, None)
        if (
            checked is not None
            and self.listening
            and generation == self._generation
            and len(self._remembered) < _MAX_REMEMBERED
        ):
            self._remembered[digest] = (*checked, time.monotonic() + self._remember_s)
        return checked

    def _trust(self, digest: str) -> None:
        if len(self._trusted) >= _MAX_REMEMBERED:
            self._trusted.clear()
        self._trusted[digest] = time.monotonic() + _TRUSTED_S

    async def _listen(self) -> None:
        now = time.monotonic()
        if now - self._listen_attempted < _RELISTEN_AFTER_S:
            return
        self._listen_attempted = now
        try:
            listener: asyncpg.Connection[Any] = await asyncpg.connect(self._dsn, timeout=5)
            listener.add_termination_listener(self._lost)
            await listener.add_listener(keys.CHANGED_CHANNEL, self._changed)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("ingress.key_changes_unheard", error=str(exc))
            return
        self._forget_all()  # changes made while nobody listened were not heard
        self._listener = listener

    def _changed(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        key_id = str(payload)
        self._generation += 1
        for digest, (remembered_id, _, _) in list(self._remembered.items()):
            if remembered_id == key_id:
                del self._remembered[digest]

    def _lost(self, _conn: object) -> None:
        log.warning("ingress.key_changes_unheard", error="the LISTEN connection closed")
        self._listener = None
        self._forget_all()

    def _forget_all(self) -> None:
        self._generation += 1
        self._remembered.clear()
