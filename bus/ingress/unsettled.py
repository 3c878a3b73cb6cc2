"""Publications the ingress answered 503 for while the broker had not yet settled them.

When the broker does not acknowledge in time, the ingress cannot say "nothing was accepted":
the sender still holds the records and may write them when the cluster is back. It answers
503 "outcome unknown" and keeps each record's future here, by event id. A retry under the same
Idempotency-Key then waits for those futures instead of sending the same ids a second time: it
gets the first attempt's deliveries, or, if that attempt failed for good, publishes anew.

Only this process knows its own pending records; after a restart (or on another ingress
process) a retry first looks for the stored ids on the topic (`bus.publish.recovery`) and
publishes only those it does not find.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from bus.publish.delivery import Delivery

__all__ = ["UnsettledPublications"]


class UnsettledPublications:
    """Delivery futures by event id, until a retry takes them; the oldest go past `limit`."""

    def __init__(self, limit: int = 100_000) -> None:
        # Settled futures stay too: a retry after a late acknowledgement gets that delivery.
        self._futures: OrderedDict[str, asyncio.Future[Delivery]] = OrderedDict()
        self._limit = limit

    def keep(self, event_ids: Sequence[str], futures: Sequence[asyncio.Future[Delivery]]) -> None:
        """Remember the futures of a request answered 503 "outcome unknown"."""
        for event_id, future in zip(event_ids, futures, strict=True):
            # Retrieved, so that a failure nobody waits for is not reported as never retrieved.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._futures[event_id] = future
        while len(self._futures) > self._limit:
            self._futures.popitem(last=False)

    def take(self, event_ids: Sequence[str]) -> list[asyncio.Future[Delivery]] | None:
        """The futures of all of `event_ids` (forgotten here), or None unless all are known."""
        if not event_ids or any(event_id not in self._futures for event_id in event_ids):
            return None
        return [self._futures.pop(event_id) for event_id in event_ids]

    def __len__(self) -> int:
        return len(self._futures)
