"""Repeated measurements: rounds alternate the clients so all see the same machine noise."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Comparison:
    """Events/s of each client (raw aiokafka, librdkafka, the SDK), per round."""

    eps: dict[str, list[float]]

    def median(self, client: str) -> float:
        """Median events/s of one client over the rounds."""
        return statistics.median(self.eps[client])

    @property
    def raw(self) -> float:
        """Median events/s of the raw aiokafka client."""
        return self.median("aiokafka")

    @property
    def sdk(self) -> float:
        """Median events/s of the SDK."""
        return self.median("sdk")

    @property
    def ratio(self) -> float:
        """SDK ÷ raw aiokafka, both medians of the same run's rounds."""
        return self.sdk / self.raw


async def compare(rounds: int, clients: dict[str, Callable[[], Awaitable[float]]]) -> Comparison:
    """Run every client once per round, in order, `rounds` times; keep every round's events/s."""
    eps: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(rounds):
        for name, run in clients.items():
            eps[name].append(await run())
    return Comparison(eps)


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
