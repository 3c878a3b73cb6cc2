"""Checks at the ingress's door, before a request reaches a route or a byte reaches Kafka.

- `RefuseNulPaths`: a path holding a NUL byte is a 400 (PostgreSQL refuses NUL in text, which
  surfaced as a false "database unavailable" 503);
- `unsafe_integers`: JSON integers beyond ±(2^53 - 1) are refused by field, because PHP,
  JavaScript and most JSON parsers in OPD systems turn them into rounded floats downstream;
- `failure_throttle` and `client_address`: the failed-authentication limits of the settings
  (`bus.ingress.throttle`) and the address they are counted against.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bus.config import BusSettings
from bus.errors import FieldError
from bus.ingress.problems import INVALID_PATH, MEDIA_TYPE
from bus.ingress.throttle import FailureThrottle

__all__ = ["RefuseNulPaths", "client_address", "failure_throttle", "unsafe_integers"]

#: The largest integer every JSON parser keeps exact (IEEE 754 double: 2^53 - 1).
MAX_SAFE_INTEGER = 2**53 - 1
#: Any integer beyond it has at least 16 digits; most bodies have none, and skip the walk.
_LONG_NUMBER = re.compile(rb"\d{16}")


def failure_throttle(settings: BusSettings) -> FailureThrottle:
    """The failed-authentication throttle the settings describe."""
    return FailureThrottle(
        per_address=settings.ingress_auth_failures_per_address,
        per_key=settings.ingress_auth_failures_per_key,
        window_s=settings.ingress_auth_window_s,
    )


def client_address(request: Request) -> str | None:
    """The client's IP address (uvicorn takes it from X-Forwarded-For of trusted proxies)."""
    return request.client.host if request.client else None


def unsafe_integers(body: bytes) -> list[FieldError]:
    """One error per JSON integer in `body` outside ±(2^53 - 1); [] for anything unparsable
    (validation then says what is wrong with it)."""
    if _LONG_NUMBER.search(body) is None:
        return []
    try:  # the standard parser: orjson reads integers beyond 64 bits as floats
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    errors: list[FieldError] = []
    try:
        _walk(document, "", errors)
    except RecursionError:  # nesting this deep is refused by validation anyway
        return []
    return errors


def _walk(value: Any, path: str, errors: list[FieldError]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{key}" if path else str(key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", errors)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        errors.append(
            FieldError(
                path or "$",
                f"integer out of range: at most ±{MAX_SAFE_INTEGER} (2^53 - 1), the largest "
                "that JSON parsers keep exact; send larger values as strings",
            )
        )


class RefuseNulPaths:
    """Answers 400 to a request whose path holds a NUL byte (raw or percent-encoded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or pass on."""
        if scope["type"] == "http" and "\x00" in scope["path"]:
            body = orjson.dumps(
                INVALID_PATH.refuse(
                    "the path holds a NUL byte (%00); no resource has such a name"
                ).body()
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
