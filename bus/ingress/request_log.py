"""One log line per ingress request, written once it is answered: ids and positions only.

A plain ASGI middleware rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware
runs every request through an extra task and memory streams, which on the single-event
endpoint cost more CPU than the route itself.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus.ingress.answers import count_answer
from bus.logging import get_logger

log = get_logger("bus.ingress")


class RequestLog:
    """Logs each HTTP request with what the route put in `request.state`, never the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then log it (also when the app raised: status 500)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # `request.state` is a view of this dict.
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = uuid.uuid4().hex
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            if scope["path"].startswith("/v1/"):
                count_answer(state.get("system"), status)
            # A 422's line names the fields that failed, by path, never their values.
            invalid = (
                {"invalid_fields": state["invalid_fields"]} if "invalid_fields" in state else {}
            )
            # Personal data may be in the body: only ids and positions are logged.
            log.info(
                "ingress.request",
                request_id=state["request_id"],
                method=scope["method"],
                path=scope["path"],
                status=status,
                system=state.get("system"),
                key_id=state.get("key_id"),
                event_ids=state.get("event_ids"),
                correlation_id=state.get("correlation_id"),
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                **invalid,
            )
