"""Standard Webhooks 1.0 signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

    signer = Signer.from_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_…")
    headers = signer.headers(event_id, body)      # signs "id.timestamp.body"

A `whsec_` secret (base64 after the prefix) signs with HMAC-SHA256 as `v1,<base64>`; a
`whsk_` secret (base64 of a 32-byte Ed25519 private key) signs as `v1a,<base64>` for receivers
that want asymmetric keys (they verify with the `whpk_` public key). Several secrets sign at
once, space-separated in the header: during a rotation the receiver accepts the old or the new
one. Secrets come from a reference (`env:NAME`, `file:/path`), never from the catalog itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bus.errors import BusError

SYMMETRIC, ASYMMETRIC = "whsec_", "whsk_"


class SecretError(BusError):
    """A signing secret reference cannot be read or holds no valid secret."""


@dataclass(frozen=True, repr=False)
class Signer:
    """Signs webhook requests with one or more secrets (more than one during a rotation)."""

    hmac_keys: tuple[bytes, ...]
    ed25519_keys: tuple[Ed25519PrivateKey, ...] = ()

    def __repr__(self) -> str:
        # Never show key material, not even in a traceback.
        return f"Signer({len(self.hmac_keys)} v1, {len(self.ed25519_keys)} v1a)"

    @classmethod
    def from_secrets(cls, text: str) -> Signer:
        """Secrets separated by white space, each `whsec_…` or `whsk_…`."""
        hmac_keys: list[bytes] = []
        ed_keys: list[Ed25519PrivateKey] = []
        for number, secret in enumerate(text.split(), 1):
            if secret.startswith(SYMMETRIC):
                hmac_keys.append(_b64(secret.removeprefix(SYMMETRIC), number))
            elif secret.startswith(ASYMMETRIC):
                raw = _b64(secret.removeprefix(ASYMMETRIC), number)
                if len(raw) != 32:
                    raise SecretError(f"secret {number}: a whsk_ key is 32 bytes, base64")
                ed_keys.append(Ed25519PrivateKey.from_private_bytes(raw))
            else:
                raise SecretError(f"secret {number} must start with whsec_ or whsk_")
        if not hmac_keys and not ed_keys:
            raise SecretError("no signing secret found")
        return cls(tuple(hmac_keys), tuple(ed_keys))

    def signature(self, event_id: str, timestamp: int, body: bytes) -> str:
        """The `webhook-signature` value: every secret's signature, space-separated."""
        content = f"{event_id}.{timestamp}.".encode() + body
        parts = [
            "v1," + base64.b64encode(hmac.digest(key, content, hashlib.sha256)).decode()
            for key in self.hmac_keys
        ]
        parts += [
            "v1a," + base64.b64encode(key.sign(content)).decode() for key in self.ed25519_keys
        ]
        return " ".join(parts)

    def headers(self, event_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The three Standard Webhooks headers for one request."""
        when = int(time.time()) if timestamp is None else timestamp
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(when),
            "webhook-signature": self.signature(event_id, when, body),
        }


def public_key(secret: str) -> str:
    """The `whpk_` public key a receiver verifies `v1a` signatures of a `whsk_` secret with."""
    key = Ed25519PrivateKey.from_private_bytes(_b64(secret.removeprefix(ASYMMETRIC), 1))
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode()


def new_secret() -> str:
    """A fresh random `whsec_` secret (24 bytes, as Standard Webhooks suggests at least)."""
    return SYMMETRIC + base64.b64encode(os.urandom(24)).decode()


def read_secret(reference: str) -> Signer:
    """The signer of a secret reference: `env:NAME` (an environment variable) or `file:/path`."""
    kind, _, where = reference.partition(":")
    if kind == "env":
        text = os.environ.get(where)
        if not text:
            raise SecretError(f"the signing secret variable {where} is not set")
    elif kind == "file":
        try:
            text = Path(where).read_text()
        except OSError as exc:
            raise SecretError(
                f"cannot read the signing secret file {where}: {exc.strerror}"
            ) from None
    else:
        raise SecretError("a secret reference is env:NAME or file:/path")
    try:
        return Signer.from_secrets(text)
    except SecretError as exc:
        raise SecretError(f"{reference}: {exc}") from None


def _b64(text: str, number: int) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise SecretError(f"secret {number} is not valid base64 after its prefix") from None
    if not raw:
        raise SecretError(f"secret {number} is empty")
    return raw
