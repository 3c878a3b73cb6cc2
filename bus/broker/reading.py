"""Reading partitions to their end offsets, outside any consumer group, with a deadline.

    async for record in read_to_end(consumer, tps, timeout_s=10):
        ...

An operator's tool that says "there is no such record" must have read every partition up to
the end offset it had when the read began; a read that cannot get there in time raises
`IncompleteReadError` naming each partition it could not finish, instead of ending quietly.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from bus.errors import BusError

__all__ = ["IncompleteReadError", "read_to_end"]

#: How long one fetch waits for records of partitions not yet read to their end.
_FETCH_WAIT_MS = 500


class IncompleteReadError(BusError):
    """Some partitions could not be read to their end offsets in time: the answer is unknown."""

    def __init__(
        self,
        unread: Mapping[TopicPartition, tuple[int, int]],
        timeout_s: float,
        partial: Sequence[Any] = (),
    ) -> None:
        #: Per partition not read to its end: (the offset reached, the end offset).
        self.unread = dict(unread)
        self.timeout_s = timeout_s
        #: What the caller had made of the records read before the deadline.
        self.partial = list(partial)
        where = ", ".join(
            f"{tp.topic}[{tp.partition}] (at offset {at} of {end})"
            for tp, (at, end) in sorted(self.unread.items())
        )
        super().__init__(f"could not read {where} to the end in {timeout_s:g} s")


async def read_to_end(
    consumer: AIOKafkaConsumer,
    tps: Sequence[TopicPartition],
    *,
    start: Mapping[TopicPartition, int] | None = None,
    last: int | None = None,
    timeout_s: float | None = None,
) -> AsyncGenerator[ConsumerRecord[Any, Any], None]:
    """Records of `tps` from `start` (default: the first offset), or their `last` records only,
    up to the end offsets they had when the read began; `IncompleteReadError` past `timeout_s`.
    """
    if not tps:
        return
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    consumer.assign(list(tps))
    ends = await consumer.end_offsets(list(tps))
    firsts = await consumer.beginning_offsets(list(tps))
    for tp in tps:
        first = max((start or {}).get(tp, 0), firsts[tp])
        if last is not None:
            first = max(first, ends[tp] - last)
        consumer.seek(tp, first)
    remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
    while remaining:
        wait = _FETCH_WAIT_MS
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                unread = {tp: (await consumer.position(tp), ends[tp]) for tp in remaining}
                raise IncompleteReadError(unread, timeout_s or 0.0)
            wait = max(1, min(wait, int(left * 1000)))
        batch = await consumer.getmany(*remaining, timeout_ms=wait)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
