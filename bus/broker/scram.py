"""SCRAM users on the cluster: each system's Kafka identity (`bus credentials issue`).

    password = new_password()
    await set_scram_users({"bapenda.sipd": password}, settings.as_admin())

The password never leaves this process: the broker receives a random salt and the salted
password (PBKDF2, RFC 5802), through the admin API (AlterUserScramCredentials, KIP-554), so a
user can be created or changed while the cluster runs.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from aiokafka.errors import IncompatibleBrokerVersion, for_code

from bus.broker import clients
from bus.broker.admin_requests import AlterUserScramCredentials
from bus.config import BusSettings
from bus.errors import BrokerLimitationError, BusError

__all__ = ["MECHANISMS", "new_password", "salted", "set_scram_users"]

#: Kafka's ScramMechanism codes, and the hash each uses.
MECHANISMS: dict[str, tuple[int, str]] = {
    "SCRAM-SHA-256": (1, "sha256"),
    "SCRAM-SHA-512": (2, "sha512"),
}
#: Kafka accepts 4096 to 16384 iterations.
ITERATIONS = 8192


def new_password() -> str:
    """A random password with 256 bits of entropy, URL-safe."""
    return secrets.token_urlsafe(32)


def salted(password: str, mechanism: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    """SCRAM's SaltedPassword: Hi(password, salt, iterations) with the mechanism's hash."""
    _, digest = MECHANISMS[mechanism]
    return hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations)


async def set_scram_users(
    passwords: Mapping[str, str], settings: BusSettings, mechanism: str = "SCRAM-SHA-512"
) -> None:
    """Create or change these users' SCRAM credentials (needs the admin principal)."""
    if not passwords:
        return
    code, _ = MECHANISMS[mechanism]
    upsertions = []
    for user, password in sorted(passwords.items()):
        salt = secrets.token_bytes(32)
        upsertions.append((user, code, ITERATIONS, salt, salted(password, mechanism, salt)))
    where = settings.bootstrap_servers
    async with clients.admin_session(settings) as admin:
        try:
            response: Any = await admin._send_request(AlterUserScramCredentials(upsertions))
        except (IncompatibleBrokerVersion, NotImplementedError) as exc:
            raise BrokerLimitationError(
                f"cannot set SCRAM users: the broker at {where} does not implement "
                f"AlterUserScramCredentials (Kafka admin API 51) [{exc}]"
            ) from exc
    problems = [
        f"{user}: {message or for_code(error).__name__}"
        for user, error, message, _tags in response.results
        if error
    ]
    if problems:
        raise BusError(f"the cluster refused SCRAM users: {'; '.join(problems)}")
