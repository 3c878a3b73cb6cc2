"""A delivery: how one agreement's events reach a system that only speaks HTTP (push or pull).

    Delivery(
        system="bapenda.sipd",
        event_type="id.go.riau.dpmptsp.izin.terbit",
        group="bapenda.sipd.izin-webhook",
        mode="push",
        endpoint="https://sipd.bapenda.riau.go.id/bus/webhook",
        secret="env:BUS_WEBHOOK_SECRET_BAPENDA_SIPD",
    )

A delivery is data beside its agreement in the catalog, reviewed like it: no agreement, no
delivery. It names the secret by reference (`env:NAME` or `file:/path`), never the secret
itself, so the catalog can be public while each operator keeps the keys.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

#: Default retry horizon of a push delivery: about three days, then the dead-letter topic.
THREE_DAYS_S = 3 * 24 * 3600.0


@dataclass(frozen=True)
class Delivery:
    """One consumer group delivering `event_type` to `system` over HTTP.

    - `mode`: `push` (signed webhooks to `endpoint`) or `pull` (the system fetches from
      `GET /v1/subscriptions/{group}/events`).
    - `secret`: where the signing secret(s) are, `env:NAME` or `file:/path`; push only.
    - `content_mode`: CloudEvents HTTP `binary` (the default) or `structured`.
    - `rate_limit_per_s`: most requests per second to the endpoint (None: no limit).
    - `retry_horizon_s`: how long failing deliveries are retried before the DLQ.
    - `allow_networks`: CIDRs of private destinations this endpoint may resolve to
      (loopback, link-local, private and metadata addresses are refused otherwise).
    - `visibility_timeout_s`: pull only; unacknowledged events come back after this long.
    """

    system: str
    event_type: str
    group: str
    mode: Literal["push", "pull"]
    endpoint: str | None = None
    secret: str | None = None
    content_mode: Literal["binary", "structured"] = "binary"
    rate_limit_per_s: float | None = None
    retry_horizon_s: float = THREE_DAYS_S
    allow_networks: tuple[str, ...] = ()
    visibility_timeout_s: float = 60.0

    def problems(self) -> list[str]:
        """What is wrong with this delivery on its own (the catalog checks the agreement)."""
        problems: list[str] = []
        if self.mode not in ("push", "pull"):
            problems.append(f"mode must be push or pull, not {self.mode!r}")
        if self.content_mode not in ("binary", "structured"):
            problems.append(f"content_mode must be binary or structured, not {self.content_mode!r}")
        if self.retry_horizon_s <= 0:
            problems.append("retry_horizon_s must be positive")
        if self.rate_limit_per_s is not None and self.rate_limit_per_s <= 0:
            problems.append("rate_limit_per_s must be positive (or None for no limit)")
        if self.visibility_timeout_s <= 0:
            problems.append("visibility_timeout_s must be positive")
        for network in self.allow_networks:
            try:
                ipaddress.ip_network(network)
            except ValueError:
                problems.append(f"allow_networks: {network!r} is not a CIDR like 127.0.0.0/8")
        if self.mode == "push":
            problems += self._push_problems()
        return problems

    def _push_problems(self) -> list[str]:
        problems = []
        url = urlsplit(self.endpoint or "")
        if url.scheme not in ("https", "http") or not url.hostname:
            problems.append("a push delivery needs an endpoint URL like https://host/path")
        elif url.scheme == "http" and not self.allow_networks:
            problems.append("the endpoint must be https:// (http only to listed allow_networks)")
        if url.username or url.password:
            problems.append("the endpoint URL must not hold credentials")
        if not self.secret or not self.secret.startswith(("env:", "file:")):
            problems.append(
                "a push delivery names its signing secret by reference, env:NAME or file:/path"
            )
        return problems
