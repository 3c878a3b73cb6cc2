"""Wait on a condition with a deadline instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["wait_until", "wait_until_serving"]


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


async def wait_until_serving(
    url: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for polling, not a cancel scope
    message: str | None = None,
) -> None:
    """Poll GET `url` until it answers 200; a refused, reset or timed-out request is not yet."""
    import httpx  # here, not above: most test sessions start no HTTP service

    async with httpx.AsyncClient() as http:

        async def answers() -> bool:
            try:
                return (await http.get(url)).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(answers, timeout=timeout, message=message or f"GET {url} answers 200")
