"""Who may use the monitor: a Host allow-list on every request, a token on all but `/healthz`.

    access = MonitorAccess.from_settings(settings, bind_host="0.0.0.0")   # BusError if unsafe
    app.add_middleware(AccessGuard, access=access)

- **Host allow-list.** A page on another site can make the operator's browser resolve its own
  name to the monitor's address (DNS rebinding) and read the answers as same-origin. Such a
  request still says `Host: evil.example`, so any Host outside loopback names, the bind address
  and `BUS_MONITOR_ALLOWED_HOSTS` gets 421 Misdirected Request.
- **Token.** `BUS_MONITOR_TOKEN` or `BUS_MONITOR_TOKEN_FILE`, sent as `Authorization: Bearer`
  (Prometheus, curl) or as the password of HTTP basic (browsers ask for it and then send it on
  every request, the event stream included). The basic user name is what the replay audit
  records as "who"; with one shared token it is the name the operator signed in with.
- **No token** is refused at start, unless `BUS_MONITOR_OPEN_ON_LOOPBACK=true` (dev mode, set by
  `bus dev`) and the monitor listens on loopback only. Even then replaying needs a sign-in.
- **Cross-site writes.** A browser sends basic credentials with a form posted from any site, so
  a request that changes something must come from an allowed Origin and carry JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from bus.config import BusSettings
from bus.errors import BusError

__all__ = ["AccessGuard", "MonitorAccess", "is_loopback"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Paths anyone who reaches the port may read: they carry no data.
OPEN_PATHS = ("/healthz",)
_UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name part of a Host or Origin authority, lower case: `[::1]:8081` → `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass(frozen=True)
class MonitorAccess:
    """The monitor's access rules: allowed host names and the token's SHA-256 (None: open)."""

    allowed_hosts: frozenset[str]
    token_sha256: bytes | None

    @classmethod
    def from_settings(cls, settings: BusSettings, bind_host: str) -> MonitorAccess:
        """The rules for a monitor bound to `bind_host`; BusError if it would be open to others."""
        token = _token(settings)
        if token is None and not (settings.monitor_open_on_loopback and is_loopback(bind_host)):
            raise BusError(
                "the monitor needs a token: set BUS_MONITOR_TOKEN or BUS_MONITOR_TOKEN_FILE "
                "(for development on this machine only: BUS_MONITOR_OPEN_ON_LOOPBACK=true with "
                "BUS_MONITOR_HOST=127.0.0.1)"
            )
        hosts = {*LOOPBACK_NAMES, *(h.lower() for h in settings.monitor_allowed_hosts)}
        if not _is_wildcard(bind_host):
            hosts.add(host_name(bind_host))
        return cls(frozenset(hosts), hashlib.sha256(token.encode()).digest() if token else None)

    @property
    def open(self) -> bool:
        """True in dev mode: no token, loopback only."""
        return self.token_sha256 is None

    def allows_host(self, header: str) -> bool:
        """True if a request's Host (or Origin authority) names this monitor."""
        return host_name(header) in self.allowed_hosts

    def operator(self, authorization: str) -> str | None:
        """Who signed in with this Authorization header, or None if it holds no valid token."""
        if self.token_sha256 is None:
            return None
        scheme, _, credentials = authorization.partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if scheme == "bearer":
            return "token" if self._matches(credentials) else None
        if scheme != "basic":
            return None
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not self._matches(password):
            return None
        name = "".join(c for c in user.strip() if c.isprintable())[:64]
        return name or "operator"

    def _matches(self, candidate: str) -> bool:
        assert self.token_sha256 is not None
        return hmac.compare_digest(hashlib.sha256(candidate.encode()).digest(), self.token_sha256)


def _is_wildcard(host: str) -> bool:
    """True for the wildcard addresses (0.0.0.0, ::) and an empty host."""
    return host.strip("[]") in ("", "0.0.0.0", "::")


def _token(settings: BusSettings) -> str | None:
    if settings.monitor_token is not None and settings.monitor_token.get_secret_value().strip():
        return settings.monitor_token.get_secret_value().strip()
    if settings.monitor_token_file:
        path = Path(settings.monitor_token_file)
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise BusError(f"BUS_MONITOR_TOKEN_FILE: cannot read {path} ({exc.strerror})") from None
        if not token:
            raise BusError(f"BUS_MONITOR_TOKEN_FILE: {path} is empty")
        return token
    return None


class AccessGuard:
    """ASGI middleware applying `MonitorAccess`; the operator's name goes to `request.state`."""

    def __init__(self, app: ASGIApp, access: MonitorAccess) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse (421, 401, 403) or pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.access.allows_host(headers.get("host", "")):
            await _problem(
                send,
                421,
                "Misdirected request",
                "this monitor does not answer for that host name; add it to "
                "BUS_MONITOR_ALLOWED_HOSTS if operators reach the monitor by it",
            )
            return
        operator = self.access.operator(headers.get("authorization", ""))
        scope.setdefault("state", {})["operator"] = operator
        if scope["path"] not in OPEN_PATHS and not self.access.open and operator is None:
            await _problem(
                send,
                401,
                "Sign-in needed",
                "sign in with the monitor token: HTTP basic (any user name, the token as "
                "password) or `Authorization: Bearer <token>`",
                [(b"www-authenticate", b'Basic realm="OPD Bus monitor", charset="UTF-8"')],
            )
            return
        if scope["method"] in _UNSAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and not self.access.allows_host(urlsplit(origin).netloc):
                await _problem(
                    send, 403, "Cross-site request", "changes are accepted from this page only"
                )
                return
        await self.app(scope, receive, send)


async def _problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
