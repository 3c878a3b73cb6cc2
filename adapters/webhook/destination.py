"""Outbound safety: a webhook goes only where it may, never into the bus's own network.

An endpoint whose host resolves to a loopback, link-local (cloud metadata lives there:
169.254.169.254, fd00:ec2::254), private, shared (100.64/10), unspecified, multicast or
reserved address is refused, unless the delivery lists that network in `allow_networks`
(the tests list 127.0.0.0/8). Every address the name resolves to is checked, at start and
again before each attempt (cached for a minute), so a DNS change cannot turn a public
endpoint into an internal one for long; new connections go to the checked addresses, not to a
fresh lookup. Redirects are never followed (see `transport.py`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from bus.errors import PermanentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Metadata services that are not link-local everywhere (Alibaba Cloud).
_METADATA = (ipaddress.ip_network("100.100.100.200/32"),)
_CACHE_S = 60.0


class RefusedDestinationError(PermanentError):
    """The endpoint resolves to an address webhooks may not reach."""


def forbidden(address: IPAddress) -> str | None:
    """Why `address` may not receive webhooks, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden(address.ipv4_mapped)
    for reason, hit in (
        ("loopback", address.is_loopback),
        ("link-local (cloud metadata)", address.is_link_local),
        ("metadata", any(address in network for network in _METADATA)),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved or not address.is_global),
    ):
        if hit:
            return reason
    return None


class DestinationGuard:
    """Checks an endpoint's resolved addresses against the rules and the delivery's list."""

    def __init__(self, endpoint: str, allow_networks: Sequence[str] = ()) -> None:
        url = urlsplit(endpoint)
        self.host = url.hostname or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in allow_networks)
        self._checked_at = -_CACHE_S
        self._checked: list[str] = []

    async def check(self) -> None:
        """Raise `RefusedDestinationError` if the host resolves to a refused address."""
        if time.monotonic() - self._checked_at < _CACHE_S:
            return
        resolved = await self._resolve()
        for address in resolved:
            reason = forbidden(address)
            if reason and not any(address in network for network in self.allowed):
                raise RefusedDestinationError(
                    f"the webhook endpoint {self.host} resolves to {address}, a {reason} "
                    "address; list its network in the delivery's allow_networks if it is meant"
                )
        self._checked = [str(address) for address in resolved]
        self._checked_at = time.monotonic()

    async def addresses(self) -> list[str]:
        """The endpoint's addresses as last checked: connections go there, not to a new lookup."""
        await self.check()
        return self._checked

    async def _resolve(self) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(self.host.strip("[]"))]
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            # Not permanent: a name that does not resolve now may resolve later.
            raise OSError(f"cannot resolve the webhook endpoint {self.host}: {exc}") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
