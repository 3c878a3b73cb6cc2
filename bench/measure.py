"""Repeated measurements: rounds alternate raw and SDK so both see the same machine noise."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Comparison:
    """Events/s of the raw client and of the SDK, per round, and their ratio."""

    raw_eps: list[float]
    sdk_eps: list[float]

    @property
    def raw(self) -> float:
        """Median events/s of the raw client."""
        return statistics.median(self.raw_eps)

    @property
    def sdk(self) -> float:
        """Median events/s of the SDK."""
        return statistics.median(self.sdk_eps)

    @property
    def ratio(self) -> float:
        """SDK ÷ raw, both medians of the same run's rounds."""
        return self.sdk / self.raw


async def compare(
    rounds: int, raw: Callable[[], Awaitable[float]], sdk: Callable[[], Awaitable[float]]
) -> Comparison:
    """Run raw then SDK `rounds` times (interleaved) and keep every round's events/s."""
    raw_eps: list[float] = []
    sdk_eps: list[float] = []
    for _ in range(rounds):
        raw_eps.append(await raw())
        sdk_eps.append(await sdk())
    return Comparison(raw_eps, sdk_eps)


async def finish(done: asyncio.Event, worker: asyncio.Task[None], limit_s: float) -> None:
    """Wait until `done` is set; fail at once if `worker` ends first, or after `limit_s` s."""
    waiter = asyncio.create_task(done.wait())
    try:
        await asyncio.wait({waiter, worker}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if done.is_set():
        return
    if worker.done():
        worker.result()  # re-raises what stopped it
        raise RuntimeError("the consumer stopped before the benchmark finished")
    raise TimeoutError(f"the benchmark did not finish within {limit_s:.0f} s")
