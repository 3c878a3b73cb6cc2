"""ingress_eps: events/s the HTTP ingress accepts on one process.

Written against `bus.ingress.create_app`; until that exists the benchmark reports `null` with
a "pending" note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bus.config import BusSettings


@dataclass(frozen=True)
class IngressResult:
    """Accepted events per second and how they were sent."""

    eps: float
    details: dict[str, Any] = field(default_factory=dict)


async def run(settings: BusSettings, events: int) -> IngressResult:
    """POST `events` events to the ingress and time them."""
    from bus.ingress import create_app  # noqa: F401 - ModuleNotFoundError means "pending"

    raise NotImplementedError("the ingress benchmark is written once bus.ingress.create_app exists")
