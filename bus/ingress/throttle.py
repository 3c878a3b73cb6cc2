"""Failed authentications limited per client address and per API key id: 429, Retry-After.

    throttle = FailureThrottle(per_address=20, per_key=10, window_s=60)
    wait = throttle.attempt(address, key_id)    # seconds to wait, or None: go ahead
    throttle.succeeded(address, key_id)         # the key checked out: the attempt is refunded

Without it, 3,000 made-up keys cost 3,000 database lookups and slowed the median legitimate
publish from 8 to 134 ms. A refused guess costs a dictionary lookup instead. An attempt counts
as a failure from the moment it starts, and is refunded when the key checks out, so that
concurrent guesses cannot slip past the limit while their lookups run. Counting is per
fixed window: after `per_address` failures from one address, or `per_key` failures naming one
key id (ids are public; guessing one key's secret from many addresses), further attempts
are refused until the window ends. A token that authenticated recently is never throttled
(`bus.ingress.authentication` checks it still), so a publisher sharing an address, or a key
id, with a guesser keeps working. Memory is bounded: at most `max_tracked` counters each.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureThrottle"]


class _Windows:
    """Failure counts per key in fixed windows, oldest keys evicted first."""

    def __init__(self, limit: int, window_s: float, max_tracked: int) -> None:
        self.limit, self.window_s, self.max_tracked = limit, window_s, max_tracked
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def wait(self, key: str, now: float) -> float | None:
        found = self._counts.get(key)
        if found is None:
            return None
        started, count = found
        if now - started >= self.window_s:
            del self._counts[key]
            return None
        return started + self.window_s - now if count >= self.limit else None

    def add(self, key: str, now: float) -> None:
        started, count = self._counts.pop(key, (now, 0))
        if now - started >= self.window_s:
            started, count = now, 0
        self._counts[key] = (started, count + 1)
        while len(self._counts) > self.max_tracked:
            self._counts.popitem(last=False)

    def refund(self, key: str) -> None:
        found = self._counts.get(key)
        if found is not None and found[1] > 0:
            self._counts[key] = (found[0], found[1] - 1)


class FailureThrottle:
    """Counts failed authentications and says when to refuse the next attempt."""

    def __init__(
        self,
        *,
        per_address: int,
        per_key: int,
        window_s: float,
        max_tracked: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._addresses = _Windows(per_address, window_s, max_tracked)
        self._keys = _Windows(per_key, window_s, max_tracked)
        self._clock = clock

    def attempt(self, address: str | None, key_id: str | None) -> int | None:
        """Whole seconds until the address or key id may try again; None: go ahead (and the
        attempt is counted as a failure until `succeeded`)."""
        now = self._clock()
        waits = [
            wait
            for wait in (
                self._addresses.wait(address, now) if address else None,
                self._keys.wait(key_id, now) if key_id else None,
            )
            if wait is not None
        ]
        if waits:
            return max(1, math.ceil(max(waits)))
        if address:
            self._addresses.add(address, now)
        if key_id:
            self._keys.add(key_id, now)
        return None

    def succeeded(self, address: str | None, key_id: str | None) -> None:
        """The attempt's key checked out: it was no failure."""
        if address:
            self._addresses.refund(address)
        if key_id:
            self._keys.refund(key_id)
