"""A circuit breaker per endpoint: stop hammering a receiver that keeps failing, probe it later.

closed → (`threshold` failures in a row) → open → (`cooldown_s` later) → half-open: one probe
request goes through → closed on success, open again on failure. While open, events are not
sent; they wait in the retry topics until the circuit may close. Each change is logged once,
exported as the gauge `bus_webhook_circuit_open`, and stored for `bus lag` and the dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from prometheus_client import Gauge

from bus.logging import get_logger

log = get_logger("bus.adapter.webhook")

CIRCUIT_OPEN = Gauge(
    "bus_webhook_circuit_open",
    "1 while a webhook endpoint's circuit is open or half-open (deliveries held back), else 0.",
    ["group"],
)


class Circuit(StrEnum):
    """The breaker's states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Counts consecutive failures of one endpoint and decides whether to send at all."""

    def __init__(
        self,
        group: str,
        *,
        threshold: int,
        cooldown_s: float,
        on_change: Callable[[Circuit], Awaitable[None]] | None = None,
    ) -> None:
        self.group = group
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.state = Circuit.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._on_change = on_change
        CIRCUIT_OPEN.labels(group).set(0)

    def retry_in(self) -> float | None:
        """None if a request may go now (taking the half-open probe), else seconds to wait."""
        if self.state is Circuit.CLOSED:
            return None
        waited = time.monotonic() - self._opened_at
        if waited < self.cooldown_s:
            return self.cooldown_s - waited
        if self._probing:
            return min(1.0, self.cooldown_s)  # the probe is out: wait for its answer
        self._probing = True
        self.state = Circuit.HALF_OPEN
        return None

    async def succeeded(self) -> None:
        """An answer in 2xx: close the circuit."""
        self._failures = 0
        self._probing = False
        if self.state is not Circuit.CLOSED:
            await self._change(Circuit.CLOSED)
            log.info("webhook circuit closed", group=self.group)

    async def failed(self) -> None:
        """A failed attempt (5xx, timeout, connection error): maybe open the circuit."""
        self._failures += 1
        was_probe, self._probing = self._probing, False
        if was_probe or (self.state is Circuit.CLOSED and self._failures >= self.threshold):
            self._opened_at = time.monotonic()
            if self.state is Circuit.CLOSED:
                log.warning(
                    "webhook circuit open: deliveries wait",
                    group=self.group,
                    failures=self._failures,
                    cooldown_s=self.cooldown_s,
                )
            await self._change(Circuit.OPEN)

    async def _change(self, state: Circuit) -> None:
        self.state = state
        CIRCUIT_OPEN.labels(self.group).set(0 if state is Circuit.CLOSED else 1)
        if self._on_change is not None:
            await self._on_change(state)
