"""What the ingress answered, counted for Prometheus and the monitor's dashboard.

    bus_ingress_answers_total{system, status_class}    status_class: 2xx | 4xx | 5xx | ...

`system` is the system of the API key that authenticated the request, or `anonymous` when
none did (a 401, or a refusal before authentication). `RequestLog` counts each answer it logs
on a publisher-facing path (`/v1/...`): health probes and `/metrics` scrapes are not answers
to OPD systems. The ingress serves the counter with its other metrics at `GET /metrics`;
`bus monitor` reads it from the URLs in `BUS_MONITOR_INGRESS_URLS`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest

__all__ = ["ANONYMOUS", "ANSWERS", "count_answer", "metrics"]

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


async def metrics() -> Response:
    """`GET /metrics`: this process's counters in Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
