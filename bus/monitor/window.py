"""`CounterWindow`: how much growing totals grew over the last minutes, from periodic samples.

    window = CounterWindow(seconds=300)
    window.observe(now, {"dpmptsp.izin.terbit.v1": 1042, ...})    # every scan
    window.increase("dpmptsp.izin.terbit.v1")                     # 7 (events in the window)
    window.rate("dpmptsp.izin.terbit.v1")                         # 0.12 (per second)

Totals are log end offsets, committed offsets or Prometheus counters: they only grow, except
when a process restarts (a counter starts again at 0) or an offset is reset. Like Prometheus'
`increase()`, a total that went down counts from zero at that sample, so a restart never shows
as a negative rate. A key first seen in the middle of the window counts from its first sample,
unless `absent_is_zero`: a Prometheus counter appears only at its first increment, so a label
set missing from a scrape is a count of 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

__all__ = ["CounterWindow"]

K = TypeVar("K", bound=Hashable)


class CounterWindow(Generic[K]):
    """Samples of totals per key over a sliding window of `seconds`."""

    def __init__(self, seconds: float, *, absent_is_zero: bool = False) -> None:
        self.seconds = seconds
        self.absent_is_zero = absent_is_zero
        self._samples: deque[tuple[float, Mapping[K, float]]] = deque()

    def observe(self, at: float, totals: Mapping[K, float]) -> None:
        """Add the totals seen at `at` (epoch seconds); forget samples older than the window."""
        self._samples.append((at, dict(totals)))
        # Keep one sample at or before the window's start: it is the baseline of the window.
        while len(self._samples) > 2 and self._samples[1][0] <= at - self.seconds:
            self._samples.popleft()

    @property
    def span(self) -> float:
        """Seconds between the window's first and last sample (0 before two samples)."""
        if len(self._samples) < 2:
            return 0.0
        return self._samples[-1][0] - self._samples[0][0]

    def series(self) -> set[K]:
        """Every key of the latest sample."""
        return set(self._samples[-1][1]) if self._samples else set()

    def increase(self, key: K) -> float:
        """How much `key`'s total grew over the window (a drop counts as a restart from 0)."""
        grown = 0.0
        previous: float | None = None
        for _, totals in self._samples:
            value = totals.get(key, 0.0 if self.absent_is_zero else None)
            if value is None:
                continue
            if previous is not None:
                grown += value - previous if value >= previous else value
            previous = value
        return grown

    def rate(self, key: K) -> float | None:
        """`increase(key)` per second, or None before two samples."""
        span = self.span
        return self.increase(key) / span if span > 0 else None
