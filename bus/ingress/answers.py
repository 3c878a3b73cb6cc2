"""What the ingress answered, counted for Prometheus and the monitor's dashboard.

    bus_ingress_answers_total{system, status_class}    status_class: 2xx | 4xx | 5xx | ...

`system` is the system of the API key that authenticated the request, or `anonymous` when
none did (a 401, or a refusal before authentication). Only publisher-facing paths (`/v1/...`)
are counted: health probes and `/metrics` scrapes are not answers to OPD systems. The ingress
serves the counter with its other metrics at `GET /metrics`; `bus monitor` reads it from the
URLs in `BUS_MONITOR_INGRESS_URLS`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ANONYMOUS", "ANSWERS", "AnswerCounter", "metrics"]

ANONYMOUS = "anonymous"

ANSWERS = Counter(
    "bus_ingress_answers",
    "Ingress answers to publishers, by authenticated system and status class.",
    ["system", "status_class"],
)

_children: dict[tuple[str, str], Any] = {}


def count_answer(system: str | None, status: int) -> None:
    """Count one answer with `status` to `system` (None: not authenticated)."""
    key = (system or ANONYMOUS, f"{status // 100}xx")
    child = _children.get(key)
    if child is None:
        child = _children[key] = ANSWERS.labels(*key)
    child.inc()


class AnswerCounter:
    """ASGI middleware counting each `/v1/` answer by system and status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then count its answer (500 if the app raised)."""
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            count_answer(scope.get("state", {}).get("system"), status)


async def metrics() -> Response:
    """`GET /metrics`: this process's counters in Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
