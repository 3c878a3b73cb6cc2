"""Wait on a condition with a deadline instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for polling, not a cancel scope
    interval: float = 0.02,
    message: str = "condition",
) -> None:
    """Poll `condition` until it is true; raise `TimeoutError` naming it after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not reached within {timeout} s")
        await asyncio.sleep(interval)
