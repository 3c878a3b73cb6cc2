"""Settling an uncertain send: was an event published before its sender died?

A sender that dies after the broker acknowledged an event but before it recorded that fact
(the ingress's idempotency record, the relay's `sent_at`, an application's checkpoint) cannot
know whether to send it again; sending blindly puts a second copy on the topic. Before
re-sending, it looks on the topic:

    found = await find_published(settings, {"dpmptsp.izin.terbit.v1": ids}, since=started_at)
    again = [r for r in records if r.id not in found]        # only what never landed

`find_published` reads every partition of each topic from the first record written at `since`
(minus a margin for clock skew between hosts) to the end offsets, and returns the `Delivery` of
each event id it finds. It is a bounded read (the window since the uncertain send) and runs
only on the recovery path, never per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

from bus.broker import clients
from bus.config import BusSettings
from bus.errors import BrokerUnavailableError
from bus.publish.delivery import Delivery

__all__ = ["find_published"]

#: Records are looked for from this long before `since`: producer and database clocks differ.
CLOCK_SKEW = timedelta(seconds=30)


async def find_published(
    settings: BusSettings,
    wanted: Mapping[str, Collection[str]],
    *,
    since: datetime,
    timeout: float | None = None,  # noqa: ASYNC109 - a deadline for the whole read
) -> dict[str, Delivery]:
    """The deliveries of the event ids in `wanted` (topic → ids) found on their topics.

    `BrokerUnavailableError` if the topics cannot be read to their end offsets within
    `timeout` seconds (default: twice `BUS_REQUEST_TIMEOUT_MS`, at least 5 s).
    """
    looking = {topic: set(ids) for topic, ids in wanted.items() if ids}
    if not looking:
        return {}
    if timeout is None:
        timeout = max(5.0, 2 * settings.request_timeout_ms / 1000)
    try:
        async with asyncio.timeout(timeout):
            return await _find(settings, looking, since)
    except TimeoutError:
        raise BrokerUnavailableError(
            f"could not read {sorted(looking)} to the end within {timeout:.0f} s to check what "
            "was already published"
        ) from None


async def _find(
    settings: BusSettings, looking: dict[str, set[str]], since: datetime
) -> dict[str, Delivery]:
    consumer = clients.consumer(settings, group_id=None, auto_offset_reset="earliest")
    try:
        await consumer.start()
        partitions = await clients.topic_partitions(consumer, *looking)
        if not partitions:
            return {}
        ends = await consumer.end_offsets(partitions)
        moment = int((since - CLOCK_SKEW).timestamp() * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(partitions, moment))
        # Not `offset < end`: a broker may report the end low (see the loop below).
        todo = {tp for tp in partitions if starts.get(tp) is not None}
        found: dict[str, Delivery] = {}
        if not todo:
            return found
        consumer.assign(sorted(todo))
        for tp in todo:
            consumer.seek(tp, starts[tp].offset)
        while todo:  # under the caller's deadline
            batches = await consumer.getmany(*todo, timeout_ms=200)
            for tp, records in batches.items():
                for record in records:
                    event_id = _ce_id(record.headers)
                    if event_id in looking[tp.topic] and event_id not in found:
                        found[event_id] = Delivery(event_id, tp.topic, tp.partition, record.offset)
            for tp in list(todo):
                # Done once past the end offset and a fetch brought nothing more: some
                # Kafka-compatible brokers report the end low (at the last produce batch's
                # base offset + 1), and a fetch can stop inside that batch.
                if await consumer.position(tp) >= ends[tp] and not batches.get(tp):
                    todo.discard(tp)
        return found
    except BrokerUnavailableError:
        raise
    except (asyncio.CancelledError, TimeoutError):
        raise
    except Exception as exc:  # aiokafka's errors, a broker gone mid-read
        raise BrokerUnavailableError(f"could not check what was already published: {exc}") from exc
    finally:
        await clients.stop_consumer(consumer)


def _ce_id(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    for name, raw in headers or ():
        if name == "ce_id":
            return (raw or b"").decode(errors="replace")
    return None
